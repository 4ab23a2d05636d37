//! Roles mapped from the provider's groups and realm roles: what one re-evaluation changed, its audit events,
//! and the plan a sync run makes from the provider's memberships (pure).

use std::collections::{BTreeSet, HashMap};

use entity::users;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::audit::{self, Event, Origin};

/// A role with an `idp_group`, as the mapping reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedRole {
    pub id: Uuid,
    pub name: String,
    /// `None` for a provider grant of a role that is no longer mapped (its `idp_group` was cleared).
    pub idp_group: Option<String>,
}

/// What re-evaluating one user's provider grants changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingChange {
    pub granted: Vec<MappedRole>,
    pub revoked: Vec<MappedRole>,
    /// `admin` the user's groups no longer map to, kept because they are the last active admin.
    pub kept_last_admin: Option<MappedRole>,
}

impl MappingChange {
    /// Whether a grant was added or removed (a kept `admin` changes nothing).
    pub fn changed(&self) -> bool {
        !self.granted.is_empty() || !self.revoked.is_empty()
    }
}

/// What re-evaluated the mapping, for the audit log.
#[derive(Debug, Clone, Copy)]
pub enum MappedBy<'a> {
    Login,
    Refresh,
    Sync(Uuid),
    /// A provider access token seen for the first time.
    Bearer,
    Other(&'a str),
}

impl std::fmt::Display for MappedBy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Login => f.write_str("login"),
            Self::Refresh => f.write_str("provider token refresh"),
            Self::Sync(run) => write!(f, "sync run {run}"),
            Self::Bearer => f.write_str("first use of a provider access token"),
            Self::Other(what) => f.write_str(what),
        }
    }
}

/// The audit events of one change: one per role granted or revoked (the kinds manual grants use), each
/// saying it came from the provider mapping, which group, and what re-evaluated it. The actor is no user:
/// `by` names the login, refresh or sync run; the target is the user.
pub async fn record(
    db: &impl ConnectionTrait,
    origin: &Origin,
    user: &users::Model,
    change: &MappingChange,
    by: MappedBy<'_>,
) {
    let detail = |role: &MappedRole, extra: &str| {
        let group = role.idp_group.as_deref().unwrap_or("(no longer mapped)");
        format!(
            "role {}; source: provider mapping; group: {group}; by: {by}{extra}",
            role.name
        )
    };
    let target = crate::users::label(user);
    for role in &change.granted {
        let event = Event::success("user.role_granted", None)
            .target(target.clone())
            .detail(detail(role, ""));
        audit::record(db, origin, event).await;
    }
    for role in &change.revoked {
        let event = Event::success("user.role_revoked", None)
            .target(target.clone())
            .detail(detail(role, ""));
        audit::record(db, origin, event).await;
    }
    if let Some(role) = &change.kept_last_admin {
        let why = detail(role, "; kept: this is the last active admin");
        let event = Event::failure("user.role_revoked", None, why).target(target.clone());
        audit::record(db, origin, event).await;
    }
}

/// The users whose provider grants a sync must set, each with the groups to set them from: those whose
/// current provider grants differ from the mapped roles their groups give. `members` holds, per subject, the
/// groups and realm roles the provider says they are in (only mapped ones need be there); `current`, per user,
/// the roles they hold from the provider. A user in no mapped group gets an empty set: they lose their
/// provider grants.
pub fn plan(
    mapped: &[MappedRole],
    members: &HashMap<String, BTreeSet<String>>,
    local: &[(Uuid, String)],
    current: &HashMap<Uuid, BTreeSet<Uuid>>,
) -> Vec<(Uuid, BTreeSet<String>)> {
    let (none, no_roles) = (BTreeSet::new(), BTreeSet::new());
    let mut out = Vec::new();
    for (user_id, subject) in local {
        let groups = members.get(subject).unwrap_or(&none);
        let wanted: BTreeSet<Uuid> = mapped
            .iter()
            .filter(|r| r.idp_group.as_ref().is_some_and(|g| groups.contains(g)))
            .map(|r| r.id)
            .collect();
        let held = current.get(user_id).unwrap_or(&no_roles);
        if wanted != *held {
            out.push((*user_id, groups.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, group: &str) -> MappedRole {
        MappedRole {
            id: Uuid::new_v4(),
            name: name.into(),
            idp_group: Some(group.into()),
        }
    }

    #[test]
    fn a_sync_sets_only_users_whose_groups_map_to_other_roles_than_they_hold() {
        let staff = role("staff", "users");
        let ops = role("ops", "ops");
        let mapped = vec![staff.clone(), ops.clone()];
        let (bob, zoe, ann, left) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let local = vec![
            (bob, "bob".to_owned()),
            (zoe, "zoe".to_owned()),
            (ann, "ann".to_owned()),
            (left, "left".to_owned()),
        ];
        let members: HashMap<String, BTreeSet<String>> = [
            ("bob", vec!["users"]),
            ("zoe", vec!["users", "ops", "unmapped"]),
            ("ann", vec!["unmapped"]),
        ]
        .into_iter()
        .map(|(s, g)| (s.to_owned(), g.into_iter().map(str::to_owned).collect()))
        .collect();
        let current: HashMap<Uuid, BTreeSet<Uuid>> = [
            // bob holds what his groups give: nothing to do.
            (bob, BTreeSet::from([staff.id])),
            // zoe joined `ops`.
            (zoe, BTreeSet::from([staff.id])),
            // `left` is in no group any more.
            (left, BTreeSet::from([ops.id])),
        ]
        .into_iter()
        .collect();
        let mut plan = plan(&mapped, &members, &local, &current);
        plan.sort();
        let mut expected = vec![
            (
                zoe,
                BTreeSet::from(["users".into(), "ops".into(), "unmapped".into()]),
            ),
            (left, BTreeSet::new()),
        ];
        expected.sort();
        assert_eq!(plan, expected);
    }

    #[test]
    fn a_grant_of_a_role_no_longer_mapped_is_taken_back() {
        let gone = MappedRole {
            idp_group: None,
            ..role("was-mapped", "x")
        };
        let user = Uuid::new_v4();
        let current = HashMap::from([(user, BTreeSet::from([gone.id]))]);
        let members = HashMap::from([("s".to_owned(), BTreeSet::from(["x".to_owned()]))]);
        let plan = plan(&[], &members, &[(user, "s".into())], &current);
        assert_eq!(plan, vec![(user, BTreeSet::from(["x".to_owned()]))]);
    }
}
