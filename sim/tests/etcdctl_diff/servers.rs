//! The two servers of the differential test: the real etcd and
//! `etcd-sim serve`, each a single member on loopback ports with an empty
//! data dir, killed when the test ends.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process and its data dir, gone when the test ends however it
/// ends.
pub struct Server {
    child: Child,
    dir: PathBuf,
    /// `HOST:PORT` of its client API.
    pub endpoint: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `program` runs; when it does not, fails under CI and skips
/// otherwise.
pub fn available(program: &str, package: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found && std::env::var("ETCD_SIM_REQUIRE_ETCDCTL").is_ok_and(|v| v == "1") {
        panic!("{program} is not installed (apt-get install {package}) but CI requires it");
    }
    if !found {
        eprintln!("skipped: {program} not on PATH");
    }
    found
}

/// Whether both etcdctl and the reference etcd are installed.
pub fn tools_available() -> bool {
    available("etcdctl", "etcd-client") && available("etcd", "etcd-server")
}

/// Starts `program` with etcd's member flags for a one-member cluster.
pub fn start(program: &str, pre_args: &[&str], test: &str) -> Server {
    let name = if program == "etcd" { "etcd" } else { "sim" };
    let dir = std::env::temp_dir().join(format!(
        "etcd-sim-diff-{test}-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let (client, peer) = (free_port(), free_port());
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let child = Command::new(program)
        .args(pre_args)
        .args(["--name", "m", "--data-dir"])
        .arg(&dir)
        .args(["--listen-client-urls", &client_url])
        .args(["--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("m={peer_url}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} starts: {e}"));
    let server = Server {
        child,
        dir,
        endpoint: format!("127.0.0.1:{client}"),
    };
    wait_ready(&server.endpoint);
    server
}

/// The real etcd and etcd-sim, both ready to serve, both given `flags`.
pub fn start_both(test: &str, flags: &[&str]) -> (Server, Server) {
    let etcd = start("etcd", flags, test);
    let sim_args: Vec<&str> = ["serve"].iter().chain(flags).copied().collect();
    let sim = start(env!("CARGO_BIN_EXE_etcd-sim"), &sim_args, test);
    (etcd, sim)
}

/// Waits until a (read-only) get succeeds: the member has a leader.
pub fn wait_ready(endpoint: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                endpoint,
                "--command-timeout=1s",
                "get",
                "probe",
            ])
            .output()
            .expect("etcdctl runs");
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{endpoint} never became ready: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
