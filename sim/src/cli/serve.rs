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
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        let announce = format!(
            "etcd-sim {} member {} serving clients on {} (advertised {}) and peers on {}",
            etcd_sim::BUILD_MODE,
            args.name,
            config.listen_client,
            args.advertise_client_urls,
            config.listen_peer
        );
        // The member's own log lines (WAL recovery, a torn WAL tail cut,
        // raft role changes) go to stderr, as etcd logs its own.
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .init();
        let serving = etcd_sim::server::run_and_announce(config, disk, || eprintln!("{announce}"));
        match runtime.block_on(serving) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_VIOLATION
            }
        }
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
        config.advertise_client_urls = args
            .advertise_client_urls
            .split(',')
            .map(str::to_string)
            .collect();
        config.max_txn_ops = args.max_txn_ops;
        config.max_request_bytes = args.max_request_bytes;
        config.pre_vote = args.pre_vote;
        config.quota_backend_bytes = args.quota_backend_bytes;
        Ok(config)
    }

    fn first(urls: &str) -> &str {
        urls.split(',').next().unwrap_or(urls)
    }
}
