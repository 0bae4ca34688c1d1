//! Every injectable bug is caught within 200 seeds (DESIGN.md §6): the
//! proof that the harness and the checker have teeth. Each bug runs in the
//! default campaign (the swarm: each seed draws its cluster size, faults,
//! disk and perturbations), exactly as `etcd-sim run --bug NAME
//! --seeds 0..200` runs it, and must be caught by the check meant for it:
//! a bug is caught only by the verdict class it breaks (a checker that
//! gives up, or a harness panic, is no catch unless the bug is a panic).
#![cfg(madsim)]

use etcd_sim::bugs::{Bug, BugSet};
use etcd_sim_harness::actors::shared_stream::SHARED_LOGS;
use etcd_sim_harness::campaign::detection::{first_failure, Detection};
use etcd_sim_harness::faults::{FaultKind, FaultSet};
use etcd_sim_harness::verdict::catalog::caught_as;
use etcd_sim_harness::{run_seed, RunConfig, SeedVerdict};

/// The first seed in 0..200 that fails with `bug`, and how (whether by
/// the check meant for it or not).
fn first_failing_seed(bug: Bug) -> Option<(u64, SeedVerdict)> {
    match first_failure(bug, 0..200) {
        Detection::Caught { seed, verdict } | Detection::WrongCheck { seed, verdict } => {
            Some((seed, verdict))
        }
        Detection::Missed => None,
    }
}

#[test]
fn every_bug_in_the_catalog_is_caught_within_200_seeds_by_its_check() {
    for bug in Bug::ALL {
        let Some((seed, verdict)) = first_failing_seed(bug) else {
            panic!("{bug} was not caught in 200 seeds: a finding to report");
        };
        assert!(
            caught_as(bug).contains(&verdict.class().as_str()),
            "{bug}: seed {seed} got {verdict:?}, not one of {:?}",
            caught_as(bug)
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
fn a_stuck_verdict_names_the_member_what_it_lacks_and_the_raft_state() {
    // The lease bug: a follower keeps forwarding keep-alives to a deposed
    // leader, so renewals through it never succeed again.
    let stuck = (0..100).find_map(|seed| {
        let mut config = RunConfig::new(seed);
        config.bugs = BugSet::NONE.with(Bug::LeaseRenewalToOldLeader);
        match run_seed(&config).verdict() {
            SeedVerdict::Stuck(evidence) => Some(evidence),
            _ => None,
        }
    });
    let evidence = stuck.expect("no seed in 0..100 was stuck");
    assert!(
        evidence.contains("lease renewals through every member")
            && evidence.contains("lacks it: a lease renewal"),
        "{evidence}"
    );
    for field in ["term ", "commit ", "applied ", "snapshot ", "leader "] {
        assert!(evidence.contains(field), "no {field:?} in {evidence}");
    }
    assert!(
        evidence.contains("Leader") && evidence.contains("Follower"),
        "{evidence}"
    );
    // The leader's view of its peers: each one's replication state.
    assert!(
        evidence.contains(", sees n") && evidence.contains("match ") && evidence.contains("next "),
        "no peer progress in {evidence}"
    );
}

#[test]
fn members_that_applied_an_entry_twice_break_the_hashkv_check() {
    // double-apply's re-applied batch shows as a member one revision ahead
    // of the others at the same applied index, whether or not a client
    // read ever saw it.
    // Without membership changes: a snapshot whose index is older than its
    // data may hold a membership change past its index, and break the
    // membership check first.
    let broken = (0..60).find_map(|seed| {
        let mut config = RunConfig::new(seed);
        config.bugs = BugSet::NONE.with(Bug::DoubleApply);
        config.faults = FaultSet::of(FaultKind::ALL.into_iter().filter(|k| !k.changes_members()));
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
    let museum: [(Bug, &[&str]); 6] = [
        (
            Bug::Etcd15271,
            &["OutOfOrder", "Duplicate", "CompactedAhead"],
        ),
        (Bug::Etcd20221, &["BeforeStart", "CompactedAhead"]),
        (Bug::Etcd18089, &["Missing"]),
        (Bug::Etcd17529, &["Missing"]),
        // An event at or below a progress notification's revision that
        // arrived after it, or never: the run ended, or compaction
        // cancelled the watch, before the event the notification claimed
        // was sent.
        (Bug::Etcd15220, &["ProgressAhead", "Missing"]),
        // A revision the backend's read buffer served again on top of the
        // committed one: a watcher catching up from history is sent it
        // twice.
        (Bug::Etcd17247, &["Duplicate"]),
    ];
    for (bug, kinds) in museum {
        assert!(bug.issue().is_some(), "{bug} names its etcd issue");
        let (seed, verdict) =
            first_failing_seed(bug).unwrap_or_else(|| panic!("{bug} was not caught in 200 seeds"));
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

#[test]
fn etcd_17529_loses_events_of_a_watch_on_a_full_shared_stream() {
    // The watch skipped past its compaction notice is one of the watches
    // multiplexed on a watcher client's shared stream (the only streams
    // with more watches than room), and what it lost are events it was
    // owed before the revisions it got next.
    let bug = Bug::Etcd17529;
    assert!(bug.issue().is_some(), "{bug} names its etcd issue");
    let (seed, verdict) =
        first_failing_seed(bug).unwrap_or_else(|| panic!("{bug} was not caught in 200 seeds"));
    let SeedVerdict::Broken(evidence) = &verdict else {
        panic!("{bug}: seed {seed} is {verdict:?}, not a broken watch");
    };
    let watcher: u32 = evidence
        .strip_prefix("watch: Missing { watcher: ")
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{bug}: seed {seed}: {evidence}"));
    assert!(
        watcher >= SHARED_LOGS,
        "{bug}: seed {seed}: not a shared stream's watch: {evidence}"
    );
}

#[test]
fn etcd_14370_loses_an_acknowledged_write_of_a_one_member_cluster() {
    // The bug lives where a member alone is a quorum: its first catch must
    // be a one-member seed of the swarm, as a lost acknowledged write.
    let bug = Bug::Etcd14370;
    assert!(bug.issue().is_some(), "{bug} names its etcd issue");
    let (seed, verdict) =
        first_failing_seed(bug).unwrap_or_else(|| panic!("{bug} was not caught in 200 seeds"));
    assert_eq!(RunConfig::swarm(seed).nodes, 1, "{bug}: seed {seed}");
    assert_eq!(verdict, SeedVerdict::NotLinearizable, "{bug}: seed {seed}");
}

/// The revisions the members stood at in a hashkv verdict's evidence
/// (`member N applied I rev R compacted C hash H; ...`).
fn hashkv_revisions(evidence: &str) -> Vec<i64> {
    evidence
        .split("; ")
        .filter_map(|member| member.split(" rev ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn etcd_19179_loses_the_delete_at_the_compacted_revision_on_a_restored_member() {
    // The member that restored lost one record, the delete: a watch from
    // the compacted revision misses it, or the member's history differs
    // from the others' at the same revision.
    let bug = Bug::Etcd19179;
    assert!(bug.issue().is_some(), "{bug} names its etcd issue");
    let (seed, verdict) =
        first_failing_seed(bug).unwrap_or_else(|| panic!("{bug} was not caught in 200 seeds"));
    let SeedVerdict::Broken(evidence) = &verdict else {
        panic!("{bug}: seed {seed} is {verdict:?}");
    };
    if let Some(hashkv) = evidence.strip_prefix("hashkv: members differ") {
        let revs = hashkv_revisions(hashkv);
        assert!(
            revs.len() > 1 && revs.iter().all(|r| *r == revs[0]),
            "{bug}: seed {seed}: the history differs, not the revision: {evidence}"
        );
    } else {
        assert!(
            evidence.starts_with("watch: Missing {") && evidence.contains("kind: Delete"),
            "{bug}: seed {seed}: {evidence}"
        );
    }
}

#[test]
fn etcd_17780_sends_a_restored_members_revision_back() {
    // The member that restored stands at a lower revision than the others
    // at the same applied index, or a client sees a revision reused.
    let bug = Bug::Etcd17780;
    assert!(bug.issue().is_some(), "{bug} names its etcd issue");
    let (seed, verdict) =
        first_failing_seed(bug).unwrap_or_else(|| panic!("{bug} was not caught in 200 seeds"));
    assert!(
        caught_as(bug).contains(&verdict.class().as_str()),
        "{bug}: seed {seed} got {verdict:?}"
    );
    if let SeedVerdict::Broken(evidence) = &verdict {
        let revs = hashkv_revisions(evidence);
        assert!(
            !evidence.starts_with("hashkv:")
                || revs
                    .iter()
                    .any(|r| *r < *revs.iter().max().expect("members")),
            "{bug}: seed {seed}: {evidence}"
        );
    }
}

#[test]
fn etcd_18055_panics_where_the_applier_opens_a_removed_snapshot() {
    // The member must stop where etcd's does: its applier cannot find the
    // file of a received snapshot that a newer one's save removed.
    let bug = Bug::Etcd18055;
    assert!(bug.issue().is_some(), "{bug} names its etcd issue");
    let (seed, verdict) =
        first_failing_seed(bug).unwrap_or_else(|| panic!("{bug} was not caught in 200 seeds"));
    let SeedVerdict::Panicked(message) = &verdict else {
        panic!("{bug}: seed {seed} is {verdict:?}, not a panic");
    };
    assert!(
        message.contains("failed to open the snapshot at index")
            && message.contains("no such file"),
        "{bug}: seed {seed}: {message}"
    );
}
