//! Differential test of what is not gRPC: etcd's HTTP endpoints, and the
//! member and cluster ids, against the real etcd 3.4 and `etcd-sim serve`.
//!
//! 1. [`http_endpoints_answer_like_etcd`]: `/health`, `/version`,
//!    `/metrics` (and a wrong method, and a path neither serves) on the
//!    client URL, and `/health`, `/metrics` on a `--listen-metrics-urls`
//!    listener, over plain HTTP/1.1: same status codes, content types and
//!    JSON keys, and the metric families users alert on present on both
//!    with the same types.
//! 2. [`member_ids_are_etcds`]: a 3-member etcd cluster, then an etcd-sim
//!    cluster on the same ports (ids depend on the peer URLs): `member
//!    list` is byte-identical, and so are the ids in json output.
//!
//! Run with the real build:
//! `RUSTFLAGS= CARGO_TARGET_DIR=target/real cargo test --release -p etcd-sim-harness --test etcdctl_http`.
//! Without `etcdctl` or `etcd` on PATH the tests are skipped, unless
//! `ETCD_SIM_REQUIRE_ETCDCTL=1` (set by CI), where they fail.
#![cfg(not(madsim))]

#[allow(dead_code)]
#[path = "etcdctl_diff/servers.rs"]
mod servers;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use servers::{free_port, start_cluster, start_cluster_on, tools_available, Server};

/// What an HTTP/1.1 request got back.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

/// `method path` to `host_port` over a fresh connection, as a minimal
/// HTTP/1.1 client: `Connection: close`, the body read to the end
/// (de-chunked if need be).
fn http(host_port: &str, method: &str, path: &str) -> Answer {
    let mut stream = TcpStream::connect(host_port).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("an answer");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    Answer {
        status,
        content_type: headers.get("content-type").cloned().unwrap_or_default(),
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        out += &rest[..size];
        body = &rest[size + 2..];
    }
    out
}

/// The keys of a JSON object body.
fn json_keys(body: &str) -> Vec<String> {
    match serde_json::from_str::<Value>(body.trim_end()) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        other => panic!("not a JSON object: {body:?} ({other:?})"),
    }
}

/// The metric families users alert on, with their types (etcd 3.4.23's).
const METRICS: [&str; 22] = [
    "etcd_server_has_leader",
    "etcd_server_is_leader",
    "etcd_server_leader_changes_seen_total",
    "etcd_server_proposals_committed_total",
    "etcd_server_proposals_applied_total",
    "etcd_server_proposals_pending",
    "etcd_server_proposals_failed_total",
    "etcd_server_health_success",
    "etcd_server_health_failures",
    "etcd_server_id",
    "etcd_server_version",
    "etcd_cluster_version",
    "etcd_server_quota_backend_bytes",
    "etcd_disk_wal_fsync_duration_seconds",
    "etcd_disk_backend_commit_duration_seconds",
    "etcd_mvcc_db_total_size_in_bytes",
    "etcd_mvcc_db_total_size_in_use_in_bytes",
    "etcd_debugging_mvcc_watch_stream_total",
    "etcd_debugging_mvcc_watcher_total",
    "etcd_debugging_lease_granted_total",
    "etcd_debugging_lease_revoked_total",
    "etcd_debugging_lease_renewed_total",
];

/// `name -> type` of every `# TYPE` line.
fn metric_types(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_string(), kind.to_string()))
        .collect()
}

/// One member started with a metrics listener; returns it and the
/// listener's `HOST:PORT`.
fn member_with_metrics_listener(program: &str, serve: &[&str]) -> (Server, String) {
    let metrics = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{metrics}");
    let args: Vec<&str> = serve
        .iter()
        .copied()
        .chain(["--listen-metrics-urls", &url])
        .collect();
    (start_cluster(program, &args, "http", 1), metrics)
}

#[test]
fn http_endpoints_answer_like_etcd() {
    if !tools_available() {
        return;
    }
    let (etcd, etcd_metrics) = member_with_metrics_listener("etcd", &[]);
    let (sim, sim_metrics) =
        member_with_metrics_listener(env!("CARGO_BIN_EXE_etcd-sim"), &["serve"]);
    let requests = [
        (false, "GET", "/health"),
        (false, "GET", "/version"),
        (false, "GET", "/metrics"),
        (false, "POST", "/health"),
        (false, "PUT", "/version"),
        (true, "GET", "/health"),
        (true, "GET", "/metrics"),
        (true, "GET", "/health?exclude=NOSPACE"),
    ];
    let mut mismatches = Vec::new();
    for (on_metrics, method, path) in requests {
        let (a, b) = if on_metrics {
            (&etcd_metrics, &sim_metrics)
        } else {
            (&etcd.endpoint, &sim.endpoint)
        };
        let (want, got) = (http(a, method, path), http(b, method, path));
        let what = format!(
            "{method} {path} on the {} listener",
            if on_metrics { "metrics" } else { "client" }
        );
        if (want.status, &want.content_type) != (got.status, &got.content_type) {
            mismatches.push(format!(
                "{what}: etcd {} {:?}, etcd-sim {} {:?}",
                want.status, want.content_type, got.status, got.content_type
            ));
            continue;
        }
        if path == "/metrics" {
            let (want, got) = (metric_types(&want.body), metric_types(&got.body));
            for name in METRICS {
                if !want.contains_key(name) || want.get(name) != got.get(name) {
                    mismatches.push(format!(
                        "{what}: {name} is {:?} in etcd, {:?} in etcd-sim",
                        want.get(name),
                        got.get(name)
                    ));
                }
            }
        } else if want.body.starts_with('{') {
            assert_eq!(json_keys(&want.body), json_keys(&got.body), "{what}");
            if path.starts_with("/health") {
                assert_eq!(want.body, got.body, "{what}");
            }
        } else {
            assert_eq!(want.body, got.body, "{what}");
        }
    }
    assert!(
        mismatches.is_empty(),
        "HTTP answers differ from etcd:\n{}",
        mismatches.join("\n")
    );
}

/// etcdctl's output of `args` against `endpoints`.
fn etcdctl(endpoints: &[String], args: &[&str]) -> String {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &endpoints.join(",")])
        .args(args)
        .output()
        .expect("etcdctl runs");
    assert!(out.status.success(), "etcdctl {args:?} fails");
    String::from_utf8(out.stdout).unwrap()
}

/// The ids in `endpoint status -w json`: each member's id and its
/// cluster's id, by endpoint.
fn status_ids(server: &Server) -> Vec<(String, u64, u64)> {
    let json: Value = serde_json::from_str(&etcdctl(
        &server.endpoints,
        &["endpoint", "status", "-w", "json"],
    ))
    .unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|member| {
            let header = &member["Status"]["header"];
            (
                member["Endpoint"].as_str().unwrap().to_string(),
                header["member_id"].as_u64().unwrap(),
                header["cluster_id"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// `member list -w json` from the first member, without the raft term
/// (which depends on how the election went).
fn member_list_json(server: &Server) -> Value {
    let first = [server.endpoint.clone()];
    let mut json: Value =
        serde_json::from_str(&etcdctl(&first, &["member", "list", "-w", "json"])).unwrap();
    json["header"].as_object_mut().unwrap().remove("raft_term");
    json
}

#[test]
fn member_ids_are_etcds() {
    if !tools_available() {
        return;
    }
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let token = ["--initial-cluster-token", "ids-test"];
    let etcd = start_cluster_on("etcd", &token, "ids", &ports);
    let want = (
        etcdctl(&etcd.endpoints, &["member", "list"]),
        member_list_json(&etcd),
        status_ids(&etcd),
    );
    drop(etcd);
    let serve: Vec<&str> = ["serve"].into_iter().chain(token).collect();
    let sim = start_cluster_on(env!("CARGO_BIN_EXE_etcd-sim"), &serve, "ids", &ports);
    let got = (
        etcdctl(&sim.endpoints, &["member", "list"]),
        member_list_json(&sim),
        status_ids(&sim),
    );
    assert_eq!(want.0, got.0, "member list");
    assert_eq!(want.1, got.1, "member list -w json");
    assert_eq!(want.2, got.2, "endpoint status ids");
}
