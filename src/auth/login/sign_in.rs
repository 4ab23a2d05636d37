//! Signing in once the callback checked out: the code exchanged, the ID token verified, the user brought up
//! to date with their provider groups, and the session opened.

use chrono::Utc;
use sea_orm::DbErr;
use uuid::Uuid;

use super::{
    LoginFlow,
    outcome::{Stop, reason},
};
use crate::{
    audit::Origin,
    auth::{
        provider::{JwtError, Provider, ProviderError, TokenSet, access_token_groups},
        sessions::{self, NewSession},
    },
    rbac::{
        login_grants,
        mapping::{self, MappedBy},
    },
    users::{self, Profile, Seen},
};

/// A new session's cookie value, and whose session it is.
pub(super) struct NewCookie {
    pub cookie: String,
    pub user_id: Uuid,
}

impl LoginFlow<'_> {
    pub(super) async fn sign_in(
        &self,
        origin: &Origin,
        provider: &Provider,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Result<NewCookie, Stop>, DbErr> {
        let tokens = match provider.exchange_code(code, pkce_verifier).await {
            Ok(tokens) => tokens,
            Err(ProviderError::Refused(why)) => {
                return Ok(Err(Stop::back(reason::CODE_REFUSED, why)));
            }
            Err(ProviderError::Unavailable(why)) => {
                return Ok(Err(Stop::Unavailable {
                    detail: why,
                    message: "the identity provider did not answer; try logging in again shortly"
                        .into(),
                }));
            }
        };
        let Some(id_token) = tokens.id_token.clone() else {
            return Ok(Err(Stop::back(
                reason::INVALID_ID_TOKEN,
                "the provider returned no ID token (is the openid scope granted?)",
            )));
        };
        let mut claims = match provider.verify_id_token(&id_token, Some(nonce)).await {
            Ok(claims) => claims,
            Err(JwtError::Invalid(why)) => {
                return Ok(Err(Stop::back(reason::INVALID_ID_TOKEN, why)));
            }
            Err(JwtError::Provider(e)) => {
                return Ok(Err(Stop::Unavailable {
                    detail: e.to_string(),
                    message: e.to_string(),
                }));
            }
        };
        // A deactivated account is refused before anything about it is written (profile, grants, last login).
        if let Some(known) = users::find_by_subject(self.db, provider.issuer(), &claims.sub).await?
            && !known.active
        {
            return Ok(Err(Stop::inactive(known.id)));
        }
        let (user, created) = users::upsert(
            self.db,
            provider.issuer(),
            &claims.sub,
            &Profile::from_claims(&claims),
            Seen::Login,
        )
        .await?;
        let (groups, realm_access) = access_token_groups(&tokens.access_token);
        if claims.groups.is_none() {
            claims.groups = groups;
        }
        if claims.realm_access.is_none() {
            claims.realm_access = realm_access;
        }
        let groups = login_grants::provider_groups(&claims, provider.settings().provider);
        let grants = login_grants::on_login(
            self.db,
            &user,
            created,
            Some(&groups),
            &self.auth.bootstrap_admins,
        )
        .await?;
        if grants.changed {
            self.auth.access.changed(self.db).await?;
        }
        mapping::record(self.db, origin, &user, &grants.mapping, MappedBy::Login).await;
        if !user.active {
            return Ok(Err(Stop::inactive(user.id)));
        }
        let cookie = self
            .open_session(origin, user.id, (id_token, claims.sid), &tokens)
            .await?;
        Ok(Ok(cookie))
    }

    async fn open_session(
        &self,
        origin: &Origin,
        user_id: Uuid,
        (id_token, provider_sid): (String, Option<String>),
        tokens: &TokenSet,
    ) -> Result<NewCookie, DbErr> {
        let provider_expires_at = tokens
            .access_token_expires_in
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| Utc::now() + d);
        let (cookie, _) = sessions::create(
            self.db,
            &self.auth.vault,
            origin,
            NewSession {
                user_id,
                id_token: Some(id_token),
                provider_sid,
                refresh_token: tokens.refresh_token.as_deref(),
                provider_expires_at,
                lifetime: self.auth.session_lifetime,
            },
        )
        .await?;
        Ok(NewCookie { cookie, user_id })
    }
}
