//! etcd's protobuf messages to the store's request types and back.
//!
//! The store ([`crate::mvcc`]) knows nothing of protobuf; this is the one
//! place where the two meet. Conversions are field for field.

use crate::mvcc::{self, txn};
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::{compare, request_op, response_op};
use crate::proto::mvccpb;

impl From<pb::RangeRequest> for txn::RangeRequest {
    fn from(r: pb::RangeRequest) -> Self {
        use pb::range_request::{SortOrder, SortTarget};
        txn::RangeRequest {
            key: r.key,
            range_end: r.range_end,
            limit: r.limit,
            revision: r.revision,
            sort_order: match SortOrder::try_from(r.sort_order).unwrap_or_default() {
                SortOrder::None => txn::SortOrder::None,
                SortOrder::Ascend => txn::SortOrder::Ascend,
                SortOrder::Descend => txn::SortOrder::Descend,
            },
            sort_target: match SortTarget::try_from(r.sort_target).unwrap_or_default() {
                SortTarget::Key => txn::SortTarget::Key,
                SortTarget::Version => txn::SortTarget::Version,
                SortTarget::Create => txn::SortTarget::Create,
                SortTarget::Mod => txn::SortTarget::Mod,
                SortTarget::Value => txn::SortTarget::Value,
            },
            serializable: r.serializable,
            keys_only: r.keys_only,
            count_only: r.count_only,
            min_mod_revision: r.min_mod_revision,
            max_mod_revision: r.max_mod_revision,
            min_create_revision: r.min_create_revision,
            max_create_revision: r.max_create_revision,
        }
    }
}

impl From<pb::PutRequest> for txn::PutRequest {
    fn from(r: pb::PutRequest) -> Self {
        txn::PutRequest {
            key: r.key,
            value: r.value,
            lease: r.lease,
            prev_kv: r.prev_kv,
            ignore_value: r.ignore_value,
            ignore_lease: r.ignore_lease,
        }
    }
}

impl From<pb::DeleteRangeRequest> for txn::DeleteRangeRequest {
    fn from(r: pb::DeleteRangeRequest) -> Self {
        txn::DeleteRangeRequest {
            key: r.key,
            range_end: r.range_end,
            prev_kv: r.prev_kv,
        }
    }
}

impl From<pb::Compare> for txn::Compare {
    fn from(c: pb::Compare) -> Self {
        use compare::{CompareResult, CompareTarget, TargetUnion};
        txn::Compare {
            result: match CompareResult::try_from(c.result).unwrap_or_default() {
                CompareResult::Equal => txn::CompareResult::Equal,
                CompareResult::Greater => txn::CompareResult::Greater,
                CompareResult::Less => txn::CompareResult::Less,
                CompareResult::NotEqual => txn::CompareResult::NotEqual,
            },
            target: match CompareTarget::try_from(c.target).unwrap_or_default() {
                CompareTarget::Version => txn::CompareTarget::Version,
                CompareTarget::Create => txn::CompareTarget::Create,
                CompareTarget::Mod => txn::CompareTarget::Mod,
                CompareTarget::Value => txn::CompareTarget::Value,
                CompareTarget::Lease => txn::CompareTarget::Lease,
            },
            key: c.key,
            range_end: c.range_end,
            target_union: c.target_union.map(|t| match t {
                TargetUnion::Version(v) => txn::TargetUnion::Version(v),
                TargetUnion::CreateRevision(v) => txn::TargetUnion::CreateRevision(v),
                TargetUnion::ModRevision(v) => txn::TargetUnion::ModRevision(v),
                TargetUnion::Value(v) => txn::TargetUnion::Value(v),
                TargetUnion::Lease(v) => txn::TargetUnion::Lease(v),
            }),
        }
    }
}

impl From<pb::RequestOp> for txn::RequestOp {
    /// # Panics
    /// On an op without a request, which the API layer refuses before it is
    /// proposed (`etcdserver: key not found`, as etcd 3.4 answers).
    fn from(op: pb::RequestOp) -> Self {
        match op.request.expect("the API layer refuses empty request ops") {
            request_op::Request::RequestRange(r) => txn::RequestOp::Range(r.into()),
            request_op::Request::RequestPut(r) => txn::RequestOp::Put(r.into()),
            request_op::Request::RequestDeleteRange(r) => txn::RequestOp::DeleteRange(r.into()),
            request_op::Request::RequestTxn(r) => txn::RequestOp::Txn(r.into()),
        }
    }
}

impl From<pb::TxnRequest> for txn::TxnRequest {
    fn from(r: pb::TxnRequest) -> Self {
        txn::TxnRequest {
            compare: r.compare.into_iter().map(Into::into).collect(),
            success: r.success.into_iter().map(Into::into).collect(),
            failure: r.failure.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<mvcc::KeyValue> for mvccpb::KeyValue {
    fn from(kv: mvcc::KeyValue) -> Self {
        mvccpb::KeyValue {
            key: kv.key,
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
            value: kv.value,
            lease: kv.lease,
        }
    }
}

/// A header with only the revision; the API layer fills the rest.
pub fn header(revision: i64) -> Option<pb::ResponseHeader> {
    Some(pb::ResponseHeader {
        revision,
        ..Default::default()
    })
}

impl From<txn::RangeResponse> for pb::RangeResponse {
    fn from(r: txn::RangeResponse) -> Self {
        pb::RangeResponse {
            header: header(r.header.revision),
            kvs: r.kvs.into_iter().map(Into::into).collect(),
            more: r.more,
            count: r.count,
        }
    }
}

impl From<txn::PutResponse> for pb::PutResponse {
    fn from(r: txn::PutResponse) -> Self {
        pb::PutResponse {
            header: header(r.header.revision),
            prev_kv: r.prev_kv.map(Into::into),
        }
    }
}

impl From<txn::DeleteRangeResponse> for pb::DeleteRangeResponse {
    fn from(r: txn::DeleteRangeResponse) -> Self {
        pb::DeleteRangeResponse {
            header: header(r.header.revision),
            deleted: r.deleted,
            prev_kvs: r.prev_kvs.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<txn::TxnResponse> for pb::TxnResponse {
    fn from(r: txn::TxnResponse) -> Self {
        pb::TxnResponse {
            header: header(r.header.revision),
            succeeded: r.succeeded,
            responses: r
                .responses
                .into_iter()
                .map(|op| pb::ResponseOp {
                    response: Some(match op {
                        txn::ResponseOp::Range(r) => response_op::Response::ResponseRange(r.into()),
                        txn::ResponseOp::Put(r) => response_op::Response::ResponsePut(r.into()),
                        txn::ResponseOp::DeleteRange(r) => {
                            response_op::Response::ResponseDeleteRange(r.into())
                        }
                        txn::ResponseOp::Txn(r) => response_op::Response::ResponseTxn(r.into()),
                    }),
                })
                .collect(),
        }
    }
}
