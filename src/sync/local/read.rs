//! The run's one read of the local users, beside the listing.

use std::{collections::HashSet, pin::Pin, sync::Arc, time::Instant};

use chrono::{DateTime, Utc};
use entity::users;
use futures_util::TryStreamExt;
use sea_orm::{
    ColumnTrait, DbBackend, DbErr, EntityTrait, IdenStatic, QueryFilter, QuerySelect, QueryTrait,
    RuntimeErr,
    sqlx::{self, Row as _},
};
use uuid::Uuid;

use super::{Hashing, LocalIndex};
use crate::{
    db::Db,
    sync::{
        directory::AbortOnDrop,
        reconcile::{self, Digest, LocalUser, LocalUserRef},
        subjects::{Collision, SubjectKey, SubjectMap},
    },
};

impl LocalIndex {
    /// `load`, placed where it runs beside the listing best. PostgreSQL's rows are decoded in the reading task,
    /// for seconds at a million users: in the run's own task that held the listing back (pages filled their
    /// channel), so there it gets a task of its own and the second core. SQLite already reads on its driver's
    /// thread; a task of its own there only competed with that thread, and its read took 2.6× as long (1M
    /// users, 2 cores: 8.3 s against 3.2 s), so there it stays in the run's task.
    pub fn load_beside_listing(
        db: &Db,
        issuer: &str,
        run_started: DateTime<Utc>,
        hashing: Hashing,
    ) -> Pin<Box<dyn Future<Output = Result<Self, DbErr>> + Send>> {
        let backend = db.pool().get_database_backend();
        let (db, issuer) = (db.clone(), issuer.to_owned());
        let load = async move { Self::load(&db, &issuer, run_started, hashing).await };
        match backend {
            DbBackend::Postgres => {
                let mut task = AbortOnDrop::spawn(load);
                Box::pin(async move {
                    task.join()
                        .await
                        .map_err(|e| DbErr::Custom(format!("reading the local users: {e}")))?
                })
            }
            _ => Box::pin(load),
        }
    }

    /// Reads the issuer's users once, as a stream, keeping a digest of each. The rows go straight through sqlx
    /// and their text is hashed where it lies: decoding every row into an owned model first, this read (most of
    /// an unchanged run's own work) cost such a run 7–25 % more CPU (100 000 users on SQLite). A read of every
    /// user may outlast a request's statement deadline, so it uses the pool directly.
    async fn load(
        db: &Db,
        issuer: &str,
        run_started: DateTime<Utc>,
        hashing: Hashing,
    ) -> Result<Self, DbErr> {
        use users::Column as C;
        let started = Instant::now();
        let db = db.pool();
        let backend = db.get_database_backend();
        let sql = users::Entity::find()
            .select_only()
            .columns(LocalUser::COLUMNS)
            .column(C::CreatedAt)
            .filter(C::Issuer.eq(issuer))
            .build(backend)
            .sql;
        let count = users::Entity::find()
            .select_only()
            .column_as(C::Id.count(), "n")
            .filter(C::Issuer.eq(issuer))
            .build(backend)
            .sql;
        let sql = [count, sql];
        let mut loader = Loader::new(hashing);
        let read = match backend {
            DbBackend::Sqlite => {
                let pool = db.get_sqlite_connection_pool();
                match pool.acquire().await {
                    Ok(mut conn) => {
                        loader
                            .read::<sqlx::Sqlite>(&mut conn, sql, issuer, run_started)
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
            DbBackend::Postgres => {
                let pool = db.get_postgres_connection_pool();
                loader.read_pg(pool, sql, issuer, run_started).await
            }
            other => {
                return Err(DbErr::BackendNotSupported {
                    db: other.as_str(),
                    ctx: "user sync",
                });
            }
        };
        read.map_err(|e| DbErr::Query(RuntimeErr::SqlxError(Arc::new(e))))?;
        let read_seconds = started.elapsed().as_secs_f64();
        let index = loader.finish().map_err(|e| DbErr::Custom(e.to_string()))?;
        tracing::info!(
            users = index.users.len(),
            read_seconds,
            seconds = started.elapsed().as_secs_f64(),
            "local users read"
        );
        Ok(index)
    }
}

/// Digests collected as the users are read, then sorted into a [`LocalIndex`].
pub(super) struct Loader {
    hashing: Hashing,
    entries: Vec<(SubjectKey, Digest)>,
    recent: HashSet<Uuid>,
}

impl Loader {
    pub(super) fn new(hashing: Hashing) -> Self {
        Self {
            hashing,
            entries: Vec::new(),
            recent: HashSet::new(),
        }
    }

    pub(super) fn add(&mut self, subject: &str, user: &LocalUserRef<'_>, recent: bool) {
        let digest = reconcile::digest(user, &self.hashing.keys);
        self.entries
            .push((self.hashing.subjects.key(subject), digest));
        if recent {
            self.recent.insert(user.id);
        }
    }

    pub(super) fn finish(self) -> Result<LocalIndex, Collision> {
        let users = SubjectMap::build(self.entries)?;
        Ok(LocalIndex {
            listed: vec![false; users.len()],
            hashing: self.hashing,
            users,
            recent: self.recent,
            unknown: Vec::new(),
            known_people: 0,
            listed_any: false,
        })
    }
}

impl Loader {
    /// On PostgreSQL, in a transaction of its own without the pool's statement timeout, which the server
    /// applies to every statement: at a million users the read takes longer and was cancelled.
    async fn read_pg(
        &mut self,
        pool: &sqlx::PgPool,
        sql: [String; 2],
        issuer: &str,
        run_started: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let mut txn = pool.begin().await?;
        sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *txn)
            .await?;
        self.read::<sqlx::Postgres>(&mut txn, sql, issuer, run_started)
            .await?;
        txn.commit().await
    }

    /// `count` counts the users of issuer `issuer`, `sql` selects their [`LocalUser::COLUMNS`] and `created_at`.
    async fn read<DB>(
        &mut self,
        conn: &mut DB::Connection,
        [count, sql]: [String; 2],
        issuer: &str,
        run_started: DateTime<Utc>,
    ) -> Result<(), sqlx::Error>
    where
        DB: sqlx::Database,
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
        DB::Arguments: sqlx::IntoArguments<DB>,
        for<'a> &'a str: sqlx::Encode<'a, DB> + sqlx::Decode<'a, DB> + sqlx::Type<DB>,
        for<'a> Uuid: sqlx::Decode<'a, DB> + sqlx::Type<DB>,
        for<'a> bool: sqlx::Decode<'a, DB> + sqlx::Type<DB>,
        for<'a> DateTime<Utc>: sqlx::Decode<'a, DB> + sqlx::Type<DB>,
        for<'a> i64: sqlx::Decode<'a, DB> + sqlx::Type<DB>,
        for<'a> &'a str: sqlx::ColumnIndex<DB::Row>,
        usize: sqlx::ColumnIndex<DB::Row>,
    {
        use sqlx::Column as _;
        use users::Column as C;
        // Room for every user from the start: grown by doubling, the vector's last copy held both halves at
        // once (75 MB at a million users).
        let users: i64 = sqlx::query(sqlx::AssertSqlSafe(count))
            .bind(issuer)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        self.entries
            .reserve_exact(usize::try_from(users).unwrap_or(0));
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(issuer)
            .fetch(conn);
        // Columns are found by name once, then by position: by name, each row paid ten lookups.
        let names = [
            C::Id,
            C::Email,
            C::EmailVerified,
            C::DisplayName,
            C::Username,
            C::AvatarUrl,
            C::Active,
            C::DeactivatedBy,
            C::CreatedAt,
            C::Subject,
        ];
        let mut at: Option<[usize; 10]> = None;
        let mut read = 0u32;
        while let Some(row) = rows.try_next().await? {
            // PostgreSQL hands buffered rows over without yielding: a million of them would hold a worker thread
            // (and whatever waits on it: pages, requests) for seconds.
            read = read.wrapping_add(1);
            if read.is_multiple_of(4096) {
                tokio::task::yield_now().await;
            }
            let at = match at {
                Some(at) => at,
                None => {
                    let mut found = [0; 10];
                    for (slot, name) in found.iter_mut().zip(names) {
                        *slot = row.try_column(name.as_str())?.ordinal();
                    }
                    *at.insert(found)
                }
            };
            let user = LocalUserRef {
                id: row.try_get(at[0])?,
                email: row.try_get(at[1])?,
                email_verified: row.try_get(at[2])?,
                display_name: row.try_get(at[3])?,
                username: row.try_get(at[4])?,
                avatar_url: row.try_get(at[5])?,
                active: row.try_get(at[6])?,
                deactivated_by: row.try_get(at[7])?,
            };
            let created_at: DateTime<Utc> = row.try_get(at[8])?;
            let subject = row.try_get(at[9])?;
            self.add(subject, &user, created_at >= run_started);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::BY_PROVIDER;

    /// The first read goes around sea-orm: its digests must be those of the rows as sea-orm reads them, or
    /// every page would read back users that have not changed.
    #[tokio::test]
    async fn the_first_read_digests_each_row_as_stored() {
        use sea_orm::{ActiveModelTrait, IntoActiveModel};

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
        let db = crate::db::connect(&crate::config::DatabaseSettings::for_url(&url))
            .await
            .unwrap();
        crate::db::migrate(&db).await.unwrap();
        let run_started = Utc::now() - chrono::Duration::minutes(5);
        let full = users::Model {
            email: Some("zoe@example.com".into()),
            email_verified: true,
            display_name: Some("Zoë Ångström".into()),
            username: Some("zoe".into()),
            avatar_url: Some("https://x/z.png".into()),
            created_at: run_started - chrono::Duration::days(1),
            ..crate::users::test_user("full")
        };
        let bare = users::Model {
            created_at: run_started - chrono::Duration::seconds(1),
            ..crate::users::test_user("bare")
        };
        let off = users::Model {
            active: false,
            deactivated_by: Some(BY_PROVIDER.into()),
            created_at: run_started - chrono::Duration::days(1),
            ..crate::users::test_user("off")
        };
        let recent = users::Model {
            created_at: run_started + chrono::Duration::seconds(1),
            ..crate::users::test_user("recent")
        };
        let elsewhere = users::Model {
            issuer: "https://other-idp".into(),
            ..crate::users::test_user("elsewhere")
        };
        let mine = [&full, &bare, &off, &recent];
        for u in mine.iter().copied().chain([&elsewhere]) {
            u.clone().into_active_model().insert(&db).await.unwrap();
        }

        let index = LocalIndex::load(&db, "https://idp", run_started, Hashing::default())
            .await
            .unwrap();
        assert_eq!(index.users.len(), mine.len(), "only the issuer's users");
        for u in mine {
            let stored = users::Entity::find_by_id(u.id)
                .one(&db)
                .await
                .unwrap()
                .unwrap();
            let digest = index
                .users
                .get(index.hashing.subjects.key(&u.subject))
                .unwrap();
            let expected =
                reconcile::digest(&LocalUser::from(&stored).to_ref(), &index.hashing.keys);
            assert_eq!(*digest, expected, "{}", u.subject);
            let recent = index.recent.contains(&u.id);
            assert_eq!(recent, u.subject == "recent", "{}", u.subject);
        }
    }
}
