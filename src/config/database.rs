//! Database settings: the connection URL, which must name SQLite or PostgreSQL.

use super::{ConfigError, vars::Vars};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://keyward.db?mode=rwc";

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
