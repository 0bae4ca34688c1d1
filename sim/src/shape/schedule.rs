//! Fault plans and schedule files: a run written down so that it can be
//! edited (by the shrinker) and replayed (`reproduce --schedule FILE`).
//!
//! A seed alone fixes a run, but it cannot be made smaller: change one
//! thing and the seed's random stream reshuffles everything. A schedule
//! pins what a shrinker wants to cut — how many clients, how many
//! operations, which faults when and for how long — and leaves the rest
//! (which member a fault hits, which key an operation uses) to the seed.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::faults::{Fault, FaultSet};
use crate::shape::swarm::Knobs;
use crate::shape::traffic::Traffic;

/// One step of the nemesis: stay quiet, then hold one fault.
///
/// Steps are relative (a quiet gap before each fault) because that is how
/// the nemesis draws them; a plan drawn from a seed and then replayed as a
/// plan reproduces the run bit for bit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultStep {
    /// Quiet time before the fault, in milliseconds.
    pub quiet_ms: u64,
    /// The fault, with its victims and parameters.
    pub fault: Fault,
    /// How long the fault is held, in milliseconds.
    pub duration_ms: u64,
}

impl FaultStep {
    /// Quiet time before the fault.
    pub fn quiet(&self) -> Duration {
        Duration::from_millis(self.quiet_ms)
    }

    /// How long the fault is held.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.duration_ms)
    }
}

impl fmt::Display for FaultStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "after {} ms quiet: {} for {} ms",
            self.quiet_ms, self.fault, self.duration_ms
        )
    }
}

/// A replayable run: everything `RunConfig` takes from the command line,
/// plus the nemesis's plan. This is the schedule file's format (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The seed: members hit, keys used, timing jitter.
    pub seed: u64,
    /// Cluster size.
    pub nodes: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Operations per client (at most, with `duration_ms`).
    pub ops_per_client: usize,
    /// How long each client keeps issuing operations, in simulated
    /// milliseconds (a long-haul run); absent: until it has issued
    /// `ops_per_client`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Keys the clients contend on.
    pub keys: usize,
    /// Watcher clients beside the KV clients (0 in files written before
    /// there were any, so that they replay as they ran).
    #[serde(default)]
    pub watchers: u32,
    /// Lease clients beside the KV clients (0 in older files, likewise).
    #[serde(default)]
    pub lease_clients: usize,
    /// Injected bugs, by name (see `etcd-sim bugs`).
    pub bugs: Vec<String>,
    /// The faults the plan was drawn from (informational once `plan` is set).
    pub faults: String,
    /// Members run raft with pre-vote.
    #[serde(default = "yes")]
    pub pre_vote: bool,
    /// Members run raft with check-quorum.
    #[serde(default = "yes")]
    pub check_quorum: bool,
    /// The KV clients' traffic (mixed in files written before there was a
    /// choice).
    #[serde(default)]
    pub traffic: Traffic,
    /// Timing, disk, network and fault-rate knobs (today's fixed shape in
    /// files written before the swarm).
    #[serde(default)]
    pub knobs: Knobs,
    /// The nemesis's steps, in order; the nemesis stops after the last.
    pub plan: Vec<FaultStep>,
}

impl Schedule {
    /// Reads a schedule file's text.
    pub fn from_json(text: &str) -> Result<Schedule, String> {
        let schedule: Schedule = serde_json::from_str(text).map_err(|e| {
            if text.contains("\"fault\": \"") {
                // Before faults were values, a step named only the kind.
                format!(
                    "a schedule from an older etcd-sim (its fault steps name only a kind, \
                     not the victims): run its seed again to write it anew ({e})"
                )
            } else {
                format!("not an etcd-sim schedule: {e}")
            }
        })?;
        schedule.fault_set()?;
        schedule.bug_set()?;
        schedule.knobs.check()?;
        for step in &schedule.plan {
            if let Some(m) = step.fault.members().iter().find(|m| m.0 >= schedule.nodes) {
                return Err(format!(
                    "plan: {} names {m}, but the cluster has {} members",
                    step.fault, schedule.nodes
                ));
            }
        }
        Ok(schedule)
    }

    /// The schedule as JSON, one plan step a line.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a schedule serializes")
    }

    /// The fault set, parsed.
    pub fn fault_set(&self) -> Result<FaultSet, String> {
        self.faults.parse().map_err(|e| format!("faults: {e}"))
    }

    /// The bugs, parsed.
    pub fn bug_set(&self) -> Result<etcd_sim::bugs::BugSet, String> {
        self.bugs
            .iter()
            .map(|b| b.parse().map_err(|e| format!("bugs: {e}")))
            .collect()
    }

    /// Operations the clients issue at most (final reads not counted).
    pub fn operations(&self) -> usize {
        self.clients.saturating_mul(self.ops_per_client)
    }

    /// Total time the plan holds faults.
    pub fn fault_time(&self) -> Duration {
        self.plan.iter().map(FaultStep::duration).sum()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ops = match self.duration_ms {
            None => format!("{} ops", self.ops_per_client),
            Some(ms) if self.ops_per_client == usize::MAX => format!("{:.0} s", ms as f64 / 1e3),
            Some(ms) => format!(
                "{:.0} s (at most {} ops)",
                ms as f64 / 1e3,
                self.ops_per_client
            ),
        };
        write!(
            f,
            "seed {}: {} members, {} clients x {ops} on {} keys, {} watchers, {} lease clients, \
             {} faults ({:.1} s of faults)",
            self.seed,
            self.nodes,
            self.clients,
            self.keys,
            self.watchers,
            self.lease_clients,
            self.plan.len(),
            self.fault_time().as_secs_f64()
        )
    }
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Member;

    fn schedule() -> Schedule {
        Schedule {
            seed: 7,
            nodes: 3,
            clients: 2,
            ops_per_client: 10,
            duration_ms: None,
            keys: 3,
            watchers: 2,
            lease_clients: 1,
            bugs: vec!["stale-read".into()],
            faults: "all".into(),
            pre_vote: true,
            check_quorum: false,
            traffic: Traffic::Kubernetes,
            knobs: crate::shape::swarm::draw(1).knobs,
            plan: vec![
                FaultStep {
                    quiet_ms: 500,
                    fault: Fault::IsolateLeader,
                    duration_ms: 2_500,
                },
                FaultStep {
                    quiet_ms: 100,
                    fault: Fault::Kill { member: Member(2) },
                    duration_ms: 700,
                },
            ],
        }
    }

    #[test]
    fn a_file_from_before_the_background_clients_replays_without_them() {
        let mut text = schedule().to_json();
        for field in ["  \"watchers\": 2,\n", "  \"lease_clients\": 1,\n"] {
            assert!(text.contains(field), "{text}");
            text = text.replace(field, "");
        }
        let old = Schedule::from_json(&text).unwrap();
        assert_eq!((old.watchers, old.lease_clients), (0, 0));
    }

    #[test]
    fn a_schedule_survives_its_file_format() {
        let text = schedule().to_json();
        assert!(text.contains("\"isolate-leader\""), "{text}");
        assert_eq!(Schedule::from_json(&text).unwrap(), schedule());
    }

    #[test]
    fn a_bad_schedule_file_says_what_is_wrong() {
        let bad_fault = schedule().to_json().replace("isolate-leader", "flood");
        let err = Schedule::from_json(&bad_fault).unwrap_err();
        assert!(err.contains("unknown variant `flood`"), "{err}");
        let bad_member = schedule().to_json().replace("\"n3\"", "\"n4\"");
        let err = Schedule::from_json(&bad_member).unwrap_err();
        assert!(
            err.contains("names n4, but the cluster has 3 members"),
            "{err}"
        );
        let old = schedule().to_json().replace(
            "\"fault\": {\n        \"kind\": \"isolate-leader\"\n      }",
            "\"fault\": \"isolate-leader\"",
        );
        assert_ne!(old, schedule().to_json());
        let err = Schedule::from_json(&old).unwrap_err();
        assert!(err.contains("older etcd-sim"), "{err}");
        let bad_bug = schedule().to_json().replace("stale-read", "no-such-bug");
        let err = Schedule::from_json(&bad_bug).unwrap_err();
        assert!(err.contains("unknown bug"), "{err}");
        let err = Schedule::from_json("{\"seed\": 1}").unwrap_err();
        assert!(err.contains("missing field"), "{err}");
        assert!(Schedule::from_json("not json").is_err());
    }
}
