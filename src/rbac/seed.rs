//! What exists without anyone creating it: the built-in permissions and roles and an application's seed file
//! (`KEYWARD_RBAC_SEED`); the grants a login brings are in `login_grants`.
//! Everything here is idempotent: applying it twice changes nothing the second time, and a seed-file entry is
//! applied only once, so what admins change through the API afterwards stays changed.

use std::{collections::BTreeSet, path::Path};

use chrono::Utc;
use entity::{permissions, rbac_seed_applied, roles};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, TransactionSession, TransactionTrait,
    sea_query::OnConflict,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    ADMIN_ROLE, BUILTIN_PERMISSIONS, USER_ROLE, store, valid_permission_name, valid_role_name,
};

/// The seed file's shape (YAML or JSON).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    #[serde(default)]
    pub permissions: Vec<SeedPermission>,
    #[serde(default)]
    pub roles: Vec<SeedRole>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedPermission {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRole {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Permissions the role starts with: each pair is added once (see `apply`), so removals made through the
    /// API survive restarts.
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub idp_group: Option<String>,
    #[serde(default)]
    pub is_default: bool,
}

impl SeedFile {
    /// Reads and checks a seed file; the error names the file and what is wrong.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        let seed: SeedFile = if yaml {
            serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        } else {
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        };
        for p in &seed.permissions {
            if !valid_permission_name(&p.name) {
                return Err(format!(
                    "{}: permission {:?} is not `resource:action`",
                    path.display(),
                    p.name
                ));
            }
        }
        for r in &seed.roles {
            if !valid_role_name(&r.name) {
                return Err(format!(
                    "{}: role {:?} does not match ^[a-z][a-z0-9_-]{{1,63}}$",
                    path.display(),
                    r.name
                ));
            }
        }
        Ok(seed)
    }
}

/// Seeds the built-ins and then the seed file, in one transaction.
///
/// Built-ins are ensured at every start. Each seed-file entry (a permission, a role, a role holding a
/// permission) is applied once and recorded in `rbac_seed_applied`: re-applying it at every start would undo
/// removals made through the API (an emptied role would get its permissions back at the next restart, to
/// whoever was granted it because it held nothing). Entries added to the file later are applied at the next
/// start.
pub async fn apply<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    seed: Option<&SeedFile>,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        // Instances starting together would otherwise both find an entry unapplied and both apply it.
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(7355608002)")
            .await?;
    }
    for (name, description) in BUILTIN_PERMISSIONS {
        ensure_permission(&txn, name, description, true).await?;
    }
    ensure_role(&txn, USER_ROLE, "Every signed-in user", true, true, None).await?;
    ensure_role(
        &txn,
        ADMIN_ROLE,
        "Holds every permission",
        false,
        true,
        None,
    )
    .await?;
    if let Some(seed) = seed {
        apply_file(&txn, seed).await?;
    }
    txn.commit().await
}

const APPLIED_PERMISSION: &str = "permission";
const APPLIED_ROLE: &str = "role";
const APPLIED_ROLE_PERMISSION: &str = "role_permission";

async fn applied(db: &impl ConnectionTrait) -> Result<BTreeSet<(String, String)>, DbErr> {
    Ok(rbac_seed_applied::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.kind, a.name))
        .collect())
}

async fn mark_applied(db: &impl ConnectionTrait, kind: &str, name: &str) -> Result<(), DbErr> {
    rbac_seed_applied::Entity::insert(rbac_seed_applied::ActiveModel {
        kind: Set(kind.into()),
        name: Set(name.into()),
        applied_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            rbac_seed_applied::Column::Kind,
            rbac_seed_applied::Column::Name,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map(|_| ())
}

async fn apply_file(txn: &impl ConnectionTrait, seed: &SeedFile) -> Result<(), DbErr> {
    let done = applied(txn).await?;
    let is_done = |kind: &str, name: &str| done.contains(&(kind.to_owned(), name.to_owned()));
    for p in &seed.permissions {
        if !is_done(APPLIED_PERMISSION, &p.name) {
            ensure_permission(txn, &p.name, &p.description, false).await?;
            mark_applied(txn, APPLIED_PERMISSION, &p.name).await?;
        }
    }
    for r in &seed.roles {
        // A typo in the file stops start-up even when the entry was applied long ago.
        for name in &r.permissions {
            let known = BUILTIN_PERMISSIONS.iter().any(|(b, _)| b == name)
                || seed.permissions.iter().any(|p| p.name == *name)
                || permission_by_name(txn, name).await?.is_some();
            if !known {
                return Err(DbErr::Custom(format!(
                    "KEYWARD_RBAC_SEED: role `{}` names unknown permission `{name}`",
                    r.name
                )));
            }
        }
        if !is_done(APPLIED_ROLE, &r.name) {
            ensure_role(
                txn,
                &r.name,
                &r.description,
                r.is_default,
                false,
                r.idp_group.as_deref(),
            )
            .await?;
            mark_applied(txn, APPLIED_ROLE, &r.name).await?;
        }
        for name in &r.permissions {
            let key = format!("{} {name}", r.name);
            if is_done(APPLIED_ROLE_PERMISSION, &key) {
                continue;
            }
            mark_applied(txn, APPLIED_ROLE_PERMISSION, &key).await?;
            if r.name == ADMIN_ROLE {
                continue;
            }
            // Deleted through the API since the file created them: the deletion wins.
            let (Some(role), Some(perm)) = (
                store::find_role_by_name(txn, &r.name).await?,
                permission_by_name(txn, name).await?,
            ) else {
                tracing::warn!(role = %r.name, permission = %name,
                    "KEYWARD_RBAC_SEED: the role or permission was deleted through the API; not re-created");
                continue;
            };
            entity::role_permissions::Entity::insert(entity::role_permissions::ActiveModel {
                role_id: Set(role.id),
                permission_id: Set(perm.id),
            })
            .on_conflict(
                OnConflict::columns([
                    entity::role_permissions::Column::RoleId,
                    entity::role_permissions::Column::PermissionId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        }
    }
    Ok(())
}

async fn permission_by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<permissions::Model>, DbErr> {
    permissions::Entity::find()
        .filter(permissions::Column::Name.eq(name))
        .one(db)
        .await
}

async fn ensure_permission(
    db: &impl ConnectionTrait,
    name: &str,
    description: &str,
    built_in: bool,
) -> Result<(), DbErr> {
    permissions::Entity::insert(permissions::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.into()),
        description: Set(description.into()),
        built_in: Set(built_in),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(permissions::Column::Name)
            .update_column(permissions::Column::Description)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map(|_| ())
}

async fn ensure_role(
    db: &impl ConnectionTrait,
    name: &str,
    description: &str,
    is_default: bool,
    built_in: bool,
    idp_group: Option<&str>,
) -> Result<roles::Model, DbErr> {
    if let Some(existing) = store::find_role_by_name(db, name).await? {
        // A built-in keeps what admins set, even when the seed file names it (`user`, `admin`): the file may
        // only add permissions to `user`.
        if existing.built_in
            || existing.description == description
                && existing.idp_group.as_deref() == idp_group
                && existing.is_default == is_default
        {
            return Ok(existing);
        }
        let mut row = existing.into_active_model();
        row.description = Set(description.into());
        row.idp_group = Set(idp_group.map(str::to_owned));
        row.is_default = Set(is_default);
        row.updated_at = Set(Utc::now());
        return row.update(db).await;
    }
    let now = Utc::now();
    roles::Entity::insert(roles::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.into()),
        description: Set(description.into()),
        is_default: Set(is_default),
        built_in: Set(built_in),
        idp_group: Set(idp_group.map(str::to_owned)),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(roles::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    store::find_role_by_name(db, name)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("role {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed.yaml");
        std::fs::write(
            &path,
            "permissions:\n  - name: invoices:approve\n    description: Approve\nroles:\n  - name: accountant\n    permissions: [invoices:approve]\n    idp_group: finance\n",
        )
        .unwrap();
        let seed = SeedFile::load(&path).unwrap();
        assert_eq!(seed.roles[0].permissions, ["invoices:approve"]);
        std::fs::write(&path, "roles:\n  - name: Bad Name\n").unwrap();
        assert!(SeedFile::load(&path).unwrap_err().contains("Bad Name"));
        std::fs::write(&path, "roles:\n  - name: ok\n    colour: red\n").unwrap();
        assert!(SeedFile::load(&path).unwrap_err().contains("colour"));
    }
}
