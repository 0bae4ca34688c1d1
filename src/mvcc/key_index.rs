//! The in-memory index from a user key to the revisions that changed it.
//!
//! A [`KeyIndex`] keeps the revisions of one key as a list of *generations*.
//! A generation is one life of the key: from the put that created it to the
//! tombstone (delete) that ended it. The last generation is the current life
//! and is empty while the key does not exist.
//!
//! # Worked example (the one etcd's `mvcc/key_index.go` uses)
//!
//! `put(1.0); put(2.0); tombstone(3.0); put(4.0); tombstone(5.0)` on key
//! `foo` gives (newest generation first):
//!
//! ```text
//! generations:
//!     {empty}
//!     {4.0, 5.0(t)}
//!     {1.0, 2.0, 3.0(t)}
//! ```
//!
//! Compaction at `rev` removes every revision `<= rev` except the largest
//! such one of the generation that is alive at `rev` (the one a read at
//! `rev` needs). A generation whose tombstone is `< rev` goes entirely:
//! nothing at or after `rev` can read it. A tombstone *at* `rev` stays, as
//! etcd keeps it since its fix of #18089: a watch may start at the
//! compacted revision, and the delete is that revision's event. When only
//! the empty generation is left, the key itself is dropped from the index.
//!
//! ```text
//! compact(2):  {empty} {4.0, 5.0(t)} {2.0, 3.0(t)}
//! compact(4):  {empty} {4.0, 5.0(t)}
//! compact(5):  {empty} {5.0(t)}
//! compact(6):  {empty}                 -> key removed
//! ```
//!
//! Versions count the puts of one generation (1 for the creating put) and
//! restart at 1 after a tombstone; a generation remembers its count even
//! when compaction drops its early revisions, so versions keep climbing.

use std::collections::BTreeSet;

use super::revision::Revision;

/// What compaction at `rev` does with a tombstone at exactly `rev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TombstoneAtCompaction {
    /// Keeps it: it is the event of the compacted revision (etcd since
    /// its fix of #18089).
    #[default]
    Keep,
    /// Drops it with the generation it ends: a watch from the compacted
    /// revision misses the delete (the `etcd-18089` bug).
    Drop,
}

/// One life of a key: from its creating put to its tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Generation {
    /// Number of puts in this generation, including compacted ones.
    pub ver: i64,
    /// The main revision of the put that created this generation (what
    /// becomes `create_revision`; the sub part is never observable).
    pub created: i64,
    /// The retained revisions, ascending; a closed generation ends with its
    /// tombstone.
    pub revs: Vec<Revision>,
}

impl Generation {
    fn is_empty(&self) -> bool {
        self.revs.is_empty()
    }
}

/// What a read at some revision finds for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    /// The revision of the change that is visible.
    pub modified: Revision,
    /// The main revision of the put that created the visible generation.
    pub created: i64,
    /// The version of the key at the visible revision.
    pub version: i64,
}

/// The revision history of one key, as generations (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyIndex {
    /// The last revision that changed the key.
    modified: Revision,
    /// Oldest first; never empty; the last one is the current life.
    generations: Vec<Generation>,
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex {
            modified: Revision::default(),
            generations: vec![Generation::default()],
        }
    }
}

impl KeyIndex {
    /// Records a put at `rev`, which must be newer than every recorded one.
    pub fn put(&mut self, rev: Revision) {
        assert!(
            rev > self.modified,
            "key index: put at {rev} is not after the last change {}",
            self.modified
        );
        let g = self
            .generations
            .last_mut()
            .expect("at least one generation");
        if g.is_empty() {
            g.created = rev.main;
        }
        g.revs.push(rev);
        g.ver += 1;
        self.modified = rev;
    }

    /// Records a delete at `rev`: closes the current generation with the
    /// tombstone and opens an empty one. The key must currently exist.
    pub fn tombstone(&mut self, rev: Revision) {
        assert!(
            !self.generations.last().expect("generation").is_empty(),
            "key index: tombstone at {rev} on a key that does not exist"
        );
        self.put(rev);
        self.generations.push(Generation::default());
    }

    /// Starts a key index from a snapshot record: the key's first retained
    /// revision `modified`, in a generation created at `created` whose
    /// version at `modified` was `version`.
    pub fn restore(created: i64, modified: Revision, version: i64) -> Self {
        KeyIndex {
            modified,
            generations: vec![Generation {
                ver: version,
                created,
                revs: vec![modified],
            }],
        }
    }

    /// Starts a key index from a snapshot whose first record of the key is
    /// its delete at `rev`, kept by compaction at `rev`: a generation of
    /// that tombstone alone (whose version and creation no read can see,
    /// so compaction zeroes them) and the empty current one.
    pub fn restore_tombstone(rev: Revision) -> Self {
        KeyIndex {
            modified: rev,
            generations: vec![
                Generation {
                    revs: vec![rev],
                    ..Generation::default()
                },
                Generation::default(),
            ],
        }
    }

    /// Whether the key exists now (its current generation is not empty).
    pub fn is_live(&self) -> bool {
        !self.generations.last().expect("generation").is_empty()
    }

    /// Whether nothing is left: only the empty current generation.
    pub fn is_empty(&self) -> bool {
        self.generations.len() == 1 && self.generations[0].is_empty()
    }

    /// What a read at main revision `at` sees, or `None` if the key did not
    /// exist then. Within one main revision the highest sub revision wins.
    pub fn get(&self, at: i64) -> Option<Found> {
        let g = self.find_generation(at)?;
        let n = g.revs.iter().rposition(|r| r.main <= at)?;
        Some(Found {
            modified: g.revs[n],
            created: g.created,
            version: g.ver - (g.revs.len() - n - 1) as i64,
        })
    }

    /// The generation alive at main revision `at`, if any.
    fn find_generation(&self, at: i64) -> Option<&Generation> {
        let last = self.generations.len() - 1;
        for (i, g) in self.generations.iter().enumerate().rev() {
            let Some(first) = g.revs.first() else {
                continue;
            };
            if i != last && g.revs.last().expect("non-empty").main <= at {
                // The tombstone of this generation is visible at `at`, and
                // every later generation starts after `at`.
                return None;
            }
            if first.main <= at {
                return Some(g);
            }
        }
        None
    }

    /// Drops the revisions that no read or watch at `>= at` can need (see
    /// the module docs) and adds the revisions `<= at` that it keeps to
    /// `keep`.
    pub fn compact(
        &mut self,
        at: i64,
        tombstone: TombstoneAtCompaction,
        keep: &mut BTreeSet<Revision>,
    ) {
        // The first generation that is still alive at `at`, ends exactly
        // there (its tombstone is `at`'s event), or starts later: every
        // generation before it ended with a tombstone `< at`. A tombstone
        // at `at` does not count when the next generation already began at
        // `at` (one txn deleted and re-created the key): that generation
        // is the one a read at `at` needs.
        let last = self.generations.len() - 1;
        let ends_at = |i: usize| {
            tombstone == TombstoneAtCompaction::Keep
                && i < last
                && self.generations[i + 1]
                    .revs
                    .first()
                    .is_none_or(|r| r.main > at)
        };
        let gen = (0..=last)
            .position(|i| match self.generations[i].revs.last() {
                Some(t) if t.main > at => true,
                Some(t) => t.main == at && ends_at(i),
                None => false,
            })
            .unwrap_or(last);
        let g = &mut self.generations[gen];
        if let Some(n) = g.revs.iter().rposition(|r| r.main <= at) {
            keep.insert(g.revs[n]);
            g.revs.drain(..n);
        }
        if gen < last && g.revs.len() == 1 {
            // Only the tombstone is left: nothing can read the version or
            // creation of this life any more, and a snapshot does not
            // hold them (see `restore_tombstone`).
            g.ver = 0;
            g.created = 0;
        }
        self.generations.drain(..gen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: TombstoneAtCompaction = TombstoneAtCompaction::Keep;

    fn r(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    /// The example of the module docs (and etcd's `key_index.go`).
    fn example() -> KeyIndex {
        let mut ki = KeyIndex::default();
        ki.put(r(1));
        ki.put(r(2));
        ki.tombstone(r(3));
        ki.put(r(4));
        ki.tombstone(r(5));
        ki
    }

    fn revs(ki: &KeyIndex) -> Vec<Vec<i64>> {
        ki.generations
            .iter()
            .map(|g| g.revs.iter().map(|r| r.main).collect())
            .collect()
    }

    #[test]
    fn tombstones_split_generations() {
        assert_eq!(revs(&example()), vec![vec![1, 2, 3], vec![4, 5], vec![]]);
    }

    #[test]
    fn get_sees_the_generation_alive_at_the_revision() {
        let ki = example();
        assert_eq!(ki.get(0), None);
        let at2 = ki.get(2).unwrap();
        assert_eq!((at2.modified, at2.created, at2.version), (r(2), 1, 2));
        assert_eq!(ki.get(3), None);
        let at4 = ki.get(4).unwrap();
        assert_eq!((at4.modified, at4.created, at4.version), (r(4), 4, 1));
        assert_eq!(ki.get(5), None);
        assert_eq!(ki.get(100), None);
    }

    #[test]
    fn compaction_keeps_what_the_docs_say() {
        let mut keep = BTreeSet::new();
        let mut ki = example();
        ki.compact(2, KEEP, &mut keep);
        assert_eq!(revs(&ki), vec![vec![2, 3], vec![4, 5], vec![]]);
        assert_eq!(keep, BTreeSet::from([r(2)]));

        keep.clear();
        ki.compact(4, KEEP, &mut keep);
        assert_eq!(revs(&ki), vec![vec![4, 5], vec![]]);
        assert_eq!(keep, BTreeSet::from([r(4)]));

        keep.clear();
        ki.compact(5, KEEP, &mut keep);
        assert_eq!(revs(&ki), vec![vec![5], vec![]], "the delete at 5 is kept");
        assert_eq!(keep, BTreeSet::from([r(5)]));
        assert_eq!(ki.get(5), None);

        keep.clear();
        ki.compact(6, KEEP, &mut keep);
        assert!(ki.is_empty());
        assert!(keep.is_empty());

        let mut ki = example();
        ki.compact(6, KEEP, &mut keep);
        assert!(ki.is_empty());
    }

    #[test]
    fn the_etcd_18089_rule_drops_a_tombstone_at_the_compaction() {
        let mut keep = BTreeSet::new();
        let mut ki = example();
        ki.compact(5, TombstoneAtCompaction::Drop, &mut keep);
        assert!(ki.is_empty());
        assert!(keep.is_empty());
        let mut ki = example();
        ki.compact(3, TombstoneAtCompaction::Drop, &mut keep);
        assert_eq!(revs(&ki), vec![vec![4, 5], vec![]]);
    }

    #[test]
    fn a_key_deleted_and_recreated_at_the_compaction_keeps_its_new_life() {
        let mut ki = KeyIndex::default();
        ki.put(r(1));
        ki.tombstone(Revision::new(2, 0));
        ki.put(Revision::new(2, 1));
        let mut keep = BTreeSet::new();
        ki.compact(2, KEEP, &mut keep);
        assert_eq!(keep, BTreeSet::from([Revision::new(2, 1)]));
        assert_eq!(ki.get(2).unwrap().modified, Revision::new(2, 1));
    }

    #[test]
    fn compaction_between_generations_drops_the_dead_one() {
        let mut keep = BTreeSet::new();
        let mut ki = example();
        ki.compact(3, KEEP, &mut keep);
        assert_eq!(revs(&ki), vec![vec![3], vec![4, 5], vec![]]);
        assert_eq!(keep, BTreeSet::from([r(3)]));
    }

    #[test]
    fn versions_survive_compaction() {
        let mut ki = KeyIndex::default();
        for m in 1..=4 {
            ki.put(r(m));
        }
        ki.compact(3, KEEP, &mut BTreeSet::new());
        assert_eq!(revs(&ki), vec![vec![3, 4]]);
        assert_eq!(ki.get(3).unwrap().version, 3);
        assert_eq!(ki.get(4).unwrap().version, 4);
        assert_eq!(ki.get(4).unwrap().created, 1);
    }

    #[test]
    fn the_highest_sub_revision_wins_within_a_main_revision() {
        let mut ki = KeyIndex::default();
        ki.put(Revision::new(2, 0));
        ki.put(Revision::new(2, 1));
        let f = ki.get(2).unwrap();
        assert_eq!((f.modified, f.version), (Revision::new(2, 1), 2));
        ki.tombstone(Revision::new(2, 2));
        assert_eq!(ki.get(2), None);
    }

    #[test]
    #[should_panic(expected = "does not exist")]
    fn tombstone_of_a_missing_key_is_a_bug() {
        KeyIndex::default().tombstone(r(1));
    }
}
