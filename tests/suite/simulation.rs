//! Seeded simulation tests of the whole stack.
//!
//! Seeds come from madsim: `MADSIM_TEST_SEED` (default: the current time,
//! printed on failure) and `MADSIM_TEST_NUM` consecutive seeds from it.
#![cfg(madsim)]

use etcd_sim_checker::{check_kv, CheckOptions, Outcome, Verdict};
use etcd_sim_harness::faults::{FaultKind, FaultSet};
use etcd_sim_harness::{simulate, RunConfig};

#[madsim::test]
async fn three_members_stay_linearizable_through_a_leader_kill() {
    let seed = madsim::runtime::Handle::current().seed();
    let config = RunConfig {
        faults: FaultSet::of([FaultKind::KillLeader]),
        ..RunConfig::new(seed)
    };
    let (history, trace, _) = simulate(config.clone()).await;

    let expected = config.clients * config.workload.ops_per_client;
    assert!(
        history.operations.len() >= expected + config.workload.keys,
        "every operation is recorded, and a final read of every key"
    );
    let ok = history
        .operations
        .iter()
        .filter(|op| matches!(op.outcome, Outcome::Ok(_)))
        .count();
    assert!(
        ok * 2 >= expected,
        "seed {seed}: only {ok} of {expected} operations succeeded; the cluster did not serve\n{}",
        trace.lines().join("\n")
    );
    assert!(
        history.faults.iter().any(|f| f.name == "kill-leader"),
        "seed {seed}: the leader was never killed"
    );
    let report = check_kv(&history, &CheckOptions::default());
    assert!(
        matches!(report.verdict, Verdict::Linearizable),
        "seed {seed}: {report}"
    );
}
