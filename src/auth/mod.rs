//! Authentication: login through the OpenID provider (backend-for-frontend), server-side sessions, Keyward's
//! own API tokens, and the provider's access tokens. Everything here works without HTTP; `http::auth` and
//! `http::authn` are the thin edge around it.

pub mod api_tokens;
pub mod backchannel;
pub mod login;
pub mod provider;
mod remap;
pub mod return_to;
pub mod sessions;

use std::sync::Arc;

use crate::db::Db;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use entity::{sessions as session_rows, users};
use sea_orm::DbErr;
use uuid::Uuid;

use crate::{
    audit::{self, Origin},
    config::Config,
    crypto::{self, Purpose, Vault},
    rbac::{
        Access,
        cache::{AccessCache, Resolved},
    },
    users::{self as user_store, Profile, Seen},
};
use api_tokens::{ApiClaims, TokenIssuer};
use provider::{JwtError, Provider, ProviderError};

/// Used when the provider does not say how long its access token lives (Keycloak's default).
const DEFAULT_PROVIDER_TOKEN_LIFETIME: chrono::Duration = chrono::Duration::minutes(5);

/// Who is calling, how they proved it, and what they may do.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Shared with the access cache: a request copies no user.
    pub user: Arc<users::Model>,
    pub via: Via,
    pub access: Arc<Access>,
}

#[derive(Debug, Clone)]
pub enum Via {
    /// The session cookie.
    Session(Box<session_rows::Model>),
    /// A Keyward API token (its claims shared with the cache of verified tokens).
    ApiToken(Arc<ApiClaims>),
    /// An access token issued by the OpenID provider.
    ProviderToken,
}

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials: log in for a session cookie, or send `Authorization: Bearer <token>`")]
    Missing,
    #[error("{0}")]
    Invalid(String),
    #[error("cookie-authenticated requests must send the header `X-CSRF: 1`")]
    Csrf,
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The cookie names: `__Host-` prefixed when Keyward is served over https, which pins them to this host and `/`.
#[derive(Debug, Clone, Copy)]
pub struct Cookies {
    pub session: &'static str,
    /// Binds a pending login to the browser that started it.
    pub login: &'static str,
    pub secure: bool,
}

impl Cookies {
    fn for_config(config: &Config) -> Self {
        if config.is_https() {
            Self {
                session: "__Host-keyward_session",
                login: "__Host-keyward_login",
                secure: true,
            }
        } else {
            Self {
                session: "keyward_session",
                login: "keyward_login",
                secure: false,
            }
        }
    }
}

pub struct Auth {
    provider: Result<Arc<Provider>, String>,
    pub tokens: TokenIssuer,
    pub vault: Vault,
    pub session_lifetime: sessions::Lifetime,
    pub cookies: Cookies,
    /// Effective roles and permissions per user, shared by every request.
    pub access: Arc<AccessCache>,
    pub bootstrap_admins: Vec<String>,
}

impl Auth {
    pub async fn new(config: &Config, db: &Db) -> anyhow::Result<Self> {
        let secret = crypto::load_secret_key(db, config.secret_key.as_ref()).await?;
        let vault = Vault::new(&secret);
        let tokens =
            TokenIssuer::load(db, &vault, config.public_base(), config.api_token_ttl).await?;
        let provider = match &config.oidc {
            Ok(settings) => {
                provider::check_issuer(&settings.issuer)
                    .map_err(|e| anyhow::anyhow!("KEYWARD_OIDC_ISSUER: {e}"))?;
                let redirect_uri = format!("{}/auth/callback", config.public_base());
                Provider::new(
                    settings.clone(),
                    &redirect_uri,
                    config.post_logout_redirect_uri.as_str(),
                )
                .map(Arc::new)
                .map_err(|e| anyhow::anyhow!(e))?
            }
            Err(why) => {
                tracing::warn!("{why}; the /auth endpoints answer 503 until it is");
                return Ok(Self::assemble(Err(why.clone()), tokens, vault, config));
            }
        };
        tracing::info!(
            issuer = %provider.issuer(),
            provider = provider.settings().provider.name(),
            "login through OpenID Connect"
        );
        Ok(Self::assemble(Ok(provider), tokens, vault, config))
    }

    fn assemble(
        provider: Result<Arc<Provider>, String>,
        tokens: TokenIssuer,
        vault: Vault,
        config: &Config,
    ) -> Self {
        Self {
            provider,
            tokens,
            vault,
            session_lifetime: sessions::Lifetime {
                idle: chrono::Duration::from_std(config.session_ttl)
                    .unwrap_or(chrono::Duration::hours(8)),
                max: chrono::Duration::from_std(config.session_max_lifetime)
                    .unwrap_or(chrono::Duration::days(7)),
            },
            cookies: Cookies::for_config(config),
            access: Arc::new(AccessCache::new(config.access_stale_max)),
            bootstrap_admins: config.bootstrap_admins.clone(),
        }
    }

    /// The provider, or why login is not configured.
    pub fn provider(&self) -> Result<&Arc<Provider>, &str> {
        self.provider.as_ref().map_err(String::as_str)
    }

    /// The principal behind a session cookie. Refreshes the provider session when its tokens have expired; a
    /// provider that refuses the refresh (user logged out or disabled there) ends the session.
    pub async fn from_session(
        &self,
        db: &Db,
        cookie_value: &str,
        // Only needed to audit a refused refresh: not worth building on every request.
        origin: impl FnOnce() -> Origin,
    ) -> Result<Principal, AuthError> {
        let Some((session, user)) = sessions::find(db, cookie_value, self.session_lifetime).await?
        else {
            return Err(AuthError::Invalid(
                "the session has ended; log in again".into(),
            ));
        };
        if !user.active {
            return Err(AuthError::Invalid("the account is deactivated".into()));
        }
        let mut access = self.access.access_for(db, &user).await?;
        let due = session.refresh_token.is_some()
            && session
                .provider_expires_at
                .is_some_and(|at| at <= Utc::now());
        if due
            && let Ok(provider) = &self.provider
            && sessions::claim_refresh(db, &session.id).await?
            && self
                .refresh_provider_session(db, provider, &session, &user, origin)
                .await?
        {
            // The refresh changed the mapped roles: this request already goes by them.
            access = self.access.access_for(db, &user).await?;
        }
        Ok(Principal {
            user: Arc::new(user),
            via: Via::Session(Box::new(session)),
            access,
        })
    }

    /// The provider's refresh token a session holds, if it has one and it opens with the current secret key.
    pub fn refresh_token_of(&self, session: &session_rows::Model) -> Option<String> {
        let sealed = session.refresh_token.as_deref()?;
        self.vault
            .open(Purpose::RefreshToken, &session.id, sealed)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Returns whether the user's provider-mapped roles changed.
    async fn refresh_provider_session(
        &self,
        db: &Db,
        provider: &Provider,
        session: &session_rows::Model,
        user: &users::Model,
        origin: impl FnOnce() -> Origin,
    ) -> Result<bool, AuthError> {
        let sealed = session.refresh_token.as_deref().unwrap_or_default();
        let Ok(refresh_token) = self
            .vault
            .open(Purpose::RefreshToken, &session.id, sealed)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
        else {
            // Sealed under another secret key: the provider session cannot be refreshed, the Keyward one lives on.
            tracing::warn!(user_id = %user.id, "a session's refresh token does not open; not refreshing it");
            sessions::refreshed(db, &self.vault, &session.id, None, None, session.expires_at)
                .await?;
            return Ok(false);
        };
        match provider.refresh(&refresh_token).await {
            Ok(tokens) => {
                let lifetime = tokens
                    .access_token_expires_in
                    .and_then(|d| chrono::Duration::from_std(d).ok())
                    .unwrap_or(DEFAULT_PROVIDER_TOKEN_LIFETIME);
                sessions::refreshed(
                    db,
                    &self.vault,
                    &session.id,
                    tokens.id_token.clone(),
                    tokens.refresh_token.as_deref(),
                    Utc::now() + lifetime,
                )
                .await?;
                Ok(self
                    .remap_after_refresh(db, provider, user, &tokens, &origin())
                    .await?)
            }
            Err(ProviderError::Refused(reason)) => {
                sessions::delete(db, &session.id).await?;
                self.sessions_ended(db).await?;
                audit::record(
                    db,
                    &origin(),
                    audit::Event::failure("session.refresh", Some(user.id), reason),
                )
                .await;
                Err(AuthError::Invalid(
                    "the identity provider ended this session; log in again".into(),
                ))
            }
            Err(ProviderError::Unavailable(reason)) => {
                // Keyward's session outlives a provider hiccup; another request retries later.
                tracing::warn!(%reason, "could not refresh a provider session; trying again later");
                sessions::release_refresh(db, &session.id).await?;
                Ok(false)
            }
        }
    }

    /// The principal behind a Bearer token: a Keyward API token or one of the provider's access tokens.
    pub async fn from_bearer(&self, db: &Db, token: &str) -> Result<Principal, AuthError> {
        // The SPA sends the same API token many times: a known one skips parsing and the signature check.
        let known = self.tokens.already_verified(token);
        let issuer = match &known {
            Some(claims) => claims.iss.clone(),
            None => unverified_issuer(token)
                .ok_or_else(|| AuthError::Invalid("the bearer token is not a JWT".into()))?,
        };
        let (resolved, via) = if issuer == self.tokens.issuer() {
            let claims = match known {
                Some(claims) => claims,
                None => self
                    .tokens
                    .verify(db, token)
                    .await
                    .map_err(AuthError::Invalid)?,
            };
            let id = Uuid::parse_str(&claims.sub)
                .map_err(|_| AuthError::Invalid("the token's subject is not a user id".into()))?;
            let resolved =
                self.access.resolve(db, id).await?.ok_or_else(|| {
                    AuthError::Invalid("the token's user no longer exists".into())
                })?;
            self.check_token_session(db, &resolved, &claims).await?;
            (resolved, Via::ApiToken(claims))
        } else if let Ok(provider) = &self.provider
            && issuer == provider.issuer()
        {
            let claims = provider
                .verify_access_token(token)
                .await
                .map_err(|e| match e {
                    JwtError::Invalid(reason) => AuthError::Invalid(reason),
                    JwtError::Provider(p) => AuthError::Unavailable(p.to_string()),
                })?;
            let id = match user_store::find_by_subject(db, provider.issuer(), &claims.sub).await? {
                Some(user) => user.id,
                None => {
                    // First sight of this user: the same grants a first login brings.
                    let (user, created) = user_store::upsert(
                        db,
                        provider.issuer(),
                        &claims.sub,
                        &Profile::from_claims(&claims),
                        Seen::Bearer,
                    )
                    .await?;
                    self.first_bearer_grants(db, provider, &user, created, &claims)
                        .await?;
                    user.id
                }
            };
            let resolved =
                self.access.resolve(db, id).await?.ok_or_else(|| {
                    AuthError::Invalid("the token's user no longer exists".into())
                })?;
            (resolved, Via::ProviderToken)
        } else {
            return Err(AuthError::Invalid(
                "the token was issued by someone Keyward does not trust (iss)".into(),
            ));
        };
        if !resolved.user.active {
            return Err(AuthError::Invalid("the account is deactivated".into()));
        }
        Ok(Principal {
            user: resolved.user.clone(),
            via,
            access: resolved.access.clone(),
        })
    }
}

impl Auth {
    /// A Keyward API token lives only as long as the session it was minted from. The cached list of the
    /// user's sessions answers most requests; a session it does not show as live (opened or extended since it
    /// was read) is looked up.
    async fn check_token_session(
        &self,
        db: &Db,
        resolved: &Resolved,
        claims: &ApiClaims,
    ) -> Result<(), AuthError> {
        let Some(sid) = claims.sid.as_deref().and_then(|s| Uuid::parse_str(s).ok()) else {
            return Err(AuthError::Invalid(
                "the token names no session; get a new one from POST /auth/token".into(),
            ));
        };
        if resolved.session_live(sid) || sessions::is_live(db, resolved.user.id, sid).await? {
            Ok(())
        } else {
            Err(AuthError::Invalid(
                "the session this token was issued to has ended; log in again".into(),
            ))
        }
    }

    /// Tells every instance that sessions ended, so the API tokens minted from them stop working: at once
    /// here, within one poll of the access cache elsewhere.
    pub async fn sessions_ended(&self, db: &Db) -> Result<(), DbErr> {
        self.access.changed(db).await
    }
}

/// The `iss` claim, read without verification, only to decide which keys verify the token.
fn unverified_issuer(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_get_the_host_prefix_and_secure_flag_over_https() {
        let config = |url: &str| {
            let vars = [("KEYWARD_PUBLIC_URL".to_owned(), url.to_owned())].into();
            Config::from_map(&vars).unwrap()
        };
        let https = Cookies::for_config(&config("https://app.example.com"));
        assert_eq!(https.session, "__Host-keyward_session");
        assert!(https.secure);
        let http = Cookies::for_config(&config("http://127.0.0.1:8080"));
        assert_eq!(http.session, "keyward_session");
        assert!(!http.secure);
    }

    #[test]
    fn the_issuer_is_read_only_from_a_three_part_token() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://idp/realms/r","sub":"x"}"#);
        assert_eq!(
            unverified_issuer(&format!("e30.{payload}.sig")).as_deref(),
            Some("https://idp/realms/r")
        );
        assert_eq!(unverified_issuer("e30.e30.sig"), None);
        assert_eq!(unverified_issuer(&format!("a.{payload}.b.c")), None);
        assert_eq!(unverified_issuer("garbage"), None);
    }
}
