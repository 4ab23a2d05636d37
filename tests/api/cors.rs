use crate::helpers::{problem, spawn_app, spawn_app_with};

const SPA: &str = "https://spa.example.com";

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn an_allowed_origin_gets_credentialed_cors_headers_never_a_wildcard() {
    let app = spawn_app_with(&[("KEYWARD_CORS_ORIGINS", SPA)]).await;
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("Origin", SPA)
        .send()
        .await
        .unwrap();
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
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/probe"))
        .header("Origin", SPA)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type, x-csrf")
        .send()
        .await
        .unwrap();
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
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("Origin", "https://evil.example.net")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(header(&resp, "access-control-allow-origin").is_none());
    let body = problem(resp).await;
    assert_eq!(body["type"], "urn:keyward:problem:forbidden");

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/healthz"))
        .header("Origin", "https://evil.example.net")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 403);
    assert!(header(&preflight, "access-control-allow-origin").is_none());
}

#[tokio::test]
async fn with_no_origins_configured_only_keywards_own_origin_may_call() {
    let app = spawn_app().await;
    let foreign = app
        .client
        .get(app.url("/healthz"))
        .header("Origin", SPA)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let own_origin = app.state.config.public_origin();
    let own = app
        .client
        .get(app.url("/healthz"))
        .header("Origin", &own_origin)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    // Requests without an Origin (not from a browser) are not CORS requests at all.
    let plain = app.get("/healthz").await;
    assert_eq!(plain.status(), 200);
    assert!(header(&plain, "access-control-allow-origin").is_none());
}
