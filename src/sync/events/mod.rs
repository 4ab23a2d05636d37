//! Provider events between full syncs: every `KEYWARD_SYNC_EVENTS_INTERVAL` one instance (a lease row of its
//! own, apart from the full sync's) reads the provider's event log from a cursor kept in the database, fetches
//! the current record of each user the new events name, and applies it by the full sync's rules.

pub mod feed;
mod reader;

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use entity::{sync_event_cursors as cursors, users};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use super::{Syncer, deactivate::Actor, directory::DirectoryUser, local::Candidates};
use crate::{
    audit::Origin,
    rbac::{
        mapping::{self, MappedBy},
        store,
    },
};
use feed::{Cursor, Named};
use reader::{Reader, Record, Recording};

const LEASE: &str = "user-sync-events";

/// What one poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Polled {
    /// Another instance holds the poller's lease.
    pub standing_by: bool,
    pub events: usize,
    pub deactivated: usize,
    pub reactivated: usize,
}

/// Starts the poller when there is an interval and a directory; the task runs until aborted.
pub fn start(syncer: Arc<Syncer>) -> Option<tokio::task::JoinHandle<()>> {
    let interval = syncer.settings.events_interval?;
    let reader = Reader::new(syncer.http.clone(), &syncer.target)?;
    let issuer = syncer.issuer.clone()?;
    tracing::info!(interval = ?interval, "provider events are read between syncs");
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            match syncer.poll_events(&reader, &issuer, interval).await {
                Ok(polled) => {
                    if failing {
                        tracing::info!("provider events can be read again");
                    }
                    failing = false;
                    if polled.events > 0 {
                        tracing::info!(
                            events = polled.events,
                            deactivated = polled.deactivated,
                            reactivated = polled.reactivated,
                            "provider events applied"
                        );
                    }
                }
                // Once per outage; the next poll tries again from the same cursor.
                Err(err) if !failing => {
                    failing = true;
                    tracing::warn!(error = %err, "could not read or apply provider events");
                }
                Err(_) => {}
            }
        }
    }))
}

impl Syncer {
    /// One poll: the lease, the provider's event settings, the events since the cursor, each named user
    /// applied, then the cursor moved past them (applying is idempotent, so a failure before the cursor moves
    /// only repeats work).
    async fn poll_events(
        &self,
        reader: &Reader,
        issuer: &str,
        interval: Duration,
    ) -> Result<Polled, String> {
        let db_error = |e: DbErr| format!("database: {e}");
        if !self.hold_events_lease(interval).await.map_err(db_error)? {
            return Ok(Polled {
                standing_by: true,
                ..Polled::default()
            });
        }
        let provider = self.provider().map_err(str::to_owned)?;
        let Some(cursor) = self
            .event_cursor(issuer, provider)
            .await
            .map_err(db_error)?
        else {
            // The first poll starts from now: the full sync covers the past.
            return Ok(Polled::default());
        };
        match reader.recording().await.map_err(|e| e.to_string())? {
            Recording::Off(why) => {
                self.set_events_warning(issuer, Some(&why))
                    .await
                    .map_err(db_error)?;
                return Ok(Polled::default());
            }
            Recording::On => self
                .set_events_warning(issuer, None)
                .await
                .map_err(db_error)?,
        }
        let read = reader
            .events_since(cursor.read_from())
            .await
            .map_err(|e| format!("{provider} events: {e}"))?;
        let Some(read) = read else {
            // Reading on from here would never catch up: the full sync reconciles what was missed.
            tracing::warn!(
                pages = reader::MAX_PAGES,
                "too many provider events since the last poll; reading on from now, the scheduled sync \
                 applies the rest"
            );
            let now = Cursor::starting_at(Utc::now().timestamp_millis());
            self.save_event_cursor(issuer, &now)
                .await
                .map_err(db_error)?;
            return Ok(Polled::default());
        };
        let (fresh, next) = cursor.advance(read);
        let mut polled = Polled {
            events: fresh.len(),
            ..Polled::default()
        };
        let mut changed = false;
        for named in feed::users_named(&fresh) {
            changed |= self
                .apply_named(reader, issuer, provider, &named, &mut polled)
                .await?;
        }
        if changed {
            self.access.changed(&self.db).await.map_err(db_error)?;
        }
        if next != cursor {
            self.save_event_cursor(issuer, &next)
                .await
                .map_err(db_error)?;
        }
        Ok(polled)
    }

    /// Applies one named user as the provider has them now. `true` when a user row changed.
    async fn apply_named(
        &self,
        reader: &Reader,
        issuer: &str,
        provider: &'static str,
        named: &Named,
        polled: &mut Polled,
    ) -> Result<bool, String> {
        let db_error = |e: DbErr| format!("database: {e}");
        let by = Actor::ProviderEvent(provider);
        let record = reader
            .user(named)
            .await
            .map_err(|e| format!("{provider} user {named:?}: {e}"))?;
        let (gone, reason) = match record {
            Record::Skipped => return Ok(false),
            Record::Gone => {
                let Some(id) = self.local_id(issuer, named).await.map_err(db_error)? else {
                    tracing::info!(user = ?named, "a user deleted at the provider is not known here");
                    return Ok(false);
                };
                (vec![id], "deleted at the provider (provider event)")
            }
            Record::Present(user) => {
                let subject = Named::Subject(user.subject.clone());
                let local = self.local_id(issuer, &subject).await.map_err(db_error)?;
                let pk = user
                    .provider_pk
                    .clone()
                    .map(|pk| (user.subject.clone(), pk));
                let wanted = Candidates {
                    users: vec![user.clone()],
                    ids: local.into_iter().collect(),
                };
                let applied = self.apply_page(issuer, wanted).await.map_err(db_error)?;
                if let Some(pk) = pk {
                    self.store_provider_pks(issuer, &[pk])
                        .await
                        .map_err(db_error)?;
                }
                let why = "enabled again at the provider (provider event)";
                self.audit_status(&applied.reactivated, true, by, why).await;
                polled.reactivated += applied.reactivated.len();
                let remapped = self.remap_named(reader, issuer, &user).await?;
                let changed = applied.updated + applied.created > 0 || remapped;
                if applied.disabled.is_empty() {
                    return Ok(changed);
                }
                (
                    applied.disabled,
                    "disabled at the provider (provider event)",
                )
            }
        };
        let deactivated = self.deactivate(&gone).await.map_err(db_error)?;
        self.audit_status(&deactivated, false, Actor::ProviderEvent(provider), reason)
            .await;
        polled.deactivated += deactivated.len();
        Ok(true)
    }

    /// Re-evaluates the roles mapped from the provider's groups for a user an event named (a group membership
    /// changed, or anything else about them), from the groups the provider says they are in now. `true` when a
    /// grant changed.
    async fn remap_named(
        &self,
        reader: &Reader,
        issuer: &str,
        user: &DirectoryUser,
    ) -> Result<bool, String> {
        let db_error = |e: DbErr| format!("database: {e}");
        if self.mapped_roles().await.map_err(db_error)?.is_empty() {
            return Ok(false);
        }
        let Some(local) = users::Entity::find()
            .filter(users::Column::Issuer.eq(issuer))
            .filter(users::Column::Subject.eq(&user.subject))
            .one(&self.db)
            .await
            .map_err(db_error)?
        else {
            return Ok(false);
        };
        let groups = reader
            .groups(user)
            .await
            .map_err(|e| format!("the groups of {}: {e}", user.subject))?;
        // Gone meanwhile: the next event or sync deals with it.
        let Some(groups) = groups else {
            return Ok(false);
        };
        let change = store::set_provider_roles(&self.db, local.id, &groups)
            .await
            .map_err(db_error)?;
        let by = MappedBy::Other("provider event");
        mapping::record(&self.db, &Origin::default(), &local, &change, by).await;
        Ok(change.changed())
    }

    async fn local_id(&self, issuer: &str, named: &Named) -> Result<Option<Uuid>, DbErr> {
        use sea_orm::QuerySelect;
        let query = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .filter(users::Column::Issuer.eq(issuer));
        let query = match named {
            Named::Subject(s) => query.filter(users::Column::Subject.eq(s.as_str())),
            Named::ProviderPk(pk) => query.filter(users::Column::ProviderPk.eq(pk.as_str())),
        };
        query.into_tuple().one(&self.db).await
    }

    /// The issuer's cursor; a missing one (or one of another provider) is started at now, and `None` says so.
    async fn event_cursor(&self, issuer: &str, provider: &str) -> Result<Option<Cursor>, DbErr> {
        let row = cursors::Entity::find_by_id(issuer).one(&self.db).await?;
        if let Some(row) = row.filter(|r| r.provider == provider)
            && let Ok(cursor) = serde_json::from_str::<Cursor>(&row.position)
        {
            return Ok(Some(cursor));
        }
        let start = Cursor::starting_at(Utc::now().timestamp_millis());
        cursors::Entity::insert(cursors::ActiveModel {
            issuer: Set(issuer.to_owned()),
            provider: Set(provider.to_owned()),
            position: Set(serde_json::to_string(&start).unwrap_or_default()),
            warning: Set(None),
            updated_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::column(cursors::Column::Issuer)
                .update_columns([
                    cursors::Column::Provider,
                    cursors::Column::Position,
                    cursors::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        Ok(None)
    }

    async fn save_event_cursor(&self, issuer: &str, cursor: &Cursor) -> Result<(), DbErr> {
        cursors::Entity::update_many()
            .col_expr(
                cursors::Column::Position,
                Expr::value(serde_json::to_string(cursor).unwrap_or_default()),
            )
            .col_expr(cursors::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(cursors::Column::Issuer.eq(issuer))
            .exec(&self.db)
            .await
            .map(|_| ())
    }

    /// Records why events cannot be read, logging once when that starts and once when it ends.
    async fn set_events_warning(&self, issuer: &str, warning: Option<&str>) -> Result<(), DbErr> {
        let row = cursors::Entity::find_by_id(issuer).one(&self.db).await?;
        let current = row.and_then(|r| r.warning);
        if current.as_deref() == warning {
            return Ok(());
        }
        match warning {
            Some(why) => tracing::warn!("provider events are not read: {why}"),
            None => tracing::info!("provider events are read again"),
        }
        cursors::Entity::update_many()
            .col_expr(
                cursors::Column::Warning,
                Expr::value(warning.map(str::to_owned)),
            )
            .filter(cursors::Column::Issuer.eq(issuer))
            .exec(&self.db)
            .await
            .map(|_| ())
    }

    /// Why provider events are not read now (admin events off at the realm), if they are not.
    pub async fn events_warning(&self) -> Result<Option<String>, DbErr> {
        let Some(issuer) = &self.issuer else {
            return Ok(None);
        };
        let row = cursors::Entity::find_by_id(issuer.as_str())
            .one(&self.db)
            .await?;
        Ok(row.and_then(|r| r.warning))
    }

    /// Takes the poller's lease when free or renews it when held: the holder keeps polling, the others stand
    /// by until it stops renewing. Its own row, so a long full sync neither waits for it nor stops it.
    async fn hold_events_lease(&self, interval: Duration) -> Result<bool, DbErr> {
        let ttl = chrono::Duration::from_std(interval * 3).unwrap_or(chrono::Duration::MAX)
            + chrono::Duration::seconds(20);
        self.claim_lease(LEASE, ttl, true).await
    }
}
