//! Every setting Keyward reads, its default, and the checks that stop a bad value at start-up.
//! Settings come from the environment (and an optional `.env`, loaded by `main`); each family of settings
//! is read by its own module, and `Config` puts them together.

mod database;
mod oidc;
mod rbac;
mod server;
mod sessions;
mod sync;
mod vars;

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use ipnet::IpNet;
use url::Url;

pub use database::{DEFAULT_DATABASE_URL, DatabaseSettings};
pub use oidc::{OidcSettings, ProviderKind};
pub use server::{DEFAULT_CONSOLE_DIR, DEFAULT_LISTEN, LogFormat, RateLimitSettings};
pub use sessions::SecretKey;
pub use sync::SyncSettings;
pub use vars::parse_origin;

use vars::Vars;

/// A setting that cannot be used, reported as one line naming the variable, the value and what was expected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {var}={value:?}: expected {expected}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub expected: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The URL browsers use to reach Keyward; decides cookie flags, HSTS and redirect URIs.
    pub public_url: Url,
    /// The URL and the pool's bounds (acquire and statement timeouts, size).
    pub database: DatabaseSettings,
    /// The admin console's built files, served at `/console/`; `None` turns it off.
    pub console_dir: Option<std::path::PathBuf>,
    /// Origins (`scheme://host[:port]`) allowed to call the API from a browser, credentials included.
    pub cors_origins: Vec<String>,
    pub rate_limit: RateLimitSettings,
    /// Redis URL where all instances keep the rate-limit budgets; `None` counts in each process.
    pub rate_limit_store: Option<String>,
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
    /// After SIGTERM, how long `/readyz` answers 503 while requests are still served, so that the load
    /// balancer takes the instance out before it stops accepting connections.
    pub shutdown_drain: Duration,
    /// The OpenID provider, or why login is not configured (the auth endpoints answer 503 with it).
    pub oidc: Result<OidcSettings, String>,
    /// Idle timeout: a session unused this long ends.
    pub session_ttl: Duration,
    /// Absolute lifetime: a session ends this long after it opened, however much it is used.
    pub session_max_lifetime: Duration,
    pub api_token_ttl: Duration,
    /// Origins `return_to` may point to besides Keyward's own.
    pub allowed_return_origins: Vec<String>,
    /// Where the provider sends the browser after logout.
    pub post_logout_redirect_uri: Url,
    /// The stricter per-client bucket for `/auth/*`.
    pub auth_rate_limit: RateLimitSettings,
    /// `KEYWARD_SECRET_KEY`; when absent a generated key is kept in the database.
    pub secret_key: Option<SecretKey>,
    /// An application's roles and permissions file (YAML or JSON), applied at start-up.
    pub rbac_seed: Option<std::path::PathBuf>,
    /// Verified emails (entries with `@`) or subjects granted `admin` at login.
    pub bootstrap_admins: Vec<String>,
    /// How long the access cache keeps serving what it knows while the database cannot be asked.
    pub access_stale_max: Duration,
    pub sync: SyncSettings,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings from a map, as tests and embedders do.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| vars.get(name).cloned())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        // Of several wrong settings the first one read is reported, so this order is part of the behaviour:
        // the database URL comes between the server's address and its other settings.
        let address = server::address(&vars)?;
        let database_url = database::read(&vars)?;
        let server = server::read(&vars)?;
        let oidc = oidc::read(&vars)?;
        let sessions = sessions::read(&vars, &address.public_url)?;
        let rbac = rbac::read(&vars)?;
        let sync = sync::read(&vars)?;
        let database = database::read_limits(&vars, database_url)?;
        Ok(Self {
            listen: address.listen,
            public_url: address.public_url,
            database,
            console_dir: server.console_dir,
            cors_origins: server.cors_origins,
            rate_limit: server.rate_limit,
            rate_limit_store: server.rate_limit_store,
            trusted_proxies: server.trusted_proxies,
            log_format: server.log_format,
            shutdown_drain: server.shutdown_drain,
            oidc,
            session_ttl: sessions.session_ttl,
            session_max_lifetime: sessions.session_max_lifetime,
            api_token_ttl: sessions.api_token_ttl,
            allowed_return_origins: sessions.allowed_return_origins,
            post_logout_redirect_uri: sessions.post_logout_redirect_uri,
            auth_rate_limit: sessions.auth_rate_limit,
            secret_key: sessions.secret_key,
            rbac_seed: rbac.rbac_seed,
            bootstrap_admins: rbac.bootstrap_admins,
            access_stale_max: rbac.access_stale_max,
            sync,
        })
    }

    /// Keyward's public URL without a trailing slash, the base of its own paths and its tokens' `iss`.
    pub fn public_base(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    /// Keyward's own origin, which is always allowed to call its API (the `/docs` page does).
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }

    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_map(&map)
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.database.url, DEFAULT_DATABASE_URL);
        assert_eq!(
            c.rate_limit,
            RateLimitSettings {
                per_minute: 600,
                burst: 100
            }
        );
        assert!(c.cors_origins.is_empty());
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.shutdown_drain, Duration::from_secs(5));
    }

    #[test]
    fn the_shutdown_drain_may_be_zero_but_must_be_a_duration() {
        let drain = |v: &str| config(&[("KEYWARD_SHUTDOWN_DRAIN", v)]).map(|c| c.shutdown_drain);
        assert_eq!(drain("0s").unwrap(), Duration::ZERO);
        assert_eq!(drain("12s").unwrap(), Duration::from_secs(12));
        assert_eq!(drain("soon").unwrap_err().var, "KEYWARD_SHUTDOWN_DRAIN");
    }

    #[test]
    fn a_wrong_value_names_the_variable_the_value_and_what_is_expected() {
        let err = config(&[("KEYWARD_RATE_LIMIT_PER_MINUTE", "lots")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid KEYWARD_RATE_LIMIT_PER_MINUTE=\"lots\": expected a whole number of requests per minute (0 turns limiting off)"
        );
        assert_eq!(
            config(&[("KEYWARD_LISTEN", "nowhere")]).unwrap_err().var,
            "KEYWARD_LISTEN"
        );
        assert_eq!(
            config(&[("KEYWARD_LOG_FORMAT", "xml")]).unwrap_err().var,
            "KEYWARD_LOG_FORMAT"
        );
        assert_eq!(
            config(&[("KEYWARD_RATE_LIMIT_BURST", "0")])
                .unwrap_err()
                .var,
            "KEYWARD_RATE_LIMIT_BURST"
        );
        assert_eq!(
            config(&[("DATABASE_URL", "mysql://x")]).unwrap_err().var,
            "DATABASE_URL"
        );
    }

    #[test]
    fn database_bounds_default_by_backend_and_refuse_nonsense() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database.acquire_timeout, Duration::from_secs(1));
        assert_eq!(c.database.statement_timeout, Duration::from_secs(2));
        assert_eq!(c.database.max_connections, 8);
        assert_eq!(c.access_stale_max, Duration::from_secs(60));
        let pg = config(&[("DATABASE_URL", "postgres://k@db/k")]).unwrap();
        assert_eq!(pg.database.max_connections, 16);
        let set = config(&[
            ("KEYWARD_DB_ACQUIRE_TIMEOUT", "250ms"),
            ("KEYWARD_DB_STATEMENT_TIMEOUT", "5s"),
            ("KEYWARD_DB_MAX_CONNECTIONS", "40"),
            ("KEYWARD_ACCESS_STALE_MAX", "5m"),
        ])
        .unwrap();
        assert_eq!(set.database.acquire_timeout, Duration::from_millis(250));
        assert_eq!(set.database.statement_timeout, Duration::from_secs(5));
        assert_eq!(set.database.max_connections, 40);
        assert_eq!(set.access_stale_max, Duration::from_secs(300));
        for (var, bad) in [
            ("KEYWARD_DB_ACQUIRE_TIMEOUT", "0s"),
            ("KEYWARD_DB_STATEMENT_TIMEOUT", "soon"),
            ("KEYWARD_DB_MAX_CONNECTIONS", "0"),
            ("KEYWARD_ACCESS_STALE_MAX", "-1s"),
        ] {
            assert_eq!(config(&[(var, bad)]).unwrap_err().var, var);
        }
    }

    #[test]
    fn login_is_optional_and_says_what_is_missing() {
        let c = config(&[]).unwrap();
        assert_eq!(
            c.oidc.unwrap_err(),
            "login is not configured: set KEYWARD_OIDC_ISSUER and KEYWARD_OIDC_CLIENT_ID"
        );
        let c = config(&[("KEYWARD_OIDC_ISSUER", "https://sso.example.com/realms/r")]).unwrap();
        assert_eq!(
            c.oidc.unwrap_err(),
            "login is not configured: set KEYWARD_OIDC_CLIENT_ID"
        );
        assert_eq!(c.session_ttl, Duration::from_secs(8 * 3600));
        assert_eq!(c.session_max_lifetime, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(c.api_token_ttl, Duration::from_secs(600));
        assert_eq!(
            c.auth_rate_limit,
            RateLimitSettings {
                per_minute: 60,
                burst: 20
            }
        );
    }

    #[test]
    fn bad_login_settings_stop_start_up() {
        for (var, value) in [
            ("KEYWARD_OIDC_PROVIDER", "okta"),
            ("KEYWARD_OIDC_SCOPES", "profile email"),
            ("KEYWARD_SESSION_TTL", "forever"),
            ("KEYWARD_API_TOKEN_TTL", "0s"),
            ("KEYWARD_SECRET_KEY", "abcd"),
            ("KEYWARD_ALLOWED_RETURN_ORIGINS", "https://x/y"),
        ] {
            let err = config(&[
                ("KEYWARD_OIDC_ISSUER", "https://h/realms/r"),
                ("KEYWARD_OIDC_CLIENT_ID", "keyward"),
                (var, value),
            ])
            .unwrap_err();
            assert_eq!(err.var, var);
        }
        for (var, value) in [
            ("KEYWARD_SYNC_SCHEDULE", "0 3 * * *"),
            ("KEYWARD_SYNC_SCHEDULE", "every day"),
            ("KEYWARD_SYNC_TIMEZONE", "Mars/Olympus"),
            ("KEYWARD_SYNC_ENABLED", "maybe"),
            ("KEYWARD_SYNC_PAGE_SIZE", "5000"),
            ("KEYWARD_SYNC_CONCURRENCY", "0"),
            ("KEYWARD_SYNC_CONCURRENCY", "17"),
        ] {
            assert_eq!(config(&[(var, value)]).unwrap_err().var, var, "{value}");
        }
        let err = config(&[("KEYWARD_IDP_ADMIN_CLIENT_ID", "keyward-sync")]).unwrap_err();
        assert_eq!(err.var, "KEYWARD_IDP_ADMIN_CLIENT_SECRET");
        assert!(err.to_string().contains("set both or neither"), "{err}");
        let err = config(&[("KEYWARD_IDP_ADMIN_CLIENT_SECRET", "s3cret")]).unwrap_err();
        assert_eq!(err.var, "KEYWARD_IDP_ADMIN_CLIENT_ID");
        assert!(
            !err.to_string().contains("s3cret"),
            "the secret is not echoed"
        );
        let c = config(&[
            ("KEYWARD_IDP_ADMIN_CLIENT_ID", "keyward-sync"),
            ("KEYWARD_IDP_ADMIN_CLIENT_SECRET", "s3cret"),
        ])
        .unwrap();
        assert_eq!(c.sync.admin_client_id.as_deref(), Some("keyward-sync"));
        let c = config(&[("KEYWARD_SYNC_TIMEZONE", "Europe/Berlin")]).unwrap();
        assert_eq!(c.sync.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(c.sync.schedule, "0 0 3 * * *");
        assert!(c.sync.enabled && !c.sync.create_users);
        let err = config(&[("KEYWARD_SECRET_KEY", "zz")]).unwrap_err();
        assert!(!err.to_string().contains("zz"), "the secret is not echoed");
        let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        assert!(
            config(&[("KEYWARD_SECRET_KEY", key)])
                .unwrap()
                .secret_key
                .is_some()
        );
    }

    #[test]
    fn the_rate_limit_store_is_optional_and_must_be_a_redis_url() {
        assert_eq!(config(&[]).unwrap().rate_limit_store, None);
        let url = "redis://127.0.0.1:6379/0";
        assert_eq!(
            config(&[("KEYWARD_RATE_LIMIT_STORE", url)])
                .unwrap()
                .rate_limit_store
                .as_deref(),
            Some(url)
        );
        for bad in [
            "127.0.0.1:6379",
            "http://127.0.0.1:6379",
            "redis://127.0.0.1:port/0",
        ] {
            let err = config(&[("KEYWARD_RATE_LIMIT_STORE", bad)]).unwrap_err();
            assert_eq!(err.var, "KEYWARD_RATE_LIMIT_STORE", "{bad}");
        }
    }
}
