//! Turns errors from the routes into problem documents (RFC 9457): poem's and poem-openapi's own errors are
//! mapped here, parameters named as the spec names them, the `Allow` header of a 405 taken from the spec; the
//! matched route stays on the response for the metrics.

use std::sync::Arc;

use poem::{
    Endpoint, EndpointExt, IntoResponse, PathPattern, Response,
    http::{HeaderValue, StatusCode, header},
};

use crate::{
    error::{FieldError, Problem, ProblemType, WWW_AUTHENTICATE},
    http::middleware::route_table::RouteTable,
};

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
                    let mut resp = problem_from_error(err, uri.path(), &table);
                    if let Some(pattern) = pattern {
                        resp.set_data(pattern);
                    }
                    Ok(resp)
                }
            }
        }
    })
}

/// Turns any error that reached the edge into a problem response. Errors an operation built itself
/// (`ApiError`) already are problems and pass through; poem's and poem-openapi's own errors are mapped here.
pub fn problem_from_error(err: poem::Error, path: &str, table: &RouteTable) -> Response {
    use poem_openapi::error::{
        AuthorizationError, ContentTypeError, ParseParamError, ParsePathError,
        ParseRequestPayloadError,
    };

    if err.is_from_response() {
        return err.into_response();
    }
    let problem = if let Some(e) = err.downcast_ref::<ParseParamError>() {
        invalid_parameter(e.name, &e.reason)
    } else if let Some(e) = err.downcast_ref::<ParsePathError>() {
        // The router knows path parameters by position (`param0`); clients know them by the spec's name.
        let name = e
            .name
            .strip_prefix("param")
            .and_then(|n| n.parse().ok())
            .and_then(|n| table.param_name(path, n))
            .unwrap_or(e.name);
        invalid_parameter(name, &e.reason)
    } else if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        Problem::new(
            ProblemType::MalformedRequest,
            format!("the request body could not be read: {}", e.reason),
        )
    } else if let Some(e) = err.downcast_ref::<ContentTypeError>() {
        Problem::new(
            ProblemType::UnsupportedMediaType,
            format!("{e}; send application/json"),
        )
    } else if err.downcast_ref::<AuthorizationError>().is_some() {
        let mut resp = Problem::new(
            ProblemType::Unauthorized,
            "no valid credentials: send the session cookie or an `Authorization: Bearer` token",
        )
        .into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(WWW_AUTHENTICATE),
        );
        return resp;
    } else if err.downcast_ref::<poem::error::CorsError>().is_some() {
        Problem::new(
            ProblemType::Forbidden,
            format!("cross-origin request refused: {err}"),
        )
    } else {
        by_status(&err)
    };
    let mut resp = problem.into_response();
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(allow) = table
            .allow(path)
            .and_then(|a| HeaderValue::from_str(a).ok())
    {
        resp.headers_mut().insert(header::ALLOW, allow);
    }
    resp
}

/// Any other error, by its status: server errors are logged and described in nothing but that.
fn by_status(err: &poem::Error) -> Problem {
    let status = err.status();
    let kind = ProblemType::for_status(status);
    if status.is_server_error() {
        tracing::error!(error = %err, "internal error");
        return Problem::new(kind, "an unexpected error occurred; it has been logged");
    }
    let detail = match kind {
        ProblemType::NotFound => "no resource at this path".to_owned(),
        ProblemType::MethodNotAllowed => {
            "this path does not support the method; see the Allow header".to_owned()
        }
        _ => err.to_string(),
    };
    Problem::new(kind, detail)
}

fn invalid_parameter(name: &str, reason: &str) -> Problem {
    // poem-openapi suffixes reasons with the type it was parsing; the caller only needs the rule.
    let reason = reason
        .split(" (occurred while parsing")
        .next()
        .unwrap_or(reason)
        .trim();
    let errors = vec![FieldError::new(name, reason)];
    Problem::new(ProblemType::ValidationFailed, format!("{name}: {reason}")).with_errors(errors)
}
