//! A member's configuration, from etcd-like flags.

use std::net::SocketAddr;
use std::time::Duration;

use super::api;
use super::membership::{Cluster, Member};
use crate::bugs::BugSet;
use crate::clock::ClockRate;
use crate::crash::CrashPoints;
use crate::perturb::Perturbations;

/// How one member runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// This member's `--name`.
    pub name: String,
    /// The initial cluster, this member included: with
    /// [`ClusterState::New`] the members the cluster starts with; with
    /// [`ClusterState::Existing`] the members of the running cluster to
    /// ask who this member is.
    pub cluster: Cluster,
    /// Whether this member starts a new cluster or joins a running one
    /// (etcd's `--initial-cluster-state`); only a member with nothing on
    /// its disk acts on it.
    pub initial_cluster_state: ClusterState,
    /// Refuse a membership change that would leave fewer started voters
    /// than a quorum (etcd's `--strict-reconfig-check`, on by default).
    pub strict_reconfig_check: bool,
    /// Where the client API listens.
    pub listen_client: SocketAddr,
    /// The client URLs this member publishes to the cluster (etcd's
    /// `--advertise-client-urls`); `MemberList` shows them.
    pub advertise_client_urls: Vec<String>,
    /// Where the peer transport listens.
    pub listen_peer: SocketAddr,
    /// Extra listeners for `/metrics` and `/health` (etcd's
    /// `--listen-metrics-urls`); served in the real build.
    pub listen_metrics: Vec<SocketAddr>,
    /// One raft tick (etcd's `--heartbeat-interval`).
    pub tick: Duration,
    /// Election timeout range in ticks (etcd's `--election-timeout` is the low end).
    pub election_ticks: (usize, usize),
    /// How long a request may wait for raft before
    /// `etcdserver: request timed out`.
    pub request_timeout: Duration,
    /// Applied entries between snapshots (etcd's `--snapshot-count`): each
    /// snapshot lets the log and the WAL drop the entries it covers.
    pub snapshot_count: u64,
    /// Entries a snapshot leaves in the log and the WAL before its index,
    /// for followers a little behind to catch up from (etcd's
    /// `SnapshotCatchUpEntries`, 5,000, a constant there).
    pub catch_up_entries: u64,
    /// Snapshot files kept on disk (etcd's `--max-snapshots`, 5): a start
    /// falls back to an older one when a newer one is corrupt, as far back
    /// as the WAL reaches.
    pub max_snapshots: usize,
    /// How fast this member's clock runs; true time unless a test skews it.
    pub clock: ClockRate,
    /// This member's crash points; none armed unless a test arms one.
    pub crash_points: CrashPoints,
    /// Injected bugs; none unless a test switches them on.
    pub bugs: BugSet,
    /// Perturbation sites switched on; none outside simulation campaigns.
    pub perturbations: Perturbations,
    /// The most compares, and the most ops per branch, of a txn (etcd's
    /// `--max-txn-ops`).
    pub max_txn_ops: usize,
    /// The largest raft proposal a write may become (etcd's
    /// `--max-request-bytes`).
    pub max_request_bytes: usize,
    /// Pre-vote (raft thesis §9.6): a member that was cut off asks whether
    /// it could win before it bumps its term, so that rejoining does not
    /// depose a healthy leader (etcd's `--pre-vote`).
    pub pre_vote: bool,
    /// Check-quorum: a leader that has not heard from a quorum for an
    /// election timeout steps down. etcd always runs with it; it is a switch
    /// here so that a campaign can show what it protects.
    pub check_quorum: bool,
    /// The backend size past which writes are refused and the NOSPACE
    /// alarm is raised (etcd's `--quota-backend-bytes`; 0: 2 GiB, below 0:
    /// no quota).
    pub quota_backend_bytes: i64,
}

/// etcd's `--initial-cluster-state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClusterState {
    /// Start a new cluster of the initial members.
    #[default]
    New,
    /// Join a running cluster, which `member add` told of this member.
    Existing,
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `--name` is not in `--initial-cluster`.
    NotInCluster(String),
    /// A URL or address does not parse.
    BadUrl(String),
    /// `--initial-cluster` is malformed.
    BadCluster(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::NotInCluster(name) => {
                write!(f, "--name {name:?} is not in --initial-cluster")
            }
            ConfigError::BadUrl(url) => write!(f, "invalid URL {url:?}: expected http://HOST:PORT"),
            ConfigError::BadCluster(s) => {
                write!(
                    f,
                    "invalid --initial-cluster {s:?}: expected name=http://HOST:PORT,..."
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl ServerConfig {
    /// etcd's defaults: 100 ms ticks, elections after 10 to 20 ticks, txns
    /// of up to 128 ops, requests of up to 1.5 MiB, a 2 GiB quota,
    /// check-quorum; and pre-vote, which etcd 3.4 leaves off by default
    /// (`serve` follows etcd's flag).
    pub fn new(
        name: &str,
        cluster: Cluster,
        listen_client: SocketAddr,
        listen_peer: SocketAddr,
    ) -> Result<Self, ConfigError> {
        if cluster.member(name).is_none() {
            return Err(ConfigError::NotInCluster(name.to_string()));
        }
        Ok(Self {
            name: name.to_string(),
            cluster,
            initial_cluster_state: ClusterState::New,
            strict_reconfig_check: true,
            listen_client,
            advertise_client_urls: vec![format!("http://{listen_client}")],
            listen_peer,
            listen_metrics: Vec::new(),
            tick: Duration::from_millis(100),
            election_ticks: (10, 20),
            request_timeout: Duration::from_secs(5),
            snapshot_count: 10_000,
            catch_up_entries: 5_000,
            max_snapshots: 5,
            clock: ClockRate::default(),
            crash_points: CrashPoints::default(),
            bugs: BugSet::NONE,
            perturbations: Perturbations::NONE,
            max_txn_ops: api::MAX_TXN_OPS,
            max_request_bytes: api::MAX_REQUEST_BYTES,
            pre_vote: true,
            check_quorum: true,
            quota_backend_bytes: 0,
        })
    }

    /// This member's entry in the cluster.
    pub fn member(&self) -> &Member {
        self.cluster.member(&self.name).expect("checked in new")
    }
}

/// Parses `http://HOST:PORT` (or bare `HOST:PORT`) into a socket address.
pub fn parse_url(url: &str) -> Result<SocketAddr, ConfigError> {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or(url)
        .trim_end_matches('/');
    rest.parse()
        .map_err(|_| ConfigError::BadUrl(url.to_string()))
}

/// Parses `--initial-cluster` (`n1=http://a:2380,n2=...`) under `token`.
pub fn parse_initial_cluster(spec: &str, token: &str) -> Result<Cluster, ConfigError> {
    let mut members = Vec::new();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let (name, url) = part
            .split_once('=')
            .ok_or_else(|| ConfigError::BadCluster(spec.to_string()))?;
        parse_url(url)?;
        members.push((name.to_string(), url.to_string()));
    }
    if members.is_empty() {
        return Err(ConfigError::BadCluster(spec.to_string()));
    }
    Ok(Cluster::new(token, members))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_initial_cluster_and_rejects_garbage() {
        let c =
            parse_initial_cluster("a=http://127.0.0.1:2380,b=http://127.0.0.1:2381", "t").unwrap();
        assert_eq!(c.members.len(), 2);
        assert_eq!(parse_url("http://127.0.0.1:2379").unwrap().port(), 2379);
        assert!(matches!(
            parse_initial_cluster("a:b", "t"),
            Err(ConfigError::BadCluster(_))
        ));
        assert!(matches!(
            parse_url("http://nohost"),
            Err(ConfigError::BadUrl(_))
        ));
    }
}
