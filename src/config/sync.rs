//! Sync settings: the schedule of the user sync through the provider's admin API, its paging, and the
//! admin API's address and credentials.

use url::Url;

use super::{
    ConfigError,
    vars::{Vars, parse_public_url},
};

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
    /// How often the provider's event log is read between full syncs; `None` (`0`) reads none.
    pub events_interval: Option<std::time::Duration>,
    /// A sync lease not renewed for this long belongs to an instance that died; another may take over.
    pub lease_ttl: std::time::Duration,
}

pub(super) fn read<F: Fn(&str) -> Option<String>>(
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
    let events_raw = vars
        .get("KEYWARD_SYNC_EVENTS_INTERVAL")
        .unwrap_or_else(|| "60s".into());
    // Zero, however written, reads no events.
    let events_interval = match humantime::parse_duration(events_raw.trim()) {
        _ if events_raw.trim() == "0" => None,
        Ok(d) if d.is_zero() => None,
        Ok(d) => Some(d),
        Err(_) => {
            return Err(ConfigError {
                var: "KEYWARD_SYNC_EVENTS_INTERVAL",
                value: events_raw,
                expected: "a duration such as 60s or 5m, or 0 to read no provider events".into(),
            });
        }
    };
    let lease_raw = vars
        .get("KEYWARD_SYNC_LEASE_TTL")
        .unwrap_or_else(|| "60s".into());
    let lease_ttl = match humantime::parse_duration(lease_raw.trim()) {
        Ok(d) if d >= std::time::Duration::from_secs(1) => d,
        _ => {
            return Err(ConfigError {
                var: "KEYWARD_SYNC_LEASE_TTL",
                value: lease_raw,
                expected: "a duration of at least 1s, such as 60s or 5m".into(),
            });
        }
    };
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
        events_interval,
        lease_ttl,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::config;

    #[test]
    fn provider_events_are_read_every_minute_unless_set_otherwise_and_zero_turns_them_off() {
        let every = |v: &str| {
            config(&[("KEYWARD_SYNC_EVENTS_INTERVAL", v)])
                .map(|c| c.sync.events_interval)
                .map_err(|e| e.var)
        };
        assert_eq!(
            config(&[]).unwrap().sync.events_interval,
            Some(Duration::from_secs(60))
        );
        assert_eq!(every("5s"), Ok(Some(Duration::from_secs(5))));
        assert_eq!(every("0"), Ok(None));
        assert_eq!(every("0s"), Ok(None));
        assert_eq!(every("often"), Err("KEYWARD_SYNC_EVENTS_INTERVAL"));
    }

    #[test]
    fn the_sync_lease_lasts_a_minute_unless_set_otherwise_and_never_zero() {
        let ttl = |v: &str| {
            config(&[("KEYWARD_SYNC_LEASE_TTL", v)])
                .map(|c| c.sync.lease_ttl)
                .map_err(|e| e.var)
        };
        assert_eq!(config(&[]).unwrap().sync.lease_ttl, Duration::from_secs(60));
        assert_eq!(ttl("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(ttl("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(ttl("0"), Err("KEYWARD_SYNC_LEASE_TTL"));
        assert_eq!(ttl("0s"), Err("KEYWARD_SYNC_LEASE_TTL"));
        assert_eq!(ttl("500ms"), Err("KEYWARD_SYNC_LEASE_TTL"));
        assert_eq!(ttl("soon"), Err("KEYWARD_SYNC_LEASE_TTL"));
    }
}
