//! What exists without anyone creating it: the built-in permissions and roles, an application's seed file
//! (`KEYWARD_RBAC_SEED`), and the grants a login brings (default role, provider groups, bootstrap admins).
//! Everything here is idempotent: applying it twice changes nothing the second time, and a seed-file entry is
//! applied only once, so what admins change through the API afterwards stays changed.

use std::{collections::BTreeSet, path::Path};

use chrono::Utc;
use entity::{permissions, rbac_seed_applied, roles, users};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, TransactionSession, TransactionTrait,
    sea_query::OnConflict,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    ADMIN_ROLE, BUILTIN_PERMISSIONS, SOURCE_DEFAULT, SOURCE_MANUAL, USER_ROLE,
    mapping::MappingChange, store, valid_permission_name, valid_role_name,
};
use crate::{auth::provider::ProviderClaims, config::ProviderKind};

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

/// The provider's groups and roles as the claims carry them: `groups` everywhere, plus Keycloak's realm roles.
pub fn provider_groups(claims: &ProviderClaims, kind: ProviderKind) -> BTreeSet<String> {
    let mut groups: BTreeSet<String> = claims
        .groups
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    if kind != ProviderKind::Authentik
        && let Some(realm) = &claims.realm_access
    {
        groups.extend(realm.roles.iter().cloned());
    }
    // No role's idp_group holds a NUL (the API refuses one), and PostgreSQL cannot even be asked about it.
    groups.retain(|g| !g.contains('\0'));
    // Keycloak's group mapper may send full paths ("/admins"); match both spellings.
    let bare: Vec<String> = groups
        .iter()
        .filter_map(|g| g.strip_prefix('/').map(str::to_owned))
        .collect();
    groups.extend(bare);
    groups
}

/// Whether a `KEYWARD_BOOTSTRAP_ADMINS` entry names this user: `@` entries match a verified email, others
/// the subject.
pub fn is_bootstrap_admin(entries: &[String], user: &users::Model) -> bool {
    entries.iter().any(|entry| {
        if entry.contains('@') {
            user.email_verified
                && user
                    .email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(entry))
        } else {
            *entry == user.subject
        }
    })
}

/// What a login's grants changed.
#[derive(Debug, Default)]
pub struct LoginGrants {
    /// Any grant at all (default role, mapping, bootstrap admin): the access cache must learn of it.
    pub changed: bool,
    /// What the provider mapping changed, for the audit log.
    pub mapping: MappingChange,
}

/// The grants a login brings.
pub async fn on_login<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user: &users::Model,
    first_login: bool,
    groups: Option<&BTreeSet<String>>,
    bootstrap_admins: &[String],
) -> Result<LoginGrants, DbErr> {
    let mut out = LoginGrants::default();
    if first_login {
        let defaults = roles::Entity::find()
            .filter(roles::Column::IsDefault.eq(true))
            .all(db)
            .await?;
        for role in defaults {
            out.changed |= store::grant(db, user.id, role.id, SOURCE_DEFAULT, None).await?;
        }
    }
    if let Some(groups) = groups {
        out.mapping = store::set_provider_roles(db, user.id, groups).await?;
        out.changed |= out.mapping.changed();
    }
    if is_bootstrap_admin(bootstrap_admins, user)
        && let Some(admin) = store::find_role_by_name(db, ADMIN_ROLE).await?
    {
        let granted = store::grant(db, user.id, admin.id, SOURCE_MANUAL, None).await?;
        if granted {
            tracing::warn!(user_id = %user.id, "granted admin to a KEYWARD_BOOTSTRAP_ADMINS entry");
        }
        out.changed |= granted;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(email: Option<&str>, verified: bool, subject: &str) -> users::Model {
        users::Model {
            email: email.map(str::to_owned),
            email_verified: verified,
            ..crate::users::test_user(subject)
        }
    }

    #[test]
    fn bootstrap_admins_match_verified_emails_or_subjects() {
        let entries = vec!["Boss@Example.com".to_owned(), "sub-123".to_owned()];
        assert!(is_bootstrap_admin(
            &entries,
            &user(Some("boss@example.com"), true, "x")
        ));
        assert!(!is_bootstrap_admin(
            &entries,
            &user(Some("boss@example.com"), false, "x")
        ));
        assert!(is_bootstrap_admin(&entries, &user(None, false, "sub-123")));
        assert!(!is_bootstrap_admin(
            &entries,
            &user(Some("sub-123"), true, "y")
        ));
    }

    #[test]
    fn groups_come_from_groups_and_keycloak_realm_roles() {
        let claims: ProviderClaims = serde_json::from_value(serde_json::json!({
            "sub": "s", "groups": ["/admins", "users"], "realm_access": {"roles": ["offline_access", "ops"]}
        }))
        .unwrap();
        let kc = provider_groups(&claims, ProviderKind::Keycloak);
        for g in ["/admins", "admins", "users", "ops"] {
            assert!(kc.contains(g), "{g}");
        }
        let ak = provider_groups(&claims, ProviderKind::Authentik);
        assert!(!ak.contains("ops"));
    }

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
