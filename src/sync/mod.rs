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

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use entity::{job_leases, sessions, sync_runs, users};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{
    config::{Config, OidcSettings, ProviderKind, SyncSettings},
    metrics::Metrics,
    rbac::cache::AccessCache,
    users::BY_PROVIDER,
};
use authentik::AuthentikDirectory;
use directory::{AbortOnDrop, DirectoryError, DirectoryProvider};
use keycloak::KeycloakDirectory;
use local::{Candidates, LocalIndex};
use reconcile::Change;

const LEASE: &str = "user-sync";
/// A lease not renewed for this long belongs to an instance that died; another may take over.
const LEASE_TTL: chrono::Duration = chrono::Duration::seconds(60);
/// How often a run's progress is written (and its lease renewed).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// While the run waits for the provider, the lease is renewed this often (progress renews it while pages
/// come in).
const RENEW_WHILE_WAITING: Duration = Duration::from_secs(10);
/// How far the listing may run ahead of the database, in users (about 250 bytes each): enough for the
/// provider to list while the local users are read at the start of a run, bounded so that a slow database
/// does not hold a large directory in memory.
const PREFETCH_USERS: usize = 100_000;
/// Rows per multi-row insert: SQLite caps bound parameters per statement, and 14 columns × 60 rows stays well
/// below it.
const ROWS_PER_STATEMENT: usize = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Manual,
    Startup,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
            Self::Startup => "startup",
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

/// Where the directory lives and how to log in to it.
#[derive(Debug, Clone)]
enum Target {
    Keycloak {
        base: String,
        realm: String,
        client_id: String,
        client_secret: String,
    },
    Authentik {
        base: String,
        token: String,
    },
    Unavailable(String),
}

fn target(oidc: &Result<OidcSettings, String>, sync: &SyncSettings) -> Target {
    let Ok(oidc) = oidc else {
        return Target::Unavailable("no directory provider: login is not configured".into());
    };
    let issuer = oidc.issuer.trim_end_matches('/');
    match oidc.provider {
        ProviderKind::Keycloak => {
            let Some((server, realm)) = issuer.rsplit_once("/realms/") else {
                return Target::Unavailable(format!(
                    "no directory provider: cannot find the realm in {issuer}"
                ));
            };
            // The configuration has both admin settings or neither.
            let (client_id, client_secret) = match &sync.admin_client_id {
                Some(id) => (id.clone(), sync.admin_client_secret.clone()),
                None => (oidc.client_id.clone(), oidc.client_secret.clone()),
            };
            let Some(client_secret) = client_secret else {
                return Target::Unavailable(
                    "no directory provider: set KEYWARD_IDP_ADMIN_CLIENT_ID and KEYWARD_IDP_ADMIN_CLIENT_SECRET (or KEYWARD_OIDC_CLIENT_SECRET)".into(),
                );
            };
            Target::Keycloak {
                base: sync
                    .admin_url
                    .as_ref()
                    .map(|u| u.as_str().trim_end_matches('/').to_owned())
                    .unwrap_or_else(|| server.to_owned()),
                realm: realm.to_owned(),
                client_id,
                client_secret,
            }
        }
        ProviderKind::Authentik => {
            let Some(token) = sync.admin_token.clone() else {
                return Target::Unavailable(
                    "no directory provider: set KEYWARD_IDP_ADMIN_TOKEN for Authentik's API".into(),
                );
            };
            let server = issuer.split("/application/o/").next().unwrap_or(issuer);
            Target::Authentik {
                base: sync
                    .admin_url
                    .as_ref()
                    .map(|u| u.as_str().trim_end_matches('/').to_owned())
                    .unwrap_or_else(|| server.to_owned()),
                token,
            }
        }
        ProviderKind::Generic => Target::Unavailable(
            "no directory provider: a generic OpenID provider has no admin API to sync from".into(),
        ),
    }
}

/// A directory pager of either kind.
enum Directory {
    Keycloak(KeycloakDirectory),
    Authentik(AuthentikDirectory),
}

impl Directory {
    async fn next_page(&mut self) -> Result<Option<directory::Page>, DirectoryError> {
        match self {
            Self::Keycloak(d) => d.next_page().await,
            Self::Authentik(d) => d.next_page().await,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Keycloak(d) => d.name(),
            Self::Authentik(d) => d.name(),
        }
    }

    fn expected(&self) -> Option<u64> {
        match self {
            Self::Keycloak(d) => d.expected(),
            Self::Authentik(d) => d.expected(),
        }
    }
}

pub struct Syncer {
    db: DatabaseConnection,
    issuer: Option<String>,
    target: Target,
    settings: SyncSettings,
    metrics: Arc<Metrics>,
    access: Arc<AccessCache>,
    http: reqwest::Client,
    /// Names this process in the lease row.
    holder: String,
}

/// What a finished run did.
#[derive(Debug, Clone, Default)]
struct Counts {
    /// Time the provider took to list, and time in the database: where a run's time goes. They overlap (the
    /// provider lists while the database works), so a run takes about the larger of the two.
    provider_time: Duration,
    database_time: Duration,
    pages: i64,
    seen: i64,
    updated: i64,
    deactivated: i64,
    created: i64,
}

impl Syncer {
    pub fn new(
        config: &Config,
        db: DatabaseConnection,
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

    fn directory(&self) -> Result<Directory, StartError> {
        let (size, concurrency) = (self.settings.page_size, self.settings.concurrency);
        match &self.target {
            Target::Keycloak {
                base,
                realm,
                client_id,
                client_secret,
            } => Ok(Directory::Keycloak(KeycloakDirectory::new(
                self.http.clone(),
                base,
                realm,
                client_id.clone(),
                client_secret.clone(),
                size,
                concurrency,
            ))),
            Target::Authentik { base, token } => Ok(Directory::Authentik(AuthentikDirectory::new(
                self.http.clone(),
                base,
                token.clone(),
                size,
                concurrency,
            ))),
            Target::Unavailable(why) => Err(StartError::NoDirectory(why.clone())),
        }
    }

    /// Takes the lease and records a new run; the caller then calls [`Syncer::execute`].
    pub async fn begin(&self, trigger: Trigger) -> Result<sync_runs::Model, StartError> {
        self.directory()?;
        if !self.take_lease().await? {
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
        let this = self.clone();
        let begun = run.clone();
        tokio::spawn(async move {
            this.execute(&begun).await;
        });
        Ok(run)
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
            Ok(true) => {}
            Ok(false) => {
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

    /// Does the work of a begun run, records how it ended, and gives the lease back.
    pub async fn execute(&self, run: &sync_runs::Model) -> sync_runs::Model {
        let run_id = run.id;
        let started = Instant::now();
        let mut counts = Counts::default();
        let mut outcome = self.sync(run, &mut counts).await;
        // Cached principals hold user rows: any committed change, even in a run that failed later, makes
        // them stale (a reactivated user would stay locked out, /me would show old metadata).
        if counts.updated + counts.created + counts.deactivated > 0
            && let Err(err) = self.access.changed(&self.db).await
        {
            tracing::error!(error = %err, "could not invalidate cached access after the sync");
            if outcome.is_ok() {
                outcome = Err(format!(
                    "database: cached access could not be invalidated: {err}"
                ));
            }
        }
        let (status, error) = match &outcome {
            Ok(()) => ("succeeded", None),
            Err(e) => ("failed", Some(e.clone())),
        };
        let m = &self.metrics;
        m.sync_runs.with_label_values(&[status]).inc();
        m.sync_duration.observe(started.elapsed().as_secs_f64());
        for (kind, n) in [
            ("seen", counts.seen),
            ("updated", counts.updated),
            ("deactivated", counts.deactivated),
            ("created", counts.created),
        ] {
            m.sync_users
                .with_label_values(&[kind])
                .inc_by(n.max(0) as u64);
        }
        let finished = sync_runs::ActiveModel {
            id: Set(run_id),
            finished_at: Set(Some(Utc::now())),
            status: Set(status.into()),
            pages: Set(counts.pages),
            seen: Set(counts.seen),
            updated: Set(counts.updated),
            deactivated: Set(counts.deactivated),
            created: Set(counts.created),
            error: Set(error.clone()),
            ..Default::default()
        }
        .update(&self.db)
        .await;
        self.release_lease().await;
        match &error {
            None => tracing::info!(
                pages = counts.pages,
                seen = counts.seen,
                updated = counts.updated,
                deactivated = counts.deactivated,
                created = counts.created,
                seconds = started.elapsed().as_secs_f64(),
                provider_seconds = counts.provider_time.as_secs_f64(),
                database_seconds = counts.database_time.as_secs_f64(),
                "user sync succeeded"
            ),
            Some(e) => tracing::error!(
                error = %e,
                pages = counts.pages,
                updated = counts.updated,
                deactivated = counts.deactivated,
                created = counts.created,
                "user sync failed"
            ),
        }
        match finished {
            Ok(run) => run,
            Err(err) => {
                tracing::error!(error = %err, "could not record the end of the sync run");
                sync_runs::Model {
                    id: run_id,
                    trigger: String::new(),
                    scheduled_for: None,
                    started_at: Utc::now(),
                    finished_at: Some(Utc::now()),
                    status: "failed".into(),
                    pages: counts.pages,
                    seen: counts.seen,
                    updated: counts.updated,
                    deactivated: counts.deactivated,
                    created: counts.created,
                    error: Some(err.to_string()),
                }
            }
        }
    }

    async fn sync(&self, run: &sync_runs::Model, counts: &mut Counts) -> Result<(), String> {
        let run_id = run.id;
        let directory = self.directory().map_err(|e| e.to_string())?;
        let issuer = self.issuer.clone().ok_or("login is not configured")?;
        let name = directory.name();
        let db_error = |e: DbErr| format!("database: {e}");
        // The provider lists while the database reads the local users and writes pages: a run takes about as
        // long as the slower of the two rather than both added up.
        let ahead = (PREFETCH_USERS / self.settings.page_size.max(1) as usize).max(1);
        let (pages_tx, mut pages) = mpsc::channel(ahead);
        // A run that fails stops its listing too.
        let mut lister = AbortOnDrop::spawn(list(directory, pages_tx));
        let mut disabled: Vec<Uuid> = Vec::new();
        let mut last_progress = Instant::now();
        let working = Instant::now();
        let mut local = LocalIndex::load(&self.db, &issuer, run.started_at)
            .await
            .map_err(db_error)?;
        counts.database_time += working.elapsed();
        loop {
            // A slow provider (a page may take up to `directory::DEADLINE`) must not let the lease run out.
            let Ok(listed) = tokio::time::timeout(RENEW_WHILE_WAITING, pages.recv()).await else {
                self.keep_lease().await?;
                continue;
            };
            let Some(Listed { page, waited }) = listed else {
                return Err(format!("{name} admin API: the listing stopped"));
            };
            counts.provider_time += waited;
            let page = page.map_err(|e| format!("{name} admin API: {e}"))?;
            let Some(page) = page else { break };
            // Pages of service accounts only (Keycloak lists them apart) are not pages of users.
            if !page.users.is_empty() {
                counts.pages += 1;
            }
            counts.seen += page.users.len() as i64;
            let wanted = local.take(page);
            let working = Instant::now();
            let applied = self.apply_page(&issuer, wanted).await.map_err(db_error)?;
            counts.database_time += working.elapsed();
            counts.updated += applied.updated;
            counts.created += applied.created;
            disabled.extend(applied.disabled);
            tracing::info!(run = %run_id, page = counts.pages, seen = counts.seen, updated = counts.updated,
                created = counts.created, "sync page committed");
            // The run's counters and the lease are refreshed once a second, not once a page.
            if last_progress.elapsed() >= PROGRESS_EVERY {
                let working = Instant::now();
                self.progress(run_id, counts).await?;
                counts.database_time += working.elapsed();
                last_progress = Instant::now();
            }
        }
        let directory = lister
            .join()
            .await
            .map_err(|e| format!("{name} admin API: the listing stopped: {e}"))?;
        let people = local.people();
        if let Some(expected) = directory.expected()
            && people < expected
        {
            return Err(format!(
                "the provider counted {expected} users but listed {people}; deactivating nobody \
                 (users deleted during the listing do this; the next run completes)"
            ));
        }
        let working = Instant::now();
        // Deactivating while another instance syncs would act on a listing it no longer owns.
        self.keep_lease().await?;
        // The listing is complete: now, and only now, users disabled or gone at the provider go inactive.
        let mut gone = local.missing();
        if !local.listed_any() && !gone.is_empty() {
            return Err(
                "the provider listed no users at all; refusing to deactivate everyone".into(),
            );
        }
        drop(local);
        gone.extend(disabled);
        counts.deactivated = self.deactivate(&gone).await.map_err(db_error)?;
        counts.database_time += working.elapsed();
        Ok(())
    }

    async fn progress(&self, run_id: Uuid, counts: &Counts) -> Result<(), String> {
        sync_runs::ActiveModel {
            id: Set(run_id),
            pages: Set(counts.pages),
            seen: Set(counts.seen),
            updated: Set(counts.updated),
            created: Set(counts.created),
            ..Default::default()
        }
        .update(&self.db)
        .await
        .map_err(|e| format!("database: {e}"))?;
        self.keep_lease().await
    }

    /// Renews the lease, and fails the run if another instance holds it now: that one may be syncing too.
    async fn keep_lease(&self) -> Result<(), String> {
        match self.renew_lease().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(
                "lost the sync lease (not renewed in time; another instance may have taken over)"
                    .into(),
            ),
            Err(e) => Err(format!("database: {e}")),
        }
    }

    /// One page in one transaction. Deactivations are returned, not applied. Reads only the local users
    /// that `wanted` names: those the page may change.
    async fn apply_page(&self, issuer: &str, wanted: Candidates) -> Result<Applied, DbErr> {
        if wanted.users.is_empty() {
            return Ok(Applied::default());
        }
        let local: HashMap<String, reconcile::LocalUser> = if wanted.ids.is_empty() {
            HashMap::new()
        } else {
            users::Entity::find()
                .select_only()
                .columns(reconcile::LocalUser::COLUMNS)
                .filter(users::Column::Id.is_in(wanted.ids))
                .into_model::<reconcile::LocalUser>()
                .all(&self.db)
                .await?
                .into_iter()
                .map(|u| (u.subject.clone(), u))
                .collect()
        };
        let changes = reconcile::reconcile_page(&wanted.users, &local, self.settings.create_users);
        let mut applied = Applied::default();
        if changes.is_empty() {
            return Ok(applied);
        }
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let mut creates = Vec::new();
        let mut updates = Vec::new();
        let subject_of: HashMap<Uuid, &str> =
            local.values().map(|u| (u.id, u.subject.as_str())).collect();
        // A user both updated and reactivated counts once.
        let mut touched: HashSet<Uuid> = HashSet::new();
        for change in changes {
            match change {
                Change::Update { id, profile } => {
                    let Some(subject) = subject_of.get(&id) else {
                        continue;
                    };
                    // A whole row, so that a page of updates goes out as a few upserts on the primary key
                    // (one statement per user made a sync that updates everyone ten times slower).
                    updates.push(users::ActiveModel {
                        id: Set(id),
                        issuer: Set(issuer.to_owned()),
                        subject: Set((*subject).to_owned()),
                        email: Set(profile.email),
                        email_verified: Set(profile.email_verified),
                        display_name: Set(profile.display_name),
                        username: Set(profile.username),
                        avatar_url: Set(profile.avatar_url),
                        active: Set(true),
                        created_at: Set(now),
                        updated_at: Set(now),
                        last_login_at: Set(None),
                        last_synced_at: Set(Some(now)),
                        deactivated_by: Set(None),
                    });
                    touched.insert(id);
                }
                Change::Reactivate { id } => {
                    // Only while the provider's deactivation still holds: an admin who deactivated the user
                    // since the page was read has the last word.
                    let n = users::Entity::update_many()
                        .col_expr(users::Column::Active, Expr::value(true))
                        .col_expr(
                            users::Column::DeactivatedBy,
                            Expr::value(Option::<String>::None),
                        )
                        .col_expr(users::Column::UpdatedAt, Expr::value(now))
                        .filter(users::Column::Id.eq(id))
                        .filter(users::Column::Active.eq(false))
                        .filter(users::Column::DeactivatedBy.eq(BY_PROVIDER))
                        .exec(&txn)
                        .await?
                        .rows_affected;
                    if n > 0 {
                        touched.insert(id);
                    }
                }
                Change::Deactivate { id } => applied.disabled.push(id),
                Change::Create {
                    subject,
                    profile,
                    active,
                } => {
                    creates.push(users::ActiveModel {
                        id: Set(Uuid::now_v7()),
                        issuer: Set(issuer.to_owned()),
                        subject: Set(subject),
                        email: Set(profile.email),
                        email_verified: Set(profile.email_verified),
                        display_name: Set(profile.display_name),
                        username: Set(profile.username),
                        avatar_url: Set(profile.avatar_url),
                        active: Set(active),
                        created_at: Set(now),
                        updated_at: Set(now),
                        last_login_at: Set(None),
                        last_synced_at: Set(Some(now)),
                        deactivated_by: Set((!active).then(|| BY_PROVIDER.to_owned())),
                    });
                }
            }
        }
        // Only the metadata columns change: the rest of each row above exists to satisfy the insert half of
        // the upsert, which never runs, since users are never deleted.
        for chunk in updates.chunks(ROWS_PER_STATEMENT) {
            use users::Column as C;
            users::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::column(C::Id)
                        .update_columns([
                            C::Email,
                            C::EmailVerified,
                            C::DisplayName,
                            C::Username,
                            C::AvatarUrl,
                            C::UpdatedAt,
                            C::LastSyncedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        if !creates.is_empty() {
            for chunk in creates.chunks(ROWS_PER_STATEMENT) {
                applied.created += users::Entity::insert_many(chunk.to_vec())
                    .on_conflict(
                        OnConflict::columns([users::Column::Issuer, users::Column::Subject])
                            .do_nothing()
                            .to_owned(),
                    )
                    .exec_without_returning(&txn)
                    .await? as i64;
            }
        }
        txn.commit().await?;
        applied.updated = touched.len() as i64;
        Ok(applied)
    }

    /// Marks users inactive (by the provider) and ends their sessions. One transaction, so that a failure
    /// deactivates nobody and the count is what committed; the batches only bound a statement's parameters.
    async fn deactivate(&self, ids: &[Uuid]) -> Result<i64, DbErr> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut total = 0;
        let now = Utc::now();
        let txn = self.db.begin().await?;
        for batch in ids.chunks(500) {
            let n = users::Entity::update_many()
                .col_expr(users::Column::Active, Expr::value(false))
                .col_expr(users::Column::DeactivatedBy, Expr::value(BY_PROVIDER))
                .col_expr(users::Column::UpdatedAt, Expr::value(now))
                .filter(users::Column::Id.is_in(batch.to_vec()))
                .filter(users::Column::Active.eq(true))
                .exec(&txn)
                .await?
                .rows_affected;
            sessions::Entity::delete_many()
                .filter(sessions::Column::UserId.is_in(batch.to_vec()))
                .exec(&txn)
                .await?;
            total += n as i64;
        }
        txn.commit().await?;
        Ok(total)
    }

    /// Takes the lease if it is free, and closes the runs of whoever held it before.
    async fn take_lease(&self) -> Result<bool, DbErr> {
        if !self.acquire_lease().await? {
            return Ok(false);
        }
        if let Err(err) = self.abandon_runs().await {
            self.release_lease().await;
            return Err(err);
        }
        Ok(true)
    }

    /// With the lease in hand, any earlier holder is dead or gone: its runs would stay `running` for ever.
    async fn abandon_runs(&self) -> Result<(), DbErr> {
        let n = sync_runs::Entity::update_many()
            .col_expr(sync_runs::Column::Status, Expr::value("failed"))
            .col_expr(sync_runs::Column::FinishedAt, Expr::value(Some(Utc::now())))
            .col_expr(
                sync_runs::Column::Error,
                Expr::value("abandoned: its instance stopped renewing the lease"),
            )
            .filter(sync_runs::Column::Status.eq("running"))
            .exec(&self.db)
            .await?
            .rows_affected;
        if n > 0 {
            tracing::warn!(
                runs = n,
                "sync runs of an instance that stopped renewing the lease marked failed"
            );
        }
        Ok(())
    }

    async fn acquire_lease(&self) -> Result<bool, DbErr> {
        let now = Utc::now();
        let inserted = job_leases::Entity::insert(job_leases::ActiveModel {
            name: Set(LEASE.into()),
            holder: Set(self.holder.clone()),
            expires_at: Set(now + LEASE_TTL),
        })
        .on_conflict(
            OnConflict::column(job_leases::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        if inserted == 1 {
            return Ok(true);
        }
        let taken = job_leases::Entity::update_many()
            .col_expr(job_leases::Column::Holder, Expr::value(self.holder.clone()))
            .col_expr(job_leases::Column::ExpiresAt, Expr::value(now + LEASE_TTL))
            .filter(job_leases::Column::Name.eq(LEASE))
            .filter(job_leases::Column::ExpiresAt.lt(now))
            .exec(&self.db)
            .await?;
        Ok(taken.rows_affected == 1)
    }

    /// `false` when the lease is no longer this instance's.
    async fn renew_lease(&self) -> Result<bool, DbErr> {
        job_leases::Entity::update_many()
            .col_expr(
                job_leases::Column::ExpiresAt,
                Expr::value(Utc::now() + LEASE_TTL),
            )
            .filter(job_leases::Column::Name.eq(LEASE))
            .filter(job_leases::Column::Holder.eq(self.holder.clone()))
            .exec(&self.db)
            .await
            .map(|r| r.rows_affected == 1)
    }

    async fn release_lease(&self) {
        let released = job_leases::Entity::update_many()
            .col_expr(
                job_leases::Column::ExpiresAt,
                Expr::value(Utc::now() - chrono::Duration::seconds(1)),
            )
            .filter(job_leases::Column::Name.eq(LEASE))
            .filter(job_leases::Column::Holder.eq(self.holder.clone()))
            .exec(&self.db)
            .await;
        if let Err(err) = released {
            tracing::warn!(error = %err, "could not release the sync lease; it expires by itself");
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

/// A page as the lister read it, and how long the provider took.
struct Listed {
    page: Result<Option<directory::Page>, DirectoryError>,
    waited: Duration,
}

/// Reads the directory to its end (or first error) into `pages`, and hands the pager back for its count.
/// Stops early when the run stops reading.
async fn list(mut directory: Directory, pages: mpsc::Sender<Listed>) -> Directory {
    loop {
        let started = Instant::now();
        let page = directory.next_page().await;
        let last = !matches!(page, Ok(Some(_)));
        let listed = Listed {
            page,
            waited: started.elapsed(),
        };
        if pages.send(listed).await.is_err() || last {
            return directory;
        }
    }
}

#[derive(Default)]
struct Applied {
    updated: i64,
    created: i64,
    disabled: Vec<Uuid>,
}
