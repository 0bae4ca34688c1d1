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
    /// applier: an entry was applied and its waiter woken.
    AfterApply,
    /// applier: the store changed, the client's answer is not released yet.
    BeforeCommit,
    /// applier: the store changed and the answer was released.
    AfterCommit,
    /// raft driver: a snapshot is about to be saved.
    BeforeSnapshotSave,
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
}

impl CrashPoint {
    /// Every crash point, in a fixed order.
    pub const ALL: [CrashPoint; 14] = [
        CrashPoint::RaftBeforeSave,
        CrashPoint::RaftAfterSave,
        CrashPoint::BeforeApply,
        CrashPoint::AfterApply,
        CrashPoint::BeforeCommit,
        CrashPoint::AfterCommit,
        CrashPoint::BeforeSnapshotSave,
        CrashPoint::AfterSnapshotSave,
        CrashPoint::BeforeSnapshotApply,
        CrashPoint::AfterSnapshotApply,
        CrashPoint::BeforeCompactionCommit,
        CrashPoint::AfterCompactionCommit,
        CrashPoint::LeaderBeforeSend,
        CrashPoint::FollowerBeforeSend,
    ];

    /// The name used on the command line and in traces.
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::RaftBeforeSave => "raft-before-save",
            CrashPoint::RaftAfterSave => "raft-after-save",
            CrashPoint::BeforeApply => "before-apply",
            CrashPoint::AfterApply => "after-apply",
            CrashPoint::BeforeCommit => "before-commit",
            CrashPoint::AfterCommit => "after-commit",
            CrashPoint::BeforeSnapshotSave => "before-snapshot-save",
            CrashPoint::AfterSnapshotSave => "after-snapshot-save",
            CrashPoint::BeforeSnapshotApply => "before-snapshot-apply",
            CrashPoint::AfterSnapshotApply => "after-snapshot-apply",
            CrashPoint::BeforeCompactionCommit => "before-compaction-commit",
            CrashPoint::AfterCompactionCommit => "after-compaction-commit",
            CrashPoint::LeaderBeforeSend => "leader-before-send",
            CrashPoint::FollowerBeforeSend => "follower-before-send",
        }
    }

    /// Whether a restarting member passes it (restoring its own snapshot),
    /// so that a test reaches it by restarting the member while armed.
    pub fn reached_on_restart(self) -> bool {
        matches!(
            self,
            CrashPoint::BeforeSnapshotApply | CrashPoint::AfterSnapshotApply
        )
    }

    /// Where it is, for `etcd-sim crash-points`.
    pub fn place(self) -> &'static str {
        match self {
            CrashPoint::RaftBeforeSave => "raft Ready loop, before the WAL write",
            CrashPoint::RaftAfterSave => "raft Ready loop, after the WAL fsync, before sending",
            CrashPoint::BeforeApply => "applier, before an entry is applied",
            CrashPoint::AfterApply => "applier, after an entry is applied and answered",
            CrashPoint::BeforeCommit => "applier, store changed, answer not yet released",
            CrashPoint::AfterCommit => "applier, store changed, answer released",
            CrashPoint::BeforeSnapshotSave => "raft driver, before a snapshot file is written",
            CrashPoint::AfterSnapshotSave => "raft driver, snapshot saved, WAL not yet shrunk",
            CrashPoint::BeforeSnapshotApply => {
                "applier, before restoring a snapshot (a leader's, or its own on restart)"
            }
            CrashPoint::AfterSnapshotApply => {
                "applier, after restoring a snapshot (a leader's, or its own on restart)"
            }
            CrashPoint::BeforeCompactionCommit => "applier, before an MVCC compaction",
            CrashPoint::AfterCompactionCommit => "applier, after an MVCC compaction",
            CrashPoint::LeaderBeforeSend => "raft driver, leader about to send",
            CrashPoint::FollowerBeforeSend => "raft driver, follower about to send",
        }
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
    fn names_round_trip() {
        for point in CrashPoint::ALL {
            assert_eq!(point.name().parse::<CrashPoint>(), Ok(point));
        }
    }
}
