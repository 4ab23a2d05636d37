//! `GET /api/v1/me`: the current user.

use entity::users;
use poem_openapi::{Object, OpenApi, payload::Json, types::Example};
use uuid::Uuid;

use crate::{
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
    async fn me(&self, auth: Authenticated) -> Result<Json<Me>, ApiError> {
        let p = &auth.0;
        Ok(Json(Me {
            profile: UserProfile::from(&p.user),
            roles: p.access.roles.iter().cloned().collect(),
            permissions: p.access.permissions.iter().cloned().collect(),
        }))
    }
}
