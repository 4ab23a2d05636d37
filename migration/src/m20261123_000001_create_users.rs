//! The `users` table: local copies of the identities the OpenID provider vouches for.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Issuer,
    Subject,
    Email,
    EmailVerified,
    DisplayName,
    Username,
    AvatarUrl,
    Active,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
    LastSyncedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(uuid(Users::Id).primary_key())
                    .col(string(Users::Issuer))
                    .col(string(Users::Subject))
                    .col(string_null(Users::Email))
                    .col(boolean(Users::EmailVerified).default(false))
                    .col(string_null(Users::DisplayName))
                    .col(string_null(Users::Username))
                    .col(string_null(Users::AvatarUrl))
                    .col(boolean(Users::Active).default(true))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Users::LastLoginAt))
                    .col(timestamp_with_time_zone_null(Users::LastSyncedAt))
                    .to_owned(),
            )
            .await?;
        // Users are keyed by who vouches for them, never by email or username: both can change at the provider.
        manager
            .create_index(
                Index::create()
                    .name("users_issuer_subject_key")
                    .table(Users::Table)
                    .col(Users::Issuer)
                    .col(Users::Subject)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("users_email_idx")
                    .table(Users::Table)
                    .col(Users::Email)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}
