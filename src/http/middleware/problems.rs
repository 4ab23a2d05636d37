//! Turns errors from the routes into problem documents (RFC 9457), with the `Allow` header of a 405 taken
//! from the spec, and keeps the matched route on the response for the metrics.

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, IntoResponse, PathPattern, Response};

use crate::{error::problem_from_error, http::middleware::route_table::RouteTable};

/// Turns errors from the wrapped endpoint into problem responses, keeping the matched route for metrics.
pub fn problems<E: Endpoint + 'static>(
    ep: E,
    table: Arc<RouteTable>,
) -> impl Endpoint<Output = Response> {
    ep.around(move |ep, req| {
        let table = table.clone();
        async move {
            // A Uri clone shares its bytes; the path is only read when there is an error to describe.
            let uri = req.uri().clone();
            match ep.call(req).await {
                Ok(resp) => Ok(resp.into_response()),
                Err(err) => {
                    let pattern = err.data::<PathPattern>().cloned();
                    let mut resp =
                        problem_from_error(err, table.allow(uri.path()).map(str::to_owned));
                    if let Some(pattern) = pattern {
                        resp.set_data(pattern);
                    }
                    Ok(resp)
                }
            }
        }
    })
}
