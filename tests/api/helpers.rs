//! `spawn_app`: a running Keyward on port 0 with its own database, and a client pointed at it.

use std::collections::HashMap;

use keyward::{app::Application, config::Config, http::body::JsonBody, state::AppState};
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use sea_orm::{ConnectionTrait, Database};
use validator::Validate;

use crate::idp::{Layout, TestIdp};

pub struct TestApp {
    pub address: String,
    pub state: AppState,
    pub client: reqwest::Client,
    stop: std::sync::Arc<tokio::sync::Notify>,
    _db: TestDb,
}

impl TestApp {
    /// Sends the instance its shutdown signal, as SIGTERM does for the binary.
    pub fn shut_down(&self) {
        self.stop.notify_one();
    }

    pub fn db_url(&self) -> &str {
        &self._db.url
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// A POST with exactly this content type and body, as a careless or hostile client might send it.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// A GET as a browser page on `origin` sends it.
    pub async fn get_from(&self, path: &str, origin: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("Origin", origin)
            .send()
            .await
            .unwrap()
    }

    /// A CORS preflight for `method` (and optionally request headers) from `origin`.
    pub async fn preflight(
        &self,
        path: &str,
        origin: &str,
        method: &str,
        headers: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(reqwest::Method::OPTIONS, self.url(path))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", method);
        if let Some(headers) = headers {
            req = req.header("Access-Control-Request-Headers", headers);
        }
        req.send().await.unwrap()
    }
}

/// A response header as text, if present.
pub fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Starts Keyward with the defaults plus `settings` (as environment variables would give them).
pub async fn spawn_app_with(settings: &[(&str, &str)]) -> TestApp {
    start(settings, None).await
}

/// Another Keyward instance on `app`'s database (a replica, or the same app after a restart), with the same
/// public URL. `settings` come on top of the ones given.
pub async fn spawn_sibling(app: &TestApp, settings: &[(&str, &str)]) -> TestApp {
    let mut vars: Vec<(&str, &str)> = vec![("KEYWARD_PUBLIC_URL", app.address.as_str())];
    vars.extend_from_slice(settings);
    start_on(&vars, None, TestDb::shared(&app._db.url)).await
}

/// Three instances started at once on one new, empty database: nothing migrated or seeded before they race.
pub async fn spawn_three_on_fresh_db(settings: &[(&str, &str)]) -> (TestApp, TestApp, TestApp) {
    let db = TestDb::create().await;
    let url = db.url.clone();
    tokio::join!(
        start_on(settings, None, db),
        start_on(settings, None, TestDb::shared(&url)),
        start_on(settings, None, TestDb::shared(&url)),
    )
}

async fn start(settings: &[(&str, &str)], listener: Option<std::net::TcpListener>) -> TestApp {
    start_on(settings, listener, TestDb::create().await).await
}

async fn start_on(
    settings: &[(&str, &str)],
    listener: Option<std::net::TcpListener>,
    db: TestDb,
) -> TestApp {
    let mut vars: HashMap<String, String> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.entry("KEYWARD_LISTEN".into())
        .or_insert("127.0.0.1:0".into());
    vars.insert("DATABASE_URL".into(), db.url.clone());
    let config = Config::from_map(&vars).expect("test configuration is valid");
    let app = Application::build_on(config, ProbeApi, listener)
        .await
        .expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let signal = stop.clone();
    tokio::spawn(app.run_until(async move { signal.notified().await }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        address,
        state,
        client,
        stop,
        _db: db,
    }
}

/// Starts Keyward wired to a fresh test identity provider in `layout`. The port is taken first, because the
/// provider must know Keyward's redirect URI before Keyward knows the provider.
pub async fn spawn_app_with_idp(
    layout: Layout,
    settings: &[(&str, &str)],
    idp_env: &[(&str, &str)],
) -> (TestApp, TestIdp) {
    spawn_app_with_idp_on(layout, settings, idp_env, TestDb::create().await).await
}

/// `spawn_app_with_idp` on a database the test made itself (on a server of its own, say).
pub async fn spawn_app_with_idp_on(
    layout: Layout,
    settings: &[(&str, &str)],
    idp_env: &[(&str, &str)],
    db: TestDb,
) -> (TestApp, TestIdp) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = TestIdp::start(layout, &base, idp_env).await;
    let mut all: Vec<(String, String)> = idp.keyward_settings();
    all.push(("KEYWARD_LISTEN".into(), format!("127.0.0.1:{port}")));
    all.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = start_on(&pairs, Some(listener), db).await;
    (app, idp)
}

/// Keyward on a port the test bound before (so that a provider could be told its URL first), on a fresh database.
pub async fn spawn_app_on_listener(
    settings: &[(&str, &str)],
    listener: std::net::TcpListener,
) -> TestApp {
    listener.set_nonblocking(true).unwrap();
    start(settings, Some(listener)).await
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A database that exists for one test: a SQLite file in a temporary folder, or a PostgreSQL database
/// created on the server named by `KEYWARD_TEST_PG_URL` and dropped afterwards.
pub struct TestDb {
    pub url: String,
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A database another `TestDb` owns and drops.
    fn shared(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            pg: None,
            _dir: None,
        }
    }

    pub async fn create() -> Self {
        match std::env::var("KEYWARD_TEST_PG_URL") {
            Ok(admin_url) if !admin_url.is_empty() => Self::on_server(&admin_url).await,
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/keyward.db?mode=rwc", dir.path().display());
                Self {
                    url,
                    pg: None,
                    _dir: Some(dir),
                }
            }
        }
    }
}

impl TestDb {
    /// A new database on the PostgreSQL server `admin_url` names (a superuser URL).
    pub async fn on_server(admin_url: &str) -> Self {
        let name = format!("keyward_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(admin_url)
            .await
            .expect("PostgreSQL for tests is reachable");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await.ok();
        let (base, _) = admin_url.rsplit_once('/').expect("URL names a database");
        Self {
            url: format!("{base}/{name}"),
            pg: Some((admin_url.to_owned(), name)),
            _dir: None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.pg.take() else {
            return;
        };
        // Drop runs outside async code; a short-lived runtime on its own thread removes the database.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    admin.close().await.ok();
                }
            });
        })
        .join();
    }
}

/// An operation mounted only in tests, to drive the shared request-body machinery (`JsonBody`,
/// problem documents, size limits) the way Keyward's own write operations use it.
pub struct ProbeApi;

#[derive(Object, Validate, Debug)]
#[oai(deny_unknown_fields)]
pub struct ProbeBody {
    #[oai(validator(min_length = 2, max_length = 64, pattern = r"^[a-z][a-z0-9_-]*$"))]
    pub name: String,
    #[validate(email(message = "must be an email address"))]
    pub email: Option<String>,
    pub note: Option<String>,
}

#[OpenApi]
impl ProbeApi {
    #[oai(path = "/api/v1/probe", method = "post")]
    async fn probe(&self, body: JsonBody<ProbeBody>) -> Json<String> {
        Json(body.0.name)
    }

    /// Takes a typed query parameter, and panics on request, to show neither reaches a client as a 500 page;
    /// `sleep_ms` makes it a slow request (to be in flight at shutdown).
    #[oai(path = "/api/v1/probe", method = "get")]
    async fn probe_query(
        &self,
        #[oai(validator(maximum(value = "200")))] per_page: Query<Option<u32>>,
        panic: Query<Option<bool>>,
        sleep_ms: Query<Option<u64>>,
    ) -> Json<u32> {
        if let Some(ms) = sleep_ms.0 {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        if panic.0 == Some(true) {
            panic!("probe asked to panic");
        }
        Json(per_page.0.unwrap_or(50))
    }
}

/// A plain role (no default, not built in, no provider group), for a test to insert as it needs.
pub fn role_row(name: &str) -> entity::roles::ActiveModel {
    use sea_orm::ActiveValue::Set;
    let now = chrono::Utc::now();
    entity::roles::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        name: Set(name.to_owned()),
        description: Set(String::new()),
        is_default: Set(false),
        built_in: Set(false),
        idp_group: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Reads a problem document, checking the media type on the way.
pub async fn problem(resp: reqwest::Response) -> serde_json::Value {
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "status {}",
        resp.status()
    );
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:keyward:problem:")
    );
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}
