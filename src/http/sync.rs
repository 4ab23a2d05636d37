//! `/api/v1/sync/*`: start a user sync, follow runs, see the schedule.

use chrono::{DateTime, Utc};
use entity::sync_runs;
use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    error::ApiError,
    http::{
        ApiTags,
        admin_types::{example_id, example_time, list_type},
        authn::Authenticated,
        client_ip::origin_of,
        pagination,
    },
    state::AppState,
    sync::{StartError, Trigger},
};

pub struct SyncApi;

/// What started a sync run.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum SyncRunTrigger {
    Schedule,
    Manual,
    Startup,
    Takeover,
}

/// Where a sync run stands.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum SyncRunStatus {
    Running,
    Succeeded,
    Failed,
}

/// One run of the user sync, with its progress so far.
#[derive(Object, Debug)]
#[oai(example)]
pub struct SyncRun {
    /// Keyward's id for the run.
    pub id: Uuid,
    /// What started the run.
    pub trigger: SyncRunTrigger,
    /// For scheduled runs: the firing the run belongs to; null for other runs.
    #[oai(nullable)]
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Where the run stands.
    pub status: SyncRunStatus,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When the run ended; null while it is running.
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Pages read from the provider so far.
    pub pages: i64,
    /// Users listed by the provider so far.
    pub seen: i64,
    /// Users whose metadata changed (or who came back).
    pub updated: i64,
    /// Users made inactive (disabled at or gone from the provider): only after a complete listing.
    pub deactivated: i64,
    /// Users created (with `KEYWARD_SYNC_CREATE_USERS=true`).
    pub created: i64,
    /// Why the run failed; null unless it did.
    #[oai(nullable)]
    pub error: Option<String>,
}

impl Example for SyncRun {
    fn example() -> Self {
        Self {
            id: example_id(5),
            trigger: SyncRunTrigger::Manual,
            scheduled_for: None,
            status: SyncRunStatus::Succeeded,
            started_at: example_time(),
            finished_at: Some(example_time() + chrono::Duration::seconds(2)),
            pages: 3,
            seen: 1200,
            updated: 4,
            deactivated: 1,
            created: 0,
            error: None,
        }
    }
}

impl From<sync_runs::Model> for SyncRun {
    fn from(r: sync_runs::Model) -> Self {
        Self {
            id: r.id,
            // `sync/` writes only these values.
            trigger: match r.trigger.as_str() {
                "schedule" => SyncRunTrigger::Schedule,
                "startup" => SyncRunTrigger::Startup,
                "takeover" => SyncRunTrigger::Takeover,
                _ => SyncRunTrigger::Manual,
            },
            scheduled_for: r.scheduled_for,
            status: match r.status.as_str() {
                "running" => SyncRunStatus::Running,
                "succeeded" => SyncRunStatus::Succeeded,
                _ => SyncRunStatus::Failed,
            },
            started_at: r.started_at,
            finished_at: r.finished_at,
            pages: r.pages,
            seen: r.seen,
            updated: r.updated,
            deactivated: r.deactivated,
            created: r.created,
            error: r.error,
        }
    }
}

list_type!(SyncRunList, SyncRun, "A page of sync runs, newest first.");

/// The sync schedule and what it runs against.
#[derive(Object, Debug)]
#[oai(example)]
pub struct SyncSchedule {
    /// Whether the schedule runs (`KEYWARD_SYNC_ENABLED`); manual runs work either way.
    pub enabled: bool,
    /// 6-field cron expression with seconds.
    pub cron: String,
    /// IANA time zone the expression is read in.
    pub timezone: String,
    /// The next scheduled run; null when the schedule is off or there is no directory provider.
    #[oai(nullable)]
    pub next_run_at: Option<DateTime<Utc>>,
    /// `keycloak` or `authentik`; null for a generic provider or without login settings.
    #[oai(nullable)]
    pub provider: Option<String>,
    /// Seconds between reads of the provider's event log (`KEYWARD_SYNC_EVENTS_INTERVAL`); null when off.
    #[oai(nullable)]
    pub events_interval_seconds: Option<u64>,
    /// Why the provider's events are not read now (Keycloak: the realm saves no admin events), so that only
    /// the schedule applies changes at the provider; null when they are read or off.
    #[oai(nullable)]
    pub events_warning: Option<String>,
}

impl Example for SyncSchedule {
    fn example() -> Self {
        Self {
            enabled: true,
            cron: "0 0 3 * * *".into(),
            timezone: "Europe/Berlin".into(),
            next_run_at: Some(example_time()),
            provider: Some("keycloak".into()),
            events_interval_seconds: Some(60),
            events_warning: None,
        }
    }
}

#[derive(ApiResponse)]
pub enum RunStarted {
    /// The run has started; follow it at `Location`.
    #[oai(status = 202)]
    Accepted(
        Json<SyncRun>,
        /// The run's URL, to follow it.
        #[oai(header = "Location")]
        String,
    ),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Sync")]
impl SyncApi {
    /// Starts a user sync now. 409 when one is already running (on any instance) or there is no directory
    /// provider. Needs `sync:run`.
    #[oai(path = "/sync/runs", method = "post", operation_id = "startSyncRun")]
    async fn start(
        &self,
        app: Data<&AppState>,
        req: &Request,
        auth: Authenticated,
    ) -> Result<RunStarted, ApiError> {
        let actor = auth.require("sync:run")?;
        let run = app.sync.spawn(Trigger::Manual).await.map_err(|e| match e {
            StartError::NoDirectory(why) => ApiError::conflict(why),
            StartError::AlreadyRunning => {
                ApiError::conflict("a sync is already running; follow it at GET /api/v1/sync/runs")
            }
            StartError::Db(e) => e.into(),
        })?;
        audit::record(
            &app.db,
            &origin_of(req),
            Event::success("sync.started", Some(actor.user.id)).target(run.id.to_string()),
        )
        .await;
        let location = format!("/api/v1/sync/runs/{}", run.id);
        Ok(RunStarted::Accepted(Json(run.into()), location))
    }

    /// Sync runs, newest first. Needs `sync:read`.
    #[oai(path = "/sync/runs", method = "get", operation_id = "listSyncRuns")]
    async fn list(
        &self,
        app: Data<&AppState>,
        auth: Authenticated,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] per_page: Query<
            Option<u64>,
        >,
    ) -> Result<Json<SyncRunList>, ApiError> {
        auth.require("sync:read")?;
        let (page, per_page) = pagination::page(page.0, per_page.0);
        let (items, total) = app.sync.runs(page, per_page).await?;
        Ok(Json(SyncRunList {
            items: items.into_iter().map(SyncRun::from).collect(),
            total,
            page,
            per_page,
        }))
    }

    /// One sync run. Needs `sync:read`.
    #[oai(path = "/sync/runs/:id", method = "get", operation_id = "getSyncRun")]
    async fn get(
        &self,
        app: Data<&AppState>,
        auth: Authenticated,
        id: Path<Uuid>,
    ) -> Result<Json<SyncRun>, ApiError> {
        auth.require("sync:read")?;
        let run = app
            .sync
            .run(id.0)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no sync run with id {}", id.0)))?;
        Ok(Json(run.into()))
    }

    /// The sync schedule and when it next runs. Needs `sync:read`.
    #[oai(
        path = "/sync/schedule",
        method = "get",
        operation_id = "getSyncSchedule"
    )]
    async fn schedule(
        &self,
        app: Data<&AppState>,
        auth: Authenticated,
    ) -> Result<Json<SyncSchedule>, ApiError> {
        auth.require("sync:read")?;
        let s = app.sync.settings();
        let provider = app.sync.provider().ok();
        let next_run_at = match (s.enabled, provider) {
            (true, Some(_)) => app.sync.schedule().and_then(|p| p.next_after(Utc::now())),
            _ => None,
        };
        Ok(Json(SyncSchedule {
            enabled: s.enabled,
            cron: s.schedule.clone(),
            timezone: s.timezone.name().to_owned(),
            next_run_at,
            provider: provider.map(str::to_owned),
            events_interval_seconds: s.events_interval.map(|d| d.as_secs()),
            events_warning: app.sync.events_warning().await?,
        }))
    }
}
