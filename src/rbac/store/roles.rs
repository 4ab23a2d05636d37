//! The `roles` table and each role's permission links: listing, creating, changing and deleting roles, with
//! the rules that built-ins stay and nobody hands out a permission they do not hold.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use entity::{role_permissions, roles};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, TransactionSession, TransactionTrait,
    sea_query::OnConflict,
};
use uuid::Uuid;

use super::{
    StoreError, conflict_on_unique, deleted_meanwhile,
    permissions::{permission_ids, permissions_of_roles},
};
use crate::rbac::{ADMIN_ROLE, Access};

/// A role and the names of its permissions (for `admin`: every permission).
#[derive(Debug, Clone)]
pub struct RoleView {
    pub role: roles::Model,
    pub permissions: Vec<String>,
}

async fn views(
    db: &impl ConnectionTrait,
    roles: Vec<roles::Model>,
) -> Result<Vec<RoleView>, DbErr> {
    let mut perms = permissions_of_roles(db, &roles).await?;
    Ok(roles
        .into_iter()
        .map(|role| RoleView {
            permissions: perms
                .remove(&role.id)
                .unwrap_or_default()
                .into_iter()
                .collect(),
            role,
        })
        .collect())
}

pub async fn list_roles(
    db: &impl ConnectionTrait,
    page: u64,
    per_page: u64,
) -> Result<(Vec<RoleView>, u64), DbErr> {
    let pages = roles::Entity::find()
        .order_by_asc(roles::Column::Name)
        .paginate(db, per_page);
    let total = pages.num_items().await?;
    let rows = pages.fetch_page(page - 1).await?;
    Ok((views(db, rows).await?, total))
}

pub async fn find_role(db: &impl ConnectionTrait, id: Uuid) -> Result<RoleView, StoreError> {
    let role = roles::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no role with id {id}")))?;
    Ok(views(db, vec![role]).await?.remove(0))
}

pub async fn find_role_by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<roles::Model>, DbErr> {
    roles::Entity::find()
        .filter(roles::Column::Name.eq(name))
        .one(db)
        .await
}

/// Refuses a change that would hand out permissions the actor does not hold.
pub(super) fn check_no_escalation<'a>(
    actor: &Access,
    granted: impl IntoIterator<Item = &'a String>,
) -> Result<(), StoreError> {
    let missing: Vec<&str> = granted
        .into_iter()
        .filter(|p| !actor.has(p))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Forbidden(format!(
            "you cannot hand out permissions you do not hold: {}",
            missing.join(", ")
        )))
    }
}

/// Refuses taking away what the actor could not hand out: every permission of the `roles` taken must be the
/// actor's, and only an admin takes `admin` (which also holds the permissions created later).
pub(super) fn check_may_take_away(
    actor: &Access,
    roles: &[roles::Model],
    perms: &HashMap<Uuid, BTreeSet<String>>,
) -> Result<(), StoreError> {
    if roles.iter().any(|r| r.name == ADMIN_ROLE) && !actor.is_admin() {
        return Err(StoreError::Forbidden(
            "only an admin may take `admin` away (missing: the role `admin`)".into(),
        ));
    }
    let missing: BTreeSet<&str> = perms
        .values()
        .flatten()
        .filter(|p| !actor.has(p))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Forbidden(format!(
            "you cannot take away permissions you do not hold: {}",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        )))
    }
}

pub struct NewRole {
    pub name: String,
    pub description: String,
    pub is_default: bool,
    pub idp_group: Option<String>,
    pub permissions: Vec<String>,
}

pub async fn create_role<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: &Access,
    new: NewRole,
) -> Result<RoleView, StoreError> {
    // Unknown names are a 400 naming the field, before any permission question arises.
    let perm_ids = permission_ids(db, &new.permissions, "permissions").await?;
    check_no_escalation(actor, &new.permissions)?;
    // No look-up first: the unique index decides, and writing first makes SQLite take its write lock before
    // any read (a read first would make a racing transaction fail outright instead of waiting its turn).
    let conflict = format!("a role named `{}` already exists", new.name);
    let txn = db.begin().await?;
    let now = Utc::now();
    let role = roles::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(new.name),
        description: Set(new.description),
        is_default: Set(new.is_default),
        built_in: Set(false),
        idp_group: Set(new.idp_group),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| conflict_on_unique(e, || conflict))?;
    link_permissions(&txn, role.id, &perm_ids)
        .await
        .map_err(|e| deleted_meanwhile(e, "a permission the role names"))?;
    txn.commit().await?;
    find_role(db, role.id).await
}

async fn link_permissions(
    db: &impl ConnectionTrait,
    role_id: Uuid,
    perm_ids: &[Uuid],
) -> Result<(), DbErr> {
    if perm_ids.is_empty() {
        return Ok(());
    }
    role_permissions::Entity::insert_many(perm_ids.iter().map(|p| role_permissions::ActiveModel {
        role_id: Set(role_id),
        permission_id: Set(*p),
    }))
    .on_conflict(
        OnConflict::columns([
            role_permissions::Column::RoleId,
            role_permissions::Column::PermissionId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

#[derive(Default)]
pub struct RolePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_default: Option<bool>,
    /// `Some(None)` removes the mapping.
    pub idp_group: Option<Option<String>>,
}

pub async fn update_role<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: &Access,
    id: Uuid,
    patch: RolePatch,
) -> Result<RoleView, StoreError> {
    let current = find_role(db, id).await?;
    let widens = patch.is_default == Some(true) || matches!(patch.idp_group, Some(Some(_)));
    if widens {
        // Making a role default or mapping it to a group hands its permissions to new people.
        check_no_escalation(actor, &current.permissions)?;
        if current.role.name == ADMIN_ROLE && !actor.is_admin() {
            return Err(StoreError::Forbidden(
                "only an admin may hand out `admin`, which also holds permissions created later"
                    .into(),
            ));
        }
    }
    // Changing `admin`'s group mapping removes no grant by itself: provider grants change at each holder's
    // next login, where `set_provider_roles` keeps the last admin's.
    let mut row = current.role.clone().into_active_model();
    let mut new_name = None;
    if let Some(name) = patch.name
        && name != current.role.name
    {
        if current.role.built_in {
            return Err(StoreError::Conflict(format!(
                "`{}` is built in and cannot be renamed",
                current.role.name
            )));
        }
        if find_role_by_name(db, &name).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "a role named `{name}` already exists"
            )));
        }
        row.name = Set(name.clone());
        new_name = Some(name);
    }
    if let Some(d) = patch.description {
        row.description = Set(d);
    }
    if let Some(d) = patch.is_default {
        row.is_default = Set(d);
    }
    if let Some(g) = patch.idp_group {
        row.idp_group = Set(g);
    }
    row.updated_at = Set(Utc::now());
    row.update(db).await.map_err(|e| match e {
        DbErr::RecordNotUpdated => deleted_meanwhile(e, "the role"),
        e => conflict_on_unique(e, || {
            format!(
                "a role named `{}` already exists",
                new_name.unwrap_or_default()
            )
        }),
    })?;
    find_role(db, id).await
}

pub async fn delete_role(db: &impl ConnectionTrait, id: Uuid) -> Result<roles::Model, StoreError> {
    let role = find_role(db, id).await?.role;
    if role.built_in {
        return Err(StoreError::Conflict(format!(
            "`{}` is built in and cannot be deleted",
            role.name
        )));
    }
    // Grants and permission links go with it (ON DELETE CASCADE).
    roles::Entity::delete_by_id(id).exec(db).await?;
    Ok(role)
}

/// Replaces the role's permissions. Adding one the actor lacks is refused; `admin` holds all and is fixed.
pub async fn set_role_permissions<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: &Access,
    id: Uuid,
    names: &[String],
) -> Result<RoleView, StoreError> {
    let current = find_role(db, id).await?;
    if current.role.name == ADMIN_ROLE {
        return Err(StoreError::Conflict(
            "`admin` holds every permission; its set cannot be changed".into(),
        ));
    }
    let perm_ids = permission_ids(db, names, "permissions").await?;
    let added: Vec<&String> = names
        .iter()
        .filter(|n| !current.permissions.contains(n))
        .collect();
    check_no_escalation(actor, added)?;
    let txn = db.begin().await?;
    role_permissions::Entity::delete_many()
        .filter(role_permissions::Column::RoleId.eq(id))
        .exec(&txn)
        .await?;
    link_permissions(&txn, id, &perm_ids)
        .await
        .map_err(|e| deleted_meanwhile(e, "the role or a permission it names"))?;
    txn.commit().await?;
    find_role(db, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str) -> roles::Model {
        roles::Model {
            id: Uuid::new_v4(),
            name: name.into(),
            description: String::new(),
            is_default: false,
            built_in: false,
            idp_group: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn access(roles: &[&str], perms: &[&str]) -> Access {
        Access {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            permissions: perms.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn taking_away_needs_every_permission_of_the_roles_and_admin_for_admin() {
        let auditor = role("auditor");
        let perms = HashMap::from([(auditor.id, BTreeSet::from(["audit:read".to_owned()]))]);
        let writer = access(&["helper"], &["users:write"]);
        let err = check_may_take_away(&writer, std::slice::from_ref(&auditor), &perms).unwrap_err();
        assert!(err.to_string().contains("audit:read"), "{err}");
        let both = access(&["helper"], &["users:write", "audit:read"]);
        assert!(check_may_take_away(&both, std::slice::from_ref(&auditor), &perms).is_ok());

        // Holding every permission is not enough for `admin`.
        let admin = role(ADMIN_ROLE);
        let none = HashMap::from([(admin.id, BTreeSet::new())]);
        let err = check_may_take_away(&both, std::slice::from_ref(&admin), &none).unwrap_err();
        assert!(err.to_string().contains("`admin`"), "{err}");
        let an_admin = access(&[ADMIN_ROLE], &[]);
        assert!(check_may_take_away(&an_admin, &[admin], &none).is_ok());
        assert!(check_may_take_away(&writer, &[], &HashMap::new()).is_ok());
    }
}
