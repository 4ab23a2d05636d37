//! Audits refused privileged attempts: a 403 the operation answered to an authenticated caller becomes an
//! `access.refused` event naming the operation and, from the problem's detail, the missing permission. Repeats
//! of one caller and operation within a minute fold into one event (`audit::fold`).

use poem::{
    PathPattern, Request, Response, Result,
    http::{Method, StatusCode},
};

use crate::{
    audit::{self, Event},
    error::ProblemType,
    http::{authn::Caller, client_ip::OriginSource},
    state::AppState,
};

/// What auditing a refusal needs, read before the request moves on; only a caller the edge knows can be
/// refused a privilege, so everyone else has none.
pub struct Watch {
    user_id: uuid::Uuid,
    state: AppState,
    method: Method,
    origin: OriginSource,
}

impl Watch {
    pub fn of(req: &Request) -> Option<Self> {
        let (Caller(principal), state) = (req.data::<Caller>()?, req.data::<AppState>()?);
        Some(Self {
            user_id: principal.user.id,
            state: state.clone(),
            method: req.method().clone(),
            // Formatted only for a refusal.
            origin: OriginSource::of(req),
        })
    }

    /// Records the operation's answer if it is a privilege refused; the answer itself passes unchanged.
    pub async fn record(self, result: Result<Response>) -> Result<Response> {
        let resp = match result {
            Ok(resp) => resp,
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
        // Boxed: every authenticated request is watched, and only a refusal needs the audit's large future.
        Box::pin(self.audit(resp)).await
    }

    async fn audit(self, mut resp: Response) -> Result<Response> {
        let body = resp.take_body().into_bytes().await.unwrap_or_default();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        resp.set_body(body);
        // Other 403s (a cookie without `X-CSRF`) are no privileged attempt.
        if problem["type"] != ProblemType::Forbidden.uri().as_str() {
            return Ok(resp);
        }
        let (user_id, method) = (self.user_id, &self.method);
        let route = resp.data::<PathPattern>().map_or("?", |p| &*p.0);
        let operation = format!("{method} {route}");
        let detail = problem["detail"].as_str().unwrap_or_default().to_owned();
        audit::fold::record_folded(
            &self.state.db,
            &self.origin.origin(),
            Event::failure("access.refused", Some(user_id), detail).target(operation.clone()),
            &format!("access.refused {user_id} {operation}"),
        )
        .await;
        Ok(resp)
    }
}
