//! The `user_roles` table: which roles a user holds, manual grants set through the API, provider grants set
//! at login, and single grants and revocations.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use entity::{roles, user_roles};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, TransactionSession, TransactionTrait, sea_query::OnConflict,
};
use uuid::Uuid;

use super::{
    StoreError, deleted_meanwhile, invalid,
    last_admin::{admin_holders, check_not_last_admin, lock_admin_changes},
    permissions::permissions_of_roles,
    roles::{check_may_take_away, check_no_escalation, find_role_by_name},
};
use crate::rbac::{
    ADMIN_ROLE, Access, SOURCE_DEFAULT, SOURCE_MANUAL, SOURCE_PROVIDER,
    mapping::{MappedRole, MappingChange},
};

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

/// A role a user holds and where that grant comes from (`manual`, `default`, `provider`). A role held from two
/// sources is two grants.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub role: String,
    pub source: String,
}

/// Each user's grants, ordered by role then source, for listings and views.
pub async fn grants_of_users(
    db: &impl ConnectionTrait,
    user_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Grant>>, DbErr> {
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
    let mut out: HashMap<Uuid, Vec<Grant>> = HashMap::new();
    for g in grants {
        if let Some(name) = names.get(&g.role_id) {
            out.entry(g.user_id).or_default().push(Grant {
                role: name.clone(),
                source: g.source,
            });
        }
    }
    out.values_mut().for_each(|grants| grants.sort());
    Ok(out)
}

/// One user's grants.
pub async fn grants_of(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<Grant>, DbErr> {
    Ok(grants_of_users(db, &[user_id])
        .await?
        .remove(&user_id)
        .unwrap_or_default())
}

/// Role names per user (whatever the source), for listings.
pub async fn role_names_of_users(
    db: &impl ConnectionTrait,
    user_ids: &[Uuid],
) -> Result<HashMap<Uuid, BTreeSet<String>>, DbErr> {
    Ok(grants_of_users(db, user_ids)
        .await?
        .into_iter()
        .map(|(user, grants)| (user, grants.into_iter().map(|g| g.role).collect()))
        .collect())
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
    let removed = roles::Entity::find()
        .filter(roles::Column::Id.is_in(manual.difference(&keep).copied()))
        .all(&txn)
        .await?;
    check_may_take_away(
        actor,
        &removed,
        &permissions_of_roles(&txn, &removed).await?,
    )?;
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
        grant(&txn, user_id, role.id, SOURCE_MANUAL, actor_id)
            .await
            .map_err(|e| deleted_meanwhile(e, &format!("the role `{}`", role.name)))?;
    }
    txn.commit().await?;
    Ok(())
}

/// Refuses taking all of a user's access away (deactivating them, ending their sessions) to an actor who could
/// not grant it: they must hold every permission of every role the user holds, and be an admin to act on one.
pub async fn check_may_take_all(
    db: &impl ConnectionTrait,
    actor: &Access,
    user_id: Uuid,
) -> Result<(), StoreError> {
    let held = roles_of(db, user_id).await?;
    check_may_take_away(actor, &held, &permissions_of_roles(db, &held).await?)
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

/// Removes a manual or default grant (a provider grant follows the provider's groups); refuses to take
/// `admin` from the last admin.
pub async fn revoke<C: ConnectionTrait + TransactionTrait>(
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
    // A default grant is the system's, not the provider's: the operator may take it back like a manual one.
    let deleted = user_roles::Entity::delete_many()
        .filter(user_roles::Column::UserId.eq(user_id))
        .filter(user_roles::Column::RoleId.eq(role.id))
        .filter(user_roles::Column::Source.is_in([SOURCE_MANUAL, SOURCE_DEFAULT]))
        .exec(db)
        .await?;
    txn.commit().await?;
    Ok(deleted.rows_affected > 0)
}

/// Makes the provider-mapped grants exactly the roles whose `idp_group` is among `groups`, and says what
/// changed. Manual and default grants are never touched; the last active admin keeps a provider `admin`.
pub async fn set_provider_roles<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: Uuid,
    groups: &BTreeSet<String>,
) -> Result<MappingChange, DbErr> {
    let current: BTreeSet<Uuid> = user_roles::Entity::find()
        .filter(user_roles::Column::UserId.eq(user_id))
        .filter(user_roles::Column::Source.eq(SOURCE_PROVIDER))
        .all(db)
        .await?
        .into_iter()
        .map(|g| g.role_id)
        .collect();
    let roles: HashMap<Uuid, MappedRole> = roles::Entity::find()
        .filter(
            Condition::any()
                .add(roles::Column::IdpGroup.is_not_null())
                .add(roles::Column::Id.is_in(current.clone())),
        )
        .all(db)
        .await?
        .into_iter()
        .map(|r| {
            let role = MappedRole {
                id: r.id,
                name: r.name,
                idp_group: r.idp_group,
            };
            (r.id, role)
        })
        .collect();
    let mut mapped: BTreeSet<Uuid> = roles
        .values()
        .filter(|r| r.idp_group.as_ref().is_some_and(|g| groups.contains(g)))
        .map(|r| r.id)
        .collect();
    let mut change = MappingChange::default();
    if mapped == current {
        return Ok(change);
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
            change.kept_last_admin = roles.get(&admin.id).cloned();
            if mapped == current {
                txn.commit().await?;
                return Ok(change);
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
    let named = |ids: Vec<&Uuid>| {
        ids.into_iter()
            .filter_map(|id| roles.get(id).cloned())
            .collect()
    };
    change.granted = named(mapped.difference(&current).collect());
    change.revoked = named(current.difference(&mapped).collect());
    Ok(change)
}
