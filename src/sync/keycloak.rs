//! Keycloak's Admin REST API: a service-account token by `client_credentials`, then
//! `GET /admin/realms/{realm}/users?first=&max=` until a short page, then the service accounts
//! (`username=service-account-`) the same way.

use std::{collections::HashMap, future::Future};

use serde::Deserialize;

use super::directory::{
    DirectoryError, DirectoryProvider, DirectoryUser, Page, classify, non_empty, transport,
    with_retries,
};

/// A user in Keycloak's `UserRepresentation`, the fields the sync reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeycloakUser {
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
    token_url: String,
    client_id: String,
    client_secret: String,
    page_size: u32,
    first: u64,
    phase: Phase,
    token: Option<String>,
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

impl KeycloakDirectory {
    /// `base` is the server URL (with any path prefix, e.g. `/auth` on old installs), `realm` the realm name.
    pub fn new(
        http: reqwest::Client,
        base: &str,
        realm: &str,
        client_id: String,
        client_secret: String,
        page_size: u32,
    ) -> Self {
        let base = base.trim_end_matches('/');
        Self {
            http,
            users_url: format!("{base}/admin/realms/{realm}/users"),
            token_url: format!("{base}/realms/{realm}/protocol/openid-connect/token"),
            client_id,
            client_secret,
            page_size,
            first: 0,
            phase: Phase::People,
            token: None,
            expected: None,
        }
    }

    async fn fetch_token(
        http: &reqwest::Client,
        url: &str,
        id: &str,
        secret: &str,
    ) -> Result<String, DirectoryError> {
        let what = "Keycloak admin token";
        let resp = http
            .post(url)
            .basic_auth(id, Some(secret))
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

    /// One admin API call with retries, fetching the admin token first when there is none yet and again,
    /// once, after a 401.
    async fn authorized<T, F, Fut>(&mut self, what: &str, request: F) -> Result<T, DirectoryError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, DirectoryError>>,
    {
        let (http, token_url, id, secret) = (
            &self.http,
            &self.token_url,
            &self.client_id,
            &self.client_secret,
        );
        let token = std::sync::Mutex::new(self.token.take());
        let (token, request) = (&token, &request);
        let result = with_retries(what, |refresh| async move {
            let held = if refresh {
                None
            } else {
                token.lock().ok().and_then(|t| t.clone())
            };
            let current = match held {
                Some(t) => t,
                None => {
                    let fresh = Self::fetch_token(http, token_url, id, secret).await?;
                    if let Ok(mut t) = token.lock() {
                        *t = Some(fresh.clone());
                    }
                    fresh
                }
            };
            request(current).await
        })
        .await;
        self.token = token.lock().ok().and_then(|t| t.clone());
        result
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
}

impl DirectoryProvider for KeycloakDirectory {
    async fn next_page(&mut self) -> Result<Option<Page>, DirectoryError> {
        let phase = self.phase;
        if phase == Phase::Done {
            return Ok(None);
        }
        let (http, url, first, max) = (
            self.http.clone(),
            self.users_url.clone(),
            self.first,
            self.page_size,
        );
        if phase == Phase::People && first == 0 && self.expected.is_none() {
            // Counted before the listing: a user deleted meanwhile shifts later pages so that someone is
            // skipped, and only a count taken before notices.
            let count = self
                .authorized("Keycloak user count", |token| {
                    Self::get_count(http.clone(), url.clone(), token)
                })
                .await?;
            self.expected = Some(count);
        }
        let page = self
            .authorized("Keycloak user listing", |token| {
                Self::get_page(http.clone(), url.clone(), token, first, max, phase)
            })
            .await?;
        // Service accounts are not people: the plain listing should hold none, and the search for them may
        // match other usernames containing the prefix.
        let (accounts, people): (Vec<KeycloakUser>, Vec<KeycloakUser>) =
            page.iter().cloned().partition(|u| {
                u.username
                    .as_deref()
                    .is_some_and(|n| n.starts_with(SERVICE_ACCOUNT_PREFIX))
            });
        if page.len() < self.page_size as usize {
            self.phase = match phase {
                Phase::People => Phase::ServiceAccounts,
                _ => Phase::Done,
            };
            self.first = 0;
        } else {
            self.first += page.len() as u64;
        }
        if page.is_empty() && self.phase == Phase::Done {
            return Ok(None);
        }
        Ok(Some(Page {
            users: match phase {
                Phase::People => people.into_iter().map(DirectoryUser::from).collect(),
                _ => Vec::new(),
            },
            skipped: accounts.into_iter().map(|u| u.id).collect(),
        }))
    }

    fn name(&self) -> &'static str {
        "keycloak"
    }

    fn expected(&self) -> Option<u64> {
        self.expected
    }
}
