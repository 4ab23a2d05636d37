//! Every way a session ends makes the API tokens minted from it fail at once on the instance that ended it
//! and within 5 s on another instance of the same database: logout, ending it from the session list, the
//! provider's back-channel logout, an admin's "end sessions" and deactivation. Each prints its delay.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, spawn_app_with_idp},
    idp::{Layout, TestIdp},
    login::{api_token, assert_unauthorized, bearer_get, cookie_get, cookie_post, logged_in},
    sessions::{delete_session, sibling_of, until_refused},
};

const BOUND: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
enum Ending {
    Logout,
    FromTheSessionList,
    BackChannel,
    AdminEndsSessions,
    AdminDeactivates,
}

async fn admin_call(
    app: &TestApp,
    admin: &reqwest::Client,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) {
    let mut req = admin.request(method, app.url(path)).header("X-CSRF", "1");
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
}

/// Ends bob's session (browser `b`) on `app` the way `ending` says.
async fn end(
    app: &TestApp,
    idp: &TestIdp,
    admin: &reqwest::Client,
    b: &reqwest::Client,
    ending: Ending,
) {
    let me: Value = cookie_get(app, b, "/api/v1/me").await.json().await.unwrap();
    let bob = me["id"].as_str().unwrap().to_owned();
    match ending {
        Ending::Logout => assert_eq!(cookie_post(app, b, "/auth/logout").await.status(), 200),
        Ending::FromTheSessionList => {
            let list: Value = cookie_get(app, b, "/auth/sessions")
                .await
                .json()
                .await
                .unwrap();
            let id = list["items"][0]["id"].as_str().unwrap().to_owned();
            assert_eq!(delete_session(app, b, &id).await.status(), 204);
        }
        // The provider posts the logout token to `app`, the instance its client names.
        Ending::BackChannel => idp.sign_out(b).await,
        Ending::AdminEndsSessions => {
            let path = format!("/api/v1/users/{bob}/sessions");
            admin_call(app, admin, reqwest::Method::DELETE, &path, None).await;
        }
        Ending::AdminDeactivates => {
            let path = format!("/api/v1/users/{bob}");
            admin_call(
                app,
                admin,
                reqwest::Method::PATCH,
                &path,
                Some(json!({"active": false})),
            )
            .await;
        }
    }
}

#[tokio::test]
async fn every_way_a_session_ends_refuses_its_tokens_here_at_once_and_on_another_instance_within_5_s()
 {
    let admins = [("KEYWARD_BOOTSTRAP_ADMINS", "alice@example.com")];
    for ending in [
        Ending::Logout,
        Ending::FromTheSessionList,
        Ending::BackChannel,
        Ending::AdminEndsSessions,
        Ending::AdminDeactivates,
    ] {
        // Fresh instances each time: the other instance must first know bob's session from its cache (the
        // slow path), not look up a session it has never seen in the database (the quick one).
        let (app, idp) = spawn_app_with_idp(Layout::Keycloak, &admins, &[]).await;
        let sibling = sibling_of(&app, &idp, &admins).await;
        let admin = logged_in(&app, "alice").await;
        let b = logged_in(&app, "bob").await;
        let token = api_token(&app, &b).await;
        for instance in [&app, &sibling] {
            let status = bearer_get(instance, &token, "/api/v1/me").await.status();
            assert_eq!(status, 200, "{ending:?}");
        }
        end(&app, &idp, &admin, &b, ending).await;
        let here = bearer_get(&app, &token, "/api/v1/me").await;
        assert_unauthorized(here, &format!("{ending:?} here")).await;
        let took = until_refused(&sibling, &token, BOUND).await;
        println!("{ending:?}: the token was refused on the other instance after {took:?}");
    }
}
