//! The gRPC receive limit of the client port, as etcd 3.4 sets and reports
//! it.
//!
//! etcd lets gRPC take messages up to `--max-request-bytes` plus 512 KiB
//! (`grpcOverheadBytes`), so that a request a little over the limit still
//! arrives and is refused as "request is too large"; a larger one is
//! refused by grpc-go itself, with `ResourceExhausted` and "grpc: received
//! message larger than max (N vs. L)". tonic enforces the same limit
//! ([`grpc_receive_limit`], set on each client service) but reports it as
//! `OutOfRange` in its own words; [`ReceiveLimitLayer`] rewrites that
//! answer into grpc-go's. It also answers a txn nested deeper than prost
//! decodes (see `check::MAX_NESTING`) as the API's depth check does, with
//! etcd's "too many operations in txn request", instead of tonic's
//! `Internal` decode error. In simulation requests are not encoded, so
//! there is nothing to measure or decode and the layer is inert.

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

/// Rewrites tonic's refusals on the client port into etcd's (see the
/// module's documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReceiveLimitLayer;

#[cfg(not(madsim))]
mod real {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tonic::codegen::{http, Service};
    use tonic::Status;

    use super::{as_grpc_go, as_too_many_ops, ReceiveLimitLayer, TXN_PATH};

    impl<S> tower_layer::Layer<S> for ReceiveLimitLayer {
        type Service = ReceiveLimit<S>;

        fn layer(&self, inner: S) -> Self::Service {
            ReceiveLimit(inner)
        }
    }

    /// The service [`ReceiveLimitLayer`] wraps around the client routes.
    #[derive(Debug, Clone)]
    pub struct ReceiveLimit<S>(S);

    type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

    impl<S, ReqBody, B> Service<http::Request<ReqBody>> for ReceiveLimit<S>
    where
        S: Service<http::Request<ReqBody>, Response = http::Response<B>>,
        S::Future: Send + 'static,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = BoxFuture<S::Response, S::Error>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.0.poll_ready(cx)
        }

        fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
            let txn = request.uri().path() == TXN_PATH;
            let response = self.0.call(request);
            Box::pin(async move {
                let mut response = response.await?;
                // A unary call refused while its request is decoded answers
                // with the status in the headers (trailers-only).
                let refused = Status::from_header_map(response.headers());
                let etcd = refused.as_ref().and_then(|status| {
                    as_grpc_go(status).or_else(|| as_too_many_ops(status).filter(|_| txn))
                });
                if let Some(etcd) = etcd {
                    let headers = response.headers_mut();
                    headers.remove("grpc-message");
                    let _ = etcd.add_header(headers);
                }
                Ok(response)
            })
        }
    }
}

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
