//! The OpenID provider as Keyward sees it: discovery (lazy, retried, refreshed at each login), the authorize
//! URL, code and refresh-token exchanges, RP-initiated logout, and verification of the provider's JWTs
//! (ID tokens and access tokens) against its JWKS, re-fetched when an unknown key id shows up.

mod claims;
mod discovery;
mod token_endpoint;
mod verify;

use std::{
    num::NonZeroU32,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use openidconnect::{IssuerUrl, RedirectUrl};
use tokio::sync::Mutex;

use crate::config::OidcSettings;
use discovery::Discovered;
use verify::Keys;

pub use claims::{ProviderClaims, RealmAccess, access_token_groups};
pub use token_endpoint::{LoginRequest, TokenSet};
pub use verify::describe_jwt_error;

/// How long Keyward waits for the provider before it calls it unavailable.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock skew tolerated on `exp` of provider tokens (and on `nbf`, which is checked when present).
pub const LEEWAY_SECS: u64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached or answered nonsense: a 503 for the caller.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider answered and said no (e.g. `invalid_grant` for a replayed code or a revoked refresh token).
    #[error("the identity provider refused: {0}")]
    Refused(String),
}

/// Why a provider JWT was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

pub struct Provider {
    settings: OidcSettings,
    redirect_uri: RedirectUrl,
    post_logout_redirect_uri: String,
    http: reqwest::Client,
    discovered: RwLock<Option<Arc<Discovered>>>,
    /// Serializes discovery; holds when it last failed, to fail fast for a moment afterwards.
    discovery: Mutex<Option<Instant>>,
    keys: RwLock<Option<Arc<Keys>>>,
    /// Serializes JWKS fetches, so a burst of tokens with a new `kid` causes one fetch.
    key_fetch: Mutex<()>,
    /// Caps JWKS re-fetches, so a flood of tokens with made-up key ids cannot hammer the provider.
    refetch_budget: DefaultDirectRateLimiter,
}

impl Provider {
    pub fn new(
        settings: OidcSettings,
        redirect_uri: &str,
        post_logout_redirect_uri: &str,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            // The openidconnect docs require it: following redirects would allow SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let redirect_uri =
            RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| format!("redirect URI: {e}"))?;
        let quota = Quota::with_period(Duration::from_secs(10))
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(3).unwrap_or(NonZeroU32::MIN));
        Ok(Self {
            settings,
            redirect_uri,
            post_logout_redirect_uri: post_logout_redirect_uri.to_owned(),
            http,
            discovered: RwLock::new(None),
            discovery: Mutex::new(None),
            keys: RwLock::new(None),
            key_fetch: Mutex::new(()),
            refetch_budget: RateLimiter::direct(quota),
        })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }
}

/// Checks the issuer URL parses as openidconnect wants it (done once, at start-up).
pub fn check_issuer(issuer: &str) -> Result<(), String> {
    IssuerUrl::new(issuer.to_owned())
        .map(|_| ())
        .map_err(|e| e.to_string())
}
