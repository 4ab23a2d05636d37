//! Counts every request by route pattern (never the raw path, which would let clients mint label values).
//! Answers given before routing (429, 413) or without a match for the method (405) get the spec's route.

use std::time::Instant;

use poem::{PathPattern, Response, http::Method};

use crate::{http::middleware::route_table::RouteTable, metrics::Metrics};

/// Counts a finished request under its route: the router's pattern, else the spec's route for the path.
pub fn record(
    metrics: &Metrics,
    routes: &RouteTable,
    method: &Method,
    path: &str,
    resp: &Response,
    started: Instant,
) {
    let method = method_label(method);
    let route = resp
        .data::<PathPattern>()
        .map(|p| &*p.0)
        .filter(|p| !p.is_empty())
        .or_else(|| routes.label(path))
        .unwrap_or("unmatched");
    metrics
        .http_requests
        .with_label_values(&[method, route, resp.status().as_str()])
        .inc();
    metrics
        .http_duration
        .with_label_values(&[method, route])
        .observe(started.elapsed().as_secs_f64());
}

/// Clients can send any method token; only the standard ones become label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
