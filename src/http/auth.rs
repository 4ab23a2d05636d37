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
use poem_openapi::{ApiResponse, Object, OpenApi, param::Query, payload::Json};
use url::Url;
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{self, Event, Origin},
    auth::{
        Via,
        api_tokens::{self, PublicJwk},
        provider::{JwtError, ProviderError, access_token_groups},
        return_to,
        sessions::{self, NewSession, StateProblem},
    },
    crypto,
    error::{ApiError, FieldError},
    http::{
        ApiTags,
        authn::{Authenticated, SessionCookie, authenticate},
        me::UserProfile,
    },
    rbac::seed,
    users::{self, Profile, Seen},
};

pub struct AuthApi;

#[derive(ApiResponse)]
pub enum Redirect {
    /// Go there.
    #[oai(status = 302)]
    Found(
        #[oai(header = "Location")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

fn redirect(to: impl Into<String>) -> Redirect {
    Redirect::Found(to.into(), "no-store".into())
}

#[derive(Object)]
pub struct SessionInfo {
    pub authenticated: bool,
    /// The logged-in user, when `authenticated`.
    #[oai(skip_serializing_if_is_none)]
    pub user: Option<UserProfile>,
    /// When the session ends unless it is used before then (each use extends it).
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Object)]
pub struct LogoutResponse {
    /// The provider's end-session URL (with `id_token_hint` and `post_logout_redirect_uri`): navigate the
    /// browser there to end the provider's session too. Null when the provider has no end-session endpoint.
    pub logout_url: Option<String>,
}

#[derive(Object)]
pub struct TokenResponse {
    /// A JWT signed by Keyward (EdDSA); verify it with `/.well-known/jwks.json`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// A public key (Ed25519, RFC 8037).
#[derive(Object)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[oai(rename = "use")]
    pub use_: String,
}

#[derive(Object)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
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

/// Failure reasons, as the `reason` label of `keyward_login_failures_total` and in the audit log.
mod reason {
    pub const MISSING_STATE: &str = "missing_state";
    pub const MISSING_CODE: &str = "missing_code";
    pub const UNKNOWN_STATE: &str = "unknown_state";
    pub const OTHER_BROWSER: &str = "browser_mismatch";
    pub const EXPIRED: &str = "expired";
    pub const ISSUER_MISMATCH: &str = "issuer_mismatch";
    pub const PROVIDER_ERROR: &str = "provider_error";
    pub const CODE_REFUSED: &str = "code_refused";
    pub const INVALID_ID_TOKEN: &str = "invalid_id_token";
    pub const INACTIVE: &str = "inactive";
    pub const PROVIDER_UNAVAILABLE: &str = "provider_unavailable";
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

/// `return_to` with the error appended, so the SPA can tell the user what happened.
fn with_error(return_to: &str, code: &str, description: &str) -> String {
    match Url::parse(return_to) {
        Ok(mut url) => {
            url.query_pairs_mut()
                .append_pair("error", code)
                .append_pair("error_description", description);
            url.to_string()
        }
        Err(_) => return_to.to_owned(),
    }
}

struct Failure<'a> {
    app: &'a AppState,
    origin: &'a Origin,
}

impl Failure<'_> {
    async fn record(&self, reason: &'static str, detail: &str, user_id: Option<Uuid>) {
        self.app
            .metrics
            .login_failures
            .with_label_values(&[reason])
            .inc();
        audit::record(
            &self.app.db,
            self.origin,
            Event::failure("login", user_id, format!("{reason}: {detail}")),
        )
        .await;
    }

    /// A callback that cannot be tied to a login: a problem document, there is nowhere safe to send the browser.
    async fn problem(&self, reason: &'static str, detail: &str) -> ApiError {
        self.record(reason, detail, None).await;
        ApiError::login_failed(detail.to_owned())
    }

    /// A login that failed after its state checked out: back to the SPA with the error.
    async fn back(
        &self,
        return_to: &str,
        reason: &'static str,
        code: &str,
        detail: &str,
        user_id: Option<Uuid>,
    ) -> Redirect {
        self.record(reason, detail, user_id).await;
        redirect(with_error(return_to, code, detail))
    }

    async fn inactive(&self, return_to: &str, user_id: Uuid) -> Redirect {
        self.back(
            return_to,
            reason::INACTIVE,
            "account_inactive",
            "this account is deactivated",
            Some(user_id),
        )
        .await
    }
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
        return_to: Query<Option<String>>,
    ) -> Result<Redirect, ApiError> {
        let target = return_to::resolve(
            return_to.0.as_deref(),
            &app.config.public_url,
            &app.config.allowed_return_origins,
        )
        .map_err(|why| ApiError::validation(vec![FieldError::new("return_to", why)]))?;
        let provider = app.auth.provider().map_err(ApiError::unavailable)?;
        let login = provider
            .begin_login()
            .await
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
        let cookies = app.auth.cookies;
        // One binding per browser, shared by its tabs, so parallel logins do not clash.
        let binding = jar
            .get(cookies.login)
            .map(|c| c.value_str().to_owned())
            .filter(|v| v.len() >= 32)
            .unwrap_or_else(|| crypto::random_token(32));
        sessions::save_login(
            &app.db,
            &login.state,
            &login.nonce,
            &login.pkce_verifier,
            &binding,
            target.as_str(),
        )
        .await?;
        let ttl = sessions::LOGIN_TTL
            .to_std()
            .unwrap_or(Duration::from_secs(600));
        jar.add(cookie(cookies.login, &binding, cookies.secure, Some(ttl)));
        Ok(redirect(login.url))
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
        code: Query<Option<String>>,
        #[oai(name = "state")] login_state: Query<Option<String>>,
        error: Query<Option<String>>,
        error_description: Query<Option<String>>,
        iss: Query<Option<String>>,
    ) -> Result<Redirect, ApiError> {
        let origin = Origin::of(req);
        let fail = Failure {
            app: &app,
            origin: &origin,
        };
        let provider = app.auth.provider().map_err(ApiError::unavailable)?;
        let cookies = app.auth.cookies;
        let Some(login_state) = login_state.0 else {
            return Err(fail
                .problem(reason::MISSING_STATE, "the callback carries no state")
                .await);
        };
        let binding = jar.get(cookies.login).map(|c| c.value_str().to_owned());
        let attempt = match sessions::take_login(&app.db, &login_state, binding.as_deref()).await? {
            Ok(attempt) => attempt,
            Err(problem) => {
                let (r, detail) = match problem {
                    StateProblem::Unknown => (
                        reason::UNKNOWN_STATE,
                        "unknown or already used login state; start the login again",
                    ),
                    StateProblem::OtherBrowser => (
                        reason::OTHER_BROWSER,
                        "this login was started in another browser; start the login again",
                    ),
                    StateProblem::Expired => (
                        reason::EXPIRED,
                        "the login took too long and expired; start the login again",
                    ),
                };
                return Err(fail.problem(r, detail).await);
            }
        };
        let back_to = attempt.return_to.as_str();
        // RFC 9207: a response naming another issuer is a mix-up attack or a misconfiguration.
        if let Some(iss) = iss.0.as_deref()
            && iss != provider.issuer()
        {
            return Err(fail
                .problem(
                    reason::ISSUER_MISMATCH,
                    "the authorization response comes from another issuer",
                )
                .await);
        }
        if let Some(code) = error.0.as_deref() {
            // The provider's words go into a URL and the audit log: a bounded amount of them.
            let detail: String = error_description
                .0
                .as_deref()
                .unwrap_or("the identity provider did not complete the login")
                .chars()
                .take(256)
                .collect();
            let code: String = code
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            return Ok(fail
                .back(back_to, reason::PROVIDER_ERROR, &code, &detail, None)
                .await);
        }
        let Some(code) = code.0 else {
            return Err(fail
                .problem(
                    reason::MISSING_CODE,
                    "the callback carries neither code nor error",
                )
                .await);
        };
        let tokens = match provider.exchange_code(&code, &attempt.pkce_verifier).await {
            Ok(tokens) => tokens,
            Err(ProviderError::Refused(why)) => {
                return Ok(fail
                    .back(back_to, reason::CODE_REFUSED, "login_failed", &why, None)
                    .await);
            }
            Err(ProviderError::Unavailable(why)) => {
                fail.record(reason::PROVIDER_UNAVAILABLE, &why, None).await;
                return Err(ApiError::unavailable(
                    "the identity provider did not answer; try logging in again shortly",
                ));
            }
        };
        let Some(id_token) = tokens.id_token.clone() else {
            return Ok(fail
                .back(
                    back_to,
                    reason::INVALID_ID_TOKEN,
                    "login_failed",
                    "the provider returned no ID token (is the openid scope granted?)",
                    None,
                )
                .await);
        };
        let claims = match provider
            .verify_id_token(&id_token, Some(&attempt.nonce))
            .await
        {
            Ok(claims) => claims,
            Err(JwtError::Invalid(why)) => {
                return Ok(fail
                    .back(
                        back_to,
                        reason::INVALID_ID_TOKEN,
                        "login_failed",
                        &why,
                        None,
                    )
                    .await);
            }
            Err(JwtError::Provider(e)) => {
                fail.record(reason::PROVIDER_UNAVAILABLE, &e.to_string(), None)
                    .await;
                return Err(ApiError::unavailable(e.to_string()));
            }
        };
        // A deactivated account is refused before anything about it is written (profile, grants, last login).
        if let Some(known) = users::find_by_subject(&app.db, provider.issuer(), &claims.sub).await?
            && !known.active
        {
            return Ok(fail.inactive(back_to, known.id).await);
        }
        let (user, created) = users::upsert(
            &app.db,
            provider.issuer(),
            &claims.sub,
            &Profile::from_claims(&claims),
            Seen::Login,
        )
        .await?;
        let mut claims = claims;
        let (groups, realm_access) = access_token_groups(&tokens.access_token);
        if claims.groups.is_none() {
            claims.groups = groups;
        }
        if claims.realm_access.is_none() {
            claims.realm_access = realm_access;
        }
        let groups = seed::provider_groups(&claims, provider.settings().provider);
        if seed::on_login(
            &app.db,
            &user,
            created,
            Some(&groups),
            &app.auth.bootstrap_admins,
        )
        .await?
        {
            app.auth.access.changed(&app.db).await?;
        }
        if !user.active {
            return Ok(fail.inactive(back_to, user.id).await);
        }
        let provider_expires_at = tokens
            .access_token_expires_in
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| Utc::now() + d);
        let (session_cookie, _) = sessions::create(
            &app.db,
            &app.auth.vault,
            &origin,
            NewSession {
                user_id: user.id,
                id_token: Some(id_token),
                refresh_token: tokens.refresh_token.as_deref(),
                provider_expires_at,
                ttl: app.auth.session_ttl,
            },
        )
        .await?;
        // The login cookie stays: other tabs of this browser may still be on their way back with it.
        jar.add(cookie(
            cookies.session,
            &session_cookie,
            cookies.secure,
            None,
        ));
        app.metrics.logins.inc();
        audit::record(&app.db, &origin, Event::success("login", Some(user.id))).await;
        Ok(redirect(attempt.return_to))
    }

    /// Whether the browser has a live session, and whose. Needs no `X-CSRF` header and never answers 401.
    #[oai(path = "/auth/session", method = "get", operation_id = "getSession")]
    async fn session(&self, req: &Request) -> Result<Json<SessionInfo>, ApiError> {
        let principal = match authenticate(req, false).await {
            Ok(p) => Some(p),
            Err(crate::auth::AuthError::Db(e)) => return Err(e.into()),
            Err(crate::auth::AuthError::Unavailable(e)) => return Err(ApiError::unavailable(e)),
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
                user: Some(UserProfile::from(&p.user)),
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
        let ended = sessions::end(&app.db, &cookie.0).await?;
        let cookies = app.auth.cookies;
        jar.add(expired_cookie(cookies.session, cookies.secure));
        if let Some(session) = &ended {
            audit::record(
                &app.db,
                &Origin::of(req),
                Event::success("logout", Some(session.user_id)),
            )
            .await;
        }
        let logout_url = match app.auth.provider() {
            Ok(provider) => {
                provider
                    .logout_url(ended.as_ref().and_then(|s| s.id_token.as_deref()))
                    .await
            }
            Err(_) => None,
        };
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
        if !matches!(auth.0.via, Via::Session(_)) {
            return Err(ApiError::invalid_token(
                "API tokens are issued for the session cookie, not for bearer tokens",
            ));
        }
        let user = &auth.0.user;
        let roles = auth.0.access.roles.iter().cloned().collect();
        let token = app
            .auth
            .tokens
            .issue(user, roles)
            .map_err(ApiError::internal)?;
        app.metrics.tokens_issued.inc();
        audit::record(
            &app.db,
            &Origin::of(req),
            Event::success("token.issued", Some(user.id)),
        )
        .await;
        Ok(Json(TokenResponse {
            access_token: token,
            token_type: "Bearer".into(),
            expires_in: app.auth.tokens.ttl().as_secs(),
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
