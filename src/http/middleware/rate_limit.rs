//! Enforces the request budgets of `rate_limit` at the edge: resolves the client address for every request and
//! the caller behind valid credentials (kept for the operation, which then authenticates nothing twice),
//! counts it (CORS preflights and health probes excepted) and answers 429 with `Retry-After` when a bucket is
//! empty.

use std::sync::{Arc, Mutex};

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{HeaderValue, Method, header},
};

use crate::{
    error::{Problem, ProblemType},
    http::{
        authn::{Caller, EdgeAuthFailure, authenticate},
        client_ip::{self, ClientIp},
        health,
    },
    metrics::Metrics,
    rate_limit::{RateLimits, Refusal},
};

/// Resolves the client address for every request and enforces the buckets.
pub struct RateLimit {
    pub limits: Arc<RateLimits>,
    pub metrics: Arc<Metrics>,
}

impl<E: Endpoint> Middleware<E> for RateLimit {
    type Output = RateLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RateLimitEndpoint {
            inner,
            limits: self.limits.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

pub struct RateLimitEndpoint<E> {
    inner: E,
    limits: Arc<RateLimits>,
    metrics: Arc<Metrics>,
}

impl<E: Endpoint> Endpoint for RateLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        if let Some(peer) = req.remote_addr().as_socket_addr().map(|a| a.ip()) {
            let forwarded = req
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .map(|v| v.to_str().unwrap_or("unreadable"));
            let ip = client_ip::resolve(peer, forwarded, self.limits.trusted_proxies());
            req.set_data(ClientIp(ip));
            let user = if counts(&req) && self.limits.per_user(req.uri().path()) {
                caller(&mut req).await
            } else {
                None
            };
            if counts(&req)
                && let Err(refusal) = self.limits.check(req.uri().path(), ip, user).await
            {
                self.metrics
                    .rate_limited
                    .with_label_values(&[refusal.bucket])
                    .inc();
                return Ok(too_many_requests(&refusal));
            }
        }
        Ok(self.inner.call(req).await?.into_response())
    }
}

/// The user behind the request's credentials, authenticated as the operation would (a cookie only with
/// `X-CSRF: 1`) and kept as [`Caller`]. Invalid credentials are no user: they spend the address's budget.
/// `/auth/*` is left alone: its endpoints read the cookie themselves, and their bucket counts addresses.
async fn caller(req: &mut Request) -> Option<uuid::Uuid> {
    if req.uri().path().starts_with("/auth/") {
        return None;
    }
    match authenticate(req, true).await {
        Ok(principal) => {
            let id = principal.user.id;
            req.set_data(Caller(principal));
            Some(id)
        }
        Err(err) => {
            req.set_data(EdgeAuthFailure(Arc::new(Mutex::new(Some(err)))));
            None
        }
    }
}

/// Whether the request spends budget. A load balancer probing every few hundred milliseconds must never be
/// refused, or it takes a healthy instance out of service.
pub fn counts(req: &Request) -> bool {
    req.method() != Method::OPTIONS && !health::is_probe(req.uri().path())
}

fn too_many_requests(refusal: &Refusal) -> Response {
    // Round up: a client that waits the advertised seconds must get through.
    let wait = refusal.retry_after;
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let mut resp = Problem::new(
        ProblemType::RateLimited,
        format!("rate limit exceeded; retry in {secs} s"),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}
