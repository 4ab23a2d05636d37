//! Shapes shared by the admin operations: roles, permissions, users and audit events as the API shows them.

use chrono::{DateTime, TimeZone, Utc};
use entity::{audit_events, permissions, users};
use poem_openapi::{Enum, Object, types::Example};
use uuid::Uuid;

use crate::{
    error::{ApiError, FieldError},
    rbac::store::{self, RoleView, StoreError},
    users::avatar,
};

/// A fixed instant for examples, so the spec does not change with the clock.
pub(crate) fn example_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 9, 15, 0)
        .single()
        .unwrap_or_default()
}

/// A fixed id for examples.
pub(crate) fn example_id(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_7c2e_5a10_7000_8000_0000_0000_0000 + n)
}

/// A role: a named set of permissions, granted to users by admins, at first login or by provider group.
#[derive(Object, Debug, Clone)]
#[oai(example)]
pub struct Role {
    /// Keyward's id for the role.
    pub id: Uuid,
    /// Unique; lowercase letters, digits, `_` and `-`.
    pub name: String,
    /// What the role is for (may be empty).
    pub description: String,
    /// Granted to every user at first login.
    pub is_default: bool,
    /// `user` and `admin`: cannot be deleted or renamed.
    pub built_in: bool,
    /// Members of this provider group (or Keycloak realm role) hold the role; null when no group is mapped.
    #[oai(nullable)]
    pub idp_group: Option<String>,
    /// Permission names; `admin` holds every permission.
    pub permissions: Vec<String>,
    /// When the role was created.
    pub created_at: DateTime<Utc>,
    /// When the role last changed (name, description, flags, mapping or permissions).
    pub updated_at: DateTime<Utc>,
}

impl Example for Role {
    fn example() -> Self {
        Self {
            id: example_id(1),
            name: "auditor".into(),
            description: "Reads the audit log".into(),
            is_default: false,
            built_in: false,
            idp_group: Some("auditors".into()),
            permissions: vec!["audit:read".into()],
            created_at: example_time(),
            updated_at: example_time(),
        }
    }
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

/// A permission: `resource:action`, checked by Keyward's operations (built in) or by your application.
#[derive(Object, Debug, Clone)]
#[oai(example)]
pub struct Permission {
    /// Keyward's id for the permission.
    pub id: Uuid,
    /// `resource:action`
    pub name: String,
    /// What the permission allows (may be empty).
    pub description: String,
    /// Keyward's own permissions (`roles:write`, ...): cannot be deleted.
    pub built_in: bool,
    /// When the permission was created.
    pub created_at: DateTime<Utc>,
}

impl Example for Permission {
    fn example() -> Self {
        Self {
            id: example_id(2),
            name: "invoices:approve".into(),
            description: "Approves invoices".into(),
            built_in: false,
            created_at: example_time(),
        }
    }
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
#[oai(example)]
pub struct User {
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
    /// Inactive users cannot log in; their sessions and tokens are refused.
    pub active: bool,
    /// Role names, from any source.
    pub roles: Vec<String>,
    /// Each grant with where it comes from; a role held from two sources is listed twice. Only `manual` grants
    /// are what `PUT /api/v1/users/{id}/roles` replaces.
    pub grants: Vec<RoleGrant>,
    /// When Keyward first saw the user (first login, first bearer token, or a sync).
    pub created_at: DateTime<Utc>,
    /// The last login through `/auth/login`; null before the first one.
    #[oai(nullable)]
    pub last_login_at: Option<DateTime<Utc>>,
}

impl Example for User {
    fn example() -> Self {
        Self {
            id: example_id(3),
            email: Some("alice@example.com".into()),
            email_verified: true,
            display_name: Some("Alice Example".into()),
            username: Some("alice".into()),
            avatar_url: None,
            active: true,
            roles: vec!["admin".into(), "user".into()],
            grants: vec![
                RoleGrant {
                    role: "admin".into(),
                    source: GrantSource::Manual,
                },
                RoleGrant {
                    role: "user".into(),
                    source: GrantSource::Default,
                },
            ],
            created_at: example_time(),
            last_login_at: Some(example_time()),
        }
    }
}

/// Where a grant of a role comes from.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum GrantSource {
    /// Granted by an admin (API or CLI) or as a bootstrap admin; `PUT /api/v1/users/{id}/roles` replaces these.
    Manual,
    /// A default role, granted at the user's first login.
    Default,
    /// Mapped from the provider's groups (or Keycloak realm roles) at the last login.
    Provider,
}

/// One grant: a role and where it comes from.
#[derive(Object, Debug, Clone)]
pub struct RoleGrant {
    /// The role's name.
    pub role: String,
    /// Where the grant comes from.
    pub source: GrantSource,
}

impl User {
    /// The admin view of `u` with its grants (role names and sources, from `store::grants_of_users`).
    pub fn new(u: &users::Model, grants: Vec<store::Grant>) -> Self {
        let roles: std::collections::BTreeSet<String> =
            grants.iter().map(|g| g.role.clone()).collect();
        let grants = grants
            .into_iter()
            .map(|g| RoleGrant {
                source: match g.source.as_str() {
                    crate::rbac::SOURCE_PROVIDER => GrantSource::Provider,
                    crate::rbac::SOURCE_DEFAULT => GrantSource::Default,
                    _ => GrantSource::Manual,
                },
                role: g.role,
            })
            .collect();
        Self {
            id: u.id,
            email: u.email.clone(),
            email_verified: u.email_verified,
            display_name: u.display_name.clone(),
            username: u.username.clone(),
            avatar_url: avatar(u),
            active: u.active,
            roles: roles.into_iter().collect(),
            grants,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// Whether what an audit event records succeeded.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum AuditOutcome {
    Success,
    Failure,
}

/// One entry of the audit log: who did what to what, from where, and whether it worked.
#[derive(Object, Debug, Clone)]
#[oai(example)]
pub struct AuditEvent {
    /// Keyward's id for the event.
    pub id: Uuid,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// What happened: `login`, `logout`, `token.issued`, `role.created`, `user.roles_set`, ...
    #[oai(rename = "type")]
    pub kind: String,
    /// Whether it worked.
    pub outcome: AuditOutcome,
    /// The acting user; null when unknown (a failed login) or not a user (the CLI, the sync).
    #[oai(nullable)]
    pub user_id: Option<Uuid>,
    /// What the event was about, by name; null when it was about nothing in particular.
    #[oai(nullable)]
    pub target: Option<String>,
    /// The client address; null when the event did not come from a request.
    #[oai(nullable)]
    pub ip: Option<String>,
    /// The client's `User-Agent`; null when it sent none or the event did not come from a request.
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// More about it, in words (a failure's reason, the roles set); null when there is nothing to add.
    #[oai(nullable)]
    pub detail: Option<String>,
    /// How many like events this one stands for: repeated refusals of one caller and operation within a
    /// minute are one event; 1 for every other event.
    pub count: i32,
    /// When the last of them happened; null for an event that stands for one.
    #[oai(nullable)]
    pub last_at: Option<DateTime<Utc>>,
}

impl Example for AuditEvent {
    fn example() -> Self {
        Self {
            id: example_id(4),
            occurred_at: example_time(),
            kind: "role.created".into(),
            outcome: AuditOutcome::Success,
            user_id: Some(example_id(3)),
            target: Some("auditor".into()),
            ip: Some("203.0.113.7".into()),
            user_agent: Some("Mozilla/5.0".into()),
            detail: None,
            count: 1,
            last_at: None,
        }
    }
}

impl From<audit_events::Model> for AuditEvent {
    fn from(e: audit_events::Model) -> Self {
        Self {
            id: e.id,
            occurred_at: e.occurred_at,
            kind: e.kind,
            // `audit.rs` writes only these two.
            outcome: if e.outcome == "failure" {
                AuditOutcome::Failure
            } else {
                AuditOutcome::Success
            },
            user_id: e.user_id,
            target: e.target,
            ip: e.ip,
            user_agent: e.user_agent,
            detail: e.detail,
            count: e.count,
            last_at: e.last_at.filter(|_| e.count > 1),
        }
    }
}

macro_rules! list_type {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Object, Debug)]
        #[oai(example)]
        pub struct $name {
            /// The items of this page.
            pub items: Vec<$item>,
            /// How many items match, over all pages.
            pub total: u64,
            /// The page number, from 1.
            pub page: u64,
            /// At most this many items per page.
            pub per_page: u64,
        }

        impl Example for $name {
            fn example() -> Self {
                Self {
                    items: vec![<$item>::example()],
                    total: 1,
                    page: 1,
                    per_page: crate::http::pagination::DEFAULT_PER_PAGE,
                }
            }
        }
    };
}

pub(crate) use list_type;

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
