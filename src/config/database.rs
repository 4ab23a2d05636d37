//! Database settings: the connection URL, which must name SQLite or PostgreSQL, and the bounds that turn a
//! database that does not answer into a quick 503 rather than a request that hangs.

use std::time::Duration;

use super::{ConfigError, vars::Vars};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://keyward.db?mode=rwc";

/// How Keyward uses its connection pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    pub url: String,
    /// How long a request waits for a pooled connection (or a new one), and on SQLite for the write lock,
    /// before it gets a 503.
    pub acquire_timeout: Duration,
    /// How long one statement may run; PostgreSQL enforces it too.
    pub statement_timeout: Duration,
    pub max_connections: u32,
}

impl DatabaseSettings {
    pub fn is_sqlite(&self) -> bool {
        self.url.starts_with("sqlite:")
    }

    /// Defaults for a URL, as the CLI and tests open a database.
    pub fn for_url(url: &str) -> Self {
        Self {
            url: url.into(),
            acquire_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(2),
            max_connections: default_max_connections(url),
        }
    }
}

/// SQLite has one writer however many connections wait for it; PostgreSQL serves more in parallel. Both leave
/// room for a sync run (which holds one connection at a time) beside a full request load.
fn default_max_connections(url: &str) -> u32 {
    if url.starts_with("sqlite:") { 8 } else { 16 }
}

pub(super) fn read<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
) -> Result<String, ConfigError> {
    let database_url = vars
        .get("DATABASE_URL")
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
    if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
        return Err(ConfigError {
            var: "DATABASE_URL",
            value: database_url,
            expected: "a sqlite:// or postgres:// URL".into(),
        });
    }
    Ok(database_url)
}

/// The pool's bounds, read after the rest of the configuration (an unknown URL is reported first).
pub(super) fn read_limits<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
    url: String,
) -> Result<DatabaseSettings, ConfigError> {
    let acquire_timeout = vars.duration("KEYWARD_DB_ACQUIRE_TIMEOUT", "1s")?;
    let statement_timeout = vars.duration("KEYWARD_DB_STATEMENT_TIMEOUT", "2s")?;
    let default_max = default_max_connections(&url).to_string();
    let max_connections = vars.number_in(
        "KEYWARD_DB_MAX_CONNECTIONS",
        &default_max,
        1..=1000,
        "a number of connections from 1 to 1000",
    )?;
    Ok(DatabaseSettings {
        url,
        acquire_timeout,
        statement_timeout,
        max_connections,
    })
}
