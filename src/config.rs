//! Every setting Keyward reads, its default, and the checks that stop a bad value at start-up.
//! Settings come from the environment (and an optional `.env`, loaded by `main`).

use std::{collections::HashMap, fmt, net::SocketAddr, str::FromStr, time::Duration};

use ipnet::IpNet;
use url::Url;

/// A setting that cannot be used, reported as one line naming the variable, the value and what was expected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {var}={value:?}: expected {expected}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub expected: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The URL browsers use to reach Keyward; decides cookie flags, HSTS and redirect URIs.
    pub public_url: Url,
    pub database_url: String,
    /// Origins (`scheme://host[:port]`) allowed to call the API from a browser, credentials included.
    pub cors_origins: Vec<String>,
    pub rate_limit: RateLimitSettings,
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
    /// The OpenID provider, or why login is not configured (the auth endpoints answer 503 with it).
    pub oidc: Result<OidcSettings, String>,
    /// Idle time after which a session ends; every use extends it.
    pub session_ttl: Duration,
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
    pub sync: SyncSettings,
}

/// The scheduled user sync through the provider's admin API.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Runs the schedule; manual runs work either way.
    pub enabled: bool,
    /// 6-field cron with seconds, validated at start-up.
    pub schedule: String,
    pub timezone: chrono_tz::Tz,
    pub create_users: bool,
    pub on_startup: bool,
    pub page_size: u32,
    /// Listing pages requested from the admin API at once.
    pub concurrency: usize,
    /// Overrides the admin API's base URL (scheme, host, port and any path prefix), derived from the issuer.
    pub admin_url: Option<Url>,
    pub admin_client_id: Option<String>,
    pub admin_client_secret: Option<String>,
    pub admin_token: Option<String>,
}

/// Which provider family the issuer belongs to: decides the claims roles come from and the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Keycloak,
    Authentik,
    Generic,
}

impl ProviderKind {
    /// What the issuer's path shows: `/realms/` is Keycloak, `/application/o/` is Authentik.
    pub fn from_issuer(issuer: &Url) -> Self {
        let path = issuer.path();
        if path.contains("/realms/") {
            Self::Keycloak
        } else if path.contains("/application/o/") {
            Self::Authentik
        } else {
            Self::Generic
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Keycloak => "keycloak",
            Self::Authentik => "authentik",
            Self::Generic => "generic",
        }
    }
}

#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// Exactly as configured: Authentik's issuer keeps its trailing slash and must match the tokens' `iss`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub provider: ProviderKind,
    pub scopes: Vec<String>,
    /// The `aud` accepted in the provider's access tokens.
    pub audience: String,
}

/// 32 secret bytes. Debug output never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(pub [u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Requests per minute per client; 0 turns limiting off.
    pub per_minute: u32,
    pub burst: u32,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://keyward.db?mode=rwc";

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
        let listen: SocketAddr = vars.parse(
            "KEYWARD_LISTEN",
            DEFAULT_LISTEN,
            "a socket address such as 127.0.0.1:8080",
        )?;
        let public_url = match vars.get("KEYWARD_PUBLIC_URL") {
            None => default_public_url(listen)?,
            Some(raw) => parse_public_url(&raw).ok_or_else(|| ConfigError {
                var: "KEYWARD_PUBLIC_URL",
                value: raw,
                expected: "an absolute http(s) URL without query or fragment, such as https://app.example.com".into(),
            })?,
        };
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
        let cors_origins = vars.list("KEYWARD_CORS_ORIGINS", |raw| {
            parse_origin(raw)
                .ok_or("a comma-separated list of origins such as https://app.example.com")
        })?;
        let rate_limit = RateLimitSettings {
            per_minute: vars.parse(
                "KEYWARD_RATE_LIMIT_PER_MINUTE",
                "600",
                "a whole number of requests per minute (0 turns limiting off)",
            )?,
            burst: vars.parse(
                "KEYWARD_RATE_LIMIT_BURST",
                "100",
                "a whole number of requests from 1 up",
            )?,
        };
        if rate_limit.burst == 0 {
            return Err(ConfigError {
                var: "KEYWARD_RATE_LIMIT_BURST",
                value: "0".into(),
                expected: "a whole number of requests from 1 up".into(),
            });
        }
        let trusted_proxies = vars.list("KEYWARD_TRUSTED_PROXIES", |raw| {
            parse_ip_net(raw)
                .ok_or("a comma-separated list of IP addresses or CIDR ranges such as 10.0.0.0/8")
        })?;
        let log_format = match vars.get("KEYWARD_LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError {
                    var: "KEYWARD_LOG_FORMAT",
                    value: other.into(),
                    expected: "pretty or json".into(),
                });
            }
        };
        let oidc = oidc_settings(&vars)?;
        let session_ttl = vars.duration("KEYWARD_SESSION_TTL", "8h")?;
        let api_token_ttl = vars.duration("KEYWARD_API_TOKEN_TTL", "10m")?;
        let allowed_return_origins = vars.list("KEYWARD_ALLOWED_RETURN_ORIGINS", |raw| {
            parse_origin(raw)
                .ok_or("a comma-separated list of origins such as https://app.example.com")
        })?;
        let post_logout_redirect_uri = match vars.get("KEYWARD_POST_LOGOUT_REDIRECT_URI") {
            None => public_url.clone(),
            Some(raw) => parse_public_url(&raw).ok_or_else(|| ConfigError {
                var: "KEYWARD_POST_LOGOUT_REDIRECT_URI",
                value: raw,
                expected: "an absolute http(s) URL registered at the provider".into(),
            })?,
        };
        let auth_rate_limit = RateLimitSettings {
            per_minute: vars.parse(
                "KEYWARD_AUTH_RATE_LIMIT_PER_MINUTE",
                "60",
                "a whole number of requests per minute (0 turns limiting off)",
            )?,
            burst: vars.parse(
                "KEYWARD_AUTH_RATE_LIMIT_BURST",
                "20",
                "a whole number of requests from 1 up",
            )?,
        };
        if auth_rate_limit.burst == 0 {
            return Err(ConfigError {
                var: "KEYWARD_AUTH_RATE_LIMIT_BURST",
                value: "0".into(),
                expected: "a whole number of requests from 1 up".into(),
            });
        }
        let secret_key = match vars.get("KEYWARD_SECRET_KEY") {
            None => None,
            Some(raw) => Some(parse_secret_key(&raw).ok_or_else(|| ConfigError {
                var: "KEYWARD_SECRET_KEY",
                value: "(hidden)".into(),
                expected:
                    "64 hexadecimal characters (32 bytes), e.g. from `openssl rand -hex 32`".into(),
            })?),
        };
        let rbac_seed = vars.get("KEYWARD_RBAC_SEED").map(std::path::PathBuf::from);
        let sync = sync_settings(&vars)?;
        let bootstrap_admins = vars.list("KEYWARD_BOOTSTRAP_ADMINS", |raw| Ok(raw.to_owned()))?;
        Ok(Self {
            sync,
            rbac_seed,
            bootstrap_admins,
            listen,
            public_url,
            database_url,
            cors_origins,
            rate_limit,
            trusted_proxies,
            log_format,
            oidc,
            session_ttl,
            api_token_ttl,
            allowed_return_origins,
            post_logout_redirect_uri,
            auth_rate_limit,
            secret_key,
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

/// Looks settings up, treating empty values as unset (as `.env` files often leave them).
struct Vars<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn parse<T: FromStr>(
        &self,
        var: &'static str,
        default: &str,
        expected: &str,
    ) -> Result<T, ConfigError> {
        let raw = self.get(var).unwrap_or_else(|| default.into());
        raw.parse().map_err(|_| ConfigError {
            var,
            value: raw,
            expected: expected.into(),
        })
    }

    /// A whole number in `range`; `expected` says which, for the error.
    fn number_in<T: FromStr + PartialOrd>(
        &self,
        var: &'static str,
        default: &str,
        range: std::ops::RangeInclusive<T>,
        expected: &str,
    ) -> Result<T, ConfigError> {
        let n: T = self.parse(var, default, expected)?;
        if range.contains(&n) {
            Ok(n)
        } else {
            Err(ConfigError {
                var,
                value: self.get(var).unwrap_or_else(|| default.into()),
                expected: expected.into(),
            })
        }
    }

    fn boolean(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(ConfigError {
                var,
                value: other.into(),
                expected: "true or false".into(),
            }),
        }
    }

    fn duration(&self, var: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let raw = self.get(var).unwrap_or_else(|| default.into());
        humantime::parse_duration(&raw)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or(ConfigError {
                var,
                value: raw,
                expected: "a positive duration such as 8h, 30m or 90s".into(),
            })
    }

    fn list<T>(
        &self,
        var: &'static str,
        item: impl Fn(&str) -> Result<T, &'static str>,
    ) -> Result<Vec<T>, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(Vec::new());
        };
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                item(s).map_err(|expected| ConfigError {
                    var,
                    value: raw.clone(),
                    expected: expected.into(),
                })
            })
            .collect()
    }
}

/// Login settings. A missing issuer or client id is not an error: Keyward runs without login and says why.
fn oidc_settings<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
) -> Result<Result<OidcSettings, String>, ConfigError> {
    let issuer = vars.get("KEYWARD_OIDC_ISSUER");
    let client_id = vars.get("KEYWARD_OIDC_CLIENT_ID");
    let (issuer, client_id) = match (issuer, client_id) {
        (Some(i), Some(c)) => (i, c),
        (i, c) => {
            let missing: Vec<&str> = [
                i.is_none().then_some("KEYWARD_OIDC_ISSUER"),
                c.is_none().then_some("KEYWARD_OIDC_CLIENT_ID"),
            ]
            .into_iter()
            .flatten()
            .collect();
            return Ok(Err(format!(
                "login is not configured: set {}",
                missing.join(" and ")
            )));
        }
    };
    let issuer_url = parse_public_url(&issuer).ok_or_else(|| ConfigError {
        var: "KEYWARD_OIDC_ISSUER",
        value: issuer.clone(),
        expected: "the provider's issuer URL, such as https://sso.example.com/realms/myrealm"
            .into(),
    })?;
    let provider = match vars.get("KEYWARD_OIDC_PROVIDER").as_deref() {
        None => ProviderKind::from_issuer(&issuer_url),
        Some("keycloak") => ProviderKind::Keycloak,
        Some("authentik") => ProviderKind::Authentik,
        Some("generic") => ProviderKind::Generic,
        Some(other) => {
            return Err(ConfigError {
                var: "KEYWARD_OIDC_PROVIDER",
                value: other.into(),
                expected: "keycloak, authentik or generic".into(),
            });
        }
    };
    let scopes_raw = vars
        .get("KEYWARD_OIDC_SCOPES")
        .unwrap_or_else(|| "openid profile email".into());
    let scopes: Vec<String> = scopes_raw
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(ConfigError {
            var: "KEYWARD_OIDC_SCOPES",
            value: scopes_raw,
            expected: "space-separated scopes including openid".into(),
        });
    }
    let audience = vars
        .get("KEYWARD_OIDC_AUDIENCE")
        .unwrap_or_else(|| client_id.clone());
    Ok(Ok(OidcSettings {
        issuer,
        client_id,
        client_secret: vars.get("KEYWARD_OIDC_CLIENT_SECRET"),
        provider,
        scopes,
        audience,
    }))
}

fn sync_settings<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
) -> Result<SyncSettings, ConfigError> {
    let schedule = vars
        .get("KEYWARD_SYNC_SCHEDULE")
        .unwrap_or_else(|| "0 0 3 * * *".into());
    if let Err(why) = crate::sync::schedule::parse_cron(&schedule) {
        return Err(ConfigError {
            var: "KEYWARD_SYNC_SCHEDULE",
            value: schedule,
            expected: format!(
                "a 6-field cron expression with seconds, such as `0 0 3 * * *` ({why})"
            ),
        });
    }
    let tz_raw = vars
        .get("KEYWARD_SYNC_TIMEZONE")
        .unwrap_or_else(|| "UTC".into());
    let timezone = tz_raw.parse::<chrono_tz::Tz>().map_err(|_| ConfigError {
        var: "KEYWARD_SYNC_TIMEZONE",
        value: tz_raw.clone(),
        expected: "an IANA time zone name such as UTC or Europe/Berlin".into(),
    })?;
    let page_size: u32 = vars.number_in(
        "KEYWARD_SYNC_PAGE_SIZE",
        "100",
        1..=1000,
        "a page size from 1 to 1000",
    )?;
    let concurrency: usize = vars.number_in(
        "KEYWARD_SYNC_CONCURRENCY",
        "4",
        1..=16,
        "a number of page requests from 1 to 16",
    )?;
    let admin_url = match vars.get("KEYWARD_IDP_ADMIN_URL") {
        None => None,
        Some(raw) => Some(parse_public_url(&raw).ok_or_else(|| ConfigError {
            var: "KEYWARD_IDP_ADMIN_URL",
            value: raw,
            expected: "the provider's base URL, such as https://keycloak.internal:8443".into(),
        })?),
    };
    let admin_client_id = vars.get("KEYWARD_IDP_ADMIN_CLIENT_ID");
    let admin_client_secret = vars.get("KEYWARD_IDP_ADMIN_CLIENT_SECRET");
    // Half a pair would pair one client with the other's secret (the login client's), which the provider
    // refuses only when the first sync runs.
    match (&admin_client_id, &admin_client_secret) {
        (Some(_), None) => {
            return Err(ConfigError {
                var: "KEYWARD_IDP_ADMIN_CLIENT_SECRET",
                value: String::new(),
                expected: "the admin client's secret, since KEYWARD_IDP_ADMIN_CLIENT_ID is set (set both or neither)".into(),
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError {
                var: "KEYWARD_IDP_ADMIN_CLIENT_ID",
                value: String::new(),
                expected: "the admin client's id, since KEYWARD_IDP_ADMIN_CLIENT_SECRET is set (set both or neither)".into(),
            });
        }
        _ => {}
    }
    Ok(SyncSettings {
        enabled: vars.boolean("KEYWARD_SYNC_ENABLED", true)?,
        schedule,
        timezone,
        create_users: vars.boolean("KEYWARD_SYNC_CREATE_USERS", false)?,
        on_startup: vars.boolean("KEYWARD_SYNC_ON_STARTUP", false)?,
        page_size,
        concurrency,
        admin_url,
        admin_client_id,
        admin_client_secret,
        admin_token: vars.get("KEYWARD_IDP_ADMIN_TOKEN"),
    })
}

fn parse_secret_key(raw: &str) -> Option<SecretKey> {
    let bytes = hex::decode(raw).ok()?;
    bytes.try_into().ok().map(SecretKey)
}

fn default_public_url(listen: SocketAddr) -> Result<Url, ConfigError> {
    // An unspecified bind address is not something a browser can reach; name the loopback instead.
    let host = if listen.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        match listen {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        }
    };
    let raw = format!("http://{host}:{}", listen.port());
    Url::parse(&raw).map_err(|_| ConfigError {
        var: "KEYWARD_PUBLIC_URL",
        value: raw,
        expected: "an absolute http(s) URL; set it explicitly".into(),
    })
}

fn parse_public_url(raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.query().is_none()
        && url.fragment().is_none();
    ok.then_some(url)
}

/// An origin is scheme, host and optional port: nothing else, so it can be compared with the `Origin` header.
pub fn parse_origin(raw: &str) -> Option<String> {
    let url = Url::parse(raw).ok()?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.path() == "/"
        && !raw.ends_with('/')
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty();
    bare.then(|| url.origin().ascii_serialization())
}

fn parse_ip_net(raw: &str) -> Option<IpNet> {
    raw.parse::<IpNet>()
        .ok()
        .or_else(|| raw.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
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
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(
            c.rate_limit,
            RateLimitSettings {
                per_minute: 600,
                burst: 100
            }
        );
        assert!(c.cors_origins.is_empty());
        assert_eq!(c.log_format, LogFormat::Pretty);
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
    fn cors_origins_must_be_bare_origins() {
        let c = config(&[(
            "KEYWARD_CORS_ORIGINS",
            "https://app.example.com, http://localhost:5173",
        )])
        .unwrap();
        assert_eq!(
            c.cors_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        for bad in [
            "*",
            "https://app.example.com/",
            "https://app.example.com/path",
            "app.example.com",
        ] {
            let err = config(&[("KEYWARD_CORS_ORIGINS", bad)]).unwrap_err();
            assert_eq!(err.var, "KEYWARD_CORS_ORIGINS", "{bad} accepted");
        }
    }

    #[test]
    fn trusted_proxies_take_addresses_and_ranges() {
        let c = config(&[("KEYWARD_TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1,::1")]).unwrap();
        assert_eq!(c.trusted_proxies.len(), 3);
        assert!(config(&[("KEYWARD_TRUSTED_PROXIES", "10.0.0.0/33")]).is_err());
    }

    #[test]
    fn public_url_defaults_to_the_listen_address_and_decides_https() {
        let c = config(&[("KEYWARD_LISTEN", "0.0.0.0:9000")]).unwrap();
        assert_eq!(c.public_url.as_str(), "http://127.0.0.1:9000/");
        assert!(!c.is_https());
        let c = config(&[("KEYWARD_PUBLIC_URL", "https://app.example.com")]).unwrap();
        assert!(c.is_https());
        assert_eq!(c.public_origin(), "https://app.example.com");
        assert!(config(&[("KEYWARD_PUBLIC_URL", "ftp://x")]).is_err());
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
    fn the_provider_kind_follows_the_issuer_path_unless_set() {
        let kind = |issuer: &str, set: Option<&str>| {
            let mut pairs = vec![
                ("KEYWARD_OIDC_ISSUER", issuer),
                ("KEYWARD_OIDC_CLIENT_ID", "keyward"),
            ];
            if let Some(p) = set {
                pairs.push(("KEYWARD_OIDC_PROVIDER", p));
            }
            config(&pairs).unwrap().oidc.unwrap().provider
        };
        assert_eq!(kind("https://h/realms/r", None), ProviderKind::Keycloak);
        assert_eq!(
            kind("https://h/application/o/app/", None),
            ProviderKind::Authentik
        );
        assert_eq!(
            kind("https://accounts.example.com", None),
            ProviderKind::Generic
        );
        assert_eq!(
            kind("https://h/realms/r", Some("generic")),
            ProviderKind::Generic
        );
        let o = config(&[
            ("KEYWARD_OIDC_ISSUER", "https://h/application/o/app/"),
            ("KEYWARD_OIDC_CLIENT_ID", "keyward"),
        ])
        .unwrap()
        .oidc
        .unwrap();
        assert_eq!(
            o.issuer, "https://h/application/o/app/",
            "trailing slash kept"
        );
        assert_eq!(o.audience, "keyward");
        assert_eq!(o.scopes, ["openid", "profile", "email"]);
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
}
