//! Authentik's API v3: `GET /api/v3/core/users/?page=&page_size=&ordering=pk&include_groups=false` with a static
//! API token; `pagination.next` is the next page number, 0 at the end. Once the first page has told how many there
//! are, several pages are requested at once and answered in order.

use std::{collections::HashSet, sync::Arc};

use serde::Deserialize;

use super::directory::{
    DirectoryError, DirectoryProvider, DirectoryUser, InFlight, Page, classify, non_empty,
    transport, with_retries,
};

#[derive(Debug, Clone, Deserialize)]
pub struct AuthentikUser {
    /// Authentik's own key, which its events name users by.
    #[serde(default)]
    pub pk: Option<i64>,
    /// The OIDC `sub` in the provider's default subject mode ("hashed user ID").
    #[serde(deserialize_with = "crate::text::de_storable_id")]
    pub uid: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default = "yes")]
    pub is_active: bool,
    #[serde(default)]
    pub avatar: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Listed when asked for (`include_groups=true`): the groups roles may be mapped from.
    #[serde(default)]
    pub groups_obj: Option<Vec<AuthentikGroup>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthentikGroup {
    pub name: String,
}

fn yes() -> bool {
    true
}

impl AuthentikUser {
    pub fn is_service_account(&self) -> bool {
        matches!(
            self.kind.as_deref(),
            Some("service_account" | "internal_service_account")
        )
    }
}

impl From<AuthentikUser> for DirectoryUser {
    fn from(u: AuthentikUser) -> Self {
        let username = non_empty(u.username);
        DirectoryUser {
            subject: u.uid,
            display_name: non_empty(u.name).or_else(|| username.clone()),
            username,
            email: non_empty(u.email),
            // Authentik keeps no verification flag: the local value (from login claims) stays.
            email_verified: None,
            // Data URIs (generated initials) and the stock placeholder are no picture: Gravatar does better.
            avatar_url: non_empty(u.avatar)
                .filter(|a| !a.starts_with("data:") && !a.ends_with("/user_default.png")),
            enabled: u.is_active,
            provider_pk: u.pk.map(|pk| pk.to_string()),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Pagination {
    pub next: f64,
    /// Users in the whole listing at the time of this answer, service accounts included.
    #[serde(default)]
    pub count: Option<u64>,
    /// Pages at the time of this answer; 0 when the answer does not say.
    #[serde(default)]
    pub total_pages: f64,
}

#[derive(Debug, Deserialize)]
pub struct UserPage {
    pub pagination: Pagination,
    pub results: Vec<AuthentikUser>,
}

pub struct AuthentikDirectory {
    http: reqwest::Client,
    users_url: String,
    token: Arc<str>,
    page_size: u32,
    /// Pages requested at once.
    concurrency: usize,
    /// The next page to request; 0 once the last one has been answered.
    next: u64,
    /// The last page the provider reported; pages past it are not requested ahead.
    last: u64,
    /// Answers come with the page number they were requested for.
    requests: InFlight<(u64, UserPage)>,
    /// The listing's size as the first page reported it, service accounts included.
    counted: Option<u64>,
    /// Distinct service accounts listed.
    accounts: HashSet<String>,
    /// Whether pages list each user's groups (roles are mapped from groups).
    with_groups: bool,
}

impl AuthentikDirectory {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        token: String,
        page_size: u32,
        concurrency: usize,
    ) -> Self {
        Self {
            http,
            users_url: format!("{}/api/v3/core/users/", base.trim_end_matches('/')),
            token: token.into(),
            page_size,
            concurrency: concurrency.max(1),
            next: 1,
            last: 1,
            requests: InFlight::new(),
            counted: None,
            accounts: HashSet::new(),
            with_groups: false,
        }
    }

    /// Lists each user's groups too, for roles mapped from them.
    pub fn with_groups(mut self, yes: bool) -> Self {
        self.with_groups = yes;
        self
    }

    async fn get_page(
        http: &reqwest::Client,
        url: &str,
        token: &str,
        page: u64,
        (size, groups): (u32, bool),
    ) -> Result<UserPage, DirectoryError> {
        let what = format!("Authentik users page={page} page_size={size}");
        let resp = http
            .get(url)
            .bearer_auth(token)
            .query(&[
                ("page", page.to_string()),
                ("page_size", size.to_string()),
                ("ordering", "pk".into()),
                // Serializing every user's groups is much of the cost of a page for Authentik (versions
                // before the parameter ignore it and list them anyway): asked only when roles are mapped.
                ("include_groups", groups.to_string()),
            ])
            .send()
            .await
            .map_err(|e| transport(e, &what))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            // A static token cannot be refreshed: 401 and 403 both mean the token is wrong.
            return Err(match classify(status, &body, &what) {
                DirectoryError::Unauthorized(m) => DirectoryError::Fatal(m),
                other => other,
            });
        }
        resp.json::<UserPage>()
            .await
            .map_err(|e| DirectoryError::Transient(format!("{what}: {}", e.without_url())))
    }

    /// Requests page `self.next`, to be answered after the ones already out.
    fn request(&mut self) {
        let (http, url, token, page, size) = (
            self.http.clone(),
            self.users_url.clone(),
            self.token.clone(),
            self.next,
            (self.page_size, self.with_groups),
        );
        self.requests.push(async move {
            let resp = with_retries("Authentik user listing", |_| {
                Self::get_page(&http, &url, &token, page, size)
            })
            .await?;
            Ok((page, resp))
        });
        self.next += 1;
    }
}

/// A user's subject and the names of their groups.
fn groups_of(u: &AuthentikUser) -> (String, Vec<String>) {
    let names = u.groups_obj.iter().flatten().map(|g| g.name.clone());
    (u.uid.clone(), names.collect())
}

/// A page number from the API's pagination (a JSON number), 0 when it is none.
fn page_number(n: f64) -> u64 {
    if n.is_finite() && n >= 1.0 {
        n as u64
    } else {
        0
    }
}

impl DirectoryProvider for AuthentikDirectory {
    async fn next_page(&mut self) -> Result<Option<Page>, DirectoryError> {
        if self.next == 0 {
            return Ok(None);
        }
        // The first page tells how many there are; those are then requested ahead, up to `concurrency` at
        // once, and answered in order.
        while self.next <= self.last && self.requests.len() < self.concurrency {
            self.request();
        }
        let Some(answer) = self.requests.next().await else {
            return Err(DirectoryError::Fatal(
                "Authentik user listing: no page requested".into(),
            ));
        };
        let (page, resp) = answer?;
        let next = page_number(resp.pagination.next);
        if next <= page {
            // The last page. Any requested past it (the listing shrank meanwhile) are dropped unread.
            self.requests.clear();
            self.next = 0;
        } else if next != page + 1 {
            // Not the page requested ahead: follow the API's pointer.
            self.requests.clear();
            self.next = next;
            self.last = next;
        } else {
            self.last = self
                .last
                .max(next)
                .max(page_number(resp.pagination.total_pages));
        }
        // Offset pages shift when a user is deleted during the listing, so that someone else goes unlisted:
        // only the count from before notices.
        self.counted = self.counted.or(resp.pagination.count);
        let (accounts, people): (Vec<AuthentikUser>, Vec<AuthentikUser>) = resp
            .results
            .into_iter()
            .partition(AuthentikUser::is_service_account);
        self.accounts.extend(accounts.iter().map(|u| u.uid.clone()));
        let groups = if self.with_groups {
            people.iter().map(groups_of).collect()
        } else {
            Vec::new()
        };
        Ok(Some(Page {
            users: people.into_iter().map(DirectoryUser::from).collect(),
            skipped: accounts.into_iter().map(|u| u.uid).collect(),
            groups,
        }))
    }

    fn name(&self) -> &'static str {
        "authentik"
    }

    /// The people in the listing the first page counted: its count less the service accounts listed (one
    /// skipped by a shift makes this larger, which errs on the safe side).
    fn expected(&self) -> Option<u64> {
        self.counted
            .map(|n| n.saturating_sub(self.accounts.len() as u64))
    }
}
