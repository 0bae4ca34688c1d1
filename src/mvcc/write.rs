//! Write txns: one main revision for a whole write request.

use super::error::MvccError;
use super::key_index::KeyIndex;
use super::revision::Revision;
use super::store::{KeyValue, KvStore, RangeOptions, RangeResult, ReadView, Record};

/// A write txn (etcd's `storeTxnWrite`), from [`KvStore::write`].
///
/// All changes made through one txn share the main revision
/// `begin + 1`, with sub revisions 0, 1, ... in the order they are made.
/// Changes go into the store as they are made, so the txn's own reads see
/// them; other readers cannot look in meanwhile because the txn borrows the
/// store mutably. [`WriteTxn::end`] commits by making `begin + 1` the
/// current revision — only if something changed: a txn without changes
/// leaves the revision alone. Dropping the txn commits too (the changes are
/// already in), so a forgotten `end` cannot leave a half-made revision.
#[derive(Debug)]
pub struct WriteTxn<'a> {
    store: &'a mut KvStore,
    /// The current revision when the txn began.
    begin: i64,
    /// Changes made so far; the next one's sub revision.
    changes: i64,
}

impl KvStore {
    /// Begins a write txn at the current revision.
    pub fn write(&mut self) -> WriteTxn<'_> {
        let begin = self.current;
        WriteTxn {
            store: self,
            begin,
            changes: 0,
        }
    }
}

impl WriteTxn<'_> {
    /// The revision the txn's reads see: `begin + 1` once it changed
    /// something, `begin` before.
    pub fn rev(&self) -> i64 {
        self.begin + i64::from(self.changes > 0)
    }

    /// Reads through the txn, seeing its own changes; see
    /// [`ReadView::range`].
    pub fn range(
        &self,
        key: &[u8],
        range_end: &[u8],
        opts: RangeOptions,
    ) -> Result<RangeResult, MvccError> {
        self.store.range_at(key, range_end, self.rev(), opts)
    }

    /// Sets `key` to `value` with `lease` (0 for none) and returns the txn's
    /// main revision. A key that exists keeps its create revision and gets
    /// the next version; a key that does not is created with version 1.
    pub fn put(&mut self, key: &[u8], value: &[u8], lease: i64) -> i64 {
        let main = self.begin + 1;
        let rev = Revision::new(main, self.changes);
        let (create_revision, version) = match self.store.index.get(key).and_then(|ki| ki.get(main))
        {
            Some(found) => (found.created, found.version + 1),
            None => (main, 1),
        };
        let kv = KeyValue {
            key: key.to_vec(),
            value: value.to_vec(),
            create_revision,
            mod_revision: main,
            version,
            lease,
        };
        self.store.insert_record(
            rev,
            Record {
                kv,
                tombstone: false,
            },
        );
        self.store.buffers.put(rev);
        self.index_entry(key).put(rev);
        self.changes += 1;
        main
    }

    /// Deletes the keys in `key..range_end` (meanings as in
    /// [`ReadView::range`]) that exist, each with a tombstone at its own sub
    /// revision in key order, and returns how many there were and their
    /// key-values just before the delete.
    pub fn delete_range(&mut self, key: &[u8], range_end: &[u8]) -> (i64, Vec<KeyValue>) {
        let rev = self.rev();
        let prev: Vec<KeyValue> = self
            .store
            .keys_in(key, range_end)
            .filter_map(|(_, ki)| ki.get(rev))
            .map(|f| self.store.record(f.modified).kv.clone())
            .collect();
        for kv in &prev {
            let at = Revision::new(self.begin + 1, self.changes);
            self.store.insert_record(
                at,
                Record {
                    kv: KeyValue {
                        key: kv.key.clone(),
                        ..KeyValue::default()
                    },
                    tombstone: true,
                },
            );
            self.index_entry(&kv.key).tombstone(at);
            self.store.buffers.put(at);
            self.changes += 1;
        }
        (prev.len() as i64, prev)
    }

    /// Deletes something in a bucket of the backend other than the key
    /// bucket, in this txn (a revoked lease's entry, as etcd's lessor
    /// deletes it in the txn that deletes the lease's keys): the txn's end
    /// commits the batch.
    pub fn delete_elsewhere(&mut self) {
        self.store.buffers.delete_elsewhere();
    }

    /// Commits the txn and returns the store's revision after it: `begin + 1`
    /// if anything changed, `begin` otherwise.
    pub fn end(self) -> i64 {
        // The commit itself happens in `drop`.
        self.rev()
    }

    fn index_entry(&mut self, key: &[u8]) -> &mut KeyIndex {
        if !self.store.index.contains_key(key) {
            self.store.index.insert(key.to_vec(), KeyIndex::default());
        }
        self.store.index.get_mut(key).expect("just inserted")
    }
}

impl Drop for WriteTxn<'_> {
    fn drop(&mut self) {
        self.store.current = self.rev();
        // The backend's end of the txn: the write buffer goes into the
        // read buffer.
        self.store.buffers.end_txn();
    }
}

impl ReadView for WriteTxn<'_> {
    fn rev(&self) -> i64 {
        WriteTxn::rev(self)
    }

    fn range(
        &self,
        key: &[u8],
        range_end: &[u8],
        opts: RangeOptions,
    ) -> Result<RangeResult, MvccError> {
        WriteTxn::range(self, key, range_end, opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(store: &KvStore, key: &[u8], rev: i64) -> Result<Option<KeyValue>, MvccError> {
        let opts = RangeOptions {
            rev,
            ..Default::default()
        };
        Ok(store.range(key, b"", opts)?.kvs.into_iter().next())
    }

    #[test]
    fn a_fresh_store_is_at_revision_one() {
        let store = KvStore::new();
        assert_eq!(store.current_revision(), 1);
        assert_eq!(store.compacted_revision(), 0);
        assert_eq!(get(&store, b"a", 0), Ok(None));
    }

    #[test]
    fn puts_set_create_mod_and_version() {
        let mut store = KvStore::new();
        for _ in 0..2 {
            let mut txn = store.write();
            txn.put(b"a", b"v", 7);
            txn.end();
        }
        let kv = get(&store, b"a", 0).unwrap().unwrap();
        assert_eq!(
            (kv.create_revision, kv.mod_revision, kv.version, kv.lease),
            (2, 3, 2, 7)
        );
    }

    #[test]
    fn one_txn_is_one_main_revision_and_sees_its_own_writes() {
        let mut store = KvStore::new();
        let mut txn = store.write();
        assert_eq!(txn.put(b"a", b"1", 0), 2);
        assert_eq!(txn.put(b"a", b"2", 0), 2);
        let seen = txn.range(b"a", b"", RangeOptions::default()).unwrap();
        assert_eq!((seen.rev, seen.kvs[0].version), (2, 2));
        assert_eq!(txn.delete_range(b"a", b"").0, 1);
        txn.put(b"a", b"3", 0);
        assert_eq!(txn.end(), 2);
        let kv = get(&store, b"a", 0).unwrap().unwrap();
        assert_eq!(
            (kv.value.as_slice(), kv.version, kv.create_revision),
            (&b"3"[..], 1, 2)
        );
    }

    #[test]
    fn a_txn_without_changes_keeps_the_revision() {
        let mut store = KvStore::new();
        let mut txn = store.write();
        assert_eq!(txn.delete_range(b"a", b"\0"), (0, vec![]));
        assert_eq!(txn.end(), 1);
        assert_eq!(store.current_revision(), 1);
    }

    #[test]
    fn delete_resets_the_version_and_history_stays_readable() {
        let mut store = KvStore::new();
        let put = |store: &mut KvStore, v: &[u8]| {
            let mut t = store.write();
            t.put(b"k", v, 0);
            t.end()
        };
        put(&mut store, b"1"); // rev 2
        let mut t = store.write();
        let (n, prev) = t.delete_range(b"k", b"");
        t.end(); // rev 3
        assert_eq!((n, prev[0].value.as_slice()), (1, &b"1"[..]));
        put(&mut store, b"2"); // rev 4
        let now = get(&store, b"k", 0).unwrap().unwrap();
        assert_eq!((now.create_revision, now.version), (4, 1));
        assert_eq!(get(&store, b"k", 3), Ok(None));
        assert_eq!(get(&store, b"k", 2).unwrap().unwrap().value, b"1");
    }

    #[test]
    fn range_end_selects_single_key_from_key_or_interval() {
        let mut store = KvStore::new();
        let mut t = store.write();
        for k in [&b"a"[..], b"ab", b"b", b"c"] {
            t.put(k, b"", 0);
        }
        t.end();
        let keys = |key: &[u8], end: &[u8]| -> Vec<Vec<u8>> {
            let r = store.range(key, end, RangeOptions::default()).unwrap();
            r.kvs.into_iter().map(|kv| kv.key).collect()
        };
        assert_eq!(keys(b"a", b""), vec![b"a".to_vec()]);
        assert_eq!(
            keys(b"ab", b"\0"),
            vec![b"ab".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(keys(b"", b"\0").len(), 4);
        assert_eq!(keys(b"a", b"b"), vec![b"a".to_vec(), b"ab".to_vec()]);
        assert!(keys(b"c", b"a").is_empty());
    }

    #[test]
    fn limit_truncates_but_count_does_not() {
        let mut store = KvStore::new();
        let mut t = store.write();
        for k in [b"a", b"b", b"c"] {
            t.put(k, b"", 0);
        }
        t.end();
        let opts = RangeOptions {
            limit: 2,
            ..Default::default()
        };
        let r = store.range(b"a", b"\0", opts).unwrap();
        assert_eq!((r.kvs.len(), r.count, r.rev), (2, 3, 2));
        let opts = RangeOptions {
            count_only: true,
            ..Default::default()
        };
        let r = store.range(b"a", b"\0", opts).unwrap();
        assert_eq!((r.kvs.len(), r.count), (0, 3));
    }

    #[test]
    fn reads_of_future_or_compacted_revisions_fail() {
        let mut store = KvStore::new();
        for _ in 0..3 {
            let mut t = store.write();
            t.put(b"a", b"", 0);
            t.end();
        }
        assert_eq!(get(&store, b"a", 5), Err(MvccError::FutureRev));
        store.compact(3).unwrap();
        assert_eq!(get(&store, b"a", 2), Err(MvccError::Compacted));
        assert_eq!(get(&store, b"a", 3).unwrap().unwrap().version, 2);
    }

    #[test]
    fn compaction_rejects_old_and_future_revisions() {
        let mut store = KvStore::new();
        assert_eq!(store.compact(2), Err(MvccError::FutureRev));
        assert_eq!(store.compact(1), Ok(()));
        assert_eq!(store.compacted_revision(), 1);
        assert_eq!(store.compact(1), Err(MvccError::Compacted));
        assert_eq!(store.compact(0), Err(MvccError::Compacted));
    }

    #[test]
    fn compaction_drops_keys_whose_last_change_before_it_is_a_delete() {
        let mut store = KvStore::new();
        let mut t = store.write();
        t.put(b"gone", b"", 0);
        t.put(b"kept", b"", 0);
        t.end(); // 2
        let mut t = store.write();
        t.delete_range(b"gone", b"");
        t.end(); // 3
        store.compact(3).unwrap();
        assert_eq!(store.records.len(), 2, "the delete at 3 is 3's event");
        assert_eq!(get(&store, b"gone", 3).unwrap(), None);
        assert_eq!(get(&store, b"kept", 3).unwrap().unwrap().mod_revision, 2);
        let mut t = store.write();
        t.put(b"other", b"", 0);
        t.end(); // 4
        store.compact(4).unwrap();
        assert!(!store.index.contains_key(&b"gone"[..]));
        assert_eq!(store.records.len(), 2);
    }
}
