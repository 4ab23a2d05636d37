//! Deactivation: once a listing is complete, the users it left out or found disabled go inactive and lose
//! their sessions.

use chrono::Utc;
use entity::{sessions, users};
use sea_orm::{
    ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use crate::{audit, users::BY_PROVIDER};

use super::Syncer;

impl Syncer {
    /// Marks users inactive (by the provider) and ends their sessions. One transaction, so that a failure
    /// deactivates nobody and what is returned is what committed; the batches only bound a statement's
    /// parameters. Returns the users that were active until now (for the audit log).
    pub(super) async fn deactivate(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, DbErr> {
        let mut done = Vec::new();
        if ids.is_empty() {
            return Ok(done);
        }
        let now = Utc::now();
        let txn = self.db.begin().await?;
        for batch in ids.chunks(500) {
            // Read inside the transaction, so that the ids are those the update below changes.
            let active: Vec<Uuid> = users::Entity::find()
                .select_only()
                .column(users::Column::Id)
                .filter(users::Column::Id.is_in(batch.to_vec()))
                .filter(users::Column::Active.eq(true))
                .into_tuple()
                .all(&txn)
                .await?;
            if !active.is_empty() {
                users::Entity::update_many()
                    .col_expr(users::Column::Active, Expr::value(false))
                    .col_expr(users::Column::DeactivatedBy, Expr::value(BY_PROVIDER))
                    .col_expr(users::Column::UpdatedAt, Expr::value(now))
                    .filter(users::Column::Id.is_in(active.clone()))
                    .exec(&txn)
                    .await?;
            }
            sessions::Entity::delete_many()
                .filter(sessions::Column::UserId.is_in(batch.to_vec()))
                .exec(&txn)
                .await?;
            done.extend(active);
        }
        txn.commit().await?;
        Ok(done)
    }
}

/// Who changed a user's status, as the audit log names the actor.
pub(super) enum Actor<'a> {
    Run(Uuid),
    ProviderEvent(&'a str),
}

impl Syncer {
    /// One audit event per user whose status the sync changed: `user.deactivated` or `user.activated`, the
    /// same kinds as an admin's change, with the sync as the actor and the reason in the detail.
    pub(super) async fn audit_status(
        &self,
        ids: &[Uuid],
        active: bool,
        actor: Actor<'_>,
        reason: &str,
    ) {
        if ids.is_empty() {
            return;
        }
        let kind = if active {
            "user.activated"
        } else {
            "user.deactivated"
        };
        let by = match actor {
            Actor::Run(id) => format!("sync run {id}"),
            Actor::ProviderEvent(provider) => format!("{provider} event"),
        };
        let origin = audit::Origin {
            ip: None,
            user_agent: Some("sync".into()),
        };
        for batch in ids.chunks(500) {
            let found = users::Entity::find()
                .filter(users::Column::Id.is_in(batch.to_vec()))
                .all(&self.db)
                .await;
            let labels: Vec<(Uuid, String)> = match found {
                Ok(rows) => rows
                    .iter()
                    .map(|u| (u.id, crate::users::label(u)))
                    .collect(),
                // The audit is best effort, and an id still names the user.
                Err(_) => batch.iter().map(|id| (*id, id.to_string())).collect(),
            };
            for (id, label) in labels {
                let event = audit::Event::success(kind, None)
                    .target(label)
                    .detail(format!("by {by}: {reason} (user {id})"));
                audit::record(&self.db, &origin, event).await;
            }
        }
    }
}
