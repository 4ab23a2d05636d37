//! The provider's user directory, read page by page through its admin API.

use std::{future::Future, time::Duration};

/// A user as the provider's directory lists them: metadata only, never credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// Matches the OIDC `sub` of the user's logins.
    pub subject: String,
    pub username: Option<String>,
    pub email: Option<String>,
    /// `None` when the directory does not say (Authentik keeps no such flag): the local value stays.
    pub email_verified: Option<bool>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub enabled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Worth trying again: network trouble, 5xx, 429.
    #[error("{0}")]
    Transient(String),
    /// The admin credentials were refused (401): fetch a new admin token, once.
    #[error("{0}")]
    Unauthorized(String),
    /// Anything else: configuration, permissions (403), an unreadable answer.
    #[error("{0}")]
    Fatal(String),
}

/// Streams the provider's users, one page per call, `None` after the last page.
pub trait DirectoryProvider: Send {
    fn next_page(
        &mut self,
    ) -> impl Future<Output = Result<Option<Vec<DirectoryUser>>, DirectoryError>> + Send;

    /// Which provider this is, for logs and metrics.
    fn name(&self) -> &'static str;
}

/// Tries a provider call up to 3 times (backoff 0.5 s, then 2 s: under 10 s in all). After a 401 the call is
/// made once more with `true`, telling it to fetch a new admin token first.
pub async fn with_retries<T, F, Fut>(what: &str, mut call: F) -> Result<T, DirectoryError>
where
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = Result<T, DirectoryError>>,
{
    const BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];
    let mut refresh = false;
    let mut attempt = 0;
    loop {
        match call(refresh).await {
            Ok(v) => return Ok(v),
            Err(DirectoryError::Unauthorized(why)) if !refresh => {
                tracing::info!(%why, "{what}: admin token refused; fetching a new one");
                refresh = true;
            }
            Err(DirectoryError::Transient(why)) if attempt < BACKOFF.len() => {
                tracing::warn!(%why, attempt = attempt + 1, "{what} failed; retrying");
                tokio::time::sleep(BACKOFF[attempt]).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Maps an HTTP failure to how the sync should treat it.
pub fn classify(status: reqwest::StatusCode, body: &str, what: &str) -> DirectoryError {
    let excerpt: String = body.chars().take(200).collect();
    let msg = format!("{what}: HTTP {status}: {excerpt}");
    if status == reqwest::StatusCode::UNAUTHORIZED {
        DirectoryError::Unauthorized(msg)
    } else if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        DirectoryError::Transient(msg)
    } else {
        DirectoryError::Fatal(msg)
    }
}

pub fn transport(e: reqwest::Error, what: &str) -> DirectoryError {
    DirectoryError::Transient(format!("{what}: {}", e.without_url()))
}

/// Empty strings are absent values.
pub fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
