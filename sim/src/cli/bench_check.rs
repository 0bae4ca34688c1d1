//! `etcd-sim bench check` (also `bench-check`): the checker on porcupine's
//! peer data, per file and total, fastest of N runs, with peak memory.

use std::path::PathBuf;
use std::time::Duration;

use etcd_sim_checker::bench::{peak_rss_kib, peer_bench, PORCUPINE_DATA};

use super::{EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};

/// `etcd-sim bench check`.
#[derive(clap::Args, Debug, Clone)]
pub struct CheckBenchArgs {
    /// The folder with porcupine's logs and EXPECTED.tsv [default: the
    /// copy in this source tree, sim/checker/tests/data/porcupine].
    #[arg(long, default_value = PORCUPINE_DATA, hide_default_value = true)]
    pub dir: PathBuf,
    /// Check each file this many times and keep the fastest.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Give up on one check after this many seconds (it then counts as
    /// undecided, which disagrees with every expected verdict); ten times
    /// as long, and at least 120 s, for the long-haul history.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Also simulate the long-haul run of this seed (10 simulated minutes,
    /// some 50,000 puts, gets and deletes under every fault; see docs/checker.md)
    /// and time the check of its history and of its porcupine-kv export.
    #[arg(long)]
    pub long_haul: Option<u64>,
    /// With --long-haul: write the history's porcupine-kv export here, to
    /// time porcupine itself on the same file.
    #[arg(long, requires = "long_haul")]
    pub porcupine_out: Option<PathBuf>,
}

/// Runs the benchmark; exits 1 if any verdict disagrees.
pub fn run(args: &CheckBenchArgs) -> u8 {
    if args.runs == 0 || !args.timeout.is_finite() || args.timeout <= 0.0 {
        eprintln!("error: --runs and --timeout must be positive");
        return EXIT_USAGE;
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let report = match peer_bench(&args.dir, args.runs, timeout) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    print!("{report}");
    let mut agrees = report.disagreements().is_empty();
    if let Some(seed) = args.long_haul {
        match long_haul(seed, args) {
            Ok(linearizable) => agrees &= linearizable,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        }
    }
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
    if agrees {
        EXIT_OK
    } else {
        EXIT_VIOLATION
    }
}

/// Simulates the long-haul run of `seed` and prints the fastest of
/// `args.runs` checks of its history, native and as porcupine's kv log;
/// returns whether both found it linearizable (a clean run must be).
#[cfg(madsim)]
fn long_haul(seed: u64, args: &CheckBenchArgs) -> Result<bool, String> {
    use etcd_sim_checker::export::porcupine_kv;
    use etcd_sim_checker::porcupine::{check_kv_log, read_kv};
    use etcd_sim_checker::search::Search;
    use etcd_sim_checker::{check_kv, CheckOptions, Verdict};
    use etcd_sim_harness::{run_seed, RunConfig};
    use std::time::Instant;

    let started = Instant::now();
    let outcome = {
        let _quiet = etcd_sim_harness::stderr_filter::StderrFilter::install();
        run_seed(&RunConfig::long_haul(seed))
    };
    let history = &outcome.history;
    println!(
        "long haul  seed {seed}: {} operations in {:.0} s simulated, simulated and checked in {:.1} s",
        history.operations.len(),
        outcome.simulated.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let fastest = |check: &dyn Fn() -> bool| -> (Duration, bool) {
        (0..args.runs)
            .map(|_| {
                let t = Instant::now();
                let ok = check();
                (t.elapsed(), ok)
            })
            .min()
            .expect("at least one run")
    };
    // Ten times the bound of a peer-data file, and at least two minutes.
    let timeout = Duration::from_secs_f64((10.0 * args.timeout).max(120.0));
    let options = CheckOptions {
        timeout: Some(timeout),
        ..CheckOptions::default()
    };
    let (native, native_ok) =
        fastest(&|| check_kv(history, &options).verdict == Verdict::Linearizable);
    println!(
        "long haul  native history          {:>9.3} s  {}",
        native.as_secs_f64(),
        if native_ok {
            "linearizable"
        } else {
            "NOT decided linearizable"
        }
    );
    let log = porcupine_kv(history).map_err(|e| e.to_string())?;
    if let Some(out) = &args.porcupine_out {
        std::fs::write(out, &log).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let (exported, export_ok) = fastest(&|| {
        let deadline = Instant::now() + timeout;
        let (model, ops) = read_kv(&log).expect("an export reads back");
        matches!(
            check_kv_log(&model, &ops, true, Some(deadline)),
            Search::Linearizable
        )
    });
    println!(
        "long haul  porcupine-kv export     {:>9.3} s  {} ({} operations; parse included)",
        exported.as_secs_f64(),
        if export_ok {
            "linearizable"
        } else {
            "NOT decided linearizable"
        },
        log.lines().filter(|l| l.contains(":invoke")).count()
    );
    Ok(native_ok && export_ok)
}

/// The real build cannot simulate.
#[cfg(not(madsim))]
fn long_haul(_seed: u64, _args: &CheckBenchArgs) -> Result<bool, String> {
    Err("--long-haul simulates a run: use the simulation build (the default)".to_string())
}
