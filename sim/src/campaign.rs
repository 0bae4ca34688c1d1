//! Campaigns: many seeds, in parallel, with one summary.
//!
//! Each seed runs in its own madsim runtime, so seeds are independent and a
//! campaign can be split any way: across threads (`jobs`), across machines
//! (`etcd-sim run --shard K/N`), and joined again from JSON reports
//! ([`Summary::merge`]).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::run::{run_seed, RunConfig, SeedVerdict};

/// What a campaign keeps of one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// `linearizable`, `not-linearizable`, `undecided` or `panicked`.
    pub verdict: String,
    /// The panic message, if it panicked.
    pub panic: Option<String>,
    /// The hash of the run's trace.
    pub trace_hash: u64,
    /// With `check_determinism`: the second run's hash, if it differed.
    pub second_trace_hash: Option<u64>,
    /// Client operations recorded.
    pub operations: usize,
    /// Simulated seconds.
    pub simulated_secs: f64,
}

impl SeedResult {
    /// Whether the seed found a problem.
    pub fn failed(&self) -> bool {
        self.verdict == "not-linearizable"
            || self.verdict == "panicked"
            || self.verdict == "lease-violation"
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
            ("not-linearizable", _) => "NOT LINEARIZABLE".to_string(),
            ("lease-violation", _) => "LEASE VIOLATION".to_string(),
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
                SeedVerdict::LeaseViolated(_) => "lease-violation",
            }
            .to_string(),
            panic: outcome.panic.clone(),
            trace_hash: outcome.trace.hash(),
            second_trace_hash,
            operations: outcome.history.operations.len(),
            simulated_secs: outcome.simulated.as_secs_f64(),
        }
    }
}

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

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary serializes")
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

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seeds = self.results.len();
        let operations: usize = self.results.iter().map(|r| r.operations).sum();
        let simulated: f64 = self.results.iter().map(|r| r.simulated_secs).sum();
        let nondeterministic = self
            .results
            .iter()
            .filter(|r| r.second_trace_hash.is_some())
            .count();
        write!(
            f,
            "{seeds} seeds: {} not linearizable, {} lease violations, {} panicked, {} undecided, \
             {nondeterministic} nondeterministic; {operations} operations; {:.0} seeds/min; simulated {simulated:.1}s \
             in {:.1}s wall ({:.0}x)",
            self.count("not-linearizable"),
            self.count("lease-violation"),
            self.count("panicked"),
            self.count("undecided"),
            self.seeds_per_minute(),
            self.wall_secs,
            self.speedup(),
        )
    }
}
