//! The claims Keyward reads from the provider's tokens, and the groups and realm roles read unverified from
//! an access token that came straight from the token endpoint.

use serde::Deserialize;

/// The claims Keyward reads from the provider's ID and access tokens.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderClaims {
    #[serde(deserialize_with = "crate::text::de_storable_id")]
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
    /// The provider's session id (OIDC Front- and Back-Channel Logout), named again by logout tokens.
    #[serde(default)]
    pub sid: Option<String>,
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

    pub(super) fn audiences(&self) -> Vec<&str> {
        match &self.aud {
            Some(serde_json::Value::String(s)) => vec![s.as_str()],
            Some(serde_json::Value::Array(items)) => {
                items.iter().filter_map(|v| v.as_str()).collect()
            }
            _ => Vec::new(),
        }
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
