//! The authentication extractor every protected operation takes: the session cookie (with `X-CSRF: 1`) or an
//! `Authorization: Bearer` token. It also declares the security schemes in the OpenAPI spec (`http::spec` pairs
//! the cookie with the `X-CSRF` header).

use std::sync::Arc;

use poem::{Request, RequestBody, http::header};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaSecurityScheme, Registry},
};

use crate::{
    auth::{AuthError, Principal},
    error::ApiError,
    http::client_ip::origin_of,
    state::AppState,
};

pub const SESSION_SCHEME: &str = "SessionCookie";
pub const BEARER_SCHEME: &str = "BearerToken";
pub const CSRF_SCHEME: &str = "CsrfHeader";

/// The caller, authenticated. Taking it as a parameter makes an operation require credentials. Shared with the
/// edge, which authenticated it first: nothing is copied per request.
pub struct Authenticated(pub Arc<Principal>);

impl Authenticated {
    /// The guard each protected operation starts with: 403 naming the permission when it is missing.
    pub fn require(&self, permission: &str) -> Result<&Principal, ApiError> {
        if self.0.access.has(permission) {
            Ok(&*self.0)
        } else {
            Err(ApiError::forbidden(format!(
                "this operation needs the permission `{permission}`"
            )))
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Missing => ApiError::unauthorized(err.to_string()),
            AuthError::Invalid(reason) => ApiError::invalid_token(reason),
            AuthError::Csrf => ApiError::forbidden(err.to_string()),
            AuthError::Unavailable(reason) => ApiError::unavailable(reason),
            AuthError::Db(e) => ApiError::from(e),
        }
    }
}

fn into_poem(err: ApiError) -> poem::Error {
    use poem::IntoResponse;
    poem::Error::from_response(err.into_response())
}

/// The caller as the edge authenticated them (`middleware::rate_limit`), so the operation does not do it again.
#[derive(Clone)]
pub struct Caller(pub Arc<Principal>);

/// Why the edge could not authenticate the request, handed to the operation (once) instead of trying again:
/// a bad token is verified once, a database outage waited for once.
#[derive(Clone)]
pub struct EdgeAuthFailure(pub std::sync::Arc<std::sync::Mutex<Option<AuthError>>>);

/// Authenticates the request; `require_csrf` is off only for reads that change nothing and reveal nothing
/// cross-site (`GET /auth/session`).
pub async fn authenticate(req: &Request, require_csrf: bool) -> Result<Principal, AuthError> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| AuthError::Unavailable("application state missing".into()))?;
    if let Some(value) = req.header(header::AUTHORIZATION) {
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                AuthError::Invalid("the Authorization header must be `Bearer <token>`".into())
            })?;
        // Boxed, here and below: resolving credentials is a large future, and every caller (the edge's rate
        // limit, the `Authenticated` extractor of every operation) would otherwise hold it inline and copy it
        // with its own on every request.
        return Box::pin(state.auth.from_bearer(&state.db, token)).await;
    }
    let cookie = session_cookie(req, state, require_csrf)?.ok_or(AuthError::Missing)?;
    Box::pin(
        state
            .auth
            .from_session(&state.db, &cookie, || origin_of(req)),
    )
    .await
}

/// The session cookie's value, if the request has one; with `require_csrf`, only alongside `X-CSRF: 1`.
fn session_cookie(
    req: &Request,
    state: &AppState,
    require_csrf: bool,
) -> Result<Option<String>, AuthError> {
    let Some(cookie) = req.cookie().get(state.auth.cookies.session) else {
        return Ok(None);
    };
    // A cross-site page cannot add custom headers without a CORS preflight, which the allow-list refuses.
    if require_csrf && req.header("x-csrf") != Some("1") {
        return Err(AuthError::Csrf);
    }
    Ok(Some(cookie.value_str().to_owned()))
}

/// The raw session cookie (with `X-CSRF: 1`), whether or not its session is still live: logout must clear a
/// dead session's cookie too.
pub struct SessionCookie(pub String);

impl<'a> ApiExtractor<'a> for SessionCookie {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        Authenticated::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SESSION_SCHEME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let state = req
            .data::<AppState>()
            .ok_or_else(|| into_poem(ApiError::unavailable("application state missing")))?;
        match session_cookie(req, state, true) {
            Ok(Some(cookie)) => Ok(Self(cookie)),
            Ok(None) => {
                let detail = if req.header(header::AUTHORIZATION).is_some() {
                    "this operation ends a cookie session; bearer tokens simply expire"
                } else {
                    "no session cookie"
                };
                Err(into_poem(ApiError::unauthorized(detail)))
            }
            Err(e) => Err(into_poem(e.into())),
        }
    }
}

impl<'a> ApiExtractor<'a> for Authenticated {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SESSION_SCHEME,
            MetaSecurityScheme {
                ty: "apiKey",
                description: Some(
                    "The session cookie set by `/auth/callback` (`__Host-keyward_session` when Keyward is \
                     served over https). Required together with `CsrfHeader`.",
                ),
                name: Some("keyward_session"),
                key_in: Some("cookie"),
                scheme: None,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
        registry.create_security_scheme(
            CSRF_SCHEME,
            MetaSecurityScheme {
                ty: "apiKey",
                description: Some(
                    "The header `X-CSRF: 1`, sent with the session cookie: a cross-site page cannot add it \
                     without a CORS preflight, which Keyward refuses to origins it does not allow.",
                ),
                name: Some("X-CSRF"),
                key_in: Some("header"),
                scheme: None,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
        registry.create_security_scheme(
            BEARER_SCHEME,
            MetaSecurityScheme {
                ty: "http",
                description: Some(
                    "A Keyward API token from `POST /auth/token`, or an access token issued by the \
                     configured OpenID provider.",
                ),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: Some("JWT"),
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SESSION_SCHEME, BEARER_SCHEME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        if let Some(Caller(principal)) = req.data::<Caller>() {
            return Ok(Self(principal.clone()));
        }
        let failed_at_edge = req
            .data::<EdgeAuthFailure>()
            .and_then(|f| f.0.lock().ok()?.take());
        if let Some(err) = failed_at_edge {
            return Err(into_poem(err.into()));
        }
        authenticate(req, true)
            .await
            .map(|p| Authenticated(Arc::new(p)))
            .map_err(|e| into_poem(e.into()))
    }
}
