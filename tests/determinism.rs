//! The same seed gives the same run, bit for bit (DESIGN.md §3).
#![cfg(madsim)]

use etcd_sim_harness::{run_seed, simulate, RunConfig};

#[test]
fn the_same_seed_gives_the_same_trace_hash() {
    for seed in [3, 17] {
        let first = run_seed(&RunConfig::new(seed));
        let second = run_seed(&RunConfig::new(seed));
        assert!(first.trace.lines().len() > 100, "the trace records the run");
        assert_eq!(
            first.trace.lines(),
            second.trace.lines(),
            "seed {seed} diverged between two runs"
        );
        assert_eq!(first.trace.hash(), second.trace.hash());
    }
}

#[test]
fn different_seeds_give_different_runs() {
    let a = run_seed(&RunConfig::new(1));
    let b = run_seed(&RunConfig::new(2));
    assert_ne!(a.trace.hash(), b.trace.hash());
}

/// madsim's own check: it runs the seed twice and compares every draw from
/// the runtime's RNG, catching nondeterminism that the trace might not show.
#[test]
fn madsim_finds_no_nondeterminism() {
    madsim::runtime::Runtime::check_determinism(5, madsim::Config::default(), || async {
        simulate(RunConfig::new(5)).await;
    });
}

/// The determinism check must be able to fail: a run that leaks OS entropy
/// into its trace is flagged on every seed, a clean one on none.
#[test]
fn the_determinism_check_catches_injected_entropy() {
    use etcd_sim_harness::campaign::Campaign;
    let campaign = Campaign {
        seeds: vec![1, 2, 3],
        jobs: 1,
        check_determinism: true,
    };
    let leaky = campaign.run(
        |seed| RunConfig {
            inject_nondeterminism: true,
            ..RunConfig::new(seed)
        },
        |_, _| {},
    );
    assert_eq!(leaky.failures().count(), 3, "{leaky}");
    let clean = campaign.run(RunConfig::new, |_, _| {});
    assert_eq!(clean.failures().count(), 0, "{clean}");
}
