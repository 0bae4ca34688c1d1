//! etcd's request layer over the store: range, put, delete-range and txn
//! requests with every option of etcd 3.4's `rpc.proto`, served by
//! [`KvStore::apply_range`](crate::mvcc::KvStore::apply_range),
//! [`apply_put`](crate::mvcc::KvStore::apply_put),
//! [`apply_delete_range`](crate::mvcc::KvStore::apply_delete_range),
//! [`apply_txn`](crate::mvcc::KvStore::apply_txn) and
//! [`apply_read_txn`](crate::mvcc::KvStore::apply_read_txn).
//!
//! The types mirror the protobuf messages field for field so the server
//! converts them 1:1; request validation (empty key, too many ops,
//! duplicate keys, sizes) stays in the API layer, as in etcd. Lease
//! existence is checked here, where etcd's applier checks it, through the
//! [`Leases`] seam.

mod apply;
mod compare;
mod leases;
#[cfg(test)]
mod tests;
mod types;

pub use compare::{Compare, CompareResult, CompareTarget, TargetUnion};
pub use leases::{AnyLease, Leases, NoLeases};
pub use types::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    RequestOp, ResponseHeader, ResponseOp, SortOrder, SortTarget, TxnRequest, TxnResponse,
};
