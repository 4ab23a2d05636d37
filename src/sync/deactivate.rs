//! Deactivation: once a listing is complete, the users it left out or found disabled go inactive and lose
//! their sessions.

use chrono::Utc;
use entity::{sessions, users};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait, sea_query::Expr};
use uuid::Uuid;

use crate::users::BY_PROVIDER;

use super::Syncer;

impl Syncer {
    /// Marks users inactive (by the provider) and ends their sessions. One transaction, so that a failure
    /// deactivates nobody and the count is what committed; the batches only bound a statement's parameters.
    pub(super) async fn deactivate(&self, ids: &[Uuid]) -> Result<i64, DbErr> {
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
}
