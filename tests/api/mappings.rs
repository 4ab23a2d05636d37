//! Roles mapped from provider groups and realm roles stay current: re-evaluated at each provider token
//! refresh and each sync run, manual grants untouched, the last admin kept, every change audited, and a
//! failed membership read changing nothing.

use sea_orm::{EntityTrait, sea_query::Expr};
use serde_json::{Value, json};

use crate::{
    bootstrap_admin::without_bootstrap_admins,
    helpers::TestApp,
    idp::{BOB_SUB, Layout, NOEMAIL_SUB, TestIdp, ZOE_SUB},
    login::{cookie_get, logged_in},
    rbac::{call, json_of, role_id, token_for, user_id, with_admin},
    sync::{sync, sync_settings},
};

/// Forces every session's provider tokens to count as expired, as minutes passing would.
async fn expire_provider_tokens(app: &TestApp) {
    entity::sessions::Entity::update_many()
        .col_expr(
            entity::sessions::Column::ProviderExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .exec(&app.state.db)
        .await
        .unwrap();
}

async fn create_role(app: &TestApp, admin: &str, name: &str, idp_group: &str) {
    let body = json!({"name": name, "idp_group": idp_group, "permissions": []});
    json_of(
        call(app, Some(admin), "POST", "/api/v1/roles", Some(body)).await,
        201,
    )
    .await;
}

/// The user's grants as `role source` strings, sorted.
pub(crate) async fn grants(app: &TestApp, admin: &str, email: &str) -> Vec<String> {
    let id = user_id(app, admin, email).await;
    let user = json_of(
        call(
            app,
            Some(admin),
            "GET",
            &format!("/api/v1/users/{id}"),
            None,
        )
        .await,
        200,
    )
    .await;
    let mut out: Vec<String> = user["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            format!(
                "{} {}",
                g["role"].as_str().unwrap(),
                g["source"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

async fn roles_of_me(app: &TestApp, browser: &reqwest::Client) -> Value {
    let me = json_of(cookie_get(app, browser, "/api/v1/me").await, 200).await;
    me["roles"].clone()
}

/// Audit events of this type about `target`, oldest first, as `outcome: detail`.
async fn audited(app: &TestApp, admin: &str, kind: &str, target: &str) -> Vec<String> {
    let events = json_of(
        call(
            app,
            Some(admin),
            "GET",
            &format!("/api/v1/audit-events?type={kind}&per_page=200"),
            None,
        )
        .await,
        200,
    )
    .await;
    let mut out: Vec<String> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == target)
        .map(|e| {
            format!(
                "{}: {}",
                e["outcome"].as_str().unwrap(),
                e["detail"].as_str().unwrap_or("")
            )
        })
        .collect();
    out.reverse();
    out
}

async fn set_groups(idp: &TestIdp, sub: &str, groups: &[&str]) {
    idp.patch_user(sub, json!({"groups": groups})).await;
}

#[tokio::test]
async fn a_mapped_role_follows_the_group_at_the_next_token_refresh() {
    for layout in Layout::BOTH {
        let (app, idp, admin) = with_admin(layout, &[]).await;
        create_role(&app, &admin, "staff", "staff").await;
        set_groups(&idp, BOB_SUB, &["users", "staff"]).await;
        let bob = logged_in(&app, "bob").await;
        assert_eq!(
            roles_of_me(&app, &bob).await,
            json!(["staff", "user"]),
            "{layout:?}"
        );

        // bob leaves the group at the provider; his session's provider tokens come due and are refreshed.
        set_groups(&idp, BOB_SUB, &["users"]).await;
        expire_provider_tokens(&app).await;
        idp.reset_stats().await;
        assert_eq!(roles_of_me(&app, &bob).await, json!(["user"]), "{layout:?}");
        assert_eq!(
            idp.stats().await["token_requests"]["by_grant"]["refresh_token"],
            1,
            "{layout:?}"
        );
        // Back in the group: the next refresh grants it again.
        set_groups(&idp, BOB_SUB, &["users", "staff"]).await;
        expire_provider_tokens(&app).await;
        assert_eq!(
            roles_of_me(&app, &bob).await,
            json!(["staff", "user"]),
            "{layout:?}"
        );

        let granted = audited(&app, &admin, "user.role_granted", "bob@example.com").await;
        assert_eq!(granted.len(), 2, "{layout:?}: {granted:?}");
        for (event, by) in granted
            .iter()
            .zip(["by: login", "by: provider token refresh"])
        {
            assert!(
                event.starts_with("success: role staff; source: provider mapping; group: staff;")
                    && event.ends_with(by),
                "{layout:?}: {event}"
            );
        }
        let revoked = audited(&app, &admin, "user.role_revoked", "bob@example.com").await;
        assert_eq!(
            revoked,
            [
                "success: role staff; source: provider mapping; group: staff; by: provider token refresh"
            ],
            "{layout:?}"
        );
    }
}

#[tokio::test]
async fn a_sync_run_sets_mapped_roles_of_users_who_do_not_log_in_and_manual_grants_stay() {
    for layout in Layout::BOTH {
        let (app, idp, admin) = with_admin(layout, &sync_settings(layout)).await;
        create_role(&app, &admin, "staff", "staff").await;
        set_groups(&idp, BOB_SUB, &["users", "staff"]).await;
        let bob_token = token_for(&app, "bob").await;
        logged_in(&app, "zoe").await;
        let bob_id = user_id(&app, &admin, "bob@example.com").await;
        // bob also holds `staff` from an admin.
        json_of(
            call(
                &app,
                Some(&admin),
                "PUT",
                &format!("/api/v1/users/{bob_id}/roles"),
                Some(json!({"roles": ["staff"]})),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(
            grants(&app, &admin, "bob@example.com").await,
            ["staff manual", "staff provider", "user default"],
            "{layout:?}"
        );

        // At the provider bob leaves the group and zoe joins it; neither logs in again.
        set_groups(&idp, BOB_SUB, &["users"]).await;
        set_groups(&idp, ZOE_SUB, &["users", "staff"]).await;
        let run = sync(&app, &admin).await;
        assert_eq!(run["status"], "succeeded", "{layout:?}: {run}");

        assert_eq!(
            grants(&app, &admin, "bob@example.com").await,
            ["staff manual", "user default"],
            "{layout:?}: the provider grant goes, the manual one stays"
        );
        let me = json_of(
            call(&app, Some(&bob_token), "GET", "/api/v1/me", None).await,
            200,
        )
        .await;
        assert_eq!(me["roles"], json!(["staff", "user"]), "{layout:?}");
        assert_eq!(
            grants(&app, &admin, "zoe.angstrom@example.com").await,
            ["staff provider", "user default"],
            "{layout:?}"
        );
        let by_sync = format!("by: sync run {}", run["id"].as_str().unwrap());
        assert_eq!(
            audited(&app, &admin, "user.role_revoked", "bob@example.com").await,
            [format!(
                "success: role staff; source: provider mapping; group: staff; {by_sync}"
            )],
            "{layout:?}"
        );
        assert_eq!(
            audited(
                &app,
                &admin,
                "user.role_granted",
                "zoe.angstrom@example.com"
            )
            .await,
            [format!(
                "success: role staff; source: provider mapping; group: staff; {by_sync}"
            )],
            "{layout:?}"
        );
        // An unchanged provider: the next run changes and audits nothing.
        let again = sync(&app, &admin).await;
        assert_eq!(again["status"], "succeeded");
        assert_eq!(
            audited(
                &app,
                &admin,
                "user.role_granted",
                "zoe.angstrom@example.com"
            )
            .await
            .len(),
            1
        );
    }
}

#[tokio::test]
async fn a_sync_run_follows_keycloak_realm_roles_too() {
    let layout = Layout::Keycloak;
    let (app, idp, admin) = with_admin(layout, &[("KEYWARD_SYNC_CREATE_USERS", "true")]).await;
    create_role(&app, &admin, "operator", "ops").await;
    // The user without email holds the realm role `ops`, and is not a local user until the sync.
    idp.patch_user(NOEMAIL_SUB, json!({"roles": ["user", "ops"]}))
        .await;
    let run = sync(&app, &admin).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let local = entity::users::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.subject == NOEMAIL_SUB)
        .expect("the sync created the user");
    let grants = entity::user_roles::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    let held: Vec<&str> = grants
        .iter()
        .filter(|g| g.user_id == local.id)
        .map(|g| g.source.as_str())
        .collect();
    assert_eq!(held, ["provider"]);

    idp.patch_user(NOEMAIL_SUB, json!({"roles": ["user"]}))
        .await;
    assert_eq!(sync(&app, &admin).await["status"], "succeeded");
    let left = entity::user_roles::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|g| g.user_id == local.id)
        .count();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_failed_membership_read_changes_no_grant() {
    for layout in Layout::BOTH {
        let (app, idp, admin) = with_admin(layout, &sync_settings(layout)).await;
        create_role(&app, &admin, "staff", "staff").await;
        set_groups(&idp, BOB_SUB, &["users", "staff"]).await;
        logged_in(&app, "bob").await;
        set_groups(&idp, BOB_SUB, &["users"]).await;
        let fault = match layout {
            // Every try of the members of `staff` fails (retries included).
            Layout::Keycloak => json!({"fail_memberships": 100, "status": 500}),
            // Authentik's groups come with the listing: its last page fails.
            Layout::Authentik => json!({"fail_page": 0, "fail_count": 100, "status": 500}),
        };
        idp.set_faults(fault).await;
        let run = sync(&app, &admin).await;
        assert_eq!(run["status"], "failed", "{layout:?}: {run}");
        assert_eq!(
            grants(&app, &admin, "bob@example.com").await,
            ["staff provider", "user default"],
            "{layout:?}"
        );
        assert!(
            audited(&app, &admin, "user.role_revoked", "bob@example.com")
                .await
                .is_empty()
        );

        idp.set_faults(json!({"fail_memberships": null, "fail_page": null, "fail_count": null}))
            .await;
        assert_eq!(sync(&app, &admin).await["status"], "succeeded");
        assert_eq!(
            grants(&app, &admin, "bob@example.com").await,
            ["user default"],
            "{layout:?}"
        );
    }
}

#[tokio::test]
async fn the_last_admin_keeps_a_provider_admin_grant_at_a_refresh_and_a_sync() {
    let layout = Layout::Keycloak;
    let (app, idp, alice) = with_admin(layout, &sync_settings(layout)).await;
    let admin_role = role_id(&app, &alice, "admin").await;
    json_of(
        call(
            &app,
            Some(&alice),
            "PATCH",
            &format!("/api/v1/roles/{admin_role}"),
            Some(json!({"idp_group": "admins"})),
        )
        .await,
        200,
    )
    .await;
    set_groups(&idp, BOB_SUB, &["users", "admins"]).await;
    let bob = logged_in(&app, "bob").await;
    let bob_token = crate::login::api_token(&app, &bob).await;
    // alice steps down (where she is no bootstrap admin), and leaves the provider's `admins` group too: bob,
    // an admin only through the provider, is the last one.
    set_groups(&idp, crate::idp::ALICE_SUB, &["users"]).await;
    let alice_id = user_id(&app, &alice, "alice@example.com").await;
    json_of(
        call(
            &without_bootstrap_admins(&app, &idp).await,
            Some(&alice),
            "PUT",
            &format!("/api/v1/users/{alice_id}/roles"),
            Some(json!({"roles": []})),
        )
        .await,
        200,
    )
    .await;
    set_groups(&idp, BOB_SUB, &["users"]).await;
    expire_provider_tokens(&app).await;
    assert_eq!(
        roles_of_me(&app, &bob).await,
        json!(["admin", "user"]),
        "kept at refresh"
    );
    let run = sync(&app, &bob_token).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        grants(&app, &bob_token, "bob@example.com").await,
        ["admin provider", "user default"],
        "kept at sync"
    );
    let kept = audited(&app, &bob_token, "user.role_revoked", "bob@example.com").await;
    assert_eq!(kept.len(), 2, "{kept:?}");
    for event in &kept {
        assert!(
            event.starts_with("failure: role admin; source: provider mapping; group: admins;")
                && event.ends_with("; kept: this is the last active admin"),
            "{event}"
        );
    }
}

#[tokio::test]
async fn a_group_of_a_thousand_is_mapped_in_one_run_and_an_unchanged_rerun_writes_nothing() {
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
    for layout in Layout::BOTH {
        let mut settings = sync_settings(layout);
        settings.extend([
            ("KEYWARD_SYNC_CREATE_USERS", "true"),
            ("KEYWARD_SYNC_PAGE_SIZE", "500"),
        ]);
        let (app, _idp) = crate::helpers::spawn_app_with_idp(
            layout,
            &[
                &[("KEYWARD_BOOTSTRAP_ADMINS", "alice@example.com")],
                &settings[..],
            ]
            .concat(),
            &[("IDP_GENERATED_USERS", "1000")],
        )
        .await;
        let alice = logged_in(&app, "alice").await;
        let admin = crate::login::api_token(&app, &alice).await;
        create_role(&app, &admin, "staff", "users").await;
        let granted = || {
            entity::audit_events::Entity::find()
                .filter(entity::audit_events::Column::Kind.eq("user.role_granted"))
                .count(&app.state.db)
        };
        // alice logged in before the role was mapped: every grant comes from the sync.
        let started = std::time::Instant::now();
        let first = sync(&app, &admin).await;
        let first_took = started.elapsed();
        assert_eq!(first["status"], "succeeded", "{layout:?}: {first}");
        let holders = entity::user_roles::Entity::find()
            .filter(entity::user_roles::Column::Source.eq("provider"))
            .count(&app.state.db)
            .await
            .unwrap();
        // The user disabled at the provider is in `users` too: created inactive, mapped all the same.
        assert_eq!(
            holders, 1005,
            "{layout:?}: alice, bob, zoe, noemail, disabled, 1000 generated"
        );
        assert_eq!(granted().await.unwrap(), 1005);
        let started = std::time::Instant::now();
        let second = sync(&app, &admin).await;
        let second_took = started.elapsed();
        assert_eq!(second["status"], "succeeded");
        assert_eq!(
            granted().await.unwrap(),
            1005,
            "{layout:?}: nothing to change"
        );
        eprintln!(
            "{layout:?}: mapping 1005 users took a run of {:.2} s, the unchanged rerun {:.2} s",
            first_took.as_secs_f64(),
            second_took.as_secs_f64()
        );
    }
}

#[tokio::test]
async fn a_refresh_without_an_id_token_maps_from_the_access_token_when_it_verifies() {
    for layout in Layout::BOTH {
        let (app, idp, admin) = with_admin(layout, &[]).await;
        create_role(&app, &admin, "staff", "staff").await;
        set_groups(&idp, BOB_SUB, &["users", "staff"]).await;
        let bob = logged_in(&app, "bob").await;
        idp.set_faults(json!({"refresh_without_id_token": 1})).await;
        set_groups(&idp, BOB_SUB, &["users"]).await;
        expire_provider_tokens(&app).await;
        assert_eq!(roles_of_me(&app, &bob).await, json!(["user"]), "{layout:?}");
    }
    // An access token Keyward cannot verify as one for itself (another audience) proves nothing: the
    // mapping stays as it was until a refresh, login or sync that can tell.
    let (app, idp, admin) = with_admin(
        Layout::Keycloak,
        &[("KEYWARD_OIDC_AUDIENCE", "another-api")],
    )
    .await;
    create_role(&app, &admin, "staff", "staff").await;
    set_groups(&idp, BOB_SUB, &["users", "staff"]).await;
    let bob = logged_in(&app, "bob").await;
    idp.set_faults(json!({"refresh_without_id_token": 1})).await;
    set_groups(&idp, BOB_SUB, &["users"]).await;
    expire_provider_tokens(&app).await;
    idp.reset_stats().await;
    assert_eq!(roles_of_me(&app, &bob).await, json!(["staff", "user"]));
    assert_eq!(
        idp.stats().await["token_requests"]["by_grant"]["refresh_token"],
        1,
        "the refresh happened"
    );
    idp.set_faults(json!({"refresh_without_id_token": null}))
        .await;
    expire_provider_tokens(&app).await;
    assert_eq!(roles_of_me(&app, &bob).await, json!(["user"]));
}
