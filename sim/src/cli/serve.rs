//! `etcd-sim serve`: one real member, with etcd's flags.

use clap::Args;

use super::EXIT_USAGE;

/// etcd's member flags, same names and meanings.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Human-readable name for this member.
    #[arg(long)]
    name: String,
    /// Path to the data directory.
    #[arg(long)]
    data_dir: std::path::PathBuf,
    /// URL to listen on for client traffic.
    #[arg(long, default_value = "http://127.0.0.1:2379")]
    listen_client_urls: String,
    /// Client URL advertised to the rest of the cluster.
    #[arg(long, default_value = "http://127.0.0.1:2379")]
    advertise_client_urls: String,
    /// URL to listen on for peer traffic.
    #[arg(long, default_value = "http://127.0.0.1:2380")]
    listen_peer_urls: String,
    /// Peer URL advertised to the rest of the cluster.
    #[arg(long, default_value = "http://127.0.0.1:2380")]
    initial_advertise_peer_urls: String,
    /// Initial cluster configuration: name=peer-url,...
    #[arg(long)]
    initial_cluster: Option<String>,
    /// Initial cluster token.
    #[arg(long, default_value = "etcd-cluster")]
    initial_cluster_token: String,
    /// Maximum number of operations permitted in a transaction.
    #[arg(long, default_value_t = etcd_sim::server::api::MAX_TXN_OPS)]
    max_txn_ops: usize,
    /// Maximum client request size in bytes the server will accept.
    #[arg(long, default_value_t = etcd_sim::server::api::MAX_REQUEST_BYTES)]
    max_request_bytes: usize,
    /// Enable the raft Pre-Vote algorithm (etcd 3.4's default: off).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    pre_vote: bool,
    /// Raise the NOSPACE alarm when the backend exceeds this many bytes
    /// (0: 2 GiB; negative: no quota).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    quota_backend_bytes: i64,
    /// Initial cluster state: `new` (bootstrap from --initial-cluster) or
    /// `existing` (join the running cluster of --initial-cluster, which
    /// `member add` told of this member's peer URL).
    #[arg(long, default_value = "new")]
    initial_cluster_state: ClusterState,
    /// Time (in milliseconds) of a heartbeat interval: one raft tick.
    #[arg(long, default_value_t = 100)]
    heartbeat_interval: u64,
    /// Time (in milliseconds) for an election to time out.
    #[arg(long, default_value_t = 1000)]
    election_timeout: u64,
    /// Reject reconfiguration requests that would cause quorum loss.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    strict_reconfig_check: bool,
    /// Number of committed transactions to trigger a snapshot to disk.
    #[arg(long, default_value_t = 100_000)]
    snapshot_count: u64,
    /// Maximum number of snapshot files to retain (0 is unlimited).
    #[arg(long, default_value_t = 5)]
    max_snapshots: usize,
    /// Extra URLs to listen on for /metrics and /health, comma-separated.
    #[arg(long, default_value = "")]
    listen_metrics_urls: String,
    #[command(flatten)]
    ignored: IgnoredFlags,
}

/// `--initial-cluster-state`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ClusterState {
    New,
    Existing,
}

/// etcd 3.4 flags that etcd-sim accepts, so that etcd's scripts run
/// unchanged, and does not act on; `serve` names the ones given in one
/// line at start.
#[derive(Args, Debug, Default)]
struct IgnoredFlags {
    /// Accepted and ignored: etcd-sim does not compact by itself.
    #[arg(long)]
    auto_compaction_mode: Option<String>,
    /// Accepted and ignored: etcd-sim does not compact by itself.
    #[arg(long)]
    auto_compaction_retention: Option<String>,
    /// Accepted and ignored: etcd-sim logs to stderr only.
    #[arg(long)]
    logger: Option<String>,
    /// Accepted and ignored: etcd-sim logs to stderr only.
    #[arg(long)]
    log_level: Option<String>,
    /// Accepted and ignored: etcd-sim logs to stderr only.
    #[arg(long)]
    log_outputs: Option<String>,
    /// Accepted and ignored: etcd-sim serves the v3 API only.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    enable_v2: Option<String>,
    /// Accepted and ignored: etcd-sim serves gRPC only, no JSON gateway.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    enable_grpc_gateway: Option<String>,
    /// Accepted and ignored: etcd-sim keeps one WAL file.
    #[arg(long)]
    max_wals: Option<String>,
    /// Accepted and ignored.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    debug: Option<String>,
    /// Accepted and ignored.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    enable_pprof: Option<String>,
    /// Accepted and ignored: no authentication.
    #[arg(long)]
    auth_token: Option<String>,
    /// Accepted and ignored.
    #[arg(long)]
    cors: Option<String>,
    /// Accepted and ignored.
    #[arg(long)]
    grpc_keepalive_min_time: Option<String>,
    /// Accepted and ignored.
    #[arg(long)]
    grpc_keepalive_interval: Option<String>,
    /// Accepted and ignored.
    #[arg(long)]
    grpc_keepalive_timeout: Option<String>,
}

impl IgnoredFlags {
    /// The ignored flags given, as `--name=value`.
    #[cfg_attr(madsim, allow(dead_code))] // `serve` runs in the real build only
    fn given(&self) -> Vec<String> {
        [
            ("auto-compaction-mode", &self.auto_compaction_mode),
            ("auto-compaction-retention", &self.auto_compaction_retention),
            ("logger", &self.logger),
            ("log-level", &self.log_level),
            ("log-outputs", &self.log_outputs),
            ("enable-v2", &self.enable_v2),
            ("enable-grpc-gateway", &self.enable_grpc_gateway),
            ("max-wals", &self.max_wals),
            ("debug", &self.debug),
            ("enable-pprof", &self.enable_pprof),
            ("auth-token", &self.auth_token),
            ("cors", &self.cors),
            ("grpc-keepalive-min-time", &self.grpc_keepalive_min_time),
            ("grpc-keepalive-interval", &self.grpc_keepalive_interval),
            ("grpc-keepalive-timeout", &self.grpc_keepalive_timeout),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| format!("--{name}={v}")))
        .collect()
    }
}

/// Raft timing from etcd's millisecond flags, checked as etcd checks them:
/// (tick, election timeout in ticks).
#[cfg_attr(madsim, allow(dead_code))]
fn raft_timing(heartbeat_ms: u64, election_ms: u64) -> Result<(u64, usize), String> {
    if heartbeat_ms == 0 {
        return Err("--heartbeat-interval must be above 0".into());
    }
    if election_ms < 5 * heartbeat_ms {
        return Err(format!(
            "--election-timeout[{election_ms}ms] should be at least as 5 times as --heartbeat-interval[{heartbeat_ms}ms]"
        ));
    }
    if election_ms > 50_000 {
        return Err(format!(
            "--election-timeout[{election_ms}ms] is too long, and should be set less than 50 seconds"
        ));
    }
    Ok((heartbeat_ms, (election_ms / heartbeat_ms) as usize))
}

/// Serves until killed; returns only on a startup or listener error.
pub fn run(args: ServeArgs) -> u8 {
    #[cfg(madsim)]
    {
        let _ = args;
        eprintln!(
            "error: this binary is the simulation build; `serve` needs the real build: \
             RUSTFLAGS= CARGO_TARGET_DIR=target/real cargo build --release"
        );
        EXIT_USAGE
    }
    #[cfg(not(madsim))]
    {
        real::serve(args)
    }
}

#[cfg(not(madsim))]
mod real {
    use std::sync::Arc;

    use etcd_sim::server::config::{parse_initial_cluster, parse_url};
    use etcd_sim::server::ServerConfig;
    use etcd_sim::storage::RealDisk;

    use super::super::EXIT_VIOLATION;
    use super::*;

    pub fn serve(args: ServeArgs) -> u8 {
        let config = match config(&args) {
            Ok(config) => config,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        };
        let disk = match RealDisk::open(&args.data_dir) {
            Ok(disk) => Arc::new(disk),
            Err(e) => {
                eprintln!(
                    "error: cannot open --data-dir {}: {e}",
                    args.data_dir.display()
                );
                return EXIT_USAGE;
            }
        };
        let ignored = args.ignored.given();
        if !ignored.is_empty() {
            eprintln!(
                "etcd-sim: accepted and ignored (not implemented): {}",
                ignored.join(" ")
            );
        }
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        let (name, advertised) = (args.name.clone(), args.advertise_client_urls.clone());
        let (listen_client, listen_peer) = (config.listen_client, config.listen_peer);
        let announce = move |identity: &etcd_sim::server::Identity| {
            eprintln!(
                "etcd-sim {} member {name} ({:x}, cluster {:x}) serving clients on {listen_client} (advertised {advertised}) and peers on {listen_peer}",
                etcd_sim::BUILD_MODE,
                identity.member_id,
                identity.cluster_id,
            )
        };
        // The member's own log lines (WAL recovery, a torn WAL tail cut,
        // raft role changes) go to stderr, as etcd logs its own.
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .init();
        fail_stop_on_panic();
        let serving = etcd_sim::server::run_and_announce(config, disk, announce);
        match runtime.block_on(serving) {
            Ok(()) => 0,
            // etcd logs it and exits cleanly: the member did what it was told.
            Err(e @ etcd_sim::server::ServeError::Removed) => {
                eprintln!("{e}");
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_VIOLATION
            }
        }
    }

    /// A member that cannot go on (a full disk, a WAL it cannot write, a
    /// broken invariant) stops at once with one line that says why, as
    /// etcd's fatal log does, rather than a panic's report and a member
    /// limping on without the task that died.
    fn fail_stop_on_panic() {
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("a panic without a message");
            let at = info
                .location()
                .map(|l| format!(" (at {}:{})", l.file(), l.line()))
                .unwrap_or_default();
            eprintln!("etcd-sim: fatal: {}{at}", message.replace('\n', "; "));
            std::process::exit(i32::from(EXIT_VIOLATION));
        }));
    }

    fn config(args: &ServeArgs) -> Result<ServerConfig, Box<dyn std::error::Error>> {
        let spec = args
            .initial_cluster
            .clone()
            .unwrap_or_else(|| format!("{}={}", args.name, args.initial_advertise_peer_urls));
        let cluster = parse_initial_cluster(&spec, &args.initial_cluster_token)?;
        let advertised = cluster
            .member(&args.name)
            .map(|m| m.peer_url.clone())
            .unwrap_or_default();
        if advertised != args.initial_advertise_peer_urls {
            return Err(format!(
                "--initial-advertise-peer-urls {} does not match {}'s entry in --initial-cluster ({advertised})",
                args.initial_advertise_peer_urls, args.name
            )
            .into());
        }
        let listen_client = parse_url(first(&args.listen_client_urls))?;
        let listen_peer = parse_url(first(&args.listen_peer_urls))?;
        let mut config = ServerConfig::new(&args.name, cluster, listen_client, listen_peer)?;
        config.initial_cluster_state = match args.initial_cluster_state {
            ClusterState::New => etcd_sim::server::ClusterState::New,
            ClusterState::Existing => etcd_sim::server::ClusterState::Existing,
        };
        config.strict_reconfig_check = args.strict_reconfig_check;
        config.advertise_client_urls = args
            .advertise_client_urls
            .split(',')
            .map(str::to_string)
            .collect();
        config.max_txn_ops = args.max_txn_ops;
        config.max_request_bytes = args.max_request_bytes;
        config.pre_vote = args.pre_vote;
        config.quota_backend_bytes = args.quota_backend_bytes;
        let (tick_ms, election_ticks) =
            raft_timing(args.heartbeat_interval, args.election_timeout)?;
        config.tick = std::time::Duration::from_millis(tick_ms);
        // etcd randomises each election timeout in [timeout, 2 x timeout).
        config.election_ticks = (election_ticks, 2 * election_ticks);
        config.snapshot_count = args.snapshot_count;
        config.max_snapshots = match args.max_snapshots {
            0 => usize::MAX,
            max => max,
        };
        config.listen_metrics = args
            .listen_metrics_urls
            .split(',')
            .filter(|url| !url.is_empty())
            .map(parse_url)
            .collect::<Result<_, _>>()?;
        Ok(config)
    }

    fn first(urls: &str) -> &str {
        urls.split(',').next().unwrap_or(urls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raft_timing_follows_etcds_flags_and_checks() {
        assert_eq!(raft_timing(100, 1000), Ok((100, 10)));
        assert_eq!(raft_timing(50, 500), Ok((50, 10)));
        assert!(raft_timing(100, 400)
            .unwrap_err()
            .contains("at least as 5 times"));
        assert!(raft_timing(100, 60_000)
            .unwrap_err()
            .contains("less than 50 seconds"));
        assert!(raft_timing(0, 1000).is_err());
    }
}
