//! Pages listed while a run still reads the local users. Held whole, a million-user directory listed during
//! a slow read (8–12 s on SQLite) took about 350 bytes a user; the run keeps 32 bytes a user instead — the
//! subject's key and a [`Listed`] digest — and lists again, once the read is done, only the users whose
//! digests say they changed (usually none).

use super::{directory::Page, local::Hashing, reconcile::Listed, subjects::SubjectKey};

/// In chunks of this many users (2 MiB): a vector grown by doubling would hold both halves while it copies.
const CHUNK: usize = 1 << 16;

#[derive(Debug, Default)]
pub struct Stash {
    users: Vec<Vec<(SubjectKey, Listed)>>,
    len: usize,
    skipped: Vec<SubjectKey>,
    listed_any: bool,
}

impl Stash {
    pub fn add(&mut self, page: &Page, hashing: &Hashing) {
        self.listed_any |= !page.users.is_empty() || !page.skipped.is_empty();
        for u in &page.users {
            if self.users.last().is_none_or(|c| c.len() == CHUNK) {
                self.users.push(Vec::with_capacity(CHUNK));
            }
            if let Some(chunk) = self.users.last_mut() {
                chunk.push((
                    hashing.subjects.key(&u.subject),
                    Listed::of(u, &hashing.keys),
                ));
            }
        }
        self.len += page.users.len();
        self.skipped
            .extend(page.skipped.iter().map(|s| hashing.subjects.key(s)));
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The listed users, a chunk at a time (each freed once read), the skipped subjects, and whether
    /// anything was listed.
    pub fn into_parts(
        self,
    ) -> (
        impl Iterator<Item = (SubjectKey, Listed)>,
        Vec<SubjectKey>,
        bool,
    ) {
        (
            self.users.into_iter().flatten(),
            self.skipped,
            self.listed_any,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::directory::DirectoryUser;

    #[test]
    fn a_listed_user_costs_the_run_32_bytes() {
        assert_eq!(size_of::<(SubjectKey, Listed)>(), 32);
    }

    #[test]
    fn users_come_back_in_the_order_listed_across_chunks() {
        let hashing = Hashing::default();
        let user = |i: usize| DirectoryUser {
            subject: format!("user-{i}"),
            username: None,
            email: None,
            email_verified: None,
            display_name: Some(format!("User {i}")),
            avatar_url: None,
            enabled: true,
            provider_pk: None,
        };
        let mut stash = Stash::default();
        let n = CHUNK + CHUNK / 2 + 3;
        for from in (0..n).step_by(1000) {
            let page = Page {
                users: (from..n.min(from + 1000)).map(user).collect(),
                ..Page::default()
            };
            stash.add(&page, &hashing);
        }
        assert_eq!(stash.len(), n);
        assert_eq!(stash.users.len(), 2);
        let (users, skipped, listed_any) = stash.into_parts();
        let expected = (0..n).map(|i| {
            let u = user(i);
            (
                hashing.subjects.key(&u.subject),
                Listed::of(&u, &hashing.keys),
            )
        });
        assert!(users.eq(expected));
        assert!(skipped.is_empty() && listed_any);
    }
}
