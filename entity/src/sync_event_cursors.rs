//! Where the provider-event poller stopped reading the provider's event log, per issuer.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_event_cursors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub issuer: String,
    /// `keycloak` or `authentik`: a cursor of one provider means nothing to the other.
    pub provider: String,
    /// JSON: the newest event time read and the event ids seen near it.
    #[sea_orm(column_type = "Text")]
    pub position: String,
    /// Why events cannot be read (admin events off at the realm), while that lasts.
    #[sea_orm(column_type = "Text", nullable)]
    pub warning: Option<String>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
