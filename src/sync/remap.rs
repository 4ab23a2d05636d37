//! After a complete listing, provider-mapped roles follow the memberships the provider reports now: Keycloak's
//! members of the mapped groups and holders of the mapped realm roles, Authentik's users' groups from the
//! listing. Only users whose provider grants differ are written, each with `set_provider_roles`'s rules.

use std::collections::{BTreeSet, HashMap};

use entity::{roles, user_roles, users};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionTrait};
use uuid::Uuid;

use super::{Syncer, target::Directory};
use crate::{
    audit::Origin,
    rbac::{
        SOURCE_PROVIDER,
        mapping::{self, MappedBy, MappedRole},
        store,
    },
};

/// Users whose provider grants one transaction sets.
const USERS_PER_COMMIT: usize = 200;

impl Syncer {
    /// The roles mapped from the provider's groups or realm roles.
    pub(super) async fn mapped_roles(&self) -> Result<Vec<MappedRole>, DbErr> {
        Ok(roles::Entity::find()
            .filter(roles::Column::IdpGroup.is_not_null())
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| MappedRole {
                id: r.id,
                name: r.name,
                idp_group: r.idp_group,
            })
            .collect())
    }

    /// Sets the provider grants of every local user of this provider to the mapped roles their memberships
    /// give, and returns how many users changed. `at_start` is the mapping the listing was read for;
    /// `listed` the groups the listing carried. A membership read that fails changes no grant.
    pub(super) async fn remap(
        &self,
        run_id: Uuid,
        (issuer, directory): (&str, &Directory),
        at_start: &[MappedRole],
        listed: HashMap<String, BTreeSet<String>>,
    ) -> Result<i64, String> {
        let db_error = |e: DbErr| format!("database: {e}");
        let mapped = self.mapped_roles().await.map_err(db_error)?;
        let names: BTreeSet<String> = mapped.iter().filter_map(|r| r.idp_group.clone()).collect();
        let names_at_start: BTreeSet<String> = at_start
            .iter()
            .filter_map(|r| r.idp_group.clone())
            .collect();
        if names != names_at_start {
            // Authentik's listing carried the groups of the mapping as it was; the next run applies the new one.
            tracing::info!(
                "roles were mapped anew during the sync; mapped grants follow at the next run"
            );
            return Ok(0);
        }
        let members = match directory {
            Directory::Keycloak(d) if !names.is_empty() => d
                .memberships()
                .read(&names)
                .await
                .map_err(|e| format!("keycloak admin API: {e}; no mapped grant changed"))?,
            Directory::Keycloak(_) => HashMap::new(),
            Directory::Authentik(_) => listed,
        };
        // Reading memberships of large groups takes a while: this instance must still own the run.
        self.keep_lease().await?;
        let mut current: HashMap<Uuid, BTreeSet<Uuid>> = HashMap::new();
        let grants: Vec<(Uuid, Uuid)> = user_roles::Entity::find()
            .select_only()
            .column(user_roles::Column::UserId)
            .column(user_roles::Column::RoleId)
            .filter(user_roles::Column::Source.eq(SOURCE_PROVIDER))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_error)?;
        // Nothing mapped and nothing granted by a mapping: no user's grants can change, and reading every
        // local user (a million rows at the largest) would cost the run seconds and their memory for nothing.
        if mapped.is_empty() && grants.is_empty() {
            return Ok(0);
        }
        let local: Vec<(Uuid, String)> = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::Subject)
            .filter(users::Column::Issuer.eq(issuer))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_error)?;
        for (user, role) in grants {
            current.entry(user).or_default().insert(role);
        }
        let plan = mapping::plan(&mapped, &members, &local, &current);
        let mut changed = 0;
        let outcome = self.apply_plan(run_id, &plan, &mut changed).await;
        // Batches committed before a failure changed grants too.
        if changed > 0 {
            self.access.changed(&self.db).await.map_err(db_error)?;
        }
        outcome.map(|()| changed)
    }

    /// Sets the planned users' provider grants, counting in `changed` the users whose grants changed. A
    /// transaction per batch: a commit per user would take most of the time (a first run after mapping a
    /// large group writes every member); each user's change still keeps `set_provider_roles`'s rules, in a
    /// savepoint, and is audited with it.
    async fn apply_plan(
        &self,
        run_id: Uuid,
        plan: &[(Uuid, BTreeSet<String>)],
        changed: &mut i64,
    ) -> Result<(), String> {
        let db_error = |e: DbErr| format!("database: {e}");
        let origin = Origin {
            ip: None,
            user_agent: Some("sync".into()),
        };
        for batch in plan.chunks(USERS_PER_COMMIT) {
            let ids: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
            let txn = self.db.begin().await.map_err(db_error)?;
            let rows: HashMap<Uuid, users::Model> = users::Entity::find()
                .filter(users::Column::Id.is_in(ids))
                .all(&txn)
                .await
                .map_err(db_error)?
                .into_iter()
                .map(|u| (u.id, u))
                .collect();
            let mut in_batch = 0;
            for (user_id, groups) in batch {
                let Some(user) = rows.get(user_id) else {
                    continue;
                };
                let change = store::set_provider_roles(&txn, *user_id, groups)
                    .await
                    .map_err(db_error)?;
                mapping::record(&txn, &origin, user, &change, MappedBy::Sync(run_id)).await;
                in_batch += i64::from(change.changed());
            }
            txn.commit().await.map_err(db_error)?;
            *changed += in_batch;
            self.keep_lease().await?;
        }
        Ok(())
    }
}
