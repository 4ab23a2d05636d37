//! Which database errors mean "the database is not available right now" (a 503 the client may retry) rather
//! than a bug (a 500): no connection, a statement past its deadline, a server shutting down, and the SQLite
//! states an operator fixes outside Keyward (busy, read-only, disk full, I/O error). Each comes with a cause in
//! words for the problem's `detail`; the driver's own text stays in the log.

use sea_orm::{DbErr, RuntimeErr, sqlx};

use super::bounded::TIMED_OUT;

/// The cause in words when `err` means the database is unavailable; `None` for every other error.
pub fn unavailable(err: &DbErr) -> Option<&'static str> {
    match err {
        DbErr::ConnectionAcquire(_) => Some(NO_CONNECTION),
        DbErr::Conn(RuntimeErr::Internal(text)) if text.starts_with(TIMED_OUT) => {
            Some("the database did not answer in time")
        }
        DbErr::Conn(_) => Some(NO_CONNECTION),
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            from_sqlx(e)
        }
        _ => None,
    }
}

const NO_CONNECTION: &str = "the database does not answer";

fn from_sqlx(err: &sqlx::Error) -> Option<&'static str> {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Some(NO_CONNECTION),
        sqlx::Error::Database(db) => db.code().and_then(|code| by_code(&code)),
        _ => None,
    }
}

/// SQLite's primary result codes (the low byte of an extended code, at most 4 digits) and PostgreSQL's
/// SQLSTATEs (always 5 characters, some all digits).
fn by_code(code: &str) -> Option<&'static str> {
    if code.len() < 5
        && let Ok(n) = code.parse::<u32>()
    {
        return match n & 0xff {
            5 | 6 => Some("the database is busy (another writer holds its lock)"),
            8 => Some("the database is read-only"),
            10 => Some("the database could not read or write its file (I/O error)"),
            13 => Some("the database is full (no space left for it)"),
            14 => Some("the database file cannot be opened"),
            _ => None,
        };
    }
    match code {
        "57014" => Some("the database did not answer in time"),
        "25006" => Some("the database is read-only"),
        "53100" => Some("the database is full (no space left for it)"),
        c if c.starts_with("53") => Some("the database is out of resources"),
        c if c.starts_with("08") || c.starts_with("57P") => Some(NO_CONNECTION),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_and_postgres_codes_name_their_cause() {
        assert_eq!(
            by_code("13"),
            Some("the database is full (no space left for it)")
        );
        assert_eq!(by_code("8"), Some("the database is read-only"));
        // SQLITE_READONLY_DBMOVED and SQLITE_BUSY_SNAPSHOT are extended codes of the same causes.
        assert_eq!(by_code("1032"), Some("the database is read-only"));
        assert_eq!(by_code("517"), by_code("5"));
        assert_eq!(
            by_code("19"),
            None,
            "a constraint is a bug or a conflict, not an outage"
        );
        assert_eq!(by_code("57P01"), Some(NO_CONNECTION));
        assert_eq!(
            by_code("57014"),
            Some("the database did not answer in time")
        );
        assert_eq!(by_code("23505"), None);
        assert_eq!(
            by_code("53100"),
            Some("the database is full (no space left for it)")
        );
    }

    #[test]
    fn acquire_timeouts_are_unavailability_and_missing_rows_are_not() {
        let acquire = DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout);
        assert_eq!(unavailable(&acquire), Some(NO_CONNECTION));
        assert_eq!(unavailable(&DbErr::RecordNotFound("x".into())), None);
    }
}
