//! What the client port answers before and after its services: which
//! requests reach gRPC at all, and grpc-go's words where tonic's differ.
//!
//! etcd 3.4 splits its client port with cmux: HTTP/2 with a gRPC content
//! type goes to grpc-go, everything else to its HTTP mux (`/health`,
//! `/version`, `/metrics`, and "404 page not found" for the rest). tonic
//! serves both protocols on one router, so without a gate a browser-style
//! HTTP/1.1 `POST /etcdserverpb.KV/Put` with `text/plain` committed a put.
//! [`admit`] is that gate, as a pure function both builds compile and test;
//! [`ClientPortLayer`] applies it, and rewrites tonic's refusals into
//! grpc-go's (see [`grpc_go_status`]), in the real build only: in
//! simulation requests are not encoded and there is nothing to gate.

use tonic::{Code, Status};

use super::receive_limit::{as_grpc_go, as_too_many_ops, TXN_PATH};
use crate::server::http::{paths, HttpResponse, Listener};

/// The largest header list (metadata) a request may carry: grpc-go's
/// server default.
pub const MAX_HEADER_LIST_BYTES: u32 = 16 << 20;

/// Where a request on the client port goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// To the gRPC services.
    Grpc,
    /// To etcd's HTTP endpoints.
    Http,
    /// Nowhere: answered at once with this.
    Refused(HttpResponse),
}

/// Where a request with this protocol, path and content type goes: gRPC
/// only over HTTP/2 with a gRPC content type, the HTTP endpoints over
/// either protocol, and etcd's (or grpc-go's) refusal for the rest.
#[cfg_attr(madsim, allow(dead_code))]
pub fn admit(http2: bool, path: &str, content_type: Option<&str>) -> Admission {
    if paths(Listener::Client).contains(&path) {
        return Admission::Http;
    }
    let grpc = content_type.is_some_and(|t| t.starts_with("application/grpc"));
    match (http2, grpc) {
        (true, true) => Admission::Grpc,
        // grpc-go's own answer to an HTTP/2 request it cannot serve.
        (true, false) => Admission::Refused(HttpResponse::text_error(
            415,
            &format!(
                "invalid gRPC request content-type {:?}",
                content_type.unwrap_or("")
            ),
        )),
        // etcd's HTTP mux: every other path is not found.
        (false, _) => Admission::Refused(HttpResponse::text_error(404, "404 page not found")),
    }
}

/// The services the client port serves, by gRPC name.
#[cfg_attr(madsim, allow(dead_code))]
pub const SERVICES: [&str; 5] = [
    "etcdserverpb.KV",
    "etcdserverpb.Watch",
    "etcdserverpb.Lease",
    "etcdserverpb.Cluster",
    "etcdserverpb.Maintenance",
];

/// grpc-go's status in place of tonic's refusal of a call to `path`, or
/// `None` if tonic's answer stands: the oversize message, the txn too deep
/// to decode, a request that does not decode, and a method or service
/// that does not exist (tonic says nothing; grpc-go names it).
#[cfg_attr(madsim, allow(dead_code))]
pub fn grpc_go_status(path: &str, status: &Status) -> Option<Status> {
    if let Some(status) = as_grpc_go(status) {
        return Some(status);
    }
    if path == TXN_PATH {
        if let Some(status) = as_too_many_ops(status) {
            return Some(status);
        }
    }
    match status.code() {
        Code::Internal => {
            let detail = status
                .message()
                .strip_prefix("failed to decode Protobuf message: ")?;
            Some(Status::internal(format!(
                "grpc: error unmarshalling request: {detail}"
            )))
        }
        Code::Unimplemented if status.message().is_empty() => Some(unknown(path)),
        _ => None,
    }
}

/// grpc-go's UNIMPLEMENTED for `/service/method`.
#[cfg_attr(madsim, allow(dead_code))]
fn unknown(path: &str) -> Status {
    let path = path.strip_prefix('/').unwrap_or(path);
    let (service, method) = path.rsplit_once('/').unwrap_or((path, ""));
    if SERVICES.contains(&service) {
        Status::unimplemented(format!("unknown method {method} for service {service}"))
    } else {
        Status::unimplemented(format!("unknown service {service}"))
    }
}

/// Applies [`admit`] and [`grpc_go_status`] to the client port's routes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientPortLayer;

#[cfg(not(madsim))]
mod real {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tonic::body::Body;
    use tonic::codegen::{http, Service};
    use tonic::Status;

    use super::{admit, grpc_go_status, unknown, Admission, ClientPortLayer};
    use crate::server::http::to_http;

    impl<S> tower_layer::Layer<S> for ClientPortLayer {
        type Service = ClientPort<S>;

        fn layer(&self, inner: S) -> Self::Service {
            ClientPort(inner)
        }
    }

    /// The service [`ClientPortLayer`] wraps around the client routes.
    #[derive(Debug, Clone)]
    pub struct ClientPort<S>(S);

    type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

    impl<S, ReqBody, B> Service<http::Request<ReqBody>> for ClientPort<S>
    where
        S: Service<http::Request<ReqBody>, Response = http::Response<B>>,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
        B: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
        B::Error: Into<tonic::codegen::StdError>,
    {
        type Response = http::Response<Body>;
        type Error = S::Error;
        type Future = BoxFuture<Self::Response, S::Error>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.0.poll_ready(cx)
        }

        fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
            let http2 = request.version() == http::Version::HTTP_2;
            let content_type = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|t| t.to_str().ok());
            let admission = admit(http2, request.uri().path(), content_type);
            if let Admission::Refused(answer) = admission {
                let response = to_http(answer).map(Body::new);
                return Box::pin(std::future::ready(Ok(response)));
            }
            let path = request.uri().path().to_owned();
            let response = self.0.call(request);
            Box::pin(async move {
                let mut response = response.await?;
                // The router knows no such service: grpc-go names it.
                if admission == Admission::Grpc && response.status() == http::StatusCode::NOT_FOUND
                {
                    return Ok(unknown(&path).into_http());
                }
                // A unary call refused before it ran answers with the
                // status in the headers (trailers-only).
                let refused = Status::from_header_map(response.headers());
                if let Some(status) = refused.and_then(|s| grpc_go_status(&path, &s)) {
                    let headers = response.headers_mut();
                    headers.remove("grpc-message");
                    let _ = status.add_header(headers);
                }
                Ok(response.map(Body::new))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_needs_http2_and_a_grpc_content_type() {
        let put = "/etcdserverpb.KV/Put";
        assert_eq!(admit(true, put, Some("application/grpc")), Admission::Grpc);
        assert_eq!(
            admit(true, put, Some("application/grpc+proto")),
            Admission::Grpc
        );
        let Admission::Refused(h1) = admit(false, put, Some("text/plain")) else {
            panic!("HTTP/1.1 reached gRPC");
        };
        assert_eq!((h1.status, h1.body.as_str()), (404, "404 page not found\n"));
        let Admission::Refused(h1) = admit(false, put, Some("application/grpc")) else {
            panic!("HTTP/1.1 reached gRPC");
        };
        assert_eq!(h1.status, 404);
        let Admission::Refused(h2) = admit(true, put, Some("text/plain")) else {
            panic!("a text/plain body reached gRPC");
        };
        assert_eq!(h2.status, 415);
        assert_eq!(
            h2.body,
            "invalid gRPC request content-type \"text/plain\"\n"
        );
    }

    #[test]
    fn the_http_endpoints_answer_either_protocol() {
        for path in ["/health", "/version", "/metrics"] {
            assert_eq!(admit(false, path, None), Admission::Http);
            assert_eq!(admit(true, path, Some("text/plain")), Admission::Http);
        }
        assert!(matches!(
            admit(false, "/v3/kv/range", None),
            Admission::Refused(_)
        ));
    }

    #[test]
    fn unknown_methods_and_services_are_named_as_grpc_go_names_them() {
        let bare = Status::unimplemented("");
        let method = grpc_go_status("/etcdserverpb.KV/Nope", &bare).unwrap();
        assert_eq!(method.code(), Code::Unimplemented);
        assert_eq!(
            method.message(),
            "unknown method Nope for service etcdserverpb.KV"
        );
        let service = grpc_go_status("/etcdserverpb.Nope/Range", &bare).unwrap();
        assert_eq!(service.message(), "unknown service etcdserverpb.Nope");
        // A handler's own UNIMPLEMENTED keeps its words.
        let worded = Status::unimplemented("not yet");
        assert!(grpc_go_status("/etcdserverpb.KV/Range", &worded).is_none());
    }

    #[test]
    fn a_request_that_does_not_decode_is_grpc_gos_internal() {
        let tonic = Status::internal("failed to decode Protobuf message: unexpected EOF");
        let etcd = grpc_go_status("/etcdserverpb.KV/Range", &tonic).unwrap();
        assert_eq!(etcd.code(), Code::Internal);
        assert_eq!(
            etcd.message(),
            "grpc: error unmarshalling request: unexpected EOF"
        );
        // A txn too deep to decode is etcd's "too many operations" instead.
        let deep = Status::internal(
            "failed to decode Protobuf message: TxnRequest.success: RequestOp.request: recursion limit reached",
        );
        let etcd = grpc_go_status(TXN_PATH, &deep).unwrap();
        assert_eq!(etcd.code(), Code::InvalidArgument);
        assert!(grpc_go_status("/etcdserverpb.KV/Range", &Status::internal("other")).is_none());
    }
}
