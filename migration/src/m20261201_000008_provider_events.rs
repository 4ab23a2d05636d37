//! Provider events between full syncs: the provider's own key for a user (Authentik's numeric `pk`, which its
//! events name instead of the token subject) and a cursor per issuer into the provider's event log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Issuer,
    ProviderPk,
}

#[derive(DeriveIden)]
enum SyncEventCursors {
    Table,
    Issuer,
    Provider,
    Position,
    Warning,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(string_null(Users::ProviderPk))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("users_issuer_provider_pk_idx")
                    .table(Users::Table)
                    .col(Users::Issuer)
                    .col(Users::ProviderPk)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SyncEventCursors::Table)
                    .if_not_exists()
                    .col(string(SyncEventCursors::Issuer).primary_key())
                    .col(string(SyncEventCursors::Provider))
                    // JSON: the newest event time read and the ids seen near it (see `sync::events::feed`).
                    .col(text(SyncEventCursors::Position))
                    .col(text_null(SyncEventCursors::Warning))
                    .col(timestamp_with_time_zone(SyncEventCursors::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(SyncEventCursors::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("users_issuer_provider_pk_idx")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::ProviderPk)
                    .to_owned(),
            )
            .await
    }
}
