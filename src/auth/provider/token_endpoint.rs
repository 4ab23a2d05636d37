//! Calls to the provider's authorization and token endpoints: the authorize URL that starts a login, the
//! code and refresh-token exchanges, and the RP-initiated logout URL.

use std::time::Duration;

use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, CsrfToken, LogoutRequest, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, RefreshToken,
    RequestTokenError, Scope, TokenResponse,
    core::{CoreErrorResponseType, CoreResponseType},
};

use super::{Provider, ProviderError};
use crate::crypto;

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

impl Provider {
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

    /// Revokes a refresh token (RFC 7009) when the provider publishes a revocation endpoint, so a logout ends
    /// what Keyward holds at the provider too. Best effort: a failure is logged, the logout goes on.
    pub async fn revoke_refresh_token(&self, refresh_token: &str) {
        let Ok(d) = self.discovered().await else {
            return;
        };
        let Some(endpoint) = &d.revocation else {
            return;
        };
        let client_id = self.settings.client_id.as_str();
        let secret = self.settings.client_secret.as_deref();
        let mut form = vec![
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
        ];
        let mut req = self.http.post(endpoint);
        if d.secret_in_body || secret.is_none() {
            form.push(("client_id", client_id));
            if let Some(secret) = secret {
                form.push(("client_secret", secret));
            }
        } else {
            // RFC 6749 §2.3.1: both halves form-encoded before the Basic encoding.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(client_id), secret.map(enc));
        }
        match req.form(&form).send().await {
            Ok(resp) if resp.status().is_success() => {}
            Ok(resp) => {
                tracing::warn!(status = %resp.status(), "the provider refused to revoke a refresh token");
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "could not revoke a refresh token at the provider");
            }
        }
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
