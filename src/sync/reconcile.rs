//! What a page of the provider's directory means for the local users table: a pure function, so every rule
//! is tested without a provider or a database.
//!
//! Rules: matched users (by subject) get the provider's metadata; users disabled at the provider become
//! inactive, and users the sync deactivated come back when the provider enables them again (an admin's
//! deactivation stays); users the provider does not know are created only when asked to. Users missing from
//! a complete listing are handled by [`super::local::LocalIndex::missing`]. Rows are never deleted and roles
//! never touched.

use std::{collections::HashMap, hash::BuildHasher};

use entity::users;
use sea_orm::FromQueryResult;
use uuid::Uuid;

use super::directory::DirectoryUser;
use crate::users::{BY_PROVIDER, Profile};

/// What the sync needs of a local user: only the columns it compares or changes, so a run over a large
/// directory reads little.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct LocalUser {
    pub id: Uuid,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    pub active: bool,
    pub deactivated_by: Option<String>,
}

impl LocalUser {
    /// The columns it is read from.
    pub const COLUMNS: [users::Column; 9] = [
        users::Column::Id,
        users::Column::Subject,
        users::Column::Email,
        users::Column::EmailVerified,
        users::Column::DisplayName,
        users::Column::Username,
        users::Column::AvatarUrl,
        users::Column::Active,
        users::Column::DeactivatedBy,
    ];

    /// The tests' way to a digest; the run itself digests rows as it reads them.
    #[cfg(test)]
    pub fn to_ref(&self) -> LocalUserRef<'_> {
        LocalUserRef {
            id: self.id,
            email: self.email.as_deref(),
            email_verified: self.email_verified,
            display_name: self.display_name.as_deref(),
            username: self.username.as_deref(),
            avatar_url: self.avatar_url.as_deref(),
            active: self.active,
            deactivated_by: self.deactivated_by.as_deref(),
        }
    }
}

/// A local user's columns borrowed from wherever they were read: the run's first read takes them straight from
/// each database row, without copying the text.
#[derive(Debug, Clone, Copy)]
pub struct LocalUserRef<'a> {
    pub id: Uuid,
    pub email: Option<&'a str>,
    pub email_verified: bool,
    pub display_name: Option<&'a str>,
    pub username: Option<&'a str>,
    pub avatar_url: Option<&'a str>,
    pub active: bool,
    pub deactivated_by: Option<&'a str>,
}

impl From<&users::Model> for LocalUser {
    fn from(u: &users::Model) -> Self {
        Self {
            id: u.id,
            subject: u.subject.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            display_name: u.display_name.clone(),
            username: u.username.clone(),
            avatar_url: u.avatar_url.clone(),
            active: u.active,
            deactivated_by: u.deactivated_by.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// New metadata for an existing user.
    Update { id: Uuid, profile: Profile },
    /// Disabled at the provider.
    Deactivate { id: Uuid },
    /// Enabled again at the provider after the sync had deactivated them.
    Reactivate { id: Uuid },
    /// Known to the provider, not yet to Keyward.
    Create {
        subject: String,
        profile: Profile,
        active: bool,
    },
}

fn profile_of(d: &DirectoryUser, current: Option<&LocalUser>) -> Profile {
    let email_verified = match d.email_verified {
        Some(v) => v,
        // Unknown at the provider: keep what the login said, as long as the address is the same.
        None => current.is_some_and(|u| u.email_verified && u.email == d.email),
    };
    Profile {
        email: d.email.clone(),
        email_verified: email_verified && d.email.is_some(),
        display_name: d.display_name.clone(),
        username: d.username.clone(),
        avatar_url: d.avatar_url.clone(),
    }
    .storable()
}

fn profile_of_user(u: &LocalUser) -> Profile {
    Profile {
        email: u.email.clone(),
        email_verified: u.email_verified,
        display_name: u.display_name.clone(),
        username: u.username.clone(),
        avatar_url: u.avatar_url.clone(),
    }
}

/// The changes one page calls for. `local` holds the local users of this page's subjects.
pub fn reconcile_page(
    page: &[DirectoryUser],
    local: &HashMap<String, LocalUser>,
    create_users: bool,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for d in page {
        match local.get(&d.subject) {
            Some(u) => {
                let profile = profile_of(d, Some(u));
                if profile != profile_of_user(u) {
                    changes.push(Change::Update { id: u.id, profile });
                }
                if !d.enabled && u.active {
                    changes.push(Change::Deactivate { id: u.id });
                } else if d.enabled && !u.active && u.deactivated_by.as_deref() == Some(BY_PROVIDER)
                {
                    changes.push(Change::Reactivate { id: u.id });
                }
            }
            None if create_users => changes.push(Change::Create {
                subject: d.subject.clone(),
                profile: profile_of(d, None),
                active: d.enabled,
            }),
            None => {}
        }
    }
    changes
}

/// A local user reduced to what tells whether a directory entry changes them. A run keeps one per local user
/// (tens of bytes, where the user's columns take hundreds) and reads from the table only the users whose
/// digest a page contradicts: an unchanged directory costs one read of the table and no writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    pub id: Uuid,
    pub active: bool,
    /// The compared text columns, email included; `email_verified` apart, because a directory that does not
    /// say keeps the local flag.
    profile: u64,
    email_verified: bool,
    by_provider: bool,
}

/// The hashes are keyed per run (`keys`), so that nobody can choose metadata that collides on purpose.
fn profile_hash(
    keys: &impl BuildHasher,
    email: Option<&str>,
    display_name: Option<&str>,
    username: Option<&str>,
    avatar_url: Option<&str>,
) -> u64 {
    keys.hash_one((email, display_name, username, avatar_url))
}

pub fn digest(u: &LocalUserRef<'_>, keys: &impl BuildHasher) -> Digest {
    Digest {
        id: u.id,
        active: u.active,
        profile: profile_hash(keys, u.email, u.display_name, u.username, u.avatar_url),
        email_verified: u.email_verified,
        by_provider: u.deactivated_by == Some(BY_PROVIDER),
    }
}

/// A directory entry reduced to what [`Listed::unchanged`] compares: 16 bytes, so that a run can hold the users
/// listed while it still reads the local ones without holding their text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    profile: u64,
    flags: u8,
}

const SAYS_VERIFIED: u8 = 1;
const VERIFIED: u8 = 2;
const HAS_EMAIL: u8 = 4;
const ENABLED: u8 = 8;

impl Listed {
    pub fn of(d: &DirectoryUser, keys: &impl BuildHasher) -> Self {
        let flag = |yes: bool, bit: u8| if yes { bit } else { 0 };
        Self {
            profile: profile_hash(
                keys,
                d.email.as_deref(),
                d.display_name.as_deref(),
                d.username.as_deref(),
                d.avatar_url.as_deref(),
            ),
            flags: flag(d.email_verified.is_some(), SAYS_VERIFIED)
                | flag(d.email_verified == Some(true), VERIFIED)
                | flag(d.email.is_some(), HAS_EMAIL)
                | flag(d.enabled, ENABLED),
        }
    }

    /// `true` when [`reconcile_page`] has nothing to do for this user: the same rules, on the digests. A change
    /// goes unnoticed only if its 64-bit hashes collide (about one chance in 10^19 per change).
    pub fn unchanged(self, digest: &Digest) -> bool {
        let has = |bit: u8| self.flags & bit != 0;
        // A directory that does not say keeps the local flag while the address stays: equal profiles mean
        // an equal address, and unequal ones are a change whatever the flag.
        let says = if has(SAYS_VERIFIED) {
            has(VERIFIED)
        } else {
            digest.email_verified
        };
        let email_verified = says && has(HAS_EMAIL);
        let enabled = has(ENABLED);
        let deactivate = !enabled && digest.active;
        let reactivate = enabled && !digest.active && digest.by_provider;
        self.profile == digest.profile
            && email_verified == digest.email_verified
            && !deactivate
            && !reactivate
    }
}

/// [`Listed::unchanged`] of a whole entry.
pub fn unchanged(d: &DirectoryUser, digest: &Digest, keys: &impl BuildHasher) -> bool {
    Listed::of(d, keys).unchanged(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{authentik::UserPage, keycloak::KeycloakUser};

    fn local(
        subject: &str,
        email: Option<&str>,
        name: Option<&str>,
        active: bool,
        by: Option<&str>,
    ) -> users::Model {
        users::Model {
            issuer: "https://idp/realms/keyward".into(),
            email: email.map(str::to_owned),
            email_verified: email.is_some(),
            display_name: name.map(str::to_owned),
            active,
            deactivated_by: by.map(str::to_owned),
            ..crate::users::test_user(subject)
        }
    }

    /// A page recorded from the test provider's Keycloak admin API.
    fn keycloak_page() -> Vec<DirectoryUser> {
        let raw = include_str!("fixtures/keycloak_users.json");
        serde_json::from_str::<Vec<KeycloakUser>>(raw)
            .unwrap()
            .into_iter()
            .map(DirectoryUser::from)
            .collect()
    }

    /// A page recorded from the test provider's Authentik API v3.
    fn authentik_page() -> Vec<DirectoryUser> {
        let raw = include_str!("fixtures/authentik_users.json");
        let page: UserPage = serde_json::from_str(raw).unwrap();
        assert_eq!(page.pagination.next, 2.0);
        page.results
            .into_iter()
            .filter(|u| !u.is_service_account())
            .map(DirectoryUser::from)
            .collect()
    }

    fn by_subject(users: Vec<users::Model>) -> HashMap<String, LocalUser> {
        users
            .iter()
            .map(|u| (u.subject.clone(), LocalUser::from(u)))
            .collect()
    }

    #[test]
    fn recorded_pages_read_as_directory_users() {
        let kc = keycloak_page();
        let alice = kc
            .iter()
            .find(|u| u.username.as_deref() == Some("alice"))
            .unwrap();
        assert_eq!(alice.subject, "6f1c1b2e-4a0d-4c55-9a8e-1f0b7a1d2c01");
        assert_eq!(alice.display_name.as_deref(), Some("Alice Admin"));
        assert_eq!(alice.email_verified, Some(true));
        assert!(alice.avatar_url.is_some());
        let disabled = kc
            .iter()
            .find(|u| u.username.as_deref() == Some("disabled"))
            .unwrap();
        assert!(!disabled.enabled);
        let noemail = kc
            .iter()
            .find(|u| u.username.as_deref() == Some("noemail"))
            .unwrap();
        assert_eq!(noemail.email, None);

        let ak = authentik_page();
        assert!(
            ak.iter()
                .all(|u| u.username.as_deref() != Some("ak-outpost-service")),
            "service accounts skipped"
        );
        let zoe = ak
            .iter()
            .find(|u| u.username.as_deref() == Some("zoe"))
            .unwrap();
        assert_eq!(zoe.subject, "9a4e6c1d-3f2b-4d8e-a7c5-0b1d2e3f4a03");
        assert_eq!(
            zoe.display_name.as_deref(),
            Some("Zoë Ångström-Łukasiewicz")
        );
        assert_eq!(zoe.email_verified, None);
        let noemail = ak
            .iter()
            .find(|u| u.username.as_deref() == Some("noemail"))
            .unwrap();
        assert_eq!(noemail.email, None, "Authentik's empty string is no email");
    }

    #[test]
    fn matched_users_get_new_metadata_and_unchanged_ones_cost_nothing() {
        let page = keycloak_page();
        let alice_sub = "6f1c1b2e-4a0d-4c55-9a8e-1f0b7a1d2c01";
        let stale = local(
            alice_sub,
            Some("old@example.com"),
            Some("Old Name"),
            true,
            None,
        );
        let changes = reconcile_page(&page, &by_subject(vec![stale.clone()]), false);
        assert_eq!(changes.len(), 1);
        let Change::Update { id, profile } = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(*id, stale.id);
        assert_eq!(profile.email.as_deref(), Some("alice@example.com"));
        assert_eq!(profile.display_name.as_deref(), Some("Alice Admin"));

        // Apply it: the second pass changes nothing.
        let mut fresh = stale.clone();
        fresh.email = profile.email.clone();
        fresh.email_verified = profile.email_verified;
        fresh.display_name = profile.display_name.clone();
        fresh.username = profile.username.clone();
        fresh.avatar_url = profile.avatar_url.clone();
        assert!(reconcile_page(&page, &by_subject(vec![fresh]), false).is_empty());
    }

    #[test]
    fn disabled_users_go_inactive_and_come_back_only_if_the_sync_took_them_out() {
        let page = keycloak_page();
        let disabled_sub = "d4e6f8a0-2b3c-4d5e-9f1a-b2c3d4e5f605";
        let mut d = local(
            disabled_sub,
            Some("disabled@example.com"),
            Some("Dee Sabled"),
            true,
            None,
        );
        let changes = reconcile_page(&page, &by_subject(vec![d.clone()]), false);
        assert!(
            changes.contains(&Change::Deactivate { id: d.id }),
            "{changes:?}"
        );

        let bob_sub = "2b7d9e44-8c1f-4e3a-b6d2-5a9c0e7f3b02";
        let by_sync = local(
            bob_sub,
            Some("bob@example.com"),
            Some("Bob Builder"),
            false,
            Some(BY_PROVIDER),
        );
        let changes = reconcile_page(&page, &by_subject(vec![by_sync.clone()]), false);
        assert!(
            changes.contains(&Change::Reactivate { id: by_sync.id }),
            "{changes:?}"
        );
        let by_admin = local(
            bob_sub,
            Some("bob@example.com"),
            Some("Bob Builder"),
            false,
            Some("admin"),
        );
        let changes = reconcile_page(&page, &by_subject(vec![by_admin]), false);
        assert!(
            !changes
                .iter()
                .any(|c| matches!(c, Change::Reactivate { .. })),
            "{changes:?}"
        );
        d.active = false;
        let changes = reconcile_page(&page, &by_subject(vec![d]), false);
        assert!(
            !changes
                .iter()
                .any(|c| matches!(c, Change::Deactivate { .. }))
        );
    }

    #[test]
    fn unknown_users_are_created_only_when_asked() {
        let page = authentik_page();
        assert!(reconcile_page(&page, &HashMap::new(), false).is_empty());
        let created = reconcile_page(&page, &HashMap::new(), true);
        assert_eq!(created.len(), page.len());
        assert!(created.iter().all(|c| matches!(c, Change::Create { .. })));
        let disabled = created.iter().find(|c| matches!(c, Change::Create { profile, .. } if profile.username.as_deref() == Some("disabled"))).unwrap();
        assert!(matches!(disabled, Change::Create { active: false, .. }));
    }

    #[test]
    fn authentik_keeps_the_local_verification_flag() {
        let page = authentik_page();
        let alice_sub = "6f1c1b2e-4a0d-4c55-9a8e-1f0b7a1d2c01";
        let mut u = local(
            alice_sub,
            Some("alice@example.com"),
            Some("Alice Admin"),
            true,
            None,
        );
        u.username = Some("alice".into());
        u.avatar_url = page
            .iter()
            .find(|d| d.subject == alice_sub)
            .unwrap()
            .avatar_url
            .clone();
        assert!(
            reconcile_page(&page, &by_subject(vec![u.clone()]), false).is_empty(),
            "verified stays verified"
        );
        u.email_verified = false;
        assert!(
            reconcile_page(&page, &by_subject(vec![u]), false).is_empty(),
            "unverified stays unverified"
        );
    }

    /// The digest short-cut must agree with the rules: for every recorded directory entry against local users
    /// that match it, differ from it in each compared column, or stand in each activity state.
    #[test]
    fn digests_agree_with_the_rules() {
        let keys = std::hash::RandomState::new();
        let (mut unchanged_users, mut changed_users) = (0, 0);
        for page in [keycloak_page(), authentik_page()] {
            for d in &page {
                let base = local(
                    &d.subject,
                    d.email.as_deref(),
                    d.display_name.as_deref(),
                    d.enabled,
                    None,
                );
                let base = users::Model {
                    username: d.username.clone(),
                    avatar_url: d.avatar_url.clone(),
                    email_verified: d.email_verified.unwrap_or(true) && d.email.is_some(),
                    ..base
                };
                let mut variants = vec![base.clone()];
                for verified in [true, false] {
                    variants.push(users::Model {
                        email_verified: verified,
                        ..base.clone()
                    });
                }
                variants.push(users::Model {
                    email: Some("other@example.com".into()),
                    ..base.clone()
                });
                variants.push(users::Model {
                    email: None,
                    ..base.clone()
                });
                variants.push(users::Model {
                    display_name: Some("Other".into()),
                    ..base.clone()
                });
                variants.push(users::Model {
                    username: None,
                    ..base.clone()
                });
                variants.push(users::Model {
                    avatar_url: Some("https://x/a.png".into()),
                    ..base.clone()
                });
                for (active, by) in [
                    (true, None),
                    (false, Some(BY_PROVIDER)),
                    (false, Some("admin")),
                ] {
                    variants.push(users::Model {
                        active,
                        deactivated_by: by.map(str::to_owned),
                        ..base.clone()
                    });
                }
                for u in variants {
                    let lu = LocalUser::from(&u);
                    let rules =
                        reconcile_page(std::slice::from_ref(d), &by_subject(vec![u]), false);
                    assert_eq!(
                        unchanged(d, &digest(&lu.to_ref(), &keys), &keys),
                        rules.is_empty(),
                        "{d:?} against {lu:?}: {rules:?}"
                    );
                    if rules.is_empty() {
                        unchanged_users += 1;
                    } else {
                        changed_users += 1;
                    }
                }
            }
        }
        assert!(
            unchanged_users > 10 && changed_users > 50,
            "{unchanged_users} unchanged, {changed_users} changed"
        );
    }
}
