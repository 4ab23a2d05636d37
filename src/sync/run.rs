//! A run: reads the directory page by page while the local users are brought in line, then deactivates those
//! the complete listing left out, and records how the run ended.

use std::{
    collections::{BTreeSet, HashMap},
    time::{Duration, Instant},
};

use chrono::Utc;
use entity::sync_runs;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DbErr};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{
    Syncer,
    deactivate::Actor,
    directory::{self, AbortOnDrop, DirectoryError},
    local::LocalIndex,
    target::Directory,
};

/// How often a run's progress is written (and its lease renewed).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// While the run waits for the provider, the lease is renewed this often, or at a third of a shorter lease
/// (progress renews it while pages come in).
const RENEW_WHILE_WAITING: Duration = Duration::from_secs(10);
/// How far the listing may run ahead of the database, in users (about 350 bytes each, allocations included):
/// the provider lists while the local users are read at the start of a run, and a slow database holds at most
/// this much of the directory in memory. Reading a million local users takes 1.5–2.5 s on PostgreSQL, during
/// which the listing fills any such buffer: 100 000 users ahead were a third of such a run's peak memory (108 MB),
/// for 0.3 s more of listing ahead.
const PREFETCH_USERS: usize = 50_000;

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
    /// Users whose provider-mapped grants changed.
    remapped: i64,
}

impl Syncer {
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
                remapped = counts.remapped,
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
        let mapped = self
            .mapped_roles()
            .await
            .map_err(|e| format!("database: {e}"))?;
        let directory = self
            .directory()
            .map_err(|e| e.to_string())?
            .with_groups(!mapped.is_empty());
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
        let mut listed_groups: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut last_progress = Instant::now();
        let working = Instant::now();
        let mut local = LocalIndex::load(&self.db, &issuer, run.started_at)
            .await
            .map_err(db_error)?;
        counts.database_time += working.elapsed();
        loop {
            // A slow provider (a page may take up to `directory::DEADLINE`) must not let the lease run out.
            let renew = RENEW_WHILE_WAITING.min(self.settings.lease_ttl / 3);
            let Ok(listed) = tokio::time::timeout(renew, pages.recv()).await else {
                self.keep_lease().await?;
                continue;
            };
            let Some(Listed { page, waited }) = listed else {
                return Err(format!("{name} admin API: the listing stopped"));
            };
            counts.provider_time += waited;
            let page = page.map_err(|e| format!("{name} admin API: {e}"))?;
            let Some(mut page) = page else { break };
            for (subject, groups) in std::mem::take(&mut page.groups) {
                listed_groups.insert(subject, groups.into_iter().collect());
            }
            // Pages of service accounts only (Keycloak lists them apart) are not pages of users.
            if !page.users.is_empty() {
                counts.pages += 1;
            }
            counts.seen += page.users.len() as i64;
            let pks = provider_pks(&page);
            let wanted = local.take(page);
            let working = Instant::now();
            let applied = self.apply_page(&issuer, wanted).await.map_err(db_error)?;
            self.store_provider_pks(&issuer, &pks)
                .await
                .map_err(db_error)?;
            // Audited per page: a page's reactivations are committed even if the run fails later.
            let why = "enabled again at the provider";
            self.audit_status(&applied.reactivated, true, Actor::Run(run_id), why)
                .await;
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
        let deactivated = self.deactivate(&gone).await.map_err(db_error)?;
        counts.deactivated = deactivated.len() as i64;
        counts.remapped = self
            .remap(run_id, (&issuer, &directory), &mapped, listed_groups)
            .await?;
        counts.database_time += working.elapsed();
        let why = "disabled or removed at the provider";
        self.audit_status(&deactivated, false, Actor::Run(run_id), why)
            .await;
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
}

/// The provider's own keys of a page's users (Authentik's `pk`), by subject.
fn provider_pks(page: &directory::Page) -> Vec<(String, String)> {
    page.users
        .iter()
        .filter_map(|u| Some((u.subject.clone(), u.provider_pk.clone()?)))
        .collect()
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
