//! The login flow against the real test identity provider, in its Keycloak and Authentik layouts: the happy
//! path end to end, and every way a login or a credential can go wrong.

use keyward::auth::api_tokens::ApiClaims;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, header, problem, spawn_app, spawn_app_with_idp},
    idp::{
        ALICE_SUB, BOB_SUB, Layout, NOEMAIL_SUB, ZOE_SUB, abort_login, browser, complete_login,
        jwt_claims, query_params,
    },
};

/// Sends the browser to `/auth/login` and returns the provider URL Keyward redirected it to.
pub(crate) async fn start_login(
    app: &TestApp,
    browser: &reqwest::Client,
    return_to: &str,
) -> String {
    let resp = browser
        .get(app.url(&format!("/auth/login?return_to={}", urlencode(return_to))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "{:?}", resp.text().await);
    let location = header(&resp, "location").unwrap().to_owned();
    assert_eq!(header(&resp, "cache-control"), Some("no-store"));
    location
}

pub(crate) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A whole login as a browser does it; returns Keyward's answer to the callback.
pub(crate) async fn login_as(
    app: &TestApp,
    browser: &reqwest::Client,
    user: &str,
) -> reqwest::Response {
    let authorize = start_login(app, browser, "/after").await;
    let callback = complete_login(browser, &authorize, user, &format!("{user}-pw"))
        .await
        .expect("the provider accepts the credentials");
    browser.get(callback).send().await.unwrap()
}

pub(crate) async fn logged_in(app: &TestApp, user: &str) -> reqwest::Client {
    let b = browser();
    let resp = login_as(app, &b, user).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(header(&resp, "location"), Some(app.url("/after").as_str()));
    b
}

pub(crate) async fn cookie_get(
    app: &TestApp,
    b: &reqwest::Client,
    path: &str,
) -> reqwest::Response {
    b.get(app.url(path))
        .header("X-CSRF", "1")
        .send()
        .await
        .unwrap()
}

pub(crate) async fn cookie_post(
    app: &TestApp,
    b: &reqwest::Client,
    path: &str,
) -> reqwest::Response {
    b.post(app.url(path))
        .header("X-CSRF", "1")
        .send()
        .await
        .unwrap()
}

fn clears_the_session_cookie(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("keyward_session=;"))
}

pub(crate) async fn bearer_get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn api_token(app: &TestApp, b: &reqwest::Client) -> String {
    let resp = cookie_post(app, b, "/auth/token").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A 401 problem with the Bearer challenge.
pub(crate) async fn assert_unauthorized(resp: reqwest::Response, what: &str) -> Value {
    assert_eq!(resp.status(), 401, "{what}");
    assert!(
        header(&resp, "www-authenticate")
            .unwrap()
            .starts_with("Bearer realm=\"keyward\""),
        "{what}"
    );
    let body = problem(resp).await;
    assert_eq!(body["type"], "urn:keyward:problem:unauthorized", "{what}");
    body
}

pub(crate) async fn audit_kinds(app: &TestApp) -> Vec<(String, String)> {
    entity::audit_events::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.outcome))
        .collect()
}

pub(crate) async fn metric(app: &TestApp, line_start: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn the_whole_flow_works_on_both_layouts() {
    for layout in Layout::BOTH {
        let (app, idp) = spawn_app_with_idp(layout, &[], &[]).await;
        let b = browser();

        let authorize = start_login(&app, &b, "/after").await;
        let auth_endpoint = idp.discovery().await["authorization_endpoint"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(authorize.starts_with(&auth_endpoint), "{authorize}");
        let q = query_params(&authorize);
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["redirect_uri"], app.url("/auth/callback"));
        assert!(q["state"].len() >= 32 && q["nonce"].len() >= 32);
        assert!(q["scope"].contains("openid") && q["scope"].contains("email"));

        let callback = complete_login(&b, &authorize, "alice", "alice-pw")
            .await
            .unwrap();
        let resp = b.get(&callback).send().await.unwrap();
        assert_eq!(resp.status(), 302, "{layout:?}");
        assert_eq!(header(&resp, "location"), Some(app.url("/after").as_str()));
        let cookies: Vec<&str> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        let session_cookie = cookies
            .iter()
            .find(|c| c.starts_with("keyward_session="))
            .expect("session cookie set");
        assert!(session_cookie.contains("HttpOnly"));
        assert!(session_cookie.contains("SameSite=Lax"));
        assert!(session_cookie.contains("Path=/"));
        assert!(!session_cookie.contains("Secure"), "plain http in tests");

        let session: Value = b
            .get(app.url("/auth/session"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(session["authenticated"], true);
        assert_eq!(session["user"]["email"], "alice@example.com");
        let expires = session["expires_at"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(expires)
                .unwrap()
                .offset()
                .local_minus_utc()
                == 0
        );

        let me: Value = cookie_get(&app, &b, "/api/v1/me")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["email"], "alice@example.com");
        assert_eq!(me["email_verified"], true);
        assert_eq!(me["display_name"], "Alice Admin");
        assert_eq!(me["username"], "alice");
        assert_eq!(
            me["avatar_url"],
            "http://127.0.0.1:8080/static/avatars/alice.png"
        );
        let user_id = me["id"].as_str().unwrap().to_owned();
        let row = entity::users::Entity::find()
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.subject, ALICE_SUB);
        assert_eq!(row.issuer, idp.issuer);

        let resp = cookie_post(&app, &b, "/auth/token").await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 600);
        let token = body["access_token"].as_str().unwrap();
        let claims = jwt_claims(token);
        assert_eq!(claims["iss"], app.address);
        assert_eq!(claims["aud"], app.address);
        assert_eq!(claims["sub"], user_id);
        assert_eq!(claims["email"], "alice@example.com");
        assert_eq!(claims["name"], "Alice Admin");
        assert!(claims["roles"].is_array());
        assert!(claims["jti"].is_string());
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            600
        );
        let header_json = jwt_header(token);
        assert_eq!(header_json["alg"], "EdDSA");
        let jwks: Value = app
            .get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(jwks["keys"][0]["kid"], header_json["kid"]);
        assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
        assert!(jwks["keys"][0].get("d").is_none(), "no private parts");

        let me: Value = bearer_get(&app, token, "/api/v1/me")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            me["id"], user_id,
            "bearer calls need no cookie and no X-CSRF"
        );

        let resp = cookie_post(&app, &b, "/auth/logout").await;
        assert_eq!(resp.status(), 200);
        assert!(
            clears_the_session_cookie(&resp),
            "the session cookie is cleared"
        );
        let body: Value = resp.json().await.unwrap();
        let logout_url = body["logout_url"].as_str().unwrap();
        let end_session = idp.discovery().await["end_session_endpoint"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(logout_url.starts_with(&end_session), "{logout_url}");
        let q = query_params(logout_url);
        assert!(q.contains_key("id_token_hint"));
        assert_eq!(q["post_logout_redirect_uri"], app.url("/"));
        // The provider accepts it and ends its own session.
        let resp = b.get(logout_url).send().await.unwrap();
        assert_eq!(resp.status(), 303, "{layout:?}");
        assert!(
            header(&resp, "location")
                .unwrap()
                .starts_with(&app.url("/"))
        );

        let session: Value = b
            .get(app.url("/auth/session"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(session, json!({"authenticated": false}));
        assert_unauthorized(cookie_get(&app, &b, "/api/v1/me").await, "after logout").await;

        let kinds = audit_kinds(&app).await;
        for kind in ["login", "token.issued", "logout"] {
            assert!(
                kinds.contains(&(kind.to_owned(), "success".to_owned())),
                "{kind} audited: {kinds:?}"
            );
        }
        let event = entity::audit_events::Entity::find()
            .filter(entity::audit_events::Column::Kind.eq("login"))
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(event.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(event.user_id.map(|u| u.to_string()), Some(user_id));
        assert_eq!(metric(&app, "keyward_logins_total").await, 1.0);
        assert_eq!(metric(&app, "keyward_api_tokens_issued_total").await, 1.0);
    }
}

fn jwt_header(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn first_login_creates_the_user_and_later_logins_refresh_the_metadata() {
    for layout in Layout::BOTH {
        let (app, idp) = spawn_app_with_idp(layout, &[], &[]).await;
        let b = logged_in(&app, "zoe").await;
        let me: Value = cookie_get(&app, &b, "/api/v1/me")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["display_name"], "Zoë Ångström-Łukasiewicz");
        let first = entity::users::Entity::find()
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.subject, ZOE_SUB);

        idp.patch_user(
            ZOE_SUB,
            json!({"name": null, "given_name": "Zoë", "family_name": "Nowak", "email": "zoe.nowak@example.com"}),
        )
        .await;
        let b2 = logged_in(&app, "zoe").await;
        let me2: Value = cookie_get(&app, &b2, "/api/v1/me")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me2["id"], me["id"], "same user: keyed by issuer and sub");
        assert_eq!(me2["display_name"], "Zoë Nowak", "given + family name");
        assert_eq!(me2["email"], "zoe.nowak@example.com");
        let second = entity::users::Entity::find_by_id(first.id)
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        assert!(second.last_login_at > first.last_login_at);
        assert_eq!(
            entity::users::Entity::find()
                .all(&app.state.db)
                .await
                .unwrap()
                .len(),
            1
        );

        let b = logged_in(&app, "noemail").await;
        let me: Value = cookie_get(&app, &b, "/api/v1/me")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["email"], Value::Null);
        assert_eq!(me["email_verified"], false);
        assert_eq!(me["avatar_url"], Value::Null);
        let row = entity::users::Entity::find()
            .filter(entity::users::Column::Subject.eq(NOEMAIL_SUB))
            .one(&app.state.db)
            .await
            .unwrap();
        assert!(row.is_some());

        let b = logged_in(&app, "bob").await;
        let me: Value = cookie_get(&app, &b, "/api/v1/me")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["email_verified"], false);
        assert!(
            me["avatar_url"]
                .as_str()
                .unwrap()
                .starts_with("https://www.gravatar.com/avatar/"),
            "no picture at the provider: Gravatar"
        );
        let _ = BOB_SUB;
    }
}

#[tokio::test]
async fn callbacks_with_bad_state_are_refused_and_never_500() {
    let (app, idp) = spawn_app_with_idp(Layout::Keycloak, &[], &[]).await;
    let b = browser();
    let authorize = start_login(&app, &b, "/after").await;
    let callback = complete_login(&b, &authorize, "alice", "alice-pw")
        .await
        .unwrap();
    let params = query_params(&callback);

    // A state Keyward never issued.
    let forged = app.url(&format!(
        "/auth/callback?code={}&state=forged-state&iss={}",
        params["code"],
        urlencode(&idp.issuer)
    ));
    let resp = b.get(&forged).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body = problem(resp).await;
    assert_eq!(body["type"], "urn:keyward:problem:login-failed");

    // No state at all.
    let resp = b
        .get(app.url("/auth/callback?code=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(resp).await["type"],
        "urn:keyward:problem:login-failed"
    );

    // The right state from another browser (no login cookie): refused, and the real login is not burnt.
    let other = browser();
    let resp = other.get(&callback).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        problem(resp).await["detail"]
            .as_str()
            .unwrap()
            .contains("another browser")
    );

    // The real callback works once...
    let resp = b.get(&callback).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    // ...and a replay is refused.
    let resp = b.get(&callback).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        problem(resp).await["detail"]
            .as_str()
            .unwrap()
            .contains("already used")
    );

    // A response that names another issuer (RFC 9207 mix-up defence).
    let authorize = start_login(&app, &b, "/after").await;
    let callback = complete_login(&b, &authorize, "alice", "alice-pw")
        .await
        .unwrap();
    let p = query_params(&callback);
    let mixed = app.url(&format!(
        "/auth/callback?code={}&state={}&iss={}",
        p["code"],
        p["state"],
        urlencode("https://evil.example.com/realms/x")
    ));
    let resp = b.get(&mixed).send().await.unwrap();
    assert_eq!(
        problem(resp).await["type"],
        "urn:keyward:problem:login-failed"
    );

    assert_eq!(
        metric(
            &app,
            "keyward_login_failures_total{reason=\"unknown_state\"}"
        )
        .await,
        2.0
    );
    assert!(
        metric(
            &app,
            "keyward_login_failures_total{reason=\"browser_mismatch\"}"
        )
        .await
            >= 1.0
    );
    let failures = audit_kinds(&app)
        .await
        .into_iter()
        .filter(|(k, o)| k == "login" && o == "failure")
        .count();
    assert!(failures >= 4, "{failures}");
}

#[tokio::test]
async fn a_replayed_code_a_wrong_nonce_and_an_expired_login_fail_cleanly() {
    for layout in Layout::BOTH {
        let (app, _idp) = spawn_app_with_idp(layout, &[], &[]).await;
        let b = browser();

        // Code replay: a code already redeemed, presented with a fresh, valid state.
        let authorize = start_login(&app, &b, "/after").await;
        let first = complete_login(&b, &authorize, "alice", "alice-pw")
            .await
            .unwrap();
        assert_eq!(b.get(&first).send().await.unwrap().status(), 302);
        let authorize = start_login(&app, &b, "/after").await;
        let fresh_state = query_params(&authorize)["state"].clone();
        let replay = app.url(&format!(
            "/auth/callback?code={}&state={fresh_state}",
            query_params(&first)["code"]
        ));
        let resp = b.get(&replay).send().await.unwrap();
        assert_eq!(resp.status(), 302);
        let location = header(&resp, "location").unwrap();
        assert!(location.starts_with(&app.url("/after?")), "{location}");
        assert_eq!(query_params(location)["error"], "login_failed");
        assert_eq!(
            metric(
                &app,
                "keyward_login_failures_total{reason=\"code_refused\"}"
            )
            .await,
            1.0
        );

        // Nonce mismatch: the pending login's nonce no longer matches what the provider put in the ID token.
        let authorize = start_login(&app, &b, "/after").await;
        let state = query_params(&authorize)["state"].clone();
        entity::login_attempts::Entity::update_many()
            .col_expr(
                entity::login_attempts::Column::Nonce,
                Expr::value("not-the-nonce-sent"),
            )
            .filter(entity::login_attempts::Column::State.eq(state))
            .exec(&app.state.db)
            .await
            .unwrap();
        let callback = complete_login(&b, &authorize, "alice", "alice-pw")
            .await
            .unwrap();
        let resp = b.get(&callback).send().await.unwrap();
        assert_eq!(resp.status(), 302);
        let location = header(&resp, "location").unwrap();
        let q = query_params(location);
        assert_eq!(q["error"], "login_failed");
        assert!(q["error_description"].contains("nonce"), "{q:?}");

        // An expired pending login.
        let authorize = start_login(&app, &b, "/after").await;
        let state = query_params(&authorize)["state"].clone();
        entity::login_attempts::Entity::update_many()
            .col_expr(
                entity::login_attempts::Column::ExpiresAt,
                Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)),
            )
            .filter(entity::login_attempts::Column::State.eq(state))
            .exec(&app.state.db)
            .await
            .unwrap();
        let callback = complete_login(&b, &authorize, "alice", "alice-pw")
            .await
            .unwrap();
        let resp = b.get(&callback).send().await.unwrap();
        assert_eq!(resp.status(), 400);
        assert!(
            problem(resp).await["detail"]
                .as_str()
                .unwrap()
                .contains("expired")
        );
    }
}

#[tokio::test]
async fn a_refused_login_at_the_provider_comes_back_as_an_error_redirect() {
    for layout in Layout::BOTH {
        let (app, _idp) = spawn_app_with_idp(layout, &[], &[]).await;
        let b = browser();
        let authorize = start_login(&app, &b, "/spa/page?x=1").await;
        let callback = abort_login(&b, &authorize).await;
        assert_eq!(query_params(&callback)["error"], "access_denied");
        let resp = b.get(&callback).send().await.unwrap();
        assert_eq!(resp.status(), 302);
        let location = header(&resp, "location").unwrap();
        assert!(
            location.starts_with(&app.url("/spa/page?x=1&error=access_denied")),
            "{location}"
        );
        assert_eq!(
            metric(
                &app,
                "keyward_login_failures_total{reason=\"provider_error\"}"
            )
            .await,
            1.0
        );
        let session: Value = b
            .get(app.url("/auth/session"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(session["authenticated"], false);
    }
}

#[tokio::test]
async fn return_to_cannot_leave_the_allowed_origins() {
    let (app, _idp) = spawn_app_with_idp(
        Layout::Keycloak,
        &[("KEYWARD_ALLOWED_RETURN_ORIGINS", "https://spa.example.com")],
        &[],
    )
    .await;
    for bad in [
        "https://evil.example.com/",
        "//evil.example.com/",
        "/\\evil.example.com",
        "javascript:alert(1)",
        "https://spa.example.com.evil.com/",
    ] {
        let resp = app
            .get(&format!("/auth/login?return_to={}", urlencode(bad)))
            .await;
        assert_eq!(resp.status(), 400, "{bad}");
        let body = problem(resp).await;
        assert_eq!(body["type"], "urn:keyward:problem:validation-failed");
        assert_eq!(body["errors"][0]["field"], "return_to");
    }
    let b = browser();
    let authorize = start_login(&app, &b, "https://spa.example.com/welcome").await;
    let callback = complete_login(&b, &authorize, "bob", "bob-pw")
        .await
        .unwrap();
    let resp = b.get(&callback).send().await.unwrap();
    assert_eq!(
        header(&resp, "location"),
        Some("https://spa.example.com/welcome")
    );
}

#[tokio::test]
async fn several_tabs_can_log_in_at_once() {
    let (app, _idp) = spawn_app_with_idp(Layout::Authentik, &[], &[]).await;
    let b = browser();
    let first = start_login(&app, &b, "/tab-1").await;
    let second = start_login(&app, &b, "/tab-2").await;
    let cb1 = complete_login(&b, &first, "alice", "alice-pw")
        .await
        .unwrap();
    // The provider now has a session: the second tab goes straight back (SSO).
    let cb2 = complete_login(&b, &second, "alice", "alice-pw")
        .await
        .unwrap();
    let r2 = b.get(&cb2).send().await.unwrap();
    let r1 = b.get(&cb1).send().await.unwrap();
    assert_eq!(header(&r1, "location"), Some(app.url("/tab-1").as_str()));
    assert_eq!(header(&r2, "location"), Some(app.url("/tab-2").as_str()));
}

#[tokio::test]
async fn bad_tokens_get_401_with_a_challenge() {
    for layout in Layout::BOTH {
        let (app, idp) = spawn_app_with_idp(layout, &[], &[]).await;
        let b = logged_in(&app, "alice").await;
        let token = api_token(&app, &b).await;
        assert_eq!(bearer_get(&app, &token, "/api/v1/me").await.status(), 200);

        // Tampered: one claim changed, signature kept.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims = jwt_claims(&token);
        claims["sub"] = json!(uuid::Uuid::new_v4().to_string());
        parts[1] = b64(&claims);
        assert_unauthorized(
            bearer_get(&app, &parts.join("."), "/api/v1/me").await,
            "tampered",
        )
        .await;

        // Signed by Keyward's own key, but expired, or for another audience.
        let issuer = &app.state.auth.tokens;
        let user = entity::users::Entity::find()
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        let mut c: ApiClaims = issuer.claims_for(&user, vec![]);
        c.exp -= 3600;
        c.iat -= 3600;
        let expired = issuer.sign(&c).unwrap();
        let body =
            assert_unauthorized(bearer_get(&app, &expired, "/api/v1/me").await, "expired").await;
        assert!(body["detail"].as_str().unwrap().contains("expired"));
        let mut c = issuer.claims_for(&user, vec![]);
        c.aud = "https://other.example.com".into();
        let wrong_aud = issuer.sign(&c).unwrap();
        assert_unauthorized(bearer_get(&app, &wrong_aud, "/api/v1/me").await, "aud").await;

        // `alg: none`, and HMAC tokens (whatever the secret), for either issuer.
        for iss in [app.address.clone(), idp.issuer.clone()] {
            let claims = json!({"iss": iss, "sub": user.id.to_string(), "aud": [app.address.clone(), "keyward"],
                "exp": chrono::Utc::now().timestamp() + 600});
            let none = format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&claims)
            );
            assert_unauthorized(bearer_get(&app, &none, "/api/v1/me").await, "none").await;
            let hmac = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(b"keyward-secret"),
            )
            .unwrap();
            assert_unauthorized(bearer_get(&app, &hmac, "/api/v1/me").await, "hmac").await;
        }

        // Garbage and the wrong scheme.
        assert_unauthorized(bearer_get(&app, "not-a-jwt", "/api/v1/me").await, "garbage").await;
        let resp = app
            .client
            .get(app.url("/api/v1/me"))
            .header("Authorization", "Basic YTpi")
            .send()
            .await
            .unwrap();
        assert_unauthorized(resp, "basic").await;
        // Nothing at all.
        let body = assert_unauthorized(app.get("/api/v1/me").await, "none at all").await;
        assert!(body["detail"].as_str().unwrap().contains("no credentials"));
    }
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[tokio::test]
async fn provider_access_tokens_are_accepted_when_they_are_for_us() {
    for layout in Layout::BOTH {
        let (app, idp) = spawn_app_with_idp(layout, &[], &[]).await;
        let tokens = idp.provider_tokens("zoe", "zoe-pw").await;
        let access = tokens["access_token"].as_str().unwrap();
        let resp = bearer_get(&app, access, "/api/v1/me").await;
        assert_eq!(resp.status(), 200, "{layout:?}");
        let me: Value = resp.json().await.unwrap();
        assert_eq!(
            me["display_name"], "Zoë Ångström-Łukasiewicz",
            "created from the token"
        );
        // The provider's ID token is signed for the same audience, but it is no API credential. (Authentik's
        // ID tokens cannot be told from its access tokens: there only a distinct KEYWARD_OIDC_AUDIENCE helps.)
        if layout == Layout::Keycloak {
            let id_token = tokens["id_token"].as_str().unwrap();
            let body =
                assert_unauthorized(bearer_get(&app, id_token, "/api/v1/me").await, "ID token")
                    .await;
            assert!(
                body["detail"].as_str().unwrap().contains("ID token"),
                "{body}"
            );
        }
        let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
        let mut claims = jwt_claims(access);
        claims["sub"] = json!(ALICE_SUB);
        parts[1] = b64(&claims);
        assert_unauthorized(
            bearer_get(&app, &parts.join("."), "/api/v1/me").await,
            "tampered",
        )
        .await;

        // Another Keyward whose accepted audience is different refuses the same token.
        let (other, other_idp) =
            spawn_app_with_idp(layout, &[("KEYWARD_OIDC_AUDIENCE", "some-other-api")], &[]).await;
        let t = other_idp.provider_tokens("zoe", "zoe-pw").await;
        let body = assert_unauthorized(
            bearer_get(&other, t["access_token"].as_str().unwrap(), "/api/v1/me").await,
            "wrong audience",
        )
        .await;
        assert!(body["detail"].as_str().unwrap().contains("aud"));
    }
}

#[tokio::test]
async fn cookie_requests_need_the_csrf_header() {
    let (app, _idp) = spawn_app_with_idp(Layout::Keycloak, &[], &[]).await;
    let b = logged_in(&app, "alice").await;
    for (method, path) in [
        ("GET", "/api/v1/me"),
        ("POST", "/auth/token"),
        ("POST", "/auth/logout"),
    ] {
        let resp = b
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{method} {path}");
        let body = problem(resp).await;
        assert!(body["detail"].as_str().unwrap().contains("X-CSRF"));
        let resp = b
            .request(method.parse().unwrap(), app.url(path))
            .header("X-CSRF", "0")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{method} {path} with a wrong value");
    }
    // The session survived all of that.
    assert_eq!(cookie_get(&app, &b, "/api/v1/me").await.status(), 200);
    // Reading whether one is logged in needs no header.
    assert_eq!(
        b.get(app.url("/auth/session"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn key_rotation_at_the_provider_is_followed() {
    for layout in Layout::BOTH {
        let (app, idp) = spawn_app_with_idp(layout, &[], &[]).await;
        let before = idp.provider_tokens("alice", "alice-pw").await;
        let old_access = before["access_token"].as_str().unwrap().to_owned();
        assert_eq!(
            bearer_get(&app, &old_access, "/api/v1/me").await.status(),
            200
        );

        idp.rotate_keys(false).await;
        // Logins keep working: the new ID token's key id is unknown, so the JWKS is fetched again.
        let b = logged_in(&app, "bob").await;
        assert_eq!(cookie_get(&app, &b, "/api/v1/me").await.status(), 200);
        let after = idp.provider_tokens("alice", "alice-pw").await;
        let new_access = after["access_token"].as_str().unwrap();
        assert_eq!(
            bearer_get(&app, new_access, "/api/v1/me").await.status(),
            200
        );
        // The old key was withdrawn: tokens signed with it stop working once the new JWKS is known.
        assert_unauthorized(bearer_get(&app, &old_access, "/api/v1/me").await, "old key").await;
    }
}

#[tokio::test]
async fn a_flood_of_unknown_key_ids_does_not_hammer_the_provider() {
    let (app, idp) = spawn_app_with_idp(Layout::Keycloak, &[], &[]).await;
    let real = idp.provider_tokens("alice", "alice-pw").await;
    let real = real["access_token"].as_str().unwrap();
    assert_eq!(bearer_get(&app, real, "/api/v1/me").await.status(), 200);
    let before = idp.stats().await["jwks_fetches"].as_u64().unwrap();
    let parts: Vec<&str> = real.split('.').collect();
    for i in 0..30 {
        let forged_header =
            b64(&json!({"alg": "RS256", "typ": "JWT", "kid": format!("made-up-{i}")}));
        let forged = format!("{forged_header}.{}.{}", parts[1], parts[2]);
        assert_unauthorized(bearer_get(&app, &forged, "/api/v1/me").await, "unknown kid").await;
    }
    let after = idp.stats().await["jwks_fetches"].as_u64().unwrap();
    assert!(
        after - before <= 3,
        "{} JWKS fetches for 30 bad tokens",
        after - before
    );
    assert_eq!(bearer_get(&app, real, "/api/v1/me").await.status(), 200);
}

#[tokio::test]
async fn with_the_provider_down_login_answers_503_and_existing_credentials_keep_working() {
    for layout in Layout::BOTH {
        let (app, mut idp) = spawn_app_with_idp(layout, &[], &[]).await;
        let b = logged_in(&app, "alice").await;
        let token = api_token(&app, &b).await;
        let provider_token = idp.provider_tokens("alice", "alice-pw").await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            bearer_get(&app, &provider_token, "/api/v1/me")
                .await
                .status(),
            200
        );

        idp.stop().await;
        let resp = app.get("/auth/login").await;
        assert_eq!(resp.status(), 503, "{layout:?}");
        let body = problem(resp).await;
        assert_eq!(body["type"], "urn:keyward:problem:service-unavailable");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("identity provider")
        );

        assert_eq!(bearer_get(&app, &token, "/api/v1/me").await.status(), 200);
        assert_eq!(cookie_get(&app, &b, "/api/v1/me").await.status(), 200);
        assert_eq!(
            bearer_get(&app, &provider_token, "/api/v1/me")
                .await
                .status(),
            200
        );
        assert_eq!(cookie_post(&app, &b, "/auth/token").await.status(), 200);
    }
}

#[tokio::test]
async fn without_login_settings_keyward_runs_and_says_what_is_missing() {
    let app = spawn_app().await;
    let resp = app.get("/auth/login").await;
    assert_eq!(resp.status(), 503);
    let body = problem(resp).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("KEYWARD_OIDC_ISSUER")
    );
    let session: Value = app.get("/auth/session").await.json().await.unwrap();
    assert_eq!(session, json!({"authenticated": false}));
    assert_unauthorized(app.get("/api/v1/me").await, "no credentials").await;
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_deactivated_user_loses_sessions_and_tokens_and_cannot_log_in() {
    let (app, _idp) = spawn_app_with_idp(
        Layout::Keycloak,
        &[("KEYWARD_BOOTSTRAP_ADMINS", "alice@example.com")],
        &[],
    )
    .await;
    let admin = logged_in(&app, "alice").await;
    let b = logged_in(&app, "bob").await;
    let token = api_token(&app, &b).await;
    // Both credentials work (and are now in the verification and access caches).
    assert_eq!(bearer_get(&app, &token, "/api/v1/me").await.status(), 200);
    let bob: Value = cookie_get(&app, &b, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    let resp = admin
        .patch(app.url(&format!("/api/v1/users/{}", bob["id"].as_str().unwrap())))
        .header("X-CSRF", "1")
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_unauthorized(cookie_get(&app, &b, "/api/v1/me").await, "session").await;
    assert_unauthorized(bearer_get(&app, &token, "/api/v1/me").await, "token").await;
    let bob_id = uuid::Uuid::parse_str(bob["id"].as_str().unwrap()).unwrap();
    let before = entity::users::Entity::find_by_id(bob_id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let b2 = browser();
    let resp = login_as(&app, &b2, "bob").await;
    assert_eq!(resp.status(), 302);
    let q = query_params(header(&resp, "location").unwrap());
    assert_eq!(q["error"], "account_inactive");
    let after = entity::users::Entity::find_by_id(bob_id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.last_login_at, before.last_login_at,
        "a refused login changes nothing"
    );
    assert_eq!(
        entity::sessions::Entity::find()
            .all(&app.state.db)
            .await
            .unwrap()
            .len(),
        1,
        "only the admin's session is left"
    );
}

/// Forces the session's provider tokens to count as expired, as minutes passing would.
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

#[tokio::test]
async fn the_provider_session_is_refreshed_once_however_many_requests_arrive() {
    for layout in Layout::BOTH {
        let (app, idp) = spawn_app_with_idp(layout, &[], &[]).await;
        let b = logged_in(&app, "alice").await;
        let stored = entity::sessions::Entity::find()
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        let sealed = stored.refresh_token.clone().expect("refresh token kept");
        assert!(
            sealed.len() > 40 && !sealed.contains('.'),
            "stored encrypted, not as the JWT/opaque token"
        );

        expire_provider_tokens(&app).await;
        idp.reset_stats().await;
        let calls = (0..8).map(|_| cookie_get(&app, &b, "/api/v1/me"));
        for resp in futures_util::future::join_all(calls).await {
            assert_eq!(resp.status(), 200);
        }
        let stats = idp.stats().await;
        assert_eq!(
            stats["token_requests"]["by_grant"]["refresh_token"], 1,
            "{layout:?}: {stats}"
        );
        let after = entity::sessions::Entity::find()
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        assert!(after.provider_expires_at.unwrap() > chrono::Utc::now());
        assert_eq!(after.refresh_claimed_until, None);

        // Disabled at the provider: the next refresh is refused and the session ends.
        idp.patch_user(ALICE_SUB, json!({"enabled": false})).await;
        expire_provider_tokens(&app).await;
        assert_unauthorized(cookie_get(&app, &b, "/api/v1/me").await, "refused refresh").await;
        assert!(
            entity::sessions::Entity::find()
                .one(&app.state.db)
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn expired_sessions_and_logins_are_purged() {
    let (app, _idp) = spawn_app_with_idp(Layout::Keycloak, &[], &[]).await;
    let b = logged_in(&app, "alice").await;
    let _pending = start_login(&app, &browser(), "/").await;
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    entity::sessions::Entity::update_many()
        .col_expr(entity::sessions::Column::ExpiresAt, Expr::value(past))
        .exec(&app.state.db)
        .await
        .unwrap();
    entity::login_attempts::Entity::update_many()
        .col_expr(entity::login_attempts::Column::ExpiresAt, Expr::value(past))
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_unauthorized(cookie_get(&app, &b, "/api/v1/me").await, "expired session").await;
    let purged = keyward::auth::sessions::purge_expired(&app.state.db)
        .await
        .unwrap();
    assert_eq!(purged, (1, 1));
}

#[tokio::test]
async fn the_auth_endpoints_are_in_the_spec() {
    let spec: Value = serde_json::from_str(&keyward::http::routes::spec_json()).unwrap();
    for path in [
        "/auth/login",
        "/auth/callback",
        "/auth/session",
        "/auth/logout",
        "/auth/token",
        "/.well-known/jwks.json",
        "/api/v1/me",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} missing");
    }
    let me = &spec["paths"]["/api/v1/me"]["get"];
    assert_eq!(
        me["security"],
        json!([{"SessionCookie": [], "CsrfHeader": []}, {"BearerToken": []}])
    );
}

#[tokio::test]
async fn keys_and_sessions_live_in_the_database_so_every_instance_serves_them() {
    let (app, idp) = spawn_app_with_idp(Layout::Keycloak, &[], &[]).await;
    let b = logged_in(&app, "alice").await;
    let token = api_token(&app, &b).await;
    let stored = entity::keyward_settings::Entity::find_by_id("secret_key")
        .one(&app.state.db)
        .await
        .unwrap();
    assert!(
        stored.is_some(),
        "without KEYWARD_SECRET_KEY a generated key is kept"
    );
    let key_row = entity::signing_keys::Entity::find()
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert!(!key_row.private_key.contains("PRIVATE"), "sealed, not PEM");

    // A second instance (or the same one restarted) on the same database.
    let settings = idp.keyward_settings();
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let other = crate::helpers::spawn_sibling(&app, &pairs).await;
    let jwks_a: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let jwks_b: Value = other
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks_a, jwks_b, "one signing key, kept across restarts");
    assert_eq!(bearer_get(&other, &token, "/api/v1/me").await.status(), 200);
    // The browser's session cookie works there too (cookies are per host, not per port).
    assert_eq!(cookie_get(&other, &b, "/api/v1/me").await.status(), 200);
    let from_other = api_token(&other, &b).await;
    assert_eq!(
        bearer_get(&app, &from_other, "/api/v1/me").await.status(),
        200
    );
    // Logging out there answers the provider's logout URL, though that instance never needed the provider.
    let resp = cookie_post(&other, &b, "/auth/logout").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let url = body["logout_url"].as_str().expect("a logout URL");
    assert!(query_params(url).contains_key("id_token_hint"), "{url}");
}

#[tokio::test]
async fn logout_clears_the_cookie_of_a_session_that_already_ended() {
    let (app, _idp) = spawn_app_with_idp(Layout::Keycloak, &[], &[]).await;
    let b = logged_in(&app, "alice").await;
    entity::sessions::Entity::update_many()
        .col_expr(
            entity::sessions::Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_unauthorized(cookie_get(&app, &b, "/api/v1/me").await, "expired").await;
    let resp = cookie_post(&app, &b, "/auth/logout").await;
    assert_eq!(resp.status(), 200);
    assert!(clears_the_session_cookie(&resp), "the cookie is cleared");
    let body: Value = resp.json().await.unwrap();
    assert!(body["logout_url"].is_string(), "{body}");
    assert!(
        entity::sessions::Entity::find()
            .all(&app.state.db)
            .await
            .unwrap()
            .is_empty()
    );
    // Without a cookie there is nothing to end: 401, also for a bearer token.
    let token_only = app
        .client
        .post(app.url("/auth/logout"))
        .header("Authorization", "Bearer x.y.z")
        .send()
        .await
        .unwrap();
    assert_unauthorized(token_only, "bearer logout").await;
}

#[tokio::test]
async fn using_a_session_slides_its_expiry() {
    let (app, _idp) =
        spawn_app_with_idp(Layout::Authentik, &[("KEYWARD_SESSION_TTL", "2h")], &[]).await;
    let b = logged_in(&app, "alice").await;
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    entity::sessions::Entity::update_many()
        .col_expr(
            entity::sessions::Column::LastSeenAt,
            Expr::value(an_hour_ago),
        )
        .col_expr(
            entity::sessions::Column::ExpiresAt,
            Expr::value(an_hour_ago + chrono::Duration::hours(2)),
        )
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_eq!(cookie_get(&app, &b, "/api/v1/me").await.status(), 200);
    let s = entity::sessions::Entity::find()
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let left = s.expires_at - chrono::Utc::now();
    assert!(left > chrono::Duration::minutes(119), "{left}");
}

#[tokio::test]
async fn a_generic_provider_logs_in_through_discovery_alone() {
    let (app, _idp) = spawn_app_with_idp(
        Layout::Keycloak,
        &[("KEYWARD_OIDC_PROVIDER", "generic")],
        &[],
    )
    .await;
    let b = logged_in(&app, "bob").await;
    let me: Value = cookie_get(&app, &b, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "bob");
}
