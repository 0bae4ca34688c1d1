//! Times the checker on porcupine's peer data: per file and total, fastest
//! of N runs. `cargo run --release -p etcd-sim-checker --example peer_bench -- [RUNS]`
use std::path::PathBuf;
use std::time::{Duration, Instant};

use etcd_sim_checker::porcupine::{check_kv_log, read_jepsen_etcd, read_kv, Register};
use etcd_sim_checker::search::search;

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peer-data/porcupine");
    let expected = std::fs::read_to_string(dir.join("EXPECTED.tsv")).expect("peer data");
    let mut totals = [Duration::ZERO; 2];
    for line in expected.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let text = std::fs::read_to_string(dir.join(cols[0])).unwrap();
        let mut best = Duration::MAX;
        let mut verdict = String::new();
        for _ in 0..runs {
            let start = Instant::now();
            let deadline = Some(start + Duration::from_secs(10));
            let result = if cols[1] == "etcd" {
                search(&Register, &read_jepsen_etcd(&text).unwrap(), deadline)
            } else {
                let (keys, ops) = read_kv(&text).unwrap();
                check_kv_log(&keys, ops, true, deadline)
            };
            best = best.min(start.elapsed());
            verdict = format!("{result:?}");
        }
        totals[(cols[1] == "kv") as usize] += best;
        println!(
            "{:<24} {:>10.3} ms  expected {:<8} got {verdict}",
            cols[0],
            best.as_secs_f64() * 1e3,
            cols[2]
        );
    }
    println!(
        "total etcd {:.1} ms, kv {:.1} ms (fastest of {runs})",
        totals[0].as_secs_f64() * 1e3,
        totals[1].as_secs_f64() * 1e3
    );
}
