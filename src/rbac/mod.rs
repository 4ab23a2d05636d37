//! Roles and permissions: the model (built-ins, names), what a user may do (`Access`), the cache that answers
//! that on every request, the store behind the admin API, the seed file and the login-time grants.

pub mod cache;
pub mod login_grants;
pub mod mapping;
pub mod seed;
pub mod store;

use std::collections::BTreeSet;

/// Keyward's own permissions, seeded at every start.
pub const BUILTIN_PERMISSIONS: [(&str, &str); 7] = [
    ("users:read", "List and read users"),
    (
        "users:write",
        "Deactivate users, end their sessions, grant their roles",
    ),
    ("roles:read", "List and read roles and permissions"),
    (
        "roles:write",
        "Create, change and delete roles and permissions",
    ),
    ("sync:read", "Read user-sync runs and the schedule"),
    ("sync:run", "Start a user sync"),
    ("audit:read", "Read the audit log"),
];

/// Holds every permission, including ones created later.
pub const ADMIN_ROLE: &str = "admin";
/// The default role, given at first login.
pub const USER_ROLE: &str = "user";

/// Where a grant came from: an admin (API or CLI) or a bootstrap-admin entry; a default role at first login;
/// the provider's groups at login.
pub const SOURCE_MANUAL: &str = "manual";
pub const SOURCE_DEFAULT: &str = "default";
pub const SOURCE_PROVIDER: &str = "provider";

/// What a user holds, resolved once and shared by every request of theirs until something changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    pub roles: BTreeSet<String>,
    pub permissions: BTreeSet<String>,
}

impl Access {
    pub fn has(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }

    pub fn is_admin(&self) -> bool {
        self.roles.contains(ADMIN_ROLE)
    }
}

/// `^[a-z][a-z0-9_-]{1,63}$`
pub fn valid_role_name(name: &str) -> bool {
    let mut chars = name.chars();
    (2..=64).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// `resource:action`, each part like a role name (one character is enough).
pub fn valid_permission_name(name: &str) -> bool {
    let part = |p: &str| {
        let mut chars = p.chars();
        (1..=63).contains(&p.len())
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    };
    matches!(name.split_once(':'), Some((r, a)) if part(r) && part(a))
}

pub const ROLE_NAME_PATTERN: &str = "^[a-z][a-z0-9_-]{1,63}$";
pub const PERMISSION_NAME_PATTERN: &str = "^[a-z][a-z0-9_-]{0,62}:[a-z][a-z0-9_-]{0,62}$";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_patterns() {
        for ok in ["ab", "user", "billing-admin", "ops_2"] {
            assert!(valid_role_name(ok), "{ok}");
        }
        for bad in ["a", "Admin", "1ops", "-x", "x y", "über", &"a".repeat(65)] {
            assert!(!valid_role_name(bad), "{bad}");
        }
        for ok in ["users:read", "invoices:approve", "a:b", "x-y:z_2"] {
            assert!(valid_permission_name(ok), "{ok}");
        }
        for bad in [
            "users",
            "users:",
            ":read",
            "Users:read",
            "a:b:c",
            "a :b",
            "a:1b",
        ] {
            assert!(!valid_permission_name(bad), "{bad}");
        }
    }
}
