//! Every regression file in `tests/regressions/` replays with the verdict
//! it records: failing runs found by campaigns (`etcd-sim run
//! --save-failures DIR`), shrunk, kept for good. A file recorded with a
//! bug switched on must still be caught the same way; one whose bug is
//! fixed expects `linearizable`.
#![cfg(madsim)]

use std::path::PathBuf;

use etcd_sim_harness::campaign::regression::Regression;
use etcd_sim_harness::{run_seed, RunConfig};

fn files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_regression_replays_with_its_recorded_verdict() {
    let files = files();
    assert!(!files.is_empty(), "no regression files");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let regression =
            Regression::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let config = RunConfig::from_schedule(&regression.schedule)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let verdict = run_seed(&config).verdict();
        assert_eq!(
            verdict.class(),
            regression.expect,
            "{} ({}) replays as {verdict:?}; replay: etcd-sim reproduce --schedule {}",
            path.display(),
            regression.found,
            path.display()
        );
    }
}
