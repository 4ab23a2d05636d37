//! OpenID Connect Back-Channel Logout 1.0: the provider tells Keyward that a provider session (`sid`) or every
//! session of a user (`sub`) ended. The logout token is checked as §2.6 says, its `jti` remembered until it
//! expires (in the database, so a replay to another instance is refused too), and the sessions ended.

use chrono::{DateTime, Utc};
use entity::logout_tokens_seen;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, sea_query::OnConflict,
};
use serde::Deserialize;

use super::{Auth, provider::JwtError, sessions};
use crate::{
    audit::{self, Event, Origin},
    crypto,
    db::Db,
    users,
};

const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How far in the future `iat` may lie: clocks differ a little, a token from the future is forged or broken.
const IAT_SKEW_SECS: i64 = 60;

#[derive(Debug, Deserialize)]
struct LogoutClaims {
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    events: Option<serde_json::Value>,
    #[serde(default)]
    nonce: Option<serde_json::Value>,
}

/// Why a logout token was refused (§2.8: 400).
#[derive(Debug, thiserror::Error)]
pub enum LogoutRefused {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    ProviderUnavailable(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// What a processed logout ended.
#[derive(Debug)]
pub struct LoggedOut {
    pub sessions: usize,
}

impl Auth {
    /// Validates a logout token and ends the Keyward sessions it names; audited either way.
    pub async fn backchannel_logout(
        &self,
        db: &Db,
        origin: &Origin,
        token: &str,
    ) -> Result<LoggedOut, LogoutRefused> {
        let outcome = self.process_logout(db, token).await;
        let event = match &outcome {
            Ok(done) => Event::success("session.backchannel_logout", None)
                .detail(format!("{} sessions ended", done.sessions)),
            Err(why) => Event::failure("session.backchannel_logout", None, why.to_string()),
        };
        audit::record(db, origin, event).await;
        outcome
    }

    async fn process_logout(&self, db: &Db, token: &str) -> Result<LoggedOut, LogoutRefused> {
        let provider = self
            .provider()
            .map_err(|why| LogoutRefused::Invalid(format!("login is not configured: {why}")))?;
        let claims: LogoutClaims =
            provider
                .verify_logout_token(token)
                .await
                .map_err(|e| match e {
                    JwtError::Invalid(why) => LogoutRefused::Invalid(why),
                    JwtError::Provider(p) => LogoutRefused::ProviderUnavailable(p.to_string()),
                })?;
        check_logout_claims(&claims, Utc::now().timestamp()).map_err(LogoutRefused::Invalid)?;
        let jti = claims.jti.as_deref().unwrap_or_default();
        if !remember_jti(db, provider.issuer(), jti, claims.exp).await? {
            return Err(LogoutRefused::Invalid(
                "this logout token was already used (jti)".into(),
            ));
        }
        let user = match &claims.sub {
            Some(sub) => users::find_by_subject(db, provider.issuer(), sub).await?,
            None => None,
        };
        let ended = match (&claims.sid, &claims.sub, &user) {
            // A user Keyward never saw has no sessions to end: processed all the same (§2.8).
            (_, Some(_), None) => 0,
            (Some(sid), _, _) => {
                sessions::end_for_provider_sid(db, sid, user.as_ref().map(|u| u.id))
                    .await?
                    .len()
            }
            (None, _, Some(user)) => {
                usize::try_from(sessions::delete_for_user(db, user.id).await?).unwrap_or(usize::MAX)
            }
            (None, None, None) => 0,
        };
        if ended > 0 {
            self.sessions_ended(db).await?;
        }
        Ok(LoggedOut { sessions: ended })
    }
}

/// §2.6 steps 3–6 beyond what the JWT library checks: `iat`, `jti`, `events`, no `nonce`, `sid` or `sub`.
fn check_logout_claims(claims: &LogoutClaims, now: i64) -> Result<(), String> {
    match claims.iat {
        None => return Err("the logout token lacks the `iat` claim".into()),
        Some(iat) if iat > now + IAT_SKEW_SECS => {
            return Err("the logout token was issued in the future (iat)".into());
        }
        Some(_) => {}
    }
    if claims.jti.as_deref().is_none_or(str::is_empty) {
        return Err("the logout token lacks the `jti` claim".into());
    }
    let is_logout = claims
        .events
        .as_ref()
        .and_then(|e| e.as_object())
        .and_then(|e| e.get(LOGOUT_EVENT))
        .is_some_and(serde_json::Value::is_object);
    if !is_logout {
        return Err(format!(
            "the token's `events` claim does not contain {LOGOUT_EVENT}"
        ));
    }
    if claims.nonce.is_some() {
        return Err("a logout token must not contain a `nonce`".into());
    }
    if claims.sid.is_none() && claims.sub.is_none() {
        return Err("the logout token names neither a session (`sid`) nor a user (`sub`)".into());
    }
    Ok(())
}

/// Records the token's `jti`; `false` when it was seen before.
async fn remember_jti(db: &Db, issuer: &str, jti: &str, exp: i64) -> Result<bool, DbErr> {
    let key = crypto::sha256_hex(&format!("{issuer}\n{jti}"));
    let expires_at = DateTime::from_timestamp(exp, 0).unwrap_or_else(Utc::now);
    let inserted = logout_tokens_seen::Entity::insert(logout_tokens_seen::ActiveModel {
        jti: Set(key),
        expires_at: Set(expires_at),
    })
    .on_conflict(
        OnConflict::column(logout_tokens_seen::Column::Jti)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(inserted == 1)
}

/// Forgets logout tokens that expired: a replay of one fails on `exp` anyway.
pub async fn purge_expired(db: &Db) -> Result<u64, DbErr> {
    logout_tokens_seen::Entity::delete_many()
        .filter(logout_tokens_seen::Column::ExpiresAt.lte(Utc::now()))
        .exec(db)
        .await
        .map(|r| r.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: serde_json::Value) -> LogoutClaims {
        serde_json::from_value(json).expect("claims")
    }

    #[test]
    fn logout_claims_are_checked_as_section_2_6_says() {
        let now = 1_000_000;
        let ok = serde_json::json!({
            "exp": now + 120, "iat": now, "jti": "j", "sid": "s",
            "events": {LOGOUT_EVENT: {}, "urn:other": {}},
        });
        assert!(check_logout_claims(&claims(ok.clone()), now).is_ok());
        let with = |key: &str, value: serde_json::Value| {
            let mut c = ok.clone();
            c[key] = value;
            check_logout_claims(&claims(c), now)
        };
        let without = |key: &str| {
            let mut c = ok.clone();
            c.as_object_mut().unwrap().remove(key);
            check_logout_claims(&claims(c), now)
        };
        assert!(
            with("iat", (now + 3600).into()).is_err(),
            "iat in the future"
        );
        assert!(without("iat").is_err());
        assert!(without("jti").is_err());
        assert!(with("events", serde_json::json!({"urn:other": {}})).is_err());
        assert!(with("events", serde_json::json!({LOGOUT_EVENT: "x"})).is_err());
        assert!(with("nonce", "n".into()).is_err());
        assert!(without("sid").is_err(), "neither sid nor sub");
        assert!(with("sub", "u".into()).is_ok());
    }
}
