//! The local side of a run: every user of the provider's issuer, read once when the run starts and kept as
//! [`Digest`]s. Pages then read from the table only the users they change, and the end of the run knows,
//! without reading the table again, who the listing did not mention.

mod read;

use std::{collections::HashSet, hash::RandomState};

use uuid::Uuid;

use super::{
    directory::{DirectoryUser, Page},
    reconcile::{Digest, Listed},
    stash::Stash,
    subjects::{SubjectKey, SubjectMap, Subjects},
};

/// A run's hash keys, drawn once before its first page: pages listed while the local users are still read
/// are hashed with them too.
#[derive(Debug, Clone, Default)]
pub struct Hashing {
    pub keys: RandomState,
    pub subjects: Subjects,
}

/// Users listed while the local users were read whose digests contradict a local user's, or who have none:
/// the run lists them again to get their metadata. Sorted keys, 16 bytes a user: in the worst case (every
/// user changed) a million of them.
#[derive(Debug, Default)]
pub struct Pending {
    keys: Vec<SubjectKey>,
    found: Vec<bool>,
    left: usize,
}

impl Pending {
    fn new(mut keys: Vec<SubjectKey>) -> Self {
        keys.sort_unstable();
        keys.dedup();
        keys.shrink_to_fit();
        Self {
            found: vec![false; keys.len()],
            left: keys.len(),
            keys,
        }
    }

    pub fn len(&self) -> usize {
        self.left
    }

    pub fn is_empty(&self) -> bool {
        self.left == 0
    }

    /// `true` the first time a pending key is found.
    fn found(&mut self, key: SubjectKey) -> bool {
        match self.keys.binary_search(&key) {
            Ok(i) if !self.found[i] => {
                self.found[i] = true;
                self.left -= 1;
                true
            }
            _ => false,
        }
    }
}

/// The issuer's users when the run started, about 50 bytes each (a 48-byte digest and its listed flag): at a
/// million users, what a run holds is these digests, not the users (a map keyed by the subject strings took
/// 200 MB and more).
pub struct LocalIndex {
    hashing: Hashing,
    users: SubjectMap<Digest>,
    /// By position in `users`: listed by this run.
    listed: Vec<bool>,
    /// Created after the run started (a first login during the listing): the provider may have added them
    /// after the page that would have held them was read, so their absence proves nothing.
    recent: HashSet<Uuid>,
    /// Listed users with no local user when the run started (created by this run, or not at all), with
    /// repeats: a subject listed twice counts once in [`Self::people`].
    unknown: Vec<SubjectKey>,
    /// Distinct local users listed, service accounts left out.
    known_people: u64,
    /// Anything listed, service accounts included.
    listed_any: bool,
}

/// The users of a page that may change, and the ids of those among them that exist locally.
#[derive(Debug, Default)]
pub struct Candidates {
    pub users: Vec<DirectoryUser>,
    pub ids: Vec<Uuid>,
}

impl LocalIndex {
    /// Distinct users listed so far, service accounts left out.
    pub fn people(&mut self) -> u64 {
        self.unknown.sort_unstable();
        self.unknown.dedup();
        self.known_people + self.unknown.len() as u64
    }

    pub fn listed_any(&self) -> bool {
        self.listed_any
    }

    /// Marks a page's users as listed and keeps those it may change: unknown locally, or contradicting
    /// their digest.
    pub fn take(&mut self, page: Page) -> Candidates {
        self.listed_any |= !page.users.is_empty() || !page.skipped.is_empty();
        // Service accounts are not synced, but a local one that is listed is not gone either.
        for subject in page.skipped {
            self.skipped(self.hashing.subjects.key(&subject));
        }
        let mut wanted = Candidates::default();
        for user in page.users {
            let key = self.hashing.subjects.key(&user.subject);
            match self.list(key, Listed::of(&user, &self.hashing.keys)) {
                Some(Some(id)) => {
                    wanted.ids.push(id);
                    wanted.users.push(user);
                }
                Some(None) => {}
                None => wanted.users.push(user),
            }
        }
        wanted
    }

    /// What [`Self::take`] does for pages listed while the local users were read, on their digests: the users
    /// they may change are returned by key, to be listed again.
    pub fn settle(&mut self, stash: Stash) -> Pending {
        let (users, skipped, listed_any) = stash.into_parts();
        self.listed_any |= listed_any;
        for key in skipped {
            self.skipped(key);
        }
        let pending = users
            .into_iter()
            .filter(|&(key, listed)| self.list(key, listed) != Some(None))
            .map(|(key, _)| key)
            .collect();
        Pending::new(pending)
    }

    /// Keeps only the page's users that `pending` still waits for, and stops waiting for them.
    pub fn keep_pending(&self, page: &mut Page, pending: &mut Pending) {
        page.users
            .retain(|u| pending.found(self.hashing.subjects.key(&u.subject)));
        page.skipped.clear();
        page.groups.clear();
    }

    fn skipped(&mut self, key: SubjectKey) {
        if let Some(i) = self.users.position(key) {
            self.listed[i] = true;
        }
    }

    /// Marks one listed user: `None` if unknown locally, `Some(Some(id))` if known and contradicting their
    /// digest, `Some(None)` if unchanged.
    fn list(&mut self, key: SubjectKey, listed: Listed) -> Option<Option<Uuid>> {
        let Some(i) = self.users.position(key) else {
            self.unknown.push(key);
            return None;
        };
        if !self.listed[i] {
            self.listed[i] = true;
            self.known_people += 1;
        }
        let digest = self.users.value(i);
        Some((!listed.unchanged(digest)).then_some(digest.id))
    }

    /// Users active when the run started whom the listing did not mention: gone from the provider. Only
    /// meaningful once the listing is complete.
    pub fn missing(&self) -> Vec<Uuid> {
        self.users
            .values()
            .zip(&self.listed)
            .filter(|(d, listed)| d.active && !**listed && !self.recent.contains(&d.id))
            .map(|(d, _)| d.id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{read::Loader, *};
    use crate::{sync::reconcile::LocalUser, users::BY_PROVIDER};

    fn local(subject: &str, name: &str, active: bool) -> LocalUser {
        LocalUser {
            id: Uuid::new_v4(),
            subject: subject.into(),
            email: Some(format!("{subject}@example.com")),
            email_verified: true,
            display_name: Some(name.into()),
            username: Some(subject.into()),
            avatar_url: None,
            active,
            deactivated_by: (!active).then(|| BY_PROVIDER.to_owned()),
        }
    }

    fn listed(subject: &str, name: &str, enabled: bool) -> DirectoryUser {
        DirectoryUser {
            subject: subject.into(),
            username: Some(subject.into()),
            email: Some(format!("{subject}@example.com")),
            email_verified: Some(true),
            display_name: Some(name.into()),
            avatar_url: None,
            enabled,
            provider_pk: None,
        }
    }

    fn page(users: Vec<DirectoryUser>, skipped: &[&str]) -> Page {
        Page {
            users,
            skipped: skipped.iter().map(|s| (*s).to_owned()).collect(),
            ..Page::default()
        }
    }

    #[test]
    fn a_local_user_costs_the_run_48_bytes() {
        // What a million-user run holds per user (bench/README.md): a key and a digest, no strings.
        assert_eq!(size_of::<(SubjectKey, Digest)>(), 48);
    }

    #[test]
    fn pages_keep_only_users_they_change() {
        let mut loader = Loader::new(Hashing::default());
        let (same, renamed, off, back) = (
            local("same", "Same", true),
            local("renamed", "Old", true),
            local("off", "Off", true),
            local("back", "Back", false),
        );
        for u in [&same, &renamed, &off, &back] {
            loader.add(&u.subject, &u.to_ref(), false);
        }
        let mut index = loader.finish().unwrap();
        let wanted = index.take(page(
            vec![
                listed("same", "Same", true),
                listed("renamed", "New", true),
                listed("off", "Off", false),
                listed("back", "Back", true),
                listed("new", "New", true),
            ],
            &[],
        ));
        let subjects: Vec<&str> = wanted.users.iter().map(|u| u.subject.as_str()).collect();
        assert_eq!(subjects, ["renamed", "off", "back", "new"]);
        assert_eq!(wanted.ids, [renamed.id, off.id, back.id]);
        assert_eq!(index.people(), 5);
    }

    /// Pages listed while the local users were read are settled on digests; listed again, only the users they
    /// change or add come back, and the run counts and marks them as if the pages had waited for the read.
    #[test]
    fn pages_listed_during_the_read_bring_back_only_the_users_they_change() {
        let hashing = Hashing::default();
        let mut loader = Loader::new(hashing.clone());
        let (same, renamed, off, back, gone, service) = (
            local("same", "Same", true),
            local("renamed", "Old", true),
            local("off", "Off", true),
            local("back", "Back", false),
            local("gone", "Gone", true),
            local("service", "S", true),
        );
        for u in [&same, &renamed, &off, &back, &gone, &service] {
            loader.add(&u.subject, &u.to_ref(), false);
        }
        let listing = || {
            page(
                vec![
                    listed("same", "Same", true),
                    listed("renamed", "New", true),
                    listed("off", "Off", false),
                    listed("back", "Back", true),
                    listed("new", "New", true),
                    listed("new", "New", true),
                ],
                &["service"],
            )
        };
        let mut stash = Stash::default();
        stash.add(&listing(), &hashing);
        let mut index = loader.finish().unwrap();
        let mut pending = index.settle(stash);
        assert_eq!(pending.len(), 4, "renamed, off, back and new, once");
        assert!(index.listed_any());
        assert_eq!(index.people(), 5, "same, renamed, off, back and new");
        assert_eq!(index.missing(), [gone.id], "nor the service account");

        let mut again = listing();
        index.keep_pending(&mut again, &mut pending);
        assert!(pending.is_empty());
        let subjects: Vec<&str> = again.users.iter().map(|u| u.subject.as_str()).collect();
        assert_eq!(subjects, ["renamed", "off", "back", "new"]);
        let wanted = index.take(again);
        assert_eq!(wanted.ids, [renamed.id, off.id, back.id]);
        assert_eq!(wanted.users.len(), 4);
        assert_eq!(index.people(), 5, "listed twice, counted once");
        assert_eq!(index.missing(), [gone.id]);

        let mut later = listing();
        index.keep_pending(&mut later, &mut pending);
        assert!(
            later.users.is_empty(),
            "found users are not pending any more"
        );
    }

    #[test]
    fn missing_are_active_users_from_before_the_run_that_nobody_listed() {
        let mut loader = Loader::new(Hashing::default());
        let (listed_user, gone, inactive, recent, service) = (
            local("listed", "L", true),
            local("gone", "G", true),
            local("inactive", "I", false),
            local("recent", "R", true),
            local("service", "S", true),
        );
        for u in [&listed_user, &gone, &inactive, &service] {
            loader.add(&u.subject, &u.to_ref(), false);
        }
        loader.add(&recent.subject, &recent.to_ref(), true);
        let mut index = loader.finish().unwrap();
        assert!(!index.listed_any());
        // A subject listed twice (offset paging while users come and go) counts once, known or not.
        index.take(page(vec![listed("listed", "L", true)], &["service"]));
        index.take(page(
            vec![listed("listed", "L", true), listed("new", "N", true)],
            &[],
        ));
        index.take(page(vec![listed("new", "N", true)], &[]));
        assert!(index.listed_any());
        assert_eq!(index.people(), 2, "the service account is not a person");
        assert_eq!(index.missing(), [gone.id]);
    }
}
