//! A local user: the metadata Keyward keeps of an identity the OpenID provider vouches for.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The provider's issuer URL; together with `subject` it identifies the person.
    pub issuer: String,
    /// The provider's stable `sub` claim.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_login_at: Option<DateTimeUtc>,
    pub last_synced_at: Option<DateTimeUtc>,
    /// Who made the user inactive: `admin` or `provider` (the sync). The sync only reactivates its own.
    pub deactivated_by: Option<String>,
    /// The provider's own key for the user where its events name users by it (Authentik's `pk`); set by the sync.
    pub provider_pk: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
