//! Input no database can store: a NUL character in a query parameter or a body string is a 400 naming the
//! field on every database; NUL in text the provider sends is removed, so the audit event is still written.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, header, problem},
    idp::{Layout, browser, query_params},
    login::start_login,
    rbac::{call, json_of, with_admin},
};

/// Asserts a 400 `validation-failed` problem whose only error names `field`.
async fn assert_refused(resp: reqwest::Response, field: &str, what: &str) {
    assert_eq!(resp.status(), 400, "{what}");
    let body = problem(resp).await;
    assert_eq!(
        body["type"], "urn:keyward:problem:validation-failed",
        "{what}: {body}"
    );
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{what}: {body}");
    assert_eq!(errors[0]["field"], field, "{what}: {body}");
    assert!(
        errors[0]["message"].as_str().unwrap().contains("NUL"),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn nul_in_a_query_parameter_is_refused_naming_the_parameter() {
    let (app, _idp, token) = with_admin(Layout::Keycloak, &[]).await;
    for (path, field) in [
        ("/api/v1/users?email=%00", "email"),
        ("/api/v1/users?role=a%00", "role"),
        ("/api/v1/audit-events?type=%00", "type"),
    ] {
        let resp = call(&app, Some(&token), "GET", path, None).await;
        assert_refused(resp, field, path).await;
    }
    // Unauthenticated: a started login's browser, as an attacker could send it.
    let b = browser();
    start_login(&app, &b, "/after").await;
    let resp = b
        .get(app.url("/auth/callback?state=a%00b&code=x"))
        .send()
        .await
        .unwrap();
    assert_refused(resp, "state", "callback state").await;
}

#[tokio::test]
async fn nul_in_a_body_string_is_refused_naming_the_field() {
    let (app, _idp, token) = with_admin(Layout::Keycloak, &[]).await;
    let cases: [(&str, &str, Value, &str); 4] = [
        (
            "POST",
            "/api/v1/roles",
            json!({"name": "nul-desc", "description": "a\u{0}b"}),
            "description",
        ),
        (
            "POST",
            "/api/v1/roles",
            json!({"name": "nul-group", "idp_group": "g\u{0}"}),
            "idp_group",
        ),
        (
            "POST",
            "/api/v1/permissions",
            json!({"name": "nul:test", "description": "\u{0}"}),
            "description",
        ),
        (
            "PATCH",
            "",
            json!({"description": "a\u{0}b"}),
            "description",
        ),
    ];
    let created = json_of(
        call(
            &app,
            Some(&token),
            "POST",
            "/api/v1/roles",
            Some(json!({"name": "target"})),
        )
        .await,
        201,
    )
    .await;
    let role_path = format!("/api/v1/roles/{}", created["id"].as_str().unwrap());
    for (method, path, body, field) in cases {
        let path = if path.is_empty() { &role_path } else { path };
        let what = format!("{method} {path} {body}");
        let resp = call(&app, Some(&token), method, path, Some(body)).await;
        assert_refused(resp, field, &what).await;
    }
    let resp = call(
        &app,
        Some(&token),
        "PATCH",
        &role_path,
        Some(json!({"idp_group": "\u{0}"})),
    )
    .await;
    assert_refused(resp, "idp_group", "PATCH idp_group").await;
}

#[tokio::test]
async fn a_provider_error_description_with_nul_is_audited_without_it() {
    let (app, _idp, _token) = with_admin(Layout::Keycloak, &[]).await;
    let b = browser();
    let authorize = start_login(&app, &b, "/after").await;
    let state = query_params(&authorize)["state"].clone();
    let resp = b
        .get(app.url(&format!(
            "/auth/callback?state={state}&error=access_denied&error_description=a%00b"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert!(
        header(&resp, "location")
            .unwrap()
            .starts_with(&app.url("/after?error=access_denied")),
        "{:?}",
        header(&resp, "location")
    );
    let detail = failed_login_detail(&app).await;
    assert!(detail.contains("ab"), "{detail}");
    assert!(!detail.contains('\0'), "{detail:?}");
}

async fn failed_login_detail(app: &TestApp) -> String {
    let events = entity::audit_events::Entity::find()
        .filter(entity::audit_events::Column::Kind.eq("login"))
        .filter(entity::audit_events::Column::Outcome.eq("failure"))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    events[0].detail.clone().unwrap()
}

/// A provider whose subject (or a group) holds a NUL: login, its access token as Bearer and the sync all
/// work, on every database, and find the same single user row.
#[tokio::test]
async fn nul_in_a_provider_subject_logs_in_and_syncs_to_one_user() {
    let (app, idp, token) = with_admin(Layout::Keycloak, &[]).await;
    idp.upsert_user(json!({
        "sub": "nul\u{0}sub",
        "username": "nulsub",
        "password": "nulsub-pw",
        "email": "nulsub@example.com",
        "email_verified": true,
        "groups": ["g\u{0}"],
        "enabled": true
    }))
    .await;
    let b = browser();
    let resp = crate::login::login_as(&app, &b, "nulsub").await;
    assert_eq!(resp.status(), 302, "{:?}", resp.text().await);
    assert_eq!(header(&resp, "location"), Some(app.url("/after").as_str()));

    let tokens = idp.provider_tokens("nulsub", "nulsub-pw").await;
    let access = tokens["access_token"].as_str().unwrap();
    let me = json_of(
        call(&app, Some(access), "GET", "/api/v1/me", None).await,
        200,
    )
    .await;
    assert_eq!(me["email"], "nulsub@example.com", "{me}");

    let resp = call(&app, Some(&token), "POST", "/api/v1/sync/runs", None).await;
    assert_eq!(resp.status(), 202, "{:?}", resp.text().await);
    let location = header(&resp, "location").unwrap().to_owned();
    let run = loop {
        let run = json_of(call(&app, Some(&token), "GET", &location, None).await, 200).await;
        if run["status"] != "running" {
            break run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["failed_pages"].as_u64().unwrap_or(0), 0, "{run}");
    let users = json_of(
        call(
            &app,
            Some(&token),
            "GET",
            "/api/v1/users?email=nulsub",
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(users["total"], 1, "{users}");
    let stored = entity::users::Entity::find()
        .filter(entity::users::Column::Email.eq("nulsub@example.com"))
        .one(app.state.db.pool())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.subject, "nul\u{FFFD}sub");
}
