//! Times the checker on porcupine's peer data: per file and total, fastest
//! of N runs. `cargo run --release -p etcd-sim-checker --example peer_bench -- [RUNS]`
//! (the CLI's `etcd-sim bench check` does the same).
use std::path::PathBuf;
use std::time::Duration;

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peer-data/porcupine");
    let report = etcd_sim_checker::bench::peer_bench(&dir, runs, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    print!("{report}");
    if let Some(kib) = etcd_sim_checker::bench::peak_rss_kib() {
        println!("peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
}
