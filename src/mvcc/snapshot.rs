//! Snapshots: the whole store as bytes, for raft snapshots and restarts.
//!
//! # Format (version 1)
//!
//! All integers are big-endian; `bytes` is a `u32` length then that many
//! bytes.
//!
//! ```text
//! magic      8 bytes   b"ESMVCC" then version 0x00 0x01
//! current    i64       current revision
//! compacted  i64       last compaction (-1: never compacted)
//! count      u64       number of records
//! record*    count times, in ascending revision order:
//!   revision bytes     17-byte revision key (see `Revision`), with the
//!                      tombstone mark b't' appended for a delete (18 bytes)
//!   key      bytes
//!   -- a put only: --
//!   value    bytes
//!   create   i64       create revision
//!   version  i64
//!   lease    i64
//! checksum   u64       FNV-1a 64 of every byte before it
//! ```
//!
//! A record's mod revision is its main revision and is not stored again.
//! Like etcd's backend, a snapshot holds the changes themselves; the key
//! index is rebuilt from them on restore, as etcd's `restore` does.
//!
//! # Restore resumes the compaction
//!
//! etcd's restore resumes a compaction whose finish mark it does not find
//! (a crash struck between the compaction's deletes and that mark): it
//! compacts the rebuilt index again at the scheduled revision and deletes
//! the records the index no longer names. A snapshot here writes the
//! compacted revision with the data in one step, so it cannot tell an
//! interrupted compaction from a finished one; restore always resumes it.
//! That changes nothing when the index is rebuilt right (every record a
//! compaction kept is named by it), and it is where two of etcd's restore
//! bugs bite ([`RestoreRules`]).

use std::collections::BTreeMap;

use super::error::SnapshotError;
use super::key_index::{KeyIndex, TombstoneAtCompaction};
use super::revision::{Revision, TOMBSTONE_MARK};
use super::store::{KeyValue, KvStore, Record};

const MAGIC: &[u8; 8] = b"ESMVCC\x00\x01";

/// How a restore rebuilds the store where etcd's once went wrong; the
/// default is right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RestoreRules {
    /// What becomes of a key whose first retained record is its delete.
    pub lone_tombstone: LoneTombstone,
    /// Where the restored store's current revision comes from.
    pub current: CurrentRevision,
}

/// A key whose first retained record is its delete: compaction at the
/// delete's revision kept it (the compacted revision's event) and dropped
/// everything before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoneTombstone {
    /// Goes into the index as a generation of that delete alone, so the
    /// resumed compaction keeps it (etcd since its fix of #19179).
    #[default]
    Index,
    /// Stays out of the index, as etcd's restore left a tombstone of a
    /// key it had not met yet: the resumed compaction then deletes it, and
    /// a watch from the compacted revision misses the delete (the
    /// `etcd-19179` bug).
    Skip,
}

/// Where a restored store's current revision comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CurrentRevision {
    /// The revision the snapshot recorded, never below its compaction
    /// (etcd since its fix of #17780 takes the scheduled compaction's
    /// revision as a floor).
    #[default]
    Recorded,
    /// The newest record left after the resumed compaction (the
    /// `etcd-17780` bug), as etcd's restore took the newest key in its
    /// backend. A compaction at the newest revision resumes by the rule
    /// etcd had before its fix of #18089, which removes a delete there:
    /// when the newest revision held only deletes, the store's revision
    /// goes back. The compaction then stands above the current revision
    /// and fails to resume ("required revision is a future revision", as
    /// etcd logged), so the store's compacted revision goes no higher than
    /// its current one.
    FromRecords,
}

/// A copy of what a snapshot of the store holds, frozen at one revision,
/// to be encoded elsewhere: the applier freezes the store between two
/// entries and goes on applying while the copy is encoded. Copying the
/// records is a fraction of encoding them (no length prefixes, no
/// checksum), so the apply loop stalls for the copy only.
#[derive(Debug, Clone)]
pub struct FrozenStore {
    current: i64,
    compacted: i64,
    records: BTreeMap<Revision, Record>,
}

impl FrozenStore {
    /// The same bytes [`KvStore::snapshot`] gave when this was frozen.
    pub fn encode(&self) -> Vec<u8> {
        encode_snapshot(self.current, self.compacted, &self.records)
    }
}

fn encode_snapshot(current: i64, compacted: i64, records: &BTreeMap<Revision, Record>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&current.to_be_bytes());
    out.extend_from_slice(&compacted.to_be_bytes());
    out.extend_from_slice(&(records.len() as u64).to_be_bytes());
    for (rev, record) in records {
        encode_record(&mut out, *rev, record);
    }
    let sum = fnv1a(&out);
    out.extend_from_slice(&sum.to_be_bytes());
    out
}

impl KvStore {
    /// Encodes every retained revision and the current and compacted
    /// revisions (format in the module docs of `snapshot.rs`).
    pub fn snapshot(&self) -> Vec<u8> {
        encode_snapshot(self.current, self.compacted, &self.records)
    }

    /// Copies what [`KvStore::snapshot`] would encode now.
    pub fn freeze(&self) -> FrozenStore {
        FrozenStore {
            current: self.current,
            compacted: self.compacted,
            records: self.records.clone(),
        }
    }

    /// Rebuilds a store from [`KvStore::snapshot`]'s bytes; the result
    /// equals the store that was snapshotted. Corrupt or inconsistent input
    /// is an error, never a panic.
    pub fn restore(bytes: &[u8]) -> Result<KvStore, SnapshotError> {
        Self::restore_with(bytes, RestoreRules::default())
    }

    /// [`KvStore::restore`] with `rules` saying how it rebuilds the index
    /// and the current revision (right unless a bug switch says otherwise):
    /// decodes the records into the store and its index, then resumes the
    /// compaction (module docs).
    pub fn restore_with(bytes: &[u8], rules: RestoreRules) -> Result<KvStore, SnapshotError> {
        if bytes.len() < MAGIC.len() + 8 {
            return Err(SnapshotError::Truncated);
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if fnv1a(body).to_be_bytes() != sum {
            return Err(SnapshotError::Checksum);
        }
        let mut r = Reader(&body[MAGIC.len()..]);
        let current = r.i64()?;
        let compacted = r.i64()?;
        if current < 1 || compacted < -1 || compacted > current {
            return Err(SnapshotError::Invalid("current or compacted revision"));
        }
        let count = r.u64()?;
        let mut store = KvStore {
            index: BTreeMap::new(),
            records: BTreeMap::new(),
            current,
            compacted,
            bytes: 0,
            buffers: Default::default(),
        };
        let mut last = Revision::new(0, -1);
        for _ in 0..count {
            let (rev, tombstone) =
                Revision::from_bytes(r.bytes()?).ok_or(SnapshotError::Invalid("revision key"))?;
            if rev <= last || rev.sub < 0 || rev.main > current {
                return Err(SnapshotError::Invalid("revision out of order or range"));
            }
            last = rev;
            let key = r.bytes()?.to_vec();
            let record = if tombstone {
                store.restore_tombstone(&key, rev, rules.lone_tombstone)?;
                Record {
                    kv: KeyValue {
                        key,
                        ..KeyValue::default()
                    },
                    tombstone,
                }
            } else {
                let kv = KeyValue {
                    value: r.bytes()?.to_vec(),
                    create_revision: r.i64()?,
                    mod_revision: rev.main,
                    version: r.i64()?,
                    lease: r.i64()?,
                    key,
                };
                store.restore_put(&kv, rev)?;
                Record { kv, tombstone }
            };
            store.insert_record(rev, record);
        }
        if !r.0.is_empty() {
            return Err(SnapshotError::Invalid("trailing bytes"));
        }
        store.resume_compaction(rules.current);
        Ok(store)
    }

    /// Compacts the rebuilt store again at its compacted revision, then
    /// settles its current revision as `current` says (module docs).
    fn resume_compaction(&mut self, current: CurrentRevision) {
        // #17780 needed the newest revision gone from etcd's backend: a
        // compaction at the newest revision removed its deletes, by the
        // rule etcd had until its fix of #18089. Compaction here keeps
        // them, so the bug brings back that old rule exactly where this
        // bug needs it, and nowhere else.
        let newest_compacted = self.compacted == self.current;
        let tombstone = match current {
            CurrentRevision::FromRecords if newest_compacted => TombstoneAtCompaction::Drop,
            _ => TombstoneAtCompaction::Keep,
        };
        if self.compacted >= 0 {
            self.prune(self.compacted, tombstone);
        }
        if current == CurrentRevision::FromRecords {
            // A fresh store is at revision 1 (no record is older).
            self.current = self.records.keys().next_back().map_or(1, |r| r.main);
            self.compacted = self.compacted.min(self.current);
        }
    }

    fn restore_put(&mut self, kv: &KeyValue, rev: Revision) -> Result<(), SnapshotError> {
        match self.index.get_mut(&kv.key[..]) {
            None => {
                if kv.version < 1 || kv.create_revision > rev.main {
                    return Err(SnapshotError::Invalid("first put of a key"));
                }
                let ki = KeyIndex::restore(kv.create_revision, rev, kv.version);
                self.index.insert(kv.key.clone(), ki);
            }
            Some(ki) => {
                ki.put(rev);
                let found = ki.get(rev.main).expect("just put");
                if (found.created, found.version) != (kv.create_revision, kv.version) {
                    return Err(SnapshotError::Invalid("version or create revision"));
                }
            }
        }
        Ok(())
    }

    fn restore_tombstone(
        &mut self,
        key: &[u8],
        rev: Revision,
        lone: LoneTombstone,
    ) -> Result<(), SnapshotError> {
        match self.index.get_mut(key) {
            Some(ki) if ki.is_live() => {
                ki.tombstone(rev);
                Ok(())
            }
            // A key's first retained revision may be a delete only where
            // compaction kept it: at the compacted revision.
            None if rev.main == self.compacted => {
                if lone == LoneTombstone::Index {
                    self.index
                        .insert(key.to_vec(), KeyIndex::restore_tombstone(rev));
                }
                Ok(())
            }
            _ => Err(SnapshotError::Invalid("tombstone of a missing key")),
        }
    }
}

/// Appends one record as the snapshot format lays it out; HashKV hashes
/// the same bytes, so two stores hash equal exactly when their records
/// would snapshot equal.
pub(super) fn encode_record(out: &mut Vec<u8>, rev: Revision, record: &Record) {
    let mut key = rev.to_bytes().to_vec();
    if record.tombstone {
        key.push(TOMBSTONE_MARK);
    }
    put_bytes(out, &key);
    put_bytes(out, &record.kv.key);
    if !record.tombstone {
        put_bytes(out, &record.kv.value);
        out.extend_from_slice(&record.kv.create_revision.to_be_bytes());
        out.extend_from_slice(&record.kv.version.to_be_bytes());
        out.extend_from_slice(&record.kv.lease.to_be_bytes());
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("mvcc snapshot: a key or value over 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// FNV-1a, 64 bits: enough to catch torn or corrupted snapshots, std only.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A cursor over snapshot bytes whose reads fail at the end of the input.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        if self.0.len() < n {
            return Err(SnapshotError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes"));
        self.take(len as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_size_counts_retained_records_and_survives_a_snapshot() {
        let mut store = KvStore::new();
        assert_eq!(store.size_bytes(), 0);
        let mut t = store.write();
        t.put(b"key", b"value", 0);
        t.end();
        let one = store.size_bytes();
        assert_eq!(one, 3 + 5 + 64);
        let mut t = store.write();
        t.put(b"key", b"other", 0);
        t.end();
        assert_eq!(store.size_bytes(), 2 * one, "history takes space");
        store.compact(store.current_revision()).unwrap();
        assert_eq!(store.size_bytes(), one, "compaction frees it");
        let restored = KvStore::restore(&store.snapshot()).unwrap();
        assert_eq!(restored.size_bytes(), one);
    }

    fn busy_store() -> KvStore {
        let mut store = KvStore::new();
        for i in 0..6u8 {
            let mut t = store.write();
            t.put(&[b'a' + i % 3], &[i], i64::from(i));
            t.put(b"z", &[i], 0);
            if i % 2 == 1 {
                t.delete_range(b"a", b"c");
            }
            t.end();
        }
        store
    }

    #[test]
    fn a_snapshot_round_trips() {
        let store = busy_store();
        assert_eq!(KvStore::restore(&store.snapshot()), Ok(store.clone()));
        assert_eq!(
            KvStore::restore(&KvStore::new().snapshot()),
            Ok(KvStore::new())
        );
    }

    #[test]
    fn a_frozen_store_encodes_as_the_store_did_when_frozen() {
        let mut store = busy_store();
        let frozen = store.freeze();
        let then = store.snapshot();
        let mut t = store.write();
        t.put(b"later", b"x", 0);
        t.end();
        store.compact(3).unwrap();
        assert_eq!(frozen.encode(), then);
        assert_ne!(store.snapshot(), then);
    }

    #[test]
    fn a_snapshot_of_a_compacted_store_round_trips() {
        let mut store = busy_store();
        store.compact(4).unwrap();
        let restored = KvStore::restore(&store.snapshot()).unwrap();
        assert_eq!(restored, store);
        // And the restored store keeps working like the original.
        let mut a = store.clone();
        let mut b = restored;
        for s in [&mut a, &mut b] {
            let mut t = s.write();
            t.put(b"z", b"again", 0);
            t.end();
        }
        assert_eq!(a, b);
    }

    /// `k` put at 2 and deleted at 3, `other` put at 4: compaction at 3
    /// keeps the delete as 3's event.
    fn compacted_at_a_delete() -> KvStore {
        let mut store = KvStore::new();
        for step in 0..3 {
            let mut t = store.write();
            match step {
                0 => t.put(b"k", b"v", 0),
                1 => t.delete_range(b"k", b"").0,
                _ => t.put(b"other", b"v", 0),
            };
            t.end();
        }
        store.compact(3).unwrap();
        store
    }

    fn deletes_from(store: &KvStore, rev: i64) -> Vec<i64> {
        let events = store.events(b"", b"\0", rev, i64::MAX, false).unwrap();
        events
            .iter()
            .filter(|e| e.kind == crate::mvcc::EventKind::Delete)
            .map(|e| e.kv.mod_revision)
            .collect()
    }

    #[test]
    fn a_restore_keeps_a_delete_at_the_compacted_revision_for_a_watch_from_there() {
        let store = compacted_at_a_delete();
        assert_eq!(deletes_from(&store, 3), vec![3]);
        let restored = KvStore::restore(&store.snapshot()).unwrap();
        assert_eq!(restored, store, "the resumed compaction changes nothing");
        assert_eq!(deletes_from(&restored, 3), vec![3]);
        // Again, and after a restore of a restore.
        let twice = KvStore::restore(&restored.snapshot()).unwrap();
        assert_eq!(twice, store);
    }

    #[test]
    fn the_etcd_19179_rule_loses_the_delete_at_the_compacted_revision_on_restore() {
        let store = compacted_at_a_delete();
        let rules = RestoreRules {
            lone_tombstone: LoneTombstone::Skip,
            ..RestoreRules::default()
        };
        let restored = KvStore::restore_with(&store.snapshot(), rules).unwrap();
        assert_eq!(deletes_from(&restored, 3), Vec::<i64>::new());
        assert_eq!(restored.compacted_revision(), 3);
        assert_eq!(restored.current_revision(), 4);
        assert_ne!(
            restored.hash_kv(0),
            store.hash_kv(0),
            "members would differ"
        );
        // A store with no lone delete restores the same either way.
        let mut plain = busy_store();
        plain.compact(4).unwrap();
        let bytes = plain.snapshot();
        assert_eq!(KvStore::restore_with(&bytes, rules), Ok(plain));
    }

    /// `a` put at 2, `k` put at 3 and deleted at 4, compacted at 4: the
    /// newest revision holds only a delete.
    fn compacted_at_the_newest_delete() -> KvStore {
        let mut store = KvStore::new();
        for step in 0..3 {
            let mut t = store.write();
            match step {
                0 => t.put(b"a", b"v", 0),
                1 => t.put(b"k", b"v", 0),
                _ => t.delete_range(b"k", b"").0,
            };
            t.end();
        }
        store.compact(4).unwrap();
        store
    }

    const FROM_RECORDS: RestoreRules = RestoreRules {
        lone_tombstone: LoneTombstone::Index,
        current: CurrentRevision::FromRecords,
    };

    #[test]
    fn a_restore_keeps_the_current_revision_when_the_newest_one_was_compacted() {
        let store = compacted_at_the_newest_delete();
        let restored = KvStore::restore(&store.snapshot()).unwrap();
        assert_eq!(restored.current_revision(), 4);
        assert_eq!(restored, store);
    }

    #[test]
    fn the_etcd_17780_rule_sends_the_revision_back_and_reuses_it() {
        let store = compacted_at_the_newest_delete();
        let mut restored = KvStore::restore_with(&store.snapshot(), FROM_RECORDS).unwrap();
        assert_eq!(restored.current_revision(), 2, "only a's put at 2 is left");
        assert_eq!(restored.compacted_revision(), 2);
        let mut t = restored.write();
        assert_eq!(t.put(b"b", b"v", 0), 3, "revision 3 again");
        t.end();
        // The same store with anything newer than the compaction keeps its
        // revision: the newest record survives.
        let mut later = store.clone();
        let mut t = later.write();
        t.put(b"z", b"v", 0);
        t.end();
        let restored = KvStore::restore_with(&later.snapshot(), FROM_RECORDS).unwrap();
        assert_eq!(restored.current_revision(), 5);
        // So does one whose newest revision holds a put.
        let mut put_last = busy_store();
        put_last.compact(put_last.current_revision()).unwrap();
        let restored = KvStore::restore_with(&put_last.snapshot(), FROM_RECORDS).unwrap();
        assert_eq!(restored.current_revision(), put_last.current_revision());
        // And a delete at a compaction below the newest revision stays.
        let below = compacted_at_a_delete();
        assert_eq!(
            KvStore::restore_with(&below.snapshot(), FROM_RECORDS),
            Ok(below)
        );
    }

    #[test]
    fn restore_rejects_damage() {
        let bytes = busy_store().snapshot();
        assert_eq!(KvStore::restore(&bytes[..5]), Err(SnapshotError::Truncated));
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(KvStore::restore(&bad), Err(SnapshotError::BadMagic));
        for cut in [bytes.len() - 1, bytes.len() / 2] {
            assert!(KvStore::restore(&bytes[..cut]).is_err());
        }
        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        assert_eq!(KvStore::restore(&flipped), Err(SnapshotError::Checksum));
    }

    #[test]
    fn restore_rejects_a_tombstone_without_a_put() {
        let mut body = MAGIC.to_vec();
        body.extend_from_slice(&2i64.to_be_bytes());
        body.extend_from_slice(&(-1i64).to_be_bytes());
        body.extend_from_slice(&1u64.to_be_bytes());
        let mut key = Revision::new(2, 0).to_bytes().to_vec();
        key.push(TOMBSTONE_MARK);
        put_bytes(&mut body, &key);
        put_bytes(&mut body, b"k");
        let sum = fnv1a(&body);
        body.extend_from_slice(&sum.to_be_bytes());
        assert_eq!(
            KvStore::restore(&body),
            Err(SnapshotError::Invalid("tombstone of a missing key"))
        );
    }
}
