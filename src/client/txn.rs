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

    /// Ops run when every condition holds.
    pub fn and_then(mut self, ops: impl IntoIterator<Item = TxnOp>) -> Self {
        self.0.success.extend(ops.into_iter().map(request_op));
        self
    }

    /// Ops run otherwise.
    pub fn or_else(mut self, ops: impl IntoIterator<Item = TxnOp>) -> Self {
        self.0.failure.extend(ops.into_iter().map(request_op));
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
