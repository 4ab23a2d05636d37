//! Every error Keyward sends is an RFC 9457 `application/problem+json` document. This module lists the
//! problem types in one place and defines the error that handlers return; `http::middleware::problems` turns
//! poem's own errors into problems.

use poem::{Response, http::StatusCode};
use poem_openapi::{ApiResponse, Object, payload::Json};

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The stable problem types. Clients may switch on the `type` URI; titles are for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    /// The request is well-formed but some fields break the rules (see `errors`).
    ValidationFailed,
    /// The request could not be read at all: broken JSON, bad query or path syntax.
    MalformedRequest,
    /// A login callback that cannot complete: unknown, replayed, expired or foreign state, or a refused code.
    LoginFailed,
    /// A back-channel logout token that is not valid (OpenID Connect Back-Channel Logout §2.8).
    LogoutTokenInvalid,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    Internal,
    ServiceUnavailable,
}

impl ProblemType {
    pub const ALL: [ProblemType; 14] = [
        Self::ValidationFailed,
        Self::MalformedRequest,
        Self::LoginFailed,
        Self::LogoutTokenInvalid,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RateLimited,
        Self::Internal,
        Self::ServiceUnavailable,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Self::ValidationFailed => "validation-failed",
            Self::MalformedRequest => "malformed-request",
            Self::LoginFailed => "login-failed",
            Self::LogoutTokenInvalid => "logout-token-invalid",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::RateLimited => "rate-limited",
            Self::Internal => "internal",
            Self::ServiceUnavailable => "service-unavailable",
        }
    }

    /// The `type` member: a URN, so it never pretends to be a page someone must host.
    pub fn uri(self) -> String {
        format!("urn:keyward:problem:{}", self.slug())
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::ValidationFailed => "The request has invalid fields",
            Self::MalformedRequest => "The request could not be read",
            Self::LoginFailed => "The login could not be completed",
            Self::LogoutTokenInvalid => "The logout token is not valid",
            Self::Unauthorized => "Authentication is required",
            Self::Forbidden => "Not allowed",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict => "Conflict",
            Self::PayloadTooLarge => "Request body too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::RateLimited => "Too many requests",
            Self::Internal => "Internal error",
            Self::ServiceUnavailable => "Service unavailable",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::ValidationFailed
            | Self::MalformedRequest
            | Self::LoginFailed
            | Self::LogoutTokenInvalid => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn for_status(status: StatusCode) -> Self {
        Self::ALL
            .into_iter()
            .find(|t| t.status() == status)
            .unwrap_or(if status.is_server_error() {
                Self::Internal
            } else {
                Self::MalformedRequest
            })
    }
}

/// One field that broke a rule. `field` is a JSON pointer-like dotted path, or the parameter name.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The body field (`name`, `permissions[2]`) or the parameter (`id`, `per_page`).
    pub field: String,
    /// The rule it breaks, in words.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Object, Debug, Clone)]
pub struct Problem {
    /// A stable URI naming the kind of problem (`urn:keyward:problem:*`).
    #[oai(rename = "type")]
    pub kind: String,
    /// The kind of problem for people; the same for every problem of a `type`.
    pub title: String,
    /// The HTTP status of the response.
    pub status: u16,
    /// What went wrong this time, in words.
    pub detail: String,
    /// Field-level errors, present for validation failures.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldError>>,
}

impl Problem {
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            kind: kind.uri(),
            title: kind.title().into(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            errors: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = Some(errors);
        self
    }

    /// The bare response, for middleware that answers before any endpoint runs.
    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = poem_openapi::types::ToJSON::to_json_string(&self);
        Response::builder()
            .status(status)
            .content_type(PROBLEM_CONTENT_TYPE)
            .body(body)
    }
}

/// What an operation returns when it does not succeed. Every variant is a problem document. The spec does not
/// take its responses from here: `http::spec` lists for each operation only the problems it can answer.
#[derive(ApiResponse, Debug)]
pub enum ApiError {
    /// The request is malformed or has invalid fields.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// No credentials, or credentials that are not valid.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// Authenticated, but not allowed.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such resource.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The request conflicts with the current state.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// Too many requests from this client; retry after the given number of seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// Something failed inside Keyward; details are in its logs, never in the response.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// A dependency (database, identity provider) is not available right now; retry after a second.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

/// The challenge sent with every 401.
pub const WWW_AUTHENTICATE: &str = "Bearer realm=\"keyward\"";
pub const WWW_AUTHENTICATE_INVALID_TOKEN: &str =
    "Bearer realm=\"keyward\", error=\"invalid_token\"";

impl ApiError {
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::BadRequest(Json(
            Problem::new(ProblemType::ValidationFailed, detail).with_errors(errors),
        ))
    }

    pub fn logout_token_invalid(detail: impl Into<String>) -> Self {
        Self::BadRequest(Json(Problem::new(ProblemType::LogoutTokenInvalid, detail)))
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::BadRequest(Json(Problem::new(ProblemType::MalformedRequest, detail)))
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::Unauthorized(
            Json(Problem::new(ProblemType::Unauthorized, detail)),
            WWW_AUTHENTICATE.into(),
        )
    }

    /// Credentials were sent but are not valid: RFC 6750's `invalid_token` challenge.
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        Self::Unauthorized(
            Json(Problem::new(ProblemType::Unauthorized, detail)),
            WWW_AUTHENTICATE_INVALID_TOKEN.into(),
        )
    }

    pub fn login_failed(detail: impl Into<String>) -> Self {
        Self::BadRequest(Json(Problem::new(ProblemType::LoginFailed, detail)))
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden(Json(Problem::new(ProblemType::Forbidden, detail)))
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound(Json(Problem::new(ProblemType::NotFound, detail)))
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict(Json(Problem::new(ProblemType::Conflict, detail)))
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::Unavailable(
            Json(Problem::new(ProblemType::ServiceUnavailable, detail)),
            1,
        )
    }

    /// Logs the cause with the request's span and answers with a detail that reveals nothing.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::Internal(Json(Problem::new(
            ProblemType::Internal,
            "an unexpected error occurred; it has been logged",
        )))
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        match crate::db::fault::unavailable(&err) {
            Some(cause) => {
                tracing::warn!(error = %err, "database unavailable: {cause}");
                Self::unavailable(cause)
            }
            None => Self::internal(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_type_has_a_distinct_uri() {
        let uris: std::collections::HashSet<_> = ProblemType::ALL.iter().map(|t| t.uri()).collect();
        assert_eq!(uris.len(), ProblemType::ALL.len());
        assert_eq!(
            ProblemType::RateLimited.uri(),
            "urn:keyward:problem:rate-limited"
        );
    }
}
