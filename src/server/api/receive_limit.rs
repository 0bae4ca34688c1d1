//! The gRPC receive limit of the client port, as etcd 3.4 sets and reports
//! it.
//!
//! etcd lets gRPC take messages up to `--max-request-bytes` plus 512 KiB
//! (`grpcOverheadBytes`), so that a request a little over the limit still
//! arrives and is refused as "request is too large"; a larger one is
//! refused by grpc-go itself, with `ResourceExhausted` and "grpc: received
//! message larger than max (N vs. L)". tonic enforces the same limit
//! ([`grpc_receive_limit`], set on each client service) but reports it as
//! `OutOfRange` in its own words; [`as_grpc_go`] gives grpc-go's answer,
//! which the client port's layer (`client_port`) puts in its place. It also answers a txn nested deeper than prost
//! decodes (see `check::MAX_NESTING`) as the API's depth check does, with
//! etcd's "too many operations in txn request", instead of tonic's
//! `Internal` decode error. In simulation requests are not encoded, so
//! there is nothing to measure or decode and none of this is reached.

use tonic::{Code, Status};

use super::error::RpcError;

/// etcd's `grpcOverheadBytes`.
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// The largest message the client port receives.
pub fn grpc_receive_limit(max_request_bytes: usize) -> usize {
    max_request_bytes.saturating_add(GRPC_OVERHEAD_BYTES)
}

/// grpc-go's answer to a message of `found` bytes over a `limit`.
#[cfg_attr(madsim, allow(dead_code))]
pub fn oversize(found: usize, limit: usize) -> Status {
    Status::resource_exhausted(format!(
        "grpc: received message larger than max ({found} vs. {limit})"
    ))
}

/// grpc-go's answer for tonic's refusal of an oversize message, or `None`
/// if `status` is something else.
#[cfg_attr(madsim, allow(dead_code))]
pub fn as_grpc_go(status: &Status) -> Option<Status> {
    if status.code() != Code::OutOfRange {
        return None;
    }
    let rest = status
        .message()
        .strip_prefix("Error, decoded message length too large: found ")?;
    let (found, rest) = rest.split_once(" bytes, the limit is: ")?;
    let limit = rest.strip_suffix(" bytes")?;
    Some(oversize(found.parse().ok()?, limit.parse().ok()?))
}

/// etcd's answer for tonic's refusal of a txn too deeply nested to
/// decode, or `None` if `status` is something else.
#[cfg_attr(madsim, allow(dead_code))]
pub fn as_too_many_ops(status: &Status) -> Option<Status> {
    let message = status.message();
    let too_deep = status.code() == Code::Internal
        && message.starts_with("failed to decode Protobuf message")
        && message.ends_with("recursion limit reached");
    too_deep.then(|| RpcError::TooManyOps.into())
}

/// The gRPC path of `KV.Txn`.
#[cfg_attr(madsim, allow(dead_code))]
pub const TXN_PATH: &str = "/etcdserverpb.KV/Txn";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_etcds() {
        assert_eq!(grpc_receive_limit(1536 * 1024), 2 * 1024 * 1024);
    }

    #[test]
    fn tonics_refusal_becomes_grpc_gos() {
        let tonic = Status::out_of_range(
            "Error, decoded message length too large: found 2097155 bytes, the limit is: 2097152 bytes",
        );
        let etcd = as_grpc_go(&tonic).expect("recognised");
        assert_eq!(etcd.code(), Code::ResourceExhausted);
        assert_eq!(
            etcd.message(),
            "grpc: received message larger than max (2097155 vs. 2097152)"
        );
        assert!(as_grpc_go(&Status::out_of_range("something else")).is_none());
        let deep = Status::internal(
            "failed to decode Protobuf message: TxnRequest.success: RequestOp.request: recursion limit reached",
        );
        let etcd = as_too_many_ops(&deep).expect("recognised");
        assert_eq!(etcd.code(), Code::InvalidArgument);
        assert_eq!(
            etcd.message(),
            "etcdserver: too many operations in txn request"
        );
        assert!(
            as_too_many_ops(&Status::internal("failed to decode Protobuf message: x")).is_none()
        );
        assert!(as_grpc_go(&Status::internal(tonic.message())).is_none());
    }
}
