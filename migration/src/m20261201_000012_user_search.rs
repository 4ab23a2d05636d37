//! Indexes for the admin user search at a million users: email substrings (trigrams: `pg_trgm` on PostgreSQL,
//! an FTS5 trigram table kept in step by triggers on SQLite) and the holders of a role.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserRoles {
    Table,
    RoleId,
    UserId,
}

const ROLE_HOLDERS_INDEX: &str = "user_roles_role_id_user_id_idx";

// `CREATE EXTENSION` needs a privilege a deployment may not grant, and the package may be missing: then the
// search still works, by a scan. A failed statement inside a PL/pgSQL block with a handler rolls back only that
// block, so the migration's own transaction survives it.
const POSTGRES_UP: &str = r#"
DO $$
BEGIN
  CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'pg_trgm unavailable (%): the user search by email scans', SQLERRM;
END $$;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
    CREATE INDEX IF NOT EXISTS users_email_trgm_idx ON users USING gin (lower(email) gin_trgm_ops);
  END IF;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'no trigram index on users.email (%): the user search by email scans', SQLERRM;
END $$;
"#;

// The table holds `lower(email)`, as the listing compares it. Its rows are found again by their email (an
// indexed LIKE without wildcards, `_` in an address only widening it) rather than by rowid: `users` has no
// INTEGER PRIMARY KEY, so VACUUM may renumber its rowids and a table keyed by them would drift.
const SQLITE_UP: &str = r#"
CREATE VIRTUAL TABLE IF NOT EXISTS users_email_fts USING fts5(email, user_id UNINDEXED, tokenize = 'trigram');
INSERT INTO users_email_fts (email, user_id) SELECT lower(email), id FROM users WHERE email IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS users_email_fts_insert AFTER INSERT ON users WHEN new.email IS NOT NULL BEGIN
  INSERT INTO users_email_fts (email, user_id) VALUES (lower(new.email), new.id);
END;
CREATE TRIGGER IF NOT EXISTS users_email_fts_delete AFTER DELETE ON users WHEN old.email IS NOT NULL BEGIN
  DELETE FROM users_email_fts WHERE email LIKE lower(old.email) AND user_id = old.id;
END;
CREATE TRIGGER IF NOT EXISTS users_email_fts_update AFTER UPDATE OF email ON users
WHEN old.email IS NOT new.email BEGIN
  DELETE FROM users_email_fts WHERE old.email IS NOT NULL AND email LIKE lower(old.email) AND user_id = old.id;
  INSERT INTO users_email_fts (email, user_id) SELECT lower(new.email), new.id WHERE new.email IS NOT NULL;
END;
"#;

const SQLITE_DOWN: &str = r#"
DROP TRIGGER IF EXISTS users_email_fts_update;
DROP TRIGGER IF EXISTS users_email_fts_delete;
DROP TRIGGER IF EXISTS users_email_fts_insert;
DROP TABLE IF EXISTS users_email_fts;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => db.execute_unprepared(POSTGRES_UP).await?,
            DbBackend::Sqlite => db.execute_unprepared(SQLITE_UP).await?,
            _ => return Err(DbErr::Migration("unsupported database".into())),
        };
        // Counting a role's holders reads this index alone, never the table.
        manager
            .create_index(
                Index::create()
                    .name(ROLE_HOLDERS_INDEX)
                    .table(UserRoles::Table)
                    .col(UserRoles::RoleId)
                    .col(UserRoles::UserId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(ROLE_HOLDERS_INDEX)
                    .table(UserRoles::Table)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // The extension stays: other schemas may use it, and dropping it needs the privilege creating it did.
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared("DROP INDEX IF EXISTS users_email_trgm_idx")
                    .await?
            }
            _ => db.execute_unprepared(SQLITE_DOWN).await?,
        };
        Ok(())
    }
}
