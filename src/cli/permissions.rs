//! `keyward permissions list | create | delete`.

use entity::permissions;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::changed;
use crate::{audit::Event, db::Db, rbac::store};

/// Every permission: name, built-in flag, description.
pub async fn permissions_list(db: &Db) -> anyhow::Result<String> {
    let (all, _) = store::list_permissions(db, 1, u64::MAX / 2).await?;
    Ok(all
        .iter()
        .map(|p| {
            let flag = if p.built_in { "built-in" } else { "-" };
            format!("{}\t{flag}\t{}\n", p.name, p.description)
        })
        .collect())
}

/// `keyward permissions create <name> [--description …]`: `resource:action`, unique.
pub async fn permissions_create(db: &Db, name: &str, description: &str) -> anyhow::Result<String> {
    if !crate::rbac::valid_permission_name(name) {
        anyhow::bail!(
            "{name:?} is not a permission name: `resource:action`, such as invoices:approve"
        );
    }
    let perm = store::create_permission(db, name, description, false)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    changed(
        db,
        Event::success("permission.created", None).target(&perm.name),
    )
    .await?;
    Ok(format!("created permission {}", perm.name))
}

/// `keyward permissions delete <name>`: built-in permissions stay; roles lose the deleted one.
pub async fn permissions_delete(db: &Db, name: &str) -> anyhow::Result<String> {
    let perm = permissions::Entity::find()
        .filter(permissions::Column::Name.eq(name))
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no permission named {name}"))?;
    let perm = store::delete_permission(db, perm.id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    changed(
        db,
        Event::success("permission.deleted", None).target(&perm.name),
    )
    .await?;
    Ok(format!("deleted permission {}", perm.name))
}
