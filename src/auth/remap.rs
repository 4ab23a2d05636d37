//! Provider-mapped roles kept current between logins: re-evaluated from the tokens each refresh brings, and
//! set at the first sight of a provider access token, with the same rules and audit as at login.

use entity::users;
use sea_orm::DbErr;

use super::{
    Auth,
    provider::{Provider, ProviderClaims, TokenSet, access_token_groups},
};
use crate::{
    audit::Origin,
    rbac::{
        login_grants,
        mapping::{self, MappedBy},
        store,
    },
};

impl Auth {
    /// Sets the user's provider grants from the groups and realm roles the refreshed tokens carry, and says
    /// whether they changed. Tokens that cannot be trusted for it leave the grants as they are.
    pub(super) async fn remap_after_refresh(
        &self,
        db: &crate::db::Db,
        provider: &Provider,
        user: &users::Model,
        tokens: &TokenSet,
        origin: &Origin,
    ) -> Result<bool, DbErr> {
        let Some(claims) = refreshed_claims(provider, tokens).await else {
            return Ok(false);
        };
        if claims.sub != user.subject {
            tracing::warn!(user_id = %user.id, "a refresh returned tokens for another subject; mapping left as is");
            return Ok(false);
        }
        let groups = login_grants::provider_groups(&claims, provider.settings().provider);
        let change = store::set_provider_roles(db, user.id, &groups).await?;
        if change.changed() {
            self.access.changed(db).await?;
        }
        mapping::record(db, origin, user, &change, MappedBy::Refresh).await;
        Ok(change.changed())
    }

    /// The grants a first login would bring, for a user first seen through a provider access token.
    pub(super) async fn first_bearer_grants(
        &self,
        db: &crate::db::Db,
        provider: &Provider,
        user: &users::Model,
        created: bool,
        claims: &ProviderClaims,
    ) -> Result<(), DbErr> {
        let groups = login_grants::provider_groups(claims, provider.settings().provider);
        let grants =
            login_grants::on_login(db, user, created, Some(&groups), &self.bootstrap_admins)
                .await?;
        if grants.changed {
            self.access.changed(db).await?;
        }
        let origin = Origin::default();
        mapping::record(db, &origin, user, &grants.mapping, MappedBy::Bearer).await;
        Ok(())
    }
}

/// The claims a refresh's groups are read from. The refreshed ID token, verified as at login (its `nonce`
/// aside: OIDC Core §12.2 leaves it out of refreshed ID tokens), with Keycloak's realm roles from the access
/// token that came with it when the ID token leaves them out. A refresh need not return an ID token
/// (§12.2): then the access token's claims, if it is a JWT the provider signed for this client. Otherwise,
/// or when verification fails, `None`: the mapping stays as the last login or refresh left it, until the
/// next refresh with an ID token, the next login or the next sync.
async fn refreshed_claims(provider: &Provider, tokens: &TokenSet) -> Option<ProviderClaims> {
    let Some(id_token) = &tokens.id_token else {
        return match provider.verify_access_token(&tokens.access_token).await {
            Ok(claims) => Some(claims),
            Err(e) => {
                tracing::info!(error = %e, "a refresh returned no ID token and no verifiable access token; mapped roles left as they are");
                None
            }
        };
    };
    match provider.verify_id_token(id_token, None).await {
        Ok(mut claims) => {
            let (groups, realm_access) = access_token_groups(&tokens.access_token);
            if claims.groups.is_none() {
                claims.groups = groups;
            }
            if claims.realm_access.is_none() {
                claims.realm_access = realm_access;
            }
            Some(claims)
        }
        Err(e) => {
            tracing::warn!(error = %e, "the refreshed ID token did not verify; mapped roles left as they are");
            None
        }
    }
}
