//! Audits refused privileged attempts: a 403 the operation answered to an authenticated caller becomes an
//! `access.refused` event naming the operation and, from the problem's detail, the missing permission. Repeats
//! of one caller and operation within a minute fold into one event (`audit::fold`).

use poem::{
    Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result, http::StatusCode,
};

use crate::{
    audit::{self, Event},
    error::ProblemType,
    http::{authn::Caller, client_ip::OriginSource},
    state::AppState,
};

pub struct AuditRefusals;

impl<E: Endpoint> Middleware<E> for AuditRefusals {
    type Output = AuditRefusalsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        AuditRefusalsEndpoint { inner }
    }
}

pub struct AuditRefusalsEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for AuditRefusalsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        // Only a caller the edge knows can be refused a privilege; everyone else passes untouched.
        let (Some(Caller(principal)), Some(state)) = (req.data::<Caller>(), req.data::<AppState>())
        else {
            return Ok(self.inner.call(req).await?.into_response());
        };
        let (user_id, state) = (principal.user.id, state.clone());
        // Read now (the request moves on), formatted only for a refusal.
        let (method, origin) = (req.method().clone(), OriginSource::of(&req));
        let mut resp = match self.inner.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) if err.is_from_response() && err.status() == StatusCode::FORBIDDEN => {
                let pattern = err.data::<PathPattern>().cloned();
                let mut resp = err.into_response();
                if let Some(pattern) = pattern {
                    resp.set_data(pattern);
                }
                resp
            }
            Err(err) => return Err(err),
        };
        if resp.status() != StatusCode::FORBIDDEN {
            return Ok(resp);
        }
        let body = resp.take_body().into_bytes().await.unwrap_or_default();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        resp.set_body(body);
        // Other 403s (a cookie without `X-CSRF`) are no privileged attempt.
        if problem["type"] != ProblemType::Forbidden.uri().as_str() {
            return Ok(resp);
        }
        let route = resp.data::<PathPattern>().map_or("?", |p| &*p.0);
        let operation = format!("{method} {route}");
        let detail = problem["detail"].as_str().unwrap_or_default().to_owned();
        audit::fold::record_folded(
            &state.db,
            &origin.origin(),
            Event::failure("access.refused", Some(user_id), detail).target(operation.clone()),
            &format!("access.refused {user_id} {operation}"),
        )
        .await;
        Ok(resp)
    }
}
