//! Sessions end everywhere when they end anywhere: back-channel logout from the test provider, API tokens that
//! die with their session (on a second instance too), the absolute session lifetime, and the session lists.

use std::time::{Duration, Instant};

use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, header, problem, spawn_app_with, spawn_app_with_idp, spawn_sibling},
    idp::{Layout, TestIdp},
    login::{
        api_token, assert_unauthorized, audit_kinds, bearer_get, cookie_get, cookie_post, logged_in,
    },
};

const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

async fn post_logout_token(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/auth/backchannel-logout"))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap()
}

/// The only session in the database (its provider `sid` and public id).
async fn only_session(app: &TestApp) -> entity::sessions::Model {
    let mut all = entity::sessions::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    all.remove(0)
}

/// A second instance on `app`'s database, logging in through the same provider.
pub(crate) async fn sibling_of(app: &TestApp, idp: &TestIdp, extra: &[(&str, &str)]) -> TestApp {
    let owned = idp.keyward_settings();
    let mut pairs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.extend_from_slice(extra);
    spawn_sibling(app, &pairs).await
}

/// Claims of a logout token the provider would send for `sid`.
fn logout_claims(idp: &TestIdp, sid: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": idp.issuer, "aud": "keyward", "iat": now, "exp": now + 120,
        "jti": uuid::Uuid::new_v4().to_string(), "sid": sid,
        "events": { LOGOUT_EVENT: {} },
    })
}

#[tokio::test]
async fn signing_out_at_the_provider_ends_the_session_and_its_tokens_on_both_layouts() {
    for layout in Layout::BOTH {
        let (app, idp) = spawn_app_with_idp(layout, &[], &[]).await;
        let b = logged_in(&app, "alice").await;
        let token = api_token(&app, &b).await;
        assert!(
            only_session(&app).await.provider_sid.is_some(),
            "{layout:?}: sid kept"
        );
        idp.sign_out(&b).await;
        assert_eq!(
            idp.stats().await["backchannel_logouts"]["ok"],
            1,
            "{layout:?}"
        );
        assert_unauthorized(cookie_get(&app, &b, "/api/v1/me").await, "session").await;
        assert_unauthorized(bearer_get(&app, &token, "/api/v1/me").await, "token").await;
        let kinds = audit_kinds(&app).await;
        assert!(
            kinds.contains(&("session.backchannel_logout".into(), "success".into())),
            "{layout:?}: {kinds:?}"
        );
    }
}

#[tokio::test]
async fn logout_tokens_are_checked_as_the_spec_says_and_never_replayed() {
    let (app, idp) = spawn_app_with_idp(Layout::Keycloak, &[], &[]).await;
    let b = logged_in(&app, "alice").await;
    let sid = only_session(&app).await.provider_sid.unwrap();
    let good = logout_claims(&idp, &sid);
    let now = chrono::Utc::now().timestamp();
    let broken: Vec<(&str, Value)> = vec![
        ("another audience", json!({"aud": "someone-else"})),
        ("another issuer", json!({"iss": "https://evil.example"})),
        ("expired", json!({"exp": now - 3600, "iat": now - 4000})),
        ("issued in the future", json!({"iat": now + 3600})),
        ("no logout event", json!({"events": {"urn:other": {}}})),
        ("a nonce", json!({"nonce": "n"})),
        ("no jti", json!({"jti": null})),
        ("neither sid nor sub", json!({"sid": null})),
    ];
    for (what, change) in broken {
        let mut claims = good.clone();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        let resp = post_logout_token(&app, &idp.sign(claims).await).await;
        assert_eq!(resp.status(), 400, "{what}");
        assert_eq!(header(&resp, "cache-control"), Some("no-store"), "{what}");
        let body = problem(resp).await;
        assert_eq!(
            body["type"], "urn:keyward:problem:logout-token-invalid",
            "{what}"
        );
    }
    // Unsigned (`alg: none`), not a JWT, no form field, not a form: 400, never 500.
    let b64 = |v: Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let unsigned = format!("{}.{}.", b64(json!({"alg": "none"})), b64(good.clone()));
    for token in [unsigned.as_str(), "garbage"] {
        let resp = post_logout_token(&app, token).await;
        assert_eq!(resp.status(), 400, "{token}");
        assert_eq!(header(&resp, "cache-control"), Some("no-store"));
    }
    for (content_type, body) in [
        ("application/x-www-form-urlencoded", "token=x"),
        ("application/x-www-form-urlencoded", "%%%"),
        ("application/json", r#"{"logout_token":"x"}"#),
    ] {
        let resp = app
            .post_raw("/auth/backchannel-logout", content_type, body)
            .await;
        assert!(
            resp.status().is_client_error(),
            "{content_type} {body}: {}",
            resp.status()
        );
        assert_eq!(header(&resp, "cache-control"), Some("no-store"));
        problem(resp).await;
    }
    assert_eq!(
        cookie_get(&app, &b, "/api/v1/me").await.status(),
        200,
        "nothing ended yet"
    );

    let token = idp.sign(good).await;
    let resp = post_logout_token(&app, &token).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "cache-control"), Some("no-store"));
    assert_unauthorized(cookie_get(&app, &b, "/api/v1/me").await, "ended").await;
    // The same token again is a replay, on this instance and on any other.
    let sibling = sibling_of(&app, &idp, &[]).await;
    for instance in [&app, &sibling] {
        let resp = post_logout_token(instance, &token).await;
        assert_eq!(resp.status(), 400, "replay");
        assert!(
            problem(resp).await["detail"]
                .as_str()
                .unwrap()
                .contains("jti")
        );
    }
    // A provider session Keyward does not know is processed all the same.
    let unknown = idp.sign(logout_claims(&idp, "no-such-sid")).await;
    assert_eq!(post_logout_token(&app, &unknown).await.status(), 200);
}

#[tokio::test]
async fn a_logout_token_naming_only_the_user_ends_all_their_sessions() {
    let (app, idp) = spawn_app_with_idp(Layout::Authentik, &[], &[]).await;
    let b1 = logged_in(&app, "bob").await;
    let b2 = logged_in(&app, "bob").await;
    let alice = logged_in(&app, "alice").await;
    let mut claims = logout_claims(&idp, "");
    claims.as_object_mut().unwrap().remove("sid");
    claims["sub"] = json!(crate::idp::BOB_SUB);
    let resp = post_logout_token(&app, &idp.sign(claims).await).await;
    assert_eq!(resp.status(), 200);
    for b in [&b1, &b2] {
        assert_unauthorized(cookie_get(&app, b, "/api/v1/me").await, "bob").await;
    }
    assert_eq!(cookie_get(&app, &alice, "/api/v1/me").await.status(), 200);
}

#[tokio::test]
async fn back_channel_logout_skips_the_login_budget_and_cors() {
    let app = spawn_app_with(&[
        ("KEYWARD_AUTH_RATE_LIMIT_PER_MINUTE", "1"),
        ("KEYWARD_AUTH_RATE_LIMIT_BURST", "2"),
        ("KEYWARD_CORS_ORIGINS", "https://spa.example.com"),
    ])
    .await;
    for _ in 0..5 {
        let resp = app
            .client
            .post(app.url("/auth/backchannel-logout"))
            .header("Origin", "https://spa.example.com")
            .form(&[("logout_token", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "not rate-limited");
        assert_eq!(header(&resp, "access-control-allow-origin"), None);
    }
    let statuses = [
        app.get("/auth/session").await.status(),
        app.get("/auth/session").await.status(),
        app.get("/auth/session").await.status(),
    ];
    assert_eq!(
        statuses[2], 429,
        "the login budget still applies: {statuses:?}"
    );
}

/// Polls until `path` answers 401 to `token`; returns how long it took.
pub(crate) async fn until_refused(app: &TestApp, token: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let status = bearer_get(app, token, "/api/v1/me").await.status();
        if status == 401 {
            return started.elapsed();
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < within,
            "still accepted after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_api_token_dies_with_its_session_on_every_instance() {
    let (app, idp) = spawn_app_with_idp(Layout::Keycloak, &[], &[]).await;
    let sibling = sibling_of(&app, &idp, &[]).await;
    let b = logged_in(&app, "alice").await;
    let token = api_token(&app, &b).await;
    // Accepted on both, so both have it in their caches.
    assert_eq!(bearer_get(&app, &token, "/api/v1/me").await.status(), 200);
    assert_eq!(
        bearer_get(&sibling, &token, "/api/v1/me").await.status(),
        200
    );
    idp.reset_stats().await;
    let resp = cookie_post(&app, &b, "/auth/logout").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        idp.stats().await["revocations"],
        1,
        "the refresh token is revoked (RFC 7009)"
    );
    assert_unauthorized(bearer_get(&app, &token, "/api/v1/me").await, "at once here").await;
    let took = until_refused(&sibling, &token, Duration::from_secs(5)).await;
    println!("an API token was refused on the second instance {took:?} after logout");
}

#[tokio::test]
async fn using_a_token_does_not_keep_its_session_alive() {
    let (app, idp) =
        spawn_app_with_idp(Layout::Keycloak, &[("KEYWARD_SESSION_TTL", "3s")], &[]).await;
    let sibling = sibling_of(&app, &idp, &[("KEYWARD_SESSION_TTL", "3s")]).await;
    let b = logged_in(&app, "alice").await;
    let token = api_token(&app, &b).await;
    assert_eq!(
        bearer_get(&sibling, &token, "/api/v1/me").await.status(),
        200
    );
    // The token is good for minutes, its session for 3 s of idleness, which token use does not interrupt.
    let took = until_refused(&app, &token, Duration::from_secs(6)).await;
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert_unauthorized(bearer_get(&sibling, &token, "/api/v1/me").await, "sibling").await;
}

#[tokio::test]
async fn a_session_ends_at_its_maximum_lifetime_however_much_it_is_used() {
    let (app, _idp) = spawn_app_with_idp(
        Layout::Keycloak,
        &[
            ("KEYWARD_SESSION_TTL", "1h"),
            ("KEYWARD_SESSION_MAX_LIFETIME", "4s"),
        ],
        &[],
    )
    .await;
    let b = logged_in(&app, "alice").await;
    let session: Value = cookie_get(&app, &b, "/auth/session")
        .await
        .json()
        .await
        .unwrap();
    let expires_at: chrono::DateTime<chrono::Utc> =
        session["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires_at <= chrono::Utc::now() + chrono::Duration::seconds(4));
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        if cookie_get(&app, &b, "/api/v1/me").await.status() == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(6), "still alive");
    assert_unauthorized(cookie_get(&app, &b, "/api/v1/me").await, "ended").await;
}

pub(crate) async fn delete_session(
    app: &TestApp,
    b: &reqwest::Client,
    id: &str,
) -> reqwest::Response {
    b.delete(app.url(&format!("/auth/sessions/{id}")))
        .header("X-CSRF", "1")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn people_see_and_end_their_own_sessions_and_admins_see_anyones() {
    let (app, _idp) = spawn_app_with_idp(
        Layout::Keycloak,
        &[("KEYWARD_BOOTSTRAP_ADMINS", "alice@example.com")],
        &[],
    )
    .await;
    let laptop = logged_in(&app, "bob").await;
    let phone = logged_in(&app, "bob").await;
    let phone_token = api_token(&app, &phone).await;
    let list: Value = cookie_get(&app, &laptop, "/auth/sessions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 2, "{list}");
    assert_eq!(
        (list["page"].clone(), list["per_page"].clone()),
        (json!(1), json!(50))
    );
    let items = list["items"].as_array().unwrap();
    for s in items {
        for field in ["id", "created_at", "last_seen_at", "expires_at", "current"] {
            assert!(!s[field].is_null(), "{field}: {s}");
        }
        uuid::Uuid::parse_str(s["id"].as_str().unwrap()).unwrap();
        let at = s["expires_at"].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(at).unwrap();
    }
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    // An API token knows its session too.
    let by_token: Value = bearer_get(&app, &phone_token, "/auth/sessions")
        .await
        .json()
        .await
        .unwrap();
    let phone_id = by_token["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Someone else's session, an unknown one, no X-CSRF, not a UUID.
    let alice = logged_in(&app, "alice").await;
    assert_eq!(delete_session(&app, &alice, &phone_id).await.status(), 404);
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(delete_session(&app, &laptop, &unknown).await.status(), 404);
    let no_csrf = laptop
        .delete(app.url(&format!("/auth/sessions/{phone_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    let resp = delete_session(&app, &laptop, "not-a-uuid").await;
    assert_eq!(resp.status(), 400);
    problem(resp).await;

    // Ending the phone's session from the laptop ends the phone's token with it.
    assert_eq!(delete_session(&app, &laptop, &phone_id).await.status(), 204);
    assert_unauthorized(cookie_get(&app, &phone, "/api/v1/me").await, "phone").await;
    assert_unauthorized(bearer_get(&app, &phone_token, "/api/v1/me").await, "token").await;
    assert_eq!(cookie_get(&app, &laptop, "/api/v1/me").await.status(), 200);
    assert!(
        audit_kinds(&app)
            .await
            .contains(&("session.ended".into(), "success".into()))
    );

    // Admins list anyone's sessions; others may not.
    let bob: Value = cookie_get(&app, &laptop, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/users/{}/sessions", bob["id"].as_str().unwrap());
    let resp = cookie_get(&app, &alice, &path).await;
    assert_eq!(resp.status(), 200);
    let list: Value = resp.json().await.unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["current"], false);
    assert_eq!(cookie_get(&app, &laptop, &path).await.status(), 403);
    let missing = format!("/api/v1/users/{unknown}/sessions");
    assert_eq!(cookie_get(&app, &alice, &missing).await.status(), 404);
}
