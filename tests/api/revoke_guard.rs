//! Revoking is as guarded as granting: taking a role away, deactivating a user or ending their sessions needs
//! every permission of the roles involved, and only an admin takes `admin` away. The CLI is the operator.

use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, header, problem},
    idp::Layout,
    rbac::{call, json_of, token_for, user_id, with_admin},
    roles_cli::keyward_cli,
};

/// The three ways to take something from `target`, as `actor`: revoke to `keep`, deactivate, end sessions.
async fn take_away(
    app: &TestApp,
    actor: &str,
    target: &str,
    keep: &[&str],
) -> [reqwest::Response; 3] {
    [
        call(
            app,
            Some(actor),
            "PUT",
            &format!("/api/v1/users/{target}/roles"),
            Some(json!({"roles": keep})),
        )
        .await,
        call(
            app,
            Some(actor),
            "PATCH",
            &format!("/api/v1/users/{target}"),
            Some(json!({"active": false})),
        )
        .await,
        call(
            app,
            Some(actor),
            "DELETE",
            &format!("/api/v1/users/{target}/sessions"),
            None,
        )
        .await,
    ]
}

async fn assert_refused_naming(responses: [reqwest::Response; 3], missing: &str) {
    for (what, resp) in ["revoke", "deactivate", "end sessions"]
        .into_iter()
        .zip(responses)
    {
        assert_eq!(
            header(&resp, "content-type"),
            Some("application/problem+json"),
            "{what}"
        );
        let p: Value = problem(resp).await;
        assert_eq!(p["status"], 403, "{what}: {p}");
        assert!(
            p["detail"].as_str().unwrap().contains(missing),
            "{what}: {p}"
        );
    }
}

async fn set_roles(app: &TestApp, admin: &str, user: &str, roles: &[&str]) {
    let path = format!("/api/v1/users/{user}/roles");
    json_of(
        call(
            app,
            Some(admin),
            "PUT",
            &path,
            Some(json!({"roles": roles})),
        )
        .await,
        200,
    )
    .await;
}

async fn create_role(app: &TestApp, admin: &str, name: &str, permissions: &[&str]) {
    let body = json!({"name": name, "permissions": permissions});
    json_of(
        call(app, Some(admin), "POST", "/api/v1/roles", Some(body)).await,
        201,
    )
    .await;
}

/// The user as an admin sees them (status, roles).
async fn user_as_admin(app: &TestApp, admin: &str, id: &str) -> Value {
    let path = format!("/api/v1/users/{id}");
    json_of(call(app, Some(admin), "GET", &path, None).await, 200).await
}

#[tokio::test]
async fn a_users_writer_takes_away_only_what_they_could_have_granted() {
    let (app, _idp, alice) = with_admin(Layout::Keycloak, &[]).await;
    // bob manages users but holds neither `admin` nor `audit:read`.
    create_role(&app, &alice, "helper", &["users:read", "users:write"]).await;
    create_role(&app, &alice, "auditor", &["audit:read"]).await;
    create_role(&app, &alice, "reader", &["users:read"]).await;
    let bob = token_for(&app, "bob").await;
    let bob_id = user_id(&app, &alice, "bob@example.com").await;
    set_roles(&app, &alice, &bob_id, &["user", "helper"]).await;
    let zoe = token_for(&app, "zoe").await;
    let zoe_id = user_id(&app, &alice, "zoe.angstrom@example.com").await;

    // zoe is an admin (not the last one, not a bootstrap one): bob can take nothing from her.
    set_roles(&app, &alice, &zoe_id, &["user", "admin"]).await;
    assert_refused_naming(take_away(&app, &bob, &zoe_id, &["user"]).await, "`admin`").await;
    let zoe_now = user_as_admin(&app, &alice, &zoe_id).await;
    assert_eq!(zoe_now["active"], true);
    assert!(zoe_now["roles"].to_string().contains("admin"), "{zoe_now}");
    json_of(call(&app, Some(&zoe), "GET", "/api/v1/me", None).await, 200).await;

    // zoe holds a permission bob lacks: the same, naming it.
    set_roles(&app, &alice, &zoe_id, &["user", "auditor"]).await;
    assert_refused_naming(
        take_away(&app, &bob, &zoe_id, &["user"]).await,
        "audit:read",
    )
    .await;

    // Everything zoe holds, bob holds too: he may revoke, end her sessions and deactivate her.
    set_roles(&app, &alice, &zoe_id, &["user", "reader"]).await;
    let [revoke, deactivate, end] = take_away(&app, &bob, &zoe_id, &["user"]).await;
    let after = json_of(revoke, 200).await;
    assert!(!after["roles"].to_string().contains("reader"), "{after}");
    assert_eq!(json_of(deactivate, 200).await["active"], false);
    json_of(end, 204).await;

    // An admin may take `admin` away.
    set_roles(&app, &alice, &zoe_id, &["user", "admin"]).await;
    set_roles(&app, &alice, &zoe_id, &["user"]).await;
}

#[tokio::test]
async fn the_operator_at_the_command_line_is_not_held_to_the_callers_permissions() {
    let (app, _idp, alice) = with_admin(Layout::Authentik, &[]).await;
    token_for(&app, "zoe").await;
    let zoe_id = user_id(&app, &alice, "zoe.angstrom@example.com").await;
    create_role(&app, &alice, "auditor", &["audit:read"]).await;
    set_roles(&app, &alice, &zoe_id, &["user", "admin", "auditor"]).await;
    let zoe = "zoe.angstrom@example.com";
    for args in [
        ["roles", "revoke", zoe, "admin"].as_slice(),
        &["roles", "revoke", zoe, "auditor"],
        &["users", "end-sessions", zoe],
        &["users", "deactivate", zoe],
    ] {
        let (ok, out, err) = keyward_cli(&app, args);
        assert!(ok, "keyward {args:?}: {out}{err}");
    }
    let zoe_now = user_as_admin(&app, &alice, &zoe_id).await;
    assert_eq!(zoe_now["active"], false);
    assert!(!zoe_now["roles"].to_string().contains("admin"), "{zoe_now}");
}
