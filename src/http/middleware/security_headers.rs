//! Security headers on every response, each with the reason it is there.

use poem::http::{HeaderMap, HeaderName, HeaderValue, header};

/// The API answers JSON only: nothing may be loaded, framed or run from it.
const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// Swagger UI is served as inline script and style from the binary; it fetches only our own spec.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The console runs only its own bundled scripts and styles; avatars come from Gravatar or the provider.
const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; \
     font-src 'self'; connect-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

// Built at compile time: every response carries them.
const COOP: HeaderName = HeaderName::from_static("cross-origin-opener-policy");
const CORP: HeaderName = HeaderName::from_static("cross-origin-resource-policy");
const PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");

/// The Content-Security-Policy for a path: chosen before the request moves on.
pub fn csp_for(path: &str) -> &'static str {
    if path == "/docs" || path.starts_with("/docs/") {
        DOCS_CSP
    } else if path == "/console" || path.starts_with("/console/") {
        CONSOLE_CSP
    } else {
        API_CSP
    }
}

/// The most headers [`apply`] sets.
pub const COUNT: usize = 8;

/// Adds the security headers to a response; `hsts` only when the public URL is https (over plain http it
/// would be ignored, or pin a dev host).
pub fn apply(h: &mut HeaderMap, csp: &'static str, hsts: bool) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    // Browsers must not guess a script or stylesheet out of a JSON body.
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // No page of ours may be framed (clickjacking); CSP frame-ancestors says the same to newer browsers.
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // URLs can carry codes and state; never leak them to other sites.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Keep other origins' windows out of our browsing context group (Spectre, tabnabbing).
    h.insert(COOP, HeaderValue::from_static("same-origin"));
    // Other sites may not embed our responses with no-cors requests; CORS still governs real API calls.
    h.insert(CORP, HeaderValue::from_static("same-site"));
    // An API needs no device or sensor access; deny the powerful features outright.
    h.insert(
        PERMISSIONS_POLICY,
        HeaderValue::from_static(
            "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
        ),
    );
    if hsts {
        // Once seen over https, browsers refuse plain http to this host for two years.
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    // Do not advertise the server software.
    h.remove(header::SERVER);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_is_what_apply_sets_at_most() {
        let mut h = HeaderMap::new();
        apply(&mut h, API_CSP, true);
        assert_eq!(h.len(), COUNT);
    }
}
