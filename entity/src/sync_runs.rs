//! One user-sync run: what started it, how it ended, and what it changed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `schedule`, `manual` or `startup`.
    pub trigger: String,
    /// For scheduled runs, the firing (whole seconds) the run belongs to.
    pub scheduled_for: Option<DateTimeUtc>,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    pub pages: i64,
    pub seen: i64,
    pub updated: i64,
    pub deactivated: i64,
    pub created: i64,
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
