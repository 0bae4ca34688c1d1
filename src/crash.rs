//! Crash points: named places in the system where a test can make a member
//! die, in the spirit of etcd's gofail failpoints.
//!
//! A test arms one point of one member ([`CrashPoints::arm`]); the next time
//! that member's execution reaches the point, it panics with a message that
//! starts with [`CRASH_PANIC`]. The simulation restarts such a member from
//! what its disk holds, so the crash lands exactly between, say, the WAL
//! write and the reply. Off by default, and free when off: one relaxed
//! atomic load per point reached.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::table::column;

/// What a crash point's panic message starts with.
pub const CRASH_PANIC: &str = "etcd-sim crash point";

/// A place where a member can be made to crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CrashPoint {
    /// raft driver: new entries and hard state are about to be written to the WAL.
    RaftBeforeSave,
    /// raft driver: the WAL write is durable; nothing was sent because of it yet.
    RaftAfterSave,
    /// applier: a committed entry is about to be applied.
    BeforeApply,
    /// applier: a batch was applied and its applied index published.
    AfterApply,
    /// applier: the store changed, the client's answer is not released yet.
    BeforeCommit,
    /// applier: the store changed and the answer was released.
    AfterCommit,
    /// raft driver: a snapshot is about to be saved.
    BeforeSnapshotSave,
    /// snapshotter: a snapshot's file is written but neither synced nor
    /// renamed into place.
    MidSnapshotSave,
    /// raft driver: a snapshot is saved; the WAL still holds the entries it covers.
    AfterSnapshotSave,
    /// applier: the store is about to be replaced by a snapshot from the leader.
    BeforeSnapshotApply,
    /// applier: the store was replaced by a snapshot.
    AfterSnapshotApply,
    /// applier: an MVCC compaction is about to run.
    BeforeCompactionCommit,
    /// applier: an MVCC compaction ran.
    AfterCompactionCommit,
    /// raft driver: a leader is about to send messages.
    LeaderBeforeSend,
    /// raft driver: a follower (or candidate) is about to send messages.
    FollowerBeforeSend,
    /// applier: a committed membership change is about to be judged and
    /// taken.
    ConfChangeBeforeApply,
    /// applier: the membership took a change; raft and the transport are
    /// not told yet.
    ConfChangeMidApply,
    /// raft driver: a snapshot whose voters differ from the previous
    /// snapshot's is about to be saved.
    MembershipSnapshotSave,
}

impl CrashPoint {
    /// Every crash point, in the table's order.
    pub const ALL: [CrashPoint; TABLE.len()] = column!(TABLE.point, CrashPoint::RaftBeforeSave);

    /// The name used on the command line and in traces.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// Where it is, for `etcd-sim crash-points`.
    pub fn place(self) -> &'static str {
        self.row().place
    }

    /// What failure of a real member crashing here stands for.
    pub fn models(self) -> &'static str {
        self.row().models
    }

    /// Whether a restarting member passes it (restoring its own snapshot),
    /// so that a test reaches it by restarting the member while armed.
    pub fn reached_on_restart(self) -> bool {
        self.row().on_restart
    }

    fn row(self) -> &'static Row {
        &TABLE[self as usize]
    }
}

/// One row of the table.
struct Row {
    point: CrashPoint,
    /// On the command line, in traces and in coverage.
    name: &'static str,
    /// Where in the member it sits.
    place: &'static str,
    /// The real failure it stands for.
    models: &'static str,
    /// Whether a restart passes it.
    on_restart: bool,
}

/// Every crash point, one row each, in declaration order.
const TABLE: [Row; 18] = [
    Row {
        point: CrashPoint::RaftBeforeSave,
        name: "raft-before-save",
        place: "raft Ready loop, before the WAL write",
        models: "power lost before entries or a vote reached the disk: they never happened here",
        on_restart: false,
    },
    Row {
        point: CrashPoint::RaftAfterSave,
        name: "raft-after-save",
        place: "raft Ready loop, after the WAL fsync, before sending",
        models: "a crash between the fsync and the acknowledgement: durable, but nobody was told",
        on_restart: false,
    },
    Row {
        point: CrashPoint::BeforeApply,
        name: "before-apply",
        place: "applier, before an entry is applied",
        models: "a crash with committed entries unapplied: the restart applies them, once",
        on_restart: false,
    },
    Row {
        point: CrashPoint::AfterApply,
        name: "after-apply",
        place: "applier, after a batch is applied and its applied index published",
        models:
            "a crash once a batch's writes are answered and visible to reads: they must outlive it",
        on_restart: false,
    },
    Row {
        point: CrashPoint::BeforeCommit,
        name: "before-commit",
        place: "applier, store changed, answer not yet released",
        models:
            "a crash between the backend change and the reply: the client cannot know it applied",
        on_restart: false,
    },
    Row {
        point: CrashPoint::AfterCommit,
        name: "after-commit",
        place: "applier, store changed, answer released",
        models: "a crash right after one reply, the rest of its batch not yet applied or visible",
        on_restart: false,
    },
    Row {
        point: CrashPoint::BeforeSnapshotSave,
        name: "before-snapshot-save",
        place: "raft driver, before a snapshot file is written",
        models: "a crash while a snapshot is written: the previous one and the WAL must do",
        on_restart: false,
    },
    Row {
        point: CrashPoint::MidSnapshotSave,
        name: "mid-snapshot-save",
        place: "snapshotter, a new snapshot file written, not yet synced or renamed",
        models:
            "power lost halfway through a snapshot save: the older snapshots must still be there",
        on_restart: false,
    },
    Row {
        point: CrashPoint::AfterSnapshotSave,
        name: "after-snapshot-save",
        place: "raft driver, snapshot saved, WAL not yet shrunk",
        models: "a crash with entries both in the new snapshot and the WAL",
        on_restart: false,
    },
    Row {
        point: CrashPoint::BeforeSnapshotApply,
        name: "before-snapshot-apply",
        place: "applier, before restoring a snapshot (a leader's, or its own on restart)",
        models: "a crash while installing a snapshot: the old state must still restart",
        on_restart: true,
    },
    Row {
        point: CrashPoint::AfterSnapshotApply,
        name: "after-snapshot-apply",
        place: "applier, after restoring a snapshot (a leader's, or its own on restart)",
        models: "a crash with a restored state held only in memory",
        on_restart: true,
    },
    Row {
        point: CrashPoint::BeforeCompactionCommit,
        name: "before-compaction-commit",
        place: "applier, before an MVCC compaction",
        models: "a crash as a compaction starts: replaying it must give the same store",
        on_restart: false,
    },
    Row {
        point: CrashPoint::AfterCompactionCommit,
        name: "after-compaction-commit",
        place: "applier, after an MVCC compaction",
        models: "a crash right after a compaction, before its entry counts as applied",
        on_restart: false,
    },
    Row {
        point: CrashPoint::LeaderBeforeSend,
        name: "leader-before-send",
        place: "raft driver, leader about to send",
        models: "a leader dying with entries it persisted that no follower heard of",
        on_restart: false,
    },
    Row {
        point: CrashPoint::FollowerBeforeSend,
        name: "follower-before-send",
        place: "raft driver, follower about to send",
        models: "a follower or candidate dying before its acknowledgements or votes leave",
        on_restart: false,
    },
    Row {
        point: CrashPoint::ConfChangeBeforeApply,
        name: "conf-change-before-apply",
        place: "applier, before a committed membership change is judged",
        models:
            "a crash with a membership change committed but not applied: the restart applies it",
        on_restart: false,
    },
    Row {
        point: CrashPoint::ConfChangeMidApply,
        name: "conf-change-mid-apply",
        place: "applier, membership changed, raft and transport not yet told",
        models: "a crash between the membership and raft taking a change (etcd #21190's window)",
        on_restart: false,
    },
    Row {
        point: CrashPoint::MembershipSnapshotSave,
        name: "membership-snapshot-save",
        place: "raft driver, before saving a snapshot whose voters changed",
        models: "a crash as the first snapshot holding a new membership is saved",
        on_restart: false,
    },
];

impl CrashPoint {
    /// The points passed only while the members change (a conf change
    /// applied, a snapshot holding a new membership saved): a membership
    /// fault arms them in the middle of its change, where a crash point
    /// armed at any other time would wait in vain.
    pub const MEMBERSHIP: [CrashPoint; 3] = [
        CrashPoint::ConfChangeBeforeApply,
        CrashPoint::ConfChangeMidApply,
        CrashPoint::MembershipSnapshotSave,
    ];

    /// Whether it is one of [`CrashPoint::MEMBERSHIP`].
    pub fn only_in_membership_changes(self) -> bool {
        Self::MEMBERSHIP.contains(&self)
    }
}

impl fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CrashPoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CrashPoint::ALL
            .into_iter()
            .find(|p| p.name() == s.trim())
            .ok_or_else(|| format!("unknown crash point {s:?}; see `etcd-sim crash-points`"))
    }
}

/// One member's crash points: at most one armed at a time. Clones share
/// the switch, so the harness keeps one to arm the member's.
#[derive(Debug, Clone, Default)]
pub struct CrashPoints(Arc<AtomicU32>);

impl CrashPoints {
    /// Arms `point`; the member crashes when it next reaches it.
    pub fn arm(&self, point: CrashPoint) {
        self.0.store(point as u32 + 1, Ordering::Relaxed);
    }

    /// Disarms whatever is armed; returns whether something was (that is,
    /// whether it did not fire).
    pub fn disarm(&self) -> bool {
        self.0.swap(0, Ordering::Relaxed) != 0
    }

    /// Whether a point is armed (and so has not fired yet).
    pub fn is_armed(&self) -> bool {
        self.0.load(Ordering::Relaxed) != 0
    }

    /// Crashes the member here if `point` is armed.
    #[inline]
    pub fn reach(&self, point: CrashPoint) {
        if self.0.load(Ordering::Relaxed) == point as u32 + 1 && self.disarm() {
            panic!("{CRASH_PANIC}: {point}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_armed_point_fires_once_and_others_never() {
        let points = CrashPoints::default();
        points.reach(CrashPoint::BeforeApply);
        points.arm(CrashPoint::BeforeApply);
        points.reach(CrashPoint::AfterApply);
        let fired = std::panic::catch_unwind(|| points.reach(CrashPoint::BeforeApply));
        let message = *fired.unwrap_err().downcast::<String>().unwrap();
        assert_eq!(message, "etcd-sim crash point: before-apply");
        points.reach(CrashPoint::BeforeApply);
        assert!(!points.disarm());
    }

    #[test]
    fn the_table_has_every_point_in_order_and_names_round_trip() {
        for (i, point) in CrashPoint::ALL.into_iter().enumerate() {
            assert_eq!(point as usize, i, "the table is in declaration order");
            assert_eq!(point.name().parse::<CrashPoint>(), Ok(point));
            assert!(!point.place().is_empty() && !point.models().is_empty());
        }
        let reached: Vec<_> = CrashPoint::ALL
            .into_iter()
            .filter(|p| p.reached_on_restart())
            .collect();
        assert_eq!(
            reached,
            [
                CrashPoint::BeforeSnapshotApply,
                CrashPoint::AfterSnapshotApply
            ]
        );
    }
}
