//! `TestIdp`: the test OpenID provider of `testing/idp` (oidc-provider dressed up as Keycloak or authentik,
//! see `testing/idp/README.md`) run as a child process, plus a browser-like login driver.
//!
//! Every `TestIdp` is its own node process on a random port: tests never share provider state
//! (users, keys, faults, stats), so they can run in parallel.
// The harness is shared by many test modules; any one of them uses only part of it.
#![allow(dead_code)]

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, ChildStdin, Command},
};
use url::Url;

pub const ALICE_SUB: &str = "6f1c1b2e-4a0d-4c55-9a8e-1f0b7a1d2c01";
pub const BOB_SUB: &str = "2b7d9e44-8c1f-4e3a-b6d2-5a9c0e7f3b02";
pub const ZOE_SUB: &str = "9a4e6c1d-3f2b-4d8e-a7c5-0b1d2e3f4a03";
pub const NOEMAIL_SUB: &str = "c3d5e7f9-1a2b-4c6d-8e0f-a1b2c3d4e504";
pub const DISABLED_SUB: &str = "d4e6f8a0-2b3c-4d5e-9f1a-b2c3d4e5f605";

const CLIENT_ID: &str = "keyward";
const CLIENT_SECRET: &str = "keyward-secret";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Generous: a hung provider should fail the test, not hang it.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// A login is at most authorize → interaction → (login) → authorize/{uid} → callback; more means a loop.
const MAX_HOPS: usize = 10;
/// Marker of the provider's login page (`lib/views.mjs`).
const LOGIN_FORM_MARKER: &str = r#"id="login-form""#;
/// Variables the harness itself sets; letting `extra_env` change them would silently break the
/// harness's own assumptions (client credentials, URLs, process lifetime).
const HARNESS_OWNED_ENV: [&str; 9] = [
    "IDP_LAYOUT",
    "IDP_PORT",
    "IDP_HOST",
    "IDP_CLIENT_ID",
    "IDP_CLIENT_SECRET",
    "IDP_REDIRECT_URIS",
    "IDP_POST_LOGOUT_REDIRECT_URIS",
    "IDP_BACKCHANNEL_LOGOUT_URI",
    "IDP_EXIT_ON_STDIN_CLOSE",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Keycloak,
    Authentik,
}

impl Layout {
    /// For tests that must hold for either provider: `for layout in Layout::BOTH { ... }`.
    pub const BOTH: [Layout; 2] = [Layout::Keycloak, Layout::Authentik];

    /// The `IDP_LAYOUT` value.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Keycloak => "keycloak",
            Layout::Authentik => "authentik",
        }
    }
}

/// A running test provider. Killed when dropped (or earlier with [`TestIdp::stop`]).
pub struct TestIdp {
    pub layout: Layout,
    /// As advertised; authentik's ends with `/`.
    pub issuer: String,
    /// `http://127.0.0.1:{port}`, no trailing slash.
    pub base: String,
    pub port: u16,
    redirect_uri: String,
    post_logout_redirect_uri: String,
    client_secret: String,
    child: Option<Child>,
    /// Held open only so that closing it (drop or `stop`) ends the provider: `IDP_EXIT_ON_STDIN_CLOSE=1`.
    stdin: Option<ChildStdin>,
    /// The provider's stderr (with `IDP_LOG=1` request log); its tail is printed when a test fails.
    stderr: tempfile::NamedTempFile,
    http: reqwest::Client,
}

/// The provider refused the credentials (wrong password, unknown, disabled or service user):
/// it sent the browser back to the login form.
#[derive(Debug)]
pub struct LoginRefused;

impl TestIdp {
    /// Starts the provider on a free port. `keyward_base` like "http://127.0.0.1:41000" (no trailing slash):
    /// `IDP_REDIRECT_URIS` = "{keyward_base}/auth/callback", `IDP_POST_LOGOUT_REDIRECT_URIS` = "{keyward_base}/".
    /// `extra_env` is passed through (e.g. `("IDP_ACCESS_TOKEN_TTL", "3")`); the variables the harness sets
    /// itself (layout, port, host, client, redirect URIs) are refused. Inherited `IDP_*` variables are
    /// removed so that a developer's shell cannot change test results.
    ///
    /// Waits for the JSON ready line on stdout (at most 20 s, then panics with the tail of the provider's
    /// stderr). The process ends with the test: it is killed on drop, exits when its stdin (a pipe held
    /// by this struct) closes, and exits when its parent dies.
    pub async fn start(layout: Layout, keyward_base: &str, extra_env: &[(&str, &str)]) -> TestIdp {
        for (name, _) in extra_env {
            assert!(
                !HARNESS_OWNED_ENV.contains(name),
                "TestIdp::start: {name} is set by the harness and cannot be overridden"
            );
        }
        let keyward_base = keyward_base.trim_end_matches('/');
        let client = vec![
            ("IDP_CLIENT_ID".to_owned(), CLIENT_ID.to_owned()),
            ("IDP_CLIENT_SECRET".to_owned(), CLIENT_SECRET.to_owned()),
            (
                "IDP_REDIRECT_URIS".to_owned(),
                format!("{keyward_base}/auth/callback"),
            ),
            (
                "IDP_POST_LOGOUT_REDIRECT_URIS".to_owned(),
                format!("{keyward_base}/"),
            ),
            (
                "IDP_BACKCHANNEL_LOGOUT_URI".to_owned(),
                format!("{keyward_base}/auth/backchannel-logout"),
            ),
        ];
        Self::spawn(layout, keyward_base, CLIENT_SECRET, client, extra_env).await
    }

    /// Starts the provider with its realm, client and users from a Keycloak realm export (`IDP_REALM_FILE`,
    /// e.g. `deploy/keycloak/realm.json`), its `${VAR}` placeholders taken from `env`, and the client's
    /// `rootUrl` set to `keyward_base` (`IDP_REALM_ROOT_URL`), so its relative redirect URIs name this Keyward.
    /// `client_secret` is what the file's secret resolves to.
    pub async fn start_with_realm(
        realm_file: &std::path::Path,
        keyward_base: &str,
        client_secret: &str,
        env: &[(&str, &str)],
    ) -> TestIdp {
        let keyward_base = keyward_base.trim_end_matches('/');
        let realm = vec![
            (
                "IDP_REALM_FILE".to_owned(),
                realm_file.display().to_string(),
            ),
            ("IDP_REALM_ROOT_URL".to_owned(), keyward_base.to_owned()),
        ];
        Self::spawn(Layout::Keycloak, keyward_base, client_secret, realm, env).await
    }

    async fn spawn(
        layout: Layout,
        keyward_base: &str,
        client_secret: &str,
        client_env: Vec<(String, String)>,
        extra_env: &[(&str, &str)],
    ) -> TestIdp {
        let dir = idp_dir();
        assert!(
            dir.join("node_modules").is_dir(),
            "{}/node_modules is missing: run `npm ci` in testing/idp once (no network needed afterwards)",
            dir.display()
        );
        let redirect_uri = format!("{keyward_base}/auth/callback");
        let post_logout_redirect_uri = format!("{keyward_base}/");

        let stderr = tempfile::Builder::new()
            .prefix("keyward-test-idp-")
            .suffix(".stderr")
            .tempfile()
            .expect("create a temp file for the provider's stderr");
        let stderr_file = stderr
            .reopen()
            .expect("open the provider's stderr file for writing");

        let mut cmd = Command::new("node");
        cmd.arg(dir.join("server.mjs"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr_file))
            .kill_on_drop(true);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("IDP_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("IDP_LAYOUT", layout.name())
            .env("IDP_PORT", "0")
            .env("IDP_HOST", "127.0.0.1")
            .envs(client_env)
            .env("IDP_EXIT_ON_STDIN_CLOSE", "1")
            // The request log only goes to the temp file; it is what a failing test shows.
            .env("IDP_LOG", "1")
            .envs(extra_env.iter().copied());
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot run `node` (is Node.js installed and on PATH?): {e}")
        });
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stdout = BufReader::new(stdout);

        let mut line = String::new();
        match tokio::time::timeout(READY_TIMEOUT, stdout.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Ok(_)) => panic!(
                "test IdP ({}) exited before it was ready; stderr:\n{}",
                layout.name(),
                tail(&stderr, 30)
            ),
            Ok(Err(e)) => panic!("reading the test IdP's stdout: {e}"),
            Err(_) => panic!(
                "test IdP ({}) not ready after {READY_TIMEOUT:?}; stderr:\n{}",
                layout.name(),
                tail(&stderr, 30)
            ),
        }
        // Nothing else is written to stdout, but a pipe nobody reads could block the provider if it were.
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await;
        });

        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("test IdP ready line is not JSON ({e}): {line:?}"));
        assert_eq!(ready["ready"], true, "unexpected ready line: {line}");
        let port = ready["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("no port in ready line: {line}"));
        let str_field = |name: &str| {
            ready[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in ready line: {line}"))
                .to_owned()
        };

        TestIdp {
            layout,
            issuer: str_field("issuer"),
            base: str_field("base"),
            port,
            redirect_uri,
            post_logout_redirect_uri,
            client_secret: client_secret.to_owned(),
            child: Some(child),
            stdin,
            stderr,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(HTTP_TIMEOUT)
                .build()
                .expect("build the control client"),
        }
    }

    pub fn client_id(&self) -> &'static str {
        CLIENT_ID
    }

    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// The only redirect URI the provider accepts: `{keyward_base}/auth/callback`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The only post-logout redirect URI the provider accepts: `{keyward_base}/`.
    pub fn post_logout_redirect_uri(&self) -> &str {
        &self.post_logout_redirect_uri
    }

    /// Settings Keyward needs to use this provider: `KEYWARD_OIDC_ISSUER`, `KEYWARD_OIDC_CLIENT_ID`,
    /// `KEYWARD_OIDC_CLIENT_SECRET`.
    pub fn keyward_settings(&self) -> Vec<(String, String)> {
        vec![
            ("KEYWARD_OIDC_ISSUER".to_owned(), self.issuer.clone()),
            ("KEYWARD_OIDC_CLIENT_ID".to_owned(), CLIENT_ID.to_owned()),
            (
                "KEYWARD_OIDC_CLIENT_SECRET".to_owned(),
                self.client_secret.clone(),
            ),
        ]
    }

    /// Where the login pages live: keycloak `{base}/realms/keyward/interaction`,
    /// authentik `{base}/application/o/keyward/interaction` (both are `{issuer without '/'}/interaction`).
    pub fn interaction_prefix(&self) -> String {
        format!("{}/interaction", self.issuer.trim_end_matches('/'))
    }

    /// The provider's discovery document. Counts in `stats().discovery_fetches`.
    pub async fn discovery(&self) -> Value {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        self.json_request(Method::GET, &url, None).await
    }

    /// A new signing key; the old ones stay published only with `keep_old`. → `{active_kid, published_kids}`.
    pub async fn rotate_keys(&self, keep_old: bool) -> Value {
        self.control(
            Method::POST,
            &["rotate-keys"],
            Some(json!({ "keep_old": keep_old })),
        )
        .await
    }

    /// Creates or replaces a user (fixture shape, see the README; `sub` must be a UUID).
    pub async fn upsert_user(&self, user: Value) {
        self.control(Method::POST, &["users"], Some(user)).await;
    }

    /// Changes some fields of a user; `null` removes one (e.g. `{"email": null}`).
    pub async fn patch_user(&self, sub: &str, patch: Value) {
        self.control(Method::PATCH, &["users", sub], Some(patch))
            .await;
    }

    /// Removes a user (panics if there is none).
    pub async fn delete_user(&self, sub: &str) {
        self.control(Method::DELETE, &["users", sub], None).await;
    }

    /// Turns the realm's "Save admin events" on or off (Keycloak layout; the event log answers either way).
    pub async fn set_admin_events(&self, enabled: bool) {
        let body = json!({"admin_events_enabled": enabled});
        self.control(Method::PATCH, &["events"], Some(body)).await;
    }

    /// `claims` signed with the provider's active key (header `typ: logout+jwt`): a logout token as the
    /// provider would send it, or broken in a way it never would.
    pub async fn sign(&self, claims: Value) -> String {
        let body = self
            .control(Method::POST, &["sign"], Some(json!({ "claims": claims })))
            .await;
        body["jwt"].as_str().expect("a signed JWT").to_owned()
    }

    /// Signs the browser's user out at the provider, as they would in another tab: the end-session page
    /// without a hint, then its confirmation form. The provider posts its logout tokens before answering.
    pub async fn sign_out(&self, browser: &reqwest::Client) {
        let end_session = self.discovery().await["end_session_endpoint"]
            .as_str()
            .expect("an end-session endpoint")
            .to_owned();
        let page = browser
            .get(format!("{end_session}?client_id={CLIENT_ID}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "the sign-out confirmation page");
        let html = page.text().await.unwrap();
        let action = attribute_after(&html, "id=\"op.logoutForm\"", "action");
        let xsrf = attribute_after(&html, "name=\"xsrf\"", "value");
        let resp = browser
            .post(&action)
            .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_redirection(),
            "sign-out: {}",
            resp.status()
        );
    }

    /// The provider's request counters (see the README for the fields).
    pub async fn stats(&self) -> Value {
        self.control(Method::GET, &["stats"], None).await
    }

    pub async fn reset_stats(&self) {
        self.control(Method::DELETE, &["stats"], None).await;
    }

    /// Merges into the active faults (`null` clears one), e.g.
    /// `json!({"fail_page": 1, "status": 503})` or `json!({"admin_token_ttl_s": 2})`.
    pub async fn set_faults(&self, faults: Value) {
        self.control(Method::POST, &["faults"], Some(faults)).await;
    }

    /// Stops the provider process now (to test "provider down"); waits until its port refuses connections.
    /// The control methods panic afterwards.
    pub async fn stop(&mut self) {
        self.stdin.take();
        if let Some(mut child) = self.child.take() {
            // SIGKILL and reap: nothing of the provider must survive, not even a graceful shutdown.
            let _ = child.kill().await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_ok()
        {
            assert!(
                Instant::now() < deadline,
                "port {} still accepts connections 10 s after the test IdP was killed",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A full code+PKCE login done directly against the provider (not through Keyward), returning the token
    /// response JSON `{access_token, id_token, refresh_token, ...}`. Uses the registered redirect URI but
    /// never follows it: it takes `code` from the Location and redeems it at the token endpoint with
    /// `client_secret_basic`. Uses a fresh cookie jar (no SSO with other logins). Counts in the stats like
    /// any login (authorize and token requests, but no discovery fetch).
    pub async fn provider_tokens(&self, username: &str, password: &str) -> Value {
        let pkce = Pkce::new();
        let state = random_string();
        let authorize_url = self.authorize_url(&state, &pkce);
        let location = complete_login(&browser(), &authorize_url, username, password)
            .await
            .unwrap_or_else(|LoginRefused| {
                panic!("the test IdP refused the login of {username:?} with the given password")
            });
        let params = query_params(&location);
        assert!(
            !params.contains_key("error"),
            "the test IdP answered the login with an error: {location}"
        );
        assert_eq!(
            params.get("state").map(String::as_str),
            Some(state.as_str()),
            "state lost in {location}"
        );
        let code = params
            .get("code")
            .unwrap_or_else(|| panic!("no code in {location}"));
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_uri),
            ("code_verifier", &pkce.verifier),
        ])
        .await
    }

    /// client_credentials token for the keyward client (service account).
    pub async fn client_credentials_token(&self) -> String {
        let tokens = self
            .token_request(&[("grant_type", "client_credentials")])
            .await;
        tokens["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in client_credentials answer: {tokens}"))
            .to_owned()
    }

    /// The authorization endpoint as the README documents it for the layout. Built rather than read from
    /// discovery so that the harness's own logins do not count as discovery fetches.
    fn authorization_endpoint(&self) -> String {
        match self.layout {
            Layout::Keycloak => format!("{}/protocol/openid-connect/auth", self.issuer),
            Layout::Authentik => format!("{}/application/o/authorize/", self.base),
        }
    }

    /// See [`TestIdp::authorization_endpoint`].
    fn token_endpoint(&self) -> String {
        match self.layout {
            Layout::Keycloak => format!("{}/protocol/openid-connect/token", self.issuer),
            Layout::Authentik => format!("{}/application/o/token/", self.base),
        }
    }

    /// An authorization request of the keyward client, as step 1 of the README's login recipe.
    fn authorize_url(&self, state: &str, pkce: &Pkce) -> String {
        let nonce = random_string();
        Url::parse_with_params(
            &self.authorization_endpoint(),
            [
                ("response_type", "code"),
                ("client_id", CLIENT_ID),
                ("redirect_uri", self.redirect_uri.as_str()),
                ("scope", "openid email profile"),
                ("state", state),
                ("nonce", nonce.as_str()),
                ("code_challenge", pkce.challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        )
        .expect("authorization endpoint is a URL")
        .into()
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Value {
        let url = self.token_endpoint();
        let resp = self
            .http
            .post(&url)
            .basic_auth(CLIENT_ID, Some(&self.client_secret))
            .form(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        json_body(resp, "POST", &url).await
    }

    async fn control(&self, method: Method, segments: &[&str], body: Option<Value>) -> Value {
        let mut url = Url::parse(&self.base).expect("base is a URL");
        url.path_segments_mut()
            .expect("base can have a path")
            .push("__control")
            .extend(segments);
        self.json_request(method, url.as_str(), body).await
    }

    async fn json_request(&self, method: Method, url: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method.clone(), url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        json_body(resp, method.as_str(), url).await
    }
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        // Dropped while a test panics: show what the provider saw (cargo test prints it for failed tests only).
        if std::thread::panicking() {
            eprintln!(
                "--- test IdP ({}, {}) stderr tail ---\n{}",
                self.layout.name(),
                self.base,
                tail(&self.stderr, 40)
            );
        }
    }
}

/// Given a browser-like client (ONE cookie jar, redirects disabled, see [`browser`]) that was sent to
/// `authorize_url` (absolute URL at the provider), performs the provider's login form recipe from the README
/// for username/password and returns the final absolute Location that points back to the relying party's
/// redirect_uri (with code, state, iss or error) without following it.
///
/// If the provider already has an SSO session and redirects straight to the redirect_uri, that Location is
/// returned. If the credentials are refused (303 back to the same interaction URL), `Err(LoginRefused)`.
/// Panics with status, location and body excerpt if a step answers anything else.
pub async fn complete_login(
    browser: &reqwest::Client,
    authorize_url: &str,
    username: &str,
    password: &str,
) -> Result<String, LoginRefused> {
    let redirect_uri = redirect_uri_of(authorize_url);
    let form_url = match follow(browser, authorize_url, &redirect_uri).await {
        Reached::Callback(location) => return Ok(location),
        Reached::LoginForm(url) => url,
    };
    let answer = fetch(
        browser.post(&form_url).form(&[
            ("prompt", "login"),
            ("login", username),
            ("password", password),
        ]),
        "POST",
        &form_url,
    )
    .await;
    let Some(location) = answer.location.clone() else {
        panic!(
            "login: expected a redirect after submitting the form: {}",
            answer.describe("POST", &form_url)
        );
    };
    if same_url(&location, &form_url) {
        return Err(LoginRefused);
    }
    if is_callback(&location, &redirect_uri) {
        return Ok(location);
    }
    match follow(browser, &location, &redirect_uri).await {
        Reached::Callback(location) => Ok(location),
        Reached::LoginForm(url) => {
            panic!("login: the form was shown again at {url} after the credentials were accepted")
        }
    }
}

/// Like [`complete_login`] but cancels at the form (`GET {interaction}/{uid}/abort`) and returns the final
/// Location (`error=access_denied`). Panics if no form is shown (an SSO session: add `prompt=login`).
pub async fn abort_login(browser: &reqwest::Client, authorize_url: &str) -> String {
    let redirect_uri = redirect_uri_of(authorize_url);
    let form_url = match follow(browser, authorize_url, &redirect_uri).await {
        Reached::Callback(location) => panic!(
            "abort_login: the provider skipped the login form (SSO session?) and answered {location}"
        ),
        Reached::LoginForm(url) => url,
    };
    let abort_url = format!("{}/abort", form_url.trim_end_matches('/'));
    match follow(browser, &abort_url, &redirect_uri).await {
        Reached::Callback(location) => location,
        Reached::LoginForm(url) => panic!("abort_login: login form shown again at {url}"),
    }
}

/// The value of `attr` in the tag that contains `marker`.
fn attribute_after(html: &str, marker: &str, attr: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {html}"));
    let tag_start = html[..at].rfind('<').unwrap_or(0);
    let tag_end = at + html[at..].find('>').unwrap_or(html.len() - at);
    let tag = &html[tag_start..tag_end];
    let key = format!("{attr}=\"");
    let from = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {attr} in {tag}"))
        + key.len();
    let value = &tag[from..from + tag[from..].find('"').unwrap()];
    value.replace("&amp;", "&")
}

/// A reqwest client like a browser: cookie store on, redirects off (the login driver follows them itself,
/// so that it can stop at the relying party's redirect URI).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_TIMEOUT)
        .build()
        .expect("build the browser client")
}

/// The claims of a JWT, unverified (base64url-decoded middle part).
pub fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt
        .split('.')
        .nth(1)
        .unwrap_or_else(|| panic!("not a JWT: {jwt:?}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .unwrap_or_else(|e| panic!("JWT payload is not base64url ({e}): {jwt:?}"));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("JWT payload is not JSON ({e}): {jwt:?}"))
}

/// The query parameters of an absolute URL (for a callback Location: `code`, `state`, `iss`, `error`).
pub fn query_params(url: &str) -> std::collections::HashMap<String, String> {
    Url::parse(url)
        .unwrap_or_else(|e| panic!("not a URL ({e}): {url:?}"))
        .query_pairs()
        .into_owned()
        .collect()
}

// ---------------------------------------------------------------------------------------------------

fn idp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testing/idp")
}

/// The last `lines` lines of the provider's stderr file.
fn tail(file: &tempfile::NamedTempFile, lines: usize) -> String {
    let text = std::fs::read(file.path())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", file.path().display()));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// 64 hex characters: valid as state, nonce and PKCE verifier (43..128 unreserved characters).
fn random_string() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

struct Pkce {
    verifier: String,
    challenge: String,
}

impl Pkce {
    /// A fresh verifier and its S256 challenge (the provider requires S256).
    fn new() -> Pkce {
        let verifier = random_string();
        let challenge =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&verifier));
        Pkce {
            verifier,
            challenge,
        }
    }
}

enum Reached {
    /// A Location pointing back to the relying party's redirect URI (not followed).
    Callback(String),
    /// The URL of a page showing the login form.
    LoginForm(String),
}

/// GETs `start` and follows redirects until one points to `redirect_uri` or a page shows the login form.
async fn follow(browser: &reqwest::Client, start: &str, redirect_uri: &str) -> Reached {
    let mut url = start.to_owned();
    for _ in 0..MAX_HOPS {
        let answer = fetch(browser.get(&url), "GET", &url).await;
        if let Some(location) = answer.location {
            if is_callback(&location, redirect_uri) {
                return Reached::Callback(location);
            }
            url = location;
            continue;
        }
        if answer.status == StatusCode::OK && answer.body.contains(LOGIN_FORM_MARKER) {
            return Reached::LoginForm(url);
        }
        panic!("login: unexpected answer: {}", answer.describe("GET", &url));
    }
    panic!("login: more than {MAX_HOPS} redirects starting at {start}, last {url}");
}

struct Answer {
    status: StatusCode,
    /// For a redirect: its Location, made absolute.
    location: Option<String>,
    body: String,
}

impl Answer {
    fn describe(&self, method: &str, url: &str) -> String {
        let excerpt: String = self.body.chars().take(600).collect();
        format!(
            "{method} {url} -> {}, Location: {}, body: {excerpt}",
            self.status,
            self.location.as_deref().unwrap_or("(none)")
        )
    }
}

async fn fetch(req: reqwest::RequestBuilder, method: &str, url: &str) -> Answer {
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("login: {method} {url}: {e}"));
    let status = resp.status();
    let location = resp.headers().get(reqwest::header::LOCATION).map(|v| {
        let v = v
            .to_str()
            .unwrap_or_else(|_| panic!("login: {method} {url}: non-ASCII Location {v:?}"));
        // The README promises absolute Locations; resolve relative ones anyway.
        Url::parse(url)
            .and_then(|base| base.join(v))
            .unwrap_or_else(|e| panic!("login: {method} {url}: bad Location {v:?}: {e}"))
            .to_string()
    });
    let body = resp.text().await.unwrap_or_default();
    let answer = Answer {
        status,
        location,
        body,
    };
    if status.is_redirection() && answer.location.is_none() {
        panic!(
            "login: redirect without Location: {}",
            answer.describe(method, url)
        );
    }
    if !status.is_redirection() && answer.location.is_some() {
        panic!(
            "login: Location on a non-redirect: {}",
            answer.describe(method, url)
        );
    }
    answer
}

/// The `redirect_uri` parameter of an authorization request.
fn redirect_uri_of(authorize_url: &str) -> String {
    query_params(authorize_url)
        .remove("redirect_uri")
        .unwrap_or_else(|| panic!("no redirect_uri in the authorization URL {authorize_url}"))
}

/// Whether `location` is the redirect URI itself, possibly with a query or fragment.
fn is_callback(location: &str, redirect_uri: &str) -> bool {
    location
        .strip_prefix(redirect_uri)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('?') || rest.starts_with('#'))
}

fn same_url(a: &str, b: &str) -> bool {
    matches!((Url::parse(a), Url::parse(b)), (Ok(a), Ok(b)) if a == b)
}

async fn json_body(resp: reqwest::Response, method: &str, url: &str) -> Value {
    let status = resp.status();
    let text = resp
        .text()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: reading the body: {e}"));
    assert!(status.is_success(), "{method} {url} -> {status}: {text}");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {url} -> {status}, not JSON ({e}): {text}"))
}

// ---------------------------------------------------------------------------------------------------
// The harness against the real provider. Keyward is not needed: redirects to it are never followed.

/// Nothing listens there; only the redirect URIs registered at the provider are built from it.
const NO_KEYWARD: &str = "http://127.0.0.1:9";

#[tokio::test]
async fn provider_tokens_are_issued_for_the_user_and_the_keyward_client() {
    for layout in Layout::BOTH {
        let idp = TestIdp::start(layout, NO_KEYWARD, &[]).await;
        let tokens = idp.provider_tokens("alice", "alice-pw").await;
        for kind in ["access_token", "id_token"] {
            let jwt = tokens[kind]
                .as_str()
                .unwrap_or_else(|| panic!("{layout:?}: no {kind} in {tokens}"));
            let claims = jwt_claims(jwt);
            assert_eq!(claims["sub"], ALICE_SUB, "{layout:?} {kind}: {claims}");
            assert_eq!(claims["aud"], "keyward", "{layout:?} {kind}: {claims}");
            assert_eq!(
                claims["iss"],
                idp.issuer.as_str(),
                "{layout:?} {kind}: {claims}"
            );
        }
        assert!(tokens["refresh_token"].is_string(), "{layout:?}: {tokens}");
    }
}

#[tokio::test]
async fn complete_login_reports_a_wrong_password_as_refused() {
    for layout in Layout::BOTH {
        let idp = TestIdp::start(layout, NO_KEYWARD, &[]).await;
        let discovery = idp.discovery().await;
        // The harness builds these itself (to keep discovery stats clean): they must match what is advertised.
        assert_eq!(
            discovery["authorization_endpoint"],
            idp.authorization_endpoint().as_str()
        );
        assert_eq!(discovery["token_endpoint"], idp.token_endpoint().as_str());
        let authorize = discovery["authorization_endpoint"].as_str().unwrap();
        let pkce = Pkce::new();
        let authorize_url = Url::parse_with_params(
            authorize,
            [
                ("response_type", "code"),
                ("client_id", idp.client_id()),
                ("redirect_uri", idp.redirect_uri()),
                ("scope", "openid email profile"),
                ("state", "s-wrong-password"),
                ("nonce", "n-wrong-password"),
                ("code_challenge", pkce.challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        )
        .unwrap();

        let result =
            complete_login(&browser(), authorize_url.as_str(), "alice", "not-alice-pw").await;
        assert!(
            matches!(result, Err(LoginRefused)),
            "{layout:?}: {result:?}"
        );
        assert_eq!(
            idp.stats().await["logins"],
            json!({"ok": 0, "failed": 1}),
            "{layout:?}"
        );
    }
}

#[tokio::test]
async fn abort_login_returns_access_denied_with_the_state() {
    for layout in Layout::BOTH {
        let idp = TestIdp::start(layout, NO_KEYWARD, &[]).await;
        let state = "s-abort-123";
        let authorize_url = idp.authorize_url(state, &Pkce::new());

        let location = abort_login(&browser(), &authorize_url).await;
        assert!(
            is_callback(&location, idp.redirect_uri()),
            "{layout:?}: {location}"
        );
        let params = query_params(&location);
        assert_eq!(
            params.get("error").map(String::as_str),
            Some("access_denied"),
            "{layout:?}: {location}"
        );
        assert_eq!(
            params.get("state").map(String::as_str),
            Some(state),
            "{layout:?}: {location}"
        );
        assert!(!params.contains_key("code"), "{layout:?}: {location}");
    }
}
