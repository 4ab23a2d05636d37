//! Secrets at rest: the master secret key, the sub-keys derived from it with HKDF, authenticated encryption
//! for what Keyward must store but never show (provider refresh tokens, its own signing key), and random tokens.

use crate::db::Db;
use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use entity::keyward_settings;
use hkdf::Hkdf;
use rand::{RngCore, rngs::OsRng};
use sea_orm::{ActiveValue::Set, DbErr, EntityTrait, sea_query::OnConflict};
use sha2::{Digest, Sha256};

use crate::config::SecretKey;

const GENERATED_KEY_SETTING: &str = "secret_key";

/// What a sealed value is for. Each purpose has its own key, and the purpose (plus a context such as the
/// session id) is bound into the ciphertext, so a value copied to another row or column does not open.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    RefreshToken,
    SigningKey,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::RefreshToken => b"keyward refresh-token v1",
            Self::SigningKey => b"keyward signing-key v1",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a sealed value could not be opened: wrong secret key or tampered data")]
pub struct OpenError;

/// The ciphers derived from the secret key.
pub struct Vault {
    refresh_tokens: Aes256Gcm,
    signing_keys: Aes256Gcm,
}

impl Vault {
    pub fn new(secret: &SecretKey) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"keyward"), &secret.0);
        let derive = |purpose: Purpose| {
            let mut okm = [0u8; 32];
            // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
            let _ = hk.expand(purpose.label(), &mut okm);
            Aes256Gcm::new(&okm.into())
        };
        Self {
            refresh_tokens: derive(Purpose::RefreshToken),
            signing_keys: derive(Purpose::SigningKey),
        }
    }

    fn cipher(&self, purpose: Purpose) -> &Aes256Gcm {
        match purpose {
            Purpose::RefreshToken => &self.refresh_tokens,
            Purpose::SigningKey => &self.signing_keys,
        }
    }

    /// Encrypts `plaintext`; the result is text (base64url of nonce and ciphertext) for a text column.
    pub fn seal(&self, purpose: Purpose, context: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let aad = aad(purpose, context);
        // AES-GCM encryption only fails for plaintexts beyond 64 GiB.
        let ciphertext = self
            .cipher(purpose)
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        URL_SAFE_NO_PAD.encode(out)
    }

    pub fn open(
        &self,
        purpose: Purpose,
        context: &str,
        sealed: &str,
    ) -> Result<Vec<u8>, OpenError> {
        let raw = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| OpenError)?;
        if raw.len() < 12 + 16 {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| OpenError)?;
        let aad = aad(purpose, context);
        self.cipher(purpose)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError)
    }
}

fn aad(purpose: Purpose, context: &str) -> Vec<u8> {
    let mut aad = purpose.label().to_vec();
    aad.push(0);
    aad.extend_from_slice(context.as_bytes());
    aad
}

/// `bytes` random bytes as base64url text: session cookies, login state, nonces, PKCE verifiers.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

pub fn sha256_hex(input: &str) -> String {
    hex::encode(Sha256::digest(input.as_bytes()))
}

/// Compares secrets without leaking, through timing, how much of them matched.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The configured secret key, or the one generated for this database (created on first start).
pub async fn load_secret_key(db: &Db, configured: Option<&SecretKey>) -> Result<SecretKey, DbErr> {
    if let Some(key) = configured {
        return Ok(key.clone());
    }
    let mut fresh = [0u8; 32];
    OsRng.fill_bytes(&mut fresh);
    // Instances starting together may both try; the first insert wins and everyone reads it back.
    keyward_settings::Entity::insert(keyward_settings::ActiveModel {
        name: Set(GENERATED_KEY_SETTING.into()),
        value: Set(hex::encode(fresh)),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(keyward_settings::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let stored = keyward_settings::Entity::find_by_id(GENERATED_KEY_SETTING)
        .one(db)
        .await?
        .and_then(|row| hex::decode(row.value).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| DbErr::Custom("the stored secret key is unreadable".into()))?;
    tracing::warn!(
        "KEYWARD_SECRET_KEY is not set: using a generated key stored in the database. Anyone who can read \
         the database can decrypt the refresh tokens and the token-signing key in it. Set KEYWARD_SECRET_KEY \
         (64 hex characters, e.g. `openssl rand -hex 32`) in production."
    );
    Ok(SecretKey(stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(byte: u8) -> Vault {
        Vault::new(&SecretKey([byte; 32]))
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key_purpose_and_context() {
        let v = vault(1);
        let sealed = v.seal(Purpose::RefreshToken, "session-a", b"refresh-me");
        assert!(!sealed.contains("refresh-me"));
        assert_eq!(
            v.open(Purpose::RefreshToken, "session-a", &sealed).unwrap(),
            b"refresh-me"
        );
        assert!(v.open(Purpose::RefreshToken, "session-b", &sealed).is_err());
        assert!(v.open(Purpose::SigningKey, "session-a", &sealed).is_err());
        assert!(
            vault(2)
                .open(Purpose::RefreshToken, "session-a", &sealed)
                .is_err()
        );
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(
            v.open(Purpose::RefreshToken, "session-a", &tampered)
                .is_err()
        );
        assert!(v.open(Purpose::RefreshToken, "session-a", "short").is_err());
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let v = vault(3);
        assert_ne!(
            v.seal(Purpose::SigningKey, "k", b"x"),
            v.seal(Purpose::SigningKey, "k", b"x")
        );
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
        assert!(constant_time_eq(&a, &a.clone()));
        assert!(!constant_time_eq(&a, &random_token(32)));
    }
}
