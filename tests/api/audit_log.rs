//! The audit log misses nothing privileged: refused attempts (folded per caller and operation within a minute,
//! so they cannot flood the table), bootstrap-admin grants, and every end of a session with actor, target and
//! reason.

use serde_json::Value;

use crate::{
    helpers::TestApp,
    idp::Layout,
    login::{api_token, cookie_get, cookie_post, logged_in},
    rbac::{call, json_of, token_for, user_id, with_admin},
};

/// The events of `kind`, newest first, as the audit API shows them.
async fn events(app: &TestApp, admin: &str, kind: &str) -> Vec<Value> {
    let path = format!("/api/v1/audit-events?type={kind}&per_page=200");
    let list = json_of(call(app, Some(admin), "GET", &path, None).await, 200).await;
    list["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn repeated_refusals_fold_into_one_event_per_caller_and_operation() {
    let (app, _idp, alice) = with_admin(Layout::Keycloak, &[]).await;
    let bob = token_for(&app, "bob").await;
    let bob_id = user_id(&app, &alice, "bob@example.com").await;
    // All at once: the folding must hold when the refusals race each other.
    let statuses = futures_util::future::join_all(
        (0..30).map(|_| call(&app, Some(&bob), "GET", "/api/v1/roles", None)),
    )
    .await;
    assert!(statuses.iter().all(|r| r.status() == 403));
    let other = call(&app, Some(&bob), "GET", "/api/v1/audit-events", None).await;
    assert_eq!(other.status(), 403);

    let refused = events(&app, &alice, "access.refused").await;
    let mine: Vec<&Value> = refused
        .iter()
        .filter(|e| e["user_id"] == bob_id.as_str())
        .collect();
    assert_eq!(mine.len(), 2, "{refused:?}");
    let roles = mine
        .iter()
        .find(|e| e["target"] == "GET /api/v1/roles")
        .unwrap();
    assert_eq!(roles["count"], 30, "{roles}");
    assert_eq!(roles["outcome"], "failure");
    assert!(
        roles["detail"].as_str().unwrap().contains("roles:read"),
        "{roles}"
    );
    assert!(roles["last_at"].as_str().unwrap() >= roles["occurred_at"].as_str().unwrap());
    let audit = mine
        .iter()
        .find(|e| e["target"] == "GET /api/v1/audit-events")
        .unwrap();
    assert_eq!(audit["count"], 1, "{audit}");
    assert!(
        audit["detail"].as_str().unwrap().contains("audit:read"),
        "{audit}"
    );
    // Everything else stands for one event.
    let logins = events(&app, &alice, "login").await;
    assert!(
        logins
            .iter()
            .all(|e| e["count"] == 1 && e["last_at"].is_null()),
        "{logins:?}"
    );
}

#[tokio::test]
async fn a_refusal_after_the_minute_starts_a_new_event() {
    let (app, _idp, alice) = with_admin(Layout::Authentik, &[]).await;
    let bob = token_for(&app, "bob").await;
    assert_eq!(
        call(&app, Some(&bob), "GET", "/api/v1/roles", None)
            .await
            .status(),
        403
    );
    // Age the open event past the window, as a minute's wait would.
    use entity::audit_events::{Column, Entity};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let past = chrono::Utc::now() - chrono::Duration::seconds(61);
    Entity::update_many()
        .col_expr(Column::OccurredAt, Expr::value(past))
        .filter(Column::Kind.eq("access.refused"))
        .exec(app.state.db.pool())
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            call(&app, Some(&bob), "GET", "/api/v1/roles", None)
                .await
                .status(),
            403
        );
    }
    let refused = events(&app, &alice, "access.refused").await;
    let counts: Vec<&Value> = refused.iter().map(|e| &e["count"]).collect();
    assert_eq!(counts, [2, 1], "newest first: {refused:?}");
}

#[tokio::test]
async fn a_bootstrap_admin_grant_is_recorded_once() {
    let (app, _idp, alice) = with_admin(Layout::Keycloak, &[]).await;
    logged_in(&app, "alice").await;
    let granted = events(&app, &alice, "role.bootstrap_granted").await;
    assert_eq!(granted.len(), 1, "{granted:?}");
    assert!(
        granted[0]["target"]
            .as_str()
            .unwrap()
            .contains("alice@example.com")
    );
    assert!(
        granted[0]["detail"]
            .as_str()
            .unwrap()
            .contains("KEYWARD_BOOTSTRAP_ADMINS")
    );
    assert!(granted[0]["user_id"].is_null(), "no user acted");
}

/// The public id of the browser's current session.
async fn current_session(app: &TestApp, b: &reqwest::Client) -> String {
    let list: Value = cookie_get(app, b, "/auth/sessions")
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    let current = items.iter().find(|s| s["current"] == true).unwrap();
    current["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_end_of_a_session_is_recorded_with_actor_target_and_reason() {
    let (app, _idp, alice) = with_admin(Layout::Keycloak, &[]).await;
    let alice_id = user_id(&app, &alice, "alice@example.com").await;

    let laptop = logged_in(&app, "bob").await;
    let laptop_id = current_session(&app, &laptop).await;
    assert_eq!(
        cookie_post(&app, &laptop, "/auth/logout").await.status(),
        200
    );
    let bob_id = user_id(&app, &alice, "bob@example.com").await;
    let logout = &events(&app, &alice, "logout").await[0];
    assert_eq!(logout["user_id"], bob_id.as_str());
    assert_eq!(logout["target"], format!("session {laptop_id}"));
    assert_eq!(logout["detail"], "signed out");

    let phone = logged_in(&app, "bob").await;
    let tablet = logged_in(&app, "bob").await;
    let tablet_id = current_session(&app, &tablet).await;
    let resp = phone
        .delete(app.url(&format!("/auth/sessions/{tablet_id}")))
        .header("X-CSRF", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let ended = &events(&app, &alice, "session.ended").await[0];
    assert_eq!(ended["user_id"], bob_id.as_str());
    assert_eq!(ended["target"], format!("session {tablet_id}"));
    assert_eq!(ended["detail"], "ended by its user");

    api_token(&app, &phone).await;
    let path = format!("/api/v1/users/{bob_id}/sessions");
    json_of(call(&app, Some(&alice), "DELETE", &path, None).await, 204).await;
    let by_admin = &events(&app, &alice, "user.sessions_ended").await[0];
    assert_eq!(by_admin["user_id"], alice_id.as_str());
    assert_eq!(by_admin["target"], "bob@example.com");
    assert_eq!(by_admin["detail"], "1 sessions ended by an admin");
}
