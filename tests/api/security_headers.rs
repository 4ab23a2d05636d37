use crate::helpers::{header, spawn_app, spawn_app_with};

const COMMON: [(&str, &str); 6] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-site"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    ),
];

#[tokio::test]
async fn api_responses_carry_every_security_header_and_a_strict_csp() {
    let app = spawn_app().await;
    // Success, a client error and a framework error all get them.
    for path in ["/healthz", "/nope", "/openapi.json"] {
        let resp = app.get(path).await;
        for (name, value) in COMMON {
            assert_eq!(header(&resp, name), Some(value), "{name} on {path}");
        }
        let csp = header(&resp, "content-security-policy").unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(
            header(&resp, "server").is_none(),
            "no Server banner on {path}"
        );
        assert!(
            header(&resp, "strict-transport-security").is_none(),
            "no HSTS over http"
        );
    }
}

#[tokio::test]
async fn the_docs_page_gets_the_looser_policy_it_needs() {
    let app = spawn_app().await;
    let resp = app.get("/docs").await;
    let csp = header(&resp, "content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header(&resp, "x-frame-options"), Some("DENY"));
}

#[tokio::test]
async fn hsts_is_sent_when_the_public_url_is_https() {
    let app = spawn_app_with(&[("KEYWARD_PUBLIC_URL", "https://keyward.example.com")]).await;
    let resp = app.get("/healthz").await;
    assert_eq!(
        header(&resp, "strict-transport-security"),
        Some("max-age=63072000; includeSubDomains")
    );
}
