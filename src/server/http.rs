//! etcd's HTTP endpoints: `/health`, `/version` and `/metrics`.
//!
//! etcd 3.4 answers them on its client URL (beside gRPC, through cmux) and
//! on each `--listen-metrics-urls` listener (`/metrics` and `/health`
//! only). [`respond`] is the whole endpoint logic — paths, methods, status
//! codes, bodies and content types as etcd 3.4.23 sends them — and runs
//! in both builds, so simulation tests can call it; only the listener
//! that carries it over HTTP/1.1 ([`routes`], on tonic's server with
//! HTTP/1.1 accepted) exists in the real build alone.

use super::etcdserver::EtcdServer;
use crate::proto::etcdserverpb::AlarmType;
use crate::version::VERSION;

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The client URL: `/health`, `/version`, `/metrics`.
    Client,
    /// A `--listen-metrics-urls` listener: `/health` and `/metrics`.
    Metrics,
}

/// The paths etcd serves on `listener`.
pub fn paths(listener: Listener) -> &'static [&'static str] {
    match listener {
        Listener::Client => &["/health", "/version", "/metrics"],
        Listener::Metrics => &["/health", "/metrics"],
    }
}

/// An answer, as etcd's Go handlers write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The `Allow` header, on 405 answers.
    pub allow: Option<&'static str>,
    /// The body.
    pub body: String,
}

impl HttpResponse {
    /// What Go's `http.Error` writes: plain text, a newline after the text.
    pub fn text_error(status: u16, text: &str) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            allow: None,
            body: format!("{text}\n"),
        }
    }
}

fn method_not_allowed() -> HttpResponse {
    HttpResponse {
        allow: Some("GET"),
        ..HttpResponse::text_error(405, "Method Not Allowed")
    }
}

/// The answer to `method path?query` on `listener`.
pub async fn respond(
    server: &EtcdServer,
    listener: Listener,
    method: &str,
    path: &str,
    query: Option<&str>,
) -> HttpResponse {
    if !paths(listener).contains(&path) {
        return HttpResponse::text_error(404, "404 page not found");
    }
    match path {
        // Prometheus's handler answers any method.
        "/metrics" => HttpResponse {
            status: 200,
            content_type: crate::metrics::CONTENT_TYPE,
            allow: None,
            body: server.current_metrics().encode(),
        },
        _ if method != "GET" => method_not_allowed(),
        "/version" => HttpResponse {
            status: 200,
            content_type: "application/json",
            allow: None,
            body: version_json(),
        },
        _ => {
            let excluded = excluded_alarms(query.unwrap_or(""));
            match server.health(&excluded).await {
                // Go sniffs JSON as plain text; only failures pass through
                // `http.Error`, which adds the newline.
                Ok(()) => HttpResponse {
                    status: 200,
                    content_type: "text/plain; charset=utf-8",
                    allow: None,
                    body: health_json(true),
                },
                Err(_) => HttpResponse::text_error(503, &health_json(false)),
            }
        }
    }
}

/// `{"etcdserver":...,"etcdcluster":...}`: this member's version and the
/// cluster's (etcd shows the cluster version as major.minor.0).
pub fn version_json() -> String {
    let cluster = VERSION.rsplitn(2, '.').last().unwrap_or(VERSION);
    format!(r#"{{"etcdserver":"{VERSION}","etcdcluster":"{cluster}.0"}}"#)
}

/// `{"health":"true"}` or `{"health":"false"}`.
pub fn health_json(healthy: bool) -> String {
    format!(r#"{{"health":"{healthy}"}}"#)
}

/// The alarms `?exclude=NOSPACE&exclude=CORRUPT` asks the check to ignore;
/// unknown names are ignored, as etcd ignores them.
fn excluded_alarms(query: &str) -> Vec<AlarmType> {
    query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("exclude="))
        .filter_map(AlarmType::from_str_name)
        .collect()
}

/// The endpoints of `listener` as axum routes, to add to a tonic server
/// that accepts HTTP/1.1 (`Server::builder().accept_http1(true)
/// .add_routes(...)`), beside the gRPC services.
#[cfg(not(madsim))]
pub fn routes(server: EtcdServer, listener: Listener) -> tonic::service::Routes {
    use axum::body::Body;
    use axum::extract::Request;

    let mut router = axum::Router::new();
    for &path in paths(listener) {
        let server = server.clone();
        let handler = move |request: Request| async move {
            let uri = request.uri();
            let answer = respond(
                &server,
                listener,
                request.method().as_str(),
                uri.path(),
                uri.query(),
            )
            .await;
            to_http(answer).map(Body::from)
        };
        router = router.route(path, axum::routing::any(handler));
    }
    tonic::service::Routes::from(router)
}

/// `answer` as an HTTP response, with the headers Go's handlers add.
#[cfg(not(madsim))]
pub fn to_http(answer: HttpResponse) -> axum::http::Response<String> {
    use axum::http::{header, Response};

    let mut response = Response::builder()
        .status(answer.status)
        .header(header::CONTENT_TYPE, answer.content_type);
    if let Some(allow) = answer.allow {
        response = response.header(header::ALLOW, allow);
    }
    // Go's `http.Error` marks every error answer so.
    if answer.status >= 400 {
        response = response.header("X-Content-Type-Options", "nosniff");
    }
    response.body(answer.body).expect("valid response parts")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_etcds() {
        assert_eq!(
            version_json(),
            r#"{"etcdserver":"3.4.0","etcdcluster":"3.4.0"}"#
        );
        assert_eq!(health_json(false), r#"{"health":"false"}"#);
        assert_eq!(
            excluded_alarms("exclude=NOSPACE&x=1&exclude=BOGUS"),
            [AlarmType::Nospace]
        );
    }
}
