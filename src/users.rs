//! Local users: created from the provider's claims at first login (keyed by issuer and `sub`, never by email
//! or username), their metadata refreshed at every later login.

use chrono::Utc;
use entity::users;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, TransactionSession, TransactionTrait, sea_query::OnConflict,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

mod search;
pub use search::list;

use crate::{
    auth::provider::ProviderClaims,
    db::Db,
    rbac::store::{self, StoreError},
    text::without_nul,
};

/// The metadata Keyward copies from the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub email: Option<String>,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
}

impl Profile {
    pub fn from_claims(c: &ProviderClaims) -> Self {
        let email = non_empty(c.email.as_deref());
        Self {
            email_verified: email.is_some() && c.email_verified(),
            email,
            display_name: display_name(c),
            username: non_empty(c.preferred_username.as_deref()),
            avatar_url: non_empty(c.picture.as_deref()),
        }
        .storable()
    }

    /// The same metadata without NUL, which providers may send and no database stores: the login or the
    /// sync must not fail on it. Used wherever a profile is built from the provider's data.
    pub fn storable(self) -> Self {
        let clean = |s: Option<String>| s.map(without_nul).filter(|s| !s.is_empty());
        let email = clean(self.email);
        Self {
            email_verified: self.email_verified && email.is_some(),
            email,
            display_name: clean(self.display_name),
            username: clean(self.username),
            avatar_url: clean(self.avatar_url),
        }
    }
}

/// `name`, else given and family name, else `preferred_username`.
pub fn display_name(c: &ProviderClaims) -> Option<String> {
    non_empty(c.name.as_deref()).or_else(|| {
        let full = [c.given_name.as_deref(), c.family_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        non_empty(Some(&full)).or_else(|| non_empty(c.preferred_username.as_deref()))
    })
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Gravatar's URL for an email (SHA-256 of the trimmed, lower-cased address), with a generated fallback image.
pub fn gravatar_url(email: &str) -> String {
    let hash = hex::encode(Sha256::digest(email.trim().to_lowercase().as_bytes()));
    format!("https://www.gravatar.com/avatar/{hash}?d=identicon")
}

/// The picture to show: the provider's, else Gravatar's for the email.
pub fn avatar(user: &users::Model) -> Option<String> {
    user.avatar_url
        .clone()
        .or_else(|| user.email.as_deref().map(gravatar_url))
}

pub async fn find_by_subject(
    db: &impl ConnectionTrait,
    issuer: &str,
    subject: &str,
) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find()
        .filter(users::Column::Issuer.eq(issuer))
        .filter(users::Column::Subject.eq(subject))
        .one(db)
        .await
}

/// Why the user is being written: a login also stamps `last_login_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Login,
    /// First use of a provider access token by someone who never logged in through Keyward.
    Bearer,
}

/// Creates the user on first sight, or brings their metadata up to date. Safe against two first logins at once.
/// Says whether this is the user's first appearance: created now, or (for a login) never logged in before, as
/// users the sync created have not.
pub async fn upsert(
    db: &impl ConnectionTrait,
    issuer: &str,
    subject: &str,
    profile: &Profile,
    seen: Seen,
) -> Result<(users::Model, bool), DbErr> {
    let now = Utc::now();
    let last_login = (seen == Seen::Login).then_some(now);
    if let Some(existing) = find_by_subject(db, issuer, subject).await? {
        let first = seen == Seen::Login && existing.last_login_at.is_none();
        let unchanged = existing.email == profile.email
            && existing.email_verified == profile.email_verified
            && existing.display_name == profile.display_name
            && existing.username == profile.username
            && existing.avatar_url == profile.avatar_url;
        if unchanged && last_login.is_none() {
            return Ok((existing, first));
        }
        let mut row = existing.into_active_model();
        if !unchanged {
            row.email = Set(profile.email.clone());
            row.email_verified = Set(profile.email_verified);
            row.display_name = Set(profile.display_name.clone());
            row.username = Set(profile.username.clone());
            row.avatar_url = Set(profile.avatar_url.clone());
            row.updated_at = Set(now);
        }
        if last_login.is_some() {
            row.last_login_at = Set(last_login);
        }
        return row.update(db).await.map(|u| (u, first));
    }
    let id = Uuid::now_v7();
    let row = users::ActiveModel {
        id: Set(id),
        issuer: Set(issuer.to_owned()),
        subject: Set(subject.to_owned()),
        email: Set(profile.email.clone()),
        email_verified: Set(profile.email_verified),
        display_name: Set(profile.display_name.clone()),
        username: Set(profile.username.clone()),
        avatar_url: Set(profile.avatar_url.clone()),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(last_login),
        last_synced_at: Set(None),
        deactivated_by: Set(None),
        provider_pk: Set(None),
    };
    users::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([users::Column::Issuer, users::Column::Subject])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    // Whoever won the race, the row now exists; a loser's login still refreshes it.
    match find_by_subject(db, issuer, subject).await? {
        Some(user) if user.id == id => Ok((user, true)),
        Some(user) if seen == Seen::Bearer => Ok((user, false)),
        Some(_) => Box::pin(upsert(db, issuer, subject, profile, seen)).await,
        None => Err(DbErr::RecordNotFound(format!(
            "user {issuer} {subject} vanished after insert"
        ))),
    }
}

/// Filters of the admin listing.
#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    /// Case-insensitive substring of the email.
    pub email: Option<String>,
    /// Holds this role (by name, any source).
    pub role_id: Option<Uuid>,
    pub active: Option<bool>,
}

/// A name for the audit log: email, else username, else id.
pub fn label(user: &users::Model) -> String {
    user.email
        .clone()
        .or_else(|| user.username.clone())
        .unwrap_or_else(|| user.id.to_string())
}

/// Who changed a user's status.
pub const BY_ADMIN: &str = "admin";
pub const BY_PROVIDER: &str = "provider";

/// Marks the user active or inactive (`by` says who, for deactivations); deactivation also ends their
/// sessions, in the same transaction so that no session outlives a committed deactivation. Returns the
/// updated row.
pub async fn set_active<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user: users::Model,
    active: bool,
    by: &str,
) -> Result<users::Model, DbErr> {
    let txn = db.begin().await?;
    let db = &txn;
    let id = user.id;
    let mut row = user.into_active_model();
    row.active = Set(active);
    row.deactivated_by = Set((!active).then(|| by.to_owned()));
    row.updated_at = Set(Utc::now());
    let updated = row.update(db).await?;
    if !active {
        crate::auth::sessions::delete_for_user(db, id).await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// An admin's change of a user's status: the last active admin cannot be deactivated. The caller tells the
/// access cache and writes the audit event.
pub async fn change_status(
    db: &Db,
    user: users::Model,
    active: bool,
) -> Result<users::Model, StoreError> {
    let txn = db.begin().await?;
    if !active {
        store::lock_admin_changes(&txn).await?;
        store::check_not_last_admin(&txn, user.id).await?;
    }
    let user = set_active(&txn, user, active, BY_ADMIN).await?;
    txn.commit().await?;
    Ok(user)
}

/// "Log out everywhere": ends every session of the user, and with them the Keyward API tokens minted from
/// them. Returns how many sessions ended; the caller tells the access cache (which holds the user's live
/// sessions) and writes the audit event.
pub async fn end_sessions(db: &Db, user_id: Uuid) -> Result<u64, DbErr> {
    crate::auth::sessions::delete_for_user(db, user_id).await
}

/// An active user with nothing but a subject, for unit tests to adjust.
#[cfg(test)]
pub(crate) fn test_user(subject: &str) -> users::Model {
    let now = Utc::now();
    users::Model {
        id: Uuid::new_v4(),
        issuer: "https://idp".into(),
        subject: subject.into(),
        email: None,
        email_verified: false,
        display_name: None,
        username: None,
        avatar_url: None,
        active: true,
        created_at: now,
        updated_at: now,
        last_login_at: None,
        last_synced_at: None,
        deactivated_by: None,
        provider_pk: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: serde_json::Value) -> ProviderClaims {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn display_name_prefers_name_then_given_family_then_username() {
        let c = claims(
            serde_json::json!({"sub": "s", "name": "Zoë Ångström", "given_name": "Z",
            "preferred_username": "zoe"}),
        );
        assert_eq!(display_name(&c).as_deref(), Some("Zoë Ångström"));
        let c = claims(
            serde_json::json!({"sub": "s", "name": " ", "given_name": "Ada",
            "family_name": "Lovelace", "preferred_username": "ada"}),
        );
        assert_eq!(display_name(&c).as_deref(), Some("Ada Lovelace"));
        let c = claims(serde_json::json!({"sub": "s", "family_name": "Lovelace"}));
        assert_eq!(display_name(&c).as_deref(), Some("Lovelace"));
        let c = claims(serde_json::json!({"sub": "s", "preferred_username": "ada"}));
        assert_eq!(display_name(&c).as_deref(), Some("ada"));
        let c = claims(serde_json::json!({"sub": "s"}));
        assert_eq!(display_name(&c), None);
    }

    #[test]
    fn an_unverified_claim_or_a_missing_email_is_not_verified() {
        let p = Profile::from_claims(&claims(
            serde_json::json!({"sub": "s", "email": "a@example.com", "email_verified": "true"}),
        ));
        assert!(p.email_verified, "string booleans are understood");
        let p = Profile::from_claims(&claims(
            serde_json::json!({"sub": "s", "email_verified": true}),
        ));
        assert!(!p.email_verified);
        assert_eq!(p.email, None);
    }

    #[test]
    fn gravatar_hashes_the_normalized_email() {
        assert_eq!(
            gravatar_url(" Alice@Example.com "),
            gravatar_url("alice@example.com")
        );
        assert!(gravatar_url("alice@example.com").starts_with("https://www.gravatar.com/avatar/"));
        let hash = gravatar_url("alice@example.com");
        let hash = hash
            .trim_start_matches("https://www.gravatar.com/avatar/")
            .split('?')
            .next()
            .unwrap();
        assert_eq!(hash.len(), 64);
    }
}
