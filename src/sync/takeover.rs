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
    /// abandoned (or another instance took it over first).
    pub async fn take_over(self: &Arc<Self>) -> Result<Option<sync_runs::Model>, StartError> {
        // The cheap question first: every instance asks it every few seconds.
        let running = sync_runs::Entity::find()
            .filter(sync_runs::Column::Status.eq("running"))
            .count(&self.db)
            .await?;
        if running == 0 {
            return Ok(None);
        }
        let Some(abandoned) = self.take_lease().await? else {
            return Ok(None);
        };
        // The run seen above may have ended and freed the lease meanwhile: nothing to replace then.
        if abandoned == 0 {
            self.release_lease().await;
            return Ok(None);
        }
        match self.record_start(Trigger::Takeover, None).await {
            Ok(run) => {
                self.execute_in_background(&run);
                Ok(Some(run))
            }
            Err(err) => {
                self.release_lease().await;
                Err(err.into())
            }
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
