//! Keeping an active admin: who holds `admin`, the check that refuses to take it from the last one, and the
//! lock that serialises such changes.

use std::collections::BTreeSet;

use entity::{roles, user_roles, users};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, Query},
};
use uuid::Uuid;

use super::{StoreError, roles::find_role_by_name};
use crate::rbac::ADMIN_ROLE;

/// Serialises changes that could take `admin` from its last holder, so that two of them (say, two admins
/// deactivating each other) cannot both pass the last-admin check. Call first in the transaction: a no-op
/// write to the `admin` row takes its row lock on PostgreSQL and the database write lock on SQLite before
/// anything is read, and PostgreSQL's READ COMMITTED then lets the later reads see what the previous holder
/// committed.
pub async fn lock_admin_changes(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
    roles::Entity::update_many()
        .col_expr(
            roles::Column::UpdatedAt,
            Expr::col(roles::Column::UpdatedAt),
        )
        .filter(roles::Column::Name.eq(ADMIN_ROLE))
        .exec(txn)
        .await?;
    Ok(())
}

/// `SELECT user_id FROM user_roles WHERE role_id = ?`: a subquery, because a role may have more holders than
/// PostgreSQL takes bind parameters (65 535).
pub fn holders_of(role_id: Uuid) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(user_roles::Column::UserId)
        .from(user_roles::Entity)
        .and_where(user_roles::Column::RoleId.eq(role_id))
        .to_owned()
}

/// Active users holding `admin`, from any source.
pub async fn admin_holders(db: &impl ConnectionTrait) -> Result<BTreeSet<Uuid>, DbErr> {
    let Some(admin) = find_role_by_name(db, ADMIN_ROLE).await? else {
        return Ok(BTreeSet::new());
    };
    Ok(users::Entity::find()
        .filter(users::Column::Id.in_subquery(holders_of(admin.id)))
        .filter(users::Column::Active.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect())
}

/// Refuses a change after which nobody active would hold `admin`. Call inside a transaction that took
/// `lock_admin_changes` first, or the answer may be stale by the time of the write.
pub async fn check_not_last_admin(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<(), StoreError> {
    let holders = admin_holders(db).await?;
    if holders.len() == 1 && holders.contains(&user_id) {
        return Err(StoreError::Conflict(
            "this is the last active admin: grant `admin` to someone else first".into(),
        ));
    }
    Ok(())
}
