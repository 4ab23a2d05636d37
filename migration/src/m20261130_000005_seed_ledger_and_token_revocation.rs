//! Which seed-file entries were applied (so each applies once and API edits win afterwards), and when each
//! user's Keyward API tokens were last revoked ("log out everywhere").

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum RbacSeedApplied {
    Table,
    Kind,
    Name,
    AppliedAt,
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
            .create_table(
                Table::create()
                    .table(RbacSeedApplied::Table)
                    .if_not_exists()
                    // `permission`, `role` or `role_permission`; the last names `role permission`.
                    .col(string(RbacSeedApplied::Kind))
                    .col(string(RbacSeedApplied::Name))
                    .col(timestamp_with_time_zone(RbacSeedApplied::AppliedAt))
                    .primary_key(
                        Index::create()
                            .col(RbacSeedApplied::Kind)
                            .col(RbacSeedApplied::Name),
                    )
                    .to_owned(),
            )
            .await?;
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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            UserTokenRevocations::Table.into_iden(),
            RbacSeedApplied::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
