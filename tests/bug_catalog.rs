//! Every injectable bug is caught within 200 seeds (DESIGN.md §6): the
//! proof that the harness and the checker have teeth. Each bug runs in the
//! default campaign (every fault), exactly as `etcd-sim run --bug NAME
//! --seeds 0..200` runs it.
#![cfg(madsim)]

use etcd_sim::bugs::{Bug, BugSet};
use etcd_sim_harness::faults::FaultSet;
use etcd_sim_harness::{run_seed, RunConfig, SeedVerdict};

fn first_failing_seed(bug: Bug) -> Option<u64> {
    first_failure(bug).map(|(seed, _)| seed)
}

/// The first seed in 0..200 that fails with `bug` on, and its verdict.
fn first_failure(bug: Bug) -> Option<(u64, SeedVerdict)> {
    (0..200).find_map(|seed| {
        let mut config = RunConfig::new(seed);
        config.bugs = BugSet::NONE.with(bug);
        let verdict = run_seed(&config).verdict();
        (verdict != SeedVerdict::Linearizable).then_some((seed, verdict))
    })
}

#[test]
fn every_bug_in_the_catalog_is_caught_within_200_seeds() {
    assert_eq!(RunConfig::new(0).faults, FaultSet::all());
    for bug in Bug::ALL {
        assert!(
            first_failing_seed(bug).is_some(),
            "{bug} was not caught in 200 seeds: a finding to report"
        );
    }
}

#[test]
fn a_clean_cluster_raises_no_false_alarm_under_every_fault() {
    for seed in 0..200 {
        let mut config = RunConfig::new(seed);
        config.faults = FaultSet::all();
        let outcome = run_seed(&config);
        assert_eq!(
            outcome.verdict(),
            SeedVerdict::Linearizable,
            "seed {seed}: {}\nreproduce: etcd-sim reproduce --seed {seed} --faults all",
            outcome.report
        );
    }
}

#[test]
fn members_that_applied_an_entry_twice_break_the_hashkv_check() {
    // double-apply's re-applied batch shows as a member one revision ahead
    // of the others at the same applied index, whether or not a client
    // read ever saw it.
    let broken = (0..60).find_map(|seed| {
        let mut config = RunConfig::new(seed);
        config.bugs = BugSet::NONE.with(Bug::DoubleApply);
        match run_seed(&config).verdict() {
            SeedVerdict::Broken(evidence) => Some(evidence),
            _ => None,
        }
    });
    let evidence = broken.expect("no seed in 0..60 broke the hashkv check");
    assert!(
        evidence.starts_with("hashkv: members differ at applied index"),
        "{evidence}"
    );
}

#[test]
fn every_museum_bug_breaks_the_watch_guarantee_its_issue_names() {
    // The etcd bugs re-created from etcd's robustness track record: each
    // must be caught by the watch check, as the guarantee its issue
    // reports broken (or, for a watcher sent back to a compacted position,
    // the cancel that position earns).
    let museum: [(Bug, &[&str]); 3] = [
        (
            Bug::Etcd15271,
            &["OutOfOrder", "Duplicate", "CompactedAhead"],
        ),
        (Bug::Etcd20221, &["BeforeStart", "CompactedAhead"]),
        (Bug::Etcd18089, &["Missing"]),
    ];
    for (bug, kinds) in museum {
        assert!(bug.issue().is_some(), "{bug} names its etcd issue");
        let (seed, verdict) =
            first_failure(bug).unwrap_or_else(|| panic!("{bug} was not caught in 200 seeds"));
        let SeedVerdict::Broken(evidence) = &verdict else {
            panic!("{bug}: seed {seed} is {verdict:?}, not a broken watch");
        };
        assert!(
            kinds
                .iter()
                .any(|kind| evidence.starts_with(&format!("watch: {kind} {{"))),
            "{bug}: seed {seed}: {evidence}"
        );
    }
}
