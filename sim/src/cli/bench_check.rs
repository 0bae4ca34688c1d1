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
    /// undecided, which disagrees with every expected verdict).
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
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
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
    if report.disagreements().is_empty() {
        EXIT_OK
    } else {
        EXIT_VIOLATION
    }
}
