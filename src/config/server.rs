//! Server settings: where Keyward listens and is reached, which browser origins may call it, its rate limits,
//! the proxies it trusts, its log format, and where the admin console's files are.

use std::{net::SocketAddr, path::PathBuf};

use ipnet::IpNet;
use url::Url;

use super::{
    ConfigError,
    vars::{Vars, parse_origin, parse_public_url},
};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Requests per minute per client; 0 turns limiting off.
    pub per_minute: u32,
    pub burst: u32,
}

impl RateLimitSettings {
    /// One bucket from its two variables, each given with its default; the global bucket and the one for
    /// `/auth/*` are read alike.
    pub(super) fn read<F: Fn(&str) -> Option<String>>(
        vars: &Vars<'_, F>,
        (per_minute_var, per_minute_default): (&'static str, &str),
        (burst_var, burst_default): (&'static str, &str),
    ) -> Result<Self, ConfigError> {
        let settings = Self {
            per_minute: vars.parse(
                per_minute_var,
                per_minute_default,
                "a whole number of requests per minute (0 turns limiting off)",
            )?,
            burst: vars.parse(
                burst_var,
                burst_default,
                "a whole number of requests from 1 up",
            )?,
        };
        if settings.burst == 0 {
            return Err(ConfigError {
                var: burst_var,
                value: "0".into(),
                expected: "a whole number of requests from 1 up".into(),
            });
        }
        Ok(settings)
    }
}

/// The listen address and the public URL, which defaults to it.
pub(super) struct Address {
    pub(super) listen: SocketAddr,
    pub(super) public_url: Url,
}

/// The server settings read after the database's (see `Config::from_lookup` for why the order matters).
pub(super) struct ServerSettings {
    pub(super) console_dir: Option<PathBuf>,
    pub(super) cors_origins: Vec<String>,
    pub(super) rate_limit: RateLimitSettings,
    pub(super) rate_limit_store: Option<String>,
    pub(super) trusted_proxies: Vec<IpNet>,
    pub(super) log_format: LogFormat,
    pub(super) shutdown_drain: std::time::Duration,
}

pub(super) fn address<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
) -> Result<Address, ConfigError> {
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
            expected:
                "an absolute http(s) URL without query or fragment, such as https://app.example.com"
                    .into(),
        })?,
    };
    Ok(Address { listen, public_url })
}

/// Where the console's built files are when `KEYWARD_CONSOLE_DIR` is not set: the build output in a checkout
/// (Keyward is run from the checkout's root); the Docker image sets its own path.
pub const DEFAULT_CONSOLE_DIR: &str = "console/dist";

pub(super) fn read<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
) -> Result<ServerSettings, ConfigError> {
    // Set but empty turns the console off, so this one reads the raw value: `Vars::get` takes empty as unset.
    let console_dir = match (vars.0)("KEYWARD_CONSOLE_DIR").map(|v| v.trim().to_owned()) {
        None => Some(PathBuf::from(DEFAULT_CONSOLE_DIR)),
        Some(v) if v.is_empty() => None,
        Some(v) => Some(PathBuf::from(v)),
    };
    let cors_origins = vars.list("KEYWARD_CORS_ORIGINS", |raw| {
        parse_origin(raw).ok_or("a comma-separated list of origins such as https://app.example.com")
    })?;
    let rate_limit = RateLimitSettings::read(
        vars,
        ("KEYWARD_RATE_LIMIT_PER_MINUTE", "600"),
        ("KEYWARD_RATE_LIMIT_BURST", "100"),
    )?;
    let rate_limit_store = match vars.get("KEYWARD_RATE_LIMIT_STORE") {
        Some(url) if !url.starts_with("redis://") || redis::Client::open(url.as_str()).is_err() => {
            return Err(ConfigError {
                var: "KEYWARD_RATE_LIMIT_STORE",
                value: url,
                expected: "a Redis URL such as redis://127.0.0.1:6379/0".into(),
            });
        }
        other => other,
    };
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
    // Zero is allowed: one instance with no balancer in front has nobody to drain from.
    let drain_raw = vars
        .get("KEYWARD_SHUTDOWN_DRAIN")
        .unwrap_or_else(|| "5s".into());
    let shutdown_drain = humantime::parse_duration(drain_raw.trim()).map_err(|_| ConfigError {
        var: "KEYWARD_SHUTDOWN_DRAIN",
        value: drain_raw.clone(),
        expected: "a duration such as 5s (0s: stop at once)".into(),
    })?;
    Ok(ServerSettings {
        console_dir,
        cors_origins,
        rate_limit,
        rate_limit_store,
        trusted_proxies,
        log_format,
        shutdown_drain,
    })
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

fn parse_ip_net(raw: &str) -> Option<IpNet> {
    raw.parse::<IpNet>()
        .ok()
        .or_else(|| raw.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use crate::config::tests::config;

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
}
