//! `GET /api/v1/me`: the current user.

use std::{collections::BTreeSet, sync::Arc};

use entity::users;
use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    payload::{Json, Payload},
    registry::{MetaResponses, MetaSchemaRef, Registry},
    types::Example,
};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    auth::Principal,
    error::ApiError,
    http::{
        ApiTags,
        admin_types::{User, example_id},
        authn::Authenticated,
    },
    users::avatar,
};

pub struct MeApi;

/// A user as the SPA sees them.
#[derive(Object, Debug, Clone)]
#[oai(example)]
pub struct UserProfile {
    /// Keyward's id for the user (stable across provider changes of email or username).
    pub id: Uuid,
    /// The email address from the provider; null when it has none.
    #[oai(nullable)]
    pub email: Option<String>,
    /// Whether the provider verified the email address.
    pub email_verified: bool,
    /// The name to show; null when the provider has none.
    #[oai(nullable)]
    pub display_name: Option<String>,
    /// The login name at the provider; null when it has none.
    #[oai(nullable)]
    pub username: Option<String>,
    /// The provider's picture, else a Gravatar URL for the email; null without either.
    #[oai(nullable)]
    pub avatar_url: Option<String>,
}

impl Example for UserProfile {
    fn example() -> Self {
        let u = User::example();
        Self {
            id: example_id(3),
            email: u.email,
            email_verified: u.email_verified,
            display_name: u.display_name,
            username: u.username,
            avatar_url: u.avatar_url,
        }
    }
}

impl From<&users::Model> for UserProfile {
    fn from(u: &users::Model) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            email_verified: u.email_verified,
            display_name: u.display_name.clone(),
            username: u.username.clone(),
            avatar_url: avatar(u),
        }
    }
}

/// The current user with what they may do, for the SPA to shape its UI.
#[derive(Object, Debug, Clone)]
#[oai(example)]
pub struct Me {
    #[oai(flatten)]
    pub profile: UserProfile,
    /// Role names.
    pub roles: Vec<String>,
    /// Permission names (`resource:action`) the roles add up to.
    pub permissions: Vec<String>,
}

impl Example for Me {
    fn example() -> Self {
        Self {
            profile: UserProfile::example(),
            roles: vec!["user".into()],
            permissions: vec!["invoices:approve".into()],
        }
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Users")]
impl MeApi {
    /// The authenticated user, their roles and their permissions. Needs only authentication.
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(&self, auth: Authenticated) -> Result<MeJson, ApiError> {
        Ok(MeJson(auth.0))
    }
}

/// [`Me`] as JSON, written straight from the caller's cached user and access: the body `Json<Me>` would give
/// (a test holds them equal) without first copying every role and permission into a `Me` and then into a JSON
/// document. The SPA calls this on every page load; it is the hot path the edge benchmark measures.
pub struct MeJson(pub Arc<Principal>);

#[derive(Serialize)]
struct MeView<'a> {
    id: Uuid,
    email: Option<&'a str>,
    email_verified: bool,
    display_name: Option<&'a str>,
    username: Option<&'a str>,
    avatar_url: Option<String>,
    roles: &'a BTreeSet<String>,
    permissions: &'a BTreeSet<String>,
}

impl MeJson {
    fn to_vec(&self) -> serde_json::Result<Vec<u8>> {
        let (u, access) = (&*self.0.user, &*self.0.access);
        serde_json::to_vec(&MeView {
            id: u.id,
            email: u.email.as_deref(),
            email_verified: u.email_verified,
            display_name: u.display_name.as_deref(),
            username: u.username.as_deref(),
            avatar_url: avatar(u),
            roles: &access.roles,
            permissions: &access.permissions,
        })
    }
}

impl Payload for MeJson {
    const CONTENT_TYPE: &'static str = <Json<Me> as Payload>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        <Json<Me> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        <Json<Me> as Payload>::schema_ref()
    }

    fn register(registry: &mut Registry) {
        <Json<Me> as Payload>::register(registry);
    }
}

impl ApiResponse for MeJson {
    fn meta() -> MetaResponses {
        <Json<Me> as ApiResponse>::meta()
    }

    fn register(registry: &mut Registry) {
        <Json<Me> as ApiResponse>::register(registry);
    }
}

impl IntoResponse for MeJson {
    fn into_response(self) -> Response {
        match self.to_vec() {
            Ok(body) => Response::builder()
                .content_type(Self::CONTENT_TYPE)
                .body(body),
            // Strings, booleans and an id: serializing them cannot fail.
            Err(err) => ApiError::internal(err).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON;

    use super::*;
    use crate::{auth::Via, rbac::Access};

    fn principal(user: users::Model, roles: &[&str], permissions: &[&str]) -> Arc<Principal> {
        let set = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
        Arc::new(Principal {
            user: Arc::new(user),
            via: Via::ProviderToken,
            access: Arc::new(Access {
                roles: set(roles),
                permissions: set(permissions),
            }),
        })
    }

    /// What `Json<Me>` would have answered, as the spec describes it.
    fn as_documented(p: &Principal) -> serde_json::Value {
        Me {
            profile: UserProfile::from(&*p.user),
            roles: p.access.roles.iter().cloned().collect(),
            permissions: p.access.permissions.iter().cloned().collect(),
        }
        .to_json()
        .unwrap()
    }

    #[test]
    fn the_body_written_directly_is_the_documented_one() {
        let mut full = crate::users::test_user("full");
        full.email = Some("Zoë.\"Q\"@example.com".into());
        full.email_verified = true;
        full.display_name = Some("Zoë \\ Q".into());
        full.username = Some("zoe".into());
        let empty = crate::users::test_user("empty");
        let mut pictured = crate::users::test_user("pictured");
        pictured.avatar_url = Some("https://idp/pic.png".into());
        for p in [
            principal(full, &["admin", "user"], &["roles:read", "users:write"]),
            principal(empty, &[], &[]),
            principal(pictured, &["user"], &["invoices:approve"]),
        ] {
            let written: serde_json::Value =
                serde_json::from_slice(&MeJson(p.clone()).to_vec().unwrap()).unwrap();
            assert_eq!(written, as_documented(&p));
        }
    }
}
