//! `/auth/*` and `/.well-known/jwks.json`: the backend-for-frontend login, the session, logout and API tokens.

use std::time::Duration;

use chrono::{DateTime, Utc};
use poem::{
    Request,
    web::{
        Data,
        cookie::{Cookie, CookieJar, SameSite},
    },
};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Query, payload::Json, types::Example};

use crate::{
    auth::{
        AuthError, Via,
        api_tokens::{self, PublicJwk},
        login::{Callback, Completed, StartError, TokenRefused},
    },
    error::{ApiError, FieldError},
    http::{
        ApiTags,
        admin_types::example_time,
        authn::{Authenticated, SessionCookie, authenticate},
        client_ip::origin_of,
        me::UserProfile,
    },
    state::AppState,
};

pub struct AuthApi;

#[derive(ApiResponse)]
pub enum Redirect {
    /// Navigate on: to the provider's login page (`/auth/login`), or back to `return_to` (`/auth/callback`).
    #[oai(status = 302)]
    Found(
        /// Where the browser goes next.
        #[oai(header = "Location")]
        String,
        /// `no-store`: the redirect depends on one-time values.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

fn redirect(to: impl Into<String>) -> Redirect {
    Redirect::Found(to.into(), "no-store".into())
}

/// Whether the browser has a live session, and whose.
#[derive(Object)]
#[oai(example)]
pub struct SessionInfo {
    /// Whether the request carries a live session (or a valid bearer token).
    pub authenticated: bool,
    /// The logged-in user, when `authenticated`.
    #[oai(skip_serializing_if_is_none)]
    pub user: Option<UserProfile>,
    /// When the session ends unless it is used before then (each use extends it).
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl Example for SessionInfo {
    fn example() -> Self {
        Self {
            authenticated: true,
            user: Some(UserProfile::example()),
            expires_at: Some(example_time()),
        }
    }
}

/// The session has ended; where to end the provider's session too.
#[derive(Object)]
#[oai(example)]
pub struct LogoutResponse {
    /// The provider's end-session URL (with `id_token_hint` and `post_logout_redirect_uri`): navigate the
    /// browser there to end the provider's session too. Null when the provider has no end-session endpoint.
    #[oai(nullable)]
    pub logout_url: Option<String>,
}

impl Example for LogoutResponse {
    fn example() -> Self {
        Self {
            logout_url: Some(
                "https://sso.example.com/realms/r/protocol/openid-connect/logout?id_token_hint=..."
                    .into(),
            ),
        }
    }
}

/// A Keyward API token for the session's user, to send as `Authorization: Bearer`.
#[derive(Object)]
#[oai(example)]
pub struct TokenResponse {
    /// A JWT signed by Keyward (EdDSA); verify it with `/.well-known/jwks.json`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

impl Example for TokenResponse {
    fn example() -> Self {
        Self {
            access_token: "eyJhbGciOiJFZERTQSIsImtpZCI6IjEifQ.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl"
                .into(),
            token_type: "Bearer".into(),
            expires_in: 900,
        }
    }
}

/// A public key (Ed25519, RFC 8037).
#[derive(Object)]
pub struct Jwk {
    /// Key type: `OKP`.
    pub kty: String,
    /// Curve: `Ed25519`.
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    /// The key's id, named in the `kid` header of the tokens it signs.
    pub kid: String,
    /// Algorithm: `EdDSA`.
    pub alg: String,
    /// Use: `sig`.
    #[oai(rename = "use")]
    pub use_: String,
}

/// The public keys Keyward signs API tokens with (RFC 7517).
#[derive(Object)]
#[oai(example)]
pub struct JwkSet {
    /// Every key a live token may be signed with.
    pub keys: Vec<Jwk>,
}

impl Example for JwkSet {
    fn example() -> Self {
        Self {
            keys: vec![Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
                kid: "2026-11-30-1".into(),
                alg: "EdDSA".into(),
                use_: "sig".into(),
            }],
        }
    }
}

impl From<PublicJwk> for Jwk {
    fn from(k: PublicJwk) -> Self {
        Self {
            kty: k.kty,
            crv: k.crv,
            x: k.x,
            kid: k.kid,
            alg: k.alg,
            use_: k.use_,
        }
    }
}

fn cookie(name: &str, value: &str, secure: bool, max_age: Option<Duration>) -> Cookie {
    let mut c = Cookie::new_with_str(name, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(secure);
    if let Some(age) = max_age {
        c.set_max_age(age);
    }
    c
}

fn expired_cookie(name: &str, secure: bool) -> Cookie {
    cookie(name, "", secure, Some(Duration::ZERO))
}

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Starts a login: redirects the browser to the OpenID provider (Authorization Code + PKCE).
    ///
    /// `return_to` (default `/`) is where the browser lands afterwards: a path on Keyward's origin or a URL on
    /// an origin in `KEYWARD_ALLOWED_RETURN_ORIGINS`. Navigate to this URL; do not fetch it.
    #[oai(path = "/auth/login", method = "get", operation_id = "login")]
    async fn login(
        &self,
        app: Data<&AppState>,
        jar: &CookieJar,
        /// Where the browser lands after the login (default `/`): a path on Keyward's origin or a URL on an
        /// allowed return origin.
        return_to: Query<Option<String>>,
    ) -> Result<Redirect, ApiError> {
        let cookies = app.auth.cookies;
        let binding = jar.get(cookies.login).map(|c| c.value_str().to_owned());
        let started = app
            .login()
            .start(return_to.0.as_deref(), binding.as_deref())
            .await
            .map_err(|e| match e {
                StartError::ReturnTo(why) => {
                    ApiError::validation(vec![FieldError::new("return_to", why)])
                }
                StartError::Unavailable(why) => ApiError::unavailable(why),
                StartError::Db(e) => e.into(),
            })?;
        jar.add(cookie(
            cookies.login,
            &started.binding,
            cookies.secure,
            Some(started.binding_max_age),
        ));
        Ok(redirect(started.provider_url))
    }

    /// Where the provider sends the browser back. Completes the login, sets the session cookie and redirects
    /// to `return_to`.
    ///
    /// When the provider refused (e.g. `error=access_denied`) or the account is deactivated, the redirect to
    /// `return_to` carries `error` and `error_description`. A state that is unknown, already used, expired or
    /// from another browser answers 400 `login-failed`.
    #[oai(
        path = "/auth/callback",
        method = "get",
        operation_id = "loginCallback"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn callback(
        &self,
        app: Data<&AppState>,
        req: &Request,
        jar: &CookieJar,
        /// The provider's authorization code.
        code: Query<Option<String>>,
        /// The login's one-time state, as Keyward sent it to the provider.
        #[oai(name = "state")]
        login_state: Query<Option<String>>,
        /// The provider's error code when it refused (`access_denied`, ...).
        error: Query<Option<String>>,
        /// The provider's words for the error.
        error_description: Query<Option<String>>,
        /// The provider's issuer (RFC 9207), checked when sent.
        iss: Query<Option<String>>,
    ) -> Result<Redirect, ApiError> {
        let cookies = app.auth.cookies;
        let binding = jar.get(cookies.login).map(|c| c.value_str().to_owned());
        let callback = Callback {
            state: login_state.0,
            code: code.0,
            error: error.0,
            error_description: error_description.0,
            iss: iss.0,
        };
        match app
            .login()
            .complete(&origin_of(req), binding.as_deref(), callback)
            .await?
        {
            Completed::SignedIn {
                session_cookie,
                return_to,
            } => {
                // The login cookie stays: other tabs of this browser may still be on their way back with it.
                jar.add(cookie(
                    cookies.session,
                    &session_cookie,
                    cookies.secure,
                    None,
                ));
                Ok(redirect(return_to))
            }
            Completed::SentBack { location } => Ok(redirect(location)),
            Completed::Refused(why) => Err(ApiError::login_failed(why.to_string())),
            Completed::ProviderUnavailable(why) => Err(ApiError::unavailable(why)),
        }
    }

    /// Whether the browser has a live session, and whose. Needs no `X-CSRF` header and never answers 401.
    #[oai(path = "/auth/session", method = "get", operation_id = "getSession")]
    async fn session(&self, req: &Request) -> Result<Json<SessionInfo>, ApiError> {
        let principal = match authenticate(req, false).await {
            Ok(p) => Some(p),
            Err(AuthError::Db(e)) => return Err(e.into()),
            Err(AuthError::Unavailable(e)) => return Err(ApiError::unavailable(e)),
            Err(_) => None,
        };
        Ok(Json(match principal {
            Some(p) => SessionInfo {
                authenticated: true,
                expires_at: match &p.via {
                    Via::Session(s) => Some(s.expires_at),
                    Via::ApiToken(claims) => DateTime::from_timestamp(claims.exp as i64, 0),
                    Via::ProviderToken => None,
                },
                user: Some(UserProfile::from(&*p.user)),
            },
            None => SessionInfo {
                authenticated: false,
                user: None,
                expires_at: None,
            },
        }))
    }

    /// Ends the session and clears its cookie. Answers the provider's logout URL: navigate there to end the
    /// provider's session too. Needs the session cookie (and `X-CSRF: 1`); a session that already ended is
    /// logged out all the same.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        app: Data<&AppState>,
        req: &Request,
        jar: &CookieJar,
        cookie: SessionCookie,
    ) -> Result<Json<LogoutResponse>, ApiError> {
        let logout_url = app.login().logout(&origin_of(req), &cookie.0).await?;
        let cookies = app.auth.cookies;
        jar.add(expired_cookie(cookies.session, cookies.secure));
        Ok(Json(LogoutResponse { logout_url }))
    }

    /// Issues a short-lived Keyward API token for the session's user. Needs the session cookie (and `X-CSRF: 1`).
    #[oai(path = "/auth/token", method = "post", operation_id = "issueToken")]
    async fn token(
        &self,
        app: Data<&AppState>,
        req: &Request,
        auth: Authenticated,
    ) -> Result<Json<TokenResponse>, ApiError> {
        let issued = app
            .login()
            .issue_api_token(&origin_of(req), &auth.0)
            .await
            .map_err(|e| match e {
                TokenRefused::NotASession => ApiError::invalid_token(e.to_string()),
                TokenRefused::Signing(why) => ApiError::internal(why),
            })?;
        Ok(Json(TokenResponse {
            access_token: issued.token,
            token_type: "Bearer".into(),
            expires_in: issued.expires_in.as_secs(),
        }))
    }

    /// The public keys Keyward signs API tokens with (JWKS, RFC 7517).
    #[oai(
        path = "/.well-known/jwks.json",
        method = "get",
        operation_id = "getJwks"
    )]
    async fn jwks(&self, app: Data<&AppState>) -> Result<Json<JwkSet>, ApiError> {
        let keys = api_tokens::public_keys(&app.db).await?;
        Ok(Json(JwkSet {
            keys: keys.into_iter().map(Jwk::from).collect(),
        }))
    }
}
