//! The backend-for-frontend login as a domain flow: starting a login, completing it when the provider sends the
//! browser back, logging out, and issuing API tokens to a session. Every outcome is a value the HTTP edge maps
//! to cookies, a redirect or a problem; the audit events and login metrics are written here.

mod outcome;
mod sign_in;

use std::time::Duration;

use crate::db::Db;
use sea_orm::DbErr;
use uuid::Uuid;

use super::{Auth, Principal, Via, return_to, sessions};
use crate::{
    audit::{self, Event, Origin},
    config::Config,
    crypto,
    metrics::Metrics,
};
pub use outcome::{Callback, Completed, LoginRefused, StartError, Started};
use outcome::{Stop, provider_error, reason, with_error};
use sign_in::NewCookie;

/// What a login flow works with; `AppState::login` lends it.
pub struct LoginFlow<'a> {
    pub auth: &'a Auth,
    pub db: &'a Db,
    pub metrics: &'a Metrics,
    pub config: &'a Config,
}

/// A Keyward API token issued to a session.
pub struct IssuedToken {
    pub token: String,
    pub expires_in: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenRefused {
    #[error("API tokens are issued for the session cookie, not for bearer tokens")]
    NotASession,
    #[error("could not sign the API token: {0}")]
    Signing(String),
}

impl LoginFlow<'_> {
    /// Starts a login for the browser whose login cookie is `binding` (if it has one).
    pub async fn start(
        &self,
        return_to: Option<&str>,
        binding: Option<&str>,
    ) -> Result<Started, StartError> {
        let target = return_to::resolve(
            return_to,
            &self.config.public_url,
            &self.config.allowed_return_origins,
        )
        .map_err(StartError::ReturnTo)?;
        let provider = self
            .auth
            .provider()
            .map_err(|why| StartError::Unavailable(why.to_owned()))?;
        let login = provider
            .begin_login()
            .await
            .map_err(|e| StartError::Unavailable(e.to_string()))?;
        // One binding per browser, shared by its tabs, so parallel logins do not clash.
        let binding = binding
            .filter(|v| v.len() >= 32)
            .map(str::to_owned)
            .unwrap_or_else(|| crypto::random_token(32));
        sessions::save_login(
            self.db,
            &login.state,
            &login.nonce,
            &login.pkce_verifier,
            &binding,
            target.as_str(),
        )
        .await?;
        Ok(Started {
            provider_url: login.url,
            binding,
            binding_max_age: sessions::LOGIN_TTL
                .to_std()
                .unwrap_or(Duration::from_secs(600)),
        })
    }

    /// Completes the login the provider sent the browser back from.
    pub async fn complete(
        &self,
        origin: &Origin,
        binding: Option<&str>,
        callback: Callback,
    ) -> Result<Completed, DbErr> {
        let provider = match self.auth.provider() {
            Ok(provider) => provider,
            Err(why) => return Ok(Completed::ProviderUnavailable(why.to_owned())),
        };
        let Some(state) = callback.state else {
            return Ok(self.refuse(origin, LoginRefused::MissingState).await);
        };
        let attempt = match sessions::take_login(self.db, &state, binding).await? {
            Ok(attempt) => attempt,
            Err(problem) => return Ok(self.refuse(origin, problem.into()).await),
        };
        // RFC 9207: a response naming another issuer is a mix-up attack or a misconfiguration.
        if callback.iss.is_some_and(|iss| iss != provider.issuer()) {
            return Ok(self.refuse(origin, LoginRefused::IssuerMismatch).await);
        }
        let outcome = if let Some(code) = callback.error {
            Err(provider_error(&code, callback.error_description.as_deref()))
        } else if let Some(code) = callback.code {
            self.sign_in(
                origin,
                provider,
                &code,
                &attempt.pkce_verifier,
                &attempt.nonce,
            )
            .await?
        } else {
            return Ok(self.refuse(origin, LoginRefused::MissingCode).await);
        };
        Ok(match outcome {
            Ok(NewCookie { cookie, user_id }) => {
                self.metrics.logins.inc();
                audit::record(self.db, origin, Event::success("login", Some(user_id))).await;
                Completed::SignedIn {
                    session_cookie: cookie,
                    return_to: attempt.return_to,
                }
            }
            Err(Stop::Back {
                reason,
                code,
                detail,
                user_id,
            }) => {
                self.record_failure(origin, reason, &detail, user_id).await;
                Completed::SentBack {
                    location: with_error(&attempt.return_to, &code, &detail),
                }
            }
            Err(Stop::Unavailable { detail, message }) => {
                self.record_failure(origin, reason::PROVIDER_UNAVAILABLE, &detail, None)
                    .await;
                Completed::ProviderUnavailable(message)
            }
        })
    }

    /// Exchanges the code, verifies the ID token, brings the user up to date and opens the session.
    /// Ends the session behind a cookie value, live or not, and answers the provider's end-session URL (with
    /// the session's ID token as hint) for the browser to visit, when the provider has one.
    pub async fn logout(
        &self,
        origin: &Origin,
        session_cookie: &str,
    ) -> Result<Option<String>, DbErr> {
        let ended = sessions::end(self.db, session_cookie).await?;
        if let Some(session) = &ended {
            self.auth.sessions_ended(self.db).await?;
            audit::record(
                self.db,
                origin,
                Event::success("logout", Some(session.user_id))
                    .target(format!("session {}", session.public_id))
                    .detail("signed out"),
            )
            .await;
        }
        let Ok(provider) = self.auth.provider() else {
            return Ok(None);
        };
        if let Some(refresh_token) = ended.as_ref().and_then(|s| self.auth.refresh_token_of(s)) {
            provider.revoke_refresh_token(&refresh_token).await;
        }
        Ok(provider
            .logout_url(ended.as_ref().and_then(|s| s.id_token.as_deref()))
            .await)
    }

    /// A short-lived API token for the user of a cookie session, carrying their current roles.
    pub async fn issue_api_token(
        &self,
        origin: &Origin,
        principal: &Principal,
    ) -> Result<IssuedToken, TokenRefused> {
        let Via::Session(session) = &principal.via else {
            return Err(TokenRefused::NotASession);
        };
        let user = &principal.user;
        let roles = principal.access.roles.iter().cloned().collect();
        let token = self
            .auth
            .tokens
            .issue(user, roles, session.public_id)
            .map_err(TokenRefused::Signing)?;
        self.metrics.tokens_issued.inc();
        audit::record(
            self.db,
            origin,
            Event::success("token.issued", Some(user.id)),
        )
        .await;
        Ok(IssuedToken {
            token,
            expires_in: self.auth.tokens.ttl(),
        })
    }

    async fn refuse(&self, origin: &Origin, refused: LoginRefused) -> Completed {
        self.record_failure(origin, refused.reason(), &refused.to_string(), None)
            .await;
        Completed::Refused(refused)
    }

    async fn record_failure(
        &self,
        origin: &Origin,
        reason: &'static str,
        detail: &str,
        user_id: Option<Uuid>,
    ) {
        self.metrics
            .login_failures
            .with_label_values(&[reason])
            .inc();
        audit::record(
            self.db,
            origin,
            Event::failure("login", user_id, format!("{reason}: {detail}")),
        )
        .await;
    }
}
