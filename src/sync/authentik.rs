//! Authentik's API v3: `GET /api/v3/core/users/?page=&page_size=&ordering=pk&include_groups=false` with a static
//! API token; `pagination.next` is the next page number, 0 at the end.

use serde::Deserialize;

use super::directory::{
    DirectoryError, DirectoryProvider, DirectoryUser, Page, classify, non_empty, transport,
    with_retries,
};

#[derive(Debug, Clone, Deserialize)]
pub struct AuthentikUser {
    /// The OIDC `sub` in the provider's default subject mode ("hashed user ID").
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
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Pagination {
    pub next: f64,
}

#[derive(Debug, Deserialize)]
pub struct UserPage {
    pub pagination: Pagination,
    pub results: Vec<AuthentikUser>,
}

pub struct AuthentikDirectory {
    http: reqwest::Client,
    users_url: String,
    token: String,
    page_size: u32,
    next: u64,
}

impl AuthentikDirectory {
    pub fn new(http: reqwest::Client, base: &str, token: String, page_size: u32) -> Self {
        Self {
            http,
            users_url: format!("{}/api/v3/core/users/", base.trim_end_matches('/')),
            token,
            page_size,
            next: 1,
        }
    }

    async fn get_page(
        http: &reqwest::Client,
        url: &str,
        token: &str,
        page: u64,
        size: u32,
    ) -> Result<UserPage, DirectoryError> {
        let what = format!("Authentik users page={page} page_size={size}");
        let resp = http
            .get(url)
            .bearer_auth(token)
            .query(&[
                ("page", page.to_string()),
                ("page_size", size.to_string()),
                ("ordering", "pk".into()),
                // The sync does not read groups, and serializing every user's groups is much of the cost of
                // a page for Authentik (versions before the parameter ignore it and list them anyway).
                ("include_groups", "false".into()),
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
}

impl DirectoryProvider for AuthentikDirectory {
    async fn next_page(&mut self) -> Result<Option<Page>, DirectoryError> {
        if self.next == 0 {
            return Ok(None);
        }
        let (http, url, token, page, size) = (
            &self.http,
            &self.users_url,
            &self.token,
            self.next,
            self.page_size,
        );
        let resp = with_retries("Authentik user listing", |_| {
            Self::get_page(http, url, token, page, size)
        })
        .await?;
        let next = resp.pagination.next;
        self.next = if next.is_finite() && next >= 1.0 && (next as u64) > page {
            next as u64
        } else {
            0
        };
        let (accounts, people): (Vec<AuthentikUser>, Vec<AuthentikUser>) = resp
            .results
            .into_iter()
            .partition(AuthentikUser::is_service_account);
        Ok(Some(Page {
            users: people.into_iter().map(DirectoryUser::from).collect(),
            skipped: accounts.into_iter().map(|u| u.uid).collect(),
        }))
    }

    fn name(&self) -> &'static str {
        "authentik"
    }
}
