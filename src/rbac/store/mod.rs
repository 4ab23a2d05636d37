//! Reading and changing roles, permissions and grants, with the rules that keep them safe: built-ins stay,
//! nobody grants what they do not hold, and the last admin stays an admin.

mod grants;
mod last_admin;
mod permissions;
mod roles;

use sea_orm::{DbErr, SqlErr};

pub use grants::{
    Grant, check_may_take_all, effective_access, grant, grants_of, grants_of_users, revoke,
    role_names_of_users, roles_of, set_manual_roles, set_provider_roles,
};
pub use last_admin::{admin_holders, check_not_last_admin, holders_of, lock_admin_changes};
pub use permissions::{
    all_permission_names, create_permission, delete_permission, list_permissions,
};
pub use roles::{
    NewRole, RolePatch, RoleView, create_role, delete_role, find_role, find_role_by_name,
    list_roles, set_role_permissions, update_role,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A field names something that does not exist or breaks a rule.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The actor lacks a permission the change would hand out.
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A unique index refused the write: someone else created the same name between our check and our insert.
fn conflict_on_unique(err: DbErr, message: impl FnOnce() -> String) -> StoreError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(message()),
        _ => StoreError::Db(err),
    }
}

/// A row the write relies on was deleted by a concurrent request after this one read it: the role being updated
/// (no row updated), or a role or permission a new link points at (a foreign key refuses it).
fn deleted_meanwhile(err: DbErr, what: &str) -> StoreError {
    match err {
        DbErr::RecordNotUpdated => StoreError::NotFound(format!("{what} was deleted meanwhile")),
        err if matches!(
            err.sql_err(),
            Some(SqlErr::ForeignKeyConstraintViolation(_))
        ) =>
        {
            StoreError::Conflict(format!("{what} was deleted meanwhile; read it again"))
        }
        err => StoreError::Db(err),
    }
}

fn invalid(field: &str, message: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}
