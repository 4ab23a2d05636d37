//! A seed-file entry already applied: it is not applied again, so later API edits (removals included) win.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rbac_seed_applied")]
pub struct Model {
    /// `permission`, `role` or `role_permission`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    /// The permission or role name; for `role_permission`, `role permission`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub applied_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
