//! `etcd-sim bench load`: etcd's `benchmark` for any etcd endpoint, or for a
//! simulated cluster.
//!
//! The real build drives real endpoints (`--endpoints`), so the same command
//! measures etcd 3.4 and etcd-sim side by side. The simulation build drives
//! a fresh simulated cluster (`--sim`): its latencies are simulated time, and
//! the wall time it took says what one simulated second costs.

use std::io::IsTerminal;
use std::time::Instant;

use etcd_sim_harness::load::{drive, LoadOp, LoadSpec};

use super::{EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};

/// `etcd-sim bench load`.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// Client URLs, comma-separated (real build), e.g.
    /// 127.0.0.1:2379,127.0.0.1:22379.
    #[arg(long, value_delimiter = ',')]
    pub endpoints: Vec<String>,
    /// Start a simulated cluster of `--members` and load it (simulation build).
    #[arg(long)]
    pub sim: bool,
    /// Members of the simulated cluster.
    #[arg(long, default_value_t = 3)]
    pub members: usize,
    /// Seed of the simulated cluster.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The request: put, range or txn-put.
    #[arg(long, default_value = "put")]
    pub op: LoadOp,
    /// Concurrent clients, each with one request in flight.
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// Connections the clients share.
    #[arg(long, default_value_t = 1)]
    pub conns: usize,
    /// Bytes per key (at least 8).
    #[arg(long, default_value_t = 8)]
    pub key_size: usize,
    /// Bytes per value.
    #[arg(long, default_value_t = 8)]
    pub val_size: usize,
    /// Requests in all.
    #[arg(long, default_value_t = 10_000)]
    pub total: u64,
    /// Distinct keys; request i uses key i mod this.
    #[arg(long, default_value_t = 1)]
    pub key_space: u64,
    /// Serve ranges without a read barrier.
    #[arg(long)]
    pub serializable: bool,
}

impl LoadArgs {
    fn spec(&self) -> LoadSpec {
        LoadSpec {
            op: self.op,
            clients: self.clients,
            conns: self.conns,
            key_size: self.key_size,
            val_size: self.val_size,
            total: self.total,
            key_space: self.key_space,
            serializable: self.serializable,
        }
    }
}

/// Runs the load and prints etcd `benchmark`'s summary. Exit 1 if no request
/// succeeded, 2 on bad usage.
pub fn run(args: &LoadArgs) -> u8 {
    let spec = args.spec();
    if let Err(e) = spec.validate() {
        eprintln!("error: {e}");
        return EXIT_USAGE;
    }
    let wall = Instant::now();
    let report = match target(args) {
        Ok(target) => target.load(&spec),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_VIOLATION;
        }
    };
    println!(
        "bench load: {} x {}, {} clients over {} connections, key {} B, value {} B, {} keys",
        spec.total, spec.op, spec.clients, spec.conns, spec.key_size, spec.val_size, spec.key_space
    );
    if args.sim {
        println!(
            "simulated {}-member cluster, seed {}: latencies are simulated time; wall {:.2} s",
            args.members,
            args.seed,
            wall.elapsed().as_secs_f64()
        );
    }
    print!("{report}");
    if report.latencies.is_empty() {
        eprintln!("error: no request succeeded");
        return EXIT_VIOLATION;
    }
    EXIT_OK
}

/// Where the load goes.
enum Target {
    Endpoints(Vec<String>),
    #[cfg_attr(not(madsim), allow(dead_code))]
    Simulated {
        members: usize,
        seed: u64,
    },
}

fn target(args: &LoadArgs) -> Result<Target, String> {
    match (args.sim, args.endpoints.is_empty()) {
        (true, false) => Err("give --endpoints or --sim, not both".into()),
        (false, true) => Err("give --endpoints (real build) or --sim (simulation build)".into()),
        (false, false) if cfg!(madsim) => Err(
            "this binary is the simulation build: its network is simulated and cannot reach \
             --endpoints; use the real build, or --sim"
                .into(),
        ),
        (false, false) => Ok(Target::Endpoints(args.endpoints.clone())),
        (true, true) if !cfg!(madsim) => Err(
            "--sim needs the simulation build (`cargo build --release` with the repository's \
             .cargo/config.toml)"
                .into(),
        ),
        (true, true) if args.members == 0 => Err("--members must be at least 1".into()),
        (true, true) => Ok(Target::Simulated {
            members: args.members,
            seed: args.seed,
        }),
    }
}

impl Target {
    fn load(self, spec: &LoadSpec) -> Result<etcd_sim_harness::load::LoadReport, String> {
        let total = spec.total;
        let progress = move |done: u64| {
            if std::io::stderr().is_terminal() {
                eprint!("\r{done}/{total} requests answered");
            }
        };
        let report = match self {
            Target::Endpoints(endpoints) => {
                let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
                runtime.block_on(drive(&endpoints, spec, progress))
            }
            Target::Simulated { members, seed } => simulated(members, seed, spec, progress),
        };
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
        report
    }
}

#[cfg(madsim)]
fn simulated(
    members: usize,
    seed: u64,
    spec: &LoadSpec,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> Result<etcd_sim_harness::load::LoadReport, String> {
    use etcd_sim_harness::cluster::{operator_node, SimCluster};
    let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let spec = spec.clone();
    runtime.block_on(async move {
        let cluster = SimCluster::start(members, |_| {});
        let endpoints = cluster.endpoints();
        operator_node()
            .spawn(async move {
                cluster.settle().await;
                drive(&endpoints, &spec, progress).await
            })
            .await
            .map_err(|e| format!("the load task failed: {e}"))?
    })
}

#[cfg(not(madsim))]
fn simulated(
    _: usize,
    _: u64,
    _: &LoadSpec,
    _: impl Fn(u64) + Send + Sync + 'static,
) -> Result<etcd_sim_harness::load::LoadReport, String> {
    unreachable!("target() refuses --sim in the real build")
}
