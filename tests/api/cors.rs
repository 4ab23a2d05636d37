use crate::helpers::{header, problem, spawn_app, spawn_app_with};

const SPA: &str = "https://spa.example.com";

#[tokio::test]
async fn an_allowed_origin_gets_credentialed_cors_headers_never_a_wildcard() {
    let app = spawn_app_with(&[("KEYWARD_CORS_ORIGINS", SPA)]).await;
    let resp = app.get_from("/healthz", SPA).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(SPA));
    assert_eq!(
        header(&resp, "access-control-allow-credentials"),
        Some("true")
    );
    assert!(
        header(&resp, "vary")
            .unwrap_or_default()
            .to_lowercase()
            .contains("origin")
    );
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered() {
    let app = spawn_app_with(&[("KEYWARD_CORS_ORIGINS", SPA)]).await;
    let resp = app
        .preflight("/api/v1/probe", SPA, "POST", Some("content-type, x-csrf"))
        .await;
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(SPA));
    assert_eq!(
        header(&resp, "access-control-allow-credentials"),
        Some("true")
    );
    assert!(
        header(&resp, "access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        header(&resp, "access-control-allow-headers")
            .unwrap()
            .to_lowercase()
            .contains("x-csrf")
    );
}

#[tokio::test]
async fn an_unknown_origin_is_refused_with_a_problem_and_no_cors_headers() {
    let app = spawn_app_with(&[("KEYWARD_CORS_ORIGINS", SPA)]).await;
    let resp = app.get_from("/healthz", "https://evil.example.net").await;
    assert_eq!(resp.status(), 403);
    assert!(header(&resp, "access-control-allow-origin").is_none());
    let body = problem(resp).await;
    assert_eq!(body["type"], "urn:keyward:problem:forbidden");

    let preflight = app
        .preflight("/healthz", "https://evil.example.net", "GET", None)
        .await;
    assert_eq!(preflight.status(), 403);
    assert!(header(&preflight, "access-control-allow-origin").is_none());
}

#[tokio::test]
async fn with_no_origins_configured_only_keywards_own_origin_may_call() {
    let app = spawn_app().await;
    let foreign = app.get_from("/healthz", SPA).await;
    assert_eq!(foreign.status(), 403);
    let own_origin = app.state.config.public_origin();
    let own = app.get_from("/healthz", &own_origin).await;
    assert_eq!(own.status(), 200);
    // Requests without an Origin (not from a browser) are not CORS requests at all.
    let plain = app.get("/healthz").await;
    assert_eq!(plain.status(), 200);
    assert!(header(&plain, "access-control-allow-origin").is_none());
}
