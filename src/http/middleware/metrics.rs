//! Counts every request by route pattern (never the raw path, which would let clients mint label values).
//! Answers given before routing (429, 413) or without a match for the method (405) get the spec's route.

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
    time::Instant,
};

use poem::{
    PathPattern, Response,
    http::{Method, StatusCode},
};
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec};

use crate::{http::middleware::route_table::RouteTable, metrics::Metrics};

/// The request counter and duration histogram of each route, method and status seen, resolved once: prometheus's
/// own lookup hashes every label value and clones the handle (two shared reference counts) on each request,
/// 2.5 % of a `/healthz` request. Bounded like the labels: routes, eight methods, the statuses answered.
pub struct RequestMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    by_route: RwLock<HashMap<Box<str>, Vec<Handles>>>,
}

struct Handles {
    method: &'static str,
    status: StatusCode,
    requests: IntCounter,
    duration: Histogram,
}

impl Handles {
    fn record(&self, seconds: f64) {
        self.requests.inc();
        self.duration.observe(seconds);
    }
}

impl RequestMetrics {
    /// Counts into `metrics`' HTTP families.
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            requests: metrics.http_requests.clone(),
            duration: metrics.http_duration.clone(),
            by_route: RwLock::default(),
        }
    }

    /// Counts a finished request under its route: the router's pattern, else the spec's route for the path.
    pub fn record(
        &self,
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
        let status = resp.status();
        let seconds = started.elapsed().as_secs_f64();
        {
            let by_route = self.by_route.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(handles) = by_route
                .get(route)
                .and_then(|all| find(all, method, status))
            {
                handles.record(seconds);
                return;
            }
        }
        let mut by_route = self
            .by_route
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let all = by_route.entry(route.into()).or_default();
        if let Some(handles) = find(all, method, status) {
            handles.record(seconds);
            return;
        }
        let handles = Handles {
            method,
            status,
            requests: self
                .requests
                .with_label_values(&[method, route, status.as_str()]),
            duration: self.duration.with_label_values(&[method, route]),
        };
        handles.record(seconds);
        all.push(handles);
    }
}

fn find<'a>(all: &'a [Handles], method: &str, status: StatusCode) -> Option<&'a Handles> {
    all.iter()
        .find(|h| h.method == method && h.status == status)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: StatusCode, route: &str) -> Response {
        let mut resp = Response::builder().status(status).finish();
        resp.set_data(PathPattern(route.into()));
        resp
    }

    fn count(metrics: &Metrics, labels: &[&str]) -> u64 {
        metrics.http_requests.with_label_values(labels).get()
    }

    /// Each route, method and status keeps its own count however often it was resolved before.
    #[test]
    fn each_route_method_and_status_is_counted_apart() {
        let metrics = Metrics::new().unwrap();
        let counting = RequestMetrics::new(&metrics);
        let table = RouteTable::from_spec("{}", &[]);
        let now = Instant::now();
        for (method, status, route, times) in [
            (Method::GET, StatusCode::OK, "/healthz", 3),
            (Method::GET, StatusCode::SERVICE_UNAVAILABLE, "/healthz", 1),
            (Method::HEAD, StatusCode::OK, "/healthz", 2),
            (Method::GET, StatusCode::OK, "/api/v1/me", 1),
        ] {
            for _ in 0..times {
                counting.record(&table, &method, "/x", &answer(status, route), now);
            }
        }
        assert_eq!(count(&metrics, &["GET", "/healthz", "200"]), 3);
        assert_eq!(count(&metrics, &["GET", "/healthz", "503"]), 1);
        assert_eq!(count(&metrics, &["HEAD", "/healthz", "200"]), 2);
        assert_eq!(count(&metrics, &["GET", "/api/v1/me", "200"]), 1);
        let samples = |method, route| {
            metrics
                .http_duration
                .with_label_values(&[method, route])
                .get_sample_count()
        };
        assert_eq!(samples("GET", "/healthz"), 4);
        assert_eq!(samples("HEAD", "/healthz"), 2);
    }
}
