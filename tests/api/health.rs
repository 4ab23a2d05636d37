use keyward::http::routes;

use crate::helpers::{TestApp, problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
}

#[tokio::test]
async fn readyz_is_ok_while_the_database_answers_and_503_once_it_is_gone() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    app.state.db.close_by_ref().await.unwrap();

    let resp = app.get("/readyz").await;
    assert_eq!(resp.status(), 503);
    let body = problem(resp).await;
    assert_eq!(body["type"], "urn:keyward:problem:service-unavailable");
    // The process itself is still alive.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_status() {
    let app = spawn_app().await;
    app.get("/healthz").await;
    app.get("/no/such/path").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(
            r#"keyward_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"keyward_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("keyward_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn spec_and_docs_are_served() {
    let app = spawn_app().await;
    let spec: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(spec["paths"]["/healthz"]["get"].is_object());
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    let docs = docs.text().await.unwrap();
    assert!(docs.contains("swagger"));
    // The page shows the finished spec, as /openapi.json serves it.
    assert!(
        docs.contains("CsrfHeader")
            && spec["components"]["securitySchemes"]["CsrfHeader"].is_object()
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    for path in ["/healthz", "/nope"] {
        let resp = app.get(path).await;
        let id = resp
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
}

/// The `keyward_http_requests_total` line for these labels, read without a request (`/metrics` itself may
/// be rate limited).
fn requests_total(app: &TestApp, method: &str, route: &str, status: u16) -> Option<String> {
    let wanted = format!(
        r#"keyward_http_requests_total{{method="{method}",route="{route}",status="{status}"}} "#
    );
    let text = app.state.metrics.render();
    text.lines()
        .find_map(|l| l.strip_prefix(wanted.as_str()).map(str::to_owned))
}

#[tokio::test]
async fn answers_given_before_routing_are_counted_under_the_route() {
    let app = spawn_app().await;
    assert_eq!(
        app.post_raw("/healthz", "application/json", "{}")
            .await
            .status(),
        405
    );
    assert_eq!(
        app.client
            .put(app.url("/api/v1/roles/some-role"))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    // Routed normally (401): the router's own name for the templated route, which the 405 must share.
    assert_eq!(app.get("/api/v1/roles/some-role").await.status(), 401);
    let big = vec![b'x'; routes::MAX_BODY_BYTES + 1];
    assert_eq!(
        app.post_raw("/api/v1/probe", "application/json", big)
            .await
            .status(),
        413
    );
    app.get("/no/such/path").await;

    for (method, route, status) in [
        ("POST", "/healthz", 405),
        ("PUT", "/api/v1/roles/:param0", 405),
        ("GET", "/api/v1/roles/:param0", 401),
        ("POST", "/api/v1/probe", 413),
        ("GET", "unmatched", 404),
    ] {
        assert_eq!(
            requests_total(&app, method, route, status).as_deref(),
            Some("1"),
            "{method} {route} {status}:\n{}",
            app.state.metrics.render()
        );
    }
}

#[tokio::test]
async fn a_rate_limited_request_is_counted_under_its_route() {
    let app = spawn_app_with(&[
        ("KEYWARD_RATE_LIMIT_PER_MINUTE", "6"),
        ("KEYWARD_RATE_LIMIT_BURST", "2"),
    ])
    .await;
    for expected in [200, 200, 429] {
        assert_eq!(app.get("/openapi.json").await.status(), expected);
    }
    assert_eq!(app.get("/no/such/path").await.status(), 429);
    assert_eq!(
        requests_total(&app, "GET", "/openapi.json", 429).as_deref(),
        Some("1")
    );
    assert_eq!(
        requests_total(&app, "GET", "unmatched", 429).as_deref(),
        Some("1")
    );
}
