//! Differential test of watches: the stock `etcdctl watch` against the real
//! etcd 3.4 and against `etcd-sim serve`, each a single member on loopback
//! ports. Watchers run as child processes while the same puts, deletes and
//! a txn go through etcdctl; then the watchers are stopped and their
//! outputs must be the same once `cluster_id`, `member_id` and `raft_term`
//! are dropped.
//!
//! Covered: `watch KEY`, `watch --prefix`, `watch --rev=N` (history),
//! `watch --prev-kv`, `-w json watch` (headers, events, flags), and
//! `watch --rev=N` of a compacted revision (created, then cancelled with
//! the compact revision).
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

use serde_json::Value;

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

/// Stops a watcher and returns what it printed.
fn stop(mut watcher: Child) -> Output {
    let _ = watcher.kill();
    watcher.wait_with_output().expect("etcdctl ends")
}

/// The watchers' outputs after the same session on `endpoint`, by name.
fn session(endpoint: &str) -> Vec<(&'static str, String)> {
    run(endpoint, &["put", "w/a", "0"]); // 2
    run(endpoint, &["put", "w/b", "0"]); // 3
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

    // A watch from a compacted revision: created, then cancelled.
    run(endpoint, &["compaction", "6"]);
    let compacted = etcdctl(endpoint, &["watch", "--rev=3", "w/b"])
        .spawn()
        .expect("etcdctl");
    std::thread::sleep(SETTLE);
    outputs.push(("compacted", text(&stop(compacted))));
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
    assert!(expected[1].1.contains("w/c"), "{}", expected[1].1);
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
