//! The store's history as watch events: what changed in a key range between
//! two revisions.
//!
//! Watchers need no log of their own: every retained revision is already in
//! the store (`records`, by revision), so a watcher that is behind — just
//! created from a past revision, or slow — reads its events from here, and
//! one that is caught up reads just the newest revision the same way. The
//! store stays synchronous; fanning events out to streams is the server's
//! job (`server::watch`).
//!
//! A delete's event carries only the key and, as etcd's, the delete's
//! revision as `mod_revision`. With `prev_kv` each event also carries the
//! key as it was just before the event's *main* revision (etcd reads it at
//! `mod_revision - 1`, so two changes of one key in one txn share it).

use std::ops::Bound;

use super::error::MvccError;
use super::revision::Revision;
use super::store::{KeyValue, KvStore, RangeOptions};

/// What an event did to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The key was set.
    Put,
    /// The key was deleted.
    Delete,
}

/// One change of one key (etcd's `mvccpb.Event`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The key-value after a put; only key and `mod_revision` for a delete.
    pub kv: KeyValue,
    /// The key-value before the event's revision, if asked for and the key
    /// existed then.
    pub prev_kv: Option<KeyValue>,
}

impl KvStore {
    /// Every change to keys in `key..range_end` (meanings as in
    /// [`ReadView::range`](super::ReadView::range)) at revisions
    /// `from..=to`, in revision order; `to` is capped at the current
    /// revision.
    ///
    /// Fails with [`MvccError::Compacted`] if `from` is below the
    /// compacted revision. `from == compacted` is served, as etcd 3.4
    /// serves a watcher whose `minRev` equals the compaction revision:
    /// compaction keeps every change made at the compacted revision (the
    /// newest put of each key there, and — since etcd's fix of #18089 — a
    /// delete there).
    pub fn events(
        &self,
        key: &[u8],
        range_end: &[u8],
        from: i64,
        to: i64,
        prev_kv: bool,
    ) -> Result<Vec<Event>, MvccError> {
        if from < self.compacted_revision() {
            return Err(MvccError::Compacted);
        }
        let to = to.min(self.current);
        if from > to {
            return Ok(Vec::new());
        }
        let (start, end) = (Revision::new(from, 0), Revision::new(to + 1, 0));
        let span = (Bound::Included(start), Bound::Excluded(end));
        // The backend's range read of the key bucket: each record the last
        // batch commit holds, and each the read buffer holds on top (see
        // `buffer.rs`). Done right, every record is in exactly one of them.
        let buffered = self.buffers.read_in(start, end);
        let mut next_buffered = buffered.iter().peekable();
        let events = self
            .records
            .range(span)
            .flat_map(|(rev, record)| {
                let mut times = usize::from(self.buffers.committed(rev));
                while next_buffered.next_if(|r| *r < rev).is_some() {}
                while next_buffered.next_if(|r| *r == rev).is_some() {
                    times += 1;
                }
                std::iter::repeat_n((rev, record), times)
            })
            .filter(|(_, record)| in_range(&record.kv.key, key, range_end))
            .map(|(rev, record)| {
                let (kind, kv) = if record.tombstone {
                    let kv = KeyValue {
                        key: record.kv.key.clone(),
                        mod_revision: rev.main,
                        ..KeyValue::default()
                    };
                    (EventKind::Delete, kv)
                } else {
                    (EventKind::Put, record.kv.clone())
                };
                let prev_kv = prev_kv.then(|| self.before(&kv.key, rev.main)).flatten();
                Event { kind, kv, prev_kv }
            })
            .collect();
        Ok(events)
    }

    /// `key` as a read at `main - 1` sees it, if that is still readable.
    fn before(&self, key: &[u8], main: i64) -> Option<KeyValue> {
        let opts = RangeOptions {
            rev: main - 1,
            ..RangeOptions::default()
        };
        let read = self.range_at(key, b"", self.current, opts).ok()?;
        read.kvs.into_iter().next()
    }
}

/// Whether `candidate` is in `key..range_end`, with the meanings of
/// [`ReadView::range`](super::ReadView::range).
pub fn in_range(candidate: &[u8], key: &[u8], range_end: &[u8]) -> bool {
    match range_end {
        [] => candidate == key,
        [0] => candidate >= key,
        end => candidate >= key && candidate < end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(store: &mut KvStore, key: &[u8], value: &[u8]) -> i64 {
        let mut txn = store.write();
        txn.put(key, value, 0);
        txn.end()
    }

    fn delete(store: &mut KvStore, key: &[u8]) -> i64 {
        let mut txn = store.write();
        txn.delete_range(key, b"");
        txn.end()
    }

    fn summary(events: &[Event]) -> Vec<(EventKind, &[u8], i64)> {
        events
            .iter()
            .map(|e| (e.kind, e.kv.key.as_slice(), e.kv.mod_revision))
            .collect()
    }

    #[test]
    fn events_come_in_revision_order_within_the_range() {
        let mut store = KvStore::new();
        put(&mut store, b"a", b"1"); // 2
        put(&mut store, b"b", b"1"); // 3
        delete(&mut store, b"a"); // 4
        put(&mut store, b"c", b"1"); // 5
        let all = store.events(b"a", b"c", 1, 5, false).unwrap();
        assert_eq!(
            summary(&all),
            vec![
                (EventKind::Put, &b"a"[..], 2),
                (EventKind::Put, &b"b"[..], 3),
                (EventKind::Delete, &b"a"[..], 4),
            ]
        );
        let one_key = store.events(b"a", b"", 3, 100, false).unwrap();
        assert_eq!(summary(&one_key), vec![(EventKind::Delete, &b"a"[..], 4)]);
        assert!(store.events(b"a", b"\0", 6, 10, false).unwrap().is_empty());
    }

    #[test]
    fn a_txn_gives_all_its_changes_at_one_revision_with_prev_kv_from_before_it() {
        let mut store = KvStore::new();
        put(&mut store, b"a", b"old"); // 2
        let mut txn = store.write();
        txn.put(b"a", b"x", 0);
        txn.put(b"a", b"y", 0);
        txn.put(b"b", b"z", 0);
        txn.end(); // 3
        let events = store.events(b"a", b"\0", 3, 3, true).unwrap();
        let values: Vec<&[u8]> = events.iter().map(|e| e.kv.value.as_slice()).collect();
        assert_eq!(values, vec![&b"x"[..], b"y", b"z"]);
        let prev = |i: usize| events[i].prev_kv.as_ref().map(|kv| kv.value.clone());
        assert_eq!(prev(0), Some(b"old".to_vec()));
        assert_eq!(prev(1), Some(b"old".to_vec()));
        assert_eq!(prev(2), None);
    }

    #[test]
    fn history_below_the_compacted_revision_is_refused_and_at_it_served() {
        let mut store = KvStore::new();
        put(&mut store, b"a", b"1"); // 2
        delete(&mut store, b"a"); // 3
        put(&mut store, b"a", b"2"); // 4
        put(&mut store, b"b", b"1"); // 5
        put(&mut store, b"b", b"2"); // 6
        store.compact(3).unwrap();
        assert_eq!(
            store.events(b"a", b"", 2, 4, false),
            Err(MvccError::Compacted)
        );
        let from_compacted = store.events(b"a", b"", 3, 4, true).unwrap();
        assert_eq!(
            summary(&from_compacted),
            vec![
                (EventKind::Delete, &b"a"[..], 3),
                (EventKind::Put, &b"a"[..], 4)
            ],
            "the delete at the compacted revision is its event"
        );
        assert_eq!(from_compacted[1].prev_kv, None, "the key was deleted at 3");
        store.compact(5).unwrap();
        let b = store.events(b"b", b"", 5, 6, false).unwrap();
        assert_eq!(
            summary(&b),
            vec![
                (EventKind::Put, &b"b"[..], 5),
                (EventKind::Put, &b"b"[..], 6)
            ]
        );
    }

    /// Puts `a`, `b`, `c` (revisions 2 to 4), with a write outside the key
    /// bucket before `c` and batch commits where `commits` has bits set;
    /// returns the events of all three.
    fn history_with_commits(rule: super::super::Writeback, commits: u32) -> Vec<Event> {
        let mut store = KvStore::new();
        store.set_writeback(rule);
        let mut step = 0;
        let mut maybe_commit = |store: &mut KvStore| {
            for _ in 0..2 {
                if commits & (1 << step) != 0 {
                    store.commit_batch();
                }
                step += 1;
            }
        };
        put(&mut store, b"a", b"1");
        maybe_commit(&mut store);
        put(&mut store, b"b", b"1");
        maybe_commit(&mut store);
        store.write_elsewhere();
        maybe_commit(&mut store);
        put(&mut store, b"c", b"1");
        maybe_commit(&mut store);
        store.events(b"", b"\0", 1, 10, false).unwrap()
    }

    #[test]
    fn range_reads_see_each_record_once_whatever_the_batch_commits() {
        for commits in 0..1 << 8 {
            let events = history_with_commits(Default::default(), commits);
            assert_eq!(
                summary(&events),
                vec![
                    (EventKind::Put, &b"a"[..], 2),
                    (EventKind::Put, &b"b"[..], 3),
                    (EventKind::Put, &b"c"[..], 4),
                ],
                "commits {commits:08b}"
            );
        }
    }

    #[test]
    fn the_etcd_17247_rule_serves_a_committed_revision_again() {
        // `b` is merged into the read buffer, so the write buffer keeps its
        // emptied key bucket; two commits with nothing written drop the
        // read buffer's; the write outside the key bucket hands the empty
        // one over, deduplicated into one entry: `b`'s, committed already.
        let two_commits_after_b = 0b1100;
        let events = history_with_commits(super::super::Writeback::Dedupe, two_commits_after_b);
        assert_eq!(
            summary(&events),
            vec![
                (EventKind::Put, &b"a"[..], 2),
                (EventKind::Put, &b"b"[..], 3),
                (EventKind::Put, &b"b"[..], 3),
                (EventKind::Put, &b"c"[..], 4),
            ]
        );
        // With one commit only, the read buffer still had its key bucket.
        let one_commit = history_with_commits(super::super::Writeback::Dedupe, 0b0100);
        assert_eq!(one_commit.len(), 3);
    }

    #[test]
    fn the_next_batch_commit_drops_the_stale_revision() {
        let mut store = KvStore::new();
        store.set_writeback(super::super::Writeback::Dedupe);
        put(&mut store, b"a", b"1"); // 2, handed over
        put(&mut store, b"b", b"1"); // 3, merged
        store.commit_batch();
        store.commit_batch();
        assert!(store.write_elsewhere(), "the key bucket is handed over");
        assert_eq!(store.events(b"b", b"", 3, 3, false).unwrap().len(), 2);
        store.commit_batch();
        assert_eq!(store.events(b"b", b"", 3, 3, false).unwrap().len(), 1);
    }

    #[test]
    fn the_etcd_18089_rule_loses_the_delete_at_the_compacted_revision() {
        let mut store = KvStore::new();
        put(&mut store, b"a", b"1"); // 2
        delete(&mut store, b"a"); // 3
        store
            .compact_with(3, super::super::TombstoneAtCompaction::Drop)
            .unwrap();
        assert_eq!(store.events(b"a", b"", 3, 3, false), Ok(Vec::new()));
    }
}
