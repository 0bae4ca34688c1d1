//! Availability, measured from a run's history: how much of the chaos
//! phase's load the cluster served, the longest stretch without a
//! successful write, how each fault kind hurt, and how long the cluster
//! took to serve fully again after the last fault (the liveness phase's
//! convergence time).
//!
//! A seed whose clients got too few operations through while no fault was
//! on is `quiet`: its "pass" would say nothing about the system (see
//! [`QUIET_BELOW`]).

use std::collections::BTreeMap;

use etcd_sim_checker::{FaultBand, History, Operation, Outcome, Request};
use serde::{Deserialize, Serialize};

use crate::faults::FaultKind;

/// A seed whose chaos-phase clients got fewer than this share of the
/// operations they issued while no fault was on through is `quiet`: too
/// few for the checkers to have judged anything, from a cluster that had
/// no fault to excuse it. Operations under a fault do not count: a
/// one-member cluster whose member crashed serves nothing for seconds, as
/// it should.
pub const QUIET_BELOW: f64 = 0.10;

/// Fewer operations than this issued while no fault was on say nothing
/// either way: the seed is not judged quiet.
pub const QUIET_MIN_CALM: usize = 10;

/// How long after a fault that crashed members ends (they restart then)
/// the cluster is still excused: the restarted members must start and
/// elect a leader before anything is served, and the swarm draws election
/// timeouts up to 2 s.
pub const RESTART_GRACE_NS: u64 = 3_000_000_000;

/// One seed's availability figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    /// Operations the chaos-phase clients issued.
    pub operations: usize,
    /// Of those, the ones that succeeded.
    pub succeeded: usize,
    /// The longest stretch of the chaos phase without a successful write
    /// (put, delete or txn answered), in seconds.
    pub longest_write_gap_secs: f64,
    /// Seconds from the heal of the last fault until the liveness checks
    /// all held; `None` if they never did (or were not run).
    pub recovery_secs: Option<f64>,
    /// By fault kind: operations invoked while a fault of that kind was
    /// on, and how many of them succeeded.
    pub by_fault: BTreeMap<String, (usize, usize)>,
    /// Operations invoked while no fault was on, and how many of them
    /// succeeded.
    #[serde(default)]
    pub calm: (usize, usize),
}

impl Availability {
    /// The figures of `history`'s operations by clients `0..clients` (the
    /// chaos phase's), with the liveness phase's `recovery_secs`.
    pub fn measure(history: &History, clients: u32, recovery_secs: Option<f64>) -> Self {
        let chaos: Vec<&Operation> = history
            .operations
            .iter()
            .filter(|op| op.client < clients)
            .collect();
        let mut by_fault: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for fault in &history.faults {
            let end = fault.end_ns.unwrap_or(u64::MAX);
            let during = chaos
                .iter()
                .filter(|op| (fault.start_ns..end).contains(&op.call_ns));
            let entry = by_fault.entry(fault.name.clone()).or_default();
            for op in during {
                entry.0 += 1;
                entry.1 += usize::from(succeeded(op));
            }
        }
        let calm: Vec<&&Operation> = chaos
            .iter()
            .filter(|op| {
                !history
                    .faults
                    .iter()
                    .any(|f| excused(f).contains(&op.call_ns))
            })
            .collect();
        Availability {
            calm: (calm.len(), calm.iter().filter(|op| succeeded(op)).count()),
            operations: chaos.len(),
            succeeded: chaos.iter().filter(|op| succeeded(op)).count(),
            longest_write_gap_secs: longest_write_gap(&chaos) as f64 / 1e9,
            recovery_secs,
            by_fault,
        }
    }

    /// The share of operations that succeeded, 1 if there were none.
    pub fn share(&self) -> f64 {
        if self.operations == 0 {
            1.0
        } else {
            self.succeeded as f64 / self.operations as f64
        }
    }

    /// Whether too few operations succeeded, while no fault was on, for
    /// the seed to mean anything.
    pub fn quiet(&self) -> bool {
        let (issued, succeeded) = self.calm;
        issued >= QUIET_MIN_CALM && (succeeded as f64) < QUIET_BELOW * issued as f64
    }
}

/// When `fault` excuses a cluster that serves nothing: while it is on and,
/// if it crashed members, for [`RESTART_GRACE_NS`] after their restart.
fn excused(fault: &FaultBand) -> std::ops::Range<u64> {
    let crashed = FaultKind::ALL
        .into_iter()
        .any(|kind| kind.name() == fault.name && kind.crashes_members());
    let grace = if crashed { RESTART_GRACE_NS } else { 0 };
    let end = fault
        .end_ns
        .map_or(u64::MAX, |end| end.saturating_add(grace));
    fault.start_ns..end
}

fn succeeded(op: &Operation) -> bool {
    matches!(op.outcome, Outcome::Ok(_))
}

/// The longest time, in ns, between the chaos phase's start (its first
/// call), its successful writes' returns and its end (its last return).
fn longest_write_gap(chaos: &[&Operation]) -> u64 {
    let Some(start) = chaos.iter().map(|op| op.call_ns).min() else {
        return 0;
    };
    let end = chaos
        .iter()
        .map(|op| op.return_ns)
        .filter(|&r| r != u64::MAX)
        .max()
        .unwrap_or(start);
    let mut writes: Vec<u64> = chaos
        .iter()
        .filter(|op| {
            succeeded(op)
                && matches!(
                    op.request,
                    Request::Put { .. }
                        | Request::Delete { .. }
                        | Request::Cas { .. }
                        | Request::Txn { .. }
                        | Request::DeleteRange { .. }
                )
        })
        .map(|op| op.return_ns)
        .collect();
    writes.sort_unstable();
    let mut longest = 0;
    let mut last = start;
    for at in writes.into_iter().chain([end]) {
        longest = longest.max(at.saturating_sub(last));
        last = last.max(at);
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_sim_checker::Response;

    fn op(client: u32, call: u64, ret: u64, write: bool, ok: bool) -> Operation {
        let request = if write {
            Request::Put {
                key: "k".into(),
                value: format!("{call}"),
                lease: 0,
            }
        } else {
            Request::Get {
                key: "k".into(),
                serializable: false,
            }
        };
        let outcome = match (ok, write) {
            (true, true) => Outcome::Ok(Response::Put { revision: 2 }),
            (true, false) => Outcome::Ok(Response::Get {
                kv: None,
                revision: 2,
                count: Some(0),
                more: false,
            }),
            (false, _) => Outcome::Fail("no leader".into()),
        };
        Operation {
            client,
            call_ns: call,
            return_ns: ret,
            request,
            outcome,
            served_by: None,
            persisted: None,
        }
    }

    #[test]
    fn gaps_shares_and_faults_come_from_the_chaos_clients_alone() {
        let history = History {
            operations: vec![
                op(0, 0, 10, true, true),
                op(1, 20, 30, false, false),
                op(0, 40, 100, true, false),
                op(1, 50, 60, false, true),
                op(0, 110, 120, true, true),
                op(1, 130, 140, false, true),
                // The final reader (client 2) is not the chaos phase's.
                op(2, 500, 900, false, false),
            ],
            faults: vec![FaultBand {
                name: "partition".into(),
                start_ns: 15,
                end_ns: Some(105),
                detail: String::new(),
            }],
        };
        let a = Availability::measure(&history, 2, Some(1.5));
        assert_eq!((a.operations, a.succeeded), (6, 4));
        assert_eq!(a.longest_write_gap_secs, 110e-9, "from 10 to 120");
        assert_eq!(a.by_fault["partition"], (3, 1));
        assert_eq!(a.recovery_secs, Some(1.5));
        assert!(!a.quiet(), "4 of 6 went through");
        let mut failing = history.clone();
        for op in &mut failing.operations {
            op.outcome = Outcome::Fail("no leader".into());
        }
        failing.operations[0].outcome = Outcome::Ok(Response::Put { revision: 2 });
        let few = (0..10).map(|i| op(1, 200 + i, 201 + i, false, false));
        failing.operations.extend(few);
        let measured = Availability::measure(&failing, 2, None);
        assert_eq!(
            measured.calm,
            (13, 1),
            "the three under the partition do not count"
        );
        assert!(measured.quiet(), "1 of 13 while no fault was on");
        // The same failures all under a fault are no sign of a quiet seed.
        failing.faults[0].end_ns = None;
        let under_fault = Availability::measure(&failing, 2, None);
        assert_eq!(under_fault.calm, (1, 1));
        assert!(!under_fault.quiet());
    }

    #[test]
    fn a_seed_with_enough_successes_is_not_quiet() {
        let operations = (0..20)
            .map(|i| op(0, i * 10, i * 10 + 5, true, true))
            .collect();
        let history = History {
            operations,
            faults: vec![],
        };
        let a = Availability::measure(&history, 1, None);
        assert!(!a.quiet());
        assert_eq!(a.share(), 1.0);
        assert_eq!(a.longest_write_gap_secs, 10e-9);
    }

    #[test]
    fn a_restart_excuses_the_election_after_it_and_nothing_else_does() {
        // Twenty failed reads issued 1 to 2.9 s after a fault ended.
        let operations: Vec<Operation> = (0..20)
            .map(|i| op(0, 1_000_000_000 + i * 100_000_000, 0, false, false))
            .map(|mut o| {
                o.return_ns = o.call_ns + 5;
                o
            })
            .collect();
        let after = |name: &str| History {
            operations: operations.clone(),
            faults: vec![FaultBand {
                name: name.into(),
                start_ns: 0,
                end_ns: Some(1),
                detail: String::new(),
            }],
        };
        for crash in ["kill", "kill-leader", "kill-all", "crash-point"] {
            let a = Availability::measure(&after(crash), 1, None);
            assert_eq!(a.calm, (0, 0), "{crash}");
            assert!(!a.quiet(), "{crash}");
        }
        let a = Availability::measure(&after("partition"), 1, None);
        assert_eq!(a.calm, (20, 0));
        assert!(a.quiet(), "a healed partition excuses nothing");
    }
}
