//! The user sync: reads every user from the provider's admin API (Keycloak or Authentik), page by page, and
//! brings the local users table in line: metadata, disabled and removed users. One run at a time across all
//! instances (a lease row); each page commits on its own; deactivations wait until the listing is complete,
//! so a failed or partial run deactivates nobody.

pub mod authentik;
pub mod directory;
pub mod keycloak;
pub mod local;
pub mod reconcile;
pub mod schedule;
pub use takeover::start as start_takeover;

pub mod events;

mod again;
mod apply;
mod deactivate;
mod lease;
mod memberships;
mod remap;
mod run;
mod stash;
mod subjects;
mod takeover;
mod target;

use std::{sync::Arc, time::Duration};

use crate::db::Db;
use chrono::{DateTime, Utc};
use entity::sync_runs;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::{
    config::{Config, SyncSettings},
    metrics::Metrics,
    rbac::cache::AccessCache,
};
use target::{Target, target};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Manual,
    Startup,
    /// Replaces a run whose instance stopped renewing its lease.
    Takeover,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
            Self::Startup => "startup",
            Self::Takeover => "takeover",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    NoDirectory(String),
    #[error("a sync is already running")]
    AlreadyRunning,
    #[error(transparent)]
    Db(#[from] DbErr),
}

pub struct Syncer {
    db: Db,
    issuer: Option<String>,
    target: Target,
    settings: SyncSettings,
    metrics: Arc<Metrics>,
    access: Arc<AccessCache>,
    http: reqwest::Client,
    /// Names this process in the lease row.
    holder: String,
}

impl Syncer {
    pub fn new(
        config: &Config,
        db: Db,
        metrics: Arc<Metrics>,
        access: Arc<AccessCache>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            db,
            issuer: config.oidc.as_ref().ok().map(|o| o.issuer.clone()),
            target: target(&config.oidc, &config.sync),
            settings: config.sync.clone(),
            metrics,
            access,
            http,
            holder: format!("{}:{}", std::process::id(), Uuid::new_v4()),
        })
    }

    pub fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    /// `keycloak` or `authentik`, or why there is nothing to sync from.
    pub fn provider(&self) -> Result<&'static str, &str> {
        match &self.target {
            Target::Keycloak { .. } => Ok("keycloak"),
            Target::Authentik { .. } => Ok("authentik"),
            Target::Unavailable(why) => Err(why),
        }
    }

    /// Takes the lease and records a new run; the caller then calls [`Syncer::execute`].
    pub async fn begin(&self, trigger: Trigger) -> Result<sync_runs::Model, StartError> {
        self.directory()?;
        if self.take_lease().await?.is_none() {
            return Err(StartError::AlreadyRunning);
        }
        match self.record_start(trigger, None).await {
            Ok(run) => Ok(run),
            Err(err) => {
                self.release_lease().await;
                Err(err.into())
            }
        }
    }

    async fn record_start(
        &self,
        trigger: Trigger,
        scheduled_for: Option<DateTime<Utc>>,
    ) -> Result<sync_runs::Model, DbErr> {
        sync_runs::ActiveModel {
            id: Set(Uuid::now_v7()),
            trigger: Set(trigger.as_str().into()),
            scheduled_for: Set(scheduled_for),
            started_at: Set(Utc::now()),
            finished_at: Set(None),
            status: Set("running".into()),
            pages: Set(0),
            seen: Set(0),
            updated: Set(0),
            deactivated: Set(0),
            created: Set(0),
            error: Set(None),
        }
        .insert(&self.db)
        .await
    }

    /// Starts a run in the background and answers at once with its record.
    pub async fn spawn(self: &Arc<Self>, trigger: Trigger) -> Result<sync_runs::Model, StartError> {
        let run = self.begin(trigger).await?;
        self.execute_in_background(&run);
        Ok(run)
    }

    fn execute_in_background(self: &Arc<Self>, run: &sync_runs::Model) {
        let this = self.clone();
        let begun = run.clone();
        tokio::spawn(async move {
            this.execute(&begun).await;
        });
    }

    /// Runs to the end in this task (CLI, schedule). Returns the finished record.
    pub async fn run_now(&self, trigger: Trigger) -> Result<sync_runs::Model, StartError> {
        let run = self.begin(trigger).await?;
        Ok(self.execute(&run).await)
    }

    /// A scheduled firing. Every instance fires; the lease picks one, and a run already recorded for this
    /// firing (by a quicker instance) makes the others stand down.
    pub async fn run_scheduled(&self, tick: DateTime<Utc>) {
        match self.take_lease().await {
            Ok(Some(_)) => {}
            Ok(None) => {
                tracing::info!("scheduled sync skipped: another instance is syncing");
                return;
            }
            Err(err) => {
                tracing::error!(error = %err, "scheduled sync skipped: cannot take the lease");
                return;
            }
        }
        let done_already = sync_runs::Entity::find()
            .filter(sync_runs::Column::ScheduledFor.eq(tick))
            .one(&self.db)
            .await;
        if !matches!(done_already, Ok(None)) {
            tracing::info!("scheduled sync skipped: another instance ran this firing");
            self.release_lease().await;
            return;
        }
        if self.directory().is_err() {
            self.release_lease().await;
            return;
        }
        // The unique `scheduled_for` is the last word should two instances get this far for one firing.
        match self.record_start(Trigger::Schedule, Some(tick)).await {
            Ok(run) => {
                self.execute(&run).await;
            }
            Err(err) => {
                tracing::error!(error = %err, "scheduled sync could not start");
                self.release_lease().await;
            }
        }
    }

    /// Recent runs, newest first.
    pub async fn runs(
        &self,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<sync_runs::Model>, u64), DbErr> {
        use sea_orm::PaginatorTrait;
        let pages = sync_runs::Entity::find()
            .order_by_desc(sync_runs::Column::StartedAt)
            .paginate(&self.db, per_page);
        let total = pages.num_items().await?;
        Ok((pages.fetch_page(page - 1).await?, total))
    }

    pub async fn run(&self, id: Uuid) -> Result<Option<sync_runs::Model>, DbErr> {
        sync_runs::Entity::find_by_id(id).one(&self.db).await
    }

    /// The schedule as configured (validated at start-up).
    pub fn schedule(&self) -> Option<schedule::Schedule> {
        schedule::parse_cron(&self.settings.schedule)
            .ok()
            .map(|cron| schedule::Schedule {
                cron,
                tz: self.settings.timezone,
            })
    }
}
