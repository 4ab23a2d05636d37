//! The local side of a run: every user of the provider's issuer, read once when the run starts and kept as
//! [`Digest`]s. Pages then read from the table only the users they change, and the end of the run knows,
//! without reading the table again, who the listing did not mention.

use std::{
    collections::{HashMap, HashSet},
    hash::RandomState,
};

use chrono::{DateTime, Utc};
use entity::users;
use futures_util::TryStreamExt;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::{
    directory::{DirectoryUser, Page},
    reconcile::{self, Digest, LocalUser},
};

struct Entry {
    digest: Digest,
    /// Created after the run started (a first login during the listing): the provider may have added them
    /// after the page that would have held them was read, so their absence proves nothing.
    recent: bool,
    listed: bool,
}

pub struct LocalIndex {
    keys: RandomState,
    users: HashMap<String, Entry>,
    /// Listed users with no local user when the run started (created by this run, or not at all).
    unknown: HashSet<String>,
    /// Distinct users listed, service accounts left out.
    people: u64,
    /// Anything listed, service accounts included.
    listed_any: bool,
}

/// The users of a page that may change, and the ids of those among them that exist locally.
#[derive(Debug, Default)]
pub struct Candidates {
    pub users: Vec<DirectoryUser>,
    pub ids: Vec<Uuid>,
}

#[derive(FromQueryResult)]
struct Row {
    #[sea_orm(nested)]
    user: LocalUser,
    created_at: DateTime<Utc>,
}

impl LocalIndex {
    /// Reads the issuer's users as a stream: only the digests stay in memory.
    pub async fn load(
        db: &DatabaseConnection,
        issuer: &str,
        run_started: DateTime<Utc>,
    ) -> Result<Self, DbErr> {
        use users::Column as C;
        let mut index = Self::new();
        let mut rows = users::Entity::find()
            .select_only()
            .columns(LocalUser::COLUMNS)
            .column(C::CreatedAt)
            .filter(C::Issuer.eq(issuer))
            .into_model::<Row>()
            .stream(db)
            .await?;
        while let Some(row) = rows.try_next().await? {
            index.insert(row.user, row.created_at >= run_started);
        }
        Ok(index)
    }

    fn new() -> Self {
        Self {
            keys: RandomState::new(),
            users: HashMap::new(),
            unknown: HashSet::new(),
            people: 0,
            listed_any: false,
        }
    }

    fn insert(&mut self, user: LocalUser, recent: bool) {
        let digest = reconcile::digest(&user, &self.keys);
        self.users.insert(
            user.subject,
            Entry {
                digest,
                recent,
                listed: false,
            },
        );
    }

    /// Marks a page's users as listed and keeps those it may change: unknown locally, or contradicting
    /// their digest.
    pub fn take(&mut self, page: Page) -> Candidates {
        self.listed_any |= !page.users.is_empty() || !page.skipped.is_empty();
        // Service accounts are not synced, but a local one that is listed is not gone either.
        for subject in page.skipped {
            if let Some(entry) = self.users.get_mut(&subject) {
                entry.listed = true;
            }
        }
        let mut wanted = Candidates::default();
        for user in page.users {
            match self.users.get_mut(&user.subject) {
                Some(entry) => {
                    if !entry.listed {
                        entry.listed = true;
                        self.people += 1;
                    }
                    if !reconcile::unchanged(&user, &entry.digest, &self.keys) {
                        wanted.ids.push(entry.digest.id);
                        wanted.users.push(user);
                    }
                }
                None => {
                    if self.unknown.insert(user.subject.clone()) {
                        self.people += 1;
                    }
                    wanted.users.push(user);
                }
            }
        }
        wanted
    }

    /// Distinct users listed so far, service accounts left out.
    pub fn people(&self) -> u64 {
        self.people
    }

    pub fn listed_any(&self) -> bool {
        self.listed_any
    }

    /// Users active when the run started whom the listing did not mention: gone from the provider. Only
    /// meaningful once the listing is complete.
    pub fn missing(&self) -> Vec<Uuid> {
        self.users
            .values()
            .filter(|e| e.digest.active && !e.recent && !e.listed)
            .map(|e| e.digest.id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::BY_PROVIDER;

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
        }
    }

    fn page(users: Vec<DirectoryUser>, skipped: &[&str]) -> Page {
        Page {
            users,
            skipped: skipped.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn pages_keep_only_users_they_change() {
        let mut index = LocalIndex::new();
        let (same, renamed, off, back) = (
            local("same", "Same", true),
            local("renamed", "Old", true),
            local("off", "Off", true),
            local("back", "Back", false),
        );
        for u in [&same, &renamed, &off, &back] {
            index.insert(u.clone(), false);
        }
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

    #[test]
    fn missing_are_active_users_from_before_the_run_that_nobody_listed() {
        let mut index = LocalIndex::new();
        let (listed_user, gone, inactive, recent, service) = (
            local("listed", "L", true),
            local("gone", "G", true),
            local("inactive", "I", false),
            local("recent", "R", true),
            local("service", "S", true),
        );
        for u in [&listed_user, &gone, &inactive, &service] {
            index.insert(u.clone(), false);
        }
        index.insert(recent.clone(), true);
        assert!(!index.listed_any());
        // A subject listed twice (offset paging while users come and go) counts once.
        index.take(page(vec![listed("listed", "L", true)], &["service"]));
        index.take(page(
            vec![listed("listed", "L", true), listed("new", "N", true)],
            &[],
        ));
        assert!(index.listed_any());
        assert_eq!(index.people(), 2, "the service account is not a person");
        assert_eq!(index.missing(), [gone.id]);
    }
}
