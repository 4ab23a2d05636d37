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
    directory::{self, AbortOnDrop, DirectoryError, Page},
    local::{Hashing, LocalIndex},
    stash::Stash,
    target::Directory,
};

/// How often a run's progress is written (and its lease renewed).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// While the run waits for the provider, the lease is renewed this often, or at a third of a shorter lease
/// (progress renews it while pages come in).
const RENEW_WHILE_WAITING: Duration = Duration::from_secs(10);
/// How far the listing may run ahead of the database's writes, in users (about 350 bytes each, allocations
/// included): a slow database (a first run writes every user) holds at most this much of the directory in
/// memory. While the local users are read, pages do not wait here: they are kept as digests (`stash`).
const PREFETCH_USERS: usize = 50_000;

/// What the pages committed so far leave for the end of the run, and when its progress was last written.
#[derive(Debug)]
pub(super) struct Tally {
    /// Listed as disabled: deactivated once the listing is complete.
    disabled: Vec<Uuid>,
    last_progress: Instant,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            disabled: Vec::new(),
            last_progress: Instant::now(),
        }
    }
}

/// What a finished run did.
#[derive(Debug, Clone, Default)]
pub(super) struct Counts {
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
        let mut listed_groups: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut tally = Tally::default();
        let hashing = Hashing::default();
        // Until the local users are read, pages are kept as digests, so that the listing need not wait for
        // the read (at a million users, 8–12 s on SQLite), nor fill memory with whole pages meanwhile.
        let mut stash = Stash::default();
        let mut listing_ended = false;
        let working = Instant::now();
        let mut load =
            LocalIndex::load_beside_listing(&self.db, &issuer, run.started_at, hashing.clone());
        let mut local = loop {
            tokio::select! {
                biased;
                local = &mut load => break local.map_err(db_error)?,
                listed = pages.recv(), if !listing_ended => {
                    let Some(mut page) = unpack(listed, counts, name)? else {
                        listing_ended = true;
                        continue;
                    };
                    count_page(&mut page, counts, &mut listed_groups);
                    stash.add(&page, &hashing);
                    self.store_provider_pks(&issuer, &provider_pks(&page))
                        .await
                        .map_err(db_error)?;
                }
            }
        };
        let early = stash.len();
        let pending = local.settle(stash);
        counts.database_time += working.elapsed();
        tracing::info!(run = %run_id, listed = early, to_list_again = pending.len(),
            "users listed while the local users were read");
        while !listing_ended {
            match self.next_page(&mut pages, counts, name).await? {
                Some(mut page) => {
                    count_page(&mut page, counts, &mut listed_groups);
                    self.commit_page(run_id, &issuer, &mut local, page, counts, &mut tally)
                        .await?;
                }
                None => listing_ended = true,
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
        if !pending.is_empty() {
            self.list_again(run_id, &issuer, &mut local, pending, counts, &mut tally)
                .await?;
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
        gone.extend(tally.disabled);
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

    /// The next page of the listing, `None` after the last. Renews the lease while a slow provider (a page may
    /// take up to `directory::DEADLINE`) keeps the run waiting.
    pub(super) async fn next_page(
        &self,
        pages: &mut mpsc::Receiver<Listed>,
        counts: &mut Counts,
        name: &str,
    ) -> Result<Option<Page>, String> {
        loop {
            let renew = RENEW_WHILE_WAITING.min(self.settings.lease_ttl / 3);
            match tokio::time::timeout(renew, pages.recv()).await {
                Ok(listed) => return unpack(listed, counts, name),
                Err(_) => self.keep_lease().await?,
            }
        }
    }

    /// Brings a page's users in line, and once a second writes the run's progress.
    pub(super) async fn commit_page(
        &self,
        run_id: Uuid,
        issuer: &str,
        local: &mut LocalIndex,
        page: Page,
        counts: &mut Counts,
        tally: &mut Tally,
    ) -> Result<(), String> {
        let db_error = |e: DbErr| format!("database: {e}");
        let pks = provider_pks(&page);
        let wanted = local.take(page);
        let working = Instant::now();
        let applied = self.apply_page(issuer, wanted).await.map_err(db_error)?;
        self.store_provider_pks(issuer, &pks)
            .await
            .map_err(db_error)?;
        // Audited per page: a page's reactivations are committed even if the run fails later.
        let why = "enabled again at the provider";
        self.audit_status(&applied.reactivated, true, Actor::Run(run_id), why)
            .await;
        counts.database_time += working.elapsed();
        counts.updated += applied.updated;
        counts.created += applied.created;
        tally.disabled.extend(applied.disabled);
        tracing::info!(run = %run_id, page = counts.pages, seen = counts.seen, updated = counts.updated,
            created = counts.created, "sync page committed");
        // The run's counters and the lease are refreshed once a second, not once a page.
        if tally.last_progress.elapsed() >= PROGRESS_EVERY {
            let working = Instant::now();
            self.progress(run_id, counts).await?;
            counts.database_time += working.elapsed();
            tally.last_progress = Instant::now();
        }
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

/// A page as the lister handed it over: `None` after the last page.
pub(super) fn unpack(
    listed: Option<Listed>,
    counts: &mut Counts,
    name: &str,
) -> Result<Option<Page>, String> {
    let Some(Listed { page, waited }) = listed else {
        return Err(format!("{name} admin API: the listing stopped"));
    };
    counts.provider_time += waited;
    page.map_err(|e| format!("{name} admin API: {e}"))
}

/// Counts a page of the first listing and keeps its users' groups.
fn count_page(
    page: &mut Page,
    counts: &mut Counts,
    listed_groups: &mut HashMap<String, BTreeSet<String>>,
) {
    for (subject, groups) in std::mem::take(&mut page.groups) {
        listed_groups.insert(subject, groups.into_iter().collect());
    }
    // Pages of service accounts only (Keycloak lists them apart) are not pages of users.
    if !page.users.is_empty() {
        counts.pages += 1;
    }
    counts.seen += page.users.len() as i64;
}

/// A page as the lister read it, and how long the provider took.
pub(super) struct Listed {
    page: Result<Option<directory::Page>, DirectoryError>,
    waited: Duration,
}

/// Reads the directory to its end (or first error) into `pages`, and hands the pager back for its count.
/// Stops early when the run stops reading.
pub(super) async fn list(mut directory: Directory, pages: mpsc::Sender<Listed>) -> Directory {
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
