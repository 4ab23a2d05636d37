//! Counts every request by route pattern (never the raw path, which would let clients mint label values).
//! Answers given before routing (429, 413) or without a match for the method (405) get the spec's route.

use std::{sync::Arc, time::Instant};

use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result};

use crate::{http::middleware::route_table::RouteTable, metrics::Metrics};

pub struct RequestMetrics {
    pub metrics: Arc<Metrics>,
    pub routes: Arc<RouteTable>,
}

impl<E: Endpoint> Middleware<E> for RequestMetrics {
    type Output = RequestMetricsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestMetricsEndpoint {
            inner,
            metrics: self.metrics.clone(),
            routes: self.routes.clone(),
        }
    }
}

pub struct RequestMetricsEndpoint<E> {
    inner: E,
    metrics: Arc<Metrics>,
    routes: Arc<RouteTable>,
}

impl<E: Endpoint> Endpoint for RequestMetricsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let method = method_label(req.method());
        // A Uri clone shares its bytes; the path is only read when the router did not name the route.
        let uri = req.uri().clone();
        let started = Instant::now();
        let resp = self.inner.get_response(req).await.into_response();
        let route = resp
            .data::<PathPattern>()
            .map(|p| &*p.0)
            .filter(|p| !p.is_empty())
            .or_else(|| self.routes.label(uri.path()))
            .unwrap_or("unmatched");
        self.metrics
            .http_requests
            .with_label_values(&[method, route, resp.status().as_str()])
            .inc();
        self.metrics
            .http_duration
            .with_label_values(&[method, route])
            .observe(started.elapsed().as_secs_f64());
        Ok(resp)
    }
}

/// Clients can send any method token; only the standard ones become label values.
fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
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
