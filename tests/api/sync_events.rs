//! Provider events between full syncs: the test provider records Keycloak admin events and Authentik events for
//! changes made through its control endpoints, and Keyward applies them within `KEYWARD_SYNC_EVENTS_INTERVAL`.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::{
    helpers::{TestApp, spawn_sibling},
    idp::{BOB_SUB, Layout, TestIdp, ZOE_SUB},
    login::{api_token, bearer_get, cookie_get, logged_in},
    rbac::{call, json_of, with_admin},
};

/// Short enough for a test; the default is 60 s.
const INTERVAL: (&str, &str) = ("KEYWARD_SYNC_EVENTS_INTERVAL", "1s");
/// Generous: one interval, a poll, and a slow machine.
const BOUND: Duration = Duration::from_secs(15);

async fn events_app(layout: Layout, extra: &[(&str, &str)]) -> (TestApp, TestIdp, String) {
    let mut settings = vec![INTERVAL];
    if layout == Layout::Authentik {
        settings.push(("KEYWARD_IDP_ADMIN_TOKEN", "authentik-admin-token"));
    }
    settings.extend_from_slice(extra);
    let (app, idp, admin) = with_admin(layout, &settings).await;
    wait_for_cursor(&app).await;
    (app, idp, admin)
}

/// Waits until `done` holds, and says how long that took; fails past [`BOUND`].
async fn within<F, Fut>(what: &str, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if done().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < BOUND, "not within {BOUND:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn cursor(app: &TestApp) -> Option<entity::sync_event_cursors::Model> {
    entity::sync_event_cursors::Entity::find()
        .one(&app.state.db)
        .await
        .unwrap()
}

/// The first poll starts the cursor at "now": changes made before it are the full sync's.
async fn wait_for_cursor(app: &TestApp) {
    within("the first poll", || async { cursor(app).await.is_some() }).await;
}

async fn user(app: &TestApp, subject: &str) -> entity::users::Model {
    entity::users::Entity::find()
        .filter(entity::users::Column::Subject.eq(subject))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
}

async fn audit_details(app: &TestApp, kind: &str) -> Vec<String> {
    entity::audit_events::Entity::find()
        .filter(entity::audit_events::Column::Kind.eq(kind))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.detail)
        .collect()
}

/// Waits until an audit event of `kind` has a detail containing `needle`. The event follows the status change it
/// records (the change commits first), so a test that has seen the change may still be a moment early for it.
async fn audited(app: &TestApp, kind: &str, needle: &str) {
    within(
        &format!("a {kind} audit event saying {needle:?}"),
        || async {
            let details = audit_details(app, kind).await;
            details.iter().any(|d| d.contains(needle))
        },
    )
    .await;
}

async fn event_reads(idp: &TestIdp) -> u64 {
    idp.stats().await["event_reads"].as_u64().unwrap()
}

async fn full_sync(app: &TestApp, admin: &str) {
    let resp = call(app, Some(admin), "POST", "/api/v1/sync/runs", None).await;
    let run = json_of(resp, 202).await;
    let location = format!("/api/v1/sync/runs/{}", run["id"].as_str().unwrap());
    within("the full sync", || async {
        let run = json_of(call(app, Some(admin), "GET", &location, None).await, 200).await;
        run["status"] == "succeeded"
    })
    .await;
}

async fn a_user_disabled_at_the_provider_loses_token_and_session(layout: Layout) {
    let (app, idp, _admin) = events_app(layout, &[]).await;
    let bob = logged_in(&app, "bob").await;
    let token = api_token(&app, &bob).await;
    assert_eq!(bearer_get(&app, &token, "/api/v1/me").await.status(), 200);
    assert_eq!(cookie_get(&app, &bob, "/api/v1/me").await.status(), 200);

    idp.patch_user(BOB_SUB, json!({"enabled": false})).await;
    let delay = within("bob's token and session refused", || async {
        bearer_get(&app, &token, "/api/v1/me").await.status() == 401
            && cookie_get(&app, &bob, "/api/v1/me").await.status() == 401
    })
    .await;
    println!("{layout:?}: disabled at the provider → API call refused in {delay:?} (interval 1 s)");
    let bob_row = user(&app, BOB_SUB).await;
    assert!(!bob_row.active);
    assert_eq!(bob_row.deactivated_by.as_deref(), Some("provider"));
    audited(&app, "user.deactivated", "event: disabled at the provider").await;
}

#[tokio::test]
async fn keycloak_a_user_disabled_at_the_provider_loses_token_and_session_within_the_interval() {
    a_user_disabled_at_the_provider_loses_token_and_session(Layout::Keycloak).await;
}

#[tokio::test]
async fn authentik_a_user_disabled_at_the_provider_loses_token_and_session_within_the_interval() {
    a_user_disabled_at_the_provider_loses_token_and_session(Layout::Authentik).await;
}

async fn a_user_deleted_at_the_provider_is_deactivated(layout: Layout) {
    let (app, idp, admin) = events_app(layout, &[]).await;
    let _bob = logged_in(&app, "bob").await;
    // Authentik's events name users by `pk`, which only the sync learns.
    full_sync(&app, &admin).await;
    if layout == Layout::Authentik {
        assert!(user(&app, BOB_SUB).await.provider_pk.is_some());
    }
    idp.delete_user(BOB_SUB).await;
    within("bob deactivated", || async {
        !user(&app, BOB_SUB).await.active
    })
    .await;
    audited(&app, "user.deactivated", "deleted at the provider").await;
}

#[tokio::test]
async fn keycloak_a_user_deleted_at_the_provider_is_deactivated() {
    a_user_deleted_at_the_provider_is_deactivated(Layout::Keycloak).await;
}

#[tokio::test]
async fn authentik_a_user_deleted_at_the_provider_is_deactivated_through_the_stored_pk() {
    a_user_deleted_at_the_provider_is_deactivated(Layout::Authentik).await;
}

async fn a_user_enabled_again_at_the_provider_comes_back(layout: Layout) {
    let (app, idp, _admin) = events_app(layout, &[]).await;
    let _bob = logged_in(&app, "bob").await;
    idp.patch_user(BOB_SUB, json!({"enabled": false, "name": "Robert"}))
        .await;
    within("bob deactivated", || async {
        !user(&app, BOB_SUB).await.active
    })
    .await;
    idp.patch_user(BOB_SUB, json!({"enabled": true})).await;
    within("bob back", || async { user(&app, BOB_SUB).await.active }).await;
    let bob = logged_in(&app, "bob").await;
    assert_eq!(cookie_get(&app, &bob, "/api/v1/me").await.status(), 200);
    audited(&app, "user.activated", "enabled again").await;
}

#[tokio::test]
async fn keycloak_a_user_enabled_again_at_the_provider_comes_back() {
    a_user_enabled_again_at_the_provider_comes_back(Layout::Keycloak).await;
}

#[tokio::test]
async fn authentik_a_user_enabled_again_at_the_provider_comes_back() {
    a_user_enabled_again_at_the_provider_comes_back(Layout::Authentik).await;
}

#[tokio::test]
async fn an_event_is_applied_once_across_a_restart() {
    let (app, idp, admin) = events_app(Layout::Keycloak, &[]).await;
    let _bob = logged_in(&app, "bob").await;
    let _zoe = logged_in(&app, "zoe").await;
    idp.patch_user(BOB_SUB, json!({"enabled": false})).await;
    within("bob deactivated", || async {
        !user(&app, BOB_SUB).await.active
    })
    .await;
    // An admin lets bob back in; applying the old event again would lock him out.
    let bob_id = user(&app, BOB_SUB).await.id;
    let path = format!("/api/v1/users/{bob_id}");
    let resp = call(
        &app,
        Some(&admin),
        "PATCH",
        &path,
        Some(json!({"active": true})),
    )
    .await;
    json_of(resp, 200).await;
    // A new instance on the same database takes the poller over from the stored cursor.
    let restarted = spawn_sibling(&app, &[INTERVAL]).await;
    entity::job_leases::Entity::delete_by_id("user-sync-events")
        .exec(&app.state.db)
        .await
        .unwrap();
    idp.patch_user(ZOE_SUB, json!({"enabled": false})).await;
    within("zoe deactivated", || async {
        !user(&restarted, ZOE_SUB).await.active
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        user(&app, BOB_SUB).await.active,
        "bob's event was applied a second time"
    );
    assert_eq!(audit_details(&app, "user.deactivated").await.len(), 2);
}

#[tokio::test]
async fn two_instances_read_the_events_as_one() {
    let (app, idp, _admin) = events_app(Layout::Keycloak, &[]).await;
    let _sibling = spawn_sibling(&app, &[INTERVAL]).await;
    let _bob = logged_in(&app, "bob").await;
    let before = event_reads(&idp).await;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let reads = event_reads(&idp).await - before;
    let seconds = started.elapsed().as_secs();
    // One poller reads one page a second; two would read twice as many.
    assert!(reads >= 2, "nobody polled: {reads}");
    assert!(
        reads <= seconds + 2,
        "{reads} event reads in {seconds} s: more than one poller"
    );
    let leases = entity::job_leases::Entity::find()
        .filter(entity::job_leases::Column::Name.eq("user-sync-events"))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(leases.len(), 1);
}

#[tokio::test]
async fn without_admin_events_at_the_realm_a_warning_is_kept_and_the_schedule_alone_applies() {
    let (app, idp, admin) = events_app(Layout::Keycloak, &[]).await;
    let bob = logged_in(&app, "bob").await;
    idp.set_admin_events(false).await;
    within("the warning", || async {
        cursor(&app).await.and_then(|c| c.warning).is_some()
    })
    .await;
    let warning = cursor(&app).await.unwrap().warning.unwrap();
    assert!(warning.contains("admin events"), "{warning}");
    let schedule = json_of(
        call(&app, Some(&admin), "GET", "/api/v1/sync/schedule", None).await,
        200,
    )
    .await;
    assert_eq!(schedule["events_warning"], warning.as_str(), "{schedule}");
    let reads = event_reads(&idp).await;
    idp.patch_user(BOB_SUB, json!({"enabled": false})).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(user(&app, BOB_SUB).await.active, "no events were recorded");
    assert_eq!(event_reads(&idp).await, reads, "the log is not read");
    assert_eq!(cookie_get(&app, &bob, "/api/v1/me").await.status(), 200);
    // The full sync still applies it.
    full_sync(&app, &admin).await;
    assert!(!user(&app, BOB_SUB).await.active);
    idp.set_admin_events(true).await;
    within("the warning cleared", || async {
        cursor(&app).await.is_some_and(|c| c.warning.is_none())
    })
    .await;
}

#[tokio::test]
async fn an_interval_of_zero_reads_no_events() {
    let (app, idp, _admin) =
        with_admin(Layout::Keycloak, &[("KEYWARD_SYNC_EVENTS_INTERVAL", "0")]).await;
    let _bob = logged_in(&app, "bob").await;
    idp.patch_user(BOB_SUB, json!({"enabled": false})).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(cursor(&app).await.is_none());
    assert_eq!(event_reads(&idp).await, 0);
    assert!(user(&app, BOB_SUB).await.active);
}

#[tokio::test]
async fn the_full_sync_audits_its_deactivations_and_reactivations_with_the_run_as_actor() {
    let (app, idp, admin) =
        with_admin(Layout::Keycloak, &[("KEYWARD_SYNC_EVENTS_INTERVAL", "0")]).await;
    let _bob = logged_in(&app, "bob").await;
    idp.patch_user(BOB_SUB, json!({"enabled": false})).await;
    full_sync(&app, &admin).await;
    let details = audit_details(&app, "user.deactivated").await;
    assert_eq!(details.len(), 1, "{details:?}");
    assert!(
        details[0].starts_with("by sync run ") && details[0].contains("disabled or removed"),
        "{details:?}"
    );
    idp.patch_user(BOB_SUB, json!({"enabled": true})).await;
    full_sync(&app, &admin).await;
    let details = audit_details(&app, "user.activated").await;
    assert_eq!(details.len(), 1, "{details:?}");
    assert!(
        details[0].starts_with("by sync run ") && details[0].contains("enabled again"),
        "{details:?}"
    );
    // A run that changes nobody records nothing.
    full_sync(&app, &admin).await;
    assert_eq!(audit_details(&app, "user.deactivated").await.len(), 1);
    assert_eq!(audit_details(&app, "user.activated").await.len(), 1);
}

async fn roles_of_token(app: &TestApp, token: &str) -> Vec<String> {
    let resp = bearer_get(app, token, "/api/v1/me").await;
    let status = resp.status();
    let me: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{me}");
    serde_json::from_value(me["roles"].clone()).unwrap()
}

async fn a_group_left_at_the_provider_takes_its_mapped_role_away(layout: Layout) {
    // Polling `/me` for up to 15 s would spend the default request budget.
    let (app, idp, admin) = events_app(layout, &[("KEYWARD_RATE_LIMIT_PER_MINUTE", "0")]).await;
    let role = json!({"name": "staff", "idp_group": "staff"});
    json_of(
        call(&app, Some(&admin), "POST", "/api/v1/roles", Some(role)).await,
        201,
    )
    .await;
    idp.patch_user(BOB_SUB, json!({"groups": ["users", "staff"]}))
        .await;
    let bob = logged_in(&app, "bob").await;
    let token = api_token(&app, &bob).await;
    assert!(
        roles_of_token(&app, &token)
            .await
            .contains(&"staff".to_owned())
    );
    // Authentik's events name users by `pk`, which the full sync stores.
    full_sync(&app, &admin).await;

    idp.patch_user(BOB_SUB, json!({"groups": ["users"]})).await;
    let delay = within("the mapped role taken away", || async {
        !roles_of_token(&app, &token)
            .await
            .contains(&"staff".to_owned())
    })
    .await;
    println!(
        "{layout:?}: left the group at the provider → mapped role gone in {delay:?} (interval 1 s)"
    );
    let revoked = audit_details(&app, "user.role_revoked").await;
    assert!(
        revoked
            .iter()
            .any(|d| d.contains("role staff") && d.contains("provider event")),
        "{revoked:?}"
    );
    idp.patch_user(BOB_SUB, json!({"groups": ["users", "staff"]}))
        .await;
    within("the mapped role given back", || async {
        roles_of_token(&app, &token)
            .await
            .contains(&"staff".to_owned())
    })
    .await;
}

#[tokio::test]
async fn a_group_left_at_the_provider_takes_its_mapped_role_away_within_the_interval_on_keycloak() {
    a_group_left_at_the_provider_takes_its_mapped_role_away(Layout::Keycloak).await;
}

#[tokio::test]
async fn a_group_left_at_the_provider_takes_its_mapped_role_away_within_the_interval_on_authentik()
{
    a_group_left_at_the_provider_takes_its_mapped_role_away(Layout::Authentik).await;
}
