//! Opening the database (SQLite by default, PostgreSQL in production) and bringing its schema up to date.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    TransactionTrait, sqlx::sqlite::SqliteJournalMode,
};

pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut attempt = 0;
    loop {
        match connect_once(url).await {
            // Switching a file to WAL takes an exclusive lock SQLite does not wait for: instances opening one
            // new file together get "database is locked" and may simply try again.
            Err(e)
                if url.starts_with("sqlite:")
                    && attempt < 20
                    && e.to_string().contains("locked") =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

async fn connect_once(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut opt = ConnectOptions::new(url);
    opt.max_connections(if url.starts_with("sqlite:") { 8 } else { 16 })
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        // WAL lets readers work while the single writer commits; sqlx already turns foreign keys on.
        .map_sqlx_sqlite_opts(|o| o.journal_mode(SqliteJournalMode::Wal).foreign_keys(true));
    Database::connect(opt).await
}

/// Applies pending migrations in one transaction, taking turns with other instances that start together so
/// that none of them sees a half-made schema or records a migration twice: on PostgreSQL through a
/// transaction-scoped advisory lock, on SQLite by writing first (a header-only write), which takes the
/// database's single write lock before the migration table is read.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    match db.get_database_backend() {
        DbBackend::Postgres => {
            txn.execute_unprepared("SELECT pg_advisory_xact_lock(7355608001)")
                .await?;
        }
        DbBackend::Sqlite => {
            txn.execute_unprepared("PRAGMA user_version = 0").await?;
        }
        _ => {}
    }
    Migrator::up(&txn, None).await?;
    txn.commit().await
}
