//! A sync run whose instance died is not left `running`: another instance sees its lease expire, marks it
//! failed and starts a replacement run (`takeover`) at once. The death is what `kill -9` leaves behind: a
//! `running` row and a lease nobody renews (`scripts/cluster-test.sh` kills a real instance).

use std::time::{Duration, Instant};

use chrono::Utc;
use entity::{job_leases, sync_runs};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    helpers::TestApp,
    idp::Layout,
    rbac::{call, json_of},
    sync::{admin_app, wait_for},
};

/// Leaves the database as an instance killed in the middle of a run does: the run says `running`, and the
/// lease it held runs out `expires_in` from now with nobody to renew it.
async fn dead_instance_run(app: &TestApp, expires_in: chrono::Duration) -> Uuid {
    let id = Uuid::now_v7();
    sync_runs::ActiveModel {
        id: Set(id),
        trigger: Set("manual".into()),
        scheduled_for: Set(None),
        started_at: Set(Utc::now() - chrono::Duration::seconds(30)),
        finished_at: Set(None),
        status: Set("running".into()),
        pages: Set(3),
        seen: Set(3),
        updated: Set(0),
        deactivated: Set(0),
        created: Set(0),
        error: Set(None),
    }
    .insert(&app.state.db)
    .await
    .unwrap();
    job_leases::Entity::insert(job_leases::ActiveModel {
        name: Set("user-sync".into()),
        holder: Set("4242:a-killed-instance".into()),
        expires_at: Set(Utc::now() + expires_in),
    })
    .exec(&app.state.db)
    .await
    .unwrap();
    id
}

/// The dead instance's run was closed as abandoned.
async fn assert_abandoned(app: &TestApp, admin: &str, id: Uuid) {
    let path = format!("/api/v1/sync/runs/{id}");
    let old = json_of(call(app, Some(admin), "GET", &path, None).await, 200).await;
    assert_eq!(old["status"], "failed", "{old}");
    let error = old["error"].as_str().unwrap();
    assert!(error.contains("abandoned"), "{old}");
    assert!(old["finished_at"].is_string(), "{old}");
}

async fn runs(app: &TestApp, admin: &str) -> Vec<Value> {
    let list = json_of(
        call(app, Some(admin), "GET", "/api/v1/sync/runs", None).await,
        200,
    )
    .await;
    list["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_run_whose_instance_died_is_failed_and_replaced_by_a_takeover_run() {
    let (app, _idp, admin) =
        admin_app(Layout::Keycloak, &[("KEYWARD_SYNC_LEASE_TTL", "2s")], &[]).await;
    let dead = dead_instance_run(&app, chrono::Duration::seconds(2)).await;
    let started = Instant::now();
    let takeover = loop {
        let all = runs(&app, &admin).await;
        if let Some(run) = all.iter().find(|r| r["trigger"] == "takeover") {
            break run.clone();
        }
        // While the lease is still the dead instance's, nobody may touch its run.
        if started.elapsed() < Duration::from_millis(1500) {
            assert!(all.iter().all(|r| r["status"] == "running"), "{all:?}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no takeover: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The lease runs out 2 s after the "kill"; the instance looks every second (a third of the lease, at least 1 s).
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2),
        "taken over after {waited:?}"
    );
    let location = format!("/api/v1/sync/runs/{}", takeover["id"].as_str().unwrap());
    let finished = wait_for(&app, &admin, &location).await;
    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert!(finished["seen"].as_i64().unwrap() > 0, "{finished}");
    assert_abandoned(&app, &admin, dead).await;
    // Exactly one replacement.
    let all = runs(&app, &admin).await;
    assert_eq!(
        all.iter().filter(|r| r["trigger"] == "takeover").count(),
        1,
        "{all:?}"
    );
}

#[tokio::test]
async fn a_start_on_an_expired_lease_closes_the_dead_instances_run_first() {
    let (app, _idp, admin) = admin_app(Layout::Keycloak, &[], &[]).await;
    // Expired well before the instance's next look (every 10 s with the default lease): the start gets there first.
    let dead = dead_instance_run(&app, chrono::Duration::minutes(-5)).await;
    let run = crate::sync::sync(&app, &admin).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_abandoned(&app, &admin, dead).await;
}

#[tokio::test]
async fn a_run_whose_lease_is_renewed_is_not_taken_over() {
    let (app, _idp, admin) =
        admin_app(Layout::Authentik, &[("KEYWARD_SYNC_LEASE_TTL", "1s")], &[]).await;
    // A holder that renews in time: the lease keeps ending in the future.
    let alive = dead_instance_run(&app, chrono::Duration::seconds(60)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let all = runs(&app, &admin).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["id"], alive.to_string());
    assert_eq!(all[0]["status"], "running");
    // And nobody else may start one meanwhile.
    assert_eq!(
        call(&app, Some(&admin), "POST", "/api/v1/sync/runs", None)
            .await
            .status(),
        409
    );
}

#[tokio::test]
async fn a_stopping_instance_frees_its_leases_so_another_takes_over_at_once() {
    let (app, idp, admin) =
        admin_app(Layout::Keycloak, &[("KEYWARD_SYNC_PAGE_SIZE", "1")], &[]).await;
    // The default lease (60 s) would keep another instance waiting a minute; a clean stop frees it. Pages of
    // one user, 3 s each: the run is still going when its instance stops.
    idp.set_faults(serde_json::json!({"slow_ms": 3000})).await;
    let resp = call(&app, Some(&admin), "POST", "/api/v1/sync/runs", None).await;
    assert_eq!(resp.status(), 202);
    let first: Value = resp.json().await.unwrap();
    let mut settings = idp.keyward_settings();
    settings.push(("KEYWARD_SHUTDOWN_DRAIN".into(), "0s".into()));
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let other = crate::helpers::spawn_sibling(&app, &pairs).await;
    app.shut_down();
    let started = Instant::now();
    let takeover = loop {
        let all = runs(&other, &admin).await;
        if let Some(run) = all.iter().find(|r| r["trigger"] == "takeover") {
            break run.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no takeover: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    idp.set_faults(serde_json::json!({"slow_ms": null})).await;
    let location = format!("/api/v1/sync/runs/{}", takeover["id"].as_str().unwrap());
    assert_eq!(
        wait_for(&other, &admin, &location).await["status"],
        "succeeded"
    );
    let old = json_of(
        call(
            &other,
            Some(&admin),
            "GET",
            &format!("/api/v1/sync/runs/{}", first["id"].as_str().unwrap()),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(old["status"], "failed", "{old}");
}
