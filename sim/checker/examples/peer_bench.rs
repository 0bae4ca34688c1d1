//! Times the checker on porcupine's peer data: per file and total, fastest
//! of N runs, then prints the process's peak resident memory.
//! `cargo run --release -p etcd-sim-checker --example peer_bench -- [RUNS]`
use std::path::PathBuf;
use std::time::Duration;

use etcd_sim_checker::bench::{peak_rss_kib, peer_bench, PORCUPINE_DATA};

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let dir = PathBuf::from(PORCUPINE_DATA);
    let report = peer_bench(&dir, runs, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    print!("{report}");
    if let Some(kib) = peak_rss_kib() {
        println!("peak resident memory: {kib} kB");
    }
    let wrong = report.disagreements();
    assert!(wrong.is_empty(), "{} verdicts disagree", wrong.len());
}
