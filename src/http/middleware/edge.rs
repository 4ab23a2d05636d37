//! The outermost layer, in one future: the application state, the client address, the request id, the request
//! span and its `response` line, metrics, the security headers, `Vary: Origin`, and any error left turned into
//! a problem. Requests go through CORS, except the provider's back-channel logout (server to server: no CORS,
//! never cached). One layer rather than eight: each nested layer moved its future into the next
//! (`bench/README.md`).

use std::{sync::Arc, time::Instant};

use poem::{
    Endpoint, IntoResponse, Request, Response, Result,
    http::{HeaderValue, header},
};
use tracing::Instrument;

use crate::{
    http::{
        client_ip::{self, ClientIp},
        middleware::{
            metrics::RequestMetrics, problems::into_problem, request_id, request_span,
            route_table::RouteTable, security_headers,
        },
        sessions::BACKCHANNEL_LOGOUT_PATH,
    },
    state::AppState,
};

/// `Vary`, the security headers (HSTS included) and the request id.
const EDGE_HEADERS: usize = 2 + security_headers::COUNT;

pub struct Edge<C, P> {
    /// The application behind CORS.
    pub cors: C,
    /// The same application without it, for the back-channel logout.
    pub plain: P,
    pub state: AppState,
    pub table: Arc<RouteTable>,
    pub metrics: RequestMetrics,
    /// Only when the public URL is https: over plain http it would be ignored, or pin a dev host.
    pub hsts: bool,
}

impl<C: Endpoint, P: Endpoint> Endpoint for Edge<C, P> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let state = &self.state;
        req.set_data(state.clone());
        let client = client_ip::of_request(&req, state.rate_limits.trusted_proxies());
        if let Some(ip) = client {
            req.set_data(ClientIp(ip));
        }
        let id = request_id::new_id();
        let span = request_span::span(&req, id, client);
        // A Uri clone shares its bytes.
        let (method, uri) = (req.method().clone(), req.uri().clone());
        let csp = security_headers::csp_for(uri.path());
        let started = Instant::now();
        let mut resp = async {
            let resp = self.route(req).await;
            request_span::log_response(resp.status(), started.elapsed());
            resp
        }
        .instrument(span)
        .await;
        self.metrics
            .record(&self.table, &method, uri.path(), &resp, started);
        let headers = resp.headers_mut();
        // Room for the ten headers added below at once: the map would otherwise grow, and rehash, halfway.
        headers.reserve(EDGE_HEADERS);
        // Responses differ by Origin (CORS headers or a refusal), so shared caches must key on it.
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        security_headers::apply(headers, csp, self.hsts);
        request_id::set_header(&mut resp, id);
        Ok(resp)
    }
}

impl<C: Endpoint, P: Endpoint> Edge<C, P> {
    async fn route(&self, req: Request) -> Response {
        if req.uri().path() == BACKCHANNEL_LOGOUT_PATH {
            let mut resp = self.plain.get_response(req).await;
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return resp;
        }
        let (method, uri) = (req.method().clone(), req.uri().clone());
        match self.cors.call(req).await {
            Ok(resp) => resp.into_response(),
            // CORS refusals, and whatever else got here as an error.
            Err(err) => into_problem(err, &method, &uri, &self.table),
        }
    }
}
