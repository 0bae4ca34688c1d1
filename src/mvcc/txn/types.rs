//! Requests and responses, field for field as etcd 3.4's `rpc.proto`.
//!
//! Only what the store needs is here: the server converts from the protobuf
//! types 1:1 and fills the rest of the header (cluster, member, term).
//! Enum variants follow the proto's numbering in declaration order.

use super::compare::Compare;
use crate::mvcc::KeyValue;

/// The part of etcd's `ResponseHeader` that the store knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseHeader {
    /// The store revision the response reflects (0 in a nested txn's
    /// response: etcd 3.4 leaves that header unset).
    pub revision: i64,
}

/// `RangeRequest.SortOrder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// `NONE = 0`: key order (ascending), unless the target is not `Key`.
    #[default]
    None,
    /// `ASCEND = 1`.
    Ascend,
    /// `DESCEND = 2`.
    Descend,
}

/// `RangeRequest.SortTarget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortTarget {
    /// `KEY = 0`.
    #[default]
    Key,
    /// `VERSION = 1`.
    Version,
    /// `CREATE = 2`: create revision.
    Create,
    /// `MOD = 3`: mod revision.
    Mod,
    /// `VALUE = 4`.
    Value,
}

/// etcd's `RangeRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeRequest {
    /// First key of the range (or the single key).
    pub key: Vec<u8>,
    /// End of the range: empty = `key` alone, `b"\0"` = every key `>= key`,
    /// otherwise exclusive end.
    pub range_end: Vec<u8>,
    /// At most this many key-values; `<= 0` = no limit. `more` tells
    /// whether some were left out.
    pub limit: i64,
    /// Read at this revision; `<= 0` = current.
    pub revision: i64,
    /// Sort order of the result.
    pub sort_order: SortOrder,
    /// What to sort by.
    pub sort_target: SortTarget,
    /// Read from local state without consensus. The store ignores it: it is
    /// for the server to decide how to reach the store.
    pub serializable: bool,
    /// Return keys without values.
    pub keys_only: bool,
    /// Return only the count.
    pub count_only: bool,
    /// Drop key-values whose mod revision is below this (0 = no filter).
    pub min_mod_revision: i64,
    /// Drop key-values whose mod revision is above this (0 = no filter).
    pub max_mod_revision: i64,
    /// Drop key-values whose create revision is below this (0 = no filter).
    pub min_create_revision: i64,
    /// Drop key-values whose create revision is above this (0 = no filter).
    pub max_create_revision: i64,
}

/// etcd's `RangeResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeResponse {
    /// The view's revision (not the requested historical one).
    pub header: ResponseHeader,
    /// The key-values, filtered, sorted and limited.
    pub kvs: Vec<KeyValue>,
    /// Whether `limit` left key-values out.
    pub more: bool,
    /// The number of keys in the range at the read revision, before the
    /// revision filters and `limit` (etcd 3.4 counts before filtering).
    pub count: i64,
}

/// etcd's `PutRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PutRequest {
    /// The key.
    pub key: Vec<u8>,
    /// The value (ignored with `ignore_value`).
    pub value: Vec<u8>,
    /// The lease to attach; 0 for none (ignored with `ignore_lease`).
    pub lease: i64,
    /// Return the key-value as it was before the put.
    pub prev_kv: bool,
    /// Keep the current value; the key must exist.
    pub ignore_value: bool,
    /// Keep the current lease; the key must exist.
    pub ignore_lease: bool,
}

/// etcd's `PutResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PutResponse {
    /// The revision of the put.
    pub header: ResponseHeader,
    /// With `prev_kv`: the key-value before the put, if the key existed.
    pub prev_kv: Option<KeyValue>,
}

/// etcd's `DeleteRangeRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteRangeRequest {
    /// First key of the range (or the single key).
    pub key: Vec<u8>,
    /// End of the range, as in [`RangeRequest::range_end`].
    pub range_end: Vec<u8>,
    /// Return the deleted key-values.
    pub prev_kv: bool,
}

/// etcd's `DeleteRangeResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteRangeResponse {
    /// The revision after the delete (unchanged if nothing was deleted).
    pub header: ResponseHeader,
    /// How many keys were deleted.
    pub deleted: i64,
    /// With `prev_kv`: the deleted key-values, in key order.
    pub prev_kvs: Vec<KeyValue>,
}

/// etcd's `RequestOp`: one operation of a txn branch. etcd's empty union is
/// not representable; the API layer rejects it before it gets here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOp {
    /// `request_range`.
    Range(RangeRequest),
    /// `request_put`.
    Put(PutRequest),
    /// `request_delete_range`.
    DeleteRange(DeleteRangeRequest),
    /// `request_txn`: a nested txn.
    Txn(TxnRequest),
}

/// etcd's `ResponseOp`: the result of the [`RequestOp`] at the same index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseOp {
    /// `response_range`.
    Range(RangeResponse),
    /// `response_put`.
    Put(PutResponse),
    /// `response_delete_range`.
    DeleteRange(DeleteRangeResponse),
    /// `response_txn`.
    Txn(TxnResponse),
}

/// etcd's `TxnRequest`: if every compare holds, run `success`, else
/// `failure`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnRequest {
    /// The conditions; all must hold (an empty list holds).
    pub compare: Vec<Compare>,
    /// Operations to run when the compares hold.
    pub success: Vec<RequestOp>,
    /// Operations to run when they do not.
    pub failure: Vec<RequestOp>,
}

impl TxnRequest {
    /// Whether both branches hold only ranges (etcd's `isTxnReadonly`; a
    /// nested txn counts as a write). Such a txn can run on a shared store
    /// with [`KvStore::apply_read_txn`](crate::mvcc::KvStore::apply_read_txn).
    pub fn is_read_only(&self) -> bool {
        self.success
            .iter()
            .chain(&self.failure)
            .all(|op| matches!(op, RequestOp::Range(_)))
    }
}

/// etcd's `TxnResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnResponse {
    /// The revision after the txn (0 for a nested txn, as in etcd 3.4).
    pub header: ResponseHeader,
    /// Whether the compares held (so `success` ran).
    pub succeeded: bool,
    /// One response per operation of the branch that ran.
    pub responses: Vec<ResponseOp>,
}
