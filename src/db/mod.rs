//! Opening the database (SQLite by default, PostgreSQL in production) and bringing its schema up to date;
//! `bounded` puts a deadline on every statement, `fault` tells an outage from a bug.

mod bounded;
pub mod fault;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    TransactionTrait, sqlx::sqlite::SqliteJournalMode,
};

pub use bounded::{Db, Tx};

use crate::config::DatabaseSettings;

pub async fn connect(settings: &DatabaseSettings) -> Result<Db, DbErr> {
    let url = settings.url.as_str();
    let mut attempt = 0;
    loop {
        match connect_once(settings).await {
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
            other => return other.map(|pool| Db::new(pool, settings.statement_timeout)),
        }
    }
}

async fn connect_once(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    // Waiting for SQLite's write lock is waiting for the one writer's turn, as waiting for a pooled connection
    // is: the same bound, and shorter than a statement's, so that the answer names the cause ("busy").
    let lock_wait = settings.acquire_timeout.min(settings.statement_timeout);
    let mut opt = ConnectOptions::new(settings.url.as_str());
    opt.max_connections(settings.max_connections)
        .min_connections(1)
        .connect_timeout(settings.acquire_timeout)
        .acquire_timeout(settings.acquire_timeout)
        // The server cancels a slow statement itself and leaves the connection usable; `Db` covers a server
        // that cannot even do that.
        .statement_timeout(settings.statement_timeout)
        .sqlx_logging(false)
        // WAL lets readers work while the single writer commits; sqlx already turns foreign keys on.
        .map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(lock_wait)
        })
        .map_sqlx_sqlite_pool_opts(|p| {
            p.after_connect(|conn, _| Box::pin(open_search_table(conn)))
        });
    Database::connect(opt).await
}

/// A connection opens the FTS5 table behind the user search (migration 12) the first time a statement names
/// it, inserts into `users` included (a trigger writes it), and opening it reads the table's settings. Inside
/// a deferred transaction that read pins a snapshot, and the insert's write then fails at once with "database
/// is locked" if another writer committed meanwhile. Opening it here, outside any transaction, leaves nothing
/// to read later. Before migrations the table is missing: nothing to open.
async fn open_search_table(
    conn: &mut sea_orm::sqlx::SqliteConnection,
) -> Result<(), sea_orm::sqlx::Error> {
    let _ = sea_orm::sqlx::query("SELECT 1 FROM users_email_fts WHERE rowid = 0")
        .execute(conn)
        .await;
    Ok(())
}

/// Applies pending migrations in one transaction, taking turns with other instances that start together so
/// that none of them sees a half-made schema or records a migration twice: on PostgreSQL through a
/// transaction-scoped advisory lock, on SQLite by writing first (a header-only write), which takes the
/// database's single write lock before the migration table is read. Migrations may take longer than a request's
/// statement: they run on the pool itself, without `Db`'s deadline or PostgreSQL's `statement_timeout`.
pub async fn migrate(db: &Db) -> Result<(), DbErr> {
    let txn = db.pool().begin().await?;
    match db.get_database_backend() {
        DbBackend::Postgres => {
            txn.execute_unprepared("SET LOCAL statement_timeout = 0")
                .await?;
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
