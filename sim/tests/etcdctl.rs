//! Real mode: the stock etcdctl (Debian's etcd-client, 3.4) against
//! `etcd-sim serve` on loopback ports.
//!
//! Run with the real build:
//! `RUSTFLAGS= CARGO_TARGET_DIR=target/real cargo test -p etcd-sim-harness --test etcdctl`.
//! Without etcdctl on PATH the test is skipped, unless
//! `ETCD_SIM_REQUIRE_ETCDCTL=1` (set by CI), where it fails.
#![cfg(not(madsim))]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Members started by a test, killed when it ends however it ends.
struct Members {
    children: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Members {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn etcdctl_available() -> bool {
    let found = Command::new("etcdctl").arg("version").output().is_ok();
    if !found && std::env::var("ETCD_SIM_REQUIRE_ETCDCTL").is_ok_and(|v| v == "1") {
        panic!("etcdctl is not installed (apt-get install etcd-client) but CI requires it");
    }
    if !found {
        eprintln!("skipped: etcdctl not on PATH");
    }
    found
}

/// Starts `count` members; returns them and their client endpoints.
fn start(count: usize, test: &str) -> (Members, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("etcd-sim-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ports: Vec<(u16, u16)> = (0..count).map(|_| (free_port(), free_port())).collect();
    let cluster = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("n{}=http://127.0.0.1:{peer}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let mut members = Members {
        children: vec![],
        dir: dir.clone(),
    };
    for (i, (client, peer)) in ports.iter().enumerate() {
        let child = Command::new(env!("CARGO_BIN_EXE_etcd-sim"))
            .args(["serve", "--name", &format!("n{}", i + 1)])
            .arg("--data-dir")
            .arg(dir.join(format!("n{}", i + 1)))
            .args([
                "--listen-client-urls",
                &format!("http://127.0.0.1:{client}"),
            ])
            .args([
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{client}"),
            ])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
            ])
            .args(["--initial-cluster", &cluster])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd-sim serve starts");
        members.children.push(child);
    }
    let endpoints = ports
        .iter()
        .map(|(c, _)| format!("127.0.0.1:{c}"))
        .collect();
    (members, endpoints)
}

fn etcdctl(endpoint: &str, args: &[&str]) -> Output {
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", endpoint, "--command-timeout=3s"])
        .args(args)
        .output()
        .expect("etcdctl runs")
}

/// Retries `args` until etcdctl succeeds (the cluster is electing a leader).
fn etcdctl_until_ok(endpoint: &str, args: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = etcdctl(endpoint, args);
        if out.status.success() {
            return String::from_utf8(out.stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "etcdctl {args:?} kept failing: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn etcdctl_puts_and_gets_on_a_single_member() {
    if !etcdctl_available() {
        return;
    }
    let (_members, endpoints) = start(1, "single");
    assert_eq!(
        etcdctl_until_ok(&endpoints[0], &["put", "foo", "bar"]),
        "OK\n"
    );
    assert_eq!(
        etcdctl_until_ok(&endpoints[0], &["get", "foo"]),
        "foo\nbar\n"
    );
    let missing = etcdctl(&endpoints[0], &["get", "nothing"]);
    assert!(missing.status.success());
    assert_eq!(String::from_utf8(missing.stdout).unwrap(), "");
}

#[test]
fn etcdctl_reads_on_one_member_what_was_put_on_another() {
    if !etcdctl_available() {
        return;
    }
    let (_members, endpoints) = start(3, "three");
    assert_eq!(
        etcdctl_until_ok(&endpoints[0], &["put", "foo", "bar"]),
        "OK\n"
    );
    assert_eq!(
        etcdctl_until_ok(&endpoints[2], &["get", "foo"]),
        "foo\nbar\n"
    );
    assert_eq!(
        etcdctl_until_ok(&endpoints[1], &["put", "foo", "baz"]),
        "OK\n"
    );
    assert_eq!(
        etcdctl_until_ok(&endpoints[0], &["get", "foo"]),
        "foo\nbaz\n"
    );
}

#[test]
fn etcdctl_sees_etcds_error_for_an_empty_key() {
    if !etcdctl_available() {
        return;
    }
    let (_members, endpoints) = start(1, "emptykey");
    etcdctl_until_ok(&endpoints[0], &["put", "warm", "up"]);
    let out = etcdctl(&endpoints[0], &["put", "", "v"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("key is not provided"), "{stderr}");
}
