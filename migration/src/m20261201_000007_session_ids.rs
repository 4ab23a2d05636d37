//! Sessions get a public id (the row id is the SHA-256 of the cookie and must never leave the server) and the
//! provider's session id (`sid` of the ID token), so a back-channel logout can find them; logout tokens already
//! seen are remembered until they expire, so a replay is refused by every instance.

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, FromQueryResult, prelude::Uuid},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    PublicId,
    ProviderSid,
}

#[derive(DeriveIden)]
enum LogoutTokensSeen {
    Table,
    Jti,
    ExpiresAt,
}

#[derive(FromQueryResult)]
struct Row {
    id: String,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds no NOT NULL column without a default: added nullable, filled, and always set afterwards.
        for col in [
            uuid_null(Sessions::PublicId),
            string_null(Sessions::ProviderSid),
        ] {
            let mut col = col;
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .add_column(&mut col)
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        let select = Query::select()
            .column(Sessions::Id)
            .from(Sessions::Table)
            .to_owned();
        let rows = Row::find_by_statement(db.get_database_backend().build(&select))
            .all(db)
            .await?;
        // Sessions open at upgrade time live on, each with an id of its own.
        for row in rows {
            let update = Query::update()
                .table(Sessions::Table)
                .value(Sessions::PublicId, Uuid::new_v4())
                .and_where(Expr::col(Sessions::Id).eq(row.id))
                .to_owned();
            db.execute(&update).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("sessions_public_id_key")
                    .table(Sessions::Table)
                    .col(Sessions::PublicId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_provider_sid_idx")
                    .table(Sessions::Table)
                    .col(Sessions::ProviderSid)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LogoutTokensSeen::Table)
                    .if_not_exists()
                    // The issuer and `jti`, hashed: a fixed size whatever the provider sends.
                    .col(string(LogoutTokensSeen::Jti).primary_key())
                    .col(timestamp_with_time_zone(LogoutTokensSeen::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("logout_tokens_seen_expires_at_idx")
                    .table(LogoutTokensSeen::Table)
                    .col(LogoutTokensSeen::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(LogoutTokensSeen::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        for name in ["sessions_provider_sid_idx", "sessions_public_id_key"] {
            manager
                .drop_index(Index::drop().name(name).table(Sessions::Table).to_owned())
                .await?;
        }
        for col in [Sessions::ProviderSid, Sessions::PublicId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
