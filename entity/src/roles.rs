//! A role: a named set of permissions granted to users.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "roles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    pub description: String,
    /// Granted to every user at first login.
    pub is_default: bool,
    /// Seeded by Keyward (`user`, `admin`): cannot be deleted or renamed.
    pub built_in: bool,
    /// The provider group or role whose members hold this role.
    pub idp_group: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
