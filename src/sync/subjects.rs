//! A compact map from subjects to small values, for a run that holds a million users: subjects are kept as
//! 128-bit keyed hashes, the entries sorted in one vector and found through a table of where each hash prefix
//! starts (about 2 bytes a user), so memory is the entries themselves with no hash-table slack.

use std::hash::{BuildHasher, RandomState};

/// A subject's 128-bit keyed hash: two SipHash outputs of the subject under a key drawn for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubjectKey(u64, u64);

/// Hashes subjects into [`SubjectKey`]s. Keyed per run: nobody can choose subjects that collide on purpose,
/// and by chance two of 2 million subjects share a key with a probability below 10^-26.
#[derive(Debug, Clone, Default)]
pub struct Subjects(RandomState);

impl Subjects {
    pub fn new() -> Self {
        Self(RandomState::new())
    }

    pub fn key(&self, subject: &str) -> SubjectKey {
        SubjectKey(
            self.0.hash_one((0u8, subject)),
            self.0.hash_one((1u8, subject)),
        )
    }
}

/// Two subjects of one map share a key. The next run draws another key, so it does not happen twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("two subjects share a 128-bit hash (the next run hashes with another key)")]
pub struct Collision;

#[derive(Debug)]
pub struct SubjectMap<V> {
    entries: Vec<(SubjectKey, V)>,
    /// `starts[p]`: the first entry whose key's top `bits` bits are at least `p`; `2^bits + 1` of them.
    starts: Vec<u32>,
    bits: u32,
}

impl<V> SubjectMap<V> {
    /// Sorts the entries by key. Fails if two share a key: a lookup could not tell them apart.
    pub fn build(mut entries: Vec<(SubjectKey, V)>) -> Result<Self, Collision> {
        entries.sort_unstable_by_key(|e| e.0);
        if entries.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(Collision);
        }
        entries.shrink_to_fit();
        // About four entries a prefix: a lookup reads one or two cache lines of `starts` and of `entries`.
        let bits = (entries.len() / 4).max(1).ilog2();
        let mut starts = Vec::with_capacity((1 << bits) + 1);
        let mut i = 0;
        for p in 0..=(1u64 << bits) {
            while i < entries.len() && prefix(entries[i].0, bits) < p {
                i += 1;
            }
            starts.push(u32::try_from(i).map_err(|_| Collision)?);
        }
        Ok(Self {
            entries,
            starts,
            bits,
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Where `key` sits, for values kept beside the map (indexed like [`Self::values`]).
    pub fn position(&self, key: SubjectKey) -> Option<usize> {
        let p = prefix(key, self.bits) as usize;
        let (from, to) = (self.starts[p] as usize, self.starts[p + 1] as usize);
        let slot = self.entries[from..to].binary_search_by_key(&key, |e| e.0);
        slot.ok().map(|i| from + i)
    }

    #[cfg(test)]
    pub fn get(&self, key: SubjectKey) -> Option<&V> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    pub fn value(&self, position: usize) -> &V {
        &self.entries[position].1
    }

    /// The values in key order: the positions of [`Self::position`].
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|e| &e.1)
    }
}

fn prefix(key: SubjectKey, bits: u32) -> u64 {
    key.0.checked_shr(64 - bits).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subject_is_found_and_no_other() {
        let subjects = Subjects::new();
        for n in [0usize, 1, 2, 3, 7, 100, 5_000] {
            let map = SubjectMap::build(
                (0..n)
                    .map(|i| (subjects.key(&format!("user-{i}")), i))
                    .collect(),
            )
            .unwrap();
            assert_eq!(map.len(), n);
            for i in 0..n {
                let key = subjects.key(&format!("user-{i}"));
                assert_eq!(map.get(key), Some(&i), "n = {n}, user {i}");
                let position = map.position(key).unwrap();
                assert_eq!(*map.value(position), i);
            }
            for i in n..n + 200 {
                assert_eq!(map.get(subjects.key(&format!("user-{i}"))), None);
            }
            let mut values: Vec<usize> = map.values().copied().collect();
            values.sort_unstable();
            assert_eq!(values, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn keys_are_equal_exactly_for_equal_subjects_of_one_run() {
        let subjects = Subjects::new();
        assert_eq!(subjects.key("alice"), subjects.key("alice"));
        assert_ne!(subjects.key("alice"), subjects.key("alicf"));
        assert_ne!(subjects.key(""), subjects.key("\0"));
        // Each run draws its own key: a pair that collided once does not collide again.
        assert_ne!(subjects.key("alice"), Subjects::new().key("alice"));
    }

    #[test]
    fn keys_sharing_their_top_bits_are_told_apart() {
        // Many keys under one prefix: the lookup searches the prefix's whole range.
        let entries: Vec<(SubjectKey, u64)> = (0..64)
            .map(|i| (SubjectKey(u64::MAX - (i % 2), i), i))
            .chain((0..64).map(|i| (SubjectKey(i << 40, i), 100 + i)))
            .collect();
        let map = SubjectMap::build(entries.clone()).unwrap();
        for (key, value) in entries {
            assert_eq!(map.get(key), Some(&value));
        }
        assert_eq!(map.get(SubjectKey(u64::MAX, 1)), None);
        assert_eq!(map.get(SubjectKey(0, 1_000)), None);
    }

    #[test]
    fn two_subjects_with_one_key_are_refused() {
        let key = Subjects::new().key("alice");
        let other = Subjects::new().key("bob");
        assert_eq!(
            SubjectMap::build(vec![(key, 1), (other, 2), (key, 3)]).unwrap_err(),
            Collision
        );
    }
}
