//! Indexes for the admin user search at a million users: email substrings (trigrams: `pg_trgm` on PostgreSQL,
//! on SQLite an FTS5 trigram table and a table of sort keys, kept in step by triggers) and the holders of a role.

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

// With how many users a substring matches (statistics on the expression, PostgreSQL 14 or later), the planner
// walks `users_created_at_idx` for the first page of a common substring and takes the trigram index for a rare
// one; without them it guesses 100 rows and always takes the trigram index.
//
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
CREATE INDEX IF NOT EXISTS users_created_at_idx ON users (created_at, id);
DO $$
BEGIN
  CREATE STATISTICS IF NOT EXISTS users_email_lower_stats ON (lower(email)) FROM users;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'no statistics on lower(email) (%): the planner guesses how many users a substring matches', SQLERRM;
END $$;
"#;

const POSTGRES_DOWN: &str = r#"
DROP STATISTICS IF EXISTS users_email_lower_stats;
DROP INDEX IF EXISTS users_created_at_idx;
DROP INDEX IF EXISTS users_email_trgm_idx;
"#;

// `users` has no INTEGER PRIMARY KEY, so VACUUM may renumber its rowids: `users_search_keys` gives each user a
// stable integer (`seq`), which is the rowid of the user's row in the FTS5 table. The FTS5 table stores no
// content (a match needs only its index, never a row read per match; a row leaves by the 'delete' command with
// the text it was given, which the triggers recompute from the old email) and holds `lower(email)`, as the
// listing compares it; `case_sensitive 1` so that a phrase match there is exactly the listing's `LIKE` on that text.
// `created_at` sits beside `seq` so that a page of matches is sorted, or found by walking
// `users_search_keys_order_idx`, without reading `users`. One statement per trigger event: a first sync inserts
// users by the hundred thousand.
const SQLITE_UP: &str = r#"
CREATE TABLE IF NOT EXISTS users_search_keys (
  seq INTEGER PRIMARY KEY,
  user_id uuid_text NOT NULL UNIQUE,
  created_at timestamp_with_timezone_text NOT NULL
);
CREATE INDEX IF NOT EXISTS users_search_keys_order_idx ON users_search_keys (created_at, user_id);
CREATE VIRTUAL TABLE IF NOT EXISTS users_email_fts USING fts5(
  email, content = '', tokenize = 'trigram case_sensitive 1'
);
INSERT INTO users_search_keys (user_id, created_at) SELECT id, created_at FROM users ORDER BY created_at;
INSERT INTO users_email_fts (rowid, email)
  SELECT k.seq, lower(u.email) FROM users_search_keys k JOIN users u ON u.id = k.user_id WHERE u.email IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS users_search_insert AFTER INSERT ON users BEGIN
  INSERT INTO users_search_keys (user_id, created_at) VALUES (new.id, new.created_at);
  INSERT INTO users_email_fts (rowid, email) SELECT last_insert_rowid(), lower(new.email) WHERE new.email IS NOT NULL;
END;
CREATE TRIGGER IF NOT EXISTS users_search_delete AFTER DELETE ON users BEGIN
  INSERT INTO users_email_fts (users_email_fts, rowid, email)
    SELECT 'delete', seq, lower(old.email) FROM users_search_keys WHERE user_id = old.id AND old.email IS NOT NULL;
  DELETE FROM users_search_keys WHERE user_id = old.id;
END;
CREATE TRIGGER IF NOT EXISTS users_search_email AFTER UPDATE OF email ON users
WHEN old.email IS NOT new.email BEGIN
  INSERT INTO users_email_fts (users_email_fts, rowid, email)
    SELECT 'delete', seq, lower(old.email) FROM users_search_keys WHERE user_id = old.id AND old.email IS NOT NULL;
  INSERT INTO users_email_fts (rowid, email)
    SELECT seq, lower(new.email) FROM users_search_keys WHERE user_id = new.id AND new.email IS NOT NULL;
END;
CREATE TRIGGER IF NOT EXISTS users_search_order AFTER UPDATE OF id, created_at ON users
WHEN old.id IS NOT new.id OR old.created_at IS NOT new.created_at BEGIN
  UPDATE users_search_keys SET user_id = new.id, created_at = new.created_at WHERE user_id = old.id;
END;
"#;

const SQLITE_DOWN: &str = r#"
DROP TRIGGER IF EXISTS users_search_order;
DROP TRIGGER IF EXISTS users_search_email;
DROP TRIGGER IF EXISTS users_search_delete;
DROP TRIGGER IF EXISTS users_search_insert;
DROP TABLE IF EXISTS users_email_fts;
DROP TABLE IF EXISTS users_search_keys;
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
            DbBackend::Postgres => db.execute_unprepared(POSTGRES_DOWN).await?,
            _ => db.execute_unprepared(SQLITE_DOWN).await?,
        };
        Ok(())
    }
}
