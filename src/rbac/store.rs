//! Reading and changing roles, permissions and grants, with the rules that keep them safe: built-ins stay,
//! nobody grants what they do not hold, and the last admin stays an admin.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use entity::{permissions, role_permissions, roles, user_roles, users};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, SqlErr, TransactionSession, TransactionTrait,
    sea_query::{Expr, OnConflict, Query},
};
use uuid::Uuid;

use super::{ADMIN_ROLE, Access, SOURCE_MANUAL, SOURCE_PROVIDER};

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

/// Serialises changes that could take `admin` from its last holder, so that two of them (say, two admins
/// deactivating each other) cannot both pass the last-admin check. Call first in the transaction: a no-op
/// write to the `admin` row takes its row lock on PostgreSQL and the database write lock on SQLite before
/// anything is read, and PostgreSQL's READ COMMITTED then lets the later reads see what the previous holder
/// committed.
pub async fn lock_admin_changes(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
    roles::Entity::update_many()
        .col_expr(
            roles::Column::UpdatedAt,
            Expr::col(roles::Column::UpdatedAt),
        )
        .filter(roles::Column::Name.eq(ADMIN_ROLE))
        .exec(txn)
        .await?;
    Ok(())
}

fn invalid(field: &str, message: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A role and the names of its permissions (for `admin`: every permission).
#[derive(Debug, Clone)]
pub struct RoleView {
    pub role: roles::Model,
    pub permissions: Vec<String>,
}

pub async fn all_permission_names(db: &impl ConnectionTrait) -> Result<BTreeSet<String>, DbErr> {
    Ok(permissions::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect())
}

/// Permission names per role. `admin` holds them all, whatever the table says.
async fn permissions_of_roles(
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

/// The roles a user holds, from any source.
pub async fn roles_of(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<roles::Model>, DbErr> {
    let role_ids: BTreeSet<Uuid> = user_roles::Entity::find()
        .filter(user_roles::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|g| g.role_id)
        .collect();
    roles::Entity::find()
        .filter(roles::Column::Id.is_in(role_ids))
        .order_by_asc(roles::Column::Name)
        .all(db)
        .await
}

pub async fn effective_access(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Access, DbErr> {
    let roles = roles_of(db, user_id).await?;
    let perms = permissions_of_roles(db, &roles).await?;
    Ok(Access {
        roles: roles.iter().map(|r| r.name.clone()).collect(),
        permissions: perms.into_values().flatten().collect(),
    })
}

/// Role names per user, for listings.
pub async fn role_names_of_users(
    db: &impl ConnectionTrait,
    user_ids: &[Uuid],
) -> Result<HashMap<Uuid, BTreeSet<String>>, DbErr> {
    let grants = user_roles::Entity::find()
        .filter(user_roles::Column::UserId.is_in(user_ids.to_vec()))
        .all(db)
        .await?;
    let role_ids: BTreeSet<Uuid> = grants.iter().map(|g| g.role_id).collect();
    let names: HashMap<Uuid, String> = roles::Entity::find()
        .filter(roles::Column::Id.is_in(role_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    let mut out: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
    for g in grants {
        if let Some(name) = names.get(&g.role_id) {
            out.entry(g.user_id).or_default().insert(name.clone());
        }
    }
    Ok(out)
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

/// Resolves permission names to rows, naming the first that does not exist.
async fn permission_ids(
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

/// Refuses a change that would hand out permissions the actor does not hold.
fn check_no_escalation<'a>(
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
    link_permissions(&txn, role.id, &perm_ids).await?;
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
    row.update(db).await.map_err(|e| {
        conflict_on_unique(e, || {
            format!(
                "a role named `{}` already exists",
                new_name.unwrap_or_default()
            )
        })
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
    link_permissions(&txn, id, &perm_ids).await?;
    txn.commit().await?;
    find_role(db, id).await
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

/// `SELECT user_id FROM user_roles WHERE role_id = ?`: a subquery, because a role may have more holders than
/// PostgreSQL takes bind parameters (65 535).
pub fn holders_of(role_id: Uuid) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(user_roles::Column::UserId)
        .from(user_roles::Entity)
        .and_where(user_roles::Column::RoleId.eq(role_id))
        .to_owned()
}

/// Active users holding `admin`, from any source.
pub async fn admin_holders(db: &impl ConnectionTrait) -> Result<BTreeSet<Uuid>, DbErr> {
    let Some(admin) = find_role_by_name(db, ADMIN_ROLE).await? else {
        return Ok(BTreeSet::new());
    };
    Ok(users::Entity::find()
        .filter(users::Column::Id.in_subquery(holders_of(admin.id)))
        .filter(users::Column::Active.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect())
}

/// Refuses a change after which nobody active would hold `admin`. Call inside a transaction that took
/// `lock_admin_changes` first, or the answer may be stale by the time of the write.
pub async fn check_not_last_admin(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<(), StoreError> {
    let holders = admin_holders(db).await?;
    if holders.len() == 1 && holders.contains(&user_id) {
        return Err(StoreError::Conflict(
            "this is the last active admin: grant `admin` to someone else first".into(),
        ));
    }
    Ok(())
}

/// Replaces the user's manual grants with `names`. Grants mapped from the provider are left alone.
pub async fn set_manual_roles<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor_id: Option<Uuid>,
    actor: &Access,
    user_id: Uuid,
    names: &[String],
) -> Result<(), StoreError> {
    let mut roles_by_name: HashMap<String, roles::Model> = HashMap::new();
    // The index is the one in the request, so a client can point at the offending entry.
    for (i, name) in names.iter().enumerate() {
        if roles_by_name.contains_key(name) {
            continue;
        }
        let role = find_role_by_name(db, name)
            .await?
            .ok_or_else(|| invalid(&format!("roles[{i}]"), format!("no role named `{name}`")))?;
        roles_by_name.insert(role.name.clone(), role);
    }
    let txn = db.begin().await?;
    lock_admin_changes(&txn).await?;
    let current = user_roles::Entity::find()
        .filter(user_roles::Column::UserId.eq(user_id))
        .all(&txn)
        .await?;
    let manual: BTreeSet<Uuid> = current
        .iter()
        .filter(|g| g.source == SOURCE_MANUAL)
        .map(|g| g.role_id)
        .collect();
    let added: Vec<roles::Model> = roles_by_name
        .values()
        .filter(|r| !manual.contains(&r.id))
        .cloned()
        .collect();
    let added_perms = permissions_of_roles(&txn, &added).await?;
    check_no_escalation(actor, added_perms.values().flatten())?;
    // Holding every permission that exists today is not enough: `admin` also holds those created later.
    if added.iter().any(|r| r.name == ADMIN_ROLE) && !actor.is_admin() {
        return Err(StoreError::Forbidden(
            "only an admin may grant `admin`, which also holds permissions created later".into(),
        ));
    }
    let keep: BTreeSet<Uuid> = roles_by_name.values().map(|r| r.id).collect();
    let admin_kept = roles_by_name.contains_key(ADMIN_ROLE);
    if !admin_kept && let Some(admin) = find_role_by_name(&txn, ADMIN_ROLE).await? {
        let loses_admin = manual.contains(&admin.id)
            && !current
                .iter()
                .any(|g| g.role_id == admin.id && g.source == SOURCE_PROVIDER);
        if loses_admin {
            check_not_last_admin(&txn, user_id).await?;
        }
    }
    user_roles::Entity::delete_many()
        .filter(user_roles::Column::UserId.eq(user_id))
        .filter(user_roles::Column::Source.eq(SOURCE_MANUAL))
        .filter(user_roles::Column::RoleId.is_not_in(keep.clone()))
        .exec(&txn)
        .await?;
    for role in added {
        grant(&txn, user_id, role.id, SOURCE_MANUAL, actor_id).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Adds one grant (no-op when it exists).
pub async fn grant(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    role_id: Uuid,
    source: &str,
    granted_by: Option<Uuid>,
) -> Result<bool, DbErr> {
    let inserted = user_roles::Entity::insert(user_roles::ActiveModel {
        user_id: Set(user_id),
        role_id: Set(role_id),
        source: Set(source.into()),
        granted_by: Set(granted_by),
        granted_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            user_roles::Column::UserId,
            user_roles::Column::RoleId,
            user_roles::Column::Source,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(inserted > 0)
}

/// Removes a manual grant; refuses to take `admin` from the last admin.
pub async fn revoke_manual<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: Uuid,
    role: &roles::Model,
) -> Result<bool, StoreError> {
    let txn = db.begin().await?;
    let db = &txn;
    if role.name == ADMIN_ROLE {
        lock_admin_changes(db).await?;
        let via_provider = user_roles::Entity::find()
            .filter(user_roles::Column::UserId.eq(user_id))
            .filter(user_roles::Column::RoleId.eq(role.id))
            .filter(user_roles::Column::Source.eq(SOURCE_PROVIDER))
            .one(db)
            .await?
            .is_some();
        if !via_provider {
            check_not_last_admin(db, user_id).await?;
        }
    }
    let deleted = user_roles::Entity::delete_many()
        .filter(user_roles::Column::UserId.eq(user_id))
        .filter(user_roles::Column::RoleId.eq(role.id))
        .filter(user_roles::Column::Source.eq(SOURCE_MANUAL))
        .exec(db)
        .await?;
    txn.commit().await?;
    Ok(deleted.rows_affected > 0)
}

/// Makes the provider-mapped grants exactly the roles whose `idp_group` is among `groups`. Returns whether
/// anything changed.
pub async fn set_provider_roles<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: Uuid,
    groups: &BTreeSet<String>,
) -> Result<bool, DbErr> {
    let mut mapped: BTreeSet<Uuid> = roles::Entity::find()
        .filter(roles::Column::IdpGroup.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .filter(|r| r.idp_group.as_ref().is_some_and(|g| groups.contains(g)))
        .map(|r| r.id)
        .collect();
    let current: BTreeSet<Uuid> = user_roles::Entity::find()
        .filter(user_roles::Column::UserId.eq(user_id))
        .filter(user_roles::Column::Source.eq(SOURCE_PROVIDER))
        .all(db)
        .await?
        .into_iter()
        .map(|g| g.role_id)
        .collect();
    if mapped == current {
        return Ok(false);
    }
    let txn = db.begin().await?;
    if let Some(admin) = find_role_by_name(&txn, ADMIN_ROLE).await?
        && current.contains(&admin.id)
        && !mapped.contains(&admin.id)
    {
        lock_admin_changes(&txn).await?;
        let manual_admin = user_roles::Entity::find()
            .filter(user_roles::Column::UserId.eq(user_id))
            .filter(user_roles::Column::RoleId.eq(admin.id))
            .filter(user_roles::Column::Source.eq(SOURCE_MANUAL))
            .one(&txn)
            .await?
            .is_some();
        let holders = admin_holders(&txn).await?;
        if !manual_admin && holders.len() == 1 && holders.contains(&user_id) {
            // Losing the last admin to a group change at the provider would leave nobody able to fix it
            // through the API; the grant stays until another admin exists.
            tracing::warn!(%user_id, "kept the provider grant of `admin`: this is the last active admin");
            mapped.insert(admin.id);
            if mapped == current {
                txn.commit().await?;
                return Ok(false);
            }
        }
    }
    user_roles::Entity::delete_many()
        .filter(user_roles::Column::UserId.eq(user_id))
        .filter(user_roles::Column::Source.eq(SOURCE_PROVIDER))
        .filter(user_roles::Column::RoleId.is_not_in(mapped.clone()))
        .exec(&txn)
        .await?;
    for role_id in mapped.difference(&current) {
        grant(&txn, user_id, *role_id, SOURCE_PROVIDER, None).await?;
    }
    txn.commit().await?;
    Ok(true)
}
