//! Wiring: shared state, the API services, the middleware stack and the server. `main` and the tests
//! both start Keyward through `Application::build`.

use std::{collections::BTreeSet, future::Future, ops::Deref, sync::Arc, time::Duration};

use poem::{
    Endpoint, EndpointExt, IntoResponse, PathPattern, Response, Route, Server, get, handler,
    http::header,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    middleware::{CatchPanic, Cors, RequestId, ReuseId, SetHeader, Tracing},
    web::Data,
};
use poem_openapi::{OpenApi, OpenApiService};
use sea_orm::DatabaseConnection;

use crate::{
    auth::{Auth, sessions},
    config::Config,
    db,
    error::{Problem, ProblemType, problem_from_error},
    http::{
        auth::AuthApi,
        health::HealthApi,
        me::MeApi,
        middleware::{
            body_limit::BodyLimit,
            metrics::RequestMetrics,
            rate_limit::{Bucket, RateLimit, RateLimits},
            security_headers::SecurityHeaders,
        },
        roles::RolesApi,
        sync::SyncApi,
        users::UsersApi,
    },
    metrics::Metrics,
    rbac,
    sync::{Syncer, Trigger, schedule},
};

/// Request bodies larger than this get 413: nothing Keyward accepts comes close.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything a request handler may need, reached through `Data<&AppState>`.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

pub struct AppStateInner {
    pub config: Config,
    pub db: DatabaseConnection,
    pub metrics: Arc<Metrics>,
    pub rate_limits: Arc<RateLimits>,
    pub auth: Arc<Auth>,
    pub sync: Arc<Syncer>,
}

impl Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Keyward's operations, in the order they appear in the spec.
pub type Apis = (HealthApi, AuthApi, MeApi, RolesApi, UsersApi, SyncApi);

fn apis() -> Apis {
    (HealthApi, AuthApi, MeApi, RolesApi, UsersApi, SyncApi)
}

/// The OpenAPI service; `extra` lets an embedder (or a test) mount more operations behind the same edge.
pub fn service<T: OpenApi>(extra: T) -> OpenApiService<(Apis, T), ()> {
    OpenApiService::new((apis(), extra), "Keyward", env!("CARGO_PKG_VERSION"))
        .description(
            "Backend for single-page apps: OpenID Connect login as a backend-for-frontend, API tokens, \
             roles and permissions, user sync. Errors are RFC 9457 problem documents (`application/problem+json`).",
        )
}

/// The spec exactly as `keyward openapi` prints it and `openapi/openapi.json` holds it.
pub fn spec_json() -> String {
    service(()).spec()
}

/// Which methods each path answers, for the `Allow` header of 405 responses.
struct AllowTable(Vec<(Vec<String>, String)>);

impl AllowTable {
    fn from_spec(spec: &str, extra_get_paths: &[&str]) -> Self {
        let mut table = Vec::new();
        if let Ok(doc) = serde_json::from_str::<serde_json::Value>(spec)
            && let Some(paths) = doc.get("paths").and_then(|p| p.as_object())
        {
            for (path, ops) in paths {
                let mut methods: BTreeSet<String> = ops
                    .as_object()
                    .map(|o| o.keys().map(|m| m.to_uppercase()).collect())
                    .unwrap_or_default();
                if methods.contains("GET") {
                    methods.insert("HEAD".into());
                }
                table.push((
                    segments(path),
                    methods.into_iter().collect::<Vec<_>>().join(", "),
                ));
            }
        }
        for path in extra_get_paths {
            table.push((segments(path), "GET, HEAD".into()));
        }
        Self(table)
    }

    fn allow(&self, path: &str) -> Option<String> {
        let wanted = segments(path);
        self.0
            .iter()
            .find(|(pattern, _)| {
                pattern.len() == wanted.len()
                    && pattern
                        .iter()
                        .zip(&wanted)
                        .all(|(p, w)| p.starts_with('{') || p == w)
            })
            .map(|(_, methods)| methods.clone())
    }
}

fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

#[handler]
fn metrics_endpoint(state: Data<&AppState>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// Turns errors from the wrapped endpoint into problem responses, keeping the matched route for metrics.
fn problems<E: Endpoint + 'static>(
    ep: E,
    table: Arc<AllowTable>,
) -> impl Endpoint<Output = Response> {
    ep.around(move |ep, req| {
        let table = table.clone();
        async move {
            // A Uri clone shares its bytes; the path is only read when there is an error to describe.
            let uri = req.uri().clone();
            match ep.call(req).await {
                Ok(resp) => Ok(resp.into_response()),
                Err(err) => {
                    let pattern = err.data::<PathPattern>().cloned();
                    let mut resp = problem_from_error(err, table.allow(uri.path()));
                    if let Some(pattern) = pattern {
                        resp.set_data(pattern);
                    }
                    Ok(resp)
                }
            }
        }
    })
}

/// The whole HTTP application: routes and the middleware stack around them (the last `.with` is outermost).
pub fn endpoint<T: OpenApi + 'static>(
    state: AppState,
    extra: T,
) -> impl Endpoint<Output = Response> {
    let svc = service(extra);
    let table = Arc::new(AllowTable::from_spec(
        &svc.spec(),
        &["/openapi.json", "/docs", "/metrics"],
    ));
    let docs = svc.swagger_ui();
    let spec = svc.spec_endpoint();
    let routes = Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .at("/metrics", get(metrics_endpoint))
        .nest("/", svc);

    let cors = state
        .config
        .cors_origins
        .iter()
        .fold(
            Cors::new().allow_origin(state.config.public_origin()),
            |c, o| c.allow_origin(o.as_str()),
        )
        .allow_credentials(true)
        .allow_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allow_headers(["content-type", "authorization", "x-csrf", "x-request-id"])
        .expose_headers(["x-request-id", "retry-after", "location"])
        .max_age(600);

    let inner = problems(
        routes
            .with(CatchPanic::new().with_handler(|_| {
                Problem::new(
                    ProblemType::Internal,
                    "an unexpected error occurred; it has been logged",
                )
                .into_response()
            }))
            .with(BodyLimit {
                max_bytes: MAX_BODY_BYTES,
            })
            .with(RateLimit {
                limits: state.rate_limits.clone(),
                metrics: state.metrics.clone(),
            }),
        table.clone(),
    );
    // Responses differ by Origin (CORS headers or a refusal), so shared caches must key on it.
    let vary_origin = SetHeader::new().appending(header::VARY, "Origin");
    problems(inner.with(cors), table)
        .with(vary_origin)
        .with(SecurityHeaders {
            hsts: state.config.is_https(),
        })
        .with(RequestMetrics(state.metrics.clone()))
        .with(Tracing)
        .with(RequestId::default().reuse_id(ReuseId::Ignore))
        .data(state)
}

/// A bound, ready-to-run Keyward: database migrated, port taken.
pub struct Application<T = ()> {
    acceptor: TcpAcceptor,
    port: u16,
    state: AppState,
    extra: T,
}

impl Application<()> {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, ()).await
    }
}

impl<T: OpenApi + 'static> Application<T> {
    pub async fn build_with(config: Config, extra: T) -> anyhow::Result<Self> {
        Self::build_on(config, extra, None).await
    }

    /// Like `build_with`, on a socket the caller already bound (tests need the port before the app exists:
    /// the identity provider must know the redirect URI).
    pub async fn build_on(
        config: Config,
        extra: T,
        listener: Option<std::net::TcpListener>,
    ) -> anyhow::Result<Self> {
        let db = db::connect(&config.database_url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
        db::migrate(&db)
            .await
            .map_err(|e| anyhow::anyhow!("cannot migrate the database: {e}"))?;
        let metrics = Arc::new(Metrics::new()?);
        let seed = match &config.rbac_seed {
            Some(path) => Some(
                rbac::seed::SeedFile::load(path)
                    .map_err(|e| anyhow::anyhow!("KEYWARD_RBAC_SEED: {e}"))?,
            ),
            None => None,
        };
        rbac::seed::apply(&db, seed.as_ref())
            .await
            .map_err(|e| anyhow::anyhow!("cannot seed roles and permissions: {e}"))?;
        let auth = Arc::new(Auth::new(&config, &db).await?);
        let sync = Arc::new(Syncer::new(
            &config,
            db.clone(),
            metrics.clone(),
            auth.access.clone(),
        )?);
        // Login endpoints get their own, stricter bucket on top of the global one.
        let buckets = [
            Bucket::new("auth", config.auth_rate_limit, |path| {
                path.starts_with("/auth/")
            }),
            Bucket::new("global", config.rate_limit, |_| true),
        ];
        let rate_limits = Arc::new(RateLimits::new(
            buckets.into_iter().flatten().collect(),
            config.trusted_proxies.clone(),
        ));
        let acceptor = match listener {
            Some(l) => TcpAcceptor::from_std(l),
            None => TcpListener::bind(config.listen).into_acceptor().await,
        }
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .unwrap_or(config.listen.port());
        let state = AppState(Arc::new(AppStateInner {
            config,
            db,
            metrics,
            rate_limits,
            auth,
            sync,
        }));
        Ok(Self {
            acceptor,
            port,
            state,
            extra,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish (10 s at most).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let housekeeping = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            let mut minutes = 0u64;
            loop {
                tick.tick().await;
                state.rate_limits.evict_idle();
                if minutes.is_multiple_of(5) {
                    match sessions::purge_expired(&state.db).await {
                        Ok((0, 0)) => {}
                        Ok((sessions, logins)) => {
                            tracing::info!(sessions, logins, "purged expired sessions and logins")
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "could not purge expired sessions")
                        }
                    }
                }
                minutes += 1;
            }
        });
        let state = self.state.clone();
        let rbac_poll = tokio::spawn(async move {
            let mut tick = tokio::time::interval(rbac::cache::POLL_EVERY);
            loop {
                tick.tick().await;
                if let Err(err) = state.auth.access.poll(&state.db).await {
                    tracing::warn!(error = %err, "could not check for role changes; clearing the cache");
                    state.auth.access.clear();
                }
            }
        });
        let scheduler = self.start_sync_schedule().await;
        let ep = endpoint(self.state.clone(), self.extra);
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(ep, shutdown, Some(Duration::from_secs(10)))
            .await;
        housekeeping.abort();
        rbac_poll.abort();
        if let Some(mut scheduler) = scheduler {
            scheduler.shutdown().await.ok();
        }
        self.state.db.clone().close().await.ok();
        result
    }
}

impl<T> Application<T> {
    /// The daily (or as configured) sync, and the start-up run when asked for. Nothing without a directory.
    async fn start_sync_schedule(&self) -> Option<tokio_cron_scheduler::JobScheduler> {
        let syncer = self.state.sync.clone();
        if let Err(why) = syncer.provider() {
            tracing::info!("user sync off: {why}");
            return None;
        }
        if syncer.settings().on_startup
            && let Err(err) = syncer.spawn(Trigger::Startup).await
        {
            tracing::warn!(error = %err, "start-up sync not started");
        }
        if !syncer.settings().enabled {
            tracing::info!(
                "scheduled user sync disabled (KEYWARD_SYNC_ENABLED=false); manual runs work"
            );
            return None;
        }
        let plan = syncer.schedule()?;
        tracing::info!(
            schedule = %syncer.settings().schedule,
            timezone = %syncer.settings().timezone,
            next = ?plan.next_after(chrono::Utc::now()),
            "user sync scheduled"
        );
        match schedule::start(syncer, plan).await {
            Ok(s) => Some(s),
            Err(err) => {
                tracing::error!(error = %err, "could not start the sync scheduler");
                None
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_table_matches_templated_paths() {
        let spec =
            r#"{"paths":{"/api/v1/roles/{id}":{"get":{},"delete":{}},"/healthz":{"get":{}}}}"#;
        let t = AllowTable::from_spec(spec, &["/metrics"]);
        assert_eq!(
            t.allow("/api/v1/roles/42").as_deref(),
            Some("DELETE, GET, HEAD")
        );
        assert_eq!(t.allow("/healthz").as_deref(), Some("GET, HEAD"));
        assert_eq!(t.allow("/metrics").as_deref(), Some("GET, HEAD"));
        assert_eq!(t.allow("/nope"), None);
    }

    #[test]
    fn the_spec_needs_no_configuration_and_is_stable() {
        assert_eq!(spec_json(), spec_json());
        assert!(spec_json().contains("\"/healthz\""));
    }
}
