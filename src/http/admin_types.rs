//! Shapes shared by the admin operations: roles, permissions, users and audit events as the API shows them.

use chrono::{DateTime, Utc};
use entity::{audit_events, permissions, users};
use poem_openapi::Object;
use uuid::Uuid;

use crate::{
    error::{ApiError, FieldError},
    rbac::store::{RoleView, StoreError},
    users::avatar,
};

#[derive(Object, Debug, Clone)]
pub struct Role {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// Granted to every user at first login.
    pub is_default: bool,
    /// `user` and `admin`: cannot be deleted or renamed.
    pub built_in: bool,
    /// Members of this provider group (or Keycloak realm role) hold the role.
    pub idp_group: Option<String>,
    /// Permission names; `admin` holds every permission.
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<RoleView> for Role {
    fn from(v: RoleView) -> Self {
        Self {
            id: v.role.id,
            name: v.role.name,
            description: v.role.description,
            is_default: v.role.is_default,
            built_in: v.role.built_in,
            idp_group: v.role.idp_group,
            permissions: v.permissions,
            created_at: v.role.created_at,
            updated_at: v.role.updated_at,
        }
    }
}

#[derive(Object, Debug, Clone)]
pub struct Permission {
    pub id: Uuid,
    /// `resource:action`
    pub name: String,
    pub description: String,
    pub built_in: bool,
    pub created_at: DateTime<Utc>,
}

impl From<permissions::Model> for Permission {
    fn from(p: permissions::Model) -> Self {
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            built_in: p.built_in,
            created_at: p.created_at,
        }
    }
}

/// A user as admins see them: the `/me` fields plus status and roles.
#[derive(Object, Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub email: Option<String>,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    /// Inactive users cannot log in; their sessions and tokens are refused.
    pub active: bool,
    /// Role names, from any source.
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn new(u: &users::Model, roles: Vec<String>) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            email_verified: u.email_verified,
            display_name: u.display_name.clone(),
            username: u.username.clone(),
            avatar_url: avatar(u),
            active: u.active,
            roles,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

#[derive(Object, Debug, Clone)]
pub struct AuditEvent {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// What happened: `login`, `logout`, `token.issued`, `role.created`, `user.roles_set`, ...
    #[oai(rename = "type")]
    pub kind: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// The acting user, when known.
    pub user_id: Option<Uuid>,
    /// What the event was about, by name.
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

impl From<audit_events::Model> for AuditEvent {
    fn from(e: audit_events::Model) -> Self {
        Self {
            id: e.id,
            occurred_at: e.occurred_at,
            kind: e.kind,
            outcome: e.outcome,
            user_id: e.user_id,
            target: e.target,
            ip: e.ip,
            user_agent: e.user_agent,
            detail: e.detail,
        }
    }
}

macro_rules! list_type {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Object, Debug)]
        pub struct $name {
            pub items: Vec<$item>,
            /// How many items match, over all pages.
            pub total: u64,
            /// From 1.
            pub page: u64,
            pub per_page: u64,
        }
    };
}

list_type!(RoleList, Role, "A page of roles.");
list_type!(PermissionList, Permission, "A page of permissions.");
list_type!(UserList, User, "A page of users.");
list_type!(
    AuditEventList,
    AuditEvent,
    "A page of audit events, newest first."
);

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::conflict(m),
            StoreError::Invalid { field, message } => {
                ApiError::validation(vec![FieldError::new(field, message)])
            }
            StoreError::Forbidden(m) => ApiError::forbidden(m),
            StoreError::Db(e) => ApiError::from(e),
        }
    }
}
