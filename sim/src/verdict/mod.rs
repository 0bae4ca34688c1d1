//! A seed's outcome and its verdict in one word ([`SeedOutcome`],
//! [`SeedVerdict`]), and the checks of a run besides the checker's: after
//! the heal the cluster must serve again ([`liveness`]), and once settled
//! its members must hold the same history ([`consistency`]); who votes is
//! one story on every member, and neither a removed member nor a learner
//! answers what it must not ([`membership`]).

pub mod catalog;
pub mod consistency;
pub mod liveness;
pub mod membership;

use std::time::Duration;

use etcd_sim_checker::lease::{LeaseEvent, LeaseViolation};
use etcd_sim_checker::report::RunEvents;
use etcd_sim_checker::watch::{WatchViolation, WatcherLog};
use etcd_sim_checker::{CheckReport, History, SavedRun, Verdict};

use crate::cluster::observer::Counts;
use crate::record::availability::Availability;
use crate::record::persisted::Settled;
use crate::record::recorder::BrokenCheck;
use crate::record::trace::Trace;
use crate::shape::schedule::FaultStep;

/// What one seed produced.
pub struct SeedOutcome {
    /// The seed.
    pub seed: u64,
    /// Every client operation, with the faults.
    pub history: History,
    /// The event trace.
    pub trace: Trace,
    /// The checker's verdict and evidence, on what was recorded.
    pub report: CheckReport,
    /// Simulated time the run took.
    pub simulated: Duration,
    /// Why the simulation stopped early: a member (or the harness) panicked.
    pub panic: Option<String>,
    /// The steps the nemesis took: replaying them as a plan replays the run.
    pub plan: Vec<FaultStep>,
    /// What each watcher received.
    pub watch_logs: Vec<WatcherLog>,
    /// What the lease clients saw acknowledged.
    pub lease_events: Vec<LeaseEvent>,
    /// What the watchers received that breaks a watch guarantee.
    pub watch_violations: Vec<WatchViolation>,
    /// Guarantees besides linearizability the run broke (members that
    /// disagree, ...).
    pub broken: Vec<BrokenCheck>,
    /// What the lease check found.
    pub lease_violations: Vec<LeaseViolation>,
    /// The members and what happened to them, for the report (with
    /// `details`, their role changes and snapshots too).
    pub run_events: RunEvents,
    /// The liveness phase's evidence, if the cluster did not converge.
    pub stuck: Option<String>,
    /// The chaos phase's availability, and the recovery time.
    pub availability: Availability,
    /// How often each fault kind, crash point, rare path and bug site was
    /// reached (see `cluster/observer.rs`).
    pub coverage: Counts,
    /// How many writes of unknown outcome the members' logs settled.
    pub settled: Settled,
}

/// A seed's result in one word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedVerdict {
    /// The history is linearizable and nothing panicked.
    Linearizable,
    /// The history is not linearizable.
    NotLinearizable,
    /// The checker gave up (its time or memory bound).
    Undecided,
    /// A guarantee besides linearizability broke; the evidence.
    Broken(String),
    /// A member or the harness panicked, e.g. raft found its log lost.
    Panicked(String),
    /// The cluster did not serve fully again within the liveness bound
    /// after the heal; the evidence.
    Stuck(String),
    /// The chaos phase's clients got too few operations through for the
    /// seed to mean anything; the figures.
    Quiet(String),
}

impl SeedVerdict {
    /// What was found, if the verdict carries evidence (a broken check's,
    /// a panic's message, a stuck or quiet cluster's figures).
    pub fn evidence(&self) -> Option<&str> {
        match self {
            SeedVerdict::Broken(evidence)
            | SeedVerdict::Panicked(evidence)
            | SeedVerdict::Stuck(evidence)
            | SeedVerdict::Quiet(evidence) => Some(evidence),
            SeedVerdict::Linearizable | SeedVerdict::NotLinearizable | SeedVerdict::Undecided => {
                None
            }
        }
    }

    /// The verdict's class, without its evidence: `linearizable`,
    /// `not-linearizable`, `undecided`, `panicked`, `broken:CHECK`,
    /// `stuck` or `quiet`. Regression files record it.
    pub fn class(&self) -> String {
        match self {
            SeedVerdict::Linearizable => "linearizable".into(),
            SeedVerdict::NotLinearizable => "not-linearizable".into(),
            SeedVerdict::Undecided => "undecided".into(),
            SeedVerdict::Panicked(_) => "panicked".into(),
            SeedVerdict::Broken(evidence) => {
                format!("broken:{}", evidence.split(':').next().unwrap_or(""))
            }
            SeedVerdict::Stuck(_) => "stuck".into(),
            SeedVerdict::Quiet(_) => "quiet".into(),
        }
    }
}

impl SeedOutcome {
    /// The run as `etcd-sim check` reads it back: the history and the logs
    /// the watch and lease checks judge.
    pub fn saved_run(&self) -> SavedRun {
        SavedRun {
            history: self.history.clone(),
            watch_logs: self.watch_logs.clone(),
            lease_events: self.lease_events.clone(),
        }
    }

    /// The seed's result.
    pub fn verdict(&self) -> SeedVerdict {
        if let Some(message) = &self.panic {
            return SeedVerdict::Panicked(message.clone());
        }
        match (&self.report.verdict, self.broken.first()) {
            (Verdict::NotLinearizable, _) => SeedVerdict::NotLinearizable,
            (_, Some(broken)) => SeedVerdict::Broken(broken.to_string()),
            _ if self.stuck.is_some() => {
                SeedVerdict::Stuck(self.stuck.clone().expect("just checked"))
            }
            _ if self.availability.quiet() => SeedVerdict::Quiet(format!(
                "{} of {} operations succeeded during chaos while no fault was on",
                self.availability.calm.1, self.availability.calm.0
            )),
            (Verdict::Linearizable, None) => SeedVerdict::Linearizable,
            (Verdict::Unknown, None) => SeedVerdict::Undecided,
        }
    }
}
