//! Audit events can stand for several like ones: `count` and `last_at` say how many and until when, and
//! `fold_key` (unique while the event is still open to folding) lets concurrent writers add to one row.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Count,
    LastAt,
    FoldKey,
}

const FOLD_INDEX: &str = "audit_events_fold_key_key";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        for mut col in [
            integer(AuditEvents::Count).default(1).take(),
            timestamp_with_time_zone_null(AuditEvents::LastAt),
            string_null(AuditEvents::FoldKey),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvents::Table)
                        .add_column(&mut col)
                        .to_owned(),
                )
                .await?;
        }
        // Both databases let any number of rows have no key (NULL), so only open events compete.
        manager
            .create_index(
                Index::create()
                    .name(FOLD_INDEX)
                    .table(AuditEvents::Table)
                    .col(AuditEvents::FoldKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(FOLD_INDEX)
                    .table(AuditEvents::Table)
                    .to_owned(),
            )
            .await?;
        for col in [
            AuditEvents::FoldKey,
            AuditEvents::LastAt,
            AuditEvents::Count,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvents::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
