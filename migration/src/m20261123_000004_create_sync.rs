//! User sync: the record of runs, a lease row so one instance at a time syncs, and why a user is inactive
//! (so the sync can reactivate whom it deactivated, and never whom an admin did).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncRuns {
    Table,
    Id,
    Trigger,
    ScheduledFor,
    StartedAt,
    FinishedAt,
    Status,
    Pages,
    Seen,
    Updated,
    Deactivated,
    Created,
    Error,
}

#[derive(DeriveIden)]
enum JobLeases {
    Table,
    Name,
    Holder,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    DeactivatedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SyncRuns::Table)
                    .if_not_exists()
                    .col(uuid(SyncRuns::Id).primary_key())
                    .col(string(SyncRuns::Trigger))
                    // The firing a scheduled run belongs to: instances that fire together run it once.
                    .col(timestamp_with_time_zone_null(SyncRuns::ScheduledFor).unique_key())
                    .col(timestamp_with_time_zone(SyncRuns::StartedAt))
                    .col(timestamp_with_time_zone_null(SyncRuns::FinishedAt))
                    .col(string(SyncRuns::Status))
                    .col(big_integer(SyncRuns::Pages).default(0))
                    .col(big_integer(SyncRuns::Seen).default(0))
                    .col(big_integer(SyncRuns::Updated).default(0))
                    .col(big_integer(SyncRuns::Deactivated).default(0))
                    .col(big_integer(SyncRuns::Created).default(0))
                    .col(text_null(SyncRuns::Error))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sync_runs_started_at_idx")
                    .table(SyncRuns::Table)
                    .col(SyncRuns::StartedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(JobLeases::Table)
                    .if_not_exists()
                    .col(string(JobLeases::Name).primary_key())
                    .col(string(JobLeases::Holder))
                    .col(timestamp_with_time_zone(JobLeases::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(string_null(Users::DeactivatedBy))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::DeactivatedBy)
                    .to_owned(),
            )
            .await?;
        for table in [JobLeases::Table.into_iden(), SyncRuns::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
