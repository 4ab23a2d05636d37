//! Takeover: a run whose instance died (it still says `running`, but nobody renews its lease) is marked failed
//! by another instance, which starts a replacement run at once rather than waiting for the next firing.

use std::{sync::Arc, time::Duration};

use entity::sync_runs;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::{StartError, Syncer, Trigger};

impl Syncer {
    /// How often every instance looks for an abandoned run: a third of the lease, between 1 and 10 s, so a
    /// dead holder's run is replaced at most a lease and a third after its last renewal.
    pub fn takeover_every(&self) -> Duration {
        (self.settings.lease_ttl / 3).clamp(Duration::from_secs(1), Duration::from_secs(10))
    }

    /// Starts a `takeover` run when a run is `running` while its lease is free; `None` when no run was
    /// abandoned (or another instance took it over first). A run records its end before it frees the lease,
    /// so a run that finished is never taken for an abandoned one.
    pub async fn take_over(self: &Arc<Self>) -> Result<Option<sync_runs::Model>, StartError> {
        let running = sync_runs::Entity::find()
            .filter(sync_runs::Column::Status.eq("running"))
            .count(&self.db)
            .await?;
        if running == 0 {
            return Ok(None);
        }
        match self.spawn(Trigger::Takeover).await {
            Ok(run) => Ok(Some(run)),
            Err(StartError::AlreadyRunning) => Ok(None),
            Err(err) => Err(err),
        }
    }
}

/// Looks for abandoned runs every [`Syncer::takeover_every`]; `None` without a directory to sync from.
pub fn start(syncer: Arc<Syncer>) -> Option<tokio::task::JoinHandle<()>> {
    syncer.provider().ok()?;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(syncer.takeover_every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            match syncer.take_over().await {
                Ok(Some(run)) => {
                    failing = false;
                    tracing::warn!(run = %run.id, "a sync run's instance stopped renewing its lease; replacement run started");
                }
                Ok(None) => failing = false,
                // Once per outage: the database is away, and every other part says so too.
                Err(err) if !failing => {
                    failing = true;
                    tracing::warn!(error = %err, "could not look for abandoned sync runs");
                }
                Err(_) => {}
            }
        }
    }))
}
