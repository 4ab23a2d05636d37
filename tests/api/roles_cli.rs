//! `keyward roles grant | revoke` run as a separate process against a running instance's database: who it
//! picks (id, or verified email only) and which audit events it leaves.

use entity::{audit_events, users};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    helpers::TestApp,
    idp::Layout,
    login::logged_in,
    rbac::{call, token_for, with_admin},
};

/// Runs `keyward <args>` on the app's database: (succeeded, stdout, stderr).
pub(crate) fn keyward_cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .env("DATABASE_URL", app.db_url())
        .env("RUST_LOG", "error")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn role_events(app: &TestApp) -> Vec<audit_events::Model> {
    audit_events::Entity::find()
        .filter(audit_events::Column::Kind.is_in(["user.role_granted", "user.role_revoked"]))
        .all(&app.state.db)
        .await
        .unwrap()
}

async fn user_id(app: &TestApp, username: &str) -> Uuid {
    users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .id
}

fn assert_by_cli(event: &audit_events::Model, kind: &str, target: &str) {
    assert_eq!(event.kind, kind);
    assert_eq!(event.outcome, "success");
    assert_eq!(event.user_id, None, "no user acted");
    assert_eq!(event.user_agent.as_deref(), Some("cli"));
    assert_eq!(event.ip, None);
    assert_eq!(event.target.as_deref(), Some(target));
    assert_eq!(event.detail.as_deref(), Some("admin"));
}

#[tokio::test]
async fn the_cli_audits_a_grant_and_a_revoke_once_and_a_repeat_not_at_all() {
    let (app, _idp, _admin) = with_admin(Layout::Keycloak, &[]).await;
    logged_in(&app, "zoe").await;
    let zoe = "zoe.angstrom@example.com";

    let (ok, out, err) = keyward_cli(&app, &["roles", "grant", zoe, "admin"]);
    assert!(ok && out.contains("granted admin"), "{out}{err}");
    let events = role_events(&app).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_by_cli(&events[0], "user.role_granted", zoe);

    let (ok, out, err) = keyward_cli(&app, &["roles", "grant", zoe, "admin"]);
    assert!(ok && out.contains("already holds admin"), "{out}{err}");
    assert_eq!(role_events(&app).await.len(), 1, "nothing changed");

    let (ok, out, err) = keyward_cli(&app, &["roles", "revoke", zoe, "admin"]);
    assert!(ok && out.contains("revoked admin"), "{out}{err}");
    let events = role_events(&app).await;
    let revoked: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "user.role_revoked")
        .collect();
    assert_eq!((events.len(), revoked.len()), (2, 1), "{events:?}");
    assert_by_cli(revoked[0], "user.role_revoked", zoe);

    let (ok, out, err) = keyward_cli(&app, &["roles", "revoke", zoe, "admin"]);
    assert!(
        ok && out.contains("holds no manual or default grant"),
        "{out}{err}"
    );
    assert_eq!(role_events(&app).await.len(), 2, "nothing changed");
}

#[tokio::test]
async fn the_cli_refuses_an_unverified_email_and_names_the_id_to_use_instead() {
    let (app, _idp, _admin) = with_admin(Layout::Keycloak, &[]).await;
    let bob_token = token_for(&app, "bob").await;
    let bob = user_id(&app, "bob").await;

    for command in ["grant", "revoke"] {
        let (ok, out, err) = keyward_cli(&app, &["roles", command, "bob@example.com", "admin"]);
        assert!(!ok, "{command}: {out}");
        assert!(
            err.contains("not verified") && err.contains(&bob.to_string()),
            "{command}: {err}"
        );
    }
    assert!(role_events(&app).await.is_empty());
    let users = call(&app, Some(&bob_token), "GET", "/api/v1/users", None).await;
    assert_eq!(users.status(), 403, "bob was not granted admin");
}

#[tokio::test]
async fn the_cli_grants_and_revokes_by_user_id() {
    let (app, _idp, _admin) = with_admin(Layout::Keycloak, &[]).await;
    logged_in(&app, "bob").await;
    let bob = user_id(&app, "bob").await.to_string();

    let (ok, out, err) = keyward_cli(&app, &["roles", "grant", &bob, "admin"]);
    assert!(ok && out.contains("granted admin"), "{out}{err}");
    let (ok, out, err) = keyward_cli(&app, &["roles", "revoke", &bob, "admin"]);
    assert!(ok && out.contains("revoked admin"), "{out}{err}");
    let events = role_events(&app).await;
    assert_eq!(events.len(), 2, "{events:?}");
    for e in &events {
        assert_by_cli(e, &e.kind, "bob@example.com");
    }

    let unknown = Uuid::now_v7().to_string();
    let (ok, _, err) = keyward_cli(&app, &["roles", "grant", &unknown, "admin"]);
    assert!(!ok && err.contains("no user with id"), "{err}");
}
