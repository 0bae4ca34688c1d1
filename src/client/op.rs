//! Op builders, clientv3-style: `OpGet(key, WithPrefix(), WithRev(5))`
//! becomes `Op::get(key).prefix().revision(5)`.
//!
//! ```
//! use etcd_sim::client::{Op, SortOrder, SortTarget};
//! let newest_three = Op::get("jobs/")
//!     .prefix()
//!     .sort(SortTarget::Mod, SortOrder::Descend)
//!     .limit(3);
//! let write = Op::put("jobs/7", "queued").prev_kv();
//! let sweep = Op::delete("jobs/").prefix();
//! # let _ = (newest_three, write, sweep);
//! ```
//!
//! The options mean what clientv3's do, including its rewrites: a prefix or
//! from-key of the empty key means every key (`\0` to `\0`), and sorting by
//! key in ascending order is sent as no sort (the server returns key order
//! anyway).

pub use crate::proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use crate::proto::etcdserverpb::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    TxnResponse,
};

use super::Txn;

/// One request, as clientv3's `Op`: built by [`Op::get`], [`Op::put`],
/// [`Op::delete`] or from a [`Txn`], run by
/// [`Client::execute`](super::Client::execute).
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A range read.
    Get(GetOp),
    /// A put.
    Put(PutOp),
    /// A delete-range.
    Delete(DeleteOp),
    /// A transaction.
    Txn(Txn),
}

/// What [`Client::execute`](super::Client::execute) answers, one variant per
/// [`Op`] kind.
#[derive(Debug, Clone, PartialEq)]
pub enum OpResponse {
    /// The answer to [`Op::Get`].
    Get(RangeResponse),
    /// The answer to [`Op::Put`].
    Put(PutResponse),
    /// The answer to [`Op::Delete`].
    Delete(DeleteRangeResponse),
    /// The answer to [`Op::Txn`].
    Txn(TxnResponse),
}

impl Op {
    /// Reads `key` (options widen it to a range).
    pub fn get(key: impl Into<Vec<u8>>) -> GetOp {
        GetOp(RangeRequest {
            key: key.into(),
            ..Default::default()
        })
    }

    /// Puts `value` at `key`.
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> PutOp {
        PutOp(PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        })
    }

    /// Deletes `key` (options widen it to a range).
    pub fn delete(key: impl Into<Vec<u8>>) -> DeleteOp {
        DeleteOp(DeleteRangeRequest {
            key: key.into(),
            ..Default::default()
        })
    }
}

/// `range_end` for all keys that start with `key` (clientv3's `GetPrefixRangeEnd`).
pub fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// `(key, range_end)` for every key starting with `key` (clientv3's
/// `WithPrefix`): the empty prefix is every key.
fn prefix_range(key: &mut Vec<u8>, end: &mut Vec<u8>) {
    if key.is_empty() {
        *key = vec![0];
        *end = vec![0];
    } else {
        *end = prefix_end(key);
    }
}

/// `(key, range_end)` for every key `>= key` (clientv3's `WithFromKey`).
fn from_key_range(key: &mut Vec<u8>, end: &mut Vec<u8>) {
    if key.is_empty() {
        *key = vec![0];
    }
    *end = vec![0];
}

/// A range read under construction (clientv3's `OpGet` and its options).
#[derive(Debug, Clone, PartialEq)]
pub struct GetOp(RangeRequest);

impl GetOp {
    /// Every key that starts with the key (`WithPrefix`).
    pub fn prefix(mut self) -> Self {
        prefix_range(&mut self.0.key, &mut self.0.range_end);
        self
    }

    /// Every key `>=` the key (`WithFromKey`).
    pub fn from_key(mut self) -> Self {
        from_key_range(&mut self.0.key, &mut self.0.range_end);
        self
    }

    /// The keys from the key up to `end`, exclusive (`WithRange`).
    pub fn range_end(mut self, end: impl Into<Vec<u8>>) -> Self {
        self.0.range_end = end.into();
        self
    }

    /// Reads as of `revision`; 0 is the current one (`WithRev`).
    pub fn revision(mut self, revision: i64) -> Self {
        self.0.revision = revision;
        self
    }

    /// At most `limit` key-values; 0 is no limit (`WithLimit`).
    pub fn limit(mut self, limit: i64) -> Self {
        self.0.limit = limit;
        self
    }

    /// Sorts the result (`WithSort`): by key ascending is sent as no sort,
    /// which gives the same order without the server's sort.
    pub fn sort(mut self, target: SortTarget, order: SortOrder) -> Self {
        let order = match (target, order) {
            (SortTarget::Key, SortOrder::Ascend) => SortOrder::None,
            (_, order) => order,
        };
        self.0.sort_target = target as i32;
        self.0.sort_order = order as i32;
        self
    }

    /// Keys without values (`WithKeysOnly`).
    pub fn keys_only(mut self) -> Self {
        self.0.keys_only = true;
        self
    }

    /// Only the count of keys (`WithCountOnly`).
    pub fn count_only(mut self) -> Self {
        self.0.count_only = true;
        self
    }

    /// The answering member's local state, which may be stale, instead of
    /// a linearizable read (`WithSerializable`).
    pub fn serializable(mut self) -> Self {
        self.0.serializable = true;
        self
    }

    /// Only key-values last modified at or after `revision`
    /// (`WithMinModRev`).
    pub fn min_mod_revision(mut self, revision: i64) -> Self {
        self.0.min_mod_revision = revision;
        self
    }

    /// Only key-values last modified at or before `revision`
    /// (`WithMaxModRev`).
    pub fn max_mod_revision(mut self, revision: i64) -> Self {
        self.0.max_mod_revision = revision;
        self
    }

    /// Only key-values created at or after `revision` (`WithMinCreateRev`).
    pub fn min_create_revision(mut self, revision: i64) -> Self {
        self.0.min_create_revision = revision;
        self
    }

    /// Only key-values created at or before `revision`
    /// (`WithMaxCreateRev`).
    pub fn max_create_revision(mut self, revision: i64) -> Self {
        self.0.max_create_revision = revision;
        self
    }

    /// The wire request.
    pub fn into_request(self) -> RangeRequest {
        self.0
    }
}

/// A put under construction (clientv3's `OpPut` and its options).
#[derive(Debug, Clone, PartialEq)]
pub struct PutOp(PutRequest);

impl PutOp {
    /// Attaches the key to lease `id` (`WithLease`).
    pub fn lease(mut self, id: i64) -> Self {
        self.0.lease = id;
        self
    }

    /// Returns the key-value as it was before (`WithPrevKV`).
    pub fn prev_kv(mut self) -> Self {
        self.0.prev_kv = true;
        self
    }

    /// Keeps the current value; the key must exist and the op must carry no
    /// value (`WithIgnoreValue`).
    pub fn ignore_value(mut self) -> Self {
        self.0.ignore_value = true;
        self
    }

    /// Keeps the current lease; the key must exist and the op must name no
    /// lease (`WithIgnoreLease`).
    pub fn ignore_lease(mut self) -> Self {
        self.0.ignore_lease = true;
        self
    }

    /// The wire request.
    pub fn into_request(self) -> PutRequest {
        self.0
    }
}

/// A delete-range under construction (clientv3's `OpDelete` and its
/// options).
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteOp(DeleteRangeRequest);

impl DeleteOp {
    /// Every key that starts with the key (`WithPrefix`).
    pub fn prefix(mut self) -> Self {
        prefix_range(&mut self.0.key, &mut self.0.range_end);
        self
    }

    /// Every key `>=` the key (`WithFromKey`).
    pub fn from_key(mut self) -> Self {
        from_key_range(&mut self.0.key, &mut self.0.range_end);
        self
    }

    /// The keys from the key up to `end`, exclusive (`WithRange`).
    pub fn range_end(mut self, end: impl Into<Vec<u8>>) -> Self {
        self.0.range_end = end.into();
        self
    }

    /// Returns the deleted key-values (`WithPrevKV`).
    pub fn prev_kv(mut self) -> Self {
        self.0.prev_kv = true;
        self
    }

    /// The wire request.
    pub fn into_request(self) -> DeleteRangeRequest {
        self.0
    }
}

impl From<GetOp> for Op {
    fn from(op: GetOp) -> Self {
        Op::Get(op)
    }
}

impl From<PutOp> for Op {
    fn from(op: PutOp) -> Self {
        Op::Put(op)
    }
}

impl From<DeleteOp> for Op {
    fn from(op: DeleteOp) -> Self {
        Op::Delete(op)
    }
}

impl From<Txn> for Op {
    fn from(txn: Txn) -> Self {
        Op::Txn(txn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"abc"), b"abd");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }

    #[test]
    fn a_prefix_ends_past_the_last_key_with_it_and_the_empty_prefix_is_everything() {
        let r = Op::get("ab").prefix().into_request();
        assert_eq!((r.key, r.range_end), (b"ab".to_vec(), b"ac".to_vec()));
        let r = Op::get("").prefix().into_request();
        assert_eq!((r.key, r.range_end), (vec![0], vec![0]));
        let r = Op::delete(b"a\xff".to_vec()).prefix().into_request();
        assert_eq!(r.range_end, b"b");
    }

    #[test]
    fn from_key_reads_to_the_end_and_from_the_start_for_the_empty_key() {
        let r = Op::get("m").from_key().into_request();
        assert_eq!((r.key, r.range_end), (b"m".to_vec(), vec![0]));
        let r = Op::delete("").from_key().into_request();
        assert_eq!((r.key, r.range_end), (vec![0], vec![0]));
    }

    #[test]
    fn get_options_land_in_their_fields() {
        let r = Op::get("a")
            .range_end("c")
            .revision(4)
            .limit(2)
            .sort(SortTarget::Mod, SortOrder::Descend)
            .keys_only()
            .count_only()
            .serializable()
            .min_mod_revision(1)
            .max_mod_revision(9)
            .min_create_revision(2)
            .max_create_revision(8)
            .into_request();
        let expected = RangeRequest {
            key: b"a".to_vec(),
            range_end: b"c".to_vec(),
            limit: 2,
            revision: 4,
            sort_order: SortOrder::Descend as i32,
            sort_target: SortTarget::Mod as i32,
            serializable: true,
            keys_only: true,
            count_only: true,
            min_mod_revision: 1,
            max_mod_revision: 9,
            min_create_revision: 2,
            max_create_revision: 8,
        };
        assert_eq!(r, expected);
    }

    #[test]
    fn sorting_by_key_ascending_is_sent_as_no_sort_as_clientv3_does() {
        let r = Op::get("a")
            .sort(SortTarget::Key, SortOrder::Ascend)
            .into_request();
        assert_eq!(r.sort_order, SortOrder::None as i32);
        let r = Op::get("a")
            .sort(SortTarget::Value, SortOrder::Ascend)
            .into_request();
        assert_eq!(r.sort_order, SortOrder::Ascend as i32);
    }

    #[test]
    fn put_and_delete_options_land_in_their_fields() {
        let p = Op::put("k", "v")
            .lease(0x1234)
            .prev_kv()
            .ignore_lease()
            .into_request();
        assert_eq!((p.lease, p.prev_kv, p.ignore_lease), (0x1234, true, true));
        let p = Op::put("k", "").ignore_value().into_request();
        assert!(p.ignore_value && !p.ignore_lease);
        let d = Op::delete("a").range_end("b").prev_kv().into_request();
        assert_eq!((d.range_end, d.prev_kv), (b"b".to_vec(), true));
    }
}
