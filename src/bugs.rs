//! Injectable bugs: named switches in the system under test, off by default.
//!
//! Each bug is a small deviation *in the real code path* — a skipped fsync, a
//! skipped read barrier — never a separate path, so that what a campaign
//! catches with the switch on is what it would catch if a developer wrote
//! the same mistake. A campaign with `--bug NAME` must find a violation; a
//! campaign without any must find none. That pair is the evidence that the
//! harness and the checker have teeth.

use std::fmt;
use std::str::FromStr;

/// One injectable bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bug {
    /// Linearizable reads are served from local state, without ReadIndex.
    StaleRead,
    /// A member that believes it leads serves reads without confirming its
    /// leadership, as a lease read with an expired lease would.
    LostLeaderLease,
    /// A write is answered when the leader has appended it, before a quorum
    /// has: the leader applies uncommitted entries.
    EarlyAck,
    /// The WAL is written but never fsynced.
    SkipFsync,
    /// The client retries a write whose outcome is unknown.
    NonIdempotentRetry,
    /// A snapshot records the applied index from before its last batch of
    /// entries, while its data already holds that batch: the consistent
    /// index is not persisted with the state it describes.
    DoubleApply,
    /// A watch resumed after its stream broke asks for one revision after
    /// the one it needs, so the first event after the break is lost.
    WatchDropsEventOnReconnect,
    /// Every member's lessor keeps lease deadlines by its own clock, and a
    /// follower proposes revoking the leases that expired by it, although
    /// only the leader's lessor sees the keep-alives.
    LeaseExpiresOnFollowerClock,
    /// etcd #15271: a watcher that is caught up is not told how far it got
    /// (its resync position stays where it last caught up from history),
    /// so when a snapshot replaces the member's state every such watcher
    /// resyncs from that old position and is sent events again.
    Etcd15271,
    /// etcd #20221: after a snapshot replaced the member's state, resync
    /// assumes every watcher is behind and sets its position to the
    /// revision after the current one, lowering a watch on a future
    /// revision.
    Etcd20221,
    /// etcd #18089: compaction at a revision where a key was deleted drops
    /// the tombstone with the generation it ends, so a watch from the
    /// compacted revision (which etcd serves) never gets that delete.
    Etcd18089,
    /// A follower remembers the leader it last forwarded a keep-alive to
    /// and keeps forwarding there for as long as it can connect, even
    /// after raft elected another leader.
    LeaseRenewalToOldLeader,
    /// A client's watch ends, as if cancelled, when the member it tries to
    /// resume on cannot be reached, instead of moving on to the next one.
    WatchEndsWhenMemberUnreachable,
    /// A follower acknowledges appended entries once they are written,
    /// while their fsync is still in flight.
    AckBeforeSync,
    /// A watch stream stamps a progress notification with the store's
    /// revision when it sends it, not when it was computed, so events the
    /// stream has yet to send can fall below it.
    ProgressRevisionAtSend,
    /// Saving a snapshot removes the older ones before the new one is
    /// durable.
    SnapshotPurgeBeforeSave,
    /// A range without a limit is answered with at most a default page of
    /// keys (and `more` set), as if the client had asked for one.
    RangeDefaultLimit,
    /// etcd #18667: a member applying a txn it has no waiter for (it did
    /// not serve the client) drops the txn's range ops, whose results
    /// nobody will read, so a range at a compacted revision fails the txn
    /// on the member that served it and nowhere else.
    Etcd18667,
    /// A range with a limit that cut its result reports that no more keys
    /// remain.
    ListLimitLosesMore,
    /// A range at a past revision is served as of the revision before it.
    PastReadOffByOne,
    /// etcd #14370: a member that alone is a quorum hands its new entries
    /// to the applier before its WAL write of them is durable (raft counts
    /// an entry committed in a one-member cluster as soon as it is
    /// appended), so a write can be answered and then lost in a crash.
    Etcd14370,
    /// etcd #13766: the consistent index a snapshot records is raft's
    /// commit index when the snapshot is taken, not the index its data was
    /// applied to; while the applier lags raft, the snapshot claims entries
    /// its data lacks, and whoever restores it skips them.
    Etcd13766,
    /// A put that attaches a key to a new lease, or to none, leaves it
    /// attached to its old one too: revoking the old lease deletes a key
    /// that no longer belongs to it.
    LeaseReattachKeepsOld,
}

impl Bug {
    /// Every bug, in a fixed order.
    pub const ALL: [Bug; 23] = [
        Bug::StaleRead,
        Bug::LostLeaderLease,
        Bug::EarlyAck,
        Bug::SkipFsync,
        Bug::NonIdempotentRetry,
        Bug::DoubleApply,
        Bug::WatchDropsEventOnReconnect,
        Bug::LeaseExpiresOnFollowerClock,
        Bug::Etcd15271,
        Bug::Etcd20221,
        Bug::Etcd18089,
        Bug::LeaseRenewalToOldLeader,
        Bug::WatchEndsWhenMemberUnreachable,
        Bug::AckBeforeSync,
        Bug::ProgressRevisionAtSend,
        Bug::SnapshotPurgeBeforeSave,
        Bug::RangeDefaultLimit,
        Bug::Etcd18667,
        Bug::ListLimitLosesMore,
        Bug::PastReadOffByOne,
        Bug::Etcd14370,
        Bug::Etcd13766,
        Bug::LeaseReattachKeepsOld,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Bug::StaleRead => "stale-read",
            Bug::LostLeaderLease => "lost-leader-lease",
            Bug::EarlyAck => "early-ack",
            Bug::SkipFsync => "skip-fsync",
            Bug::NonIdempotentRetry => "non-idempotent-retry",
            Bug::DoubleApply => "double-apply",
            Bug::WatchDropsEventOnReconnect => "watch-drops-event-on-reconnect",
            Bug::LeaseExpiresOnFollowerClock => "lease-expires-on-follower-clock",
            Bug::Etcd15271 => "etcd-15271",
            Bug::Etcd20221 => "etcd-20221",
            Bug::Etcd18089 => "etcd-18089",
            Bug::LeaseRenewalToOldLeader => "lease-renewal-to-old-leader",
            Bug::WatchEndsWhenMemberUnreachable => "watch-ends-when-member-unreachable",
            Bug::AckBeforeSync => "ack-before-sync",
            Bug::ProgressRevisionAtSend => "progress-revision-at-send",
            Bug::SnapshotPurgeBeforeSave => "snapshot-purge-before-save",
            Bug::RangeDefaultLimit => "range-default-limit",
            Bug::Etcd18667 => "etcd-18667",
            Bug::ListLimitLosesMore => "list-limit-loses-more",
            Bug::PastReadOffByOne => "past-read-off-by-one",
            Bug::Etcd14370 => "etcd-14370",
            Bug::Etcd13766 => "etcd-13766",
            Bug::LeaseReattachKeepsOld => "lease-reattach-keeps-old",
        }
    }

    /// What the bug breaks.
    pub fn breaks(self) -> &'static str {
        match self {
            Bug::StaleRead => {
                "linearizable reads: a partitioned or lagging member returns old values"
            }
            Bug::LostLeaderLease => {
                "linearizable reads: a deposed leader answers from its old state"
            }
            Bug::EarlyAck => "durability of acknowledged writes across leader changes",
            Bug::SkipFsync => "durability of acknowledged writes across power loss",
            Bug::NonIdempotentRetry => "exactly-once writes: a retried put is applied twice",
            Bug::DoubleApply => {
                "exactly-once apply: a member restored from a snapshot applies entries again"
            }
            Bug::WatchDropsEventOnReconnect => {
                "reliable watches: a watch resumed on another member misses an event"
            }
            Bug::LeaseExpiresOnFollowerClock => {
                "leases: a lease kept alive at the leader is revoked by a follower's deadline"
            }
            Bug::Etcd15271 => {
                "ordered watches: after a member restores a snapshot its watchers go back in time"
            }
            Bug::Etcd20221 => {
                "watch start: after a snapshot restore a watch on a future revision gets older events"
            }
            Bug::Etcd18089 => {
                "reliable watches: a watch from the compacted revision misses a delete made there"
            }
            Bug::LeaseRenewalToOldLeader => {
                "liveness: after a leader change a follower can no longer renew leases, for good"
            }
            Bug::WatchEndsWhenMemberUnreachable => {
                "liveness: a watch whose member went away silently stops receiving events"
            }
            Bug::AckBeforeSync => {
                "durability: a write acknowledged by a quorum is lost when they lose power"
            }
            Bug::ProgressRevisionAtSend => {
                "watch progress: a stalled stream's notification runs ahead of its events"
            }
            Bug::SnapshotPurgeBeforeSave => {
                "recovery: a member that crashes while saving a snapshot has none left"
            }
            Bug::RangeDefaultLimit => "ranges: a range over many keys silently misses some",
            Bug::Etcd18667 => {
                "consistency: a txn refused on the member that served it is applied on the others"
            }
            Bug::ListLimitLosesMore => {
                "paginated lists: a page cut by its limit says it was the last one"
            }
            Bug::PastReadOffByOne => {
                "reads at a past revision: they see the store one revision too early"
            }
            Bug::Etcd14370 => {
                "durability: a one-member cluster loses an acknowledged write in a crash"
            }
            Bug::Etcd13766 => {
                "consistency: a snapshot taken while the applier lags skips entries on restore"
            }
            Bug::LeaseReattachKeepsOld => {
                "leases: revoking a lease deletes a key that a later put moved off it"
            }
        }
    }

    /// The real-world class of bug it models.
    pub fn models(self) -> &'static str {
        match self {
            Bug::StaleRead => {
                "serving reads without a quorum check (etcd before ReadIndex, Jepsen 2014)"
            }
            Bug::LostLeaderLease => "leader leases under clock skew or pauses (raft thesis §6.4.1)",
            Bug::EarlyAck => "replying before commit (etcd #14370: ack before the WAL is durable)",
            Bug::SkipFsync => {
                "fsync skipped or lied about (ALICE, 'All File Systems Are Not Created Equal')"
            }
            Bug::NonIdempotentRetry => {
                "client retry of non-idempotent requests (clientv3 retry policy)"
            }
            Bug::DoubleApply => {
                "consistent index saved apart from the backend (etcd 3.5 data inconsistency, #13766)"
            }
            Bug::WatchDropsEventOnReconnect => {
                "off-by-one resume revision (a watch resumed one revision late loses an event)"
            }
            Bug::LeaseExpiresOnFollowerClock => {
                "expiry decided outside the primary lessor (etcd's Promote/Demote, lessor.go)"
            }
            Bug::Etcd15271 => {
                "etcd #15271: synced watchers keep a stale minRev; restore moves them to unsynced"
            }
            Bug::Etcd20221 => {
                "etcd #20221: resync sets minRev to current+1 for every watcher, future ones too"
            }
            Bug::Etcd18089 => {
                "etcd #18089: keyIndex.compact drops a generation whose tombstone is at atRev"
            }
            Bug::LeaseRenewalToOldLeader => {
                "a cached leader address refreshed only on connection errors (etcd's LeaseRenew \
                 waits for a leader change, leasehttp)"
            }
            Bug::WatchEndsWhenMemberUnreachable => {
                "an early return on a dial error in a retry loop (clientv3 watchers that hang \
                 after their member restarts)"
            }
            Bug::AckBeforeSync => {
                "pipelining the append response ahead of the fsync (raft thesis §10.2.1 allows \
                 it for the leader's own write only)"
            }
            Bug::ProgressRevisionAtSend => {
                "a header filled late (etcd #15220's class: progress not synchronized with the \
                 stream)"
            }
            Bug::SnapshotPurgeBeforeSave => {
                "cleaning up before the replacement is durable (etcd purges snapshot files only \
                 after the new one is saved)"
            }
            Bug::RangeDefaultLimit => {
                "a server-side default page size (a client's limit 0 means no limit in etcd)"
            }
            Bug::Etcd18667 => {
                "etcd #18667: removeNeedlessRangeReqs strips ranges on members without a waiter"
            }
            Bug::ListLimitLosesMore => {
                "`more` computed from the truncated result (len(kvs) > limit after the cut)"
            }
            Bug::PastReadOffByOne => {
                "an off-by-one revision bound (`< rev` for `<= rev`) in a historical read"
            }
            Bug::Etcd14370 => {
                "etcd #14370: a one-member raft commits on append; the applier ran ahead of the \
                 WAL fsync"
            }
            Bug::Etcd13766 => {
                "etcd #13766: the consistent index persisted ahead of the data it describes"
            }
            Bug::LeaseReattachKeepsOld => {
                "a second index that misses an update: etcd's lessor keeps each lease's item set \
                 and a put must Detach the key from its old lease before it Attaches the new one"
            }
        }
    }

    /// The etcd issue a museum bug re-creates; `None` for the others.
    pub fn issue(self) -> Option<&'static str> {
        match self {
            Bug::Etcd15271 => Some("https://github.com/etcd-io/etcd/issues/15271"),
            Bug::Etcd20221 => Some("https://github.com/etcd-io/etcd/issues/20221"),
            Bug::Etcd18089 => Some("https://github.com/etcd-io/etcd/issues/18089"),
            Bug::Etcd18667 => Some("https://github.com/etcd-io/etcd/issues/18667"),
            Bug::Etcd14370 => Some("https://github.com/etcd-io/etcd/issues/14370"),
            Bug::Etcd13766 => Some("https://github.com/etcd-io/etcd/issues/13766"),
            _ => None,
        }
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a bug in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownBug(pub String);

impl fmt::Display for UnknownBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
        write!(f, "unknown bug {:?}; known: {}", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownBug {}

impl FromStr for Bug {
    type Err = UnknownBug;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Bug::ALL
            .into_iter()
            .find(|b| b.name() == s.trim())
            .ok_or_else(|| UnknownBug(s.to_string()))
    }
}

/// The bugs switched on in one member or client; empty by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BugSet(u32);

impl BugSet {
    /// No bugs.
    pub const NONE: BugSet = BugSet(0);

    /// Whether `bug` is on.
    pub fn has(self, bug: Bug) -> bool {
        self.0 & (1 << bug as u32) != 0
    }

    /// This set with `bug` on as well.
    pub fn with(self, bug: Bug) -> Self {
        BugSet(self.0 | 1 << bug as u32)
    }
}

impl FromIterator<Bug> for BugSet {
    fn from_iter<I: IntoIterator<Item = Bug>>(bugs: I) -> Self {
        bugs.into_iter().fold(BugSet::NONE, BugSet::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bugs_parse_by_name_and_sets_hold_exactly_what_was_added() {
        for bug in Bug::ALL {
            assert_eq!(bug.name().parse::<Bug>().unwrap(), bug);
        }
        assert!("no-such-bug"
            .parse::<Bug>()
            .unwrap_err()
            .to_string()
            .contains("stale-read"));
        let set: BugSet = [Bug::SkipFsync, Bug::StaleRead].into_iter().collect();
        assert!(set.has(Bug::SkipFsync) && set.has(Bug::StaleRead));
        assert!(!set.has(Bug::EarlyAck));
        assert!(!BugSet::NONE.has(Bug::StaleRead));
    }
}
