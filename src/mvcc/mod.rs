//! The multi-version key-value store, with etcd 3.4's semantics.
//!
//! The store keeps every change to every key, stamped with a [`Revision`],
//! until a compaction discards the history no read can ask for any more.
//!
//! - One write request — a put, a delete-range or a whole txn — is one
//!   *main* revision; the changes inside it have *sub* revisions 0, 1, ...
//!   A fresh store is at revision 1; requests that change nothing (a delete
//!   of nothing, a read-only txn) do not move it.
//! - A key's `create_revision` is the revision of the put that created it,
//!   `mod_revision` the one of its last change, and `version` counts its
//!   puts since creation; a delete ends the key's life (a *generation*, see
//!   `key_index.rs`) and the next put starts over at version 1.
//! - Reads name a revision (0 = current); one below the compacted revision
//!   fails with [`MvccError::Compacted`], one above the current revision
//!   with [`MvccError::FutureRev`].
//!
//! Two levels of API:
//!
//! 1. the store's own: [`KvStore::range`], [`KvStore::write`] giving a
//!    [`WriteTxn`] (`range`/`put`/`delete_range`/`end`),
//!    [`KvStore::compact`], [`KvStore::snapshot`] / [`KvStore::restore`];
//! 2. etcd's request layer in [`txn`]: `RangeRequest` with sorting, filters,
//!    `limit` and `more`; `PutRequest` with `prev_kv`, `ignore_value`,
//!    `ignore_lease`; `DeleteRangeRequest`; `TxnRequest` with compares and
//!    nested txns — served by [`KvStore::apply_range`] and friends.
//!
//! ```
//! use etcd_sim::mvcc::txn::{Compare, CompareResult, CompareTarget, PutRequest, RequestOp,
//!     TargetUnion, TxnRequest};
//! use etcd_sim::mvcc::{KvStore, RangeOptions};
//!
//! let mut store = KvStore::new();
//! let mut txn = store.write();
//! txn.put(b"k", b"v1", 0);
//! assert_eq!(txn.end(), 2);
//!
//! // Compare-and-set: put v2 only if k is still at version 1.
//! let cas = TxnRequest {
//!     compare: vec![Compare {
//!         result: CompareResult::Equal,
//!         target: CompareTarget::Version,
//!         key: b"k".to_vec(),
//!         range_end: vec![],
//!         target_union: Some(TargetUnion::Version(1)),
//!     }],
//!     success: vec![RequestOp::Put(PutRequest {
//!         key: b"k".to_vec(),
//!         value: b"v2".to_vec(),
//!         ..Default::default()
//!     })],
//!     failure: vec![],
//! };
//! let resp = store.apply_txn(&cas).unwrap();
//! assert!(resp.succeeded);
//! assert_eq!(resp.header.revision, 3);
//!
//! // History stays readable until compacted.
//! let old = RangeOptions { rev: 2, ..Default::default() };
//! assert_eq!(store.range(b"k", b"", old).unwrap().kvs[0].value, b"v1");
//! store.compact(3).unwrap();
//! assert!(store.range(b"k", b"", old).is_err());
//! ```
//!
//! Everything is in ordered maps: iteration, results and snapshots are
//! deterministic. The module uses `std` only.

mod buffer;
mod error;
mod events;
mod hash;
mod key_index;
mod revision;
mod snapshot;
mod store;
#[cfg(test)]
mod tests;
pub mod txn;
mod write;

pub use buffer::Writeback;
pub use error::{MvccError, SnapshotError};
pub use events::{in_range, Event, EventKind};
pub use hash::KvHash;
pub use key_index::TombstoneAtCompaction;
pub use revision::{Revision, REVISION_BYTES, TOMBSTONE_MARK};
pub use snapshot::{CurrentRevision, FrozenStore, LoneTombstone, RestoreRules};
pub use store::{KeyValue, KvStore, RangeOptions, RangeResult, ReadView};
pub use write::WriteTxn;
