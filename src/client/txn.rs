//! Transactions: `If` compares hold, `Then` these ops, `Else` those.
//!
//! ```
//! use etcd_sim::client::{Compare, Txn, TxnOp};
//! // Create `k` only if it does not exist yet.
//! let txn = Txn::new()
//!     .when([Compare::create_revision("k", etcd_sim::client::CompareOp::Equal, 0)])
//!     .and_then([TxnOp::put("k", "v")])
//!     .or_else([TxnOp::get("k")]);
//! # let _ = txn;
//! ```
//!
//! Branches take op builders with their options too:
//!
//! ```
//! use etcd_sim::client::{Compare, CompareOp, Op, Txn};
//! // Move every job to done/ if none is leased.
//! let txn = Txn::new()
//!     .when([Compare::lease("jobs/", CompareOp::Equal, 0).with_prefix()])
//!     .and_then([Op::delete("jobs/").prefix().prev_kv()])
//!     .or_else([Op::get("jobs/").prefix().keys_only()]);
//! # let _ = txn;
//! ```

use super::op::{DeleteOp, GetOp, Op, PutOp};
use crate::proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::proto::etcdserverpb::request_op::Request;
use crate::proto::etcdserverpb::{
    self as pb, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

/// How a compare relates the key's field to the given operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `==`
    Equal,
    /// `>`
    Greater,
    /// `<`
    Less,
    /// `!=`
    NotEqual,
}

impl From<CompareOp> for CompareResult {
    fn from(op: CompareOp) -> Self {
        match op {
            CompareOp::Equal => CompareResult::Equal,
            CompareOp::Greater => CompareResult::Greater,
            CompareOp::Less => CompareResult::Less,
            CompareOp::NotEqual => CompareResult::NotEqual,
        }
    }
}

/// One condition of a txn.
#[derive(Debug, Clone, PartialEq)]
pub struct Compare(pb::Compare);

impl Compare {
    fn new(
        key: impl Into<Vec<u8>>,
        op: CompareOp,
        target: CompareTarget,
        operand: TargetUnion,
    ) -> Self {
        Compare(pb::Compare {
            result: CompareResult::from(op) as i32,
            target: target as i32,
            key: key.into(),
            target_union: Some(operand),
            range_end: vec![],
        })
    }

    /// Compares the key's value.
    pub fn value(key: impl Into<Vec<u8>>, op: CompareOp, value: impl Into<Vec<u8>>) -> Self {
        Self::new(
            key,
            op,
            CompareTarget::Value,
            TargetUnion::Value(value.into()),
        )
    }

    /// Compares the key's version (0 if it does not exist).
    pub fn version(key: impl Into<Vec<u8>>, op: CompareOp, version: i64) -> Self {
        Self::new(
            key,
            op,
            CompareTarget::Version,
            TargetUnion::Version(version),
        )
    }

    /// Compares the key's create revision (0 if it does not exist).
    pub fn create_revision(key: impl Into<Vec<u8>>, op: CompareOp, revision: i64) -> Self {
        Self::new(
            key,
            op,
            CompareTarget::Create,
            TargetUnion::CreateRevision(revision),
        )
    }

    /// Compares the key's mod revision (0 if it does not exist).
    pub fn mod_revision(key: impl Into<Vec<u8>>, op: CompareOp, revision: i64) -> Self {
        Self::new(
            key,
            op,
            CompareTarget::Mod,
            TargetUnion::ModRevision(revision),
        )
    }

    /// Compares the key's lease (0 if none, or if it does not exist).
    pub fn lease(key: impl Into<Vec<u8>>, op: CompareOp, lease: i64) -> Self {
        Self::new(key, op, CompareTarget::Lease, TargetUnion::Lease(lease))
    }

    /// Compares every key from the key up to `end`, exclusive; all must
    /// satisfy it (clientv3's `Compare(...).WithRange(end)`).
    pub fn with_range_end(mut self, end: impl Into<Vec<u8>>) -> Self {
        self.0.range_end = end.into();
        self
    }

    /// Compares every key that starts with the key (`WithPrefix`).
    pub fn with_prefix(mut self) -> Self {
        self.0.range_end = super::prefix_end(&self.0.key);
        self
    }
}

/// One operation inside a txn.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnOp(Request);

impl TxnOp {
    /// Puts `value` at `key`.
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        TxnOp(Request::RequestPut(PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        }))
    }

    /// Gets `key`.
    pub fn get(key: impl Into<Vec<u8>>) -> Self {
        TxnOp(Request::RequestRange(RangeRequest {
            key: key.into(),
            ..Default::default()
        }))
    }

    /// Deletes `key`.
    pub fn delete(key: impl Into<Vec<u8>>) -> Self {
        TxnOp(Request::RequestDeleteRange(DeleteRangeRequest {
            key: key.into(),
            ..Default::default()
        }))
    }

    /// A nested txn.
    pub fn txn(txn: Txn) -> Self {
        TxnOp(Request::RequestTxn(txn.0))
    }
}

impl From<GetOp> for TxnOp {
    fn from(op: GetOp) -> Self {
        TxnOp(Request::RequestRange(op.into_request()))
    }
}

impl From<PutOp> for TxnOp {
    fn from(op: PutOp) -> Self {
        TxnOp(Request::RequestPut(op.into_request()))
    }
}

impl From<DeleteOp> for TxnOp {
    fn from(op: DeleteOp) -> Self {
        TxnOp(Request::RequestDeleteRange(op.into_request()))
    }
}

impl From<Txn> for TxnOp {
    fn from(txn: Txn) -> Self {
        TxnOp::txn(txn)
    }
}

impl From<Op> for TxnOp {
    fn from(op: Op) -> Self {
        match op {
            Op::Get(op) => op.into(),
            Op::Put(op) => op.into(),
            Op::Delete(op) => op.into(),
            Op::Txn(txn) => txn.into(),
        }
    }
}

/// A transaction under construction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Txn(TxnRequest);

impl Txn {
    /// An empty txn: no compares (they hold), no ops.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds conditions; all must hold for the `and_then` branch.
    pub fn when(mut self, compares: impl IntoIterator<Item = Compare>) -> Self {
        self.0.compare.extend(compares.into_iter().map(|c| c.0));
        self
    }

    /// Ops run when every condition holds: [`TxnOp`]s or op builders
    /// ([`Op::get`] and friends, with their options).
    pub fn and_then<T: Into<TxnOp>>(mut self, ops: impl IntoIterator<Item = T>) -> Self {
        self.0
            .success
            .extend(ops.into_iter().map(|op| request_op(op.into())));
        self
    }

    /// Ops run otherwise.
    pub fn or_else<T: Into<TxnOp>>(mut self, ops: impl IntoIterator<Item = T>) -> Self {
        self.0
            .failure
            .extend(ops.into_iter().map(|op| request_op(op.into())));
        self
    }

    /// The wire request.
    pub fn into_request(self) -> TxnRequest {
        self.0
    }
}

fn request_op(op: TxnOp) -> RequestOp {
    RequestOp {
        request: Some(op.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_take_op_builders_with_their_options() {
        let request = Txn::new()
            .and_then([Op::put("k", "v").prev_kv()])
            .or_else([Op::get("a").prefix().keys_only()])
            .into_request();
        let Some(Request::RequestPut(put)) = &request.success[0].request else {
            panic!("{request:?}");
        };
        assert!(put.prev_kv);
        let Some(Request::RequestRange(range)) = &request.failure[0].request else {
            panic!("{request:?}");
        };
        assert_eq!(
            (range.range_end.as_slice(), range.keys_only),
            (&b"b"[..], true)
        );
    }

    #[test]
    fn a_compare_can_span_a_range_or_a_prefix() {
        let c = Compare::version("a", CompareOp::Greater, 0).with_range_end("c");
        assert_eq!(c.0.range_end, b"c");
        let c = Compare::lease("ab", CompareOp::Equal, 0).with_prefix();
        assert_eq!(c.0.range_end, b"ac");
        assert_eq!(c.0.target, CompareTarget::Lease as i32);
        assert_eq!(c.0.target_union, Some(TargetUnion::Lease(0)));
    }

    #[test]
    fn nested_txns_nest() {
        let inner = Txn::new().and_then([TxnOp::delete("x")]);
        let request = Txn::new().and_then([inner]).into_request();
        assert!(matches!(
            &request.success[0].request,
            Some(Request::RequestTxn(t)) if t.success.len() == 1
        ));
    }
}
