//! Acknowledged writes survive crashes: whole-cluster power loss, every
//! crash point, and — as proof that the disk model bites — not when fsync
//! is skipped.
//!
//! Each run ends with a final linearizable read of every key, so a lost
//! acknowledged write shows up as a linearizability violation.
#![cfg(madsim)]

use etcd_sim::bugs::{Bug, BugSet};
use etcd_sim::crash::CrashPoint;
use etcd_sim_harness::faults::{FaultKind, FaultSet};
use etcd_sim_harness::{run_seed, RunConfig, SeedVerdict};

fn power_loss(seed: u64) -> RunConfig {
    let mut config = RunConfig::new(seed);
    config.faults = FaultSet::of([FaultKind::KillAll]);
    config
}

#[test]
fn whole_cluster_power_loss_loses_no_acknowledged_write() {
    let (mut power_losses, mut quiet) = (0, 0);
    for seed in 0..200 {
        let outcome = run_seed(&power_loss(seed));
        power_losses += outcome.history.faults.len();
        // A seed of back-to-back power losses may get almost nothing
        // through (`quiet`): no write was lost, there was little to lose.
        let verdict = outcome.verdict();
        quiet += usize::from(matches!(verdict, SeedVerdict::Quiet(_)));
        assert!(
            verdict == SeedVerdict::Linearizable || matches!(verdict, SeedVerdict::Quiet(_)),
            "seed {seed}: {verdict:?} {}\nreproduce: etcd-sim reproduce --seed {seed} --faults kill-all",
            outcome.report
        );
    }
    assert!(
        power_losses >= 200,
        "only {power_losses} power losses in 200 runs"
    );
    assert!(
        quiet <= 10,
        "{quiet} of 200 seeds got almost nothing through"
    );
}

/// etcd issue #14370 in spirit: without fsync, a power loss forgets writes
/// that were acknowledged.
#[test]
fn skipping_fsync_loses_an_acknowledged_write_within_200_seeds() {
    let caught = (0..200).find(|&seed| {
        let mut config = power_loss(seed);
        config.bugs = BugSet::NONE.with(Bug::SkipFsync);
        run_seed(&config).verdict() == SeedVerdict::NotLinearizable
    });
    assert!(
        caught.is_some(),
        "skip-fsync was never caught: the disk model has no teeth"
    );
}

#[test]
fn every_crash_point_keeps_the_history_linearizable() {
    for point in CrashPoint::ALL {
        let mut fired = 0;
        for seed in 0..50 {
            let mut config = RunConfig::new(seed);
            // Kills make members restore their snapshots while the point
            // is armed; the workload's compactions reach the MVCC points.
            // Points only a membership change passes are armed by the
            // membership faults, in the middle of their change.
            config.faults = match point.only_in_membership_changes() {
                false => FaultSet::of([FaultKind::CrashPoint, FaultKind::Kill]),
                true => FaultSet::of([FaultKind::MemberReplace, FaultKind::GrowShrink]),
            };
            config.crash_points = vec![point];
            let outcome = run_seed(&config);
            fired += outcome
                .trace
                .lines()
                .iter()
                .filter(|l| l.contains(&format!("crash point {point} fired")))
                .count();
            assert!(
                outcome.verdict() == SeedVerdict::Linearizable,
                "crash point {point}, seed {seed}: {}",
                outcome.report
            );
        }
        assert!(fired > 0, "crash point {point} never fired in 50 seeds");
    }
}
