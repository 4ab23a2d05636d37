//! Discovery of the provider's metadata: fetched lazily, cached, retried after a short pause when it fails,
//! and refreshed at each login.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use openidconnect::{
    AuthType, ClientId, ClientSecret, EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    ProviderMetadataWithLogout,
    core::{CoreClient, CoreClientAuthMethod},
};
use serde::de::DeserializeOwned;

use super::{Provider, ProviderError};

/// After a failed discovery, requests within this window fail fast instead of asking again.
const DISCOVERY_RETRY_AFTER: Duration = Duration::from_secs(2);

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub(super) struct Discovered {
    pub(super) client: Client,
    pub(super) end_session: Option<EndSessionUrl>,
    pub(super) jwks_uri: String,
    /// RFC 7009 token revocation, when the provider publishes it.
    pub(super) revocation: Option<String>,
    /// Whether the client authenticates with `client_secret_post` rather than HTTP Basic.
    pub(super) secret_in_body: bool,
}

impl Provider {
    fn cached(&self) -> Option<Arc<Discovered>> {
        self.discovered.read().ok().and_then(|d| d.clone())
    }

    /// The discovered provider, discovering it first if nobody has yet.
    pub(super) async fn discovered(&self) -> Result<Arc<Discovered>, ProviderError> {
        if let Some(d) = self.cached() {
            return Ok(d);
        }
        self.discover(false).await
    }

    /// Fetches the discovery document. With `fresh`, even when one is cached: `/auth/login` does this, so a
    /// provider that went away answers 503 at once instead of sending the browser to a dead page.
    pub(super) async fn discover(&self, fresh: bool) -> Result<Arc<Discovered>, ProviderError> {
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
        let raw: serde_json::Value = self.get_json(&url).await?;
        // openidconnect's metadata types have no field for the revocation endpoint.
        let revocation = raw
            .get("revocation_endpoint")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let meta: ProviderMetadataWithLogout = serde_json::from_value(raw).map_err(|e| {
            ProviderError::Unavailable(format!("GET {url}: unreadable discovery document: {e}"))
        })?;
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
            revocation,
            secret_in_body: post_supported,
        })
    }

    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, ProviderError> {
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
}
