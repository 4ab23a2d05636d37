//! Turns errors from the routes into problem documents (RFC 9457): poem's and poem-openapi's own errors are
//! mapped here, parameters named as the spec names them, the `Allow` header of a 405 taken from the spec; the
//! matched route stays on the response for the metrics. `middleware::gate` and `middleware::edge` call it.

use poem::{
    IntoResponse, PathPattern, Response,
    http::{HeaderValue, Method, StatusCode, Uri, header},
};

use crate::{
    error::{ApiError, FieldError, Problem, ProblemType, WWW_AUTHENTICATE},
    http::middleware::{params::parameter_errors, route_table::RouteTable},
};

/// [`problem_from_error`], keeping the matched route on the response for the metrics.
pub fn into_problem(err: poem::Error, method: &Method, uri: &Uri, table: &RouteTable) -> Response {
    let pattern = err.data::<PathPattern>().cloned();
    let mut resp = problem_from_error(err, method, uri, table);
    if let Some(pattern) = pattern {
        resp.set_data(pattern);
    }
    resp
}

/// Turns any error that reached the edge into a problem response. Errors an operation built itself
/// (`ApiError`) already are problems and pass through; poem's and poem-openapi's own errors are mapped here.
pub fn problem_from_error(
    err: poem::Error,
    method: &Method,
    uri: &Uri,
    table: &RouteTable,
) -> Response {
    use poem_openapi::error::{AuthorizationError, ContentTypeError, ParseRequestPayloadError};

    if err.is_from_response() {
        return err.into_response();
    }
    if let Some(resp) = bad_parameters(&err, method, uri, table) {
        return resp;
    }
    let path = uri.path();
    let problem = if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
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

/// A parameter poem-openapi could not parse: every bad parameter of the operation, by the spec's names.
fn bad_parameters(
    err: &poem::Error,
    method: &Method,
    uri: &Uri,
    table: &RouteTable,
) -> Option<Response> {
    use poem_openapi::error::{ParseParamError, ParsePathError};

    let path = uri.path();
    let (name, reason) = if let Some(e) = err.downcast_ref::<ParseParamError>() {
        (e.name, e.reason.as_str())
    } else if let Some(e) = err.downcast_ref::<ParsePathError>() {
        // The router knows path parameters by position (`param0`); clients know them by the spec's name.
        let name = e
            .name
            .strip_prefix("param")
            .and_then(|n| n.parse().ok())
            .and_then(|n| table.param_name(path, n))
            .unwrap_or(e.name);
        (name, e.reason.as_str())
    } else {
        return None;
    };
    let mut errors = parameter_errors(table, method.as_str(), path, uri.query().unwrap_or(""));
    if errors.is_empty() {
        errors.push(FieldError::new(name, clean_reason(reason)));
    }
    Some(ApiError::validation(errors).into_response())
}

/// poem-openapi suffixes reasons with the type it was parsing; the caller only needs the rule.
fn clean_reason(reason: &str) -> &str {
    reason
        .split(" (occurred while parsing")
        .next()
        .unwrap_or(reason)
        .trim()
}
