//! Where the browser goes after login: a path on Keyward's own origin or a page on an allowed origin, never
//! anywhere else (no open redirect).

use url::Url;

const MAX_LEN: usize = 2048;

/// Resolves `return_to` to an absolute URL, or says why it is refused.
pub fn resolve(
    raw: Option<&str>,
    public_url: &Url,
    allowed_origins: &[String],
) -> Result<Url, &'static str> {
    let raw = raw.unwrap_or("/");
    if raw.len() > MAX_LEN {
        return Err("must be at most 2048 characters");
    }
    if raw.chars().any(|c| c.is_control() || c == '\\') {
        return Err("must not contain control characters or backslashes");
    }
    let own_origin = public_url.origin();
    if raw.starts_with('/') {
        // `//host` is a scheme-relative URL to another host.
        if raw.starts_with("//") {
            return Err("must be a path on this site or a URL on an allowed origin");
        }
        let url = public_url.join(raw).map_err(|_| "must be a valid path")?;
        return if url.origin() == own_origin {
            Ok(url)
        } else {
            Err("must be a path on this site or a URL on an allowed origin")
        };
    }
    let url = Url::parse(raw)
        .map_err(|_| "must be a relative path starting with / or an absolute URL")?;
    let origin = url.origin();
    let allowed = origin == own_origin
        || allowed_origins
            .iter()
            .any(|o| *o == origin.ascii_serialization());
    if allowed && url.username().is_empty() && url.password().is_none() {
        Ok(url)
    } else {
        Err("points to an origin that is not in KEYWARD_ALLOWED_RETURN_ORIGINS")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str) -> Result<String, &'static str> {
        let public = Url::parse("https://api.example.com/").unwrap();
        resolve(Some(raw), &public, &["https://app.example.com".into()]).map(|u| u.to_string())
    }

    #[test]
    fn paths_and_allowed_origins_are_accepted() {
        assert_eq!(check("/").unwrap(), "https://api.example.com/");
        assert_eq!(
            check("/dashboard?tab=2#x").unwrap(),
            "https://api.example.com/dashboard?tab=2#x"
        );
        assert_eq!(
            check("https://app.example.com/after-login").unwrap(),
            "https://app.example.com/after-login"
        );
        assert_eq!(
            check("https://api.example.com/x").unwrap(),
            "https://api.example.com/x"
        );
        let public = Url::parse("https://api.example.com/").unwrap();
        assert_eq!(
            resolve(None, &public, &[]).unwrap().as_str(),
            "https://api.example.com/"
        );
    }

    #[test]
    fn open_redirects_are_refused() {
        for bad in [
            "//evil.example.com/x",
            "/\\evil.example.com",
            "\\\\evil.example.com",
            "https://evil.example.com/",
            "https://app.example.com.evil.com/",
            "http://app.example.com/",
            "https://user:pw@app.example.com/",
            "javascript:alert(1)",
            "data:text/html,hi",
            "evil.example.com",
            "/ok\r\nSet-Cookie: x=y",
            "/%0d%0a",
        ] {
            if bad == "/%0d%0a" {
                // Percent-encoded bytes stay encoded in the path: harmless and same-origin.
                assert!(check(bad).is_ok());
                continue;
            }
            assert!(check(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(check(&format!("/{}", "a".repeat(3000))).is_err());
    }
}
