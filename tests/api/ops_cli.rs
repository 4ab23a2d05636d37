//! CLI parity for ops: `keyward users …`, `keyward permissions …`, `keyward roles create | delete |
//! permissions` on a running instance's database, with the admin API's rules and an audit event (user agent
//! `cli`, no acting user) for each change.

use std::time::{Duration, Instant};

use entity::audit_events;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::{
    helpers::TestApp,
    idp::Layout,
    login::bearer_get,
    rbac::{call, json_of, role_named, token_for, with_admin},
    roles_cli::keyward_cli,
};

/// Runs a command that must succeed; returns what it printed.
fn ok(app: &TestApp, args: &[&str]) -> String {
    let (ok, out, err) = keyward_cli(app, args);
    assert!(ok, "keyward {args:?}: {out}{err}");
    out
}

/// Runs a command that must fail; returns its error text.
fn refused(app: &TestApp, args: &[&str]) -> String {
    let (ok, out, err) = keyward_cli(app, args);
    assert!(!ok, "keyward {args:?} should fail: {out}");
    err
}

/// The CLI's audit events of `kind`: (target, detail).
async fn cli_events(app: &TestApp, kind: &str) -> Vec<(Option<String>, Option<String>)> {
    audit_events::Entity::find()
        .filter(audit_events::Column::Kind.eq(kind))
        .filter(audit_events::Column::UserAgent.eq("cli"))
        .filter(audit_events::Column::UserId.is_null())
        .all(app.state.db.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.target, e.detail))
        .collect()
}

#[tokio::test]
async fn the_cli_manages_permissions_and_roles_with_the_apis_rules() {
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;

    let out = ok(
        &app,
        &[
            "permissions",
            "create",
            "invoices:approve",
            "--description",
            "Approves",
        ],
    );
    assert!(out.contains("created permission invoices:approve"), "{out}");
    assert!(ok(&app, &["permissions", "list"]).contains("invoices:approve\t-\tApproves"));
    assert!(
        refused(&app, &["permissions", "create", "invoices:approve"]).contains("already exists")
    );
    assert!(
        refused(&app, &["permissions", "create", "Invoices"]).contains("not a permission name")
    );

    let out = ok(
        &app,
        &[
            "roles",
            "create",
            "billing",
            "--description",
            "Bills",
            "--permissions",
            "invoices:approve,users:read",
        ],
    );
    assert!(out.contains("created role billing"), "{out}");
    let billing = role_named(&app, &admin, "billing")
        .await
        .expect("the API sees the role");
    assert_eq!(
        billing["permissions"],
        serde_json::json!(["invoices:approve", "users:read"])
    );
    assert_eq!(billing["description"], "Bills");
    assert!(refused(&app, &["roles", "create", "billing"]).contains("already exists"));
    assert!(
        refused(&app, &["roles", "create", "xy", "--permissions", "no:such"]).contains("no:such")
    );

    ok(
        &app,
        &["roles", "permissions", "billing", "invoices:approve"],
    );
    let billing = role_named(&app, &admin, "billing").await.unwrap();
    assert_eq!(
        billing["permissions"],
        serde_json::json!(["invoices:approve"])
    );

    assert!(refused(&app, &["roles", "delete", "admin"]).contains("built in"));
    ok(&app, &["roles", "delete", "billing"]);
    assert!(role_named(&app, &admin, "billing").await.is_none());
    assert!(refused(&app, &["permissions", "delete", "roles:write"]).contains("built"));
    ok(&app, &["permissions", "delete", "invoices:approve"]);

    for (kind, target) in [
        ("permission.created", "invoices:approve"),
        ("role.created", "billing"),
        ("role.permissions_set", "billing"),
        ("role.deleted", "billing"),
        ("permission.deleted", "invoices:approve"),
    ] {
        let events = cli_events(&app, kind).await;
        assert_eq!(events.len(), 1, "{kind}: {events:?}");
        assert_eq!(events[0].0.as_deref(), Some(target), "{kind}");
    }
    assert!(
        cli_events(&app, "role.created").await.len() == 1,
        "refusals are not audited as changes"
    );
}

#[tokio::test]
async fn the_cli_lists_shows_deactivates_and_logs_out_users() {
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    let zoe_token = token_for(&app, "zoe").await;
    let zoe = "zoe.angstrom@example.com";

    let out = ok(&app, &["users", "list", "--email", "ZOE"]);
    assert!(out.contains(zoe) && out.contains("1 of 1 users"), "{out}");
    let out = ok(&app, &["users", "list", "--role", "admin"]);
    assert!(
        out.contains("alice@example.com") && !out.contains(zoe),
        "{out}"
    );
    let out = ok(&app, &["users", "show", zoe]);
    assert!(
        out.contains("status: active") && out.contains("roles: user ("),
        "{out}"
    );

    let out = ok(&app, &["users", "end-sessions", zoe]);
    assert!(out.contains("ended 1 sessions"), "{out}");
    // The running instance hears of it through the change signal (polled every 2 s).
    let started = Instant::now();
    while bearer_get(&app, &zoe_token, "/api/v1/me").await.status() != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "zoe's token still works"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    assert!(ok(&app, &["users", "deactivate", zoe]).contains("now inactive"));
    assert!(ok(&app, &["users", "deactivate", zoe]).contains("already inactive"));
    assert_eq!(
        cli_events(&app, "user.deactivated").await.len(),
        1,
        "a repeat changes nothing"
    );
    let users = json_of(
        call(&app, Some(&admin), "GET", "/api/v1/users?email=zoe", None).await,
        200,
    )
    .await;
    assert_eq!(users["items"][0]["active"], false);
    assert!(ok(&app, &["users", "activate", zoe]).contains("now active"));
    assert!(
        refused(&app, &["users", "deactivate", "alice@example.com"]).contains("last active admin")
    );
    assert_eq!(cli_events(&app, "user.sessions_ended").await.len(), 1);
}
