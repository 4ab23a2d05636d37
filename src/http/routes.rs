//! The whole HTTP application: Keyward's OpenAPI operations, the docs, the metrics endpoint, and the middleware
//! stack every request crosses.

use std::sync::Arc;

use poem::{
    Endpoint, EndpointExt, Response, Route,
    endpoint::make_sync,
    get, handler,
    middleware::{CookieJarManager, Cors},
    web::{Data, Html},
};
use poem_openapi::{OpenApi, OpenApiService};

use crate::{
    config::Config,
    http::{
        auth::AuthApi,
        console::{self, Console},
        health::HealthApi,
        me::MeApi,
        middleware::{edge::Edge, gate::Gate, metrics::RequestMetrics, route_table::RouteTable},
        roles::RolesApi,
        sessions::SessionsApi,
        spec,
        sync::SyncApi,
        users::UsersApi,
    },
    state::AppState,
};

/// Request bodies larger than this get 413: nothing Keyward accepts comes close.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Keyward's operations, in the order they appear in the spec.
pub type Apis = (
    HealthApi,
    AuthApi,
    SessionsApi,
    MeApi,
    RolesApi,
    UsersApi,
    SyncApi,
);

fn apis() -> Apis {
    (
        HealthApi,
        AuthApi,
        SessionsApi,
        MeApi,
        RolesApi,
        UsersApi,
        SyncApi,
    )
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
    spec::finish(&service(()).spec())
}

#[handler]
fn metrics_endpoint(state: Data<&AppState>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// Swagger UI, sending `X-CSRF: 1` with every request so that "Try it out" works for a signed-in browser:
/// Keyward refuses cookie-authenticated calls without it (a cross-site form cannot add the header).
/// The UI embeds poem-openapi's own document (`raw`) verbatim; it shows the finished one (`spec`) instead.
fn docs_html<T: OpenApi>(svc: &OpenApiService<T, ()>, raw: &str, spec: &str) -> String {
    svc.swagger_ui_html().replacen(raw, spec, 1).replacen(
        "deepLinking: true,",
        "deepLinking: true,\n        requestInterceptor: (req) => { req.headers['X-CSRF'] = '1'; return req; },",
        1,
    )
}

/// Browsers may call with credentials from Keyward's own origin and the allow-listed ones only.
fn cors(config: &Config) -> Cors {
    config
        .cors_origins
        .iter()
        .fold(Cors::new().allow_origin(config.public_origin()), |c, o| {
            c.allow_origin(o.as_str())
        })
        .allow_credentials(true)
        .allow_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allow_headers(["content-type", "authorization", "x-csrf", "x-request-id"])
        .expose_headers(["x-request-id", "retry-after", "location"])
        .max_age(600)
}

/// The routes: Keyward's operations, the spec and its UI, metrics, and the console (`/` leading to it is the
/// gate's).
fn routes<T: OpenApi + 'static>(
    svc: OpenApiService<T, ()>,
    console_dir: Option<&std::path::Path>,
) -> (Route, Arc<RouteTable>) {
    let raw = svc.spec();
    let spec = spec::finish(&raw);
    let table = Arc::new(RouteTable::from_spec(
        &spec,
        &["/openapi.json", "/docs", "/metrics", "/", console::PREFIX],
    ));
    let docs = Html(docs_html(&svc, &raw, &spec));
    let mut routes = Route::new()
        .at(
            "/openapi.json",
            get(make_sync(move |_| {
                Response::builder()
                    .content_type("application/json")
                    .body(spec.clone())
            })),
        )
        .at("/docs", get(make_sync(move |_| docs.clone())))
        .at("/metrics", get(metrics_endpoint));
    if let Some(dir) = console_dir {
        routes = routes.nest(console::PREFIX, Console::new(dir.to_owned()));
    }
    // The operations nested at "/" answer every path not routed above.
    (routes.nest("/", svc), table)
}

/// The whole HTTP application: the edge (`middleware::edge`), CORS, the cookie jar, the gate
/// (`middleware::gate`), then the routes. Few layers on purpose: every request crosses each of them.
pub fn endpoint<T: OpenApi + 'static>(
    state: AppState,
    extra: T,
) -> impl Endpoint<Output = Response> {
    let (routes, table) = routes(service(extra), state.config.console_dir.as_deref());
    // Boxed: CORS awaits its inner endpoint at two places and the edge awaits it once more, without CORS (the
    // back-channel logout); inline, each place held the whole gate's future, and poem's server copies the
    // outermost future, all of it, into a box on every request (`bench/README.md`, sixth stop).
    let gate = Arc::new(
        Gate {
            inner: routes,
            state: state.clone(),
            table: table.clone(),
            max_body_bytes: MAX_BODY_BYTES,
        }
        // The rate limit reads the session cookie before any operation does (they share the jar).
        .with(CookieJarManager::new())
        .boxed(),
    );
    Edge {
        cors: gate.clone().with(cors(&state.config)),
        plain: gate,
        table,
        metrics: RequestMetrics::new(&state.metrics),
        hsts: state.config.is_https(),
        state,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Poem's server copies the outermost future into a box on every request; it was 14.9 KB (5.9 KB now) when
    /// the gate's future sat inline in it three times (`bench/README.md`, sixth stop).
    #[tokio::test]
    async fn a_request_future_stays_small() {
        let vars = [
            ("DATABASE_URL", "sqlite::memory:"),
            ("KEYWARD_LISTEN", "127.0.0.1:0"),
        ];
        let config = Config::from_map(&vars.map(|(k, v)| (k.into(), v.into())).into()).unwrap();
        let app = crate::app::Application::build(config).await.unwrap();
        let edge = endpoint(app.state().clone(), ());
        let size = std::mem::size_of_val(&edge.call(poem::Request::default()));
        assert!(size < 8 * 1024, "the request future takes {size} bytes");
    }

    #[test]
    fn the_docs_page_sends_the_csrf_header() {
        let svc = service(());
        let raw = svc.spec();
        assert!(docs_html(&svc, &raw, &raw).contains("req.headers['X-CSRF'] = '1'"));
    }

    #[test]
    fn the_spec_needs_no_configuration_and_is_stable() {
        assert_eq!(spec_json(), spec_json());
        assert!(spec_json().contains("\"/healthz\""));
    }

    #[test]
    fn every_operation_served_is_in_the_spec() {
        // Two services declaring one path would both be routed, but the spec keeps only one of them.
        let served: BTreeSet<String> = <Apis as OpenApi>::meta()
            .iter()
            .flat_map(|api| &api.paths)
            .flat_map(|path| &path.operations)
            .filter_map(|op| op.operation_id.map(str::to_owned))
            .collect();
        let spec: serde_json::Value = serde_json::from_str(&spec_json()).unwrap();
        let listed: BTreeSet<String> = spec["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|ops| ops.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(served, listed);
    }
}
