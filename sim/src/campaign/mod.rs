//! Campaigns: many seeds, in parallel, with one summary; one seed's run,
//! start to verdict ([`run_seed`]), and what shapes it ([`RunConfig`]);
//! and the shrinker that makes a failing run smaller ([`shrink`]).
//!
//! Each seed runs in its own madsim runtime, so seeds are independent and a
//! campaign can be split any way: across threads (`jobs`), across machines
//! (`etcd-sim run --shard K/N`), and joined again from JSON reports
//! ([`Summary::merge`]).

mod config;
pub mod detection;
pub mod page;
pub mod regression;
mod run;
pub mod shrink;

pub use config::RunConfig;
pub use run::{run_seed, simulate};

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use etcd_sim::bugs::Bug;
use etcd_sim::coverage::Site;
use etcd_sim::crash::CrashPoint;
use etcd_sim::perturb::Perturbation;
use serde::{Deserialize, Serialize};

use crate::faults::FaultKind;
use crate::record::availability::Availability;
use crate::record::coincidences;
use crate::record::persisted::Settled;
use crate::verdict::SeedVerdict;

/// What a campaign keeps of one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// `linearizable`, `not-linearizable`, `undecided`, `panicked`,
    /// `broken`, `stuck` or `quiet`.
    pub verdict: String,
    /// The panic message, if it panicked.
    pub panic: Option<String>,
    /// The broken check and its evidence, if a check besides
    /// linearizability broke.
    #[serde(default)]
    pub broken: Option<String>,
    /// The hash of the run's trace.
    pub trace_hash: u64,
    /// With `check_determinism`: the second run's hash, if it differed.
    pub second_trace_hash: Option<u64>,
    /// Client operations recorded.
    pub operations: usize,
    /// Simulated seconds.
    pub simulated_secs: f64,
    /// Wall-clock seconds the seed took (both runs with
    /// `check_determinism`).
    #[serde(default)]
    pub wall_secs: f64,
    /// How many faults of each kind the nemesis injected.
    #[serde(default)]
    pub faults: BTreeMap<String, usize>,
    /// The command that replays the seed, for a failing one (filled in by
    /// whoever knows the campaign's options: the CLI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproduce: Option<String>,
    /// The liveness phase's evidence, if the seed is `stuck`; the figures,
    /// if it is `quiet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<String>,
    /// The chaos phase's availability and the recovery time.
    #[serde(default)]
    pub availability: Availability,
    /// How often each path was reached (see [`coverage_universe`]).
    #[serde(default)]
    pub coverage: BTreeMap<String, u64>,
    /// How many writes of unknown outcome the members' logs settled.
    #[serde(default)]
    pub settled: Settled,
}

impl SeedResult {
    /// Whether the seed found a problem.
    pub fn failed(&self) -> bool {
        self.verdict == "not-linearizable"
            || self.verdict == "panicked"
            || self.verdict == "broken"
            || self.verdict == "stuck"
            || self.verdict == "quiet"
            || self.second_trace_hash.is_some()
    }

    /// A few words on what went wrong.
    pub fn describe(&self) -> String {
        if let Some(second) = self.second_trace_hash {
            return format!(
                "NONDETERMINISTIC (trace hash {:016x} then {second:016x})",
                self.trace_hash
            );
        }
        match (self.verdict.as_str(), &self.panic) {
            (_, Some(message)) => format!("PANICKED: {message}"),
            ("broken", _) => format!("BROKEN {}", self.broken.as_deref().unwrap_or("")),
            ("stuck", _) => format!("STUCK {}", self.liveness.as_deref().unwrap_or("")),
            ("quiet", _) => format!("QUIET {}", self.liveness.as_deref().unwrap_or("")),
            ("not-linearizable", _) => "NOT LINEARIZABLE".to_string(),
            (verdict, _) => verdict.to_string(),
        }
    }
}

/// Seeds to run and how.
pub struct Campaign {
    /// The seeds, in the order to start them.
    pub seeds: Vec<u64>,
    /// Seeds run at once, each on its own thread.
    pub jobs: usize,
    /// Run each seed twice and compare trace hashes.
    pub check_determinism: bool,
}

impl Campaign {
    /// Runs every seed with the configuration `config(seed)`; `on_result` is
    /// called on this thread as each seed finishes, with the count done.
    pub fn run(
        &self,
        config: impl Fn(u64) -> RunConfig + Sync,
        mut on_result: impl FnMut(usize, &SeedResult),
    ) -> Summary {
        let started = Instant::now();
        let next = AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel();
        let mut results = Vec::with_capacity(self.seeds.len());
        std::thread::scope(|scope| {
            for _ in 0..self.jobs.max(1).min(self.seeds.len().max(1)) {
                let tx = tx.clone();
                let (next, config) = (&next, &config);
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = self.seeds.get(i) else {
                        return;
                    };
                    if tx.send(self.run_one(&config(seed))).is_err() {
                        return;
                    }
                });
            }
            drop(tx);
            for result in rx {
                results.push(result);
                on_result(results.len(), results.last().expect("just pushed"));
            }
        });
        results.sort_by_key(|r| r.seed);
        Summary {
            results,
            wall_secs: started.elapsed().as_secs_f64(),
        }
    }

    fn run_one(&self, config: &RunConfig) -> SeedResult {
        let started = Instant::now();
        let outcome = run_seed(config);
        let second_trace_hash = self
            .check_determinism
            .then(|| run_seed(config).trace.hash())
            .filter(|&second| second != outcome.trace.hash());
        let verdict = outcome.verdict();
        SeedResult {
            seed: config.seed,
            verdict: match verdict {
                SeedVerdict::Linearizable => "linearizable",
                SeedVerdict::NotLinearizable => "not-linearizable",
                SeedVerdict::Undecided => "undecided",
                SeedVerdict::Panicked(_) => "panicked",
                SeedVerdict::Broken(_) => "broken",
                SeedVerdict::Stuck(_) => "stuck",
                SeedVerdict::Quiet(_) => "quiet",
            }
            .to_string(),
            panic: outcome.panic.clone(),
            broken: match &verdict {
                SeedVerdict::Broken(evidence) => Some(evidence.clone()),
                _ => None,
            },
            trace_hash: outcome.trace.hash(),
            second_trace_hash,
            operations: outcome.history.operations.len(),
            simulated_secs: outcome.simulated.as_secs_f64(),
            wall_secs: started.elapsed().as_secs_f64(),
            faults: outcome
                .history
                .faults
                .iter()
                .fold(BTreeMap::new(), |mut counts, fault| {
                    *counts.entry(fault.name.clone()).or_insert(0) += 1;
                    counts
                }),
            reproduce: None,
            liveness: match verdict {
                SeedVerdict::Stuck(evidence) | SeedVerdict::Quiet(evidence) => Some(evidence),
                _ => None,
            },
            availability: outcome.availability.clone(),
            coverage: outcome.coverage.clone(),
            settled: outcome.settled,
        }
    }
}

/// Every path a campaign counts, by the name it is counted under: each
/// fault kind, crash point, rare path ([`Site`]), bug switch site, and a
/// torn WAL tail cut.
pub fn coverage_universe() -> Vec<String> {
    let faults = FaultKind::ALL.iter().map(|f| format!("fault:{}", f.name()));
    let points = CrashPoint::ALL.iter().map(|p| format!("crash-point:{p}"));
    let sites = Site::ALL.iter().map(|s| format!("site:{s}"));
    let bugs = Bug::ALL.iter().map(|b| format!("bug-site:{b}"));
    let perturbed = Perturbation::ALL.iter().map(|p| format!("perturbed:{p}"));
    faults
        .chain(points)
        .chain(sites)
        .chain(bugs)
        .chain(perturbed)
        .chain(["torn-wal-cut".to_string()])
        .collect()
}

/// The paths a campaign with `--require-coverage` must reach: all of
/// [`coverage_universe`] but NOSPACE, which the default campaign's small
/// values never raise under the default quota (tests raise it), and the
/// races in [`RACES`].
pub fn required_coverage() -> Vec<String> {
    coverage_universe()
        .into_iter()
        .filter(|p| !UNREACHABLE_YET.contains(&p.as_str()) && !RACES.contains(&p.as_str()))
        .collect()
}

/// Paths the default campaign cannot reach yet (see [`required_coverage`]).
pub const UNREACHABLE_YET: [&str; 1] = ["site:nospace-raised"];

/// Paths only a race between two members' timing reaches, a few seeds in
/// a thousand: a campaign of 400 may miss them (see [`required_coverage`]).
/// `stale-conf-change`: raft restored a snapshot from the leader while the
/// applier still had older membership changes to apply.
pub const RACES: [&str; 1] = ["site:stale-conf-change"];

/// A campaign's results.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    /// One result per seed, by seed.
    pub results: Vec<SeedResult>,
    /// Wall-clock seconds the campaign took (summed over merged reports).
    pub wall_secs: f64,
}

impl Summary {
    /// Joins the reports of several shards or machines.
    pub fn merge(parts: impl IntoIterator<Item = Summary>) -> Summary {
        let mut merged = Summary::default();
        for part in parts {
            merged.results.extend(part.results);
            merged.wall_secs += part.wall_secs;
        }
        merged.results.sort_by_key(|r| r.seed);
        merged.results.dedup_by_key(|r| r.seed);
        merged
    }

    /// The report as JSON: the seeds' results, and the campaign's
    /// coverage totals with the paths that never fired.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Report<'a> {
            results: &'a [SeedResult],
            wall_secs: f64,
            coverage: BTreeMap<String, u64>,
            never_fired: Vec<String>,
            never_coincided: Vec<String>,
        }
        let report = Report {
            results: &self.results,
            wall_secs: self.wall_secs,
            coverage: self.coverage(),
            never_fired: self.never_fired(&coverage_universe()),
            never_coincided: self.never_fired(&coincidences::universe()),
        };
        serde_json::to_string_pretty(&report).expect("a summary serializes")
    }

    /// How often each path was reached over the campaign.
    pub fn coverage(&self) -> BTreeMap<String, u64> {
        let mut total = BTreeMap::new();
        for (path, count) in self.results.iter().flat_map(|r| &r.coverage) {
            *total.entry(path.clone()).or_insert(0) += count;
        }
        total
    }

    /// The paths of `paths` the campaign never reached.
    pub fn never_fired(&self, paths: &[String]) -> Vec<String> {
        let reached = self.coverage();
        paths
            .iter()
            .filter(|p| reached.get(*p).copied().unwrap_or(0) == 0)
            .cloned()
            .collect()
    }

    /// A report written by [`Summary::to_json`].
    pub fn from_json(text: &str) -> Result<Summary, String> {
        serde_json::from_str(text).map_err(|e| format!("not an etcd-sim campaign report: {e}"))
    }

    fn count(&self, verdict: &str) -> usize {
        self.results.iter().filter(|r| r.verdict == verdict).count()
    }

    /// Seeds that found a problem.
    pub fn failures(&self) -> impl Iterator<Item = &SeedResult> {
        self.results.iter().filter(|r| r.failed())
    }

    /// Seeds finished per minute of wall time.
    pub fn seeds_per_minute(&self) -> f64 {
        self.results.len() as f64 * 60.0 / self.wall_secs.max(1e-9)
    }

    /// How much faster than real time the seeds ran: simulated seconds over
    /// wall seconds.
    pub fn speedup(&self) -> f64 {
        let simulated: f64 = self.results.iter().map(|r| r.simulated_secs).sum();
        simulated / self.wall_secs.max(1e-9)
    }

    /// 0 all clean, 1 a problem found, 3 some seed undecided.
    pub fn exit_code(&self) -> u8 {
        if self.failures().next().is_some() {
            1
        } else if self.count("undecided") > 0 {
            3
        } else {
            0
        }
    }
}

impl Summary {
    /// The seed that took the most wall time.
    pub fn slowest(&self) -> Option<&SeedResult> {
        self.results
            .iter()
            .max_by(|a, b| a.wall_secs.total_cmp(&b.wall_secs))
    }

    /// Faults injected over the whole campaign, by kind, most frequent
    /// first, with the number of seeds that saw at least one fault.
    pub fn fault_mix(&self) -> (Vec<(String, usize)>, usize) {
        let mut total: BTreeMap<&str, usize> = BTreeMap::new();
        for (name, count) in self.results.iter().flat_map(|r| &r.faults) {
            *total.entry(name).or_insert(0) += count;
        }
        let mut mix: Vec<(String, usize)> =
            total.into_iter().map(|(n, c)| (n.to_string(), c)).collect();
        mix.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let seeds = self.results.iter().filter(|r| !r.faults.is_empty()).count();
        (mix, seeds)
    }
}

/// How many failing seeds the summary lists; the JSON report has them all.
const LISTED_FAILURES: usize = 20;

/// The one-line headline: verdict counts, operations and speed.
pub struct Headline<'a>(pub &'a Summary);

impl fmt::Display for Headline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let summary = self.0;
        let seeds = summary.results.len();
        let operations: usize = summary.results.iter().map(|r| r.operations).sum();
        let simulated: f64 = summary.results.iter().map(|r| r.simulated_secs).sum();
        let nondeterministic = summary
            .results
            .iter()
            .filter(|r| r.second_trace_hash.is_some())
            .count();
        write!(
            f,
            "{seeds} seeds: {} passed, {} not linearizable, {} panicked, {} broken, {} stuck, \
             {} quiet, {} undecided, {nondeterministic} \
             nondeterministic; {operations} operations; {:.0} seeds/min; simulated {simulated:.1}s \
             in {:.1}s wall ({:.0}x)",
            summary.count("linearizable") - nondeterministic_passes(summary),
            summary.count("not-linearizable"),
            summary.count("panicked"),
            summary.count("broken"),
            summary.count("stuck"),
            summary.count("quiet"),
            summary.count("undecided"),
            summary.seeds_per_minute(),
            summary.wall_secs,
            summary.speedup(),
        )
    }
}

/// Linearizable seeds whose two runs differed: they did not pass.
fn nondeterministic_passes(summary: &Summary) -> usize {
    summary
        .results
        .iter()
        .filter(|r| r.verdict == "linearizable" && r.second_trace_hash.is_some())
        .count()
}

/// The end-of-campaign summary a person scans: the headline, then the
/// failing seeds with the commands that replay them, the fault mix and the
/// slowest seed.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", Headline(self))?;
        let failures: Vec<&SeedResult> = self.failures().collect();
        if failures.is_empty() {
            writeln!(f, "  failing seeds: none")?;
        } else {
            writeln!(f, "  failing seeds ({}):", failures.len())?;
            for failure in failures.iter().take(LISTED_FAILURES) {
                write!(f, "    seed {}: {}", failure.seed, failure.describe())?;
                match &failure.reproduce {
                    Some(command) => writeln!(f, " — reproduce: {command}")?,
                    None => writeln!(f)?,
                }
            }
            if failures.len() > LISTED_FAILURES {
                writeln!(
                    f,
                    "    ... and {} more (`--json` keeps them all)",
                    failures.len() - LISTED_FAILURES
                )?;
            }
        }
        let (mix, seeds_with_faults) = self.fault_mix();
        if mix.is_empty() {
            writeln!(f, "  faults: none injected")?;
        } else {
            let kinds: Vec<String> = mix.iter().map(|(n, c)| format!("{n} {c}")).collect();
            writeln!(
                f,
                "  faults: {} (in {seeds_with_faults} of {} seeds)",
                kinds.join(", "),
                self.results.len()
            )?;
        }
        Availabilities(self).fmt(f)?;
        let mut settled = Settled::default();
        for result in &self.results {
            settled.add(result.settled);
        }
        if settled.unknown > 0 {
            writeln!(f, "  {settled}")?;
        }
        let universe = coverage_universe();
        let never = self.never_fired(&universe);
        writeln!(
            f,
            "  coverage: {} of {} paths reached (`--json` has the counts); never fired: {}",
            universe.len() - never.len(),
            universe.len(),
            if never.is_empty() {
                "none".to_string()
            } else {
                never.join(", ")
            }
        )?;
        let pairs = coincidences::universe();
        writeln!(
            f,
            "  coincidences (two events within {} s): {} of {} pairs reached (`--json` lists the \
             others as never_coincided)",
            coincidences::WINDOW_NS / 1_000_000_000,
            pairs.len() - self.never_fired(&pairs).len(),
            pairs.len()
        )?;
        if let Some(slowest) = self.slowest() {
            write!(
                f,
                "  slowest seed: {} ({:.2}s wall, {:.1}s simulated, {} operations)",
                slowest.seed, slowest.wall_secs, slowest.simulated_secs, slowest.operations
            )?;
        }
        Ok(())
    }
}

/// The campaign's availability lines: the share of chaos operations that
/// succeeded, the longest write gap, the recovery time, and the share by
/// fault kind.
struct Availabilities<'a>(&'a Summary);

impl fmt::Display for Availabilities<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let results = &self.0.results;
        let figures: Vec<&Availability> = results.iter().map(|r| &r.availability).collect();
        let operations: usize = figures.iter().map(|a| a.operations).sum();
        if operations == 0 {
            return Ok(());
        }
        let succeeded: usize = figures.iter().map(|a| a.succeeded).sum();
        let worst = results
            .iter()
            .min_by(|a, b| a.availability.share().total_cmp(&b.availability.share()))
            .expect("some seed had operations");
        let gaps = spread(
            results
                .iter()
                .map(|r| (r.seed, r.availability.longest_write_gap_secs)),
        );
        let recoveries = spread(
            results
                .iter()
                .filter_map(|r| r.availability.recovery_secs.map(|s| (r.seed, s))),
        );
        writeln!(
            f,
            "  availability: {:.1}% of {operations} chaos operations succeeded (worst seed {}: \
             {:.0}%); longest write gap {gaps}; recovery after the last fault {recoveries}",
            100.0 * succeeded as f64 / operations as f64,
            worst.seed,
            100.0 * worst.availability.share(),
        )?;
        let mut by_fault: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (name, (ops, ok)) in figures.iter().flat_map(|a| &a.by_fault) {
            let entry = by_fault.entry(name).or_default();
            entry.0 += ops;
            entry.1 += ok;
        }
        let mut kinds: Vec<(&str, f64, usize)> = by_fault
            .into_iter()
            .filter(|(_, (ops, _))| *ops > 0)
            .map(|(name, (ops, ok))| (name, ok as f64 / ops as f64, ops))
            .collect();
        kinds.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(b.0)));
        let kinds: Vec<String> = kinds
            .iter()
            .map(|(name, share, ops)| format!("{name} {:.0}% of {ops}", 100.0 * share))
            .collect();
        writeln!(
            f,
            "  availability by fault (ops succeeded while it was on): {}",
            kinds.join(", ")
        )
    }
}

/// "median Xs, max Ys (seed S)" of per-seed figures.
fn spread(figures: impl Iterator<Item = (u64, f64)>) -> String {
    let mut figures: Vec<(u64, f64)> = figures.collect();
    if figures.is_empty() {
        return "n/a".to_string();
    }
    figures.sort_by(|a, b| a.1.total_cmp(&b.1));
    let median = figures[figures.len() / 2].1;
    let (seed, max) = figures[figures.len() - 1];
    format!("median {median:.2}s, max {max:.2}s (seed {seed})")
}
