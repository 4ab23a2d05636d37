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
    tracing::info!(status = status.as_u16(), duration = %Elapsed(duration), "response");
}

/// A duration as `Duration`'s `Debug` writes it (`157.026µs`, `1.5s`: in the largest unit it reaches, no trailing
/// zeros), built in one buffer: `Debug` pads and formats each part apart, 900 instructions of every request.
struct Elapsed(Duration);

impl Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (secs, nanos) = (self.0.as_secs(), self.0.subsec_nanos());
        let (whole, mut fraction, mut divisor, unit) = if secs > 0 {
            (secs, nanos, 100_000_000, "s")
        } else if nanos >= 1_000_000 {
            (
                u64::from(nanos / 1_000_000),
                nanos % 1_000_000,
                100_000,
                "ms",
            )
        } else if nanos >= 1_000 {
            (u64::from(nanos / 1_000), nanos % 1_000, 100, "µs")
        } else {
            (u64::from(nanos), 0, 1, "ns")
        };
        // Up to 20 digits, the point, 9 decimals and the unit.
        let mut text = [0u8; 40];
        let mut digits = [0u8; 20];
        let (mut rest, mut start) = (whole, digits.len());
        loop {
            start -= 1;
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let mut len = digits.len() - start;
        text[..len].copy_from_slice(&digits[start..]);
        if fraction > 0 {
            text[len] = b'.';
            len += 1;
            while fraction > 0 {
                text[len] = b'0' + (fraction / divisor) as u8;
                fraction %= divisor;
                divisor /= 10;
                len += 1;
            }
        }
        text[len..len + unit.len()].copy_from_slice(unit.as_bytes());
        len += unit.len();
        f.write_str(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(uri: &str) -> String {
        RedactedUri(&uri.parse().unwrap()).to_string()
    }

    #[test]
    fn durations_read_as_their_debug_text() {
        let mut cases: Vec<Duration> = [
            0,
            1,
            999,
            1_000,
            1_001,
            157_026,
            999_999,
            1_000_000,
            1_500_000,
            999_999_999,
            1_000_000_000,
            1_500_000_000,
            59_000_000_001,
        ]
        .into_iter()
        .map(Duration::from_nanos)
        .collect();
        cases.push(Duration::new(u64::MAX, 999_999_999));
        // Spread over every unit: nanos up to about 18 minutes.
        let mut n: u64 = 1;
        for _ in 0..100_000 {
            n = n
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            cases.push(Duration::from_nanos(n >> (24 + n % 40)));
        }
        for d in cases {
            assert_eq!(Elapsed(d).to_string(), format!("{d:?}"));
        }
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
