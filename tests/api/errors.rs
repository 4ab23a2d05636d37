use serde_json::json;

use crate::{
    helpers::{problem, spawn_app},
    idp::Layout,
    rbac::{call, with_admin},
};

#[tokio::test]
async fn unknown_paths_get_a_404_problem() {
    let app = spawn_app().await;
    let body = problem(app.get("/no/such/thing").await).await;
    assert_eq!(body["type"], "urn:keyward:problem:not-found");
}

#[tokio::test]
async fn a_wrong_method_gets_405_with_allow() {
    let app = spawn_app().await;
    let resp = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, HEAD");
    assert_eq!(
        problem(resp).await["type"],
        "urn:keyward:problem:method-not-allowed"
    );

    let resp = app
        .client
        .put(app.url("/api/v1/probe"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, HEAD, POST");
}

#[tokio::test]
async fn a_valid_body_is_accepted() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/api/v1/probe"))
        .json(&serde_json::json!({"name": "invoices", "email": "a@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<String>().await.unwrap(), "invoices");
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = spawn_app().await;
    let resp = app
        .post_raw("/api/v1/probe", "application/json", r#"{"name": "inv"#)
        .await;
    assert_eq!(resp.status(), 400);
    let body = problem(resp).await;
    assert_eq!(body["type"], "urn:keyward:problem:malformed-request");
    assert!(body["detail"].as_str().unwrap().contains("not valid JSON"));
}

#[tokio::test]
async fn a_wrong_or_missing_content_type_is_415() {
    let app = spawn_app().await;
    let resp = app
        .post_raw("/api/v1/probe", "text/plain", r#"{"name": "invoices"}"#)
        .await;
    assert_eq!(resp.status(), 415);
    assert_eq!(
        problem(resp).await["type"],
        "urn:keyward:problem:unsupported-media-type"
    );

    let resp = app
        .client
        .post(app.url("/api/v1/probe"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
}

#[tokio::test]
async fn unknown_missing_mistyped_and_invalid_fields_are_listed() {
    let app = spawn_app().await;
    let send = |body: serde_json::Value| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/v1/probe"))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };

    let resp = send(serde_json::json!({"name": "invoices", "admin": true})).await;
    assert_eq!(resp.status(), 400);
    let body = problem(resp).await;
    assert_eq!(body["type"], "urn:keyward:problem:validation-failed");
    assert_eq!(
        body["errors"],
        serde_json::json!([{"field": "admin", "message": "unknown field"}])
    );

    let body = problem(send(serde_json::json!({"note": 5})).await).await;
    let errors = body["errors"].as_array().unwrap();
    assert!(
        errors.contains(&serde_json::json!({"field": "name", "message": "is required"})),
        "{errors:?}"
    );
    assert!(
        errors.contains(&serde_json::json!({"field": "note", "message": "must be of type string"})),
        "{errors:?}"
    );

    let body = problem(send(serde_json::json!({"name": "Bad Name"})).await).await;
    assert_eq!(body["errors"][0]["field"], "name");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("pattern")
    );

    let body =
        problem(send(serde_json::json!({"name": "ok", "email": "not-an-email"})).await).await;
    assert_eq!(
        body["errors"],
        serde_json::json!([{"field": "email", "message": "must be an email address"}])
    );
}

#[tokio::test]
async fn bodies_over_64_kib_get_413_whether_declared_or_chunked() {
    let app = spawn_app().await;
    let big = format!(r#"{{"name": "ok", "note": "{}"}}"#, "x".repeat(70 * 1024));
    let resp = app
        .post_raw("/api/v1/probe", "application/json", big.clone())
        .await;
    assert_eq!(resp.status(), 413);
    assert_eq!(
        problem(resp).await["type"],
        "urn:keyward:problem:payload-too-large"
    );

    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .into_bytes()
        .chunks(8192)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let resp = app
        .post_raw(
            "/api/v1/probe",
            "application/json",
            reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
        )
        .await;
    assert_eq!(resp.status(), 413);

    // Just under the limit is fine.
    let fits = format!(r#"{{"name": "ok", "note": "{}"}}"#, "x".repeat(60 * 1024));
    let resp = app
        .post_raw("/api/v1/probe", "application/json", fits)
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn bad_query_parameters_and_empty_bodies_are_400_not_500() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("/api/v1/probe?per_page=20")
            .await
            .json::<u32>()
            .await
            .unwrap(),
        20
    );
    for query in ["per_page=abc", "per_page=201", "per_page=-1"] {
        let resp = app.get(&format!("/api/v1/probe?{query}")).await;
        assert_eq!(resp.status(), 400, "{query}");
        let body = problem(resp).await;
        assert_eq!(body["type"], "urn:keyward:problem:validation-failed");
        assert_eq!(body["errors"][0]["field"], "per_page", "{query}");
    }
    let resp = app
        .client
        .post(app.url("/api/v1/probe"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        problem(resp).await["type"],
        "urn:keyward:problem:malformed-request"
    );
}

#[tokio::test]
async fn a_panic_becomes_a_500_problem_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let resp = app.get("/api/v1/probe?panic=true").await;
    assert_eq!(resp.status(), 500);
    let body = problem(resp).await;
    assert_eq!(body["type"], "urn:keyward:problem:internal");
    assert!(
        !body["detail"].as_str().unwrap().contains("probe asked"),
        "no internals leak"
    );
    assert_eq!(app.get("/healthz").await.status(), 200);
}

/// A refused bearer token is explained in words; the library's own error text stays in the log.
#[tokio::test]
async fn token_refusals_are_explained_in_words_not_library_debug_text() {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let app = spawn_app().await;
    let jwks: serde_json::Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap();
    let iss = app.state.auth.tokens.issuer();
    let claims = b64(
        serde_json::json!({"iss": iss, "aud": iss, "sub": uuid::Uuid::new_v4(),
        "exp": chrono::Utc::now().timestamp() + 600}),
    );
    let cases = [
        (
            "alg none",
            format!("{}.{claims}.", b64(serde_json::json!({"alg": "none"}))),
        ),
        (
            "a signature that is not base64url",
            format!(
                "{}.{claims}.QR",
                b64(serde_json::json!({"alg": "EdDSA", "kid": kid}))
            ),
        ),
        (
            "a header that is not JSON",
            format!("{}.{claims}.c2ln", URL_SAFE_NO_PAD.encode("nope")),
        ),
    ];
    for (what, token) in cases {
        let resp = app
            .client
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{what}");
        let body = problem(resp).await;
        let detail = body["detail"].as_str().unwrap();
        for leak in [
            "variant", "HS256", "Base64", "Symbol", "Error(", "line 1", "column",
        ] {
            assert!(!detail.contains(leak), "{what}: {detail}");
        }
        assert!(detail.starts_with("the token"), "{what}: {detail}");
    }
}

/// The `field` of every error in a problem, in order.
fn fields(problem: &serde_json::Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn every_failing_field_is_reported_at_once_and_parameters_by_their_names() {
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    let body = json!({"name": "Bad", "idp_group": "", "description": 5, "extra": true,
        "permissions": ["users:read", "nope"]});
    let p = problem(call(&app, Some(&admin), "POST", "/api/v1/roles", Some(body)).await).await;
    assert_eq!(p["type"], "urn:keyward:problem:validation-failed");
    assert_eq!(
        fields(&p),
        [
            "extra",
            "name",
            "description",
            "idp_group",
            "permissions[1]"
        ],
        "{p}"
    );

    for (method, path, body) in [
        ("GET", "/api/v1/roles/not-a-uuid", None),
        (
            "PUT",
            "/api/v1/users/not-a-uuid/roles",
            Some(json!({"roles": []})),
        ),
    ] {
        let p = problem(call(&app, Some(&admin), method, path, body).await).await;
        assert_eq!(p["type"], "urn:keyward:problem:validation-failed", "{path}");
        assert_eq!(fields(&p), ["id"], "{path}: {p}");
        assert!(!p["detail"].as_str().unwrap().contains("param0"), "{p}");
    }
    let long = "x".repeat(321);
    let query = format!("/api/v1/users?page=0&per_page=0&active=maybe&email={long}");
    let p = problem(call(&app, Some(&admin), "GET", &query, None).await).await;
    assert_eq!(fields(&p), ["email", "active", "page", "per_page"], "{p}");
    let query = "/api/v1/audit-events?user_id=me&from=yesterday&per_page=20";
    let p = problem(call(&app, Some(&admin), "GET", query, None).await).await;
    assert_eq!(fields(&p), ["user_id", "from"], "{p}");
    assert_eq!(p["errors"][0]["message"], "must be a UUID", "{p}");
}
