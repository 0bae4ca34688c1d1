//! `etcd-sim bench detection`: how soon the default campaign catches each
//! catalog bug, and a gate against a committed baseline.
//!
//! For every bug, each of `--ranges` ranges of `--range-size` seeds
//! (`0..100`, `100..200`, ...) is searched for its first failing seed; the
//! bug's figure is the median of the seeds it took (a range that never
//! fails counts as one more seed than it holds). A change that makes the
//! testbed worse at finding a bug shows here long before the bug stops
//! being caught within the catalog test's 200 seeds.
//!
//! With `--baseline FILE` the run fails (exit 1) if a bug is no longer
//! caught in any range, is caught first by a check not meant for it, or
//! its median is more than twice the baseline's and more than
//! [`SLACK_SEEDS`] seeds above it. `--save FILE` writes the measured
//! figures as a new baseline: refreshing it is a decision, made on
//! purpose after a change that moves every seed (README says how).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use etcd_sim::bugs::Bug;
use etcd_sim_harness::campaign::detection::{first_failure, Detection};
use etcd_sim_harness::stderr_filter::{self, StderrFilter};
use serde::{Deserialize, Serialize};

use super::{EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};

/// Medians of a few seeds move by a seed or two from one set of ranges to
/// another: a median must also be this many seeds above the baseline's to
/// count as worse.
const SLACK_SEEDS: f64 = 2.0;

/// `etcd-sim bench detection`.
#[derive(clap::Args, Debug, Clone)]
pub struct DetectionArgs {
    /// Ranges of seeds searched per bug: `K*size..(K+1)*size` for K in
    /// 0..ranges.
    #[arg(long, default_value_t = 10)]
    pub ranges: u64,
    /// Seeds per range.
    #[arg(long, default_value_t = 100)]
    pub range_size: u64,
    /// Searches run in parallel.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Only this bug (repeatable) [default: every catalog bug].
    #[arg(long = "bug")]
    pub bugs: Vec<Bug>,
    /// Compare with this baseline (written by `--save`); exit 1 if a bug
    /// got more than 2x worse or is no longer caught.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Write the figures measured here as a baseline.
    #[arg(long)]
    pub save: Option<PathBuf>,
}

/// A table of figures, as a baseline file holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Ranges searched per bug.
    pub ranges: u64,
    /// Seeds per range.
    pub range_size: u64,
    /// One row per bug, in the catalog's order.
    pub bugs: Vec<BugFigures>,
}

/// One bug's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BugFigures {
    /// The bug's name (`etcd-sim bugs`).
    pub bug: String,
    /// Per range, the seeds it took to the first failure (1: the range's
    /// first seed failed); `None`: no seed of the range failed.
    pub seeds_to_failure: Vec<Option<u64>>,
    /// The median of `seeds_to_failure`, a miss counted as range size + 1.
    pub median: f64,
    /// Ranges whose first failure was by a check not meant for the bug,
    /// with the seed and its verdict class.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wrong_checks: Vec<String>,
}

/// Measures, prints, saves and gates.
pub fn run(args: &DetectionArgs) -> u8 {
    if args.ranges == 0 || args.range_size == 0 || args.jobs == 0 {
        eprintln!("error: --ranges, --range-size and --jobs must be at least 1");
        return EXIT_USAGE;
    }
    let baseline = match args.baseline.as_deref().map(load).transpose() {
        Ok(Some(baseline)) if baseline.range_size != args.range_size => {
            eprintln!(
                "error: the baseline's ranges are of {} seeds, not {}: pass --range-size {}",
                baseline.range_size, args.range_size, baseline.range_size
            );
            return EXIT_USAGE;
        }
        Ok(baseline) => baseline,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_USAGE;
        }
    };
    // Found out now, not after minutes of measuring.
    if let Some(path) = &args.save {
        if let Err(e) = super::simulate::writable(path) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
    }
    let bugs = if args.bugs.is_empty() {
        Bug::ALL.to_vec()
    } else {
        args.bugs.clone()
    };
    // The bugs' panics (a member finding its log shorter than it promised)
    // are catches the verdicts count; their messages and madsim's note on
    // each would bury the table.
    std::panic::set_hook(Box::new(|_| stderr_filter::expect_crash_note()));
    let _quiet = StderrFilter::install();
    let figures = measure(args, &bugs);
    print_table(&figures, baseline.as_ref());
    if let Some(path) = &args.save {
        let json = serde_json::to_string_pretty(&figures).expect("figures serialize");
        if let Err(e) = std::fs::write(path, json + "\n") {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
        println!("saved: {}", path.display());
    }
    let mut failures: Vec<String> = figures.bugs.iter().flat_map(wrong_check_failures).collect();
    if let Some(baseline) = &baseline {
        failures.extend(regressions(&figures, baseline));
    }
    for failure in &failures {
        eprintln!("detection: {failure}");
    }
    if failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_VIOLATION
    }
}

/// Reads a baseline file.
fn load(path: &Path) -> Result<Figures, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read baseline {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("baseline {}: {e}", path.display()))
}

/// Searches every (bug, range) pair, `jobs` at a time.
fn measure(args: &DetectionArgs, bugs: &[Bug]) -> Figures {
    let searches: Vec<(usize, u64)> = (0..bugs.len())
        .flat_map(|b| (0..args.ranges).map(move |r| (b, r)))
        .collect();
    let found: Mutex<Vec<Option<Detection>>> = Mutex::new(vec![None; searches.len()]);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.min(searches.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(b, r)) = searches.get(i) else {
                    return;
                };
                let start = r * args.range_size;
                let detection = first_failure(bugs[b], start..start + args.range_size);
                found.lock().expect("no search panics holding it")[i] = Some(detection);
            });
        }
    });
    let found = found.into_inner().expect("every search ended");
    let bugs = bugs
        .iter()
        .enumerate()
        .map(|(b, bug)| {
            let ranges = args.ranges as usize;
            let detections = found[b * ranges..(b + 1) * ranges]
                .iter()
                .map(|d| d.clone().expect("every search ran"));
            bug_figures(*bug, args.range_size, detections.enumerate())
        })
        .collect();
    Figures {
        ranges: args.ranges,
        range_size: args.range_size,
        bugs,
    }
}

/// One bug's figures from its ranges' first failures.
fn bug_figures(
    bug: Bug,
    range_size: u64,
    detections: impl Iterator<Item = (usize, Detection)>,
) -> BugFigures {
    let mut seeds_to_failure = Vec::new();
    let mut wrong_checks = Vec::new();
    for (range, detection) in detections {
        let start = range as u64 * range_size;
        if let Detection::WrongCheck { seed, verdict } = &detection {
            wrong_checks.push(format!("seed {seed}: {}", verdict.class()));
        }
        seeds_to_failure.push(detection.seed().map(|seed| seed - start + 1));
    }
    BugFigures {
        bug: bug.name().to_string(),
        median: median(&seeds_to_failure, range_size),
        seeds_to_failure,
        wrong_checks,
    }
}

/// The median of the seeds to first failure, a miss counted as
/// `range_size + 1`.
fn median(seeds_to_failure: &[Option<u64>], range_size: u64) -> f64 {
    let mut values: Vec<u64> = seeds_to_failure
        .iter()
        .map(|s| s.unwrap_or(range_size + 1))
        .collect();
    values.sort_unstable();
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2] as f64,
        n => (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0,
    }
}

/// A bug's first failures by checks not meant for it.
fn wrong_check_failures(figures: &BugFigures) -> Vec<String> {
    figures
        .wrong_checks
        .iter()
        .map(|wrong| {
            format!(
                "{}: failed first by a check not meant for it ({wrong})",
                figures.bug
            )
        })
        .collect()
}

/// What got worse than `baseline`: a bug no longer caught in any range,
/// a median more than twice the baseline's over the same ranges (and
/// [`SLACK_SEEDS`] above it), a bug the baseline lacks.
fn regressions(figures: &Figures, baseline: &Figures) -> Vec<String> {
    let mut found = Vec::new();
    for row in &figures.bugs {
        if row.seeds_to_failure.iter().all(Option::is_none) {
            found.push(format!(
                "{}: not caught in any of {} ranges of {} seeds",
                row.bug, figures.ranges, figures.range_size
            ));
            continue;
        }
        let Some(base) = baseline.bugs.iter().find(|b| b.bug == row.bug) else {
            found.push(format!(
                "{}: not in the baseline (refresh it with --save)",
                row.bug
            ));
            continue;
        };
        let base_median = same_ranges_median(base, row.seeds_to_failure.len(), baseline.range_size);
        if worse(row.median, base_median) {
            found.push(format!(
                "{}: median {} seeds to the first failure, more than 2x the baseline's {} on the \
                 same ranges",
                row.bug, row.median, base_median
            ));
        }
    }
    found
}

/// The baseline's median over its first `ranges` ranges (all of them if
/// it has fewer): a gate that measures three ranges compares them with
/// the baseline's same three, not with its median over ten.
fn same_ranges_median(base: &BugFigures, ranges: usize, range_size: u64) -> f64 {
    let ranges = ranges.min(base.seeds_to_failure.len());
    median(&base.seeds_to_failure[..ranges], range_size)
}

/// Whether `median` is more than twice `base` and [`SLACK_SEEDS`] above it.
fn worse(median: f64, base: f64) -> bool {
    median > 2.0 * base && median > base + SLACK_SEEDS
}

/// The table, with the baseline's medians beside when given.
fn print_table(figures: &Figures, baseline: Option<&Figures>) {
    println!(
        "seeds to the first failure per range of {} seeds ({} ranges; - = none)",
        figures.range_size, figures.ranges
    );
    println!(
        "{:<34} {:>7} {:>8} {:>9}  per range (baseline: its median over the same ranges)",
        "bug", "caught", "median", "baseline"
    );
    for row in &figures.bugs {
        let caught = row.seeds_to_failure.iter().filter(|s| s.is_some()).count();
        let ranges = row.seeds_to_failure.len();
        let base = baseline
            .and_then(|b| Some((b.bugs.iter().find(|b| b.bug == row.bug)?, b.range_size)))
            .map_or("-".to_string(), |(b, size)| {
                same_ranges_median(b, ranges, size).to_string()
            });
        let per_range: Vec<String> = row
            .seeds_to_failure
            .iter()
            .map(|s| s.map_or("-".to_string(), |n| n.to_string()))
            .collect();
        println!(
            "{:<34} {:>3}/{:<3} {:>8} {:>9}  {}",
            row.bug,
            caught,
            row.seeds_to_failure.len(),
            row.median,
            base,
            per_range.join(" ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(bug: &str, seeds: &[Option<u64>]) -> BugFigures {
        BugFigures {
            bug: bug.into(),
            seeds_to_failure: seeds.to_vec(),
            median: median(seeds, 100),
            wrong_checks: Vec::new(),
        }
    }

    fn figures(rows: Vec<BugFigures>) -> Figures {
        Figures {
            ranges: 3,
            range_size: 100,
            bugs: rows,
        }
    }

    #[test]
    fn the_median_counts_a_miss_as_one_more_seed_than_the_range_holds() {
        assert_eq!(median(&[Some(3), Some(1), Some(2)], 100), 2.0);
        assert_eq!(median(&[Some(4), Some(1)], 100), 2.5);
        assert_eq!(median(&[None, None, Some(1)], 100), 101.0);
    }

    #[test]
    fn a_median_over_twice_the_baseline_and_the_slack_is_a_regression() {
        let base = figures(vec![row("a", &[Some(5)]), row("b", &[Some(1)])]);
        let same = figures(vec![row("a", &[Some(10)]), row("b", &[Some(3)])]);
        assert!(
            regressions(&same, &base).is_empty(),
            "2x, and 2 seeds: still fine"
        );
        let worse = figures(vec![row("a", &[Some(11)]), row("b", &[Some(4)])]);
        let found = regressions(&worse, &base);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("a: median 11"), "{found:?}");
    }

    #[test]
    fn the_gate_compares_with_the_baselines_median_over_the_same_ranges() {
        // Over ten ranges the median is 2.5; over the first three, 9.
        let ten = [4, 9, 10, 10, 1, 3, 1, 2, 1, 1].map(Some);
        let base = figures(vec![row("a", &ten)]);
        assert_eq!(base.bugs[0].median, 2.5);
        let first_three = figures(vec![row("a", &ten[..3])]);
        assert!(regressions(&first_three, &base).is_empty());
        let worse = figures(vec![row("a", &[Some(30), Some(19), Some(25)])]);
        assert!(regressions(&worse, &base)[0].contains("more than 2x the baseline's 9"));
    }

    #[test]
    fn a_bug_no_longer_caught_or_missing_from_the_baseline_fails_the_gate() {
        let base = figures(vec![row("a", &[Some(5)])]);
        let missed = figures(vec![row("a", &[None, None]), row("new", &[Some(1)])]);
        let found = regressions(&missed, &base);
        assert!(found[0].contains("not caught in any"), "{found:?}");
        assert!(found[1].contains("not in the baseline"), "{found:?}");
    }

    #[test]
    fn a_first_failure_by_the_wrong_check_fails_the_run() {
        let mut row = row("a", &[Some(1)]);
        assert!(wrong_check_failures(&row).is_empty());
        row.wrong_checks.push("seed 0: stuck".into());
        assert_eq!(
            wrong_check_failures(&row),
            ["a: failed first by a check not meant for it (seed 0: stuck)"]
        );
    }
}
