//! One security-relevant event: who, what, when, from where, and how it ended.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub occurred_at: DateTimeUtc,
    /// What happened, e.g. `login`, `logout`, `token.issued`.
    pub kind: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// The acting user, when known.
    pub user_id: Option<Uuid>,
    /// What the event was about (a role, a user), by name.
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// A short reason or description.
    pub detail: Option<String>,
    /// How many like events this one stands for (refusals folded within a minute); 1 for most.
    pub count: i32,
    /// When the last of them happened, when there were several.
    pub last_at: Option<DateTimeUtc>,
    /// Who did what, while the event may still absorb repeats; unique among such events.
    pub fold_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
