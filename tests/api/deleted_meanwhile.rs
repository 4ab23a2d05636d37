//! A role or permission deleted by a concurrent request after another request read it and before that one
//! writes: 404 or 409, never 500 (schemathesis found `PATCH /api/v1/roles/{id}` answering 500 "None of the
//! records are updated" with two workers creating, changing and deleting roles).

use std::time::Duration;

use entity::{permissions, roles};
use sea_orm::{EntityTrait, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{TestApp, problem},
    idp::Layout,
    rbac::{json_of, token_for, user_id, with_admin},
};

enum Row {
    Role(Uuid),
    Permission(Uuid),
}

/// Sends the request while a transaction that deletes `row` is open, and commits it once the request has read
/// the row and waits for the write lock it needs (the delete holds it on both databases).
async fn answer_while_deleting(
    app: &TestApp,
    row: Row,
    request: reqwest::RequestBuilder,
) -> reqwest::Response {
    let txn = app.state.db.begin().await.unwrap();
    match row {
        Row::Role(id) => roles::Entity::delete_by_id(id).exec(&txn).await.unwrap(),
        Row::Permission(id) => permissions::Entity::delete_by_id(id)
            .exec(&txn)
            .await
            .unwrap(),
    };
    let pending = tokio::spawn(request.send());
    tokio::time::sleep(Duration::from_millis(500)).await;
    txn.commit().await.unwrap();
    pending.await.unwrap().unwrap()
}

async fn new_role(app: &TestApp, token: &str, name: &str) -> Uuid {
    let role = json_of(
        app.client
            .post(app.url("/api/v1/roles"))
            .bearer_auth(token)
            .json(&json!({"name": name, "permissions": ["users:read"]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    role["id"].as_str().unwrap().parse().unwrap()
}

async fn assert_problem(resp: reqwest::Response, status: u16, what: &str) {
    let p: Value = problem(resp).await;
    assert_eq!(p["status"], status, "{what}: {p}");
    assert!(
        p["detail"].as_str().unwrap().contains("deleted meanwhile"),
        "{what}: {p}"
    );
}

#[tokio::test]
async fn a_role_or_permission_deleted_meanwhile_is_a_404_or_409_not_a_500() {
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    let _bob = token_for(&app, "bob").await;
    let bob_id = user_id(&app, &admin, "bob@example.com").await;

    let id = new_role(&app, &admin, "renamed-meanwhile").await;
    let patch = app
        .client
        .patch(app.url(&format!("/api/v1/roles/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"description": "d"}));
    let resp = answer_while_deleting(&app, Row::Role(id), patch).await;
    assert_problem(resp, 404, "PATCH role").await;

    let id = new_role(&app, &admin, "relinked-meanwhile").await;
    let put = app
        .client
        .put(app.url(&format!("/api/v1/roles/{id}/permissions")))
        .bearer_auth(&admin)
        .json(&json!({"permissions": ["users:read", "roles:read"]}));
    let resp = answer_while_deleting(&app, Row::Role(id), put).await;
    assert_problem(resp, 409, "PUT role permissions").await;

    let id = new_role(&app, &admin, "granted-meanwhile").await;
    let put = app
        .client
        .put(app.url(&format!("/api/v1/users/{bob_id}/roles")))
        .bearer_auth(&admin)
        .json(&json!({"roles": ["user", "granted-meanwhile"]}));
    let resp = answer_while_deleting(&app, Row::Role(id), put).await;
    assert_problem(resp, 409, "PUT user roles").await;

    let perm = json_of(
        app.client
            .post(app.url("/api/v1/permissions"))
            .bearer_auth(&admin)
            .json(&json!({"name": "gone:soon"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let perm_id = perm["id"].as_str().unwrap().parse().unwrap();
    let post = app
        .client
        .post(app.url("/api/v1/roles"))
        .bearer_auth(&admin)
        .json(&json!({"name": "linked-meanwhile", "permissions": ["gone:soon"]}));
    let resp = answer_while_deleting(&app, Row::Permission(perm_id), post).await;
    assert_problem(resp, 409, "POST role").await;
}
