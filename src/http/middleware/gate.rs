//! What every request crosses between CORS and the routes, as one layer: the rate limits (which also resolve the
//! caller), NUL in the URI, the body limit, `/` leading to the console, auditing refused privileges, panics
//! caught, and the routes' errors turned into problems here, inside CORS, so that a problem carries CORS headers.
//! One layer rather than seven: each nested layer moved its future into the next (`bench/README.md`).

use std::{panic::AssertUnwindSafe, sync::Arc};

use futures_util::FutureExt;
use poem::{Endpoint, IntoResponse, Request, Response, Result, http::Method};

use crate::{
    error::{Problem, ProblemType},
    http::{
        console,
        middleware::{
            body_limit, nul, problems::into_problem, rate_limit, refusals::Watch,
            route_table::RouteTable,
        },
    },
    state::AppState,
};

pub struct Gate<E> {
    pub inner: E,
    pub state: AppState,
    pub table: Arc<RouteTable>,
    pub max_body_bytes: usize,
}

impl<E: Endpoint> Endpoint for Gate<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        // A Uri clone shares its bytes; it is only read when there is an error to describe.
        let (method, uri) = (req.method().clone(), req.uri().clone());
        Ok(match self.pass(req).await {
            Ok(resp) => resp,
            Err(err) => into_problem(err, &method, &uri, &self.table),
        })
    }
}

impl<E: Endpoint> Gate<E> {
    async fn pass(&self, mut req: Request) -> Result<Response> {
        let state = &self.state;
        if let Some(refused) =
            rate_limit::enforce(&mut req, &state.rate_limits, &state.metrics).await
        {
            return Ok(refused);
        }
        if let Some(refused) = nul::refuse(&self.table, req.uri()) {
            return Ok(refused);
        }
        if let Some(refused) = body_limit::enforce(&mut req, self.max_body_bytes).await? {
            return Ok(refused);
        }
        if req.uri().path() == "/" && req.method() == Method::GET {
            return Ok(console::root(self.state.config.console_dir.as_deref()));
        }
        let watch = Watch::of(&req);
        let result = match AssertUnwindSafe(self.inner.call(req)).catch_unwind().await {
            Ok(result) => result.map(IntoResponse::into_response),
            Err(_) => Ok(Problem::new(
                ProblemType::Internal,
                "an unexpected error occurred; it has been logged",
            )
            .into_response()),
        };
        match watch {
            Some(watch) => watch.record(result).await,
            None => result,
        }
    }
}
