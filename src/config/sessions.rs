//! Session settings: how long sessions and API tokens live, where login may return to and logout lands,
//! the stricter rate limit on `/auth/*`, and the secret key that seals what sessions store.

use std::{fmt, time::Duration};

use url::Url;

use super::{
    ConfigError, RateLimitSettings,
    vars::{Vars, parse_origin, parse_public_url},
};

/// 32 secret bytes. Debug output never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(pub [u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// The session settings `Config` keeps as fields of its own.
pub(super) struct SessionSettings {
    pub(super) session_ttl: Duration,
    pub(super) session_max_lifetime: Duration,
    pub(super) api_token_ttl: Duration,
    pub(super) allowed_return_origins: Vec<String>,
    pub(super) post_logout_redirect_uri: Url,
    pub(super) auth_rate_limit: RateLimitSettings,
    pub(super) secret_key: Option<SecretKey>,
}

/// `public_url` is where logout lands unless `KEYWARD_POST_LOGOUT_REDIRECT_URI` says otherwise.
pub(super) fn read<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
    public_url: &Url,
) -> Result<SessionSettings, ConfigError> {
    let session_ttl = vars.duration("KEYWARD_SESSION_TTL", "8h")?;
    let session_max_lifetime = vars.duration("KEYWARD_SESSION_MAX_LIFETIME", "7d")?;
    let api_token_ttl = vars.duration("KEYWARD_API_TOKEN_TTL", "10m")?;
    let allowed_return_origins = vars.list("KEYWARD_ALLOWED_RETURN_ORIGINS", |raw| {
        parse_origin(raw).ok_or("a comma-separated list of origins such as https://app.example.com")
    })?;
    let post_logout_redirect_uri = match vars.get("KEYWARD_POST_LOGOUT_REDIRECT_URI") {
        None => public_url.clone(),
        Some(raw) => parse_public_url(&raw).ok_or_else(|| ConfigError {
            var: "KEYWARD_POST_LOGOUT_REDIRECT_URI",
            value: raw,
            expected: "an absolute http(s) URL registered at the provider".into(),
        })?,
    };
    let auth_rate_limit = RateLimitSettings::read(
        vars,
        ("KEYWARD_AUTH_RATE_LIMIT_PER_MINUTE", "60"),
        ("KEYWARD_AUTH_RATE_LIMIT_BURST", "20"),
    )?;
    let secret_key = match vars.get("KEYWARD_SECRET_KEY") {
        None => None,
        Some(raw) => Some(parse_secret_key(&raw).ok_or_else(|| ConfigError {
            var: "KEYWARD_SECRET_KEY",
            value: "(hidden)".into(),
            expected:
                "64 hexadecimal characters (32 bytes), e.g. from `openssl rand -hex 32`".into(),
        })?),
    };
    Ok(SessionSettings {
        session_ttl,
        session_max_lifetime,
        api_token_ttl,
        allowed_return_origins,
        post_logout_redirect_uri,
        auth_rate_limit,
        secret_key,
    })
}

fn parse_secret_key(raw: &str) -> Option<SecretKey> {
    let bytes = hex::decode(raw).ok()?;
    bytes.try_into().ok().map(SecretKey)
}
