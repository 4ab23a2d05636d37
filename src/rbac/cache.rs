//! Effective access per user, cached in memory. A change made on this instance clears the cache at once; a
//! change made elsewhere bumps a version row in the database, which every instance polls (every 2 s), so
//! other instances see it within that time. The cache never outlives a deactivation: deactivating bumps the
//! version too, and the cached entry carries the user row it was resolved with.
//!
//! While the database cannot be asked, the cache keeps answering with what it knows rather than clearing
//! itself (a cleared cache turns every request into a failed database read): for at most `stale_max` after
//! the last successful look, then it stops answering and requests fail as the database does (503).

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::db::Db;
use chrono::{DateTime, Utc};
use entity::{keyward_settings, sessions, users};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::OnConflict,
};
use uuid::Uuid;

use super::{Access, store};

const VERSION_SETTING: &str = "rbac_version";
/// How often other instances' changes are looked for.
pub const POLL_EVERY: Duration = Duration::from_secs(2);
/// Past this many users the cache starts over rather than grow without bound.
const MAX_ENTRIES: usize = 50_000;

/// A user as last read, with what they may do.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub user: Arc<users::Model>,
    pub access: Arc<Access>,
    /// The user's live sessions (public id → expiry) as last read. API tokens die with their session; a
    /// session opened or extended since is not here, and is looked up (`auth::sessions::is_live`).
    pub sessions: HashMap<Uuid, DateTime<Utc>>,
}

impl Resolved {
    /// Whether the session `sid` was live when the user was read and has not expired since.
    pub fn session_live(&self, sid: Uuid) -> bool {
        self.sessions.get(&sid).is_some_and(|at| *at > Utc::now())
    }
}

pub struct AccessCache {
    entries: RwLock<HashMap<Uuid, Arc<Resolved>>>,
    seen_version: RwLock<Option<String>>,
    /// Bumped by every clear: an entry read from the database before a clear is not stored after it.
    generation: AtomicU64,
    /// When the database last confirmed that nothing changed (a poll that answered, or a change made here).
    confirmed_at: RwLock<Instant>,
    stale_max: Duration,
}

/// `KEYWARD_ACCESS_STALE_MAX`'s default.
pub const DEFAULT_STALE_MAX: Duration = Duration::from_secs(60);

impl Default for AccessCache {
    fn default() -> Self {
        Self::new(DEFAULT_STALE_MAX)
    }
}

impl AccessCache {
    /// A cache that serves what it knows for at most `stale_max` after the database last answered its poll.
    pub fn new(stale_max: Duration) -> Self {
        Self {
            entries: RwLock::default(),
            seen_version: RwLock::default(),
            generation: AtomicU64::default(),
            confirmed_at: RwLock::new(Instant::now()),
            stale_max,
        }
    }

    /// A remembered entry, unless the database has been out of reach for longer than `stale_max`.
    fn cached(&self, user_id: Uuid) -> Option<Arc<Resolved>> {
        let confirmed = self.confirmed_at.read().map(|at| *at).ok()?;
        if confirmed.elapsed() > self.stale_max {
            return None;
        }
        self.entries.read().ok()?.get(&user_id).cloned()
    }

    fn confirmed(&self, at: Instant) {
        if let Ok(mut confirmed) = self.confirmed_at.write() {
            *confirmed = (*confirmed).max(at);
        }
    }

    /// The user and their access: from memory, or from the database (then remembered).
    pub async fn resolve(&self, db: &Db, user_id: Uuid) -> Result<Option<Arc<Resolved>>, DbErr> {
        if let Some(hit) = self.cached(user_id) {
            return Ok(Some(hit));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let Some(user) = users::Entity::find_by_id(user_id).one(db).await? else {
            return Ok(None);
        };
        Ok(Some(self.remember(db, user, generation).await?))
    }

    /// Access for a user row the caller just read (the session path joins it already).
    pub async fn access_for(&self, db: &Db, user: &users::Model) -> Result<Arc<Access>, DbErr> {
        if let Some(hit) = self.cached(user.id)
            && *hit.user == *user
        {
            return Ok(hit.access.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        Ok(self
            .remember(db, user.clone(), generation)
            .await?
            .access
            .clone())
    }

    async fn remember(
        &self,
        db: &Db,
        user: users::Model,
        generation: u64,
    ) -> Result<Arc<Resolved>, DbErr> {
        let access = Arc::new(store::effective_access(db, user.id).await?);
        let sessions = sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user.id))
            .filter(sessions::Column::ExpiresAt.gt(Utc::now()))
            .all(db)
            .await?
            .into_iter()
            .map(|s| (s.public_id, s.expires_at))
            .collect();
        let resolved = Arc::new(Resolved {
            user: Arc::new(user),
            access,
            sessions,
        });
        if let Ok(mut map) = self.entries.write()
            && self.generation.load(Ordering::SeqCst) == generation
        {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(resolved.user.id, resolved.clone());
        }
        Ok(resolved)
    }

    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            map.clear();
        }
    }

    /// Records a change: clears this instance's cache and tells the others through the database.
    pub async fn changed(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let started = Instant::now();
        let version = Uuid::new_v4().to_string();
        keyward_settings::Entity::insert(keyward_settings::ActiveModel {
            name: Set(VERSION_SETTING.into()),
            value: Set(version.clone()),
            updated_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::column(keyward_settings::Column::Name)
                .update_columns([
                    keyward_settings::Column::Value,
                    keyward_settings::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        if let Ok(mut seen) = self.seen_version.write() {
            *seen = Some(version);
        }
        self.clear();
        self.confirmed(started);
        Ok(())
    }

    /// Clears the cache if another instance changed something since the last look. When the database does
    /// not answer, the cache is left as it is (see the module comment).
    pub async fn poll(&self, db: &Db) -> Result<(), DbErr> {
        let started = Instant::now();
        let current = keyward_settings::Entity::find_by_id(VERSION_SETTING)
            .one(db)
            .await?
            .map(|row| row.value);
        let stale = self
            .seen_version
            .read()
            .map(|seen| *seen != current)
            .unwrap_or(true);
        if stale {
            self.clear();
            if let Ok(mut seen) = self.seen_version.write() {
                *seen = current;
            }
        }
        self.confirmed(started);
        Ok(())
    }

    /// How long cached access is served while the database is away.
    pub fn stale_max(&self) -> Duration {
        self.stale_max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_live_while_known_and_unexpired() {
        let live = Uuid::new_v4();
        let expired = Uuid::new_v4();
        let resolved = Resolved {
            user: crate::users::test_user("s").into(),
            access: Arc::default(),
            sessions: HashMap::from([
                (live, Utc::now() + chrono::Duration::minutes(5)),
                (expired, Utc::now() - chrono::Duration::seconds(1)),
            ]),
        };
        assert!(resolved.session_live(live));
        assert!(!resolved.session_live(expired), "expired since it was read");
        assert!(!resolved.session_live(Uuid::new_v4()), "unknown here");
    }
}
