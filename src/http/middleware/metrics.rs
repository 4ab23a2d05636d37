//! Counts every request by route pattern (never the raw path, which would let clients mint label values).

use std::{sync::Arc, time::Instant};

use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result};

use crate::metrics::Metrics;

pub struct RequestMetrics(pub Arc<Metrics>);

impl<E: Endpoint> Middleware<E> for RequestMetrics {
    type Output = RequestMetricsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestMetricsEndpoint {
            inner,
            metrics: self.0.clone(),
        }
    }
}

pub struct RequestMetricsEndpoint<E> {
    inner: E,
    metrics: Arc<Metrics>,
}

impl<E: Endpoint> Endpoint for RequestMetricsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let method = method_label(req.method());
        let started = Instant::now();
        let resp = self.inner.get_response(req).await.into_response();
        let route = resp
            .data::<PathPattern>()
            .map(|p| p.0.to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "unmatched".into());
        self.metrics
            .http_requests
            .with_label_values(&[method, &route, resp.status().as_str()])
            .inc();
        self.metrics
            .http_duration
            .with_label_values(&[method, &route])
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
