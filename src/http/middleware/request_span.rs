//! The span every log line of a request is recorded in (request id, client address, method, URI) and the one
//! `response` line with status and duration. One-time values and tokens in the query never reach the log.

use std::{
    fmt::{self, Display, Write as _},
    net::IpAddr,
    time::Duration,
};

use poem::{
    Request,
    http::{StatusCode, Uri},
};
use tracing::Span;
use uuid::Uuid;

/// Query parameters whose values are secrets or single-use: OAuth codes and states, tokens of every kind.
const SECRET_PARAMS: [&str; 11] = [
    "code",
    "state",
    "access_token",
    "id_token",
    "refresh_token",
    "logout_token",
    "id_token_hint",
    "token",
    "client_secret",
    "code_verifier",
    "password",
];

/// A URI's path and query with the values of [`SECRET_PARAMS`] replaced; formatted only when a log line
/// is actually written, so a request whose span is filtered out pays nothing.
pub struct RedactedUri<'a>(pub &'a Uri);

impl Display for RedactedUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.path())?;
        let Some(query) = self.0.query() else {
            return Ok(());
        };
        f.write_char('?')?;
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                f.write_char('&')?;
            }
            match pair.split_once('=') {
                Some((name, _)) if is_secret(name) => write!(f, "{name}=[redacted]")?,
                _ => f.write_str(pair)?,
            }
        }
        Ok(())
    }
}

/// An encoded name could decode to a secret one; its value is hidden rather than decoded.
fn is_secret(name: &str) -> bool {
    name.contains('%') || SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// The span of one request. Error-level, so that a line logged at any level names its request; its fields are
/// formatted once, when the span is made (all of them at once: recording one later formats the span again), and
/// only if a subscriber wants it.
pub fn span(req: &Request, id: Uuid, client: Option<IpAddr>) -> Span {
    tracing::error_span!(
        "request",
        request_id = %id,
        remote_addr = %RemoteAddr(client, req),
        version = ?req.version(),
        method = %req.method(),
        uri = %RedactedUri(req.original_uri()),
    )
}

/// The client's resolved address, else the peer's as the listener saw it.
struct RemoteAddr<'a>(Option<IpAddr>, &'a Request);

impl Display for RemoteAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => self.1.remote_addr().fmt(f),
        }
    }
}

/// The one line a request leaves at the default level, inside its span. The status as a number: its reason
/// phrase added nothing to the line but formatting work on every request.
pub fn log_response(status: StatusCode, duration: Duration) {
    tracing::info!(status = status.as_u16(), ?duration, "response");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(uri: &str) -> String {
        RedactedUri(&uri.parse().unwrap()).to_string()
    }

    #[test]
    fn secret_query_values_are_replaced_and_the_rest_kept() {
        assert_eq!(
            redacted("/auth/callback?code=abc&state=xyz&iss=https%3A%2F%2Fidp"),
            "/auth/callback?code=[redacted]&state=[redacted]&iss=https%3A%2F%2Fidp"
        );
        assert_eq!(
            redacted("/x?ID_TOKEN_HINT=a&logout_token=b&access_token=c&page=2"),
            "/x?ID_TOKEN_HINT=[redacted]&logout_token=[redacted]&access_token=[redacted]&page=2"
        );
        assert_eq!(redacted("/x?c%6Fde=a&flag"), "/x?c%6Fde=[redacted]&flag");
        assert_eq!(redacted("/healthz"), "/healthz");
    }
}
