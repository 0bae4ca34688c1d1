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

use crate::table::column;

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
    /// etcd #19179: a restore leaves out of the key index a key whose
    /// first retained record is its delete (kept by compaction at that
    /// revision), so the compaction the restore resumes deletes it, and a
    /// watch from the compacted revision on that member misses the delete.
    Etcd19179,
    /// etcd #17780: a restore takes the current revision from the newest
    /// record left after the compaction it resumes, which follows etcd's
    /// rule of the time (a delete at the compacted revision goes): when
    /// the newest revision held only deletes and was compacted, the
    /// member's revision goes back and its next writes reuse revisions.
    Etcd17780,
    /// etcd #18055: saving a snapshot received from the leader removes the
    /// older snapshot files, including one the applier has been handed and
    /// has still to open (it lags), so the applier finds nothing to open
    /// and the member panics.
    Etcd18055,
    /// etcd #17529: a watcher whose position was compacted, met when its
    /// stream has no room left for responses (a client reading slowly),
    /// is moved past the current revision like the watchers that were
    /// served, so it never gets its compaction notice and the events in
    /// between are lost.
    Etcd17529,
    /// etcd #15220: a watch stream answers a progress request as soon as it
    /// reads it, stamped with the store's revision, on a path that
    /// overtakes the responses it has queued (etcd 3.4's control channel),
    /// so events at or below that revision can follow the notification.
    Etcd15220,
    /// etcd #17247: the end of a write txn deduplicates the write buffer's
    /// key bucket before handing it to a read buffer that has none, and
    /// the dedupe leaves one entry in use even in a bucket with none: the
    /// stale revision in its first slot, which the last batch commit
    /// already holds, so a range read of the key bucket (a watcher
    /// catching up) sees that revision twice.
    Etcd17247,
    /// etcd #12473: a member added to a running cluster is sent the
    /// leader's newest stored snapshot, taken before the add, whose voters
    /// and learners do not hold it; raft refuses such a snapshot, so the
    /// new member waits for the next one, `snapshot-count` entries away.
    Etcd12473,
    /// etcd #21190: the voters and learners a snapshot records are those
    /// of the snapshot before it, not those as of its own index (the
    /// ConfState not saved with the index it belongs to): a member added
    /// since is missing from them and refuses the snapshot it is sent, and
    /// a member restarted from it rebuilds raft's voters without the
    /// membership changes in between.
    Etcd21190,
    /// etcd #7512: a removed member that missed its removal (cut off,
    /// down, or restarted with its old data) is never told: its peers step
    /// its messages instead of refusing them, so it never stops.
    Etcd7512,
    /// etcd #21694: MemberUpdate replaces a member's raft attributes
    /// whole, so updating a learner's peer URLs makes the membership call
    /// it a voter while raft still counts it as a learner.
    Etcd21694,
}

impl Bug {
    /// Every bug, in the table's order.
    pub const ALL: [Bug; TABLE.len()] = column!(TABLE.bug, Bug::StaleRead);

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// What the bug breaks.
    pub fn breaks(self) -> &'static str {
        self.row().breaks
    }

    /// The real-world class of bug it models.
    pub fn models(self) -> &'static str {
        self.row().models
    }

    /// The etcd issue a museum bug re-creates; `None` for the others.
    pub fn issue(self) -> Option<&'static str> {
        self.row().issue
    }

    fn row(self) -> &'static Row {
        &TABLE[self as usize]
    }
}

/// One row of the table.
struct Row {
    bug: Bug,
    /// On the command line, in traces and in coverage.
    name: &'static str,
    /// The property a campaign with the bug on finds broken.
    breaks: &'static str,
    /// The real-world class of bug it stands for.
    models: &'static str,
    /// The etcd issue a museum bug re-creates.
    issue: Option<&'static str>,
}

/// Every bug, one row each, in declaration order.
const TABLE: [Row; 33] = [
    Row {
        bug: Bug::StaleRead,
        name: "stale-read",
        breaks: "linearizable reads: a partitioned or lagging member returns old values",
        models: "serving reads without a quorum check (etcd before ReadIndex, Jepsen 2014)",
        issue: None,
    },
    Row {
        bug: Bug::LostLeaderLease,
        name: "lost-leader-lease",
        breaks: "linearizable reads: a deposed leader answers from its old state",
        models: "leader leases under clock skew or pauses (raft thesis §6.4.1)",
        issue: None,
    },
    Row {
        bug: Bug::EarlyAck,
        name: "early-ack",
        breaks: "durability of acknowledged writes across leader changes",
        models: "replying before commit (etcd #14370: ack before the WAL is durable)",
        issue: None,
    },
    Row {
        bug: Bug::SkipFsync,
        name: "skip-fsync",
        breaks: "durability of acknowledged writes across power loss",
        models: "fsync skipped or lied about (ALICE, 'All File Systems Are Not Created Equal')",
        issue: None,
    },
    Row {
        bug: Bug::NonIdempotentRetry,
        name: "non-idempotent-retry",
        breaks: "exactly-once writes: a retried put is applied twice",
        models: "client retry of non-idempotent requests (clientv3 retry policy)",
        issue: None,
    },
    Row {
        bug: Bug::DoubleApply,
        name: "double-apply",
        breaks: "exactly-once apply: a member restored from a snapshot applies entries again",
        models:
            "consistent index saved apart from the backend (etcd 3.5 data inconsistency, #13766)",
        issue: None,
    },
    Row {
        bug: Bug::WatchDropsEventOnReconnect,
        name: "watch-drops-event-on-reconnect",
        breaks: "reliable watches: a watch resumed on another member misses an event",
        models: "off-by-one resume revision (a watch resumed one revision late loses an event)",
        issue: None,
    },
    Row {
        bug: Bug::LeaseExpiresOnFollowerClock,
        name: "lease-expires-on-follower-clock",
        breaks: "leases: a lease kept alive at the leader is revoked by a follower's deadline",
        models: "expiry decided outside the primary lessor (etcd's Promote/Demote, lessor.go)",
        issue: None,
    },
    Row {
        bug: Bug::Etcd15271,
        name: "etcd-15271",
        breaks: "ordered watches: after a member restores a snapshot its watchers go back in time",
        models: "etcd #15271: synced watchers keep a stale minRev; restore moves them to unsynced",
        issue: Some("https://github.com/etcd-io/etcd/issues/15271"),
    },
    Row {
        bug: Bug::Etcd20221,
        name: "etcd-20221",
        breaks:
            "watch start: after a snapshot restore a watch on a future revision gets older events",
        models: "etcd #20221: resync sets minRev to current+1 for every watcher, future ones too",
        issue: Some("https://github.com/etcd-io/etcd/issues/20221"),
    },
    Row {
        bug: Bug::Etcd18089,
        name: "etcd-18089",
        breaks: "reliable watches: a watch from the compacted revision misses a delete made there",
        models: "etcd #18089: keyIndex.compact drops a generation whose tombstone is at atRev",
        issue: Some("https://github.com/etcd-io/etcd/issues/18089"),
    },
    Row {
        bug: Bug::LeaseRenewalToOldLeader,
        name: "lease-renewal-to-old-leader",
        breaks: "liveness: after a leader change a follower can no longer renew leases, for good",
        models:
            "a cached leader address refreshed only on connection errors (etcd's LeaseRenew waits \
            for a leader change, leasehttp)",
        issue: None,
    },
    Row {
        bug: Bug::WatchEndsWhenMemberUnreachable,
        name: "watch-ends-when-member-unreachable",
        breaks: "liveness: a watch whose member went away silently stops receiving events",
        models:
            "an early return on a dial error in a retry loop (clientv3 watchers that hang after \
            their member restarts)",
        issue: None,
    },
    Row {
        bug: Bug::AckBeforeSync,
        name: "ack-before-sync",
        breaks: "durability: a write acknowledged by a quorum is lost when they lose power",
        models:
            "pipelining the append response ahead of the fsync (raft thesis §10.2.1 allows it for \
            the leader's own write only)",
        issue: None,
    },
    Row {
        bug: Bug::ProgressRevisionAtSend,
        name: "progress-revision-at-send",
        breaks: "watch progress: a stalled stream's notification runs ahead of its events",
        models:
            "a header filled late (etcd #15220's class: progress not synchronized with the stream)",
        issue: None,
    },
    Row {
        bug: Bug::SnapshotPurgeBeforeSave,
        name: "snapshot-purge-before-save",
        breaks: "recovery: a member that crashes while saving a snapshot has none left",
        models:
            "cleaning up before the replacement is durable (etcd purges snapshot files only after \
            the new one is saved)",
        issue: None,
    },
    Row {
        bug: Bug::RangeDefaultLimit,
        name: "range-default-limit",
        breaks: "ranges: a range over many keys silently misses some",
        models: "a server-side default page size (a client's limit 0 means no limit in etcd)",
        issue: None,
    },
    Row {
        bug: Bug::Etcd18667,
        name: "etcd-18667",
        breaks: "consistency: a txn refused on the member that served it is applied on the others",
        models: "etcd #18667: removeNeedlessRangeReqs strips ranges on members without a waiter",
        issue: Some("https://github.com/etcd-io/etcd/issues/18667"),
    },
    Row {
        bug: Bug::ListLimitLosesMore,
        name: "list-limit-loses-more",
        breaks: "paginated lists: a page cut by its limit says it was the last one",
        models: "`more` computed from the truncated result (len(kvs) > limit after the cut)",
        issue: None,
    },
    Row {
        bug: Bug::PastReadOffByOne,
        name: "past-read-off-by-one",
        breaks: "reads at a past revision: they see the store one revision too early",
        models: "an off-by-one revision bound (`< rev` for `<= rev`) in a historical read",
        issue: None,
    },
    Row {
        bug: Bug::Etcd14370,
        name: "etcd-14370",
        breaks: "durability: a one-member cluster loses an acknowledged write in a crash",
        models:
            "etcd #14370: a one-member raft commits on append; the applier ran ahead of the WAL \
            fsync",
        issue: Some("https://github.com/etcd-io/etcd/issues/14370"),
    },
    Row {
        bug: Bug::Etcd13766,
        name: "etcd-13766",
        breaks: "consistency: a snapshot taken while the applier lags skips entries on restore",
        models: "etcd #13766: the consistent index persisted ahead of the data it describes",
        issue: Some("https://github.com/etcd-io/etcd/issues/13766"),
    },
    Row {
        bug: Bug::LeaseReattachKeepsOld,
        name: "lease-reattach-keeps-old",
        breaks: "leases: revoking a lease deletes a key that a later put moved off it",
        models:
            "a second index that misses an update: etcd's lessor keeps each lease's item set and a \
            put must Detach the key from its old lease before it Attaches the new one",
        issue: None,
    },
    Row {
        bug: Bug::Etcd19179,
        name: "etcd-19179",
        breaks:
            "reliable watches: after a restore a watch from the compacted revision misses a delete",
        models:
            "etcd #19179: restoreIntoIndex skips a key whose first revision is a tombstone; the \
            resumed compaction then deletes it",
        issue: Some("https://github.com/etcd-io/etcd/issues/19179"),
    },
    Row {
        bug: Bug::Etcd17780,
        name: "etcd-17780",
        breaks: "revisions: a member restored after compacting its newest revision goes back",
        models:
            "etcd #17780: restore derives currentRev from the newest key in the backend, which the \
            compaction had deleted, without the scheduled compaction as a floor",
        issue: Some("https://github.com/etcd-io/etcd/issues/17780"),
    },
    Row {
        bug: Bug::Etcd18055,
        name: "etcd-18055",
        breaks: "availability: a member sent two snapshots in a short period panics, its applier \
            finding the first one's file removed",
        models: "etcd #18055: a newer snapshot's save releases the older snapshot's database file \
            before the applier opened it",
        issue: Some("https://github.com/etcd-io/etcd/issues/18055"),
    },
    Row {
        bug: Bug::Etcd17529,
        name: "etcd-17529",
        breaks: "reliable watches: a slow stream's compacted watcher skips events, never told of \
            the compaction",
        models: "etcd #17529: syncWatchers moves a compacted watcher whose notice did not fit the \
            full stream channel to curRev+1",
        issue: Some("https://github.com/etcd-io/etcd/issues/17529"),
    },
    Row {
        bug: Bug::Etcd15220,
        name: "etcd-15220",
        breaks: "watch progress: a requested progress notification overtakes events at or below \
            its revision",
        models: "etcd #15220: recvLoop answers WatchProgressRequest through ctrlStream with the \
            store's revision, and sendLoop may send it before the queued events",
        issue: Some("https://github.com/etcd-io/etcd/issues/15220"),
    },
    Row {
        bug: Bug::Etcd17247,
        name: "etcd-17247",
        breaks: "reliable watches: a watcher catching up from history is sent an event twice",
        models: "etcd #17247: #17228's dedupe in txWriteBuffer.writeback sets used to 1 in an \
            empty key bucket, so the read buffer serves a committed revision again. etcd-sim \
            models the buffers of the key bucket only, over its history; the batch commits every \
            100 ms run when the state is next touched; and the duplicate is sent next to the \
            original, not after the newer events",
        issue: Some("https://github.com/etcd-io/etcd/issues/17247"),
    },
    Row {
        bug: Bug::Etcd12473,
        name: "etcd-12473",
        breaks: "membership: a member added after the log was compacted never catches up",
        models: "etcd #12473/#13741: a snapshot with a stale ConfState sent to a new member",
        issue: Some("https://github.com/etcd-io/etcd/issues/12473"),
    },
    Row {
        bug: Bug::Etcd21190,
        name: "etcd-21190",
        breaks: "membership: a snapshot's voters lag its index; a new member refuses it",
        models: "etcd #21190: ConfState not persisted with the index it belongs to",
        issue: Some("https://github.com/etcd-io/etcd/pull/21190"),
    },
    Row {
        bug: Bug::Etcd7512,
        name: "etcd-7512",
        breaks: "membership: a removed member that missed its removal never stops",
        models: "etcd #7512: a removed member restarted with its old data hangs",
        issue: Some("https://github.com/etcd-io/etcd/issues/7512"),
    },
    Row {
        bug: Bug::Etcd21694,
        name: "etcd-21694",
        breaks: "membership: updating a learner's URLs makes it a voter in the membership only",
        models: "etcd #21694: MemberUpdate forgets that the member is a learner",
        issue: Some("https://github.com/etcd-io/etcd/issues/21694"),
    },
];

// A `BugSet` keeps one bit per bug in a `u64`.
const _: () = assert!(TABLE.len() <= u64::BITS as usize);

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
pub struct BugSet(u64);

impl BugSet {
    /// No bugs.
    pub const NONE: BugSet = BugSet(0);

    /// Whether `bug` is on.
    pub fn has(self, bug: Bug) -> bool {
        self.0 & (1 << bug as u64) != 0
    }

    /// This set with `bug` on as well.
    pub fn with(self, bug: Bug) -> Self {
        BugSet(self.0 | 1 << bug as u64)
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
        for (i, bug) in Bug::ALL.into_iter().enumerate() {
            assert_eq!(bug as usize, i, "the table is in declaration order");
            assert_eq!(bug.name().parse::<Bug>().unwrap(), bug);
            assert!(!bug.breaks().is_empty() && !bug.models().is_empty());
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
