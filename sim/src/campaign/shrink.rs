//! Shrinking a failing run: fewer clients, fewer operations, fewer keys,
//! fewer and shorter faults, for as long as the run still fails the same
//! way.
//!
//! The search is greedy delta debugging over a [`Schedule`]: try the
//! candidates from the boldest cut to the smallest, keep the first that
//! still fails, start over from it, and stop when no candidate fails or the
//! budget of runs is spent. Every candidate is itself a deterministic run,
//! so the result replays with `etcd-sim reproduce --schedule FILE`.

use std::mem::discriminant;

use crate::campaign::config::RunConfig;
use crate::campaign::run::run_seed;
use crate::shape::schedule::{FaultStep, Schedule};
use crate::verdict::SeedVerdict;

/// What shrinking found.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The failing run as it was first replayed.
    pub original: Schedule,
    /// The smallest failing run found.
    pub schedule: Schedule,
    /// How the smallest run failed.
    pub verdict: SeedVerdict,
    /// Runs spent.
    pub runs: usize,
}

/// Why there was nothing to shrink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShrinkError {
    /// The run does not fail.
    Passes(SeedVerdict),
    /// The schedule file is invalid.
    BadSchedule(String),
}

impl std::fmt::Display for ShrinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShrinkError::Passes(verdict) => {
                write!(f, "the run does not fail ({verdict:?}); nothing to shrink")
            }
            ShrinkError::BadSchedule(e) => f.write_str(e),
        }
    }
}

/// Shrinks the failing run `config`, spending at most `budget` runs;
/// `accepted` hears of every smaller schedule that still fails.
pub fn shrink(
    config: &RunConfig,
    budget: usize,
    mut accepted: impl FnMut(&Schedule),
) -> Result<Shrunk, ShrinkError> {
    let first = run_seed(config);
    let verdict = first.verdict();
    if !is_failure(&verdict) {
        return Err(ShrinkError::Passes(verdict));
    }
    // From here on the nemesis follows the plan it drew, which replays the
    // same run (see `Nemesis::run`).
    let original = config.to_schedule(first.plan);
    let mut best = (original.clone(), verdict);
    let mut runs = 1;
    'improve: while runs < budget {
        for candidate in candidates(&best.0) {
            if runs >= budget {
                break 'improve;
            }
            runs += 1;
            let config = RunConfig::from_schedule(&candidate).map_err(ShrinkError::BadSchedule)?;
            let outcome = run_seed(&config);
            let verdict = outcome.verdict();
            if is_failure(&verdict) && discriminant(&verdict) == discriminant(&best.1) {
                // Keep only the steps the nemesis reached: a shorter run
                // ends before the rest of the plan.
                let schedule = config.to_schedule(outcome.plan);
                accepted(&schedule);
                best = (schedule, verdict);
                continue 'improve;
            }
        }
        break;
    }
    Ok(Shrunk {
        original,
        schedule: best.0,
        verdict: best.1,
        runs,
    })
}

fn is_failure(verdict: &SeedVerdict) -> bool {
    matches!(
        verdict,
        SeedVerdict::NotLinearizable
            | SeedVerdict::Panicked(_)
            | SeedVerdict::Broken(_)
            | SeedVerdict::Stuck(_)
    )
}

/// Smaller variants of `s`, boldest first.
fn candidates(s: &Schedule) -> Vec<Schedule> {
    let mut out = Vec::new();
    // Without the background clients (watchers, lease clients): a failure
    // that needs none of them reads far more simply without their traffic.
    if s.watchers > 0 || s.lease_clients > 0 {
        out.push(Schedule {
            watchers: 0,
            lease_clients: 0,
            ..s.clone()
        });
    }
    if s.watchers > 0 {
        out.push(Schedule {
            watchers: 0,
            ..s.clone()
        });
    }
    if s.lease_clients > 0 {
        out.push(Schedule {
            lease_clients: 0,
            ..s.clone()
        });
    }
    // Fewer operations: every smaller (clients, ops per client) pair, the
    // fewest operations first. A failure does not shrink smoothly (one
    // operation less reshuffles the seed's schedule), so a greedy walk one
    // dimension at a time stalls early; the grid finds far smaller runs.
    let mut shapes: Vec<(usize, usize)> = smaller_or_same(s.clients)
        .flat_map(|c| smaller_or_same(s.ops_per_client).map(move |o| (c, o)))
        .filter(|&(c, o)| c.saturating_mul(o) < s.operations())
        .collect();
    shapes.sort_by_key(|&(c, o)| (c.saturating_mul(o), c));
    for (clients, ops_per_client) in shapes {
        out.push(Schedule {
            clients,
            ops_per_client,
            ..s.clone()
        });
    }
    for keys in 1..s.keys {
        out.push(Schedule { keys, ..s.clone() });
    }
    // The swarm's knobs, one group at a time back to the fixed shape's.
    for knobs in s.knobs.toward_fixed() {
        out.push(Schedule { knobs, ..s.clone() });
    }
    // Fault steps: drop chunks, halving the chunk size (ddmin's order).
    let mut chunk = s.plan.len();
    while chunk > 0 {
        for start in (0..s.plan.len()).step_by(chunk) {
            let plan = without(&s.plan, start..(start + chunk).min(s.plan.len()));
            out.push(Schedule { plan, ..s.clone() });
        }
        chunk /= 2;
    }
    for (i, step) in s.plan.iter().enumerate() {
        if step.duration_ms >= 200 {
            let mut plan = s.plan.clone();
            plan[i].duration_ms /= 2;
            out.push(Schedule { plan, ..s.clone() });
        }
        // The same fault, milder: fewer victims, smaller parameters.
        for fault in step.fault.milder(s.nodes) {
            let mut plan = s.plan.clone();
            plan[i].fault = fault;
            out.push(Schedule { plan, ..s.clone() });
        }
    }
    out
}

/// The counts 1..=n, or for large `n` a few of them.
fn smaller_or_same(n: usize) -> impl Iterator<Item = usize> {
    // Generated, not filtered out of 1..=n: a long-haul run's n has no bound.
    let step = n.div_ceil(64).max(1);
    let multiples = (1..=n / step).map(move |k| k * step);
    std::iter::once(1)
        .chain(multiples.filter(|&m| m != 1))
        .chain((n % step != 0 && n != 1).then_some(n))
}

/// `plan` without the steps in `cut`; the step after the cut waits as long
/// as the cut steps took, so the later faults keep their times.
fn without(plan: &[FaultStep], cut: std::ops::Range<usize>) -> Vec<FaultStep> {
    let gap: u64 = plan[cut.clone()]
        .iter()
        .map(|s| s.quiet_ms + s.duration_ms)
        .sum();
    let mut kept: Vec<FaultStep> = plan[..cut.start].to_vec();
    let mut rest = plan[cut.end..].to_vec();
    if let Some(next) = rest.first_mut() {
        next.quiet_ms += gap;
    }
    kept.append(&mut rest);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Fault, Member};

    fn step(quiet_ms: u64, duration_ms: u64) -> FaultStep {
        FaultStep {
            quiet_ms,
            fault: Fault::Kill { member: Member(0) },
            duration_ms,
        }
    }

    #[test]
    fn cutting_fault_steps_keeps_the_later_ones_in_place() {
        let plan = [step(100, 1_000), step(200, 2_000), step(300, 3_000)];
        assert_eq!(
            without(&plan, 0..2),
            vec![step(100 + 1_000 + 200 + 2_000 + 300, 3_000)]
        );
        assert_eq!(without(&plan, 2..3), plan[..2].to_vec());
    }

    #[test]
    fn shapes_come_fewest_operations_first() {
        let s = Schedule {
            seed: 0,
            nodes: 3,
            clients: 2,
            ops_per_client: 3,
            duration_ms: None,
            keys: 1,
            watchers: 0,
            lease_clients: 0,
            bugs: vec![],
            faults: "none".into(),
            pre_vote: true,
            check_quorum: true,
            traffic: Default::default(),
            knobs: crate::shape::swarm::Knobs::fixed(),
            plan: vec![],
        };
        let shapes: Vec<(usize, usize)> = candidates(&s)
            .iter()
            .map(|c| (c.clients, c.ops_per_client))
            .collect();
        assert_eq!(shapes, [(1, 1), (1, 2), (2, 1), (1, 3), (2, 2)]);
        // With background clients, dropping them comes first.
        let busy = Schedule {
            watchers: 2,
            lease_clients: 1,
            ..s.clone()
        };
        let first = &candidates(&busy)[0];
        assert_eq!((first.watchers, first.lease_clients), (0, 0));
        assert_eq!(smaller_or_same(3).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(smaller_or_same(200).count(), 51);
        // A long-haul run has no bound on its operations.
        let unbounded: Vec<usize> = smaller_or_same(usize::MAX).collect();
        assert_eq!((unbounded.len(), unbounded[0]), (65, 1));
        assert_eq!(unbounded.last(), Some(&usize::MAX));
        assert!(unbounded.windows(2).all(|w| w[0] < w[1]));
    }
}
