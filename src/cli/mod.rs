//! The ops commands beside `serve`, one module per resource as in the admin API: `users`, `roles`,
//! `permissions`, `sync`. They work on the database directly, apply the same rules as the admin API (built-ins,
//! the last admin, names), tell running instances through the same change signal, and audit every change that
//! happened with the user agent `cli`. Each returns the text to print.

mod permissions;
mod roles;
mod sync;
mod users;

use entity::users as user_rows;
use sea_orm::{EntityTrait, QueryFilter};
use uuid::Uuid;

pub use permissions::{permissions_create, permissions_delete, permissions_list};
pub use roles::{
    CreateRole, roles_create, roles_delete, roles_grant, roles_list, roles_permissions,
    roles_revoke,
};
pub use sync::{sync_run, sync_status};
pub use users::{
    ListFilter, users_activate, users_deactivate, users_end_sessions, users_list, users_show,
};

use crate::{
    audit::{self, Event, Origin},
    db::Db,
    rbac::{Access, cache::AccessCache, store},
};

/// Tells running instances that access changed, then records the change (actor: the CLI).
async fn changed(db: &Db, event: Event) -> anyhow::Result<()> {
    AccessCache::default().changed(db).await?;
    audit::record(db, &Origin::cli(), event).await;
    Ok(())
}

/// The operator at the command line may hand out any permission: the admin API's no-escalation rule is about
/// what one API user may give another.
async fn operator(db: &Db) -> anyhow::Result<Access> {
    Ok(Access {
        roles: Default::default(),
        permissions: store::all_permission_names(db).await?,
    })
}

/// A role by name, or a message saying there is none.
async fn role_named(db: &Db, name: &str) -> anyhow::Result<entity::roles::Model> {
    store::find_role_by_name(db, name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no role named {name}"))
}

/// The user a command names: an argument that parses as a UUID is their id; anything else is an email.
async fn find_user(db: &Db, who: &str) -> anyhow::Result<user_rows::Model> {
    match Uuid::parse_str(who) {
        Ok(id) => user_rows::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no user with id {id}")),
        Err(_) => user_by_verified_email(db, who).await,
    }
}

/// The one user whose provider verified this email (case-insensitive), or a message saying why not. An
/// unverified email is only what someone typed into their account, so granting by it could hand a role to an
/// impostor.
async fn user_by_verified_email(db: &Db, email: &str) -> anyhow::Result<user_rows::Model> {
    use sea_orm::sea_query::{Expr, ExprTrait, Func};
    let (verified, unverified): (Vec<user_rows::Model>, Vec<user_rows::Model>) =
        user_rows::Entity::find()
            .filter(
                Expr::expr(Func::lower(Expr::col(user_rows::Column::Email)))
                    .eq(email.to_lowercase()),
            )
            .all(db)
            .await?
            .into_iter()
            .partition(|u| u.email_verified);
    let ids = |found: &[user_rows::Model]| {
        found
            .iter()
            .map(|u| u.id.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match verified.as_slice() {
        [user] => Ok(user.clone()),
        [] if unverified.is_empty() => {
            anyhow::bail!("no user with email {email} (users appear after their first login)")
        }
        [] => anyhow::bail!(
            "the email {email} is not verified by the provider, so it does not prove who holds it; \
             name the user by id instead: {}",
            ids(&unverified)
        ),
        _ => anyhow::bail!(
            "several users have the verified email {email}; name one by id: {}",
            ids(&verified)
        ),
    }
}
