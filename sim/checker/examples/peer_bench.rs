//! Times the checker on porcupine's peer data: per file and total, fastest
//! of N runs, then prints the process's peak resident memory.
//! `cargo run --release -p etcd-sim-checker --example peer_bench -- [RUNS]`
use std::path::PathBuf;
use std::time::Duration;

use etcd_sim_checker::bench::peer_bench;

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peer-data/porcupine");
    let report = peer_bench(&dir, runs, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    print!("{report}");
    if let Some(peak) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM")).map(String::from))
    {
        println!(
            "peak resident memory: {}",
            peak.trim_start_matches("VmHWM:").trim()
        );
    }
    let wrong = report.disagreements();
    assert!(wrong.is_empty(), "{} verdicts disagree", wrong.len());
}
