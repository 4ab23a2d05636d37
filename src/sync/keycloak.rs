//! Keycloak's Admin REST API: a service-account token by `client_credentials`, then
//! `GET /admin/realms/{realm}/users?first=&max=` until a short page (several pages requested at once, answered
//! in order), then the service accounts (`username=service-account-`) the same way, one page at a time.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use serde::Deserialize;

use super::directory::{
    DirectoryError, DirectoryProvider, DirectoryUser, InFlight, Page, classify, non_empty,
    transport, with_retries,
};

/// A user in Keycloak's `UserRepresentation`, the fields the sync reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeycloakUser {
    #[serde(deserialize_with = "crate::text::de_storable_id")]
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub attributes: Option<HashMap<String, Vec<String>>>,
}

fn yes() -> bool {
    true
}

impl From<KeycloakUser> for DirectoryUser {
    fn from(u: KeycloakUser) -> Self {
        let full = [u.first_name.as_deref(), u.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let picture = u.attributes.as_ref().and_then(|a| {
            ["picture", "avatar"]
                .iter()
                .find_map(|k| a.get(*k).and_then(|v| v.first().cloned()))
        });
        let username = non_empty(u.username);
        DirectoryUser {
            subject: u.id,
            display_name: non_empty(Some(full)).or_else(|| username.clone()),
            username,
            email_verified: Some(u.email_verified.unwrap_or(false) && u.email.is_some()),
            email: non_empty(u.email),
            avatar_url: non_empty(picture),
            enabled: u.enabled,
            provider_pk: None,
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

pub struct KeycloakDirectory {
    http: reqwest::Client,
    users_url: String,
    admin: Arc<AdminToken>,
    page_size: u32,
    /// Pages of people requested at once.
    concurrency: usize,
    /// `first=` of the next page to request.
    next_first: u64,
    phase: Phase,
    requests: InFlight<Vec<KeycloakUser>>,
    /// How many people Keycloak counted before the listing began.
    expected: Option<u64>,
}

/// Which listing the next page comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    People,
    /// The plain listing leaves service accounts out, but their access tokens work as Bearer tokens and leave
    /// local rows: they are listed (by Keycloak's reserved username prefix, a search that includes them) so
    /// those rows count as present at the provider.
    ServiceAccounts,
    Done,
}

const SERVICE_ACCOUNT_PREFIX: &str = "service-account-";

/// The admin token the requests in flight share: fetched once for all of them, and fetched again once when
/// it is refused, however many requests it was refused to.
pub(super) struct AdminToken {
    http: reqwest::Client,
    url: String,
    client_id: String,
    client_secret: String,
    /// The token and its generation (1 for the first one fetched). Held across a fetch, so that requests
    /// needing a token meanwhile wait for that one.
    current: tokio::sync::Mutex<Option<(u64, String)>>,
}

impl AdminToken {
    /// The realm's client-credentials token for `client_id`; none is fetched until the first `get`.
    pub(super) fn new(
        http: reqwest::Client,
        base: &str,
        realm: &str,
        client_id: String,
        client_secret: String,
    ) -> Self {
        Self {
            http,
            url: format!("{base}/realms/{realm}/protocol/openid-connect/token"),
            client_id,
            client_secret,
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// The current token, or a new one when there is none yet or the current one is generation `refused`.
    pub(super) async fn get(&self, refused: Option<u64>) -> Result<(u64, String), DirectoryError> {
        let mut current = self.current.lock().await;
        if let Some((generation, token)) = current.as_ref()
            && Some(*generation) != refused
        {
            return Ok((*generation, token.clone()));
        }
        let generation = current.as_ref().map_or(1, |(g, _)| g + 1);
        let token = self.fetch().await?;
        *current = Some((generation, token.clone()));
        Ok((generation, token))
    }

    async fn fetch(&self) -> Result<String, DirectoryError> {
        let what = "Keycloak admin token";
        let resp = self
            .http
            .post(&self.url)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| transport(e, what))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            // A refused client is a configuration problem, not something a retry fixes.
            return Err(match classify(status, &body, what) {
                DirectoryError::Unauthorized(m) => DirectoryError::Fatal(m),
                other => other,
            });
        }
        resp.json::<TokenResponse>()
            .await
            .map(|t| t.access_token)
            .map_err(|e| DirectoryError::Fatal(format!("{what}: {}", e.without_url())))
    }

    /// One admin API call with retries; after a 401 the next try fetches a new token, unless another
    /// request already has.
    pub(super) async fn authorized<T, F, Fut>(
        &self,
        what: &str,
        request: F,
    ) -> Result<T, DirectoryError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, DirectoryError>>,
    {
        // Generation of the token the last try sent; 0 before the first.
        let sent = AtomicU64::new(0);
        let (sent, request) = (&sent, &request);
        with_retries(what, |refresh| async move {
            let refused = refresh.then(|| sent.load(Ordering::Relaxed));
            let (generation, token) = self.get(refused).await?;
            sent.store(generation, Ordering::Relaxed);
            request(token).await
        })
        .await
    }
}

impl KeycloakDirectory {
    /// `base` is the server URL (with any path prefix, e.g. `/auth` on old installs), `realm` the realm name.
    pub fn new(
        http: reqwest::Client,
        base: &str,
        realm: &str,
        client_id: String,
        client_secret: String,
        page_size: u32,
        concurrency: usize,
    ) -> Self {
        let base = base.trim_end_matches('/');
        Self {
            admin: Arc::new(AdminToken::new(
                http.clone(),
                base,
                realm,
                client_id,
                client_secret,
            )),
            http,
            users_url: format!("{base}/admin/realms/{realm}/users"),
            page_size,
            concurrency: concurrency.max(1),
            next_first: 0,
            phase: Phase::People,
            requests: InFlight::new(),
            expected: None,
        }
    }

    /// Reads of group members and realm-role holders, with the listing's admin token.
    pub(super) fn memberships(&self) -> super::memberships::KeycloakMemberships {
        super::memberships::KeycloakMemberships::new(
            self.http.clone(),
            self.users_url.trim_end_matches("/users"),
            self.admin.clone(),
            self.page_size,
        )
    }

    /// `GET …/users/count`: people only, service accounts not counted (as in the plain listing).
    async fn get_count(
        http: reqwest::Client,
        url: String,
        token: String,
    ) -> Result<u64, DirectoryError> {
        let what = "Keycloak user count";
        let resp = http
            .get(format!("{url}/count"))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| transport(e, what))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(classify(status, &body, what));
        }
        resp.json::<u64>()
            .await
            .map_err(|e| DirectoryError::Transient(format!("{what}: {}", e.without_url())))
    }

    async fn get_page(
        http: reqwest::Client,
        url: String,
        token: String,
        first: u64,
        max: u32,
        phase: Phase,
    ) -> Result<Vec<KeycloakUser>, DirectoryError> {
        let mut query = vec![("first", first.to_string()), ("max", max.to_string())];
        if phase == Phase::ServiceAccounts {
            query.push(("username", SERVICE_ACCOUNT_PREFIX.into()));
            query.push(("briefRepresentation", "true".into()));
        } else {
            query.push(("briefRepresentation", "false".into()));
        }
        let what = match phase {
            Phase::ServiceAccounts => format!("Keycloak service accounts first={first} max={max}"),
            _ => format!("Keycloak users first={first} max={max}"),
        };
        let resp = http
            .get(&url)
            .bearer_auth(token)
            .query(&query)
            .send()
            .await
            .map_err(|e| transport(e, &what))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(classify(status, &body, &what));
        }
        resp.json::<Vec<KeycloakUser>>()
            .await
            .map_err(|e| DirectoryError::Transient(format!("{what}: {}", e.without_url())))
    }

    /// Requests the next page of `phase`, to be answered after the ones already out.
    fn request(&mut self, phase: Phase) {
        let (http, url, admin, first, max) = (
            self.http.clone(),
            self.users_url.clone(),
            self.admin.clone(),
            self.next_first,
            self.page_size,
        );
        self.requests.push(async move {
            admin
                .authorized("Keycloak user listing", |token| {
                    Self::get_page(http.clone(), url.clone(), token, first, max, phase)
                })
                .await
        });
        self.next_first += u64::from(max);
    }
}

impl DirectoryProvider for KeycloakDirectory {
    async fn next_page(&mut self) -> Result<Option<Page>, DirectoryError> {
        let phase = self.phase;
        if phase == Phase::Done {
            return Ok(None);
        }
        if phase == Phase::People && self.expected.is_none() {
            // Counted before the listing: a user deleted meanwhile shifts later pages so that someone is
            // skipped, and only a count taken before notices.
            let (http, url) = (&self.http, &self.users_url);
            let count = self
                .admin
                .authorized("Keycloak user count", |token| {
                    Self::get_count(http.clone(), url.clone(), token)
                })
                .await?;
            self.expected = Some(count);
        }
        // Pages of people are requested ahead, up to `concurrency` at once, until one comes back short; service
        // accounts are few, one page at a time.
        let ahead = match phase {
            Phase::People => self.concurrency,
            _ => 1,
        };
        while self.requests.len() < ahead {
            self.request(phase);
        }
        let Some(page) = self.requests.next().await else {
            return Err(DirectoryError::Fatal(
                "Keycloak user listing: no page requested".into(),
            ));
        };
        let page = page?;
        let (last, empty) = (page.len() < self.page_size as usize, page.is_empty());
        // Service accounts are not people: the plain listing should hold none, and the search for them may
        // match other usernames containing the prefix.
        let (accounts, people): (Vec<KeycloakUser>, Vec<KeycloakUser>) =
            page.into_iter().partition(|u| {
                u.username
                    .as_deref()
                    .is_some_and(|n| n.starts_with(SERVICE_ACCOUNT_PREFIX))
            });
        if last {
            // The listing ended here. Pages requested past its end are dropped unread, as a listing one page
            // at a time would never have asked for them.
            self.requests.clear();
            self.phase = match phase {
                Phase::People => Phase::ServiceAccounts,
                _ => Phase::Done,
            };
            self.next_first = 0;
        }
        if empty && self.phase == Phase::Done {
            return Ok(None);
        }
        Ok(Some(Page {
            users: match phase {
                Phase::People => people.into_iter().map(DirectoryUser::from).collect(),
                _ => Vec::new(),
            },
            skipped: accounts.into_iter().map(|u| u.id).collect(),
            groups: Vec::new(),
        }))
    }

    fn name(&self) -> &'static str {
        "keycloak"
    }

    fn expected(&self) -> Option<u64> {
        self.expected
    }
}
