//! The grants a login brings: the default roles at the first login, the roles mapped from the provider's
//! groups and realm roles, and `admin` for the `KEYWARD_BOOTSTRAP_ADMINS` entries.

use std::collections::BTreeSet;

use entity::{roles, users};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait};

use super::{ADMIN_ROLE, SOURCE_DEFAULT, SOURCE_MANUAL, mapping::MappingChange, store};
use crate::{audit, auth::provider::ProviderClaims, config::ProviderKind};

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
            // The operator's setting acts, not a user: no actor; the target by name and id.
            let who = user.email.as_deref().unwrap_or(&user.subject);
            let event = audit::Event::success("role.bootstrap_granted", None)
                .target(format!("{who} ({})", user.id))
                .detail("`admin` granted at login: listed in KEYWARD_BOOTSTRAP_ADMINS");
            audit::record(db, &audit::Origin::default(), event).await;
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
}
