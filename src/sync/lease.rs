//! The lease: one run at a time across all instances, held by a row that the running instance renews and that
//! another may take over once it expires.

use chrono::Utc;
use entity::{job_leases, sync_runs};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};

use super::Syncer;

const LEASE: &str = "user-sync";

impl Syncer {
    /// `KEYWARD_SYNC_LEASE_TTL`: a lease not renewed for this long belongs to an instance that died.
    fn lease_ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.lease_ttl).unwrap_or(chrono::Duration::seconds(60))
    }

    /// Renews the lease, and fails the run if another instance holds it now: that one may be syncing too.
    pub(super) async fn keep_lease(&self) -> Result<(), String> {
        match self.renew_lease().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(
                "lost the sync lease (not renewed in time; another instance may have taken over)"
                    .into(),
            ),
            Err(e) => Err(format!("database: {e}")),
        }
    }

    /// Takes the lease if it is free (`None` if not), and closes the runs of whoever held it before: how many.
    pub(super) async fn take_lease(&self) -> Result<Option<u64>, DbErr> {
        if !self.acquire_lease().await? {
            return Ok(None);
        }
        match self.abandon_runs().await {
            Ok(abandoned) => Ok(Some(abandoned)),
            Err(err) => {
                self.release_lease().await;
                Err(err)
            }
        }
    }

    /// With the lease in hand, any earlier holder is dead or gone: its runs would stay `running` for ever.
    async fn abandon_runs(&self) -> Result<u64, DbErr> {
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
        Ok(n)
    }

    async fn acquire_lease(&self) -> Result<bool, DbErr> {
        self.claim_lease(LEASE, self.lease_ttl(), false).await
    }

    /// Takes the lease `name` for `ttl` when nobody holds it or its holder stopped renewing it; with
    /// `renew_own`, also when this instance holds it already (a holder that keeps taking its own lease).
    pub(super) async fn claim_lease(
        &self,
        name: &str,
        ttl: chrono::Duration,
        renew_own: bool,
    ) -> Result<bool, DbErr> {
        let now = Utc::now();
        let inserted = job_leases::Entity::insert(job_leases::ActiveModel {
            name: Set(name.into()),
            holder: Set(self.holder.clone()),
            expires_at: Set(now + ttl),
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
        let mut free = Condition::any().add(job_leases::Column::ExpiresAt.lt(now));
        if renew_own {
            free = free.add(job_leases::Column::Holder.eq(self.holder.clone()));
        }
        let taken = job_leases::Entity::update_many()
            .col_expr(job_leases::Column::Holder, Expr::value(self.holder.clone()))
            .col_expr(job_leases::Column::ExpiresAt, Expr::value(now + ttl))
            .filter(job_leases::Column::Name.eq(name))
            .filter(free)
            .exec(&self.db)
            .await?;
        Ok(taken.rows_affected == 1)
    }

    /// `false` when the lease is no longer this instance's.
    async fn renew_lease(&self) -> Result<bool, DbErr> {
        job_leases::Entity::update_many()
            .col_expr(
                job_leases::Column::ExpiresAt,
                Expr::value(Utc::now() + self.lease_ttl()),
            )
            .filter(job_leases::Column::Name.eq(LEASE))
            .filter(job_leases::Column::Holder.eq(self.holder.clone()))
            .exec(&self.db)
            .await
            .map(|r| r.rows_affected == 1)
    }

    pub(super) async fn release_lease(&self) {
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

    /// At shutdown: frees every lease this instance holds (the sync's and the event poller's), so that another
    /// instance takes over a run it leaves behind, or the polling, within a tick instead of after the lease.
    pub async fn release_leases(&self) {
        let released = job_leases::Entity::update_many()
            .col_expr(
                job_leases::Column::ExpiresAt,
                Expr::value(Utc::now() - chrono::Duration::seconds(1)),
            )
            .filter(job_leases::Column::Holder.eq(self.holder.clone()))
            .exec(&self.db)
            .await;
        if let Err(err) = released {
            tracing::warn!(error = %err, "could not release the leases at shutdown; they expire by themselves");
        }
    }
}
