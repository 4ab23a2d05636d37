//! The user sync against the test provider's Keycloak and Authentik admin APIs: metadata, disabled and
//! removed users, failures, token expiry, one run at a time, the schedule, and a 1 000-user smoke run.

use std::time::{Duration, Instant};

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, header, problem, spawn_sibling},
    idp::{ALICE_SUB, BOB_SUB, Layout, NOEMAIL_SUB, TestIdp, ZOE_SUB},
    login::{api_token, assert_unauthorized, cookie_get, logged_in},
    rbac::{call, json_of, with_admin},
};

/// Settings a sync needs besides login: Authentik's API wants its static token.
pub(crate) fn sync_settings(layout: Layout) -> Vec<(&'static str, &'static str)> {
    match layout {
        Layout::Keycloak => vec![],
        Layout::Authentik => vec![("KEYWARD_IDP_ADMIN_TOKEN", "authentik-admin-token")],
    }
}

pub(crate) async fn admin_app(
    layout: Layout,
    extra: &[(&'static str, &'static str)],
    idp_env: &[(&str, &str)],
) -> (TestApp, TestIdp, String) {
    let mut settings = sync_settings(layout);
    settings.extend_from_slice(extra);
    if idp_env.is_empty() {
        with_admin(layout, &settings).await
    } else {
        let mut all = vec![("KEYWARD_BOOTSTRAP_ADMINS", "alice@example.com")];
        all.extend_from_slice(&settings);
        let (app, idp) = crate::helpers::spawn_app_with_idp(layout, &all, idp_env).await;
        let alice = logged_in(&app, "alice").await;
        let token = api_token(&app, &alice).await;
        (app, idp, token)
    }
}

/// Starts a run and waits for it to end.
pub(crate) async fn sync(app: &TestApp, admin: &str) -> Value {
    let resp = call(app, Some(admin), "POST", "/api/v1/sync/runs", None).await;
    assert_eq!(resp.status(), 202, "{:?}", resp.text().await);
    let location = header(&resp, "location").unwrap().to_owned();
    let run: Value = resp.json().await.unwrap();
    assert_eq!(run["status"], "running");
    assert_eq!(run["trigger"], "manual");
    wait_for(app, admin, &location).await
}

pub(crate) async fn wait_for(app: &TestApp, admin: &str, location: &str) -> Value {
    let started = Instant::now();
    loop {
        let run = json_of(call(app, Some(admin), "GET", location, None).await, 200).await;
        if run["status"] != "running" {
            return run;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "sync still running: {run}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn user(app: &TestApp, subject: &str) -> entity::users::Model {
    entity::users::Entity::find()
        .filter(entity::users::Column::Subject.eq(subject))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
}

/// A local user the provider does not list, as a first login (or a Bearer token) would leave it.
async fn insert_user(app: &TestApp, subject: &str, name: &str) {
    let issuer = user(app, ALICE_SUB).await.issuer;
    let now = chrono::Utc::now();
    entity::users::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        issuer: Set(issuer),
        subject: Set(subject.into()),
        email: Set(None),
        email_verified: Set(false),
        display_name: Set(Some(name.into())),
        username: Set(None),
        avatar_url: Set(None),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(Some(now)),
        last_synced_at: Set(None),
        deactivated_by: Set(None),
        provider_pk: Set(None),
    }
    .insert(&app.state.db)
    .await
    .unwrap();
}

async fn start(app: &TestApp, admin: &str) -> String {
    let resp = call(app, Some(admin), "POST", "/api/v1/sync/runs", None).await;
    assert_eq!(resp.status(), 202, "{:?}", resp.text().await);
    header(&resp, "location").unwrap().to_owned()
}

#[tokio::test]
async fn a_sync_follows_the_provider_metadata_disabled_and_removed_users() {
    for layout in Layout::BOTH {
        let (app, idp, admin) = admin_app(layout, &[], &[]).await;
        let bob = logged_in(&app, "bob").await;
        let bob_token = api_token(&app, &bob).await;
        let _zoe = logged_in(&app, "zoe").await;
        let noemail = logged_in(&app, "noemail").await;

        let zoe_before = user(&app, ZOE_SUB).await;
        idp.patch_user(
            ZOE_SUB,
            json!({"name": "Zoë Renamed", "given_name": "Zoë", "family_name": "Renamed",
            "email": "zoe.renamed@example.com"}),
        )
        .await;
        idp.patch_user(BOB_SUB, json!({"enabled": false})).await;
        idp.delete_user(NOEMAIL_SUB).await;

        let run = sync(&app, &admin).await;
        assert_eq!(run["status"], "succeeded", "{layout:?}: {run}");
        assert!(run["pages"].as_i64().unwrap() >= 1);
        assert!(run["seen"].as_i64().unwrap() >= 4, "{run}");
        assert_eq!(run["updated"], 1, "{layout:?}: only zoe changed: {run}");
        assert_eq!(
            run["deactivated"], 2,
            "{layout:?}: bob (disabled) and noemail (removed): {run}"
        );
        assert_eq!(run["created"], 0);
        assert!(run["finished_at"].is_string());

        let zoe = user(&app, ZOE_SUB).await;
        assert_eq!(zoe.display_name.as_deref(), Some("Zoë Renamed"));
        assert_eq!(zoe.email.as_deref(), Some("zoe.renamed@example.com"));
        assert!(zoe.active);
        // Only the metadata changed: same row, same id, creation and login times.
        assert_eq!(
            (zoe.id, zoe.created_at, zoe.last_login_at),
            (
                zoe_before.id,
                zoe_before.created_at,
                zoe_before.last_login_at
            )
        );
        assert!(zoe.last_synced_at.is_some());
        assert!(!user(&app, BOB_SUB).await.active);
        assert!(!user(&app, NOEMAIL_SUB).await.active);
        assert!(user(&app, ALICE_SUB).await.active);
        // They lose their sessions and API access at once.
        assert_unauthorized(cookie_get(&app, &bob, "/api/v1/me").await, "bob's session").await;
        assert_unauthorized(
            call(&app, Some(&bob_token), "GET", "/api/v1/me", None).await,
            "bob's token",
        )
        .await;
        assert_unauthorized(
            cookie_get(&app, &noemail, "/api/v1/me").await,
            "noemail's session",
        )
        .await;
        // Roles are never touched.
        let me = json_of(
            call(&app, Some(&admin), "GET", "/api/v1/me", None).await,
            200,
        )
        .await;
        assert!(me["roles"].as_array().unwrap().contains(&json!("admin")));

        // Nothing changed since: the second run writes nothing.
        let again = sync(&app, &admin).await;
        assert_eq!(
            (again["updated"].as_i64(), again["deactivated"].as_i64()),
            (Some(0), Some(0)),
            "{again}"
        );

        // Enabled again (and renamed) at the provider: the sync brings back whom it took out, counted once. His
        // old API token died with the session deactivation ended; a new login works at once (no stale cached
        // state).
        idp.patch_user(BOB_SUB, json!({"enabled": true, "name": "Bob Back", "given_name": "Bob", "family_name": "Back"}))
            .await;
        let back = sync(&app, &admin).await;
        assert_eq!(back["updated"], 1, "{layout:?}: {back}");
        assert!(user(&app, BOB_SUB).await.active);
        assert_unauthorized(
            call(&app, Some(&bob_token), "GET", "/api/v1/me", None).await,
            "bob's old token",
        )
        .await;
        let bob_again = logged_in(&app, "bob").await;
        let me = json_of(
            call(
                &app,
                Some(&api_token(&app, &bob_again).await),
                "GET",
                "/api/v1/me",
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(me["display_name"], "Bob Back", "{layout:?}: {me}");

        let runs = json_of(
            call(&app, Some(&admin), "GET", "/api/v1/sync/runs", None).await,
            200,
        )
        .await;
        assert_eq!(runs["total"], 3);
        assert_eq!(runs["items"][0]["id"], back["id"], "newest first");
        let metrics = app.get("/metrics").await.text().await.unwrap();
        assert!(
            metrics.contains("keyward_sync_runs_total{status=\"succeeded\"} 3"),
            "{layout:?}"
        );
        assert!(metrics.contains("keyward_sync_users_total{change=\"deactivated\"} 2"));
    }
}

#[tokio::test]
async fn a_user_deactivated_by_an_admin_stays_inactive() {
    let (app, _idp, admin) = admin_app(Layout::Keycloak, &[], &[]).await;
    let _bob = logged_in(&app, "bob").await;
    let bob_id = crate::rbac::user_id(&app, &admin, "bob@example.com").await;
    json_of(
        call(
            &app,
            Some(&admin),
            "PATCH",
            &format!("/api/v1/users/{bob_id}"),
            Some(json!({"active": false})),
        )
        .await,
        200,
    )
    .await;
    let run = sync(&app, &admin).await;
    assert_eq!(run["status"], "succeeded");
    assert!(!user(&app, BOB_SUB).await.active);
}

#[tokio::test]
async fn a_failure_mid_listing_deactivates_nobody_and_is_recorded() {
    for layout in Layout::BOTH {
        let (app, idp, admin) = admin_app(layout, &[("KEYWARD_SYNC_PAGE_SIZE", "2")], &[]).await;
        let _bob = logged_in(&app, "bob").await;
        idp.patch_user(BOB_SUB, json!({"enabled": false})).await;
        idp.patch_user(ZOE_SUB, json!({"name": "Zoë On Page Two"}))
            .await;
        // The second page fails more often than the sync retries (3 tries).
        idp.set_faults(json!({"fail_page": 1, "fail_count": 10, "status": 500}))
            .await;
        let run = sync(&app, &admin).await;
        assert_eq!(run["status"], "failed", "{layout:?}: {run}");
        assert!(run["error"].as_str().unwrap().contains("500"), "{run}");
        assert_eq!(run["pages"], 1, "the first page was committed");
        assert_eq!(run["deactivated"], 0);
        assert!(
            user(&app, BOB_SUB).await.active,
            "{layout:?}: nobody deactivated by a partial listing"
        );
        let stats = idp.stats().await;
        assert_eq!(stats["admin_faults_injected"], 3, "three tries: {stats}");

        // Once the provider recovers, the next run completes the job.
        idp.set_faults(json!({"fail_page": null, "fail_count": null}))
            .await;
        let run = sync(&app, &admin).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert!(!user(&app, BOB_SUB).await.active);
        let metrics = app.get("/metrics").await.text().await.unwrap();
        assert!(metrics.contains("keyward_sync_runs_total{status=\"failed\"} 1"));
    }
}

#[tokio::test]
async fn an_expired_admin_token_is_fetched_again_once_for_all_pages_in_flight() {
    let (app, idp, admin) =
        admin_app(Layout::Keycloak, &[("KEYWARD_SYNC_PAGE_SIZE", "1")], &[]).await;
    // 12 people, a page each, 4 pages in flight at once: rounds of 4 requests at 0, 1.5 and 3 s.
    for n in 1..=7 {
        idp.upsert_user(json!({
            "sub": format!("7a000000-0000-4000-8000-{n:012}"),
            "username": format!("extra{n}"),
            "email": format!("extra{n}@example.com"),
        }))
        .await;
    }
    // Each admin token serves 4 requests, then is refused; pages and refusals take 500 ms each, so every request
    // sent before the first refusal comes back carries the used-up token: refusals come several at a time.
    idp.set_faults(json!({"admin_token_uses": 4, "slow_ms": 500}))
        .await;
    idp.reset_stats().await;
    let run = sync(&app, &admin).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["seen"], 12, "{run}");
    let stats = idp.stats().await;
    let refusals = stats["admin_unauthorized"].as_u64().unwrap();
    let refused_tokens = stats["admin_tokens_refused"].as_u64().unwrap();
    let fetched = stats["token_requests"]["by_grant"]["client_credentials"]
        .as_u64()
        .unwrap();
    assert!(refused_tokens >= 2 && refusals > refused_tokens, "{stats}");
    // Each refused token is replaced once, not once per request it refused.
    assert_eq!(fetched, refused_tokens + 1, "{stats}");
}

#[tokio::test]
async fn only_one_run_at_a_time() {
    let (app, idp, admin) =
        admin_app(Layout::Authentik, &[("KEYWARD_SYNC_PAGE_SIZE", "2")], &[]).await;
    idp.set_faults(json!({"slow_ms": 800})).await;
    let resp = call(&app, Some(&admin), "POST", "/api/v1/sync/runs", None).await;
    assert_eq!(resp.status(), 202);
    let location = header(&resp, "location").unwrap().to_owned();
    let second = call(&app, Some(&admin), "POST", "/api/v1/sync/runs", None).await;
    let p = problem(second).await;
    assert_eq!(p["status"], 409);
    assert!(p["detail"].as_str().unwrap().contains("already running"));
    // Another instance on the same database is refused too.
    let mut settings: Vec<(String, String)> = idp.keyward_settings();
    settings.push((
        "KEYWARD_IDP_ADMIN_TOKEN".into(),
        "authentik-admin-token".into(),
    ));
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let other = spawn_sibling(&app, &pairs).await;
    assert_eq!(
        call(&other, Some(&admin), "POST", "/api/v1/sync/runs", None)
            .await
            .status(),
        409
    );
    let run = wait_for(&app, &admin, &location).await;
    assert_eq!(run["status"], "succeeded");
    // Free again.
    idp.set_faults(json!({"slow_ms": null})).await;
    assert_eq!(sync(&other, &admin).await["status"], "succeeded");
}

#[tokio::test]
async fn two_instances_firing_at_the_same_second_run_one_sync() {
    let every_two_seconds = ("KEYWARD_SYNC_SCHEDULE", "*/2 * * * * *");
    let (app, idp, admin) = admin_app(Layout::Keycloak, &[every_two_seconds], &[]).await;
    let mut settings = idp.keyward_settings();
    settings.push((every_two_seconds.0.into(), every_two_seconds.1.into()));
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let _other = spawn_sibling(&app, &pairs).await;
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let runs = json_of(
        call(
            &app,
            Some(&admin),
            "GET",
            "/api/v1/sync/runs?per_page=200",
            None,
        )
        .await,
        200,
    )
    .await;
    let items = runs["items"].as_array().unwrap();
    let scheduled: Vec<&Value> = items
        .iter()
        .filter(|r| r["trigger"] == "schedule")
        .collect();
    assert!(scheduled.len() >= 2, "{runs}");
    let mut firings: Vec<&str> = scheduled
        .iter()
        .map(|r| r["scheduled_for"].as_str().unwrap())
        .collect();
    let n = firings.len();
    firings.sort();
    firings.dedup();
    assert_eq!(firings.len(), n, "one run per firing, never two: {runs}");
    for r in &scheduled {
        let started =
            chrono::DateTime::parse_from_rfc3339(r["started_at"].as_str().unwrap()).unwrap();
        let firing =
            chrono::DateTime::parse_from_rfc3339(r["scheduled_for"].as_str().unwrap()).unwrap();
        assert!(
            started >= firing && started - firing < chrono::Duration::seconds(2),
            "{r}"
        );
    }
    assert!(scheduled.iter().all(|r| r["status"] != "failed"), "{runs}");
}

#[tokio::test]
async fn the_schedule_is_read_in_its_time_zone() {
    let (app, _idp, admin) = admin_app(
        Layout::Keycloak,
        &[("KEYWARD_SYNC_TIMEZONE", "Europe/Berlin")],
        &[],
    )
    .await;
    let s = json_of(
        call(&app, Some(&admin), "GET", "/api/v1/sync/schedule", None).await,
        200,
    )
    .await;
    assert_eq!(s["cron"], "0 0 3 * * *");
    assert_eq!(s["timezone"], "Europe/Berlin");
    assert_eq!(s["enabled"], true);
    assert_eq!(s["provider"], "keycloak");
    let next = chrono::DateTime::parse_from_rfc3339(s["next_run_at"].as_str().unwrap()).unwrap();
    let local = next.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(local.format("%H:%M:%S").to_string(), "03:00:00");

    let (off, _idp, admin) =
        admin_app(Layout::Keycloak, &[("KEYWARD_SYNC_ENABLED", "false")], &[]).await;
    let s = json_of(
        call(&off, Some(&admin), "GET", "/api/v1/sync/schedule", None).await,
        200,
    )
    .await;
    assert_eq!(s["next_run_at"], Value::Null);
    assert_eq!(
        sync(&off, &admin).await["status"],
        "succeeded",
        "manual runs work with the schedule off"
    );
}

#[tokio::test]
async fn a_generic_provider_has_no_directory_to_sync() {
    let (app, _idp, admin) = admin_app(
        Layout::Keycloak,
        &[("KEYWARD_OIDC_PROVIDER", "generic")],
        &[],
    )
    .await;
    let resp = call(&app, Some(&admin), "POST", "/api/v1/sync/runs", None).await;
    let p = problem(resp).await;
    assert_eq!(p["status"], 409);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("no directory provider")
    );
    let s = json_of(
        call(&app, Some(&admin), "GET", "/api/v1/sync/schedule", None).await,
        200,
    )
    .await;
    assert_eq!(s["provider"], Value::Null);
    let bob = crate::rbac::token_for(&app, "bob").await;
    assert_eq!(
        call(&app, Some(&bob), "POST", "/api/v1/sync/runs", None)
            .await
            .status(),
        403
    );
    assert_eq!(
        call(&app, Some(&bob), "GET", "/api/v1/sync/runs", None)
            .await
            .status(),
        403
    );
}

/// A provider listing 1 000 generated people besides its fixtures, synced in pages of 1 000 that create users.
async fn thousand_users(layout: Layout) -> (TestApp, TestIdp, String) {
    admin_app(
        layout,
        &[
            ("KEYWARD_SYNC_CREATE_USERS", "true"),
            ("KEYWARD_SYNC_PAGE_SIZE", "1000"),
        ],
        &[("IDP_GENERATED_USERS", "1000")],
    )
    .await
}

/// The smoke test CI runs: 1 000 generated users, created locally, then an unchanged second run. Pages of the
/// largest size, so the largest statement the sync writes (a page's users, 14 000 parameters) runs on both
/// databases.
#[tokio::test]
async fn a_thousand_users_sync_and_an_unchanged_rerun_writes_nothing() {
    for layout in Layout::BOTH {
        let (app, idp, admin) = thousand_users(layout).await;
        let first = sync(&app, &admin).await;
        assert_eq!(first["status"], "succeeded", "{first}");
        assert_eq!(
            first["seen"], 1005,
            "{layout:?}: 5 fixture people + 1000 generated: {first}"
        );
        assert_eq!(first["created"], 1004, "alice existed already: {first}");
        let users = json_of(
            call(
                &app,
                Some(&admin),
                "GET",
                "/api/v1/users?email=user000777",
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(users["total"], 1);
        assert_eq!(
            users["items"][0]["roles"],
            json!([]),
            "created users get no roles until they log in"
        );
        let second = sync(&app, &admin).await;
        assert_eq!(
            (
                second["created"].as_i64(),
                second["updated"].as_i64(),
                second["deactivated"].as_i64()
            ),
            (Some(0), Some(0), Some(0)),
            "{layout:?}: nothing changed: {second}"
        );
        let disabled = json_of(
            call(
                &app,
                Some(&admin),
                "GET",
                "/api/v1/users?active=false",
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(
            disabled["total"], 1,
            "the provider's disabled user was created inactive"
        );

        // One change of each kind among a thousand unchanged users: the run finds exactly those.
        let generated = |n: u32| format!("00000000-0000-4000-8000-{n:012}");
        idp.patch_user(&generated(777), json!({"email": "renamed777@example.com"}))
            .await;
        idp.patch_user(&generated(778), json!({"enabled": false}))
            .await;
        idp.delete_user(&generated(779)).await;
        let third = sync(&app, &admin).await;
        assert_eq!(
            (
                third["status"].as_str(),
                third["updated"].as_i64(),
                third["deactivated"].as_i64()
            ),
            (Some("succeeded"), Some(1), Some(2)),
            "{layout:?}: {third}"
        );
        let renamed = json_of(
            call(
                &app,
                Some(&admin),
                "GET",
                "/api/v1/users?email=renamed777",
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(renamed["total"], 1, "{renamed}");
    }
}

/// `n` local users of the provider's issuer whom an admin deactivated: the run reads them, nothing else
/// touches them.
async fn insert_deactivated_users(app: &TestApp, n: usize) {
    let issuer = user(app, ALICE_SUB).await.issuer;
    let now = chrono::Utc::now();
    let all: Vec<usize> = (0..n).collect();
    // 15 columns: 2 000 rows stay below SQLite's 32 766 parameters a statement.
    for chunk in all.chunks(2000) {
        let rows = chunk.iter().map(|i| entity::users::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            issuer: Set(issuer.clone()),
            subject: Set(format!("left-{i:06}")),
            email: Set(Some(format!("left-{i:06}@example.com"))),
            email_verified: Set(true),
            display_name: Set(Some(format!("Left {i}"))),
            username: Set(Some(format!("left-{i:06}"))),
            avatar_url: Set(None),
            active: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
            last_login_at: Set(None),
            last_synced_at: Set(None),
            deactivated_by: Set(Some(keyward::users::BY_ADMIN.into())),
            provider_pk: Set(None),
        });
        entity::users::Entity::insert_many(rows)
            .exec(&app.state.db)
            .await
            .unwrap();
    }
}

/// A run, and how often the provider was asked for the listing's first page during it (Keycloak's listing of
/// service accounts asks once more). Pages further on may be asked ahead, by timing.
async fn first_page_requests(app: &TestApp, idp: &TestIdp, admin: &str) -> (Value, u64) {
    idp.reset_stats().await;
    let run = sync(app, admin).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let stats = idp.stats().await;
    (run, stats["admin_list_pages"]["0"].as_u64().unwrap())
}

/// While a large table is read, the listing does not wait: its pages are kept as digests, and the users they
/// add or change are listed a second time for their metadata. An unchanged directory is listed once.
#[tokio::test]
async fn users_listed_while_the_local_users_are_read_are_listed_again_only_if_they_changed() {
    const LEFT: usize = 200_000;
    for layout in Layout::BOTH {
        let (app, idp, admin) = thousand_users(layout).await;
        // Reading 200 000 rows takes far longer than listing two pages: the listing ends during the read.
        insert_deactivated_users(&app, LEFT).await;

        let (first, first_requests) = first_page_requests(&app, &idp, &admin).await;
        assert_eq!(first["seen"], 1005, "{layout:?}: {first}");
        assert_eq!(first["created"], 1004, "{layout:?}: all but alice: {first}");
        assert_eq!(first["deactivated"], 0, "{layout:?}: {first}");
        let zoe = user(&app, ZOE_SUB).await;
        assert!(zoe.active && zoe.display_name.is_some(), "{zoe:?}");

        let (second, second_requests) = first_page_requests(&app, &idp, &admin).await;
        assert_eq!(
            (
                &second["created"],
                &second["updated"],
                &second["deactivated"]
            ),
            (&json!(0), &json!(0), &json!(0)),
            "{layout:?}: {second}"
        );
        assert!(
            first_requests > second_requests,
            "{layout:?}: the new users were listed again (first page asked {first_requests} times), \
             an unchanged directory once ({second_requests})"
        );

        idp.patch_user(
            ZOE_SUB,
            json!({"name": "Zoë Again", "given_name": "Zoë", "family_name": "Again"}),
        )
        .await;
        idp.patch_user(BOB_SUB, json!({"enabled": false})).await;
        let (third, third_requests) = first_page_requests(&app, &idp, &admin).await;
        assert_eq!(third["updated"], 1, "{layout:?}: {third}");
        assert_eq!(third["deactivated"], 1, "{layout:?}: {third}");
        assert!(third_requests > second_requests, "{layout:?}");
        assert_eq!(
            user(&app, ZOE_SUB).await.display_name.as_deref(),
            Some("Zoë Again")
        );
        assert!(!user(&app, BOB_SUB).await.active);
        let left = entity::users::Entity::find()
            .filter(entity::users::Column::Active.eq(false))
            .filter(entity::users::Column::Subject.starts_with("left-"))
            .count(&app.state.db)
            .await
            .unwrap();
        assert_eq!(
            left, LEFT as u64,
            "users the provider does not list stay as they were"
        );
    }
}

/// A sync run holds connections of its own (a streaming read, page writes); beside a full request load on a
/// healthy database, with the default pool and timeouts, no request waits into a 503.
#[tokio::test]
async fn a_sync_run_beside_a_request_load_starves_no_request() {
    let (app, _idp, admin) = admin_app(
        Layout::Keycloak,
        &[
            ("KEYWARD_SYNC_CREATE_USERS", "true"),
            ("KEYWARD_RATE_LIMIT_PER_MINUTE", "0"),
        ],
        &[("IDP_GENERATED_USERS", "3000")],
    )
    .await;
    let location = start(&app, &admin).await;
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let clients = (0..24).map(|c| {
        let (app_client, admin, running) = (app.client.clone(), admin.clone(), running.clone());
        let (read, write) = (
            app.url("/api/v1/users?per_page=50"),
            app.url("/api/v1/roles"),
        );
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut i = 0;
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                // One client in six writes: SQLite's writers queue behind the run's page transactions.
                let req = if c % 6 == 0 {
                    let body = json!({"name": format!("beside-{c}-{i}")});
                    app_client.post(&write).json(&body)
                } else {
                    app_client.get(&read)
                };
                let resp = req.bearer_auth(&admin).send().await.unwrap();
                statuses.push(resp.status().as_u16());
                i += 1;
            }
            statuses
        })
    });
    let clients: Vec<_> = clients.collect();
    let run = wait_for(&app, &admin, &location).await;
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut statuses = Vec::new();
    for c in clients {
        statuses.extend(c.await.unwrap());
    }
    assert_eq!(run["status"], "succeeded", "{run}");
    let refused = statuses.iter().filter(|s| !matches!(s, 200 | 201)).count();
    println!(
        "sync of {} users beside {} requests: {refused} not answered 200/201",
        run["seen"],
        statuses.len()
    );
    assert_eq!(
        refused,
        0,
        "{:?}",
        statuses.iter().filter(|s| **s >= 300).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_cli_runs_a_sync_and_reports_status() {
    let (app, idp, _admin) = admin_app(Layout::Keycloak, &[], &[]).await;
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
        cmd.args(args)
            .env("DATABASE_URL", app.db_url())
            .env("RUST_LOG", "error")
            .current_dir(std::env::temp_dir());
        for (k, v) in idp.keyward_settings() {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&["sync", "run"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("succeeded (manual)") && out.contains("seen 5"),
        "{out}"
    );
    let (ok, out, err) = run(&["sync", "status"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("provider: keycloak")
            && out.contains("0 0 3 * * * (UTC), enabled")
            && out.contains("runs: 1"),
        "{out}"
    );
    let mut stopped = idp;
    stopped.stop().await;
    let (ok, _, err) = {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
        cmd.args(["sync", "run"])
            .env("DATABASE_URL", app.db_url())
            .env("RUST_LOG", "error")
            .current_dir(std::env::temp_dir());
        for (k, v) in stopped.keyward_settings() {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::new(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(
        !ok && err.contains("failed"),
        "a failed run exits non-zero: {err}"
    );
}

#[tokio::test]
async fn a_user_whose_first_login_comes_during_the_listing_is_not_missing() {
    let (app, idp, admin) =
        admin_app(Layout::Keycloak, &[("KEYWARD_SYNC_PAGE_SIZE", "1")], &[]).await;
    idp.set_faults(json!({"slow_ms": 300})).await;
    let location = start(&app, &admin).await;
    // The provider added them after the listing passed their place; their first login lands mid-run.
    insert_user(&app, "added-during-the-run", "Newcomer").await;
    let run = wait_for(&app, &admin, &location).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["deactivated"], 0, "{run}");
    assert!(user(&app, "added-during-the-run").await.active);
}

#[tokio::test]
async fn a_service_account_known_locally_is_neither_missing_nor_updated() {
    // The test provider's Authentik lists this service account (type `service_account`).
    const OUTPOST_SUB: &str = "e5f7a9b1-3c4d-4e6f-8a2b-c3d4e5f6a706";
    let (app, _idp, admin) = admin_app(Layout::Authentik, &[], &[]).await;
    insert_user(&app, OUTPOST_SUB, "Outpost (from its token)").await;
    let run = sync(&app, &admin).await;
    assert_service_account_left_alone(&app, &run, OUTPOST_SUB, "Outpost (from its token)").await;
}

/// A run that succeeded, deactivated nobody, and left the local row of a service account as it was.
async fn assert_service_account_left_alone(app: &TestApp, run: &Value, sub: &str, name: &str) {
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["deactivated"], 0, "{run}");
    let account = user(app, sub).await;
    assert!(account.active);
    assert_eq!(account.display_name.as_deref(), Some(name));
}

#[tokio::test]
async fn a_keycloak_service_account_known_locally_is_not_missing() {
    // Keycloak's plain listing leaves service accounts out; their tokens still work as Bearer tokens.
    const REPORTS_SUB: &str = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
    let (app, idp, admin) =
        admin_app(Layout::Keycloak, &[("KEYWARD_SYNC_PAGE_SIZE", "2")], &[]).await;
    idp.upsert_user(json!({
        "sub": REPORTS_SUB,
        "username": "service-account-reports",
        "email_verified": false,
        "groups": [],
        "roles": [],
        "type": "service_account",
        "enabled": true
    }))
    .await;
    insert_user(&app, REPORTS_SUB, "reports (from its token)").await;
    let run = sync(&app, &admin).await;
    assert_service_account_left_alone(&app, &run, REPORTS_SUB, "reports (from its token)").await;
    assert_eq!(run["seen"], 5, "people only: {run}");
    assert_eq!(run["pages"], 3, "pages of people only: {run}");
}

#[tokio::test]
async fn a_run_that_loses_its_lease_fails_and_deactivates_nobody() {
    let (app, idp, admin) =
        admin_app(Layout::Keycloak, &[("KEYWARD_SYNC_PAGE_SIZE", "1")], &[]).await;
    let _bob = logged_in(&app, "bob").await;
    idp.patch_user(BOB_SUB, json!({"enabled": false})).await;
    idp.set_faults(json!({"slow_ms": 1200})).await;
    let location = start(&app, &admin).await;
    // Another instance takes the lease over, as if this one had stopped renewing it.
    entity::job_leases::Entity::update_many()
        .col_expr(
            entity::job_leases::Column::Holder,
            sea_orm::sea_query::Expr::value("another-instance"),
        )
        .exec(&app.state.db)
        .await
        .unwrap();
    let run = wait_for(&app, &admin, &location).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("lost the sync lease"),
        "{run}"
    );
    assert_eq!(run["deactivated"], 0);
    assert!(user(&app, BOB_SUB).await.active);
}

#[tokio::test]
async fn users_deleted_while_authentik_pages_are_in_flight_deactivate_nobody() {
    let (app, idp, admin) =
        admin_app(Layout::Authentik, &[("KEYWARD_SYNC_PAGE_SIZE", "2")], &[]).await;
    let _noemail = logged_in(&app, "noemail").await;
    idp.set_faults(json!({"slow_ms": 400})).await;
    idp.reset_stats().await;
    let location = start(&app, &admin).await;
    // 6 users, 3 pages. Page 1 (alice, bob) is read alone; it says there are 3, so pages 2 and 3 go out
    // together. While they are out, bob and zoe are deleted: page 2 then starts two places later and holds
    // the last two, noemail (fourth) is never listed, and page 3 no longer exists.
    until_asked_for_page(&idp, 2).await;
    idp.delete_user(BOB_SUB).await;
    idp.delete_user(ZOE_SUB).await;
    // The page past the end is dropped, and the count catches the shift.
    assert_stopped_by_the_count(
        &app,
        &idp,
        &admin,
        &location,
        "counted 5 users but listed 3",
        NOEMAIL_SUB,
    )
    .await;
}

/// Waits until the provider has been asked for page `index` (from 0) of the listing.
async fn until_asked_for_page(idp: &TestIdp, index: usize) {
    let asked = Instant::now();
    while idp.stats().await["admin_list_pages"][index.to_string()]
        .as_u64()
        .unwrap_or(0)
        == 0
    {
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "page {index} never asked for"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The run at `location` failed on the provider's count (`message`) and deactivated nobody, so the skipped user
/// `sub` is still active; the next run, with the provider quick again, lists everyone left and succeeds.
async fn assert_stopped_by_the_count(
    app: &TestApp,
    idp: &TestIdp,
    admin: &str,
    location: &str,
    message: &str,
    sub: &str,
) {
    let run = wait_for(app, admin, location).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["error"].as_str().unwrap().contains(message), "{run}");
    assert_eq!(run["deactivated"], 0);
    assert!(user(app, sub).await.active, "{sub} was skipped, not gone");

    idp.set_faults(json!({"slow_ms": null})).await;
    let run = sync(app, admin).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(user(app, sub).await.active);
}

#[tokio::test]
async fn a_listing_shorter_than_the_providers_count_deactivates_nobody() {
    // One page at a time, so that the deletion lands exactly between two pages.
    let (app, idp, admin) = admin_app(
        Layout::Keycloak,
        &[
            ("KEYWARD_SYNC_PAGE_SIZE", "2"),
            ("KEYWARD_SYNC_CONCURRENCY", "1"),
        ],
        &[],
    )
    .await;
    let _zoe = logged_in(&app, "zoe").await;
    idp.set_faults(json!({"slow_ms": 400})).await;
    idp.reset_stats().await;
    let location = start(&app, &admin).await;
    // Once the first page (alice, bob) is out and the second is asked for, bob is deleted: the second page
    // starts one place later and zoe, third, is never listed.
    until_asked_for_page(&idp, 1).await;
    idp.delete_user(BOB_SUB).await;
    assert_stopped_by_the_count(
        &app,
        &idp,
        &admin,
        &location,
        "counted 5 users but listed 4",
        ZOE_SUB,
    )
    .await;
}
