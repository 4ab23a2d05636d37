//! Keyward's own API tokens: short-lived EdDSA JWTs for the SPA, signed with a key kept in the database
//! (its private half sealed with the secret key) so tokens survive restarts and every instance can verify them.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::db::Db;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use ed25519_dalek::{SigningKey, pkcs8::EncodePrivateKey};
use entity::{signing_keys, users};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use rand::{RngCore, rngs::OsRng};
use sea_orm::{ActiveValue::Set, DbErr, EntityTrait, QueryOrder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::{
    auth::provider::describe_jwt_error,
    crypto::{Purpose, Vault},
};

pub const ALGORITHM: &str = "EdDSA";
/// Clock skew tolerated between Keyward instances.
const LEEWAY_SECS: u64 = 30;

/// The claims of a Keyward API token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiClaims {
    pub iss: String,
    /// The Keyward user id.
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    /// The public id of the session the token was minted from: the token dies with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A public key as `/.well-known/jwks.json` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PublicJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

struct Signer {
    kid: String,
    key: EncodingKey,
}

pub struct TokenIssuer {
    /// `iss` and `aud` of every token: Keyward's public URL.
    issuer: String,
    ttl: Duration,
    signer: Signer,
    verifiers: RwLock<HashMap<String, DecodingKey>>,
    reload: Mutex<()>,
    /// A token with an unknown `kid` makes this instance look for keys other instances made, within limits.
    reload_budget: DefaultDirectRateLimiter,
    /// Tokens already verified, by SHA-256, until they expire: an SPA sends the same token many times, and a
    /// hash costs far less than a signature check. Only the verification is cached; the user's active flag
    /// and permissions are checked on every request.
    verified: RwLock<HashMap<[u8; 32], Arc<ApiClaims>>>,
}

/// Past this many verified tokens the cache starts over.
const MAX_VERIFIED: usize = 100_000;

impl TokenIssuer {
    /// Loads the signing keys; creates one when none can be used (first start, or a changed secret key).
    pub async fn load(
        db: &Db,
        vault: &Vault,
        issuer: String,
        ttl: Duration,
    ) -> Result<Self, DbErr> {
        let rows = signing_keys::Entity::find()
            .order_by_desc(signing_keys::Column::CreatedAt)
            .all(db)
            .await?;
        let signer = rows.iter().find_map(|row| {
            let seed = vault
                .open(Purpose::SigningKey, &row.kid, &row.private_key)
                .ok()?;
            let seed: [u8; 32] = seed.try_into().ok()?;
            signer_from_seed(&row.kid, &seed)
        });
        let signer = match signer {
            Some(s) => s,
            None => {
                if !rows.is_empty() {
                    tracing::warn!(
                        "no stored token-signing key opens with the current secret key; creating a new one \
                         (tokens signed before keep verifying until they expire)"
                    );
                }
                create_key(db, vault).await?
            }
        };
        let issuer = Self {
            issuer,
            ttl,
            signer,
            verifiers: RwLock::new(HashMap::new()),
            reload: Mutex::new(()),
            verified: RwLock::new(HashMap::new()),
            reload_budget: RateLimiter::direct(
                Quota::per_minute(NonZeroU32::new(6).unwrap_or(NonZeroU32::MIN))
                    .allow_burst(NonZeroU32::new(3).unwrap_or(NonZeroU32::MIN)),
            ),
        };
        issuer.reload_verifiers(db).await?;
        Ok(issuer)
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(
        &self,
        user: &users::Model,
        roles: Vec<String>,
        session: uuid::Uuid,
    ) -> Result<String, String> {
        let mut claims = self.claims_for(user, roles);
        claims.sid = Some(session.to_string());
        self.sign(&claims)
    }

    /// The claims a token for `user` carries now, bound to no session yet.
    pub fn claims_for(&self, user: &users::Model, roles: Vec<String>) -> ApiClaims {
        let now = unix_now();
        ApiClaims {
            iss: self.issuer.clone(),
            sub: user.id.to_string(),
            aud: self.issuer.clone(),
            exp: now + self.ttl.as_secs(),
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: None,
            email: user.email.clone(),
            name: user.display_name.clone(),
            roles,
        }
    }

    /// Signs `claims` with the current key.
    pub fn sign(&self, claims: &ApiClaims) -> Result<String, String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signer.kid.clone());
        encode(&header, claims, &self.signer.key).map_err(|e| e.to_string())
    }

    /// A token this instance verified before and that has not expired since: no parsing, no signature check.
    pub fn already_verified(&self, token: &str) -> Option<Arc<ApiClaims>> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.verified
            .read()
            .ok()
            .and_then(|m| m.get(&digest).cloned())
            .filter(|claims| claims.exp + LEEWAY_SECS > unix_now())
    }

    /// Checks a Keyward token: EdDSA only, a known key, our `iss` and `aud`, not expired.
    pub async fn verify(&self, db: &Db, token: &str) -> Result<Arc<ApiClaims>, String> {
        if let Some(claims) = self.already_verified(token) {
            return Ok(claims);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let claims = Arc::new(self.verify_uncached(db, token).await?);
        if let Ok(mut map) = self.verified.write() {
            if map.len() >= MAX_VERIFIED {
                let now = unix_now();
                map.retain(|_, c| c.exp + LEEWAY_SECS > now);
                if map.len() >= MAX_VERIFIED {
                    map.clear();
                }
            }
            map.insert(digest, claims.clone());
        }
        Ok(claims)
    }

    async fn verify_uncached(&self, db: &Db, token: &str) -> Result<ApiClaims, String> {
        let header = decode_header(token).map_err(|e| describe_jwt_error(&e))?;
        if header.alg != Algorithm::EdDSA {
            return Err(format!("Keyward tokens are EdDSA, not {:?}", header.alg));
        }
        let kid = header.kid.ok_or("the token has no key id")?;
        let key = match self.verifier(&kid) {
            Some(key) => key,
            None => {
                let _one_at_a_time = self.reload.lock().await;
                if self.verifier(&kid).is_none() && self.reload_budget.check().is_ok() {
                    self.reload_verifiers(db).await.map_err(|e| {
                        tracing::warn!(error = %e, "could not reload the token-signing keys");
                        "the token's signing key could not be looked up; try again".to_owned()
                    })?;
                }
                self.verifier(&kid)
                    .ok_or("the token's signing key is unknown")?
            }
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_audience(&[self.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        decode::<ApiClaims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| describe_jwt_error(&e))
    }

    fn verifier(&self, kid: &str) -> Option<DecodingKey> {
        self.verifiers.read().ok()?.get(kid).cloned()
    }

    async fn reload_verifiers(&self, db: &Db) -> Result<(), DbErr> {
        let keys = public_keys(db).await?;
        let map = keys
            .into_iter()
            .filter_map(|jwk| {
                let key = DecodingKey::from_ed_components(&jwk.x).ok()?;
                Some((jwk.kid, key))
            })
            .collect();
        if let Ok(mut slot) = self.verifiers.write() {
            *slot = map;
        }
        Ok(())
    }
}

/// Every public key in the database, newest first: what `/.well-known/jwks.json` publishes.
pub async fn public_keys(db: &Db) -> Result<Vec<PublicJwk>, DbErr> {
    let rows = signing_keys::Entity::find()
        .order_by_desc(signing_keys::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| serde_json::from_str(&row.public_jwk).ok())
        .collect())
}

fn signer_from_seed(kid: &str, seed: &[u8; 32]) -> Option<Signer> {
    let der = SigningKey::from_bytes(seed).to_pkcs8_der().ok()?;
    Some(Signer {
        kid: kid.to_owned(),
        key: EncodingKey::from_ed_der(der.as_bytes()),
    })
}

async fn create_key(db: &Db, vault: &Vault) -> Result<Signer, DbErr> {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    // RFC 7638-style: the kid is derived from the public key, so it names the key and nothing else.
    let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..16]);
    let jwk = PublicJwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: URL_SAFE_NO_PAD.encode(public),
        kid: kid.clone(),
        alg: ALGORITHM.into(),
        use_: "sig".into(),
    };
    let public_jwk = serde_json::to_string(&jwk).map_err(|e| DbErr::Custom(e.to_string()))?;
    signing_keys::Entity::insert(signing_keys::ActiveModel {
        kid: Set(kid.clone()),
        algorithm: Set(ALGORITHM.into()),
        private_key: Set(vault.seal(Purpose::SigningKey, &kid, &seed)),
        public_jwk: Set(public_jwk),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(db)
    .await?;
    tracing::info!(kid, "created a new token-signing key");
    signer_from_seed(&kid, &seed)
        .ok_or_else(|| DbErr::Custom("cannot encode the signing key".into()))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
