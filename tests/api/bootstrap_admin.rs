//! Bootstrap admins (`KEYWARD_BOOTSTRAP_ADMINS`) belong to the operator: no API client, however careless (a
//! fuzzer holding their token), can take `admin` from them, deactivate them or end their sessions.

use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, problem, spawn_sibling},
    idp::{Layout, TestIdp},
    rbac::{call, json_of, token_for, user_id, with_admin},
};

/// The same database served without `KEYWARD_BOOTSTRAP_ADMINS`, where alice is an admin like any other. Tokens
/// issued by `app` work on it; logins do not (the provider knows only `app`'s redirect URI).
pub(crate) async fn without_bootstrap_admins(app: &TestApp, idp: &TestIdp) -> TestApp {
    let settings = idp.keyward_settings();
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    spawn_sibling(app, &pairs).await
}

async fn refused(resp: reqwest::Response, what: &str) {
    let p: Value = problem(resp).await;
    assert_eq!(p["status"], 409, "{what}: {p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("alice@example.com") && detail.contains("KEYWARD_BOOTSTRAP_ADMINS"),
        "{what}: {detail}"
    );
}

#[tokio::test]
async fn a_bootstrap_admin_cannot_be_demoted_deactivated_or_logged_out_through_the_api() {
    let (app, _idp, alice) = with_admin(Layout::Keycloak, &[]).await;
    let alice_id = user_id(&app, &alice, "alice@example.com").await;
    // A second admin, so that the last-admin rule is not what refuses.
    let zoe = token_for(&app, "zoe").await;
    let zoe_id = user_id(&app, &alice, "zoe.angstrom@example.com").await;
    json_of(
        call(
            &app,
            Some(&alice),
            "PUT",
            &format!("/api/v1/users/{zoe_id}/roles"),
            Some(json!({"roles": ["user", "admin"]})),
        )
        .await,
        200,
    )
    .await;

    for token in [&alice, &zoe] {
        let roles = format!("/api/v1/users/{alice_id}/roles");
        refused(
            call(
                &app,
                Some(token),
                "PUT",
                &roles,
                Some(json!({"roles": ["user"]})),
            )
            .await,
            "taking admin",
        )
        .await;
        refused(
            call(
                &app,
                Some(token),
                "PATCH",
                &format!("/api/v1/users/{alice_id}"),
                Some(json!({"active": false})),
            )
            .await,
            "deactivating",
        )
        .await;
        refused(
            call(
                &app,
                Some(token),
                "DELETE",
                &format!("/api/v1/users/{alice_id}/sessions"),
                None,
            )
            .await,
            "ending sessions",
        )
        .await;
        // Keeping `admin` while changing the rest is no threat.
        let user = json_of(
            call(
                &app,
                Some(token),
                "PUT",
                &roles,
                Some(json!({"roles": ["admin"]})),
            )
            .await,
            200,
        )
        .await;
        assert!(
            user["roles"].as_array().unwrap().contains(&json!("admin")),
            "{user}"
        );
    }
    let her = json_of(
        call(
            &app,
            Some(&alice),
            "GET",
            &format!("/api/v1/users/{alice_id}"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(her["active"], true, "{her}");
    assert!(
        her["roles"].as_array().unwrap().contains(&json!("admin")),
        "{her}"
    );
    // Anyone else may still be logged out: the refusal is for the operator's admins only.
    assert_eq!(
        call(
            &app,
            Some(&alice),
            "DELETE",
            &format!("/api/v1/users/{zoe_id}/sessions"),
            None,
        )
        .await
        .status(),
        204
    );
}

#[test]
fn the_spec_lists_the_409_of_each_refusal() {
    let spec: Value = serde_json::from_str(&keyward::http::routes::spec_json()).unwrap();
    for (path, method) in [
        ("/api/v1/users/{id}/roles", "put"),
        ("/api/v1/users/{id}", "patch"),
        ("/api/v1/users/{id}/sessions", "delete"),
    ] {
        let responses = &spec["paths"][path][method]["responses"];
        assert!(
            responses.get("409").is_some(),
            "{method} {path}: {responses}"
        );
    }
}
