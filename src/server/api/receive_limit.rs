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
//! answer into grpc-go's. In simulation requests are not encoded, so there
//! is nothing to measure and the layer is inert.

use tonic::{Code, Status};

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

/// Rewrites tonic's oversize refusals on the client port into grpc-go's
/// (see the module's documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReceiveLimitLayer;

#[cfg(not(madsim))]
mod real {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tonic::codegen::{http, Service};
    use tonic::Status;

    use super::{as_grpc_go, ReceiveLimitLayer};

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

    impl<S, Req, B> Service<Req> for ReceiveLimit<S>
    where
        S: Service<Req, Response = http::Response<B>>,
        S::Future: Send + 'static,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = BoxFuture<S::Response, S::Error>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.0.poll_ready(cx)
        }

        fn call(&mut self, request: Req) -> Self::Future {
            let response = self.0.call(request);
            Box::pin(async move {
                let mut response = response.await?;
                // A unary call refused while its request is decoded answers
                // with the status in the headers (trailers-only).
                let refused = Status::from_header_map(response.headers());
                if let Some(etcd) = refused.as_ref().and_then(as_grpc_go) {
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
        assert!(as_grpc_go(&Status::internal(tonic.message())).is_none());
    }
}
