//! Every statement Keyward sends is bounded in time on this side of the wire. A PostgreSQL that is stopped
//! refuses connections and the pool's acquire timeout answers for it; one that hangs (`kill -STOP`, a frozen
//! VM, a network that drops packets) leaves the connections already in the pool waiting forever, and the
//! server's own `statement_timeout` cannot fire in a process that does not run. So each statement, and each
//! `BEGIN`/`COMMIT`, races a deadline here; past it the request gets a database error (a 503 at the edge) and
//! the abandoned transaction is rolled back by the driver when its connection is next used or dropped.

use std::{future::Future, pin::Pin, time::Duration};

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, IsolationLevel, QueryResult, RuntimeErr, SqliteTransactionMode, Statement,
    TransactionError, TransactionOptions, TransactionSession, TransactionTrait,
};

/// The connection pool, with a deadline on every statement. Cloning shares the pool.
#[derive(Clone, Debug)]
pub struct Db {
    pool: DatabaseConnection,
    limit: Duration,
}

/// A transaction whose statements keep the pool's deadline.
pub struct Tx {
    inner: DatabaseTransaction,
    limit: Duration,
}

impl Db {
    pub fn new(pool: DatabaseConnection, statement_timeout: Duration) -> Self {
        Self {
            pool,
            limit: statement_timeout,
        }
    }

    /// The pool itself, for the few callers that need the concrete sea-orm type (migrations).
    pub fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    pub fn statement_timeout(&self) -> Duration {
        self.limit
    }

    /// Whether the database answers a trivial query within `within`.
    pub async fn ping_within(&self, within: Duration) -> Result<(), DbErr> {
        bounded(within, self.pool.ping()).await
    }

    pub async fn close(self) -> Result<(), DbErr> {
        self.pool.close().await
    }
}

/// The error a statement past its deadline ends with; `db::fault` recognises it.
pub(super) const TIMED_OUT: &str = "the database did not answer within";

async fn bounded<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, DbErr>>,
) -> Result<T, DbErr> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err(DbErr::Conn(RuntimeErr::Internal(format!(
            "{TIMED_OUT} {} ms",
            limit.as_millis()
        )))),
    }
}

macro_rules! bounded_connection {
    ($ty:ty, $field:ident) => {
        #[async_trait::async_trait]
        impl ConnectionTrait for $ty {
            fn get_database_backend(&self) -> DbBackend {
                self.$field.get_database_backend()
            }

            async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
                bounded(self.limit, self.$field.execute_raw(stmt)).await
            }

            async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
                bounded(self.limit, self.$field.execute_unprepared(sql)).await
            }

            async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
                bounded(self.limit, self.$field.query_one_raw(stmt)).await
            }

            async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
                bounded(self.limit, self.$field.query_all_raw(stmt)).await
            }

            fn support_returning(&self) -> bool {
                self.$field.support_returning()
            }
        }

        #[async_trait::async_trait]
        impl TransactionTrait for $ty {
            type Transaction = Tx;

            async fn begin(&self) -> Result<Tx, DbErr> {
                self.begin_with_options(TransactionOptions::default()).await
            }

            async fn begin_with_config(
                &self,
                isolation_level: Option<IsolationLevel>,
                access_mode: Option<AccessMode>,
            ) -> Result<Tx, DbErr> {
                self.begin_with_options(TransactionOptions {
                    isolation_level,
                    access_mode,
                    ..Default::default()
                })
                .await
            }

            async fn begin_with_options(
                &self,
                mut options: TransactionOptions,
            ) -> Result<Tx, DbErr> {
                // Every transaction Keyward opens writes. A deferred one on SQLite takes a read snapshot at its
                // first read (a statement prepared after a schema change, a trigger's FTS5 table opened) and
                // then fails at once with SQLITE_BUSY_SNAPSHOT ("database is locked", 517) if another writer
                // committed meanwhile; an immediate one takes the write lock first, waiting its turn. PostgreSQL
                // ignores the mode.
                options
                    .sqlite_transaction_mode
                    .get_or_insert(SqliteTransactionMode::Immediate);
                let inner = bounded(self.limit, self.$field.begin_with_options(options)).await?;
                Ok(Tx {
                    inner,
                    limit: self.limit,
                })
            }

            async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
            where
                F: for<'c> FnOnce(
                        &'c Tx,
                    )
                        -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
                    + Send,
                T: Send,
                E: std::fmt::Display + std::fmt::Debug + Send,
            {
                self.transaction_with_config(callback, None, None).await
            }

            async fn transaction_with_config<F, T, E>(
                &self,
                callback: F,
                isolation_level: Option<IsolationLevel>,
                access_mode: Option<AccessMode>,
            ) -> Result<T, TransactionError<E>>
            where
                F: for<'c> FnOnce(
                        &'c Tx,
                    )
                        -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
                    + Send,
                T: Send,
                E: std::fmt::Display + std::fmt::Debug + Send,
            {
                let txn = self
                    .begin_with_config(isolation_level, access_mode)
                    .await
                    .map_err(TransactionError::Connection)?;
                match callback(&txn).await {
                    Ok(value) => {
                        txn.commit().await.map_err(TransactionError::Connection)?;
                        Ok(value)
                    }
                    Err(err) => {
                        txn.rollback().await.map_err(TransactionError::Connection)?;
                        Err(TransactionError::Transaction(err))
                    }
                }
            }
        }
    };
}

bounded_connection!(Db, pool);
bounded_connection!(Tx, inner);

impl Tx {
    pub async fn commit(self) -> Result<(), DbErr> {
        bounded(self.limit, self.inner.commit()).await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        bounded(self.limit, self.inner.rollback()).await
    }
}

#[async_trait::async_trait]
impl TransactionSession for Tx {
    async fn commit(self) -> Result<(), DbErr> {
        Tx::commit(self).await
    }

    async fn rollback(self) -> Result<(), DbErr> {
        Tx::rollback(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_statement_past_its_deadline_ends_with_a_timeout_error() {
        let started = std::time::Instant::now();
        let err = bounded(
            Duration::from_millis(50),
            std::future::pending::<Result<(), DbErr>>(),
        )
        .await
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(err.to_string().contains(TIMED_OUT), "{err}");
    }
}
