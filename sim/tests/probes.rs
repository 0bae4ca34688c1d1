//! Reliability probes of real mode, side by side: the real etcd 3.4 and
//! `etcd-sim serve` put through the same faults and the same bad input, as
//! a new user would try them.
//!
//! 1. **Kill rounds:** a 3-member cluster takes writes while members are
//!    killed with SIGKILL (a follower, the leader, all of them) and
//!    restarted; every acknowledged write must be there at the end.
//! 2. **A paused leader:** the leader is stopped with SIGSTOP for 8 s and
//!    resumed; writes go on through the other members, and the longest gap
//!    between served writes after the resume is measured.
//! 3. **A full disk:** one member on a small tmpfs (where the machine lets
//!    the test mount one) takes 1 MiB values until the disk is full.
//! 4. **A corrupt WAL** and 5. **a corrupt snapshot:** one member is killed,
//!    a byte of its newest WAL record or snapshot flipped, and restarted.
//! 6. **Bad input:** malformed messages, unknown methods and services,
//!    large metadata, oversize requests and gRPC over HTTP/1.1, answered
//!    with etcd's status code and message (a decoder's detail aside); no
//!    member dies of any.
//!
//! It prints a table of both servers' results (docs/real-mode.md's "Reliability
//! probes" is one run of it) and asserts etcd-sim's. Run with the real
//! build: `RUSTFLAGS= CARGO_TARGET_DIR=target/real cargo test --release
//! -p etcd-sim-harness --test probes -- --nocapture`. Without `etcdctl`
//! or `etcd` on PATH it is skipped, unless `ETCD_SIM_REQUIRE_ETCDCTL=1`
//! (set by CI), where it fails.
#![cfg(not(madsim))]

#[allow(dead_code)]
#[path = "etcdctl_diff/servers.rs"]
mod servers;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use servers::{free_port, start_cluster, start_cluster_in, tools_available, wait_ready, Server};

/// One of the two servers under probe.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    Etcd,
    Sim,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Etcd => "etcd",
            Target::Sim => "etcd-sim",
        }
    }

    /// The program and the arguments before etcd's member flags.
    fn command<'a>(self, flags: &[&'a str]) -> (&'static str, Vec<&'a str>) {
        match self {
            Target::Etcd => ("etcd", flags.to_vec()),
            Target::Sim => (
                env!("CARGO_BIN_EXE_etcd-sim"),
                ["serve"].iter().chain(flags).copied().collect(),
            ),
        }
    }

    fn start(self, test: &str, flags: &[&str], size: usize) -> Server {
        let (program, args) = self.command(flags);
        start_cluster(program, &args, test, size)
    }

    /// One member with its data dir and log in `dir`.
    fn start_in(self, dir: PathBuf, flags: &[&str]) -> Server {
        let (program, args) = self.command(flags);
        start_cluster_in(program, &args, dir, &[(free_port(), free_port())])
    }
}

/// A probe's result on one server: what to show, and whether etcd-sim
/// passes (etcd's results are shown, not judged).
struct Outcome {
    shown: String,
    passed: bool,
}

fn outcome(shown: impl Into<String>, passed: bool) -> Outcome {
    Outcome {
        shown: shown.into(),
        passed,
    }
}

fn etcdctl(endpoints: &[String], args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &endpoints.join(","), "--command-timeout=2s"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("etcdctl runs");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(bytes) = stdin {
        let _ = input.write_all(bytes);
    }
    drop(input);
    child.wait_with_output().expect("etcdctl ends")
}

fn put(endpoints: &[String], key: &str) -> bool {
    etcdctl(endpoints, &["put", key, "v"], None)
        .status
        .success()
}

/// The keys under `prefix` (etcdctl 3.4 has no `--count-only`).
fn keys(endpoints: &[String], prefix: &str) -> BTreeSet<String> {
    let out = etcdctl(endpoints, &["get", prefix, "--prefix", "--keys-only"], None);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The index of the member that leads, by its own status.
fn leader(server: &Server) -> Option<usize> {
    server.endpoints.iter().position(|endpoint| {
        let out = etcdctl(
            std::slice::from_ref(endpoint),
            &["endpoint", "status", "-w", "json"],
            None,
        );
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
            return false;
        };
        let status = &json[0]["Status"];
        status["leader"].as_u64().is_some_and(|leader| {
            leader != 0 && Some(leader) == status["header"]["member_id"].as_u64()
        })
    })
}

fn wait_for_leader(server: &Server) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(leader) = leader(server) {
            return leader;
        }
        assert!(Instant::now() < deadline, "no leader in 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Writes keys `{prefix}{n}` through `endpoints` until stopped, noting the
/// acknowledged ones and when each was acknowledged.
struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, Instant)>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Writer {
    fn start(endpoints: Vec<String>, prefix: String) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let thread = std::thread::spawn({
            let (stop, acked) = (stop.clone(), acked.clone());
            move || {
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let key = format!("{prefix}{n:05}");
                    if put(&endpoints, &key) {
                        acked.lock().unwrap().push((key, Instant::now()));
                    }
                }
            }
        });
        Writer {
            stop,
            acked,
            thread,
        }
    }

    fn finish(self) -> Vec<(String, Instant)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the writer");
        Arc::try_unwrap(self.acked).unwrap().into_inner().unwrap()
    }
}

const KILL_ROUNDS: usize = 9;

/// Probe 1: SIGKILL a follower, the leader, or every member, while writes
/// go on; restart; count acknowledged writes missing at the end.
fn kill_rounds(target: Target) -> Outcome {
    let mut server = target.start("probe-kill", &[], 3);
    let mut acked = BTreeSet::new();
    for round in 0..KILL_ROUNDS {
        let leader = wait_for_leader(&server);
        let writer = Writer::start(server.endpoints.clone(), format!("r{round}-"));
        std::thread::sleep(Duration::from_millis(700));
        let victims: Vec<usize> = match round % 3 {
            0 => vec![(leader + 1) % 3],
            1 => vec![leader],
            _ => vec![0, 1, 2],
        };
        for &victim in &victims {
            server.kill(victim);
        }
        std::thread::sleep(Duration::from_millis(300));
        for &victim in &victims {
            server.restart(victim);
        }
        for endpoint in server.endpoints.clone() {
            wait_ready(&endpoint);
        }
        acked.extend(writer.finish().into_iter().map(|(key, _)| key));
    }
    let present = keys(&server.endpoints, "r");
    let lost = acked.difference(&present).count();
    outcome(
        format!(
            "{KILL_ROUNDS} rounds, {} writes acknowledged, {lost} lost",
            acked.len()
        ),
        lost == 0 && !acked.is_empty(),
    )
}

/// Probe 2: SIGSTOP the leader for 8 s, SIGCONT it; the longest time
/// without a served write (through the other members) after the resume.
fn paused_leader(target: Target) -> Duration {
    let server = target.start("probe-pause", &[], 3);
    let leader = wait_for_leader(&server);
    let others: Vec<String> = (0..3)
        .filter(|&i| i != leader)
        .map(|i| server.endpoints[i].clone())
        .collect();
    let writer = Writer::start(others, "p-".to_string());
    server.signal(leader, "STOP");
    std::thread::sleep(Duration::from_secs(8));
    server.signal(leader, "CONT");
    let resumed = Instant::now();
    std::thread::sleep(Duration::from_secs(6));
    let acked = writer.finish();
    let end = Instant::now();
    let mut times: Vec<Instant> = vec![resumed];
    times.extend(acked.iter().map(|&(_, at)| at).filter(|&at| at > resumed));
    times.push(end);
    times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

/// Mounts a tmpfs of `mib` MiB at a new directory, or `None` where the
/// machine does not let the test mount one.
fn small_tmpfs(name: &str, mib: u32) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("etcd-sim-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
        .arg(&dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        let _ = std::fs::remove_dir(&dir);
    }
    mounted.then_some(dir)
}

/// The last line a member wrote to stderr, cut short.
fn last_line(log: &str) -> String {
    let line = log
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    line.chars().take(150).collect()
}

/// `text` as one cell of a Markdown table.
fn cell(text: &str) -> String {
    text.replace('|', "/").replace('\n', " ")
}

fn has_backtrace(log: &str) -> bool {
    log.contains("panicked at") || log.contains("stack backtrace") || log.contains("goroutine ")
}

/// Probe 3: a member on a 96 MiB tmpfs takes 1 MiB values until a put
/// fails; how the member ends.
fn full_disk(target: Target) -> Outcome {
    let Some(mount) = small_tmpfs(&format!("full-{}", target.name()), 96) else {
        return outcome(
            "skipped: this machine does not let the test mount a tmpfs",
            true,
        );
    };
    let mut server = target.start_in(
        mount.join("cluster"),
        &["--quota-backend-bytes", "8589934592"],
    );
    let value = vec![b'x'; 1 << 20];
    let mut puts = 0;
    while puts < 200
        && etcdctl(&server.endpoints, &["put", "big"], Some(&value))
            .status
            .success()
    {
        puts += 1;
    }
    let exited = server.wait_exit(0, Duration::from_secs(10));
    let log = server.log(0);
    drop(server);
    let _ = Command::new("umount").arg(&mount).status();
    let _ = std::fs::remove_dir(&mount);
    let line = last_line(&log);
    let shown = match exited {
        Some(status) => format!(
            "{puts} puts, then exit {}: {line}",
            status.code().unwrap_or(-1)
        ),
        None => format!("{puts} puts, then still running; last line: {line}"),
    };
    let passed = exited.is_some_and(|s| !s.success())
        && line.starts_with("etcd-sim: fatal:")
        && line.contains("No space left on device")
        && !has_backtrace(&log);
    outcome(shown, passed)
}

/// The newest file in `dir` whose name ends with `suffix`.
fn newest(dir: &Path, suffix: &str) -> Option<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files.pop()
}

/// Flips a byte halfway into the written part of `file` (etcd
/// preallocates its WAL files with zeros).
fn flip_a_byte(file: &Path) {
    let mut bytes = std::fs::read(file).expect("the file to corrupt");
    let written = bytes.iter().rposition(|&b| b != 0).map_or(0, |at| at + 1);
    bytes[written / 2] ^= 0xff;
    std::fs::write(file, bytes).expect("the corrupted file");
}

/// Where each server keeps its WAL and its snapshots.
fn wal_file(target: Target, data_dir: &Path) -> Option<PathBuf> {
    match target {
        Target::Etcd => newest(&data_dir.join("member/wal"), ".wal"),
        Target::Sim => Some(data_dir.join("wal")),
    }
}

fn snapshot_file(target: Target, data_dir: &Path) -> Option<PathBuf> {
    match target {
        Target::Etcd => newest(&data_dir.join("member/snap"), ".snap"),
        Target::Sim => newest(data_dir, ".snap"),
    }
}

/// How a member restarted on a corrupted disk fared: it stopped (its exit
/// code and last line) or it serves (how many of the `written` keys).
fn restart_on_corruption(server: &mut Server, written: usize) -> (String, bool) {
    server.restart(0);
    if let Some(status) = server.wait_exit(0, Duration::from_secs(8)) {
        let line = last_line(&server.log(0));
        return (
            format!(
                "refuses to start (exit {}): {line}",
                status.code().unwrap_or(-1)
            ),
            false,
        );
    }
    wait_ready(&server.endpoint);
    let count = keys(&server.endpoints, "k").len();
    (
        format!("serves {count} of {written} keys"),
        count == written,
    )
}

/// Probe 4: a flipped byte in the middle of the newest WAL file.
fn corrupt_wal(target: Target) -> Outcome {
    let mut server = target.start("probe-wal", &[], 1);
    let written = 20;
    for n in 0..written {
        assert!(put(&server.endpoints, &format!("k{n:02}")));
    }
    server.kill(0);
    let wal = wal_file(target, &server.data_dir(0)).expect("a WAL file");
    flip_a_byte(&wal);
    let (shown, serves_all) = restart_on_corruption(&mut server, written);
    // Refusing is right; serving every write is as good; serving fewer is
    // an acknowledged write lost.
    let passed = serves_all || shown.contains("corrupt");
    outcome(shown, passed)
}

/// Probe 5: a flipped byte in the newest snapshot file.
fn corrupt_snapshot(target: Target) -> Outcome {
    let mut server = target.start("probe-snap", &["--snapshot-count", "10"], 1);
    let written = 35;
    for n in 0..written {
        assert!(put(&server.endpoints, &format!("k{n:02}")));
    }
    server.kill(0);
    let data_dir = server.data_dir(0);
    let snapshot = snapshot_file(target, &data_dir).expect("a snapshot file");
    flip_a_byte(&snapshot);
    let (mut shown, serves_all) = restart_on_corruption(&mut server, written);
    let broken = PathBuf::from(format!("{}.broken", snapshot.display()));
    if broken.exists() {
        shown.push_str(&format!(
            ", set {} aside",
            broken.file_name().unwrap().to_string_lossy()
        ));
    }
    outcome(shown, serves_all && broken.exists())
}

/// A gRPC codec of raw bytes: what etcdctl cannot send.
#[derive(Clone, Copy, Default)]
struct Raw;

impl tonic::codec::Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl tonic::codec::Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        buf: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(buf, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        buf: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        let len = bytes::Buf::remaining(buf);
        Ok(Some(bytes::Buf::copy_to_bytes(buf, len).to_vec()))
    }
}

/// A bad request, and how it is sent.
enum Bad {
    Unary {
        path: &'static str,
        body: Vec<u8>,
        metadata_bytes: usize,
    },
    Stream {
        path: &'static str,
        body: Vec<u8>,
    },
    Http1 {
        request: &'static str,
    },
}

fn status_text(status: &tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// What `bad` gets from the member at `endpoint`.
fn answer(endpoint: &str, bad: &Bad) -> String {
    if let Bad::Http1 { request } = bad {
        let mut stream = TcpStream::connect(endpoint).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        let status = text.lines().next().unwrap_or("no answer").to_string();
        let body = text
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or("")
            .trim()
            .to_string();
        return format!("{status}: {body}");
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{endpoint}"))
            .unwrap()
            .connect()
            .await
            .expect("connect");
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.expect("ready");
        match bad {
            Bad::Unary {
                path,
                body,
                metadata_bytes,
            } => {
                let mut request = tonic::Request::new(body.clone());
                if *metadata_bytes > 0 {
                    let big = "a".repeat(*metadata_bytes).parse().unwrap();
                    request.metadata_mut().insert("x-big", big);
                }
                let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
                match grpc.unary(request, path, Raw).await {
                    Ok(_) => "served".to_string(),
                    Err(status) => status_text(&status),
                }
            }
            Bad::Stream { path, body } => {
                let messages = futures::stream::iter(vec![body.clone()]);
                let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
                let mut responses = match grpc
                    .streaming(tonic::Request::new(messages), path, Raw)
                    .await
                {
                    Ok(responses) => responses.into_inner(),
                    Err(status) => return status_text(&status),
                };
                match responses.message().await {
                    Ok(Some(_)) => "a response".to_string(),
                    Ok(None) => "the stream ended OK, no message".to_string(),
                    Err(status) => status_text(&status),
                }
            }
            Bad::Http1 { .. } => unreachable!(),
        }
    })
}

/// The bad inputs, by name.
fn bad_inputs() -> Vec<(&'static str, Bad)> {
    use etcd_sim::proto::etcdserverpb::{request_op, PutRequest, RequestOp, TxnRequest};
    use prost::Message as _;

    let put = |value_len: usize| {
        PutRequest {
            key: b"k".to_vec(),
            value: vec![b'x'; value_len],
            ..Default::default()
        }
        .encode_to_vec()
    };
    let many_puts = TxnRequest {
        success: (0..129)
            .map(|n| RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key: format!("k{n}").into_bytes(),
                    ..Default::default()
                })),
            })
            .collect(),
        ..Default::default()
    }
    .encode_to_vec();
    let unary = |path, body| Bad::Unary {
        path,
        body,
        metadata_bytes: 0,
    };
    vec![
        ("a Range that does not decode", unary("/etcdserverpb.KV/Range", vec![0xff, 0xff, 0xff])),
        ("a Range whose key has the wrong wire type", unary("/etcdserverpb.KV/Range", vec![0x08, 0x01])),
        ("a Watch message that does not decode", Bad::Stream { path: "/etcdserverpb.Watch/Watch", body: vec![0xff, 0xff, 0xff] }),
        ("an unknown method", unary("/etcdserverpb.KV/Nope", vec![])),
        ("an unknown service", unary("/etcdserverpb.Nope/Range", vec![])),
        ("a Range with 1 MiB of metadata", Bad::Unary { path: "/etcdserverpb.KV/Range", body: vec![0x0a, 0x01, b'k'], metadata_bytes: 1 << 20 }),
        ("a Put of 3 MB", unary("/etcdserverpb.KV/Put", put(3_000_000))),
        ("a Txn of 129 puts", unary("/etcdserverpb.KV/Txn", many_puts)),
        ("a Put with an empty key", unary("/etcdserverpb.KV/Put", PutRequest::default().encode_to_vec())),
        (
            "gRPC over HTTP/1.1 (text/plain POST of a Put)",
            Bad::Http1 { request: "POST /etcdserverpb.KV/Put HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx" },
        ),
    ]
}

/// grpc-go's words before a decoder's own: the detail after them is Go's
/// protobuf library's or prost's, and differs.
const DECODE_ERRORS: [&str; 2] = [
    "Internal: grpc: error unmarshalling request: ",
    "Internal: grpc: failed to unmarshal the received message ",
];

/// Whether etcd-sim's answer is etcd's: the same code and message, but for
/// a decoder's detail.
fn agrees(etcd: &str, sim: &str) -> bool {
    let without_detail = |answer: &str| {
        DECODE_ERRORS
            .iter()
            .find(|prefix| answer.starts_with(*prefix))
            .map_or(answer.to_string(), |prefix| prefix.to_string())
    };
    without_detail(etcd) == without_detail(sim)
}

const BAR: &str = "|---|---|---|";

/// A probe run on one server.
type Probe = fn(Target) -> Outcome;

#[test]
fn reliability_probes_side_by_side_with_etcd() {
    if !tools_available() {
        return;
    }
    let mut table = vec![
        "| probe | etcd 3.4.23 | etcd-sim |".to_string(),
        BAR.to_string(),
    ];
    let mut failures = Vec::new();
    let mut row = |probe: &str, etcd: &str, sim: &Outcome| {
        table.push(format!(
            "| {probe} | {} | {} |",
            cell(etcd),
            cell(&sim.shown)
        ));
        if !sim.passed {
            failures.push(format!("{probe}: {}", sim.shown));
        }
    };
    let probes: [(&str, Probe); 4] = [
        (
            "kill rounds (SIGKILL a follower, the leader, all; restart)",
            kill_rounds,
        ),
        ("a full disk (96 MiB tmpfs, 1 MiB puts)", full_disk),
        ("a flipped byte in the WAL", corrupt_wal),
        (
            "a flipped byte in the newest snapshot (--snapshot-count 10)",
            corrupt_snapshot,
        ),
    ];
    for (probe, run) in probes {
        let etcd = run(Target::Etcd);
        row(probe, &etcd.shown, &run(Target::Sim));
    }
    let (etcd_gap, sim_gap) = (paused_leader(Target::Etcd), paused_leader(Target::Sim));
    // Within 2x of etcd's, with a floor for the cost of starting etcdctl
    // for each write (tens of ms either way).
    let bar = (etcd_gap * 2).max(Duration::from_secs(1));
    row(
        "leader SIGSTOPped 8 s: longest write gap after SIGCONT",
        &format!("{} ms", etcd_gap.as_millis()),
        &outcome(format!("{} ms", sim_gap.as_millis()), sim_gap <= bar),
    );
    let etcd = Target::Etcd.start("probe-bad", &[], 1);
    let mut sim = Target::Sim.start("probe-bad", &[], 1);
    for (name, bad) in bad_inputs() {
        let (theirs, ours) = (answer(&etcd.endpoint, &bad), answer(&sim.endpoint, &bad));
        let agreed = agrees(&theirs, &ours);
        row(name, &theirs, &outcome(ours, agreed));
    }
    let alive = sim.wait_exit(0, Duration::ZERO).is_none() && put(&sim.endpoints, "after");
    row(
        "still serving after the bad input",
        "yes",
        &outcome(if alive { "yes" } else { "no" }, alive),
    );
    println!("{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "etcd-sim failed probes:\n{}",
        failures.join("\n")
    );
}
