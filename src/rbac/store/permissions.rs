//! The `permissions` table: listing, creating and deleting permissions, and resolving their names, alone or
//! per role.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use entity::{permissions, role_permissions, roles};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::{StoreError, conflict_on_unique, invalid};
use crate::rbac::ADMIN_ROLE;

pub async fn all_permission_names(db: &impl ConnectionTrait) -> Result<BTreeSet<String>, DbErr> {
    Ok(permissions::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect())
}

/// Permission names per role. `admin` holds them all, whatever the table says.
pub(super) async fn permissions_of_roles(
    db: &impl ConnectionTrait,
    roles: &[roles::Model],
) -> Result<HashMap<Uuid, BTreeSet<String>>, DbErr> {
    let mut out: HashMap<Uuid, BTreeSet<String>> =
        roles.iter().map(|r| (r.id, BTreeSet::new())).collect();
    if roles.is_empty() {
        return Ok(out);
    }
    let all = if roles.iter().any(|r| r.name == ADMIN_ROLE) {
        Some(all_permission_names(db).await?)
    } else {
        None
    };
    let ids: Vec<Uuid> = roles.iter().map(|r| r.id).collect();
    let links = role_permissions::Entity::find()
        .filter(role_permissions::Column::RoleId.is_in(ids))
        .all(db)
        .await?;
    let perm_ids: BTreeSet<Uuid> = links.iter().map(|l| l.permission_id).collect();
    let names: HashMap<Uuid, String> = permissions::Entity::find()
        .filter(permissions::Column::Id.is_in(perm_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    for link in links {
        if let (Some(set), Some(name)) =
            (out.get_mut(&link.role_id), names.get(&link.permission_id))
        {
            set.insert(name.clone());
        }
    }
    if let Some(all) = all {
        for role in roles.iter().filter(|r| r.name == ADMIN_ROLE) {
            out.insert(role.id, all.clone());
        }
    }
    Ok(out)
}

/// Resolves permission names to rows, naming the first that does not exist.
pub(super) async fn permission_ids(
    db: &impl ConnectionTrait,
    names: &[String],
    field: &str,
) -> Result<Vec<Uuid>, StoreError> {
    let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let found: HashMap<String, Uuid> = permissions::Entity::find()
        .filter(permissions::Column::Name.is_in(wanted))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.name, p.id))
        .collect();
    let mut ids = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            found.get(name).copied().ok_or_else(|| {
                invalid(
                    &format!("{field}[{i}]"),
                    format!("no permission named `{name}`"),
                )
            })
        })
        .collect::<Result<Vec<Uuid>, StoreError>>()?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}

pub async fn list_permissions(
    db: &impl ConnectionTrait,
    page: u64,
    per_page: u64,
) -> Result<(Vec<permissions::Model>, u64), DbErr> {
    let pages = permissions::Entity::find()
        .order_by_asc(permissions::Column::Name)
        .paginate(db, per_page);
    let total = pages.num_items().await?;
    Ok((pages.fetch_page(page - 1).await?, total))
}

pub async fn create_permission(
    db: &impl ConnectionTrait,
    name: &str,
    description: &str,
    built_in: bool,
) -> Result<permissions::Model, StoreError> {
    let exists = permissions::Entity::find()
        .filter(permissions::Column::Name.eq(name))
        .one(db)
        .await?;
    if exists.is_some() {
        return Err(StoreError::Conflict(format!(
            "a permission named `{name}` already exists"
        )));
    }
    permissions::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.into()),
        description: Set(description.into()),
        built_in: Set(built_in),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("a permission named `{name}` already exists")))
}

pub async fn delete_permission(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<permissions::Model, StoreError> {
    let perm = permissions::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no permission with id {id}")))?;
    if perm.built_in {
        return Err(StoreError::Conflict(format!(
            "`{}` is built in and cannot be deleted",
            perm.name
        )));
    }
    permissions::Entity::delete_by_id(id).exec(db).await?;
    Ok(perm)
}
