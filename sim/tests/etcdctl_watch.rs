//! Differential test of watches: the stock `etcdctl watch` against the real
//! etcd 3.4 and against `etcd-sim serve`, each a single member on loopback
//! ports. Watchers run as child processes while the same puts, deletes and
//! a txn go through etcdctl; then the watchers are stopped and their
//! outputs must be the same once `cluster_id`, `member_id` and `raft_term`
//! are dropped.
//!
//! Covered: `watch KEY`, `watch --prefix`, `watch --rev=N` (history),
//! `watch --prev-kv`, `-w json watch` (headers, events, flags),
//! `watch --rev=N` of a compacted revision (created, then cancelled with
//! the compact revision), `watch --rev=C` of the compaction revision `C`
//! itself (served, from `C`'s own events), negative start revisions before and after a
//! compaction, and — with a raw gRPC client, as etcdctl never half-closes —
//! a watch whose client closed its sending side right after creating it.
//!
//! Run with the real build:
//! `RUSTFLAGS= CARGO_TARGET_DIR=target/real cargo test --release -p etcd-sim-harness --test etcdctl_watch`.
//! Skipped without `etcdctl` or `etcd` on PATH, unless
//! `ETCD_SIM_REQUIRE_ETCDCTL=1`, where it fails.
#![cfg(not(madsim))]

#[path = "etcdctl_diff/servers.rs"]
#[allow(dead_code)]
mod servers;

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use etcd_sim::proto::etcdserverpb::watch_client::WatchClient;
use etcd_sim::proto::etcdserverpb::watch_request::RequestUnion;
use etcd_sim::proto::etcdserverpb::{WatchCreateRequest, WatchRequest, WatchResponse};
use serde_json::Value;
use tonic::transport::Endpoint;

use servers::{start_both, tools_available};

/// Long enough for a watch to be created (or for etcdctl to print what
/// the member sent) on a loaded machine.
const SETTLE: Duration = Duration::from_millis(1500);

fn etcdctl(endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new("etcdctl");
    command
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", endpoint, "--command-timeout=10s"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs one etcdctl command to its end; it must succeed.
fn run(endpoint: &str, args: &[&str]) {
    let out = etcdctl(endpoint, args).output().expect("etcdctl runs");
    assert!(
        out.status.success(),
        "etcdctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a watch that should end by itself (a cancelled one); stops it
/// after [`SETTLE`] if it does not, and returns what it printed.
fn run_to_end(endpoint: &str, args: &[&str]) -> String {
    let mut child = etcdctl(endpoint, args).spawn().expect("etcdctl runs");
    let deadline = std::time::Instant::now() + SETTLE;
    while child.try_wait().expect("etcdctl waits").is_none() && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    text(&stop(child))
}

/// Stops a watcher and returns what it printed.
fn stop(mut watcher: Child) -> Output {
    let _ = watcher.kill();
    watcher.wait_with_output().expect("etcdctl ends")
}

/// The watchers' outputs after the same session on `endpoint`, by name.
fn session(endpoint: &str) -> Vec<(&'static str, String)> {
    let mut negative = Vec::new();
    run(endpoint, &["put", "w/a", "0"]); // 2
    run(endpoint, &["put", "w/b", "0"]); // 3
                                         // Negative start revisions on a store never compacted: -1 watches from
                                         // now, anything lower is cancelled as compacted (etcd 3.4's unsynced
                                         // watchers compare it with a compaction revision of -1).
    for (name, args) in [
        ("negative", &["watch", "--rev=-5", "w/a"][..]),
        ("negative-json", &["-w", "json", "watch", "--rev=-2", "w/a"]),
    ] {
        negative.push((name, run_to_end(endpoint, args)));
    }
    let watches: [(&str, &[&str]); 5] = [
        ("key", &["watch", "w/a"]),
        ("prefix", &["watch", "--prefix", "w/"]),
        ("history", &["watch", "--rev=2", "--prefix", "w/"]),
        ("prev-kv", &["watch", "--prev-kv", "w/a"]),
        (
            "json",
            &["-w", "json", "watch", "--prefix", "--rev=3", "w/"],
        ),
    ];
    let watchers: Vec<(&str, Child)> = watches
        .iter()
        .map(|(name, args)| (*name, etcdctl(endpoint, args).spawn().expect("etcdctl")))
        .collect();
    std::thread::sleep(SETTLE);
    run(endpoint, &["put", "w/a", "1"]); // 4
    run(endpoint, &["put", "x", "outside"]); // 5
    run(endpoint, &["put", "w/b", "1"]); // 6
    run(endpoint, &["del", "w/a"]); // 7
    let txn = etcdctl(endpoint, &["txn"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("etcdctl runs");
    {
        use std::io::Write;
        let mut stdin = txn.stdin.as_ref().unwrap();
        // No compares, two puts, no failure ops: each list ends blank.
        stdin.write_all(b"\nput w/a 2\nput w/c 2\n\n\n").unwrap();
    }
    let done = txn.wait_with_output().unwrap();
    assert!(done.status.success(), "txn: {}", text(&done)); // 8
    std::thread::sleep(SETTLE);
    let mut outputs: Vec<(&str, String)> = watchers
        .into_iter()
        .map(|(name, child)| (name, text(&stop(child))))
        .collect();

    // -1 on a store never compacted watches from now. (Alone: in etcd 3.4
    // a watcher at -1 makes the unsynced watchers synced with it skip
    // their history, which is etcd's bug, not behaviour to copy.)
    let from_now = etcdctl(endpoint, &["-w", "json", "watch", "--rev=-1", "w/a"])
        .spawn()
        .expect("etcdctl");
    std::thread::sleep(SETTLE);
    run(endpoint, &["put", "w/a", "3"]); // 9
    std::thread::sleep(SETTLE);
    outputs.push(("from-now", text(&stop(from_now))));

    // A watch from a compacted revision: created, then cancelled.
    run(endpoint, &["compaction", "6"]);
    let compacted = etcdctl(endpoint, &["watch", "--rev=3", "w/b"])
        .spawn()
        .expect("etcdctl");
    std::thread::sleep(SETTLE);
    outputs.push(("compacted", text(&stop(compacted))));
    // A watch from exactly the compacted revision is served: w/b's put at
    // 6 is the compacted revision's event. (etcd-sim used to cancel it.)
    for (name, args) in [
        ("at-compacted", &["watch", "--rev=6", "--prefix", "w/"][..]),
        (
            "at-compacted-json",
            &["-w", "json", "watch", "--rev=6", "w/b"],
        ),
    ] {
        let watcher = etcdctl(endpoint, args).spawn().expect("etcdctl");
        std::thread::sleep(SETTLE);
        outputs.push((name, text(&stop(watcher))));
    }
    // After a compaction every negative start revision is below it.
    for (name, args) in [
        (
            "compacted-json",
            &["-w", "json", "watch", "--rev=3", "w/b"][..],
        ),
        (
            "negative-compacted",
            &["-w", "json", "watch", "--rev=-1", "w/b"],
        ),
    ] {
        outputs.push((name, run_to_end(endpoint, args)));
    }
    outputs.extend(negative);
    outputs
}

/// stdout and stderr, without what differs between any two clusters.
fn text(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut lines = Vec::new();
    for line in stdout.lines() {
        match serde_json::from_str::<Value>(line) {
            Ok(mut value) if line.starts_with('{') => {
                scrub(&mut value);
                lines.push(value.to_string());
            }
            _ => lines.push(line.to_string()),
        }
    }
    // etcdctl's log lines start with a date and time; keep what follows.
    for line in stderr.lines() {
        let message = match line.split_once(' ') {
            Some((date, rest)) if date.starts_with(|c: char| c.is_ascii_digit()) => {
                rest.split_once(' ').map_or(rest, |(_, message)| message)
            }
            _ => line,
        };
        lines.push(format!("stderr: {message}"));
    }
    lines.join("\n")
}

fn scrub(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in ["cluster_id", "member_id", "raft_term"] {
                map.remove(key);
            }
            map.values_mut().for_each(scrub);
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

#[test]
fn etcdctl_watch_answers_like_etcd() {
    if !tools_available() {
        return;
    }
    let (etcd, sim) = start_both("watch", &[]);
    let expected = session(&etcd.endpoint);
    let got = session(&sim.endpoint);
    // The session is not vacuous: etcd's watchers printed events.
    let prefix = &expected
        .iter()
        .find(|(name, _)| *name == "prefix")
        .unwrap()
        .1;
    assert!(prefix.contains("w/c"), "{prefix}");
    let mut failures = Vec::new();
    for ((name, etcd), (_, sim)) in expected.iter().zip(&got) {
        if std::env::var("ETCD_SIM_DIFF_VERBOSE").is_ok_and(|v| v == "1") {
            println!("watch {name} (etcd):\n{etcd}\n");
        }
        if etcd != sim {
            failures.push(format!(
                "watch {name}:\n--- etcd\n{etcd}\n--- etcd-sim\n{sim}\n"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What a raw gRPC client sees when it creates a watch on `h/a`, closes
/// its sending side at once (as many gRPC clients do once they have
/// nothing more to ask), and `h/a` is then put: one line per response.
fn half_closed(endpoint: &str) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let channel = Endpoint::from_shared(format!("http://{endpoint}"))
            .unwrap()
            .connect()
            .await
            .expect("connects");
        let create = WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                key: b"h/a".to_vec(),
                ..Default::default()
            })),
        };
        // The request stream ends after the create: a half-close.
        let requests = tonic::codegen::tokio_stream::iter([create]);
        let mut responses = WatchClient::new(channel)
            .watch(requests)
            .await
            .expect("the watch starts")
            .into_inner();
        let mut seen = Vec::new();
        let created = tokio::time::timeout(SETTLE, responses.message()).await;
        seen.push(describe(created));
        run(endpoint, &["put", "h/a", "1"]);
        let event = tokio::time::timeout(SETTLE, responses.message()).await;
        seen.push(describe(event));
        seen
    })
}

fn describe(
    response: Result<Result<Option<WatchResponse>, tonic::Status>, tokio::time::error::Elapsed>,
) -> String {
    match response {
        Err(_) => "nothing".to_string(),
        Ok(Err(status)) => format!("error {:?}", status.code()),
        Ok(Ok(None)) => "stream ended".to_string(),
        Ok(Ok(Some(w))) => {
            let events: Vec<String> = w
                .events
                .iter()
                .filter_map(|e| e.kv.as_ref())
                .map(|kv| {
                    format!(
                        "{}={}",
                        String::from_utf8_lossy(&kv.key),
                        String::from_utf8_lossy(&kv.value)
                    )
                })
                .collect();
            format!(
                "created {} canceled {} events {events:?}",
                w.created, w.canceled
            )
        }
    }
}

#[test]
fn a_watch_whose_client_half_closed_is_still_served_like_etcd() {
    if !tools_available() {
        return;
    }
    let (etcd, sim) = start_both("watch-half-close", &[]);
    let expected = half_closed(&etcd.endpoint);
    assert_eq!(
        expected.last().map(String::as_str),
        Some(r#"created false canceled false events ["h/a=1"]"#),
        "etcd serves a half-closed watch: {expected:?}"
    );
    assert_eq!(half_closed(&sim.endpoint), expected);
}
