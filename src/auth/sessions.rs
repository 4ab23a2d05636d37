//! Server-side sessions and pending logins, stored in the database so any instance can serve any browser.
//! The cookie carries a random token; the table keeps only its SHA-256, and shows the world a public UUID.

use chrono::{DateTime, Utc};
use entity::{login_attempts, sessions, users};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    audit::Origin,
    crypto::{self, Purpose, Vault},
};

/// How long a login may take at the provider before its state is forgotten.
pub const LOGIN_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// A session's expiry is pushed forward at most this often, to spare the database a write per request.
const SLIDE_EVERY: chrono::Duration = chrono::Duration::seconds(60);
/// A refresh claimed by one request is considered abandoned after this long.
const REFRESH_CLAIM: chrono::Duration = chrono::Duration::seconds(30);

pub async fn save_login(
    db: &impl ConnectionTrait,
    state: &str,
    nonce: &str,
    pkce_verifier: &str,
    browser_binding: &str,
    return_to: &str,
) -> Result<(), DbErr> {
    let now = Utc::now();
    login_attempts::Entity::insert(login_attempts::ActiveModel {
        state: Set(state.to_owned()),
        nonce: Set(nonce.to_owned()),
        pkce_verifier: Set(pkce_verifier.to_owned()),
        browser_binding: Set(crypto::sha256_hex(browser_binding)),
        return_to: Set(return_to.to_owned()),
        created_at: Set(now),
        expires_at: Set(now + LOGIN_TTL),
    })
    .exec_without_returning(db)
    .await
    .map(|_| ())
}

/// Why a callback's state was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateProblem {
    /// Never issued, or already used (a replayed callback).
    Unknown,
    /// Started in another browser (the login cookie does not match).
    OtherBrowser,
    Expired,
}

/// Takes the pending login for `state` out of the table. Only one callback can ever take it.
pub async fn take_login(
    db: &impl ConnectionTrait,
    state: &str,
    browser_binding: Option<&str>,
) -> Result<Result<login_attempts::Model, StateProblem>, DbErr> {
    let Some(attempt) = login_attempts::Entity::find_by_id(state).one(db).await? else {
        return Ok(Err(StateProblem::Unknown));
    };
    // Checked before deleting, so a stranger who learns a state cannot burn someone else's login.
    let same_browser = browser_binding.is_some_and(|b| {
        crypto::constant_time_eq(&crypto::sha256_hex(b), &attempt.browser_binding)
    });
    if !same_browser {
        return Ok(Err(StateProblem::OtherBrowser));
    }
    let deleted = login_attempts::Entity::delete_by_id(state).exec(db).await?;
    if deleted.rows_affected != 1 {
        return Ok(Err(StateProblem::Unknown));
    }
    if attempt.expires_at < Utc::now() {
        return Ok(Err(StateProblem::Expired));
    }
    Ok(Ok(attempt))
}

/// What a new session starts with.
pub struct NewSession<'a> {
    pub user_id: Uuid,
    pub id_token: Option<String>,
    /// The provider's session id (`sid` of the ID token), for back-channel logout.
    pub provider_sid: Option<String>,
    pub refresh_token: Option<&'a str>,
    pub provider_expires_at: Option<DateTime<Utc>>,
    pub lifetime: Lifetime,
}

/// How long a session lives: `idle` after its last use, never past `max` after it opened.
#[derive(Debug, Clone, Copy)]
pub struct Lifetime {
    pub idle: chrono::Duration,
    pub max: chrono::Duration,
}

impl Lifetime {
    /// When a session opened at `created_at` and used `now` ends.
    pub fn expiry(&self, created_at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
        (now + self.idle).min(created_at + self.max)
    }
}

/// Creates the session and returns the cookie value (the only copy of it anywhere).
pub async fn create(
    db: &impl ConnectionTrait,
    vault: &Vault,
    origin: &Origin,
    new: NewSession<'_>,
) -> Result<(String, sessions::Model), DbErr> {
    let token = crypto::random_token(32);
    let id = crypto::sha256_hex(&token);
    let now = Utc::now();
    let model = sessions::Model {
        refresh_token: new
            .refresh_token
            .map(|rt| vault.seal(Purpose::RefreshToken, &id, rt.as_bytes())),
        id,
        public_id: Uuid::new_v4(),
        provider_sid: new.provider_sid,
        user_id: new.user_id,
        id_token: new.id_token,
        provider_expires_at: new.provider_expires_at,
        refresh_claimed_until: None,
        ip: origin.ip.clone(),
        user_agent: origin.user_agent.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: new.lifetime.expiry(now, now),
    };
    sessions::Entity::insert(sessions::ActiveModel {
        id: Set(model.id.clone()),
        public_id: Set(model.public_id),
        provider_sid: Set(model.provider_sid.clone()),
        user_id: Set(model.user_id),
        id_token: Set(model.id_token.clone()),
        refresh_token: Set(model.refresh_token.clone()),
        provider_expires_at: Set(model.provider_expires_at),
        refresh_claimed_until: Set(None),
        ip: Set(model.ip.clone()),
        user_agent: Set(model.user_agent.clone()),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(model.expires_at),
    })
    .exec_without_returning(db)
    .await?;
    Ok((token, model))
}

/// The live session behind a cookie value and its user, sliding its expiry forward (never past its maximum
/// lifetime).
pub async fn find(
    db: &impl ConnectionTrait,
    cookie_value: &str,
    lifetime: Lifetime,
) -> Result<Option<(sessions::Model, users::Model)>, DbErr> {
    let id = crypto::sha256_hex(cookie_value);
    let Some((mut session, Some(user))) = sessions::Entity::find_by_id(id)
        .find_also_related(users::Entity)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let now = Utc::now();
    if session.expires_at <= now {
        return Ok(None);
    }
    if now - session.last_seen_at >= SLIDE_EVERY {
        let expires_at = lifetime.expiry(session.created_at, now);
        session.last_seen_at = now;
        session.expires_at = expires_at;
        sessions::Entity::update_many()
            .col_expr(sessions::Column::LastSeenAt, Expr::value(now))
            .col_expr(sessions::Column::ExpiresAt, Expr::value(expires_at))
            .filter(sessions::Column::Id.eq(session.id.clone()))
            .exec(db)
            .await?;
    }
    Ok(Some((session, user)))
}

/// Claims the right to refresh this session's provider tokens. Exactly one of several concurrent requests (on
/// any instance) gets `true`; the others carry on with the session as it is.
pub async fn claim_refresh(db: &impl ConnectionTrait, session_id: &str) -> Result<bool, DbErr> {
    let now = Utc::now();
    let claimed = sessions::Entity::update_many()
        .col_expr(
            sessions::Column::RefreshClaimedUntil,
            Expr::value(now + REFRESH_CLAIM),
        )
        .filter(sessions::Column::Id.eq(session_id))
        .filter(
            Condition::any()
                .add(sessions::Column::RefreshClaimedUntil.is_null())
                .add(sessions::Column::RefreshClaimedUntil.lt(now)),
        )
        .filter(
            Condition::any()
                .add(sessions::Column::ProviderExpiresAt.is_null())
                .add(sessions::Column::ProviderExpiresAt.lte(now)),
        )
        .exec(db)
        .await?;
    Ok(claimed.rows_affected == 1)
}

/// Stores what a refresh returned and releases the claim.
pub async fn refreshed(
    db: &impl ConnectionTrait,
    vault: &Vault,
    session_id: &str,
    id_token: Option<String>,
    refresh_token: Option<&str>,
    provider_expires_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut update = sessions::Entity::update_many()
        .col_expr(
            sessions::Column::ProviderExpiresAt,
            Expr::value(provider_expires_at),
        )
        .col_expr(
            sessions::Column::RefreshClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(sessions::Column::Id.eq(session_id));
    if let Some(id_token) = id_token {
        update = update.col_expr(sessions::Column::IdToken, Expr::value(id_token));
    }
    if let Some(rt) = refresh_token {
        let sealed = vault.seal(Purpose::RefreshToken, session_id, rt.as_bytes());
        update = update.col_expr(sessions::Column::RefreshToken, Expr::value(sealed));
    }
    update.exec(db).await.map(|_| ())
}

/// Lets another request try the refresh later (the provider was unreachable).
pub async fn release_refresh(db: &impl ConnectionTrait, session_id: &str) -> Result<(), DbErr> {
    sessions::Entity::update_many()
        .col_expr(
            sessions::Column::RefreshClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(sessions::Column::Id.eq(session_id))
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn delete(db: &impl ConnectionTrait, session_id: &str) -> Result<(), DbErr> {
    sessions::Entity::delete_by_id(session_id)
        .exec(db)
        .await
        .map(|_| ())
}

/// Deletes the session behind a cookie value, live or not, and returns what it was.
pub async fn end(
    db: &impl ConnectionTrait,
    cookie_value: &str,
) -> Result<Option<sessions::Model>, DbErr> {
    let id = crypto::sha256_hex(cookie_value);
    let Some(session) = sessions::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    delete(db, &session.id).await?;
    Ok(Some(session))
}

/// Ends every session of a user (deactivation, "log out everywhere"). Returns how many ended.
pub async fn delete_for_user(db: &impl ConnectionTrait, user_id: Uuid) -> Result<u64, DbErr> {
    sessions::Entity::delete_many()
        .filter(sessions::Column::UserId.eq(user_id))
        .exec(db)
        .await
        .map(|r| r.rows_affected)
}

/// The live sessions of a user, most recently used first.
pub async fn list_for_user(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<sessions::Model>, DbErr> {
    sessions::Entity::find()
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::ExpiresAt.gt(Utc::now()))
        .order_by_desc(sessions::Column::LastSeenAt)
        .all(db)
        .await
}

/// Whether the session with this public id is live and belongs to `user_id`.
pub async fn is_live(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    public_id: Uuid,
) -> Result<bool, DbErr> {
    Ok(sessions::Entity::find()
        .filter(sessions::Column::PublicId.eq(public_id))
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::ExpiresAt.gt(Utc::now()))
        .one(db)
        .await?
        .is_some())
}

/// Ends one session of `user_id` by its public id; `false` when the user has no such session.
pub async fn end_by_public_id(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    public_id: Uuid,
) -> Result<bool, DbErr> {
    let deleted = sessions::Entity::delete_many()
        .filter(sessions::Column::PublicId.eq(public_id))
        .filter(sessions::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected > 0)
}

/// Ends the sessions opened in one provider session (`sid`), optionally only those of `user_id`. Returns the
/// users whose sessions ended.
pub async fn end_for_provider_sid(
    db: &impl ConnectionTrait,
    provider_sid: &str,
    user_id: Option<Uuid>,
) -> Result<Vec<Uuid>, DbErr> {
    let mut find = sessions::Entity::find().filter(sessions::Column::ProviderSid.eq(provider_sid));
    if let Some(user_id) = user_id {
        find = find.filter(sessions::Column::UserId.eq(user_id));
    }
    let ended = find.all(db).await?;
    let ids: Vec<String> = ended.iter().map(|s| s.id.clone()).collect();
    if !ids.is_empty() {
        sessions::Entity::delete_many()
            .filter(sessions::Column::Id.is_in(ids))
            .exec(db)
            .await?;
    }
    Ok(ended.into_iter().map(|s| s.user_id).collect())
}

/// Forgets expired sessions and abandoned logins.
pub async fn purge_expired(db: &impl ConnectionTrait) -> Result<(u64, u64), DbErr> {
    let now = Utc::now();
    let sessions = sessions::Entity::delete_many()
        .filter(sessions::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected;
    let logins = login_attempts::Entity::delete_many()
        .filter(login_attempts::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected;
    Ok((sessions, logins))
}
