//! Request checks: pure functions from a request to etcd's refusal, in
//! etcd 3.4's order (`v3rpc/key.go`, and the size check of
//! `etcdserver/v3_server.go`).

use super::error::RpcError;
use super::intervals::check_duplicates;
use crate::proto::etcdserverpb::request_op::Request;
use crate::proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, RequestHeader, RequestOp, TxnRequest,
};
use crate::server::ServerConfig;

/// etcd's default `--max-txn-ops`.
pub const MAX_TXN_OPS: usize = 128;

/// etcd's default `--max-request-bytes`: 1.5 MiB.
pub const MAX_REQUEST_BYTES: usize = 1536 * 1024;

/// What a member accepts (etcd's `--max-txn-ops`, `--max-request-bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most compares, and the most ops in each branch, of a txn.
    pub max_txn_ops: usize,
    /// The largest raft proposal a write may become.
    pub max_request_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_txn_ops: MAX_TXN_OPS,
            max_request_bytes: MAX_REQUEST_BYTES,
        }
    }
}

impl From<&ServerConfig> for Limits {
    fn from(config: &ServerConfig) -> Self {
        Limits {
            max_txn_ops: config.max_txn_ops,
            max_request_bytes: config.max_request_bytes,
        }
    }
}

/// etcd's `checkRangeRequest`.
pub fn check_range(r: &RangeRequest) -> Result<(), RpcError> {
    check_key(&r.key)
}

/// etcd's `checkPutRequest`.
pub fn check_put(r: &PutRequest) -> Result<(), RpcError> {
    check_key(&r.key)?;
    if r.ignore_value && !r.value.is_empty() {
        return Err(RpcError::ValueProvided);
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(RpcError::LeaseProvided);
    }
    Ok(())
}

/// etcd's `checkDeleteRequest`.
pub fn check_delete(r: &DeleteRangeRequest) -> Result<(), RpcError> {
    check_key(&r.key)
}

/// etcd's `checkTxnRequest` and then `checkIntervals` on each branch;
/// first, a txn nested deeper than a member can decode is refused as etcd
/// refuses deep nesting ([`MAX_NESTING`]).
pub fn check_txn(r: &TxnRequest, max_txn_ops: usize) -> Result<(), RpcError> {
    if nesting(r, MAX_NESTING) > MAX_NESTING {
        return Err(RpcError::TooManyOps);
    }
    check_txn_ops(r, max_txn_ops as i64)?;
    check_duplicates(&r.success)?;
    check_duplicates(&r.failure)
}

/// The deepest message nesting a member decodes, counting the txn itself
/// as level 1: prost's recursion limit.
///
/// Every nested txn adds two levels (its `RequestOp` and itself), so a txn
/// may nest 49 txns deep below it (etcd, which has no such limit, takes as
/// many as `--max-txn-ops` allows: 128 by default). The API decodes a txn
/// from the top, and so does the applier (see
/// `etcdserver::raft_request`), so what decodes at the API also decodes in
/// the log; this check holds requests that were never encoded (the
/// simulation's, and the fuzz tests') to the same limit.
pub const MAX_NESTING: usize = 101;

/// How many levels of messages `txn` nests, itself level 1; stops counting
/// past `cap`, so that a deep txn costs no more than a shallow one.
fn nesting(txn: &TxnRequest, cap: usize) -> usize {
    if cap == 0 {
        return 1;
    }
    let below = txn
        .success
        .iter()
        .chain(&txn.failure)
        .map(|op| {
            1 + match &op.request {
                Some(Request::RequestTxn(t)) => nesting(t, cap.saturating_sub(2)),
                Some(_) => 1,
                None => 0,
            }
        })
        .chain(txn.compare.iter().map(|_| 1))
        .max()
        .unwrap_or(0);
    1 + below
}

/// A write as the body of its raft proposal (`InternalRaftRequest`).
#[derive(Debug, Clone, Copy)]
pub enum Proposal<'a> {
    /// Field `put = 4`.
    Put(&'a PutRequest),
    /// Field `delete_range = 5`.
    DeleteRange(&'a DeleteRangeRequest),
    /// Field `txn = 6`.
    Txn(&'a TxnRequest),
}

impl Proposal<'_> {
    /// The encoded size of the `InternalRaftRequest` carrying this body
    /// once the server stamps it with an id.
    ///
    /// The id is counted at its widest (ten bytes); etcd's are as wide give
    /// or take a byte, which matters only within a byte or two of the limit.
    fn encoded_len(self) -> usize {
        use prost::encoding::message::encoded_len;
        let header = encoded_len(100, &RequestHeader { id: u64::MAX });
        header
            + match self {
                Proposal::Put(r) => encoded_len(4, r),
                Proposal::DeleteRange(r) => encoded_len(5, r),
                Proposal::Txn(r) => encoded_len(6, r),
            }
    }
}

/// Refuses a write whose raft proposal would exceed `max` bytes (etcd's
/// `ErrRequestTooLarge`, checked on the marshalled `InternalRaftRequest`).
pub fn check_size(proposal: Proposal<'_>, max: usize) -> Result<(), RpcError> {
    if proposal.encoded_len() > max {
        return Err(RpcError::RequestTooLarge);
    }
    Ok(())
}

fn check_key(key: &[u8]) -> Result<(), RpcError> {
    if key.is_empty() {
        return Err(RpcError::EmptyKey);
    }
    Ok(())
}

/// The part of `checkTxnRequest` that counts and recurses. A nested txn is
/// allowed what its parent's widest list left of the limit; the budget is
/// signed because etcd's is, so it can go below zero.
fn check_txn_ops(r: &TxnRequest, max_txn_ops: i64) -> Result<(), RpcError> {
    let widest = r.compare.len().max(r.success.len()).max(r.failure.len()) as i64;
    if widest > max_txn_ops {
        return Err(RpcError::TooManyOps);
    }
    if r.compare.iter().any(|c| c.key.is_empty()) {
        return Err(RpcError::EmptyKey);
    }
    for op in r.success.iter().chain(&r.failure) {
        check_op(op, max_txn_ops - widest)?;
    }
    Ok(())
}

/// etcd's `checkRequestOp`; an op with no request is refused with etcd
/// 3.4's "key not found".
fn check_op(op: &RequestOp, max_txn_ops: i64) -> Result<(), RpcError> {
    match &op.request {
        Some(Request::RequestRange(r)) => check_range(r),
        Some(Request::RequestPut(r)) => check_put(r),
        Some(Request::RequestDeleteRange(r)) => check_delete(r),
        Some(Request::RequestTxn(t)) => check_txn_ops(t, max_txn_ops),
        None => Err(RpcError::KeyNotFound),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::proto::etcdserverpb::{Compare, InternalRaftRequest};
    use prost::Message;

    /// A txn op putting `key` (shared with the interval tests).
    pub(in crate::server::api) fn put(key: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: key.into(),
                ..Default::default()
            })),
        }
    }

    fn puts(n: usize) -> Vec<RequestOp> {
        (0..n).map(|i| put(&format!("k{i}"))).collect()
    }

    #[test]
    fn an_empty_key_is_refused_everywhere() {
        assert_eq!(
            check_range(&RangeRequest::default()),
            Err(RpcError::EmptyKey)
        );
        assert_eq!(check_put(&PutRequest::default()), Err(RpcError::EmptyKey));
        assert_eq!(
            check_delete(&DeleteRangeRequest::default()),
            Err(RpcError::EmptyKey)
        );
        let compare = TxnRequest {
            compare: vec![Compare::default()],
            ..Default::default()
        };
        assert_eq!(check_txn(&compare, 128), Err(RpcError::EmptyKey));
        let op = TxnRequest {
            failure: vec![put("")],
            ..Default::default()
        };
        assert_eq!(check_txn(&op, 128), Err(RpcError::EmptyKey));
    }

    #[test]
    fn ignore_value_with_a_value_and_ignore_lease_with_a_lease_are_refused() {
        let value = PutRequest {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            ignore_value: true,
            ..Default::default()
        };
        assert_eq!(check_put(&value), Err(RpcError::ValueProvided));
        let lease = PutRequest {
            key: b"k".to_vec(),
            lease: 5,
            ignore_lease: true,
            ..Default::default()
        };
        assert_eq!(check_put(&lease), Err(RpcError::LeaseProvided));
    }

    #[test]
    fn a_txn_may_hold_max_ops_per_list_and_not_one_more() {
        let full = TxnRequest {
            success: puts(128),
            failure: puts(128),
            ..Default::default()
        };
        assert_eq!(check_txn(&full, 128), Ok(()));
        let over = TxnRequest {
            failure: puts(129),
            ..Default::default()
        };
        assert_eq!(check_txn(&over, 128), Err(RpcError::TooManyOps));
        assert_eq!(check_txn(&over, 129), Ok(()));
    }

    #[test]
    fn a_nested_txn_gets_what_its_parent_left_of_the_budget() {
        let nested = |n: usize| RequestOp {
            request: Some(Request::RequestTxn(TxnRequest {
                success: puts(n),
                ..Default::default()
            })),
        };
        let parent = |n: usize| TxnRequest {
            success: vec![nested(n), put("x"), put("y")],
            ..Default::default()
        };
        // The parent's widest list is 3, leaving 2 of 5.
        assert_eq!(check_txn(&parent(2), 5), Ok(()));
        assert_eq!(check_txn(&parent(3), 5), Err(RpcError::TooManyOps));
    }

    /// A txn `depth` txns deep (1: no nested txn) whose innermost txn
    /// holds `leaf`.
    fn chain(depth: usize, leaf: Option<RequestOp>) -> TxnRequest {
        let mut txn = TxnRequest {
            success: leaf.into_iter().collect(),
            ..Default::default()
        };
        for _ in 1..depth {
            txn = TxnRequest {
                failure: vec![RequestOp {
                    request: Some(Request::RequestTxn(txn)),
                }],
                ..Default::default()
            };
        }
        txn
    }

    #[test]
    fn a_txn_passes_the_depth_check_exactly_when_it_decodes() {
        let leaves = [
            None,
            Some(put("k")),
            Some(RequestOp { request: None }),
            Some(RequestOp {
                request: Some(Request::RequestTxn(TxnRequest {
                    compare: vec![Compare::default()],
                    ..Default::default()
                })),
            }),
        ];
        let mut deepest_accepted = 0;
        for leaf in leaves {
            for depth in 40..60 {
                let txn = chain(depth, leaf.clone());
                let decodes = TxnRequest::decode(txn.encode_to_vec().as_slice()).is_ok();
                let passes = nesting(&txn, MAX_NESTING) <= MAX_NESTING;
                assert_eq!(passes, decodes, "depth {depth}, leaf {leaf:?}");
                if passes {
                    deepest_accepted = deepest_accepted.max(depth);
                }
            }
        }
        // An empty innermost txn is one level shallower than one with ops.
        assert_eq!(deepest_accepted, 51);
        assert_eq!(check_txn(&chain(50, Some(put("k"))), 128), Ok(()));
        assert_eq!(
            check_txn(&chain(51, Some(put("k"))), 128),
            Err(RpcError::TooManyOps)
        );
        // Refused as etcd refuses deep nesting, before anything else.
        assert_eq!(
            check_txn(&chain(60, Some(put(""))), 1000),
            Err(RpcError::TooManyOps)
        );
    }

    #[test]
    fn the_depth_check_of_a_very_deep_txn_stops_early() {
        // Built and measured without recursing 100000 deep: `nesting`
        // stops at the limit. (Dropping it recurses, so it is leaked.)
        let txn = std::mem::ManuallyDrop::new(chain(100_000, None));
        assert!(nesting(&txn, MAX_NESTING) > MAX_NESTING);
    }

    #[test]
    fn an_op_without_a_request_is_refused_as_key_not_found() {
        let empty = TxnRequest {
            success: vec![RequestOp { request: None }],
            ..Default::default()
        };
        assert_eq!(check_txn(&empty, 128), Err(RpcError::KeyNotFound));
    }

    #[test]
    fn a_proposal_past_the_limit_is_too_large() {
        let put = |len: usize| PutRequest {
            key: b"k".to_vec(),
            value: vec![b'x'; len],
            ..Default::default()
        };
        let small = put(100);
        let stamped = InternalRaftRequest {
            header: Some(RequestHeader { id: u64::MAX }),
            put: Some(small.clone()),
            ..Default::default()
        };
        let len = stamped.encoded_len();
        assert_eq!(Proposal::Put(&small).encoded_len(), len);
        assert_eq!(check_size(Proposal::Put(&small), len), Ok(()));
        assert_eq!(
            check_size(Proposal::Put(&small), len - 1),
            Err(RpcError::RequestTooLarge)
        );
        assert_eq!(
            check_size(Proposal::Put(&put(MAX_REQUEST_BYTES)), MAX_REQUEST_BYTES),
            Err(RpcError::RequestTooLarge)
        );
    }
}
