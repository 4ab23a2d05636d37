//! `keyward roles list | grant | revoke | create | delete | permissions`.

use entity::users;

use super::{changed, find_user, operator, role_named};
use crate::{
    audit::Event,
    db::Db,
    rbac::{SOURCE_MANUAL, store},
};

/// Tells running instances and writes the audit event; called only when a grant really changed.
async fn grant_changed(
    db: &Db,
    kind: &'static str,
    user: &users::Model,
    role: &str,
) -> anyhow::Result<()> {
    let event = Event::success(kind, None)
        .target(crate::users::label(user))
        .detail(role);
    changed(db, event).await
}

pub async fn roles_list(db: &Db) -> anyhow::Result<String> {
    let (roles, _) = store::list_roles(db, 1, u64::MAX / 2).await?;
    let mut out = String::new();
    for r in roles {
        let holders = crate::users::list(
            db,
            &crate::users::UserFilter {
                role_id: Some(r.role.id),
                ..Default::default()
            },
            1,
            1,
        )
        .await?
        .1;
        let flags = [
            r.role.built_in.then_some("built-in"),
            r.role.is_default.then_some("default"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(",");
        out.push_str(&format!(
            "{}\t{} users\t{}\t{}\n",
            r.role.name,
            holders,
            if flags.is_empty() { "-" } else { &flags },
            r.permissions.join(" ")
        ));
    }
    Ok(out)
}

/// `keyward roles grant <user> <role>`: a manual grant; the user is named as [`find_user`] reads it.
pub async fn roles_grant(db: &Db, who: &str, role: &str) -> anyhow::Result<String> {
    let user = find_user(db, who).await?;
    let role = role_named(db, role).await?;
    let name = crate::users::label(&user);
    if !store::grant(db, user.id, role.id, SOURCE_MANUAL, None).await? {
        return Ok(format!("{name} already holds {}", role.name));
    }
    grant_changed(db, "user.role_granted", &user, &role.name).await?;
    Ok(format!("granted {} to {name}", role.name))
}

/// `keyward roles revoke <user> <role>`: removes a manual grant; the last admin keeps `admin`.
pub async fn roles_revoke(db: &Db, who: &str, role: &str) -> anyhow::Result<String> {
    let user = find_user(db, who).await?;
    let role = role_named(db, role).await?;
    let name = crate::users::label(&user);
    let removed = store::revoke_manual(db, user.id, &role)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !removed {
        return Ok(format!("{name} holds no manual grant of {}", role.name));
    }
    grant_changed(db, "user.role_revoked", &user, &role.name).await?;
    Ok(format!("revoked {} from {name}", role.name))
}

/// What `keyward roles create` makes.
pub struct CreateRole {
    pub name: String,
    pub description: String,
    pub is_default: bool,
    pub idp_group: Option<String>,
    pub permissions: Vec<String>,
}

/// `keyward roles create <name> …`: the admin API's rules (name pattern, known permissions, unique name).
pub async fn roles_create(db: &Db, new: CreateRole) -> anyhow::Result<String> {
    if !crate::rbac::valid_role_name(&new.name) {
        anyhow::bail!(
            "{:?} is not a role name: 2 to 64 lowercase letters, digits, `_` or `-`, starting with a letter",
            new.name
        );
    }
    let view = store::create_role(
        db,
        &operator(db).await?,
        store::NewRole {
            name: new.name,
            description: new.description,
            is_default: new.is_default,
            idp_group: new.idp_group,
            permissions: new.permissions,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    changed(
        db,
        Event::success("role.created", None).target(&view.role.name),
    )
    .await?;
    Ok(format!(
        "created role {} ({})",
        view.role.name,
        permissions_text(&view.permissions)
    ))
}

/// `keyward roles delete <name>`: built-in roles stay.
pub async fn roles_delete(db: &Db, name: &str) -> anyhow::Result<String> {
    let role = role_named(db, name).await?;
    let role = store::delete_role(db, role.id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    changed(db, Event::success("role.deleted", None).target(&role.name)).await?;
    Ok(format!("deleted role {} and every grant of it", role.name))
}

/// `keyward roles permissions <name> [<permission>…]`: the role's permissions become exactly these.
pub async fn roles_permissions(
    db: &Db,
    name: &str,
    permissions: &[String],
) -> anyhow::Result<String> {
    let role = role_named(db, name).await?;
    let view = store::set_role_permissions(db, &operator(db).await?, role.id, permissions)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    changed(
        db,
        Event::success("role.permissions_set", None)
            .target(&view.role.name)
            .detail(view.permissions.join(",")),
    )
    .await?;
    Ok(format!(
        "{} now has {}",
        view.role.name,
        permissions_text(&view.permissions)
    ))
}

fn permissions_text(permissions: &[String]) -> String {
    if permissions.is_empty() {
        "no permissions".into()
    } else {
        permissions.join(" ")
    }
}
