//! Roles and permissions: the guard on every admin operation, escalation and built-in protection, cache
//! invalidation across instances, provider-group mapping, the seed file and the CLI.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{
    bootstrap_admin::without_bootstrap_admins,
    helpers::{
        TestApp, TestDb, header, problem, spawn_app_with_idp_on, spawn_sibling,
        spawn_three_on_fresh_db,
    },
    idp::{Layout, TestIdp},
    login::{api_token, assert_unauthorized, cookie_get, logged_in},
    roles_cli::keyward_cli,
};

/// Keyward with alice as bootstrap admin; returns her API token.
pub(crate) async fn with_admin(
    layout: Layout,
    extra: &[(&str, &str)],
) -> (TestApp, TestIdp, String) {
    with_admin_on(layout, extra, TestDb::create().await).await
}

/// `with_admin` on a database the test made itself.
pub(crate) async fn with_admin_on(
    layout: Layout,
    extra: &[(&str, &str)],
    db: TestDb,
) -> (TestApp, TestIdp, String) {
    let mut settings = vec![("KEYWARD_BOOTSTRAP_ADMINS", "alice@example.com")];
    settings.extend_from_slice(extra);
    let (app, idp) = spawn_app_with_idp_on(layout, &settings, &[], db).await;
    let alice = logged_in(&app, "alice").await;
    let token = api_token(&app, &alice).await;
    (app, idp, token)
}

pub(crate) async fn token_for(app: &TestApp, user: &str) -> String {
    let b = logged_in(app, user).await;
    api_token(app, &b).await
}

pub(crate) async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

pub(crate) async fn json_of(resp: reqwest::Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

/// The role of this name as the API lists it, if there is one.
pub(crate) async fn role_named(app: &TestApp, token: &str, name: &str) -> Option<Value> {
    let list = json_of(
        call(app, Some(token), "GET", "/api/v1/roles?per_page=200", None).await,
        200,
    )
    .await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .cloned()
}

pub(crate) async fn role_id(app: &TestApp, token: &str, name: &str) -> String {
    let role = role_named(app, token, name)
        .await
        .unwrap_or_else(|| panic!("no role {name}"));
    role["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn user_id(app: &TestApp, token: &str, email: &str) -> String {
    let list = json_of(
        call(
            app,
            Some(token),
            "GET",
            &format!("/api/v1/users?email={email}"),
            None,
        )
        .await,
        200,
    )
    .await;
    list["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no user {email}: {list}"))
        .to_owned()
}

#[tokio::test]
async fn every_admin_operation_answers_401_without_credentials_and_403_without_the_permission() {
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    let bob = token_for(&app, "bob").await;
    let some = uuid::Uuid::new_v4();
    let ops: Vec<(&str, String, Option<Value>, &str)> = vec![
        ("GET", "/api/v1/roles".into(), None, "roles:read"),
        (
            "POST",
            "/api/v1/roles".into(),
            Some(json!({"name": "x1"})),
            "roles:write",
        ),
        ("GET", format!("/api/v1/roles/{some}"), None, "roles:read"),
        (
            "PATCH",
            format!("/api/v1/roles/{some}"),
            Some(json!({"description": "d"})),
            "roles:write",
        ),
        (
            "DELETE",
            format!("/api/v1/roles/{some}"),
            None,
            "roles:write",
        ),
        (
            "PUT",
            format!("/api/v1/roles/{some}/permissions"),
            Some(json!({"permissions": []})),
            "roles:write",
        ),
        ("GET", "/api/v1/permissions".into(), None, "roles:read"),
        (
            "POST",
            "/api/v1/permissions".into(),
            Some(json!({"name": "a:b"})),
            "roles:write",
        ),
        (
            "DELETE",
            format!("/api/v1/permissions/{some}"),
            None,
            "roles:write",
        ),
        ("GET", "/api/v1/users".into(), None, "users:read"),
        ("GET", format!("/api/v1/users/{some}"), None, "users:read"),
        (
            "PATCH",
            format!("/api/v1/users/{some}"),
            Some(json!({"active": true})),
            "users:write",
        ),
        (
            "DELETE",
            format!("/api/v1/users/{some}/sessions"),
            None,
            "users:write",
        ),
        (
            "PUT",
            format!("/api/v1/users/{some}/roles"),
            Some(json!({"roles": []})),
            "users:write",
        ),
        ("GET", "/api/v1/audit-events".into(), None, "audit:read"),
    ];
    for (method, path, body, permission) in ops {
        let resp = call(&app, None, method, &path, body.clone()).await;
        assert_unauthorized(resp, &format!("{method} {path}")).await;
        let resp = call(&app, Some(&bob), method, &path, body.clone()).await;
        assert_eq!(resp.status(), 403, "{method} {path}");
        let p = problem(resp).await;
        assert_eq!(p["type"], "urn:keyward:problem:forbidden");
        assert!(
            p["detail"].as_str().unwrap().contains(permission),
            "{method} {path}: {p}"
        );
        // The admin gets past the guard (to a result or a 404 for the made-up id).
        let status = call(&app, Some(&admin), method, &path, body)
            .await
            .status()
            .as_u16();
        assert!(
            [200, 201, 204, 404].contains(&status),
            "{method} {path}: {status}"
        );
    }
}

#[tokio::test]
async fn roles_and_permissions_are_managed_through_the_api() {
    for layout in Layout::BOTH {
        let (app, _idp, admin) = with_admin(layout, &[]).await;
        let me = json_of(
            call(&app, Some(&admin), "GET", "/api/v1/me", None).await,
            200,
        )
        .await;
        assert!(me["roles"].as_array().unwrap().contains(&json!("admin")));
        for p in [
            "users:read",
            "users:write",
            "roles:read",
            "roles:write",
            "sync:read",
            "sync:run",
            "audit:read",
        ] {
            assert!(
                me["permissions"].as_array().unwrap().contains(&json!(p)),
                "{p}"
            );
        }
        let claims = crate::idp::jwt_claims(&admin);
        assert!(
            claims["roles"]
                .as_array()
                .unwrap()
                .contains(&json!("admin"))
        );

        let resp = call(
            &app,
            Some(&admin),
            "POST",
            "/api/v1/permissions",
            Some(json!({"name": "invoices:approve", "description": "Approve invoices"})),
        )
        .await;
        assert_eq!(resp.status(), 201);
        let location = header(&resp, "location").unwrap().to_owned();
        let perm: Value = resp.json().await.unwrap();
        assert_eq!(
            location,
            format!("/api/v1/permissions/{}", perm["id"].as_str().unwrap())
        );
        // admin holds permissions created later.
        let me = json_of(
            call(&app, Some(&admin), "GET", "/api/v1/me", None).await,
            200,
        )
        .await;
        assert!(
            me["permissions"]
                .as_array()
                .unwrap()
                .contains(&json!("invoices:approve"))
        );

        let resp = call(&app, Some(&admin), "POST", "/api/v1/roles",
            Some(json!({"name": "accountant", "description": "Books", "permissions": ["invoices:approve", "users:read"]}))).await;
        assert_eq!(resp.status(), 201);
        let loc = header(&resp, "location").unwrap().to_owned();
        let role: Value = resp.json().await.unwrap();
        assert_eq!(
            role["permissions"],
            json!(["invoices:approve", "users:read"])
        );
        assert_eq!(role["built_in"], false);
        let fetched = json_of(call(&app, Some(&admin), "GET", &loc, None).await, 200).await;
        assert_eq!(fetched["name"], "accountant");

        // Duplicates and bad names.
        let dup = call(
            &app,
            Some(&admin),
            "POST",
            "/api/v1/roles",
            Some(json!({"name": "accountant"})),
        )
        .await;
        assert_eq!(problem(dup).await["status"], 409);
        let dup = call(
            &app,
            Some(&admin),
            "POST",
            "/api/v1/permissions",
            Some(json!({"name": "invoices:approve"})),
        )
        .await;
        assert_eq!(problem(dup).await["status"], 409);
        let bad = call(
            &app,
            Some(&admin),
            "POST",
            "/api/v1/roles",
            Some(json!({"name": "Bad Name"})),
        )
        .await;
        let p = problem(bad).await;
        assert_eq!(p["status"], 400);
        assert_eq!(p["errors"][0]["field"], "name");
        let bad = call(
            &app,
            Some(&admin),
            "POST",
            "/api/v1/permissions",
            Some(json!({"name": "no-colon"})),
        )
        .await;
        assert_eq!(problem(bad).await["errors"][0]["field"], "name");
        let bad = call(
            &app,
            Some(&admin),
            "PUT",
            &format!("{loc}/permissions"),
            Some(json!({"permissions": ["users:read", "nope"]})),
        )
        .await;
        assert_eq!(problem(bad).await["errors"][0]["field"], "permissions[1]");
        let unknown = call(
            &app,
            Some(&admin),
            "PUT",
            &format!("{loc}/permissions"),
            Some(json!({"permissions": ["users:read", "ghost:perm"]})),
        )
        .await;
        let p = problem(unknown).await;
        assert!(
            p["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("ghost:perm")
        );

        let role = json_of(
            call(
                &app,
                Some(&admin),
                "PUT",
                &format!("{loc}/permissions"),
                Some(json!({"permissions": ["users:read"]})),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(role["permissions"], json!(["users:read"]));
        let role = json_of(
            call(
                &app,
                Some(&admin),
                "PATCH",
                &loc,
                Some(json!({"description": "Bookkeeping", "idp_group": "finance"})),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(role["idp_group"], "finance");
        let role = json_of(
            call(
                &app,
                Some(&admin),
                "PATCH",
                &loc,
                Some(json!({"idp_group": null})),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(role["idp_group"], Value::Null);
        assert_eq!(role["description"], "Bookkeeping");

        // Grants: bob gets the role, then the role is deleted and the grant goes with it.
        let bob = token_for(&app, "bob").await;
        let bob_id = user_id(&app, &admin, "bob@example.com").await;
        let user = json_of(
            call(
                &app,
                Some(&admin),
                "PUT",
                &format!("/api/v1/users/{bob_id}/roles"),
                Some(json!({"roles": ["user", "accountant"]})),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(user["roles"], json!(["accountant", "user"]));
        assert_eq!(user["active"], true);
        assert!(user["created_at"].is_string() && user["last_login_at"].is_string());
        // Visible on bob's very next request (same instance).
        assert_eq!(
            call(&app, Some(&bob), "GET", "/api/v1/users", None)
                .await
                .status(),
            200
        );
        let filtered = json_of(
            call(
                &app,
                Some(&admin),
                "GET",
                "/api/v1/users?role=accountant",
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(filtered["total"], 1);
        assert_eq!(
            call(&app, Some(&admin), "DELETE", &loc, None)
                .await
                .status(),
            204
        );
        assert_eq!(
            call(&app, Some(&bob), "GET", "/api/v1/users", None)
                .await
                .status(),
            403
        );
        let user = json_of(
            call(
                &app,
                Some(&admin),
                "GET",
                &format!("/api/v1/users/{bob_id}"),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(user["roles"], json!(["user"]));
        assert_eq!(
            call(&app, Some(&admin), "GET", &loc, None).await.status(),
            404
        );
        let perm_loc = format!("/api/v1/permissions/{}", perm["id"].as_str().unwrap());
        assert_eq!(
            call(&app, Some(&admin), "DELETE", &perm_loc, None)
                .await
                .status(),
            204
        );

        // Lists page as documented.
        let page = json_of(
            call(
                &app,
                Some(&admin),
                "GET",
                "/api/v1/permissions?per_page=3&page=2",
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(page["page"], 2);
        assert_eq!(page["per_page"], 3);
        assert_eq!(page["total"], 7);
        assert_eq!(page["items"].as_array().unwrap().len(), 3);
        let too_big = call(
            &app,
            Some(&admin),
            "GET",
            "/api/v1/users?per_page=500",
            None,
        )
        .await;
        assert_eq!(problem(too_big).await["errors"][0]["field"], "per_page");
        let default = json_of(
            call(&app, Some(&admin), "GET", "/api/v1/roles", None).await,
            200,
        )
        .await;
        assert_eq!(default["per_page"], 50);

        // Every change is in the audit log with who did it and to what.
        let events = json_of(
            call(
                &app,
                Some(&admin),
                "GET",
                "/api/v1/audit-events?type=role.created",
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(events["total"], 1);
        assert_eq!(events["items"][0]["target"], "accountant");
        assert_eq!(events["items"][0]["user_id"], me["id"]);
        let all = json_of(
            call(
                &app,
                Some(&admin),
                "GET",
                "/api/v1/audit-events?per_page=200",
                None,
            )
            .await,
            200,
        )
        .await;
        let kinds: Vec<&str> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        for k in [
            "permission.created",
            "role.permissions_set",
            "role.updated",
            "user.roles_set",
            "role.deleted",
            "permission.deleted",
        ] {
            assert!(kinds.contains(&k), "{k} in {kinds:?}");
        }
    }
}

#[tokio::test]
async fn nobody_can_hand_out_what_they_do_not_hold() {
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    // bob may manage users and roles, but cannot read the audit log.
    let created = json_of(call(&app, Some(&admin), "POST", "/api/v1/roles",
        Some(json!({"name": "helper", "permissions": ["users:read", "users:write", "roles:read", "roles:write"]}))).await, 201).await;
    let helper = created["id"].as_str().unwrap().to_owned();
    let bob = token_for(&app, "bob").await;
    let bob_id = user_id(&app, &admin, "bob@example.com").await;
    json_of(
        call(
            &app,
            Some(&admin),
            "PUT",
            &format!("/api/v1/users/{bob_id}/roles"),
            Some(json!({"roles": ["user", "helper"]})),
        )
        .await,
        200,
    )
    .await;

    let attempts: Vec<(&str, String, Value)> = vec![
        (
            "PUT",
            format!("/api/v1/users/{bob_id}/roles"),
            json!({"roles": ["user", "helper", "admin"]}),
        ),
        (
            "POST",
            "/api/v1/roles".into(),
            json!({"name": "sneaky", "permissions": ["audit:read"]}),
        ),
        (
            "PUT",
            format!("/api/v1/roles/{helper}/permissions"),
            json!({"permissions": ["users:read", "users:write", "roles:read", "roles:write", "audit:read"]}),
        ),
    ];
    for (method, path, body) in attempts {
        let resp = call(&app, Some(&bob), method, &path, Some(body)).await;
        assert_eq!(resp.status(), 403, "{method} {path}");
        let p = problem(resp).await;
        assert!(
            p["detail"].as_str().unwrap().contains("audit:read"),
            "{method} {path}: {p}"
        );
    }
    // A role holding audit:read, made by the admin: bob can neither grant it nor make it default.
    let auditor = json_of(
        call(
            &app,
            Some(&admin),
            "POST",
            "/api/v1/roles",
            Some(json!({"name": "auditor", "permissions": ["audit:read"]})),
        )
        .await,
        201,
    )
    .await;
    let auditor_id = auditor["id"].as_str().unwrap();
    let resp = call(
        &app,
        Some(&bob),
        "PUT",
        &format!("/api/v1/users/{bob_id}/roles"),
        Some(json!({"roles": ["user", "helper", "auditor"]})),
    )
    .await;
    assert_eq!(resp.status(), 403);
    let resp = call(
        &app,
        Some(&bob),
        "PATCH",
        &format!("/api/v1/roles/{auditor_id}"),
        Some(json!({"is_default": true})),
    )
    .await;
    assert_eq!(resp.status(), 403);
    let resp = call(
        &app,
        Some(&bob),
        "PATCH",
        &format!("/api/v1/roles/{auditor_id}"),
        Some(json!({"idp_group": "users"})),
    )
    .await;
    assert_eq!(resp.status(), 403);
    // Still nothing gained.
    assert_eq!(
        call(&app, Some(&bob), "GET", "/api/v1/audit-events", None)
            .await
            .status(),
        403
    );
    // What bob does hold, he may hand out.
    let ok = call(
        &app,
        Some(&bob),
        "POST",
        "/api/v1/roles",
        Some(json!({"name": "reader", "permissions": ["users:read"]})),
    )
    .await;
    assert_eq!(ok.status(), 201);
}

#[tokio::test]
async fn built_ins_and_the_last_admin_are_protected() {
    let (app, idp, admin) = with_admin(Layout::Authentik, &[]).await;
    for name in ["admin", "user"] {
        let id = role_id(&app, &admin, name).await;
        let resp = call(
            &app,
            Some(&admin),
            "DELETE",
            &format!("/api/v1/roles/{id}"),
            None,
        )
        .await;
        assert_eq!(problem(resp).await["status"], 409, "{name}");
        let resp = call(
            &app,
            Some(&admin),
            "PATCH",
            &format!("/api/v1/roles/{id}"),
            Some(json!({"name": "renamed"})),
        )
        .await;
        assert_eq!(problem(resp).await["status"], 409, "{name}");
    }
    let admin_role = role_id(&app, &admin, "admin").await;
    let resp = call(
        &app,
        Some(&admin),
        "PUT",
        &format!("/api/v1/roles/{admin_role}/permissions"),
        Some(json!({"permissions": []})),
    )
    .await;
    assert_eq!(problem(resp).await["status"], 409);
    let perms = json_of(
        call(&app, Some(&admin), "GET", "/api/v1/permissions", None).await,
        200,
    )
    .await;
    let builtin = perms["items"][0]["id"].as_str().unwrap();
    let resp = call(
        &app,
        Some(&admin),
        "DELETE",
        &format!("/api/v1/permissions/{builtin}"),
        None,
    )
    .await;
    assert_eq!(problem(resp).await["status"], 409);

    // A bootstrap admin is refused for that reason alone: see the last admin where she is not one.
    let bootstrapped = app;
    let app = without_bootstrap_admins(&bootstrapped, &idp).await;
    let alice_id = user_id(&app, &admin, "alice@example.com").await;
    let resp = call(
        &app,
        Some(&admin),
        "PUT",
        &format!("/api/v1/users/{alice_id}/roles"),
        Some(json!({"roles": ["user"]})),
    )
    .await;
    let p = problem(resp).await;
    assert_eq!(p["status"], 409);
    assert!(p["detail"].as_str().unwrap().contains("last"));
    let resp = call(
        &app,
        Some(&admin),
        "PATCH",
        &format!("/api/v1/users/{alice_id}"),
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(problem(resp).await["status"], 409);
    let me = json_of(
        call(&app, Some(&admin), "GET", "/api/v1/me", None).await,
        200,
    )
    .await;
    assert!(me["roles"].as_array().unwrap().contains(&json!("admin")));

    // With a second admin, the first may step down.
    let _zoe = token_for(&bootstrapped, "zoe").await;
    let zoe_id = user_id(&app, &admin, "zoe.angstrom@example.com").await;
    json_of(
        call(
            &app,
            Some(&admin),
            "PUT",
            &format!("/api/v1/users/{zoe_id}/roles"),
            Some(json!({"roles": ["admin"]})),
        )
        .await,
        200,
    )
    .await;
    json_of(
        call(
            &app,
            Some(&admin),
            "PUT",
            &format!("/api/v1/users/{alice_id}/roles"),
            Some(json!({"roles": ["user"]})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        call(&app, Some(&admin), "GET", "/api/v1/roles", None)
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn ending_sessions_and_deactivating_work_through_the_api() {
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    let bob_browser = logged_in(&app, "bob").await;
    let bob_token = api_token(&app, &bob_browser).await;
    let bob_id = user_id(&app, &admin, "bob@example.com").await;
    assert_eq!(
        cookie_get(&app, &bob_browser, "/api/v1/me").await.status(),
        200
    );
    assert_eq!(
        call(&app, Some(&bob_token), "GET", "/api/v1/me", None)
            .await
            .status(),
        200
    );
    assert_eq!(
        call(
            &app,
            Some(&admin),
            "DELETE",
            &format!("/api/v1/users/{bob_id}/sessions"),
            None
        )
        .await
        .status(),
        204
    );
    assert_unauthorized(cookie_get(&app, &bob_browser, "/api/v1/me").await, "ended").await;
    // "Everywhere" includes the API tokens issued so far, though the token cache has seen this one.
    assert_unauthorized(
        call(&app, Some(&bob_token), "GET", "/api/v1/me", None).await,
        "revoked",
    )
    .await;
    // A token issued in the second of the revocation counts as revoked; a later login starts afresh.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let bob_again = logged_in(&app, "bob").await;
    let new_token = api_token(&app, &bob_again).await;
    assert_eq!(
        call(&app, Some(&new_token), "GET", "/api/v1/me", None)
            .await
            .status(),
        200
    );
    let inactive = json_of(
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
    assert_eq!(inactive["total"], 0);
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
    let inactive = json_of(
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
    assert_eq!(inactive["items"][0]["id"], bob_id.as_str());
    let back = json_of(
        call(
            &app,
            Some(&admin),
            "PATCH",
            &format!("/api/v1/users/{bob_id}"),
            Some(json!({"active": true})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(back["active"], true);
    let missing = call(
        &app,
        Some(&admin),
        "GET",
        &format!("/api/v1/users/{}", uuid::Uuid::new_v4()),
        None,
    )
    .await;
    assert_eq!(problem(missing).await["status"], 404);
    let bad_id = call(&app, Some(&admin), "GET", "/api/v1/users/not-a-uuid", None).await;
    assert_eq!(problem(bad_id).await["status"], 400);
}

#[tokio::test]
async fn provider_groups_map_to_roles_at_each_login_and_manual_grants_stay() {
    for layout in Layout::BOTH {
        let (app, idp, admin) = with_admin(layout, &[]).await;
        json_of(
            call(
                &app,
                Some(&admin),
                "POST",
                "/api/v1/roles",
                Some(json!({"name": "staff", "idp_group": "users", "permissions": ["users:read"]})),
            )
            .await,
            201,
        )
        .await;
        json_of(
            call(
                &app,
                Some(&admin),
                "POST",
                "/api/v1/roles",
                Some(json!({"name": "manual-extra", "permissions": []})),
            )
            .await,
            201,
        )
        .await;
        let bob = logged_in(&app, "bob").await;
        let me: Value = cookie_get(&app, &bob, "/api/v1/me")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["roles"], json!(["staff", "user"]), "{layout:?}");
        assert!(
            me["permissions"]
                .as_array()
                .unwrap()
                .contains(&json!("users:read"))
        );
        let grant = entity::user_roles::Entity::find()
            .all(&app.state.db)
            .await
            .unwrap();
        use sea_orm::EntityTrait;
        assert!(grant.iter().any(|g| g.source == "provider"));

        let bob_id = me["id"].as_str().unwrap().to_owned();
        json_of(
            call(
                &app,
                Some(&admin),
                "PUT",
                &format!("/api/v1/users/{bob_id}/roles"),
                Some(json!({"roles": ["user", "manual-extra"]})),
            )
            .await,
            200,
        )
        .await;
        // bob leaves the group at the provider: the mapped role goes at his next login, the manual ones stay.
        idp.patch_user(
            crate::idp::BOB_SUB,
            json!({"groups": ["other"], "roles": []}),
        )
        .await;
        let bob2 = logged_in(&app, "bob").await;
        let me: Value = cookie_get(&app, &bob2, "/api/v1/me")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["roles"], json!(["manual-extra", "user"]), "{layout:?}");
    }
    // Keycloak realm roles count as groups too.
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    json_of(
        call(
            &app,
            Some(&admin),
            "POST",
            "/api/v1/roles",
            Some(json!({"name": "kc-user", "idp_group": "user"})),
        )
        .await,
        201,
    )
    .await;
    let zoe = logged_in(&app, "zoe").await;
    let me: Value = cookie_get(&app, &zoe, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        me["roles"].as_array().unwrap().contains(&json!("kc-user")),
        "{me}"
    );
}

#[tokio::test]
async fn a_change_on_one_instance_reaches_the_others_within_seconds() {
    let (app, idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    let settings = idp.keyward_settings();
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let other = spawn_sibling(&app, &pairs).await;
    let bob = token_for(&app, "bob").await;
    // The other instance has bob cached as a plain user.
    assert_eq!(
        call(&other, Some(&bob), "GET", "/api/v1/users", None)
            .await
            .status(),
        403
    );
    let bob_id = user_id(&app, &admin, "bob@example.com").await;
    json_of(
        call(
            &app,
            Some(&admin),
            "POST",
            "/api/v1/roles",
            Some(json!({"name": "reader", "permissions": ["users:read"]})),
        )
        .await,
        201,
    )
    .await;
    json_of(
        call(
            &app,
            Some(&admin),
            "PUT",
            &format!("/api/v1/users/{bob_id}/roles"),
            Some(json!({"roles": ["user", "reader"]})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        call(&app, Some(&bob), "GET", "/api/v1/users", None)
            .await
            .status(),
        200,
        "this instance: at once"
    );
    let started = Instant::now();
    loop {
        let status = call(&other, Some(&bob), "GET", "/api/v1/users", None)
            .await
            .status();
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the other instance still says {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Deactivation propagates the same way, cached token or not.
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
    let started = Instant::now();
    loop {
        let status = call(&other, Some(&bob), "GET", "/api/v1/me", None)
            .await
            .status();
        if status == 401 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "still {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn instances_starting_together_migrate_and_seed_one_database_safely() {
    // A fresh, empty database: the instances race to create the schema and the built-ins.
    let (app, b, c) = spawn_three_on_fresh_db(&[]).await;
    for x in [&app, &b, &c] {
        assert_eq!(x.get("/readyz").await.status(), 200);
    }
    use sea_orm::{ConnectionTrait, EntityTrait};
    let migrations = app
        .state
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.state.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM seaql_migrations",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    use migration::MigratorTrait;
    let expected = i64::try_from(migration::Migrator::migrations().len()).unwrap();
    assert_eq!(migrations, expected, "each migration recorded once");
    assert_eq!(
        entity::roles::Entity::find()
            .all(&app.state.db)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        entity::permissions::Entity::find()
            .all(&app.state.db)
            .await
            .unwrap()
            .len(),
        7
    );
}

#[tokio::test]
async fn the_seed_file_is_applied_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rbac.yaml");
    std::fs::write(
        &path,
        "permissions:\n  - name: invoices:approve\n    description: Approve invoices\n  - name: invoices:read\n\
         roles:\n  - name: accountant\n    description: Books\n    permissions: [invoices:approve, invoices:read]\n    idp_group: users\n",
    )
    .unwrap();
    let seed = path.to_str().unwrap();
    let (app, idp, admin) = with_admin(Layout::Keycloak, &[("KEYWARD_RBAC_SEED", seed)]).await;
    let settings = idp.keyward_settings();
    let mut pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.push(("KEYWARD_RBAC_SEED", seed));
    let _again = spawn_sibling(&app, &pairs).await;
    let roles = json_of(
        call(&app, Some(&admin), "GET", "/api/v1/roles", None).await,
        200,
    )
    .await;
    assert_eq!(roles["total"], 3);
    let perms = json_of(
        call(&app, Some(&admin), "GET", "/api/v1/permissions", None).await,
        200,
    )
    .await;
    assert_eq!(perms["total"], 9);
    let accountant = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "accountant")
        .unwrap()
        .clone();
    assert_eq!(
        accountant["permissions"],
        json!(["invoices:approve", "invoices:read"])
    );
    // bob is in the provider's `users` group: he holds the seeded role.
    let bob = logged_in(&app, "bob").await;
    let me: Value = cookie_get(&app, &bob, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("invoices:approve"))
    );

    // Each entry applies once: a permission taken from the seeded role through the API stays taken after a
    // restart, while a pair added to the file later is applied.
    let accountant_id = accountant["id"].as_str().unwrap().to_owned();
    json_of(
        call(
            &app,
            Some(&admin),
            "PUT",
            &format!("/api/v1/roles/{accountant_id}/permissions"),
            Some(json!({"permissions": ["invoices:approve"]})),
        )
        .await,
        200,
    )
    .await;
    let _restarted = spawn_sibling(&app, &pairs).await;
    let role = |name: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let id = role_id(app, &admin, name).await;
            json_of(
                call(
                    app,
                    Some(&admin),
                    "GET",
                    &format!("/api/v1/roles/{id}"),
                    None,
                )
                .await,
                200,
            )
            .await
        }
    };
    assert_eq!(
        role("accountant").await["permissions"],
        json!(["invoices:approve"])
    );
    // Entries naming the built-ins change none of their flags; `user` only gains the listed permissions.
    std::fs::write(
        &path,
        [
            "permissions:",
            "  - name: invoices:approve",
            "    description: Approve invoices",
            "  - name: invoices:read",
            "roles:",
            "  - name: accountant",
            "    description: Books",
            "    permissions: [invoices:approve, invoices:read, users:read]",
            "    idp_group: users",
            "  - name: user",
            "    description: Hijacked",
            "    is_default: false",
            "    idp_group: everyone",
            "    permissions: [invoices:read]",
            "  - name: admin",
            "    description: Hijacked",
            "    idp_group: everyone",
        ]
        .join("\n"),
    )
    .unwrap();
    let _restarted = spawn_sibling(&app, &pairs).await;
    assert_eq!(
        role("accountant").await["permissions"],
        json!(["invoices:approve", "users:read"])
    );
    let user = role("user").await;
    assert_eq!(user["description"], "Every signed-in user");
    assert_eq!(user["is_default"], true);
    assert_eq!(user["idp_group"], Value::Null);
    assert!(
        user["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("invoices:read"))
    );
    let admin_role = role("admin").await;
    assert_eq!(admin_role["description"], "Holds every permission");
    assert_eq!(admin_role["idp_group"], Value::Null);
    // A seeded role deleted through the API is not re-created.
    assert_eq!(
        call(
            &app,
            Some(&admin),
            "DELETE",
            &format!("/api/v1/roles/{accountant_id}"),
            None
        )
        .await
        .status(),
        204
    );
    let _restarted = spawn_sibling(&app, &pairs).await;
    let roles = json_of(
        call(&app, Some(&admin), "GET", "/api/v1/roles", None).await,
        200,
    )
    .await;
    assert_eq!(roles["total"], 2, "{roles}");

    // A broken seed file stops start-up with a message naming it.
    std::fs::write(&path, "roles:\n  - name: Not Valid\n").unwrap();
    let map = [
        ("KEYWARD_RBAC_SEED".to_owned(), seed.to_owned()),
        ("KEYWARD_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "DATABASE_URL".to_owned(),
            format!("sqlite://{}/x.db?mode=rwc", dir.path().display()),
        ),
    ]
    .into();
    let config = keyward::config::Config::from_map(&map).unwrap();
    let err = keyward::app::Application::build(config)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("KEYWARD_RBAC_SEED"), "{err}");
}

#[tokio::test]
async fn the_cli_lists_grants_and_revokes_roles_for_running_instances() {
    let (app, _idp, _admin) = with_admin(Layout::Keycloak, &[]).await;
    let zoe = token_for(&app, "zoe").await;
    assert_eq!(
        call(&app, Some(&zoe), "GET", "/api/v1/users", None)
            .await
            .status(),
        403
    );
    let cli = |args: &[&str]| keyward_cli(&app, args);
    let (ok, out, err) = cli(&["roles", "list"]);
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("admin\t1 users\tbuilt-in")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("user\t2 users\tdefault,built-in")
                || l.starts_with("user\t2 users\tbuilt-in,default")),
        "{out}"
    );

    let (ok, out, err) = cli(&["roles", "grant", "ZOE.Angstrom@example.com", "admin"]);
    assert!(ok, "{err}");
    assert!(out.contains("granted admin"), "{out}");
    // The running instance picks the change up within its polling interval.
    let started = Instant::now();
    while call(&app, Some(&zoe), "GET", "/api/v1/users", None)
        .await
        .status()
        != 200
    {
        assert!(started.elapsed() < Duration::from_secs(5), "grant not seen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ok, _, err) = cli(&["roles", "grant", "nobody@example.com", "admin"]);
    assert!(!ok && err.contains("no user with email"), "{err}");
    let (ok, _, err) = cli(&["roles", "grant", "zoe.angstrom@example.com", "ghost"]);
    assert!(!ok && err.contains("no role named ghost"), "{err}");
    let (ok, out, err) = cli(&["roles", "revoke", "zoe.angstrom@example.com", "admin"]);
    assert!(ok, "{err}");
    assert!(out.contains("revoked admin"), "{out}");
    // alice is now the only admin again, and the CLI keeps her one.
    let (ok, _, err) = cli(&["roles", "revoke", "alice@example.com", "admin"]);
    assert!(!ok && err.contains("last active admin"), "{err}");
}

#[tokio::test]
async fn only_an_admin_hands_out_admin_even_to_someone_holding_every_permission() {
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    let all = [
        "users:read",
        "users:write",
        "roles:read",
        "roles:write",
        "sync:read",
        "sync:run",
        "audit:read",
    ];
    json_of(
        call(
            &app,
            Some(&admin),
            "POST",
            "/api/v1/roles",
            Some(json!({"name": "everything", "permissions": all})),
        )
        .await,
        201,
    )
    .await;
    let bob = token_for(&app, "bob").await;
    let bob_id = user_id(&app, &admin, "bob@example.com").await;
    json_of(
        call(
            &app,
            Some(&admin),
            "PUT",
            &format!("/api/v1/users/{bob_id}/roles"),
            Some(json!({"roles": ["user", "everything"]})),
        )
        .await,
        200,
    )
    .await;
    let resp = call(
        &app,
        Some(&bob),
        "PUT",
        &format!("/api/v1/users/{bob_id}/roles"),
        Some(json!({"roles": ["user", "everything", "admin"]})),
    )
    .await;
    let p = problem(resp).await;
    assert_eq!(p["status"], 403);
    assert!(p["detail"].as_str().unwrap().contains("admin"), "{p}");
    let admin_role = role_id(&app, &admin, "admin").await;
    let resp = call(
        &app,
        Some(&bob),
        "PATCH",
        &format!("/api/v1/roles/{admin_role}"),
        Some(json!({"idp_group": "users"})),
    )
    .await;
    assert_eq!(problem(resp).await["status"], 403);
    let me = json_of(call(&app, Some(&bob), "GET", "/api/v1/me", None).await, 200).await;
    assert!(!me["roles"].as_array().unwrap().contains(&json!("admin")));
    // Errors point at the entry in the request, duplicates and all.
    let resp = call(
        &app,
        Some(&admin),
        "PUT",
        &format!("/api/v1/users/{bob_id}/roles"),
        Some(json!({"roles": ["user", "user", "zzz-missing"]})),
    )
    .await;
    let p = problem(resp).await;
    assert_eq!(p["status"], 400);
    assert!(p.to_string().contains("roles[2]"), "{p}");
    // The PATCH mapping has the same bounds as the POST one.
    let resp = call(
        &app,
        Some(&admin),
        "PATCH",
        &format!("/api/v1/roles/{admin_role}"),
        Some(json!({"idp_group": ""})),
    )
    .await;
    assert_eq!(problem(resp).await["status"], 400);
}

#[tokio::test]
async fn the_last_admin_keeps_a_provider_mapped_admin_grant_when_leaving_the_group() {
    let (app, idp, alice) = with_admin(Layout::Keycloak, &[]).await;
    let admin_role = role_id(&app, &alice, "admin").await;
    // Changing the mapping removes nobody's grant by itself.
    json_of(
        call(
            &app,
            Some(&alice),
            "PATCH",
            &format!("/api/v1/roles/{admin_role}"),
            Some(json!({"idp_group": "users"})),
        )
        .await,
        200,
    )
    .await;
    let bob = token_for(&app, "bob").await;
    let me = json_of(call(&app, Some(&bob), "GET", "/api/v1/me", None).await, 200).await;
    assert!(
        me["roles"].as_array().unwrap().contains(&json!("admin")),
        "{me}"
    );
    // alice steps down (where she is no bootstrap admin); bob, an admin only through the provider, is now
    // the last one.
    let alice_id = user_id(&app, &alice, "alice@example.com").await;
    json_of(
        call(
            &without_bootstrap_admins(&app, &idp).await,
            Some(&alice),
            "PUT",
            &format!("/api/v1/users/{alice_id}/roles"),
            Some(json!({"roles": ["user"]})),
        )
        .await,
        200,
    )
    .await;
    idp.patch_user(
        crate::idp::BOB_SUB,
        json!({"groups": ["other"], "roles": []}),
    )
    .await;
    let bob = token_for(&app, "bob").await;
    let me = json_of(call(&app, Some(&bob), "GET", "/api/v1/me", None).await, 200).await;
    assert!(
        me["roles"].as_array().unwrap().contains(&json!("admin")),
        "the last admin lost admin at login: {me}"
    );
}

#[tokio::test]
async fn racing_writes_end_in_conflicts_not_errors_and_leave_an_admin() {
    let (app, idp, alice) = with_admin(Layout::Keycloak, &[]).await;
    for (path, name) in [
        ("/api/v1/roles", "twin"),
        ("/api/v1/permissions", "twin:perm"),
    ] {
        let create = || {
            call(
                &app,
                Some(&alice),
                "POST",
                path,
                Some(json!({"name": name})),
            )
        };
        let statuses: Vec<u16> = futures_util::future::join_all((0..4).map(|_| create()))
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{path}: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| [201, 409].contains(s)),
            "{path}: {statuses:?}"
        );
    }

    // Two admins deactivating each other at once: one of them stays.
    let zoe = token_for(&app, "zoe").await;
    let zoe_id = user_id(&app, &alice, "zoe.angstrom@example.com").await;
    let alice_id = user_id(&app, &alice, "alice@example.com").await;
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
    // Neither may be a bootstrap admin, whom the API refuses to deactivate anyway.
    let app = without_bootstrap_admins(&app, &idp).await;
    let off = json!({"active": false});
    let (zoe_path, alice_path) = (
        format!("/api/v1/users/{zoe_id}"),
        format!("/api/v1/users/{alice_id}"),
    );
    let (a, z) = tokio::join!(
        call(&app, Some(&alice), "PATCH", &zoe_path, Some(off.clone())),
        call(&app, Some(&zoe), "PATCH", &alice_path, Some(off.clone())),
    );
    let statuses = [a.status().as_u16(), z.status().as_u16()];
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    let active_admins = keyward::rbac::store::admin_holders(&app.state.db)
        .await
        .unwrap();
    assert_eq!(active_admins.len(), 1);
}

#[tokio::test]
async fn absurd_page_numbers_are_refused_not_crashed_on() {
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    for path in [
        "/api/v1/roles",
        "/api/v1/permissions",
        "/api/v1/users",
        "/api/v1/audit-events",
        "/api/v1/sync/runs",
    ] {
        let resp = call(
            &app,
            Some(&admin),
            "GET",
            &format!("{path}?page=18446744073709551615&per_page=200"),
            None,
        )
        .await;
        assert_eq!(problem(resp).await["status"], 400, "{path}");
        let last = json_of(
            call(
                &app,
                Some(&admin),
                "GET",
                &format!("{path}?page=1000000&per_page=200"),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(last["items"], json!([]), "{path}");
    }
}

/// `User.grants` names where each grant comes from, and replacing a user's manual roles leaves the default
/// and provider-mapped grants as they are (a form built on `roles` alone would have made them manual).
#[tokio::test]
async fn grants_name_their_source_and_replacing_manual_roles_keeps_the_others() {
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    let created = call(
        &app,
        Some(&admin),
        "POST",
        "/api/v1/roles",
        Some(json!({"name": "staff", "idp_group": "users"})),
    )
    .await;
    assert_eq!(created.status(), 201);
    call(
        &app,
        Some(&admin),
        "POST",
        "/api/v1/roles",
        Some(json!({"name": "auditor"})),
    )
    .await;
    // alice logs in again: her provider groups now map to `staff`.
    let admin = token_for(&app, "alice").await;
    let alice = user_id(&app, &admin, "alice@example.com").await;
    let grants_of = |user: Value| user["grants"].clone();
    let before = json_of(
        call(
            &app,
            Some(&admin),
            "GET",
            &format!("/api/v1/users/{alice}"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        grants_of(before),
        json!([
            {"role": "admin", "source": "manual"},
            {"role": "staff", "source": "provider"},
            {"role": "user", "source": "default"}
        ])
    );
    let after = json_of(
        call(
            &app,
            Some(&admin),
            "PUT",
            &format!("/api/v1/users/{alice}/roles"),
            Some(json!({"roles": ["admin", "auditor"]})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(after["roles"], json!(["admin", "auditor", "staff", "user"]));
    assert_eq!(
        grants_of(after),
        json!([
            {"role": "admin", "source": "manual"},
            {"role": "auditor", "source": "manual"},
            {"role": "staff", "source": "provider"},
            {"role": "user", "source": "default"}
        ])
    );

    // The migration that named default grants works both ways on this database: down turns them back into
    // manual ones, up finds them again. The later migrations go down and up with it; until they are back the
    // API cannot serve, so the grants are read from the table.
    use migration::MigratorTrait;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let db = app.state.db.pool();
    let migrations = migration::Migrator::migrations();
    let position = migrations
        .iter()
        .position(|m| m.name() == "m20261201_000006_default_grant_source")
        .unwrap();
    let steps = u32::try_from(migrations.len() - position).unwrap();
    migration::Migrator::down(db, Some(steps)).await.unwrap();
    let alice_id = uuid::Uuid::parse_str(&alice).unwrap();
    let sources: Vec<String> = entity::user_roles::Entity::find()
        .filter(entity::user_roles::Column::UserId.eq(alice_id))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.source)
        .collect();
    assert!(sources.iter().all(|s| s != "default"), "{sources:?}");
    migration::Migrator::up(db, None).await.unwrap();
    // Going down and up again gave the sessions new ids: a new token names the session as it is now.
    let admin = token_for(&app, "alice").await;
    let listed = json_of(
        call(&app, Some(&admin), "GET", "/api/v1/users?email=alice", None).await,
        200,
    )
    .await;
    assert!(
        listed["items"][0]["grants"]
            .as_array()
            .unwrap()
            .contains(&json!({"role": "user", "source": "default"})),
        "{listed}"
    );
}
