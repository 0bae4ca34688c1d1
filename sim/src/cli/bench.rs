//! `etcd-sim bench campaign`: how fast campaigns run on this machine.
//!
//! Absolute figures depend on the machine, so the default campaign (the
//! swarm: every seed its own shape) is measured next to two baselines in
//! the same process, on the same seeds: the fixed shape (3 members, 5
//! clients, every fault: the default campaign before the swarm) and the
//! fixed shape without faults. The ratios say what the swarm and the
//! nemesis cost; seeds per minute and simulated/wall time say whether a CI
//! budget holds.

use etcd_sim_harness::campaign::{Campaign, Summary};
use etcd_sim_harness::faults::FaultSet;
use etcd_sim_harness::stderr_filter::StderrFilter;
use etcd_sim_harness::RunConfig;

use super::{EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};

/// The goals of issue #7 for the default campaign on 2 cores.
const GOAL_SEEDS_PER_MINUTE: f64 = 300.0;
const GOAL_SPEEDUP: f64 = 100.0;

/// `etcd-sim bench campaign`.
#[derive(clap::Args, Debug, Clone)]
pub struct CampaignArgs {
    /// Seeds per measured campaign (seeds 0..N).
    #[arg(long, default_value_t = 200)]
    pub seeds: u64,
    /// Seeds run in parallel.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Measure each campaign this many times and keep the fastest.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

/// Runs the baselines and the default campaign; prints them and their
/// ratios.
pub fn run(args: &CampaignArgs) -> u8 {
    if args.seeds == 0 || args.runs == 0 || args.jobs == 0 {
        eprintln!("error: --seeds, --runs and --jobs must be at least 1");
        return EXIT_USAGE;
    }
    // Crash points end member tasks by panicking; madsim's note on each
    // is expected noise, as in `run`.
    let _quiet = StderrFilter::install();
    let fixed = RunConfig::new(0);
    println!(
        "bench: seeds 0..{}, jobs {}, fastest of {} runs; fixed shape: {} members, {} clients x {} \
         ops",
        args.seeds,
        args.jobs,
        args.runs,
        fixed.nodes,
        fixed.clients,
        fixed.workload.ops_per_client
    );
    let baseline = fastest(args, |seed| RunConfig {
        faults: FaultSet::none(),
        ..RunConfig::new(seed)
    });
    report("fixed, no faults", &baseline);
    let fixed = fastest(args, RunConfig::new);
    report("fixed (all faults)", &fixed);
    let campaign = fastest(args, RunConfig::swarm);
    report("default (swarm)", &campaign);
    println!(
        "ratio fixed/no faults: {:.2}x seeds/min, {:.2}x simulated/wall",
        fixed.seeds_per_minute() / baseline.seeds_per_minute(),
        fixed.speedup() / baseline.speedup()
    );
    println!(
        "ratio swarm/fixed: {:.2}x seeds/min, {:.2}x wall time per seed, {:.2}x operations per \
         seed",
        campaign.seeds_per_minute() / fixed.seeds_per_minute(),
        fixed.seeds_per_minute() / campaign.seeds_per_minute(),
        operations(&campaign) as f64 / operations(&fixed) as f64
    );
    let met =
        campaign.seeds_per_minute() >= GOAL_SEEDS_PER_MINUTE && campaign.speedup() >= GOAL_SPEEDUP;
    println!(
        "goal (>= {GOAL_SEEDS_PER_MINUTE:.0} seeds/min, >= {GOAL_SPEEDUP:.0}x): {}",
        if met { "met" } else { "NOT met" }
    );
    if [&baseline, &fixed, &campaign]
        .iter()
        .any(|s| s.failures().next().is_some())
    {
        eprintln!("error: a seed failed during the benchmark; run `etcd-sim run` to see it");
        return EXIT_VIOLATION;
    }
    EXIT_OK
}

fn fastest(args: &CampaignArgs, config: impl Fn(u64) -> RunConfig + Sync + Copy) -> Summary {
    let campaign = Campaign {
        seeds: (0..args.seeds).collect(),
        jobs: args.jobs,
        check_determinism: false,
    };
    (0..args.runs)
        .map(|_| campaign.run(config, |_, _| {}))
        .min_by(|a, b| a.wall_secs.total_cmp(&b.wall_secs))
        .expect("at least one run")
}

fn report(name: &str, summary: &Summary) {
    println!(
        "{name:<22} {:>8.0} seeds/min  {:>6.0}x simulated/wall  ({:.2} s wall, {} operations)",
        summary.seeds_per_minute(),
        summary.speedup(),
        summary.wall_secs,
        operations(summary)
    );
}

fn operations(summary: &Summary) -> usize {
    summary.results.iter().map(|r| r.operations).sum()
}
