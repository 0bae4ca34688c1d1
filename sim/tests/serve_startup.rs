//! `etcd-sim serve` as a process: what it says when it starts, when its
//! start fails, and how it refuses an oversize request — the same code and
//! message as etcd 3.4 (checked against the real etcd when it is on PATH).
//!
//! Run with the real build:
//! `RUSTFLAGS= CARGO_TARGET_DIR=target/real cargo test --release -p etcd-sim-harness --test serve_startup`.
#![cfg(not(madsim))]

#[path = "etcdctl_diff/servers.rs"]
#[allow(dead_code)]
mod servers;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use etcd_sim::proto::etcdserverpb::kv_client::KvClient;
use etcd_sim::proto::etcdserverpb::PutRequest;
use servers::{free_port, start_cluster, tools_available};
use tonic::transport::Endpoint;

const SERVING: &str = "serving clients on";

/// A member process whose stderr lines arrive on a channel.
struct Member {
    child: Child,
    lines: mpsc::Receiver<String>,
    endpoint: String,
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Member {
    /// Starts one member on `dir` with `client_port` (fresh ports unless given).
    fn start(dir: &Path, client_port: Option<u16>) -> Member {
        let client = client_port.unwrap_or_else(free_port);
        let peer = free_port();
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_etcd-sim"))
            .args(["serve", "--name", "m", "--data-dir"])
            .arg(dir)
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("m={peer_url}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("etcd-sim starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Member {
            child,
            lines,
            endpoint: format!("127.0.0.1:{client}"),
        }
    }

    /// Every stderr line until one contains `wanted` (included) or the
    /// process ends; `Err` with the lines on a timeout.
    fn lines_until(&self, wanted: &str) -> Result<Vec<String>, Vec<String>> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(wanted);
                    seen.push(line);
                    if found {
                        return Ok(seen);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(seen),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
            }
        }
        Err(seen)
    }

    /// Waits for the process to exit; its exit code.
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the member did not exit");
    }
}

fn data_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("etcd-sim-startup-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Starts a member on `dir`, waits until it serves, puts a few keys and
/// stops it: a WAL with records to tear.
fn member_with_records(dir: &Path) {
    let member = Member::start(dir, None);
    member.lines_until(SERVING).expect("the member serves");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let channel = Endpoint::from_shared(format!("http://{}", member.endpoint))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut kv = KvClient::new(channel);
        for i in 0..3 {
            let put = PutRequest {
                key: format!("k{i}").into_bytes(),
                value: b"v".to_vec(),
                ..Default::default()
            };
            // The first may race the election.
            for _ in 0..50 {
                if kv.put(put.clone()).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
}

#[test]
fn a_torn_wal_tail_is_logged_before_the_member_says_it_serves() {
    let dir = data_dir("torn");
    member_with_records(&dir);
    // Three bytes of a record header that never got written whole.
    let wal = dir.join("wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes.extend_from_slice(&[7, 0, 0]);
    std::fs::write(&wal, bytes).unwrap();

    let member = Member::start(&dir, None);
    let lines = member.lines_until(SERVING).expect("the member serves");
    let torn = lines
        .iter()
        .position(|l| l.contains("cut a torn last record of 3 bytes"));
    let serving = lines.iter().position(|l| l.contains(SERVING));
    assert!(torn.is_some() && torn < serving, "{lines:#?}");
    drop(member);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_member_that_cannot_start_never_says_it_serves() {
    // A corrupt record in the middle of the WAL.
    let dir = data_dir("corrupt");
    member_with_records(&dir);
    let wal = dir.join("wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&wal, bytes).unwrap();
    let mut member = Member::start(&dir, None);
    assert_ne!(member.exit_code(), Some(0));
    let lines = member.lines_until(SERVING).unwrap_or_else(|l| l);
    assert!(!lines.iter().any(|l| l.contains(SERVING)), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("error: cannot start")),
        "{lines:#?}"
    );
    drop(member);
    let _ = std::fs::remove_dir_all(&dir);

    // A client port that is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = data_dir("taken");
    let mut member = Member::start(&dir, Some(port));
    assert_ne!(member.exit_code(), Some(0));
    let lines = member.lines_until(SERVING).unwrap_or_else(|l| l);
    assert!(!lines.iter().any(|l| l.contains(SERVING)), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("error: listener failed")),
        "{lines:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a put of `value_len` bytes gets: its status code and message.
fn put_answer(endpoint: &str, value_len: usize) -> String {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let channel = Endpoint::from_shared(format!("http://{endpoint}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut kv = KvClient::new(channel).max_encoding_message_size(64 << 20);
        let put = PutRequest {
            key: b"big".to_vec(),
            value: vec![b'x'; value_len],
            ..Default::default()
        };
        match kv.put(put).await {
            Ok(_) => "ok".to_string(),
            Err(status) => format!("{:?}: {}", status.code(), status.message()),
        }
    })
}

/// Below the receive limit (`--max-request-bytes` + 512 KiB) a request too
/// large for a proposal is etcd's "request is too large"; above it gRPC
/// refuses it as grpc-go does.
#[test]
fn an_oversize_request_is_refused_with_etcds_code_and_message() {
    let dir = data_dir("oversize");
    let member = Member::start(&dir, None);
    member.lines_until(SERVING).expect("the member serves");
    // The put's encoding is the value plus 9 or 10 bytes of key and tags.
    let answers = |endpoint: &str| {
        [1_600_000, 2_097_146, 3_000_000]
            .map(|len| put_answer(endpoint, len))
            .to_vec()
    };
    let got = answers(&member.endpoint);
    assert_eq!(
        got,
        [
            "InvalidArgument: etcdserver: request is too large",
            "ResourceExhausted: grpc: received message larger than max (2097155 vs. 2097152)",
            "ResourceExhausted: grpc: received message larger than max (3000010 vs. 2097152)",
        ]
    );
    if tools_available() {
        let etcd = start_cluster("etcd", &[], "oversize", 1);
        assert_eq!(answers(&etcd.endpoint), got, "etcd answers the same");
    }
    drop(member);
    let _ = std::fs::remove_dir_all(&dir);
}
