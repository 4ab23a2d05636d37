//! A browser session behind the session cookie.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// SHA-256 (hex) of the cookie value.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The id the API shows and API tokens carry (`sid`): the row id would hand out the session.
    #[sea_orm(unique)]
    pub public_id: Uuid,
    /// The provider's session id (`sid` of the ID token), named by back-channel logout tokens.
    pub provider_sid: Option<String>,
    pub user_id: Uuid,
    /// The provider's ID token, kept for `id_token_hint` at logout.
    pub id_token: Option<String>,
    /// The provider's refresh token, encrypted with a key derived from `KEYWARD_SECRET_KEY`.
    pub refresh_token: Option<String>,
    /// When the provider's access token expires: past it, the provider session is refreshed.
    pub provider_expires_at: Option<DateTimeUtc>,
    /// Set while one request refreshes the provider session, so others do not refresh in parallel.
    pub refresh_claimed_until: Option<DateTimeUtc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
