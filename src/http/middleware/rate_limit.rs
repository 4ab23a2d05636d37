//! Enforces the request budgets of `rate_limit` (from `middleware::gate`): resolves the caller behind valid
//! credentials (kept for the operation, which then authenticates nothing twice), counts the request (CORS
//! preflights and health probes excepted) and answers 429 with `Retry-After` when a bucket is empty.

use std::sync::{Arc, Mutex};

use poem::{
    Request, Response,
    http::{HeaderValue, Method, header},
};

use crate::{
    error::{Problem, ProblemType},
    http::{
        authn::{Caller, EdgeAuthFailure, authenticate},
        client_ip::ClientIp,
        health,
    },
    metrics::Metrics,
    rate_limit::{RateLimits, Refusal},
};

/// Spends the request's budget: `Some(429)` when a bucket is empty. The client address is the one the edge
/// resolved ([`ClientIp`]); without one (no socket peer) nothing is counted.
pub async fn enforce(
    req: &mut Request,
    limits: &RateLimits,
    metrics: &Metrics,
) -> Option<Response> {
    let ip = req.data::<ClientIp>()?.0;
    if !counts(req) {
        return None;
    }
    let user = if limits.per_user(req.uri().path()) {
        caller(req).await
    } else {
        None
    };
    let refusal = limits.check(req.uri().path(), ip, user).await.err()?;
    metrics
        .rate_limited
        .with_label_values(&[refusal.bucket])
        .inc();
    Some(too_many_requests(&refusal))
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
            req.set_data(Caller(Arc::new(principal)));
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
