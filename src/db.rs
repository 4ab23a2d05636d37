//! Opening the database (SQLite by default, PostgreSQL in production) and bringing its schema up to date.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    TransactionTrait, sqlx::sqlite::SqliteJournalMode,
};

pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
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

/// Applies pending migrations. On PostgreSQL a transaction-scoped advisory lock makes instances that start
/// together take turns, so none of them sees a half-made schema.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Migrator::up(db, None).await;
    }
    let txn = db.begin().await?;
    txn.execute_unprepared("SELECT pg_advisory_xact_lock(7355608001)")
        .await?;
    Migrator::up(&txn, None).await?;
    txn.commit().await
}
