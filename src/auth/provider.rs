//! The OpenID provider as Keyward sees it: discovery (lazy, retried, refreshed at each login), the authorize
//! URL, code and refresh-token exchanges, RP-initiated logout, and verification of the provider's JWTs
//! (ID tokens and access tokens) against its JWKS, re-fetched when an unknown key id shows up.

use std::{
    num::NonZeroU32,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use jsonwebtoken::{
    Algorithm, DecodingKey, TokenData, Validation, decode, decode_header,
    jwk::{Jwk, JwkSet},
};
use openidconnect::{
    AuthType, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, LogoutRequest, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse,
    core::{CoreClient, CoreClientAuthMethod, CoreErrorResponseType, CoreResponseType},
};
use serde::{Deserialize, de::DeserializeOwned};
use tokio::sync::Mutex;

use crate::{
    config::{OidcSettings, ProviderKind},
    crypto,
};

/// How long Keyward waits for the provider before it calls it unavailable.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock skew tolerated on `exp` of provider tokens (and on `nbf`, which is checked when present).
pub const LEEWAY_SECS: u64 = 60;
/// After a failed discovery, requests within this window fail fast instead of asking again.
const DISCOVERY_RETRY_AFTER: Duration = Duration::from_secs(2);
/// Known keys are re-fetched after this long even without an unknown `kid`, so removed keys stop working.
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
/// After a failed re-fetch of known keys, how long they are used before the next attempt.
const JWKS_RETRY_AFTER: Duration = Duration::from_secs(60);

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

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

/// The claims Keyward reads from the provider's ID and access tokens.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderClaims {
    pub sub: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Some providers send `"true"` as a string; see [`ProviderClaims::email_verified`].
    #[serde(default, rename = "email_verified")]
    email_verified_raw: Option<serde_json::Value>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub picture: Option<String>,
    #[serde(default)]
    pub nonce: Option<String>,
    /// Keycloak marks its tokens: `ID` for ID tokens, `Bearer` for access tokens.
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub azp: Option<String>,
    #[serde(default)]
    pub aud: Option<serde_json::Value>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    #[serde(default)]
    pub realm_access: Option<RealmAccess>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RealmAccess {
    #[serde(default)]
    pub roles: Vec<String>,
}

impl ProviderClaims {
    pub fn email_verified(&self) -> bool {
        match &self.email_verified_raw {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }

    fn audiences(&self) -> Vec<&str> {
        match &self.aud {
            Some(serde_json::Value::String(s)) => vec![s.as_str()],
            Some(serde_json::Value::Array(items)) => {
                items.iter().filter_map(|v| v.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// What a code or refresh exchange gives back.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
    pub access_token_expires_in: Option<Duration>,
}

/// A login about to be sent to the provider: the URL and the secrets to keep until the callback.
pub struct LoginRequest {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

struct Discovered {
    client: Client,
    end_session: Option<EndSessionUrl>,
    jwks_uri: String,
}

struct Keys {
    set: JwkSet,
    fetched_at: Instant,
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

    fn cached(&self) -> Option<Arc<Discovered>> {
        self.discovered.read().ok().and_then(|d| d.clone())
    }

    /// The discovered provider, discovering it first if nobody has yet.
    async fn discovered(&self) -> Result<Arc<Discovered>, ProviderError> {
        if let Some(d) = self.cached() {
            return Ok(d);
        }
        self.discover(false).await
    }

    /// Fetches the discovery document. With `fresh`, even when one is cached: `/auth/login` does this, so a
    /// provider that went away answers 503 at once instead of sending the browser to a dead page.
    async fn discover(&self, fresh: bool) -> Result<Arc<Discovered>, ProviderError> {
        let mut last_failure = self.discovery.lock().await;
        if !fresh && let Some(d) = self.cached() {
            return Ok(d);
        }
        if let Some(at) = *last_failure
            && at.elapsed() < DISCOVERY_RETRY_AFTER
        {
            return Err(ProviderError::Unavailable(format!(
                "{} did not answer moments ago",
                self.settings.issuer
            )));
        }
        match self.fetch_metadata().await {
            Ok(d) => {
                let d = Arc::new(d);
                if let Ok(mut slot) = self.discovered.write() {
                    *slot = Some(d.clone());
                }
                *last_failure = None;
                Ok(d)
            }
            Err(err) => {
                tracing::warn!(issuer = %self.settings.issuer, error = %err, "OpenID discovery failed");
                *last_failure = Some(Instant::now());
                Err(err)
            }
        }
    }

    async fn fetch_metadata(&self) -> Result<Discovered, ProviderError> {
        let issuer = &self.settings.issuer;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let meta: ProviderMetadataWithLogout = self.get_json(&url).await?;
        // OpenID Discovery §4.3: the document must name exactly the issuer it was fetched for.
        if meta.issuer().as_str() != issuer {
            return Err(ProviderError::Unavailable(format!(
                "the discovery document names issuer {:?}, not the configured {issuer:?}",
                meta.issuer().as_str()
            )));
        }
        let end_session = meta.additional_metadata().end_session_endpoint.clone();
        let jwks_uri = meta.jwks_uri().url().to_string();
        let post_supported = meta
            .token_endpoint_auth_methods_supported()
            .map(|m| {
                !m.contains(&CoreClientAuthMethod::ClientSecretBasic)
                    && m.contains(&CoreClientAuthMethod::ClientSecretPost)
            })
            .unwrap_or(false);
        let client = CoreClient::from_provider_metadata(
            meta,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect_uri.clone())
        .set_auth_type(if post_supported {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        });
        Ok(Discovered {
            client,
            end_session,
            jwks_uri,
        })
    }

    async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, ProviderError> {
        let unavailable = |e: String| ProviderError::Unavailable(format!("GET {url}: {e}"));
        let resp = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(unavailable(format!("status {}", resp.status())));
        }
        resp.json::<T>()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))
    }

    /// Starts a login: a fresh state, nonce and PKCE (S256) verifier, and the provider URL carrying them.
    pub async fn begin_login(&self) -> Result<LoginRequest, ProviderError> {
        let d = self.discover(true).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = crypto::random_token(32);
        let nonce = crypto::random_token(32);
        let (state_c, nonce_c) = (state.clone(), nonce.clone());
        let mut req = d.client.authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            move || CsrfToken::new(state_c),
            move || Nonce::new(nonce_c),
        );
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = req.set_pkce_challenge(challenge).url();
        Ok(LoginRequest {
            url: url.to_string(),
            state,
            nonce,
            pkce_verifier: verifier.secret().clone(),
        })
    }

    pub async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &str,
    ) -> Result<TokenSet, ProviderError> {
        let d = self.discovered().await?;
        let req = d
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| ProviderError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
        let resp = req.request_async(&self.http).await.map_err(token_error)?;
        Ok(token_set(&resp))
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, ProviderError> {
        let d = self.discovered().await?;
        let token = RefreshToken::new(refresh_token.to_owned());
        let req = d
            .client
            .exchange_refresh_token(&token)
            .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
        let resp = req.request_async(&self.http).await.map_err(token_error)?;
        Ok(token_set(&resp))
    }

    /// The provider's end-session URL for this ID token, if the provider has one. Discovers the provider if
    /// this instance has not yet: the session may have been created by another instance or before a restart.
    pub async fn logout_url(&self, id_token: Option<&str>) -> Option<String> {
        let d = self.discovered().await.ok()?;
        let end_session = d.end_session.clone()?;
        let mut req = LogoutRequest::from(end_session)
            .set_client_id(ClientId::new(self.settings.client_id.clone()));
        if let Ok(uri) = PostLogoutRedirectUrl::new(self.post_logout_redirect_uri.clone()) {
            req = req.set_post_logout_redirect_uri(uri);
        }
        // The provider only skips its confirmation page when it recognizes the hint.
        let hint = id_token.and_then(|t| t.parse::<openidconnect::core::CoreIdToken>().ok());
        let req = match &hint {
            Some(h) => req.set_id_token_hint(h),
            None => req,
        };
        Some(req.http_get_url().to_string())
    }

    /// Verifies an ID token from a code exchange: signature, `iss`, `aud`/`azp`, `exp` (60 s leeway), `nonce`.
    pub async fn verify_id_token(
        &self,
        token: &str,
        expected_nonce: Option<&str>,
    ) -> Result<ProviderClaims, JwtError> {
        let client_id = self.settings.client_id.clone();
        let claims: ProviderClaims = self.verify_jwt(token, &client_id).await?.claims;
        let audiences = claims.audiences();
        // OIDC Core §3.1.3.7: several audiences need an `azp`, and an `azp` must be this client.
        if (audiences.len() > 1 && claims.azp.is_none())
            || claims.azp.as_deref().is_some_and(|azp| azp != client_id)
        {
            return Err(JwtError::Invalid(
                "the ID token was issued to another client (azp)".into(),
            ));
        }
        if let Some(expected) = expected_nonce {
            let matches = claims
                .nonce
                .as_deref()
                .is_some_and(|n| crypto::constant_time_eq(n, expected));
            if !matches {
                return Err(JwtError::Invalid(
                    "the ID token's nonce does not match the login".into(),
                ));
            }
        }
        Ok(claims)
    }

    /// Verifies one of the provider's access tokens presented as a Bearer token.
    pub async fn verify_access_token(&self, token: &str) -> Result<ProviderClaims, JwtError> {
        let audience = self.settings.audience.clone();
        let TokenData { header, claims } = self.verify_jwt(token, &audience).await?;
        // By default the accepted audience is the client id, which the provider's ID tokens carry too. An ID
        // token proves a login to Keyward; it is no API credential (and it travels in logout URLs).
        if looks_like_id_token(&claims, header.typ.as_deref(), self.settings.provider) {
            return Err(JwtError::Invalid(
                "an ID token is not an access token; send the provider's access token".into(),
            ));
        }
        Ok(claims)
    }

    async fn verify_jwt<T: DeserializeOwned>(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<TokenData<T>, JwtError> {
        let header = decode_header(token)
            .map_err(|e| JwtError::Invalid(format!("not a usable JWT: {e}")))?;
        if !is_asymmetric(header.alg) {
            return Err(JwtError::Invalid(format!(
                "tokens signed with {:?} are not accepted",
                header.alg
            )));
        }
        let jwk = self.key_for(header.kid.as_deref(), header.alg).await?;
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|e| JwtError::Invalid(format!("the provider's key is unusable: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.settings.issuer.as_str()]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        decode(token, &key, &validation).map_err(|e| JwtError::Invalid(describe_jwt_error(&e)))
    }

    /// The key for `kid`: from the cache, or from a fresh JWKS when the cache does not know it.
    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<Jwk, JwtError> {
        let find = |keys: &Keys| -> Option<Jwk> {
            keys.set
                .keys
                .iter()
                .find(|k| match kid {
                    Some(kid) => k.common.key_id.as_deref() == Some(kid),
                    // Without a kid, a provider with one key of the right kind is unambiguous.
                    None => key_fits(k, alg),
                })
                .cloned()
        };
        let cached = self.keys.read().ok().and_then(|k| k.clone());
        if let Some(keys) = &cached
            && let Some(jwk) = find(keys)
            && keys.fetched_at.elapsed() < JWKS_MAX_AGE
        {
            return Ok(jwk);
        }
        let _one_fetch_at_a_time = self.key_fetch.lock().await;
        // Someone else may have fetched while this request waited.
        let current = self.keys.read().ok().and_then(|k| k.clone());
        if let Some(keys) = &current
            && let Some(jwk) = find(keys)
            && keys.fetched_at.elapsed() < JWKS_MAX_AGE
            && current.as_ref().map(Arc::as_ptr) != cached.as_ref().map(Arc::as_ptr)
        {
            return Ok(jwk);
        }
        let first_fetch = current.is_none();
        if !first_fetch && self.refetch_budget.check().is_err() {
            // Out of budget: a known key keeps working, an unknown one is refused for now.
            return current
                .as_deref()
                .and_then(find)
                .ok_or_else(|| JwtError::Invalid("the token's signing key is unknown".into()));
        }
        let d = self.discovered().await?;
        match self.get_json::<JwkSet>(&d.jwks_uri).await {
            Ok(set) => {
                let keys = Arc::new(Keys {
                    set,
                    fetched_at: Instant::now(),
                });
                if let Ok(mut slot) = self.keys.write() {
                    *slot = Some(keys.clone());
                }
                find(&keys)
                    .ok_or_else(|| JwtError::Invalid("the token's signing key is unknown".into()))
            }
            // The provider is away: keys already known keep verifying tokens, and requests waiting behind
            // this fetch use them at once; the next attempt is a minute away.
            Err(err) => match current.as_deref().and_then(find) {
                Some(jwk) => {
                    if let Some(known) = &current
                        && let Ok(mut slot) = self.keys.write()
                    {
                        *slot = Some(Arc::new(Keys {
                            set: known.set.clone(),
                            fetched_at: Instant::now()
                                .checked_sub(JWKS_MAX_AGE - JWKS_RETRY_AFTER)
                                .unwrap_or(known.fetched_at),
                        }));
                    }
                    Ok(jwk)
                }
                None if first_fetch => Err(err.into()),
                None => Err(JwtError::Invalid(
                    "the token's signing key is unknown".into(),
                )),
            },
        }
    }
}

/// ID tokens carry the login's `nonce` (Keyward always sends one) and Keycloak marks them `typ: ID`; access
/// tokens are marked `at+jwt` (RFC 9068) or, by Keycloak, `typ: Bearer`.
fn looks_like_id_token(
    claims: &ProviderClaims,
    header_typ: Option<&str>,
    kind: ProviderKind,
) -> bool {
    let typ = claims.typ.as_deref().unwrap_or_default();
    if typ.eq_ignore_ascii_case("id") {
        return true;
    }
    let marked_access = typ.eq_ignore_ascii_case("bearer")
        || header_typ.is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        });
    // Authentik's access tokens may repeat the ID token's claims, nonce included, with no marker: there the
    // nonce tells nothing apart.
    claims.nonce.is_some() && !marked_access && kind != ProviderKind::Authentik
}

fn is_asymmetric(alg: Algorithm) -> bool {
    !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn key_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    use jsonwebtoken::jwk::AlgorithmParameters as P;
    matches!(
        (&jwk.algorithm, alg),
        (
            P::RSA(_),
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ) | (P::EllipticCurve(_), Algorithm::ES256 | Algorithm::ES384)
            | (P::OctetKeyPair(_), Algorithm::EdDSA)
    )
}

/// A short reason for logs, audit and the 401 detail; never the token itself.
pub fn describe_jwt_error(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "the token has expired".into(),
        K::ImmatureSignature => "the token is not valid yet".into(),
        K::InvalidIssuer => "the token was issued by someone else (iss)".into(),
        K::InvalidAudience => "the token is meant for another audience (aud)".into(),
        K::InvalidSignature => "the token's signature does not verify".into(),
        K::MissingRequiredClaim(c) => format!("the token lacks the `{c}` claim"),
        K::InvalidAlgorithm => "the token's algorithm does not match its key".into(),
        other => format!("the token is not valid: {other:?}"),
    }
}

fn token_set(resp: &openidconnect::core::CoreTokenResponse) -> TokenSet {
    TokenSet {
        access_token: resp.access_token().secret().clone(),
        id_token: resp.id_token().map(|t| t.to_string()),
        refresh_token: resp.refresh_token().map(|t| t.secret().clone()),
        access_token_expires_in: resp.expires_in(),
    }
}

fn token_error<RE: std::error::Error + 'static>(
    err: RequestTokenError<RE, openidconnect::StandardErrorResponse<CoreErrorResponseType>>,
) -> ProviderError {
    match err {
        RequestTokenError::ServerResponse(resp) => {
            let code = resp.error().as_ref().to_owned();
            match resp.error_description() {
                Some(desc) => ProviderError::Refused(format!("{code}: {desc}")),
                None => ProviderError::Refused(code),
            }
        }
        RequestTokenError::Request(e) => ProviderError::Unavailable(e.to_string()),
        RequestTokenError::Parse(e, _) => {
            ProviderError::Unavailable(format!("unreadable token response: {e}"))
        }
        RequestTokenError::Other(e) => ProviderError::Unavailable(e),
    }
}

/// Groups and realm roles from an access token received straight from the token endpoint. Keycloak puts
/// `realm_access.roles` only there by default. The token came over the back channel from the provider
/// itself (OIDC Core §3.1.3.7: TLS authenticates it), so its claims are read without a signature check;
/// an opaque token yields nothing.
pub fn access_token_groups(access_token: &str) -> (Option<Vec<String>>, Option<RealmAccess>) {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    #[derive(Deserialize)]
    struct Claims {
        #[serde(default)]
        groups: Option<Vec<String>>,
        #[serde(default)]
        realm_access: Option<RealmAccess>,
    }
    access_token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Claims>(&b).ok())
        .map(|c| (c.groups, c.realm_access))
        .unwrap_or((None, None))
}

/// Checks the issuer URL parses as openidconnect wants it (done once, at start-up).
pub fn check_issuer(issuer: &str) -> Result<(), String> {
    IssuerUrl::new(issuer.to_owned())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: serde_json::Value) -> ProviderClaims {
        serde_json::from_value(json).expect("claims")
    }

    #[test]
    fn id_tokens_are_told_from_access_tokens() {
        let keycloak_id = claims(serde_json::json!({"sub": "s", "typ": "ID", "nonce": "n"}));
        let keycloak_access =
            claims(serde_json::json!({"sub": "s", "typ": "Bearer", "nonce": "n"}));
        let plain_id = claims(serde_json::json!({"sub": "s", "nonce": "n"}));
        let plain_access = claims(serde_json::json!({"sub": "s"}));
        for kind in [
            ProviderKind::Keycloak,
            ProviderKind::Generic,
            ProviderKind::Authentik,
        ] {
            assert!(looks_like_id_token(&keycloak_id, None, kind));
            assert!(!looks_like_id_token(&keycloak_access, None, kind));
            assert!(!looks_like_id_token(&plain_access, None, kind));
            assert!(!looks_like_id_token(&plain_id, Some("at+jwt"), kind));
        }
        assert!(looks_like_id_token(
            &plain_id,
            Some("JWT"),
            ProviderKind::Generic
        ));
        assert!(looks_like_id_token(&plain_id, None, ProviderKind::Keycloak));
        assert!(!looks_like_id_token(
            &plain_id,
            None,
            ProviderKind::Authentik
        ));
    }
}
