//! The two servers of the differential test: the real etcd and
//! `etcd-sim serve`, each a cluster of one or more members on loopback
//! ports with empty data dirs, killed when the test ends. A running
//! cluster can be grown: [`Server::plan_member`] picks the ports of a
//! member to be added, [`Server::start_member`] starts it with
//! `--initial-cluster-state existing` once `member add` has told the
//! cluster of it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A cluster's member processes and their data dirs, gone when the test
/// ends however it ends.
pub struct Server {
    children: Vec<Child>,
    /// Each child's arguments after the program, to start it again.
    args: Vec<Vec<String>>,
    dir: PathBuf,
    /// The program and the flags before the member's own, to start
    /// members added later the same way.
    program: String,
    pre_args: Vec<String>,
    /// `HOST:PORT` of the first member's client API.
    pub endpoint: String,
    /// `HOST:PORT` of every member's client API, by member (`m1`, `m2`,
    /// ... in a cluster, `m` alone).
    pub endpoints: Vec<String>,
    /// `HOST:PORT` of every member's peer API, by member.
    pub peers: Vec<String>,
    /// Members planned or started after the cluster, by name: their client
    /// and peer `HOST:PORT`, and their process (in `children`) once
    /// started.
    added: Vec<Added>,
}

struct Added {
    name: String,
    client: String,
    peer: String,
    child: Option<usize>,
}

impl Drop for Server {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    /// The name of the member listening on `host_port` (client or peer).
    pub fn member_at(&self, host_port: &str) -> Option<String> {
        let index = self
            .endpoints
            .iter()
            .position(|e| e == host_port)
            .or_else(|| self.peers.iter().position(|p| p == host_port));
        match index {
            Some(index) => Some(member_name(index, self.endpoints.len())),
            None => self
                .added
                .iter()
                .find(|a| a.client == host_port || a.peer == host_port)
                .map(|a| a.name.clone()),
        }
    }

    /// `(client, peer)` `HOST:PORT` of member `name`, initial or added.
    pub fn addresses_of(&self, name: &str) -> Option<(String, String)> {
        let size = self.endpoints.len();
        if let Some(i) = (0..size).find(|&i| member_name(i, size) == name) {
            return Some((self.endpoints[i].clone(), self.peers[i].clone()));
        }
        let added = self.added.iter().find(|a| a.name == name)?;
        Some((added.client.clone(), added.peer.clone()))
    }

    /// Picks free ports for a member `name` to be added later.
    pub fn plan_member(&mut self, name: &str) {
        let host_port = |port: u16| format!("127.0.0.1:{port}");
        self.added.push(Added {
            name: name.to_string(),
            client: host_port(free_port()),
            peer: host_port(free_port()),
            child: None,
        });
    }

    /// Starts planned member `name`, which `member add` has told the
    /// cluster of, with `--initial-cluster-state existing` and an
    /// `--initial-cluster` of the initial members and itself; waits until
    /// it serves a serializable read (what a learner serves) and the
    /// cluster lists it as started.
    pub fn start_member(&mut self, name: &str) {
        let size = self.endpoints.len();
        let at = self
            .added
            .iter()
            .position(|a| a.name == name)
            .unwrap_or_else(|| panic!("{name} was not planned"));
        let (client_url, peer_url) = (
            format!("http://{}", self.added[at].client),
            format!("http://{}", self.added[at].peer),
        );
        let initial_cluster = (0..size)
            .map(|i| format!("{}=http://{}", member_name(i, size), self.peers[i]))
            .chain([format!("{name}={peer_url}")])
            .collect::<Vec<_>>()
            .join(",");
        let args = member_args(
            &self.pre_args,
            name,
            &self.dir.join(name),
            (&client_url, &peer_url),
            &initial_cluster,
        );
        let mut args = args;
        args.extend(["--initial-cluster-state".into(), "existing".into()]);
        let child = spawn(&self.program, &args);
        self.args.push(args);
        self.children.push(child);
        self.added[at].child = Some(self.children.len() - 1);
        // A learner serves serializable reads only, and not `member list`.
        let joined = Ready {
            get_at: &self.added[at].client,
            get: &["get", "probe", "--consistency=s"],
            list_at: &self.endpoint,
            patience: Duration::from_secs(60),
        };
        joined.wait(&format!("{} {name} never joined", self.program));
    }

    /// Kills member `index` (of the initial ones) with SIGKILL and waits
    /// for it to die.
    pub fn kill(&mut self, index: usize) {
        let _ = self.children[index].kill();
        let _ = self.children[index].wait();
    }

    /// Starts member `index` again, on its data dir, as it was started.
    pub fn restart(&mut self, index: usize) {
        self.children[index] = spawn(&self.program, &self.args[index]);
    }

    /// Sends `signal` (`STOP`, `CONT`) to member `index`.
    pub fn signal(&self, index: usize, signal: &str) {
        let pid = self.children[index].id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
    }

    /// What member `index` wrote to stderr, over all its starts.
    pub fn log(&self, index: usize) -> String {
        std::fs::read_to_string(log_path(&self.data_dir(index))).unwrap_or_default()
    }

    /// Member `index`'s data dir.
    pub fn data_dir(&self, index: usize) -> PathBuf {
        self.dir.join(member_name(index, self.endpoints.len()))
    }

    /// The exit code of added member `name`'s process once it ends, or
    /// `None` if it still runs after `wait` (or was killed by a signal).
    pub fn exit_code(&mut self, name: &str, wait: Duration) -> Option<i32> {
        let at = self.added.iter().find(|a| a.name == name)?.child?;
        self.wait_exit(at, wait).and_then(|status| status.code())
    }

    /// How the process of member `index` (initial members first, then the
    /// added ones in the order they started) ended, or `None` if it still
    /// runs after `wait`.
    pub fn wait_exit(&mut self, index: usize, wait: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(status) = self.children[index].try_wait().ok().flatten() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A member's arguments: `pre_args`, then etcd's member flags.
fn member_args(
    pre_args: &[String],
    name: &str,
    data_dir: &std::path::Path,
    (client_url, peer_url): (&str, &str),
    initial_cluster: &str,
) -> Vec<String> {
    let mut args = pre_args.to_vec();
    for (flag, value) in [
        ("--name", name),
        ("--data-dir", &data_dir.display().to_string()),
        ("--listen-client-urls", client_url),
        ("--advertise-client-urls", client_url),
        ("--listen-peer-urls", peer_url),
        ("--initial-advertise-peer-urls", peer_url),
        ("--initial-cluster", initial_cluster),
    ] {
        args.extend([flag.to_string(), value.to_string()]);
    }
    args
}

/// Starts `program` with `args`; what it writes to stderr goes on the end
/// of the log beside its data dir (see [`Server::log`]).
fn spawn(program: &str, args: &[String]) -> Child {
    let data_dir = args
        .iter()
        .position(|a| a == "--data-dir")
        .map(|i| PathBuf::from(&args[i + 1]))
        .expect("a data dir");
    std::fs::create_dir_all(data_dir.parent().expect("a parent")).expect("the test's dir");
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log_path(&data_dir))
        .expect("a log file");
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{program} starts: {e}"))
}

fn log_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.with_extension("log")
}

fn member_name(index: usize, size: usize) -> String {
    if size == 1 {
        "m".to_string()
    } else {
        format!("m{}", index + 1)
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

/// Starts a cluster of `size` members of `program`, each with etcd's member
/// flags, and waits until it serves.
pub fn start_cluster(program: &str, pre_args: &[&str], test: &str, size: usize) -> Server {
    let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
    start_cluster_on(program, pre_args, test, &ports)
}

/// Starts a cluster of one member per `(client port, peer port)` of
/// `ports`, and waits until it serves.
pub fn start_cluster_on(
    program: &str,
    pre_args: &[&str],
    test: &str,
    ports: &[(u16, u16)],
) -> Server {
    let kind = if program == "etcd" { "etcd" } else { "sim" };
    let dir = std::env::temp_dir().join(format!(
        "etcd-sim-diff-{test}-{kind}-{}",
        std::process::id()
    ));
    start_cluster_in(program, pre_args, dir, ports)
}

/// [`start_cluster_on`], with the members' data dirs and logs in `dir`
/// (emptied first, removed at the end).
pub fn start_cluster_in(
    program: &str,
    pre_args: &[&str],
    dir: PathBuf,
    ports: &[(u16, u16)],
) -> Server {
    let size = ports.len();
    let _ = std::fs::remove_dir_all(&dir);
    let initial_cluster = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("{}=http://127.0.0.1:{peer}", member_name(i, size)))
        .collect::<Vec<_>>()
        .join(",");
    let pre_args: Vec<String> = pre_args.iter().map(|a| a.to_string()).collect();
    let args: Vec<Vec<String>> = ports
        .iter()
        .enumerate()
        .map(|(i, (client, peer))| {
            let name = member_name(i, size);
            member_args(
                &pre_args,
                &name,
                &dir.join(&name),
                (
                    &format!("http://127.0.0.1:{client}"),
                    &format!("http://127.0.0.1:{peer}"),
                ),
                &initial_cluster,
            )
        })
        .collect();
    let children = args.iter().map(|args| spawn(program, args)).collect();
    let host_port = |port: &u16| format!("127.0.0.1:{port}");
    let server = Server {
        children,
        args,
        dir,
        program: program.to_string(),
        pre_args,
        added: Vec::new(),
        endpoint: host_port(&ports[0].0),
        endpoints: ports.iter().map(|(client, _)| host_port(client)).collect(),
        peers: ports.iter().map(|(_, peer)| host_port(peer)).collect(),
    };
    for endpoint in &server.endpoints {
        wait_ready(endpoint);
    }
    server
}

/// The real etcd and etcd-sim, both ready to serve, both given `flags`.
pub fn start_both(test: &str, flags: &[&str]) -> (Server, Server) {
    start_both_clusters(test, flags, 1)
}

/// A real etcd cluster and an etcd-sim cluster of `size` members each,
/// both ready to serve, both given `flags`.
pub fn start_both_clusters(test: &str, flags: &[&str], size: usize) -> (Server, Server) {
    let etcd = start_cluster("etcd", flags, test, size);
    let sim_args: Vec<&str> = ["serve"].iter().chain(flags).copied().collect();
    let sim = start_cluster(env!("CARGO_BIN_EXE_etcd-sim"), &sim_args, test, size);
    (etcd, sim)
}

/// Waits until a (read-only) get succeeds (the member has a leader) and
/// the member lists every member as published: etcd answers clients only
/// once it has published itself, etcd-sim may answer a little earlier.
/// A member of the initial cluster has its name from `--initial-cluster`
/// before it publishes (so shows as started), but no client URLs.
pub fn wait_ready(endpoint: &str) {
    let ready = Ready {
        get_at: endpoint,
        get: &["get", "probe"],
        list_at: endpoint,
        patience: Duration::from_secs(30),
    };
    ready.wait(&format!("{endpoint} never became ready"));
}

/// When a member serves: a get through it succeeds (it knows a leader, or
/// has caught up), and `member list` (asked where it may be) shows every
/// member published.
struct Ready<'a> {
    get_at: &'a str,
    get: &'a [&'a str],
    list_at: &'a str,
    patience: Duration,
}

impl Ready<'_> {
    /// Waits until the member serves; fails with `failure` after the
    /// patience runs out.
    fn wait(&self, failure: &str) {
        let deadline = Instant::now() + self.patience;
        loop {
            let get = etcdctl_at(self.get_at, self.get);
            let members = etcdctl_at(self.list_at, &["member", "list"]);
            let listed = String::from_utf8_lossy(&members.stdout);
            if get.status.success() && members.status.success() && all_published(&listed) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{failure}: {}{}",
                String::from_utf8_lossy(&get.stderr),
                listed
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Whether every member of a `member list` has published its name and
/// client URLs.
fn all_published(listed: &str) -> bool {
    listed.lines().all(|line| {
        let fields: Vec<&str> = line.split(", ").collect();
        fields.len() == 6 && fields[1] == "started" && !fields[4].is_empty()
    })
}

fn etcdctl_at(endpoint: &str, args: &[&str]) -> std::process::Output {
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", endpoint, "--command-timeout=1s"])
        .args(args)
        .output()
        .expect("etcdctl runs")
}
