//! OpenID Connect settings: the provider Keyward delegates login to, which family it belongs to, and the
//! scopes and audience it asks for.

use url::Url;

use super::{
    ConfigError,
    vars::{Vars, parse_public_url},
};

/// Which provider family the issuer belongs to: decides the claims roles come from and the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Keycloak,
    Authentik,
    Generic,
}

impl ProviderKind {
    /// What the issuer's path shows: `/realms/` is Keycloak, `/application/o/` is Authentik.
    pub fn from_issuer(issuer: &Url) -> Self {
        let path = issuer.path();
        if path.contains("/realms/") {
            Self::Keycloak
        } else if path.contains("/application/o/") {
            Self::Authentik
        } else {
            Self::Generic
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Keycloak => "keycloak",
            Self::Authentik => "authentik",
            Self::Generic => "generic",
        }
    }
}

#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// Exactly as configured: Authentik's issuer keeps its trailing slash and must match the tokens' `iss`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub provider: ProviderKind,
    pub scopes: Vec<String>,
    /// The `aud` accepted in the provider's access tokens.
    pub audience: String,
}

/// Login settings. A missing issuer or client id is not an error: Keyward runs without login and says why.
pub(super) fn read<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
) -> Result<Result<OidcSettings, String>, ConfigError> {
    let issuer = vars.get("KEYWARD_OIDC_ISSUER");
    let client_id = vars.get("KEYWARD_OIDC_CLIENT_ID");
    let (issuer, client_id) = match (issuer, client_id) {
        (Some(i), Some(c)) => (i, c),
        (i, c) => {
            let missing: Vec<&str> = [
                i.is_none().then_some("KEYWARD_OIDC_ISSUER"),
                c.is_none().then_some("KEYWARD_OIDC_CLIENT_ID"),
            ]
            .into_iter()
            .flatten()
            .collect();
            return Ok(Err(format!(
                "login is not configured: set {}",
                missing.join(" and ")
            )));
        }
    };
    let issuer_url = parse_public_url(&issuer).ok_or_else(|| ConfigError {
        var: "KEYWARD_OIDC_ISSUER",
        value: issuer.clone(),
        expected: "the provider's issuer URL, such as https://sso.example.com/realms/myrealm"
            .into(),
    })?;
    let provider = match vars.get("KEYWARD_OIDC_PROVIDER").as_deref() {
        None => ProviderKind::from_issuer(&issuer_url),
        Some("keycloak") => ProviderKind::Keycloak,
        Some("authentik") => ProviderKind::Authentik,
        Some("generic") => ProviderKind::Generic,
        Some(other) => {
            return Err(ConfigError {
                var: "KEYWARD_OIDC_PROVIDER",
                value: other.into(),
                expected: "keycloak, authentik or generic".into(),
            });
        }
    };
    let scopes_raw = vars
        .get("KEYWARD_OIDC_SCOPES")
        .unwrap_or_else(|| "openid profile email".into());
    let scopes: Vec<String> = scopes_raw
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(ConfigError {
            var: "KEYWARD_OIDC_SCOPES",
            value: scopes_raw,
            expected: "space-separated scopes including openid".into(),
        });
    }
    let audience = vars
        .get("KEYWARD_OIDC_AUDIENCE")
        .unwrap_or_else(|| client_id.clone());
    Ok(Ok(OidcSettings {
        issuer,
        client_id,
        client_secret: vars.get("KEYWARD_OIDC_CLIENT_SECRET"),
        provider,
        scopes,
        audience,
    }))
}

#[cfg(test)]
mod tests {
    use super::ProviderKind;
    use crate::config::tests::config;

    #[test]
    fn the_provider_kind_follows_the_issuer_path_unless_set() {
        let kind = |issuer: &str, set: Option<&str>| {
            let mut pairs = vec![
                ("KEYWARD_OIDC_ISSUER", issuer),
                ("KEYWARD_OIDC_CLIENT_ID", "keyward"),
            ];
            if let Some(p) = set {
                pairs.push(("KEYWARD_OIDC_PROVIDER", p));
            }
            config(&pairs).unwrap().oidc.unwrap().provider
        };
        assert_eq!(kind("https://h/realms/r", None), ProviderKind::Keycloak);
        assert_eq!(
            kind("https://h/application/o/app/", None),
            ProviderKind::Authentik
        );
        assert_eq!(
            kind("https://accounts.example.com", None),
            ProviderKind::Generic
        );
        assert_eq!(
            kind("https://h/realms/r", Some("generic")),
            ProviderKind::Generic
        );
        let o = config(&[
            ("KEYWARD_OIDC_ISSUER", "https://h/application/o/app/"),
            ("KEYWARD_OIDC_CLIENT_ID", "keyward"),
        ])
        .unwrap()
        .oidc
        .unwrap();
        assert_eq!(
            o.issuer, "https://h/application/o/app/",
            "trailing slash kept"
        );
        assert_eq!(o.audience, "keyward");
        assert_eq!(o.scopes, ["openid", "profile", "email"]);
    }
}
