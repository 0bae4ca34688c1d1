//! Differential test of leases: the stock etcdctl (3.4) against the real
//! etcd 3.4 and against `etcd-sim serve`, each a single member from an
//! empty data dir; every answer must be the same once what differs
//! between any two clusters is normalised away.
//!
//! Covered: `lease grant` (plain, json, fields; a TTL below the minimum,
//! a TTL above the maximum), `put --lease`, `lease timetolive` with and
//! without `--keys` (plain and json), `lease list` (plain and json),
//! `lease keep-alive --once` (plain and json), `lease revoke` (plain and
//! json), reads after a revocation, and the errors: revoking, renewing or
//! putting with a lease that does not exist.
//!
//! Normalised: lease ids (etcd picks them from a counter, etcd-sim at
//! random) become `L1`, `L2`, ... in the order the session granted them,
//! in hex and in decimal; remaining TTLs, which depend on timing, become
//! `?`; the attached keys, which etcd lists in map order, are sorted; and,
//! as in `etcdctl_diff.rs`, header ids and terms and etcdctl's log
//! timestamps are dropped.
//!
//! Run with the real build:
//! `RUSTFLAGS= CARGO_TARGET_DIR=target/real cargo test --release -p etcd-sim-harness --test etcdctl_lease`.
//! Skipped without `etcdctl` or `etcd` on PATH unless
//! `ETCD_SIM_REQUIRE_ETCDCTL=1`.
#![cfg(not(madsim))]

#[path = "etcdctl_diff/servers.rs"]
#[allow(dead_code)] // shared with etcdctl_diff, which uses all of it
mod servers;

use std::process::Command;

use serde_json::Value;

use servers::{start_both, tools_available, Server};

/// The session; `{L1}`, `{L2}`, ... stand for the leases granted so far,
/// in hex as etcdctl takes them. Lease 1234 is never granted.
const SESSION: &[&str] = &[
    "lease grant 60",
    "-w json lease grant 120",
    "put a 1 --lease={L1}",
    "put b 2 --lease={L1}",
    "put c 3 --lease={L2}",
    "put d 4",
    "lease timetolive {L1}",
    "lease timetolive {L1} --keys",
    "-w json lease timetolive {L1} --keys",
    "-w json lease timetolive {L2}",
    "lease list",
    "-w json lease list",
    "lease keep-alive --once {L1}",
    "-w json lease keep-alive --once {L2}",
    "lease revoke {L1}",
    "get a",
    "-w json get '' --from-key",
    "lease timetolive {L1}",
    "-w json lease timetolive {L1} --keys",
    "lease revoke {L1}",
    "lease keep-alive --once {L1}",
    "put a 5 --lease={L1}",
    "put x 1 --lease=1234",
    "lease revoke 1234",
    "lease timetolive 1234",
    "-w json lease revoke {L2}",
    "get c",
    "lease list",
    "lease grant 1",
    "-w fields lease grant 5",
    "lease grant 9000000001",
    "lease list",
];

/// What one etcdctl run showed.
#[derive(Debug, PartialEq, Eq)]
struct Shown {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the session against `server`; returns each step's raw answer and
/// the leases it granted, in order.
fn run_session(server: &Server) -> (Vec<Shown>, Vec<i64>) {
    let mut leases: Vec<i64> = Vec::new();
    let mut shown = Vec::new();
    for line in SESSION {
        let mut line = line.to_string();
        for (n, id) in leases.iter().enumerate() {
            line = line.replace(&format!("{{L{}}}", n + 1), &format!("{id:x}"));
        }
        let args: Vec<String> = line
            .split_whitespace()
            .map(|a| if a == "''" { String::new() } else { a.into() })
            .collect();
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &server.endpoint, "--command-timeout=10s"])
            .args(&args)
            .output()
            .expect("etcdctl runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if args.contains(&"grant".to_string()) && out.status.success() {
            leases.push(granted_id(&stdout));
        }
        shown.push(Shown {
            code: out.status.code(),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    (shown, leases)
}

/// The id in a grant's answer: `lease <hex> granted ...`, json `"ID":<n>`
/// or fields `"ID" : <n>`.
fn granted_id(stdout: &str) -> i64 {
    if let Some(hex) = stdout.strip_prefix("lease ") {
        let hex = hex.split_whitespace().next().unwrap();
        return i64::from_str_radix(hex, 16).unwrap();
    }
    if let Ok(json) = serde_json::from_str::<Value>(stdout.trim()) {
        return json["ID"].as_i64().unwrap();
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("\"ID\""))
        .unwrap_or_else(|| panic!("no lease id in {stdout:?}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// `text` with what differs between clusters normalised (see the module
/// docs); `leases` are the ids this server granted.
fn normalise(text: &str, leases: &[i64]) -> String {
    let mut lines = Vec::new();
    for line in text.lines() {
        let fields = ["\"ClusterID\"", "\"MemberID\"", "\"RaftTerm\""];
        if fields.iter().any(|f| line.starts_with(f)) {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(mut value) if line.starts_with('{') => {
                scrub(&mut value, leases);
                lines.push(value.to_string());
            }
            _ => lines.push(plain_ttl_and_keys(&name_leases(line, leases))),
        }
    }
    lines.join("\n")
}

/// The lease name (`L1`, ...) of `id`, if this server granted it.
fn lease_name(id: i64, leases: &[i64]) -> Option<String> {
    let n = leases.iter().position(|&l| l == id)?;
    Some(format!("L{}", n + 1))
}

/// `text` with every granted id, in hex or decimal, replaced by its name.
fn name_leases(text: &str, leases: &[i64]) -> String {
    let mut text = text.to_string();
    for &id in leases {
        let name = lease_name(id, leases).expect("granted");
        text = text
            .replace(&format!("{id:016x}"), &name)
            .replace(&format!("{id:x}"), &name)
            .replace(&id.to_string(), &name);
    }
    text
}

/// `remaining(59s)` -> `remaining(?s)`; `attached keys([b a])` sorted.
fn plain_ttl_and_keys(line: &str) -> String {
    let mut line = line.to_string();
    if let Some(at) = line.find("remaining(") {
        let start = at + "remaining(".len();
        let end = start + line[start..].find('s').unwrap();
        line.replace_range(start..end, "?");
    }
    if let Some(at) = line.find("attached keys([") {
        let start = at + "attached keys([".len();
        let end = start + line[start..].find(']').unwrap();
        let mut keys: Vec<&str> = line[start..end].split(' ').collect();
        keys.sort();
        let sorted = keys.join(" ");
        line.replace_range(start..end, &sorted);
    }
    line
}

fn scrub(value: &mut Value, leases: &[i64]) {
    match value {
        Value::Number(n) => {
            if let Some(name) = n.as_i64().and_then(|id| lease_name(id, leases)) {
                *value = Value::from(name);
            }
        }
        Value::String(s) => *s = name_leases(s, leases),
        Value::Object(map) => {
            for key in ["cluster_id", "member_id", "raft_term", "ts", "target"] {
                map.remove(key);
            }
            // A time-to-live answer's remaining TTL depends on timing.
            if map.contains_key("granted-ttl")
                && map
                    .get("ttl")
                    .and_then(Value::as_i64)
                    .is_some_and(|t| t > 0)
            {
                map.insert("ttl".into(), Value::from("?"));
            }
            if let Some(Value::Array(keys)) = map.get_mut("keys") {
                keys.sort_by_key(|k| k.to_string());
            }
            map.values_mut().for_each(|v| scrub(v, leases));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, leases)),
        _ => {}
    }
}

#[test]
fn etcdctl_lease_session_answers_like_etcd() {
    if !tools_available() {
        return;
    }
    let (etcd, sim) = start_both("lease", &[]);
    let (want, etcd_leases) = run_session(&etcd);
    let (got, sim_leases) = run_session(&sim);
    assert_eq!(etcd_leases.len(), sim_leases.len(), "grants that succeeded");
    let mut mismatches = Vec::new();
    for (n, (w, g)) in want.iter().zip(&got).enumerate() {
        let w = Shown {
            code: w.code,
            stdout: normalise(&w.stdout, &etcd_leases),
            stderr: normalise(&w.stderr, &etcd_leases),
        };
        let g = Shown {
            code: g.code,
            stdout: normalise(&g.stdout, &sim_leases),
            stderr: normalise(&g.stderr, &sim_leases),
        };
        if std::env::var("ETCD_SIM_DIFF_VERBOSE").is_ok_and(|v| v == "1") {
            eprintln!("step {n}: etcdctl {}\n{w:#?}", SESSION[n]);
        }
        if w != g {
            mismatches.push(format!(
                "step {n}: etcdctl {}\n  etcd:     {w:?}\n  etcd-sim: {g:?}",
                SESSION[n]
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} lease steps differ from etcd:\n\n{}",
        mismatches.len(),
        SESSION.len(),
        mismatches.join("\n")
    );
}

#[test]
fn normalising_names_leases_in_grant_order_and_hides_timing() {
    let text = "lease 00000000000004d2 granted with TTL(60s), remaining(59s), attached keys([b a])\n\
                {\"ID\":1234,\"ttl\":59,\"granted-ttl\":60,\"keys\":[\"Yg==\",\"YQ==\"],\"member_id\":7}";
    assert_eq!(
        normalise(text, &[1234]),
        "lease L1 granted with TTL(60s), remaining(?s), attached keys([a b])\n\
         {\"ID\":\"L1\",\"granted-ttl\":60,\"keys\":[\"YQ==\",\"Yg==\"],\"ttl\":\"?\"}"
    );
}
