//! `etcd-sim bench campaign`: how fast campaigns run on this machine.
//!
//! Absolute figures depend on the machine, so the default campaign (3
//! members, 5 clients, every fault) is measured next to a baseline run in
//! the same process: the same seeds with no faults. Their ratio says what
//! the nemesis costs; seeds per minute and simulated/wall time say whether
//! a CI budget holds.

use etcd_sim_harness::campaign::{Campaign, Summary};
use etcd_sim_harness::faults::FaultSet;
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

/// Runs the baseline and the default campaign; prints both and their ratio.
pub fn run(args: &CampaignArgs) -> u8 {
    if args.seeds == 0 || args.runs == 0 || args.jobs == 0 {
        eprintln!("error: --seeds, --runs and --jobs must be at least 1");
        return EXIT_USAGE;
    }
    let defaults = RunConfig::new(0);
    println!(
        "bench: seeds 0..{}, jobs {}, fastest of {} runs; {} members, {} clients x {} ops",
        args.seeds,
        args.jobs,
        args.runs,
        defaults.nodes,
        defaults.clients,
        defaults.workload.ops_per_client
    );
    let baseline = fastest(args, FaultSet::none());
    report("baseline (no faults)", &baseline);
    let campaign = fastest(args, FaultSet::all());
    report("default (all faults)", &campaign);
    println!(
        "ratio default/baseline: {:.2}x seeds/min, {:.2}x simulated/wall",
        campaign.seeds_per_minute() / baseline.seeds_per_minute(),
        campaign.speedup() / baseline.speedup()
    );
    let met =
        campaign.seeds_per_minute() >= GOAL_SEEDS_PER_MINUTE && campaign.speedup() >= GOAL_SPEEDUP;
    println!(
        "goal (>= {GOAL_SEEDS_PER_MINUTE:.0} seeds/min, >= {GOAL_SPEEDUP:.0}x): {}",
        if met { "met" } else { "NOT met" }
    );
    if baseline.failures().next().is_some() || campaign.failures().next().is_some() {
        eprintln!("error: a seed failed during the benchmark; run `etcd-sim run` to see it");
        return EXIT_VIOLATION;
    }
    EXIT_OK
}

fn fastest(args: &CampaignArgs, faults: FaultSet) -> Summary {
    let campaign = Campaign {
        seeds: (0..args.seeds).collect(),
        jobs: args.jobs,
        check_determinism: false,
    };
    let config = |seed| RunConfig {
        faults: faults.clone(),
        ..RunConfig::new(seed)
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
        summary.results.iter().map(|r| r.operations).sum::<usize>()
    );
}
