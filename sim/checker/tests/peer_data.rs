//! The checker against histories nobody here wrote: porcupine's test data
//! (Jepsen etcd logs and kv logs) with the verdicts porcupine's own tests
//! expect. The data is vendored in `tests/data/porcupine` (MIT, with
//! porcupine's licence and the source commit in its `FORMAT.md`).

use std::path::PathBuf;

use etcd_sim_checker::bench::{
    check_peer_text, expectations, Expectation, PeerModel, PORCUPINE_DATA,
};
use etcd_sim_checker::porcupine::{read_jepsen_etcd, Register};
use etcd_sim_checker::search::{search, Search};

fn peer_data() -> PathBuf {
    PathBuf::from(PORCUPINE_DATA)
}

fn expected() -> Vec<Expectation> {
    expectations(&peer_data()).unwrap()
}

/// The verdict on one file; no deadline, so the search must decide.
fn linearizable(row: &Expectation, split: bool) -> bool {
    let text = std::fs::read_to_string(peer_data().join(&row.path)).unwrap();
    match check_peer_text(row.model, &text, split, None).unwrap() {
        Search::Linearizable => true,
        Search::NotLinearizable { .. } => false,
        other => panic!(
            "{}: no deadline or budget was given, got {other:?}",
            row.path
        ),
    }
}

#[test]
fn agrees_with_every_verdict_of_porcupines_tests() {
    let rows = expected();
    assert_eq!(rows.len(), 108);
    let disagreements: Vec<&str> = rows
        .iter()
        .filter(|row| linearizable(row, true) != row.linearizable)
        .map(|row| row.path.as_str())
        .collect();
    assert!(
        disagreements.is_empty(),
        "verdicts differ on {disagreements:?}"
    );
}

#[test]
fn an_empty_log_is_linearizable() {
    let text = std::fs::read_to_string(peer_data().join("jepsen/etcd_095.log")).unwrap();
    let ops = read_jepsen_etcd(&text).unwrap();
    assert!(ops.is_empty());
    assert_eq!(search(&Register, &ops, None), Search::Linearizable);
}

/// Without partitioning by key porcupine cannot finish the 50-client logs
/// in 30 s; one search over the whole map, with the keys as independent
/// parts of its state, must give every kv log its verdict.
#[test]
fn every_kv_log_agrees_without_partitioning() {
    for row in expected().iter().filter(|r| r.model == PeerModel::Kv) {
        assert_eq!(linearizable(row, false), row.linearizable, "{}", row.path);
    }
}
