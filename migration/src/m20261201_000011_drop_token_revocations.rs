//! Drops `user_token_revocations`: API tokens now die with the session they were minted from, so "log out
//! everywhere" ends the sessions and needs no revocation time (which also refused tokens minted in its second).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum UserTokenRevocations {
    Table,
    UserId,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(UserTokenRevocations::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserTokenRevocations::Table)
                    .if_not_exists()
                    .col(uuid(UserTokenRevocations::UserId).primary_key())
                    .col(timestamp_with_time_zone(UserTokenRevocations::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("user_token_revocations_user_id_fkey")
                            .from(UserTokenRevocations::Table, UserTokenRevocations::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }
}
