//! The environment reader: `Vars` looks a setting up and parses it into a number, flag, duration or list,
//! and the URL and origin parsers several families share.

use std::{str::FromStr, time::Duration};

use url::Url;

use super::ConfigError;

/// Looks settings up, treating empty values as unset (as `.env` files often leave them).
pub(super) struct Vars<'a, F: Fn(&str) -> Option<String>>(pub(super) &'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    pub(super) fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn parse<T: FromStr>(
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
    pub(super) fn number_in<T: FromStr + PartialOrd>(
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

    pub(super) fn boolean(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
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

    pub(super) fn duration(
        &self,
        var: &'static str,
        default: &str,
    ) -> Result<Duration, ConfigError> {
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

    pub(super) fn list<T>(
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

pub(super) fn parse_public_url(raw: &str) -> Option<Url> {
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
