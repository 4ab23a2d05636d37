//! Which directory a sync reads: where the provider's admin API lives and how to log in to it, and the pager
//! that lists it.

use crate::config::{OidcSettings, ProviderKind, SyncSettings};

use super::{
    StartError, Syncer,
    authentik::AuthentikDirectory,
    directory::{self, DirectoryError, DirectoryProvider},
    keycloak::KeycloakDirectory,
};

/// Where the directory lives and how to log in to it.
#[derive(Debug, Clone)]
pub(super) enum Target {
    Keycloak {
        base: String,
        realm: String,
        client_id: String,
        client_secret: String,
    },
    Authentik {
        base: String,
        token: String,
    },
    Unavailable(String),
}

pub(super) fn target(oidc: &Result<OidcSettings, String>, sync: &SyncSettings) -> Target {
    let Ok(oidc) = oidc else {
        return Target::Unavailable("no directory provider: login is not configured".into());
    };
    let issuer = oidc.issuer.trim_end_matches('/');
    match oidc.provider {
        ProviderKind::Keycloak => {
            let Some((server, realm)) = issuer.rsplit_once("/realms/") else {
                return Target::Unavailable(format!(
                    "no directory provider: cannot find the realm in {issuer}"
                ));
            };
            // The configuration has both admin settings or neither.
            let (client_id, client_secret) = match &sync.admin_client_id {
                Some(id) => (id.clone(), sync.admin_client_secret.clone()),
                None => (oidc.client_id.clone(), oidc.client_secret.clone()),
            };
            let Some(client_secret) = client_secret else {
                return Target::Unavailable(
                    "no directory provider: set KEYWARD_IDP_ADMIN_CLIENT_ID and KEYWARD_IDP_ADMIN_CLIENT_SECRET (or KEYWARD_OIDC_CLIENT_SECRET)".into(),
                );
            };
            Target::Keycloak {
                base: admin_base(sync, server),
                realm: realm.to_owned(),
                client_id,
                client_secret,
            }
        }
        ProviderKind::Authentik => {
            let Some(token) = sync.admin_token.clone() else {
                return Target::Unavailable(
                    "no directory provider: set KEYWARD_IDP_ADMIN_TOKEN for Authentik's API".into(),
                );
            };
            let server = issuer.split("/application/o/").next().unwrap_or(issuer);
            Target::Authentik {
                base: admin_base(sync, server),
                token,
            }
        }
        ProviderKind::Generic => Target::Unavailable(
            "no directory provider: a generic OpenID provider has no admin API to sync from".into(),
        ),
    }
}

/// A directory pager of either kind.
pub(super) enum Directory {
    Keycloak(KeycloakDirectory),
    Authentik(AuthentikDirectory),
}

impl Directory {
    pub(super) async fn next_page(&mut self) -> Result<Option<directory::Page>, DirectoryError> {
        match self {
            Self::Keycloak(d) => d.next_page().await,
            Self::Authentik(d) => d.next_page().await,
        }
    }

    /// Authentik lists each user's groups only when asked: when roles are mapped from them.
    pub(super) fn with_groups(self, yes: bool) -> Self {
        match self {
            Self::Authentik(d) => Self::Authentik(d.with_groups(yes)),
            keycloak => keycloak,
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::Keycloak(d) => d.name(),
            Self::Authentik(d) => d.name(),
        }
    }

    pub(super) fn expected(&self) -> Option<u64> {
        match self {
            Self::Keycloak(d) => d.expected(),
            Self::Authentik(d) => d.expected(),
        }
    }
}

impl Syncer {
    pub(super) fn directory(&self) -> Result<Directory, StartError> {
        let (size, concurrency) = (self.settings.page_size, self.settings.concurrency);
        match &self.target {
            Target::Keycloak {
                base,
                realm,
                client_id,
                client_secret,
            } => Ok(Directory::Keycloak(KeycloakDirectory::new(
                self.http.clone(),
                base,
                realm,
                client_id.clone(),
                client_secret.clone(),
                size,
                concurrency,
            ))),
            Target::Authentik { base, token } => Ok(Directory::Authentik(AuthentikDirectory::new(
                self.http.clone(),
                base,
                token.clone(),
                size,
                concurrency,
            ))),
            Target::Unavailable(why) => Err(StartError::NoDirectory(why.clone())),
        }
    }
}

/// Where the admin API lives: `KEYWARD_IDP_ADMIN_URL` when set, else the server the issuer names.
fn admin_base(sync: &SyncSettings, server: &str) -> String {
    sync.admin_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| server.to_owned())
}
