//! The provider's key sets and the verification of its JWTs: ID tokens from a code exchange and access
//! tokens presented as Bearer tokens, checked against a cached JWKS that is re-fetched when a new key id
//! shows up.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, TokenData, Validation, decode, decode_header,
    jwk::{Jwk, JwkSet},
};
use serde::de::DeserializeOwned;

use super::{JwtError, LEEWAY_SECS, Provider, ProviderClaims};
use crate::{config::ProviderKind, crypto};

/// The claims every ID and access token must carry.
const WITH_SUB: &[&str] = &["exp", "iss", "aud", "sub"];
/// Known keys are re-fetched after this long even without an unknown `kid`, so removed keys stop working.
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
/// After a failed re-fetch of known keys, how long they are used before the next attempt.
const JWKS_RETRY_AFTER: Duration = Duration::from_secs(60);

pub(super) struct Keys {
    set: JwkSet,
    fetched_at: Instant,
}

impl Provider {
    /// Verifies an ID token from a code exchange: signature, `iss`, `aud`/`azp`, `exp` (60 s leeway), `nonce`.
    pub async fn verify_id_token(
        &self,
        token: &str,
        expected_nonce: Option<&str>,
    ) -> Result<ProviderClaims, JwtError> {
        let client_id = self.settings.client_id.clone();
        let claims: ProviderClaims = self.verify_jwt(token, &client_id, WITH_SUB).await?.claims;
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
        let TokenData { header, claims } = self.verify_jwt(token, &audience, WITH_SUB).await?;
        // By default the accepted audience is the client id, which the provider's ID tokens carry too. An ID
        // token proves a login to Keyward; it is no API credential (and it travels in logout URLs).
        if looks_like_id_token(&claims, header.typ.as_deref(), self.settings.provider) {
            return Err(JwtError::Invalid(
                "an ID token is not an access token; send the provider's access token".into(),
            ));
        }
        Ok(claims)
    }

    /// Verifies a back-channel logout token's signature, `iss`, `aud` (the client id) and `exp`; the claims
    /// particular to logout tokens are the caller's to check.
    pub async fn verify_logout_token<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<T, JwtError> {
        let client_id = self.settings.client_id.clone();
        // A logout token may name only the session (`sid`), not the user.
        Ok(self
            .verify_jwt(token, &client_id, &["exp", "iss", "aud"])
            .await?
            .claims)
    }

    async fn verify_jwt<T: DeserializeOwned>(
        &self,
        token: &str,
        audience: &str,
        required: &[&str],
    ) -> Result<TokenData<T>, JwtError> {
        let header = decode_header(token).map_err(|e| JwtError::Invalid(describe_jwt_error(&e)))?;
        if !is_asymmetric(header.alg) {
            return Err(JwtError::Invalid(format!(
                "tokens signed with {:?} are not accepted",
                header.alg
            )));
        }
        let jwk = self.key_for(header.kid.as_deref(), header.alg).await?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| {
            tracing::warn!(error = ?e, "the provider published a key that cannot verify tokens");
            JwtError::Invalid("the provider's signing key is unusable".into())
        })?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.settings.issuer.as_str()]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(required);
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
    // The library's own text names its internals (serde variants, base64 offsets): it goes to the log only.
    tracing::debug!(error = ?e, "token refused");
    match e.kind() {
        K::ExpiredSignature => "the token has expired".into(),
        K::ImmatureSignature => "the token is not valid yet".into(),
        K::InvalidIssuer => "the token was issued by someone else (iss)".into(),
        K::InvalidAudience => "the token is meant for another audience (aud)".into(),
        K::InvalidSignature => "the token's signature does not verify".into(),
        K::MissingRequiredClaim(c) => format!("the token lacks the `{c}` claim"),
        K::InvalidAlgorithm | K::MissingAlgorithm => {
            "the token's algorithm does not match its key".into()
        }
        K::InvalidToken => "the token is not a JWT (three base64url parts)".into(),
        K::Base64(_) | K::Utf8(_) => "the token is not valid base64url text".into(),
        K::Json(_) => "the token's header or claims are malformed, or name an algorithm Keyward does not accept"
            .into(),
        _ => "the token is not valid".into(),
    }
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
