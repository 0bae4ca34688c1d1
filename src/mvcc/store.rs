//! The store: every retained revision of every key, and reads over them.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::buffer::{Buffers, Writeback};
use super::error::MvccError;
use super::key_index::{KeyIndex, TombstoneAtCompaction};
use super::revision::Revision;

/// A key-value pair as a read returns it (etcd's `mvccpb.KeyValue`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value; empty in a keys-only read.
    pub value: Vec<u8>,
    /// The main revision of the put that created the key's current life.
    pub create_revision: i64,
    /// The main revision of the last change to the key.
    pub mod_revision: i64,
    /// The number of puts since the key was created (1 after the first).
    pub version: i64,
    /// The lease attached to the key; 0 for none.
    pub lease: i64,
}

/// Options of a store-level read (etcd's `mvcc.RangeOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RangeOptions {
    /// At most this many key-values; `<= 0` means no limit. `count` is not
    /// limited.
    pub limit: i64,
    /// Read at this revision; `<= 0` means the current one.
    pub rev: i64,
    /// Return only the count, no key-values.
    pub count_only: bool,
}

/// The answer of a store-level read (etcd's `mvcc.RangeResult`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeResult {
    /// The key-values in key order, at most `limit` of them.
    pub kvs: Vec<KeyValue>,
    /// The revision of the view that was read (the current revision, not
    /// the requested historical one — as etcd's header revision).
    pub rev: i64,
    /// How many keys the range holds at the read revision, before `limit`.
    pub count: i64,
}

/// A read over the store at a fixed revision (etcd's `ReadView`): the store
/// itself, or a write txn that sees its own changes.
pub trait ReadView {
    /// The revision a read with `rev: 0` sees.
    fn rev(&self) -> i64;

    /// Reads the keys `key..range_end` as etcd's `ReadView.Range` does:
    ///
    /// - `range_end` empty: the single key `key`;
    /// - `range_end == b"\0"`: every key `>= key` (all keys if `key` is
    ///   empty too);
    /// - otherwise the half-open interval `[key, range_end)`, empty if
    ///   `range_end <= key`.
    ///
    /// Fails with [`MvccError::FutureRev`] if `opts.rev > self.rev()` and
    /// with [`MvccError::Compacted`] if the read revision is below the
    /// compacted one.
    fn range(
        &self,
        key: &[u8],
        range_end: &[u8],
        opts: RangeOptions,
    ) -> Result<RangeResult, MvccError>;
}

/// One change in the store's history: a put, or a delete (tombstone, whose
/// `kv` holds only the key), as etcd's backend stores them by revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub kv: KeyValue,
    pub tombstone: bool,
}

/// An etcd-3.4-style multi-version key-value store.
///
/// Each write request gets one main revision (see [`WriteTxn`](super::WriteTxn));
/// reads can look at any revision between the compacted one and the
/// current one. All state is in ordered maps, so everything — iteration,
/// snapshots — is deterministic.
#[derive(Debug, Clone)]
pub struct KvStore {
    /// User key -> the revisions that changed it.
    pub(super) index: BTreeMap<Vec<u8>, KeyIndex>,
    /// Revision -> the change made at it (every retained one).
    pub(super) records: BTreeMap<Revision, Record>,
    /// The revision of the last committed write (1 in a fresh store).
    pub(super) current: i64,
    /// The revision of the last compaction; -1 if never compacted (as etcd's
    /// `compactMainRev`, which makes `compact(0)` legal once).
    pub(super) compacted: i64,
    /// What the records take in a backend: see [`KvStore::size_bytes`].
    pub(super) bytes: u64,
    /// The backend's buffers: which records the last batch commit holds,
    /// and what range reads see on top of it (see `buffer.rs`).
    pub(super) buffers: Buffers,
}

/// Two stores are equal when they hold the same history; the backend's
/// buffers, which only say how much of it is committed, do not count.
impl PartialEq for KvStore {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.index,
            &self.records,
            self.current,
            self.compacted,
            self.bytes,
        ) == (
            &other.index,
            &other.records,
            other.current,
            other.compacted,
            other.bytes,
        )
    }
}

impl Eq for KvStore {}

/// What one record costs a backend besides its key and value: the
/// revision key (17 bytes) and the encoded `mvccpb.KeyValue`'s tags and
/// varint fields.
const RECORD_OVERHEAD: u64 = 64;

impl Record {
    fn size_bytes(&self) -> u64 {
        (self.kv.key.len() + self.kv.value.len()) as u64 + RECORD_OVERHEAD
    }
}

impl Default for KvStore {
    fn default() -> Self {
        Self::new()
    }
}

impl KvStore {
    /// An empty store at revision 1, never compacted, like a fresh etcd.
    pub fn new() -> Self {
        KvStore {
            index: BTreeMap::new(),
            records: BTreeMap::new(),
            current: 1,
            compacted: -1,
            bytes: 0,
            buffers: Buffers::default(),
        }
    }

    /// Sets what the end of a write txn does with the write buffer's key
    /// bucket when the read buffer has none (right unless the `etcd-17247`
    /// bug is on).
    pub fn set_writeback(&mut self, rule: Writeback) {
        self.buffers.writeback = rule;
    }

    /// The rule [`Self::set_writeback`] set.
    pub fn writeback(&self) -> Writeback {
        self.buffers.writeback
    }

    /// Commits the backend's batch, as etcd's backend does every 100 ms
    /// and whenever asked to: range reads see every record written so far
    /// in the committed records, and the read buffer is reset. What reads
    /// return does not change (unless the `etcd-17247` bug left a stale
    /// revision in the read buffer: the commit drops it).
    pub fn commit_batch(&mut self) {
        self.buffers.commit();
    }

    /// A write txn of the backend that puts in a bucket other than the key
    /// bucket only (a lease granted, an alarm raised, a member's
    /// attributes saved, the consistent index): its end writes the buffer
    /// back like any other's. Whether that handed the write buffer's key
    /// bucket to the read buffer (where the `etcd-17247` rule applies).
    pub fn write_elsewhere(&mut self) -> bool {
        self.buffers.put_elsewhere();
        self.buffers.end_txn()
    }

    /// A write txn of the backend that deletes in a bucket other than the
    /// key bucket only (an alarm disarmed): its end writes the buffer back
    /// and commits.
    pub fn delete_elsewhere(&mut self) -> bool {
        self.buffers.delete_elsewhere();
        self.buffers.end_txn()
    }

    /// How many bytes a backend holding every retained record would take:
    /// each record's key and value plus a fixed overhead. Compaction frees
    /// what it drops. The quota (`--quota-backend-bytes`) is checked
    /// against this.
    pub fn size_bytes(&self) -> u64 {
        self.bytes
    }

    /// Stores `record` at `rev`.
    pub(super) fn insert_record(&mut self, rev: Revision, record: Record) {
        self.bytes += record.size_bytes();
        if let Some(old) = self.records.insert(rev, record) {
            self.bytes -= old.size_bytes();
        }
    }

    /// The revision of the last committed write (1 if there was none).
    pub fn current_revision(&self) -> i64 {
        self.current
    }

    /// The revision of the last compaction, if there was one.
    pub fn last_compaction(&self) -> Option<i64> {
        (self.compacted >= 0).then_some(self.compacted)
    }

    /// The revision of the last compaction; 0 if the store was never
    /// compacted. Reads below it fail with [`MvccError::Compacted`].
    pub fn compacted_revision(&self) -> i64 {
        self.compacted.max(0)
    }

    /// Reads at the current revision or an older one; see
    /// [`ReadView::range`] for the meaning of `range_end` and the errors.
    pub fn range(
        &self,
        key: &[u8],
        range_end: &[u8],
        opts: RangeOptions,
    ) -> Result<RangeResult, MvccError> {
        self.range_at(key, range_end, self.current, opts)
    }

    /// Discards history before `rev`: afterwards reads below `rev` fail with
    /// [`MvccError::Compacted`], reads at or above it are unchanged, and keys
    /// whose last change before `rev` was a delete vanish entirely (a
    /// delete *at* `rev` stays, as the event a watch from `rev` needs).
    ///
    /// Fails with [`MvccError::Compacted`] if `rev` is not above the last
    /// compaction and with [`MvccError::FutureRev`] if it is above the
    /// current revision. As etcd's, the compaction is physical at once.
    pub fn compact(&mut self, rev: i64) -> Result<(), MvccError> {
        self.compact_with(rev, TombstoneAtCompaction::Keep)
    }

    /// [`KvStore::compact`], with `tombstone` saying what becomes of a
    /// delete at exactly `rev` (kept, unless the `etcd-18089` bug is on).
    pub fn compact_with(
        &mut self,
        rev: i64,
        tombstone: TombstoneAtCompaction,
    ) -> Result<(), MvccError> {
        if rev <= self.compacted {
            return Err(MvccError::Compacted);
        }
        if rev > self.current {
            return Err(MvccError::FutureRev);
        }
        self.compacted = rev;
        // etcd saves the scheduled compaction in a write txn of its own and
        // commits it; then it deletes the records and saves the finished
        // compaction, a txn that commits at its end for its deletes.
        self.buffers.put_elsewhere();
        self.buffers.end_txn();
        self.buffers.commit();
        self.prune(rev, tombstone);
        self.buffers.delete_elsewhere();
        self.buffers.put_elsewhere();
        self.buffers.end_txn();
        Ok(())
    }

    /// The work of a compaction at `rev`: compacts the index and drops
    /// every record at or below `rev` that it no longer names (etcd's
    /// `compactIndex` then the backend deletes). A restore runs it again
    /// at the compacted revision (see `snapshot.rs`), so it must change
    /// nothing on a store compacted at `rev` whose index names every
    /// record it holds.
    pub(super) fn prune(&mut self, rev: i64, tombstone: TombstoneAtCompaction) {
        let mut keep = BTreeSet::new();
        self.index.retain(|_, ki| {
            ki.compact(rev, tombstone, &mut keep);
            !ki.is_empty()
        });
        let newer = self.records.split_off(&Revision::new(rev + 1, 0));
        self.records.retain(|r, _| keep.contains(r));
        self.records.extend(newer);
        self.bytes = self.records.values().map(Record::size_bytes).sum();
    }

    /// The store's read, seen from a view whose current revision is `cur`
    /// (etcd's `rangeKeys`).
    pub(super) fn range_at(
        &self,
        key: &[u8],
        range_end: &[u8],
        cur: i64,
        opts: RangeOptions,
    ) -> Result<RangeResult, MvccError> {
        if opts.rev > cur {
            return Err(MvccError::FutureRev);
        }
        let rev = if opts.rev <= 0 { cur } else { opts.rev };
        if rev < self.compacted {
            return Err(MvccError::Compacted);
        }
        let revs: Vec<Revision> = self
            .keys_in(key, range_end)
            .filter_map(|(_, ki)| ki.get(rev).map(|f| f.modified))
            .collect();
        let count = revs.len();
        let take = match usize::try_from(opts.limit) {
            _ if opts.count_only => 0,
            Ok(limit) if limit > 0 => limit.min(count),
            _ => count,
        };
        let kvs = revs[..take]
            .iter()
            .map(|r| self.record(*r).kv.clone())
            .collect();
        Ok(RangeResult {
            kvs,
            rev: cur,
            count: count as i64,
        })
    }

    /// The index entries of the keys in `key..range_end` (see
    /// [`ReadView::range`]), in key order.
    pub(super) fn keys_in<'a>(
        &'a self,
        key: &'a [u8],
        range_end: &'a [u8],
    ) -> Box<dyn Iterator<Item = (&'a Vec<u8>, &'a KeyIndex)> + 'a> {
        let end = match range_end {
            [] => return Box::new(self.index.get_key_value(key).into_iter()),
            [0] => Bound::Unbounded,
            end if end <= key => return Box::new(std::iter::empty()),
            end => Bound::Excluded(end),
        };
        Box::new(self.index.range::<[u8], _>((Bound::Included(key), end)))
    }

    /// The change at `rev`, which the index says exists.
    pub(super) fn record(&self, rev: Revision) -> &Record {
        self.records
            .get(&rev)
            .unwrap_or_else(|| panic!("mvcc: index names revision {rev}, which has no record"))
    }
}

impl ReadView for KvStore {
    fn rev(&self) -> i64 {
        self.current
    }

    fn range(
        &self,
        key: &[u8],
        range_end: &[u8],
        opts: RangeOptions,
    ) -> Result<RangeResult, MvccError> {
        KvStore::range(self, key, range_end, opts)
    }
}
