//! The failure report: a history, the run around it and the checker's
//! verdict as one self-contained HTML page (no scripts, fonts or styles
//! from elsewhere: it opens offline from a CI artifact).
//!
//! The checker knows the history and its verdict; what the members did
//! (roles, terms, crashes, restarts, pauses, snapshots) and which other
//! checks broke only the harness knows, and hands over as [`RunEvents`]
//! (empty for a history read from a file). [`explain`] turns the
//! evidence into sentences; [`page`] draws it.

mod explain;
mod page;

use serde::Serialize;

pub use explain::{explain, Explanation};
pub use page::{escape, render_html};

/// What happened to the run's members, and the checks it broke besides
/// linearizability: the report's context, filled by the harness.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunEvents {
    /// The members' names, in the order of their lanes.
    pub members: Vec<String>,
    /// Their role changes, crashes, restarts, pauses and snapshots, in
    /// time order.
    pub member_events: Vec<MemberEvent>,
    /// The checks the run broke (watch, lease, hashkv), with their
    /// evidence.
    pub broken: Vec<BrokenEvidence>,
}

/// Something that happened to one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberEvent {
    /// When, in nanoseconds of simulated time.
    pub at_ns: u64,
    /// The member's name.
    pub member: String,
    /// What happened.
    pub change: MemberChange,
}

/// A raft role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asks whether it could win an election (pre-vote).
    PreCandidate,
    /// Campaigns in a new term.
    Candidate,
    /// Leads its term.
    Leader,
}

impl std::str::FromStr for Role {
    type Err = String;

    /// raft-rs's names for its roles (`StateRole`'s `Debug`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Follower" => Ok(Role::Follower),
            "PreCandidate" => Ok(Role::PreCandidate),
            "Candidate" => Ok(Role::Candidate),
            "Leader" => Ok(Role::Leader),
            other => Err(format!("unknown raft role {other:?}")),
        }
    }
}

/// What happened to a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberChange {
    /// It took `role` in `term`, knowing `leader` (if any) as the leader.
    Role {
        /// Its role now.
        role: Role,
        /// Its term now.
        term: u64,
        /// The leader it knows, by name.
        leader: Option<String>,
    },
    /// Its process died (killed, power loss, or a crash point).
    Crashed {
        /// Why, e.g. `kill-leader`.
        why: String,
    },
    /// Its process started again, recovering from its disk.
    Restarted {
        /// What it recovered, e.g. the snapshot index and WAL entries.
        detail: String,
    },
    /// Its process was frozen.
    Paused,
    /// Its process runs again after a pause.
    Resumed,
    /// It saved a snapshot and compacted its log.
    Snapshot {
        /// At which index and term.
        detail: String,
    },
    /// It cut a torn record from its WAL's tail on recovery.
    TornWal {
        /// How much was cut.
        detail: String,
    },
}

/// A check other than linearizability that the run broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenEvidence {
    /// The check's name: `watch`, `lease`, `hashkv`.
    pub check: String,
    /// What was seen.
    pub evidence: String,
}
