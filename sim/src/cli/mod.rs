//! The command line. Each subcommand lives in its own module.

#[cfg(madsim)]
mod bench;
mod bench_check;
#[cfg(madsim)]
mod bench_detection;
mod bench_load;
mod bench_mvcc;
mod check;
mod serve;
#[cfg(madsim)]
mod simulate;
#[cfg(test)]
mod workflow;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code: everything checked is linearizable.
pub const EXIT_OK: u8 = 0;
/// Exit code: a violation was found.
pub const EXIT_VIOLATION: u8 = 1;
/// Exit code: bad usage (clap uses it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the checker gave up (time or memory bound): undecided.
pub const EXIT_UNDECIDED: u8 = 3;
/// Exit code: `--require-coverage` found a required path never reached.
#[cfg(madsim)]
pub const EXIT_UNCOVERED: u8 = 4;

#[derive(Parser)]
#[command(
    name = "etcd-sim",
    version,
    about = "Deterministic simulation testing for an etcd-3.4-style store",
    long_version = concat!(env!("CARGO_PKG_VERSION"), " (", "build: see `etcd-sim mode`", ")"),
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the size of `serve`'s many etcd flags costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a campaign: one simulated cluster per seed, each history checked.
    Run(simulate_args::RunArgs),
    /// Replay one seed and print its trace hash.
    Reproduce(simulate_args::ReproduceArgs),
    /// Join the JSON reports of several shards (`run --json`) into one
    /// summary, and write the campaign's page if asked.
    Merge(simulate_args::MergeArgs),
    /// Benchmarks, each against a baseline measured in the same run.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The same as `bench check`.
    BenchCheck(bench_check::CheckBenchArgs),
    /// Check a history file for linearizability.
    Check(check::CheckArgs),
    /// Serve a real member over TCP (real build only).
    Serve(serve::ServeArgs),
    /// List the injectable bugs.
    Bugs,
    /// List the crash points.
    CrashPoints,
    /// List the perturbation sites the swarm switches on.
    Perturbations,
    /// Print which runtime this binary was built for.
    Mode,
}

/// `etcd-sim bench ...`.
#[derive(Subcommand)]
enum BenchCommand {
    /// Seeds per minute and simulated/wall time of the default campaign,
    /// against the same seeds without faults.
    #[cfg(madsim)]
    Campaign(bench::CampaignArgs),
    /// Seeds to the first failure of every catalog bug (median over ten
    /// ranges of 100), gated against a baseline with `--baseline`.
    #[cfg(madsim)]
    Detection(bench_detection::DetectionArgs),
    /// Single-thread put and range throughput of the MVCC store, against a
    /// plain BTreeMap.
    Mvcc(bench_mvcc::MvccArgs),
    /// The linearizability checker on porcupine's peer data, per file and
    /// total, fastest of N runs, with peak memory.
    Check(bench_check::CheckBenchArgs),
    /// etcd's `benchmark`: put, range or txn-put load against etcd
    /// endpoints (real build) or a simulated cluster (`--sim`), with a
    /// latency histogram and percentiles.
    Load(bench_load::LoadArgs),
}

/// Arguments of the simulation commands; parsed in both builds so that the
/// real build can say clearly why it cannot run them.
mod simulate_args {
    use std::ops::Range;

    use clap::Args;

    /// `etcd-sim run`.
    #[derive(Args, Debug, Clone)]
    pub struct RunArgs {
        /// Seeds to run, as A..B (B excluded).
        #[arg(long, value_parser = parse_seed_range)]
        pub seeds: Range<u64>,
        #[command(flatten)]
        pub shape: ShapeArgs,
        /// Seeds run in parallel (each seed stays deterministic).
        #[arg(long, default_value_t = 1)]
        pub jobs: usize,
        /// Run only every N-th seed, starting at the K-th (0-based), so N
        /// machines split one range: K/N.
        #[arg(long, value_parser = parse_shard, default_value = "0/1")]
        pub shard: (u64, u64),
        /// Run every seed twice and fail if the two traces differ.
        #[arg(long)]
        pub check_determinism: bool,
        /// Write the campaign's results as JSON here (see `etcd-sim merge`).
        #[arg(long)]
        pub json: Option<std::path::PathBuf>,
        /// Write the campaign's page here: verdicts, failing seeds with
        /// links to `reports/seed-N.html`, faults, availability, coverage.
        #[arg(long)]
        pub html_summary: Option<std::path::PathBuf>,
        /// Shrink every failing seed and write it here as a regression file
        /// (`seed-N[-BUG...].json`: the schedule and the verdict it gave), for
        /// `tests/regressions/` to replay with `cargo test`.
        #[arg(long)]
        pub save_failures: Option<std::path::PathBuf>,
        /// The most runs shrinking one failing seed may spend (with
        /// --save-failures).
        #[arg(long, default_value_t = 100, requires = "save_failures")]
        pub shrink_runs: usize,
        /// Fail (exit 4) if the campaign left a required rare path, crash
        /// point or fault kind unreached (see docs/campaigns.md, "Coverage").
        #[arg(long)]
        pub require_coverage: bool,
    }

    /// `etcd-sim merge`.
    #[derive(clap::Args, Debug)]
    pub struct MergeArgs {
        /// The reports (`run --json`).
        #[arg(required = true)]
        pub reports: Vec<std::path::PathBuf>,
        /// Write the merged campaign's page here.
        #[arg(long)]
        pub html: Option<std::path::PathBuf>,
        /// An earlier campaign's report, for the page's trend columns.
        #[arg(long, requires = "html")]
        pub previous: Option<std::path::PathBuf>,
        /// Where the page links a failing seed's report, as
        /// `DIR/seed-N.html` (relative to the page).
        #[arg(long = "reports", value_name = "DIR", default_value = "reports")]
        pub reports_dir: String,
    }

    /// `etcd-sim reproduce`.
    #[derive(Args, Debug, Clone)]
    pub struct ReproduceArgs {
        /// The seed to replay.
        #[arg(
            long,
            required_unless_present = "schedule",
            conflicts_with = "schedule"
        )]
        pub seed: Option<u64>,
        #[command(flatten)]
        pub shape: ShapeArgs,
        /// Replay a schedule file (written by `--shrink`, or a regression
        /// file of `run --save-failures`) instead of a seed and shape.
        #[arg(long)]
        pub schedule: Option<std::path::PathBuf>,
        /// Shrink the failing run (fewer clients, operations, keys, faults)
        /// while it still fails, write it as a schedule file, and replay it.
        #[arg(long)]
        pub shrink: bool,
        /// Where `--shrink` writes the schedule [default:
        /// seed-N.schedule.json].
        #[arg(long, requires = "shrink")]
        pub out: Option<std::path::PathBuf>,
        /// The most runs `--shrink` may spend.
        #[arg(long, default_value_t = 400, requires = "shrink")]
        pub shrink_runs: usize,
        /// Write the full event trace here (`-`: print it as it happens).
        #[arg(long)]
        pub trace: Option<std::path::PathBuf>,
        /// Write the history (native JSON lines) here.
        #[arg(long)]
        pub history: Option<std::path::PathBuf>,
        /// Write an HTML view of the history and the failure here.
        #[arg(long)]
        pub html: Option<std::path::PathBuf>,
    }

    /// What a simulated run looks like besides its seed; what is not given
    /// comes from the seed's swarm draw (or, with `--shape fixed`, from
    /// today's fixed shape: 3 members, 5 clients, 30 operations each,
    /// every fault).
    #[derive(Args, Debug, Clone)]
    pub struct ShapeArgs {
        /// `swarm`: each seed draws its own cluster size, load, fault kinds
        /// and rates, ticks, disk and network (see docs/campaigns.md); `fixed`: every
        /// seed has the same shape, as campaigns had before the swarm.
        #[arg(long, value_enum, default_value_t = ShapeKind::Swarm)]
        pub shape: ShapeKind,
        /// Cluster size [default: drawn, or 3 with --shape fixed].
        #[arg(long)]
        pub nodes: Option<usize>,
        /// Concurrent clients [default: drawn, or 5].
        #[arg(long)]
        pub clients: Option<usize>,
        /// Operations per client [default: drawn, or 30; with --duration,
        /// no limit].
        #[arg(long)]
        pub ops: Option<usize>,
        /// Simulated seconds the clients keep issuing operations for (a
        /// long-haul run: `--duration 600`); --ops, if given, still caps
        /// each client [default: until each client has issued its --ops].
        #[arg(long, value_parser = parse_duration)]
        pub duration: Option<std::time::Duration>,
        /// How often the etcd traffic takes each kind of turn, as
        /// `kind=weight,...` (kinds not named: never; `--mix x=1` lists the kinds)
        /// [default: drawn, or etcd robustness's mix with --shape fixed].
        #[arg(long, value_parser = parse_mix)]
        pub mix: Option<etcd_sim_harness::shape::op_mix::OpMix>,
        /// Lease clients beside the KV clients; 0 switches the lease
        /// check off [default: 1].
        #[arg(long)]
        pub lease_clients: Option<usize>,
        /// Faults the nemesis draws from: `all`, `none`, or names separated
        /// by commas (kill-leader, kill, kill-all, pause, partition,
        /// isolate-leader, bridge, one-way-clog, packet-loss, latency,
        /// crash-point, slow-fsync, clock-skew, pause-leader, transfer-leader,
        /// member-replace) [default: drawn, or all with --shape fixed].
        #[arg(long)]
        pub faults: Option<etcd_sim_harness::faults::FaultSet>,
        /// Switch on an injectable bug (repeatable; see `etcd-sim bugs`).
        #[arg(long = "bug")]
        pub bugs: Vec<etcd_sim::bugs::Bug>,
        /// Run raft without pre-vote.
        #[arg(long)]
        pub no_pre_vote: bool,
        /// Run raft without check-quorum.
        #[arg(long)]
        pub no_check_quorum: bool,
        /// Watcher clients whose events the watch check judges [default: 2].
        #[arg(long)]
        pub watchers: Option<u32>,
        /// Skip the liveness phase: settle 3 s after the heal instead, as
        /// campaigns did before it (for comparisons; a stuck cluster passes).
        #[arg(long)]
        pub no_liveness: bool,
        /// The KV clients' traffic: `etcd` (the whole KV API), `kubernetes`
        /// (lists, guarded creates, updates and deletes, as
        /// kube-apiserver), or `mixed` (both, odd clients Kubernetes)
        /// [default: mixed].
        #[arg(long)]
        pub traffic: Option<etcd_sim_harness::shape::traffic::Traffic>,
    }

    /// How a seed's shape is chosen.
    #[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ShapeKind {
        /// Each seed draws its own.
        Swarm,
        /// Every seed the same.
        Fixed,
    }

    fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
        let seconds: u64 = s
            .parse()
            .map_err(|_| format!("expected whole seconds, got {s:?}"))?;
        if seconds == 0 {
            return Err("the duration must be at least 1 second".to_string());
        }
        Ok(std::time::Duration::from_secs(seconds))
    }

    fn parse_mix(s: &str) -> Result<etcd_sim_harness::shape::op_mix::OpMix, String> {
        s.parse()
    }

    fn parse_shard(s: &str) -> Result<(u64, u64), String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("expected K/N, got {s:?}"))?;
        let k: u64 = k.parse().map_err(|_| format!("bad shard index {k:?}"))?;
        let n: u64 = n.parse().map_err(|_| format!("bad shard count {n:?}"))?;
        if n == 0 || k >= n {
            return Err(format!("shard {s:?}: need 0 <= K < N"));
        }
        Ok((k, n))
    }

    fn parse_seed_range(s: &str) -> Result<Range<u64>, String> {
        let (a, b) = s
            .split_once("..")
            .ok_or_else(|| format!("expected A..B, got {s:?}"))?;
        let a: u64 = a.parse().map_err(|_| format!("bad seed {a:?}"))?;
        let b: u64 = b.parse().map_err(|_| format!("bad seed {b:?}"))?;
        if a >= b {
            return Err(format!("empty seed range {s:?}"));
        }
        Ok(a..b)
    }
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        die_quietly_on_closed_pipe();
    }
    let code = match cli.command {
        Command::Bugs => {
            for bug in etcd_sim::bugs::Bug::ALL {
                println!(
                    "{:<22} breaks {}\n{:<22} models {}",
                    bug.name(),
                    bug.breaks(),
                    "",
                    bug.models()
                );
                if let Some(issue) = bug.issue() {
                    println!("{:<22} see {issue}", "");
                }
            }
            EXIT_OK
        }
        Command::Perturbations => {
            for p in etcd_sim::perturb::Perturbation::ALL {
                println!("{:<24} {}", p.name(), p.does());
            }
            EXIT_OK
        }
        Command::CrashPoints => {
            for point in etcd_sim::crash::CrashPoint::ALL {
                println!("{:<26} {}", point.name(), point.place());
            }
            EXIT_OK
        }
        Command::Mode => {
            println!("{}", etcd_sim::BUILD_MODE);
            EXIT_OK
        }
        Command::Check(args) => check::run(args),
        Command::Serve(args) => serve::run(args),
        #[cfg(madsim)]
        Command::Run(args) => simulate::run(args),
        #[cfg(madsim)]
        Command::Reproduce(args) => simulate::reproduce(args),
        #[cfg(madsim)]
        Command::Merge(args) => simulate::merge(&args),
        #[cfg(madsim)]
        Command::Bench(BenchCommand::Campaign(args)) => bench::run(&args),
        #[cfg(madsim)]
        Command::Bench(BenchCommand::Detection(args)) => bench_detection::run(&args),
        Command::Bench(BenchCommand::Mvcc(args)) => bench_mvcc::run(&args),
        Command::Bench(BenchCommand::Load(args)) => bench_load::run(&args),
        Command::Bench(BenchCommand::Check(args)) | Command::BenchCheck(args) => {
            bench_check::run(&args)
        }
        #[cfg(not(madsim))]
        Command::Run(_) | Command::Reproduce(_) | Command::Merge(_) => {
            eprintln!(
                "error: this binary is the real build; `run`, `reproduce` and `merge` need the \
                 simulation build (`cargo build --release` with the repository's \
                 .cargo/config.toml, and no RUSTFLAGS exported)"
            );
            EXIT_USAGE
        }
    };
    ExitCode::from(code)
}

/// Rust ignores SIGPIPE, so printing to a closed pipe (`etcd-sim check F |
/// head -1`) fails and `println!` panics. A command-line tool should end
/// quietly instead, as `cat` does: restore the default action. Not for
/// `serve`, whose sockets must not kill the member when a peer hangs up.
fn die_quietly_on_closed_pipe() {
    // SAFETY: setting a signal's disposition to its default has no
    // preconditions; no handler of ours is replaced.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
