//! Schedules and shrinking (DESIGN.md §6): a drawn run replays from its
//! plan bit for bit, and a failing run shrinks to a far smaller schedule
//! that still fails and replays from its file.
#![cfg(madsim)]

use etcd_sim::bugs::{Bug, BugSet};
use etcd_sim_harness::schedule::Schedule;
use etcd_sim_harness::shrink::{shrink, ShrinkError};
use etcd_sim_harness::{run_seed, RunConfig, SeedVerdict};

#[test]
fn a_run_replayed_from_its_plan_is_the_same_run() {
    for seed in [1, 2, 3] {
        let drawn = run_seed(&RunConfig::new(seed));
        assert!(
            !drawn.plan.is_empty(),
            "seed {seed}: the nemesis did something"
        );
        let schedule = RunConfig::new(seed).to_schedule(drawn.plan.clone());
        let file = Schedule::from_json(&schedule.to_json()).unwrap();
        let replayed = run_seed(&RunConfig::from_schedule(&file).unwrap());
        assert_eq!(drawn.trace.lines(), replayed.trace.lines(), "seed {seed}");
    }
}

#[test]
fn a_stale_read_failure_shrinks_to_far_fewer_operations_that_still_fail() {
    let config = |seed| RunConfig {
        bugs: BugSet::NONE.with(Bug::StaleRead),
        ..RunConfig::new(seed)
    };
    let seed = (0..200)
        .find(|&seed| run_seed(&config(seed)).verdict() == SeedVerdict::NotLinearizable)
        .expect("stale-read is caught within 200 seeds");
    let mut steps = 0;
    let shrunk = shrink(&config(seed), 400, |_| steps += 1).unwrap();
    assert!(steps > 0, "seed {seed}: no smaller failing run was found");
    let (before, after) = (&shrunk.original, &shrunk.schedule);
    assert!(
        after.operations() * 3 <= before.operations(),
        "seed {seed}: {before} shrank only to {after}"
    );
    assert!(after.plan.len() <= before.plan.len());
    // The file replays the shrunk failure, the same way every time.
    let file = Schedule::from_json(&after.to_json()).unwrap();
    let first = run_seed(&RunConfig::from_schedule(&file).unwrap());
    let second = run_seed(&RunConfig::from_schedule(&file).unwrap());
    assert_eq!(first.verdict(), SeedVerdict::NotLinearizable);
    assert_eq!(first.trace.hash(), second.trace.hash());
}

#[test]
fn a_passing_run_has_nothing_to_shrink() {
    let passing = shrink(&RunConfig::new(0), 10, |_| {}).unwrap_err();
    assert_eq!(passing, ShrinkError::Passes(SeedVerdict::Linearizable));
}
