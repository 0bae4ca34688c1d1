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

/// No `tokio::select!` chooses at random (DESIGN.md §3): an unbiased one
/// picks among ready branches from tokio's per-thread RNG, which outlives a
/// run, so a seed's trace would depend on the seeds run before it on the
/// same thread (`run --jobs 1` and `--jobs 2` gave different traces).
#[test]
fn every_select_is_biased() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut unbiased = Vec::new();
    let mut dirs = vec![root.join("src"), root.join("sim/src"), root.join("tests")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let opens =
                    line.trim_end().ends_with("select! {") && !line.trim_start().starts_with("//");
                if opens && lines.get(i + 1).map(|next| next.trim()) != Some("biased;") {
                    unbiased.push(format!("{}:{}", path.display(), i + 1));
                }
            }
        }
    }
    assert!(unbiased.is_empty(), "unbiased select!: {unbiased:?}");
}
