//! The provider's user directory, read page by page through its admin API.

use std::{collections::VecDeque, future::Future, time::Duration};

use tracing::Instrument;

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
    /// The provider's own key, where its events name users by it rather than by subject (Authentik's `pk`).
    pub provider_pk: Option<String>,
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

/// One page of the listing.
#[derive(Debug, Default)]
pub struct Page {
    pub users: Vec<DirectoryUser>,
    /// Subjects the provider listed but the sync leaves alone (service accounts). They exist at the provider,
    /// so a local row for one (made when its token was used as a Bearer) is not "missing" from the listing.
    pub skipped: Vec<String>,
    /// Each listed user's groups (subject, group names), when the listing carries them (Authentik, asked for
    /// when roles are mapped from groups).
    pub groups: Vec<(String, Vec<String>)>,
}

/// Streams the provider's users, one page per call, `None` after the last page.
pub trait DirectoryProvider: Send {
    fn next_page(&mut self) -> impl Future<Output = Result<Option<Page>, DirectoryError>> + Send;

    /// Which provider this is, for logs and metrics.
    fn name(&self) -> &'static str;

    /// How many people the provider counted before listing them, when it can say: a complete listing that
    /// held fewer came up short, and must not decide who is missing.
    fn expected(&self) -> Option<u64> {
        None
    }
}

/// A task that ends with its owner: dropping this aborts it.
pub(crate) struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T: Send + 'static> AbortOnDrop<T> {
    pub(crate) fn spawn<F>(task: F) -> Self
    where
        F: Future<Output = T> + Send + 'static,
    {
        Self(tokio::spawn(task.in_current_span()))
    }

    /// Waits for the task to end.
    pub(crate) async fn join(&mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Page requests made ahead of need, answered in the order they were made. Each runs as its own task, with its
/// own tries; the ones still out when the queue is cleared or dropped are aborted.
pub(crate) struct InFlight<T> {
    requests: VecDeque<AbortOnDrop<Result<T, DirectoryError>>>,
}

impl<T: Send + 'static> InFlight<T> {
    pub(crate) fn new() -> Self {
        Self {
            requests: VecDeque::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.requests.len()
    }

    pub(crate) fn push<F>(&mut self, request: F)
    where
        F: Future<Output = Result<T, DirectoryError>> + Send + 'static,
    {
        self.requests.push_back(AbortOnDrop::spawn(request));
    }

    /// The answer to the oldest request still out, `None` when there is none.
    pub(crate) async fn next(&mut self) -> Option<Result<T, DirectoryError>> {
        let answer = self.requests.front_mut()?.join().await;
        self.requests.pop_front();
        Some(answer.unwrap_or_else(|e| {
            Err(DirectoryError::Fatal(format!(
                "a page request stopped: {e}"
            )))
        }))
    }

    /// Drops the requests still out: the listing ended before them.
    pub(crate) fn clear(&mut self) {
        self.requests.clear();
    }
}

/// Waits between tries: 3 tries in all.
const BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];
/// Every try of one call, backoff included, ends within this. It keeps one page far inside the sync lease's
/// lifetime, whatever the HTTP client's own timeout.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Tries a provider call up to 3 times with backoff, all within [`DEADLINE`]. After a 401 the next try is
/// made with `true`, telling it to fetch a new admin token first; that happens at most once per call.
pub async fn with_retries<T, F, Fut>(what: &str, call: F) -> Result<T, DirectoryError>
where
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = Result<T, DirectoryError>>,
{
    with_retries_within(what, DEADLINE, call).await
}

async fn with_retries_within<T, F, Fut>(
    what: &str,
    deadline: Duration,
    mut call: F,
) -> Result<T, DirectoryError>
where
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = Result<T, DirectoryError>>,
{
    let until = tokio::time::Instant::now() + deadline;
    let mut refresh = false;
    let mut refreshed = false;
    let mut attempt = 0;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let Ok(result) = tokio::time::timeout(left, call(refresh)).await else {
            return Err(DirectoryError::Transient(format!(
                "{what}: no answer within {} s (all tries)",
                deadline.as_secs_f64()
            )));
        };
        refresh = false;
        match result {
            Ok(v) => return Ok(v),
            Err(DirectoryError::Unauthorized(why)) if !refreshed => {
                tracing::info!(%why, "{what}: admin token refused; fetching a new one");
                refresh = true;
                refreshed = true;
            }
            Err(DirectoryError::Transient(why))
                if attempt < BACKOFF.len()
                    && until.saturating_duration_since(tokio::time::Instant::now())
                        > BACKOFF[attempt] =>
            {
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

#[cfg(test)]
mod tests {
    use std::{
        sync::{Arc, Mutex},
        time::Instant,
    };

    use super::*;

    #[tokio::test]
    async fn pages_in_flight_are_answered_in_the_order_asked() {
        let mut requests = InFlight::new();
        // The first asked answers last.
        for (n, ms) in [(1, 60), (2, 20), (3, 0)] {
            requests.push(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(n)
            });
        }
        let mut answers = Vec::new();
        while let Some(answer) = requests.next().await {
            answers.push(answer.unwrap());
        }
        assert_eq!(answers, [1, 2, 3]);
    }

    #[tokio::test]
    async fn pages_still_in_flight_when_the_listing_ends_are_not_finished() {
        let finished = Arc::new(Mutex::new(0));
        let mut requests = InFlight::new();
        for _ in 0..2 {
            let finished = finished.clone();
            requests.push(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                *finished.lock().unwrap() += 1;
                Ok(())
            });
        }
        requests.clear();
        assert!(requests.next().await.is_none());
        let finished_too = finished.clone();
        let mut dropped = InFlight::new();
        dropped.push(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            *finished_too.lock().unwrap() += 1;
            Ok(())
        });
        drop(dropped);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(*finished.lock().unwrap(), 0);
    }

    #[tokio::test]
    async fn a_new_token_is_fetched_once_per_call_however_many_tries_follow() {
        let refreshes = Arc::new(Mutex::new(Vec::new()));
        let log = refreshes.clone();
        let mut answers = vec![
            DirectoryError::Unauthorized("401".into()),
            DirectoryError::Transient("502".into()),
            DirectoryError::Unauthorized("401 again".into()),
        ]
        .into_iter();
        let result = with_retries("test", |refresh| {
            log.lock().unwrap().push(refresh);
            let answer = answers.next();
            async move { answer.map_or(Ok(()), Err) }
        })
        .await;
        assert!(
            matches!(result, Err(DirectoryError::Unauthorized(_))),
            "a second 401 ends the call: {result:?}"
        );
        assert_eq!(*refreshes.lock().unwrap(), [false, true, false]);
    }

    #[tokio::test]
    async fn tries_and_backoff_end_within_the_deadline() {
        let calls = Arc::new(Mutex::new(0));
        let count = calls.clone();
        let started = Instant::now();
        // A provider that never answers: the deadline cuts the first try short.
        let result: Result<(), _> = with_retries_within("test", Duration::from_millis(300), |_| {
            *count.lock().unwrap() += 1;
            std::future::pending()
        })
        .await;
        assert!(matches!(result, Err(DirectoryError::Transient(_))));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(*calls.lock().unwrap(), 1);

        // Slow failures: the 2 s backoff before a third try would outlast the deadline, so none starts.
        let started = Instant::now();
        let tries = Arc::new(Mutex::new(0));
        let count = tries.clone();
        let result: Result<(), _> =
            with_retries_within("test", Duration::from_millis(1000), |_| {
                *count.lock().unwrap() += 1;
                async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Err(DirectoryError::Transient("503".into()))
                }
            })
            .await;
        assert!(matches!(result, Err(DirectoryError::Transient(_))));
        assert_eq!(*tries.lock().unwrap(), 2);
        assert!(started.elapsed() < Duration::from_millis(1500));
    }
}
