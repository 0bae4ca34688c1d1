//! Which checks are meant to catch each injectable bug: a bug counts as
//! caught only by a verdict class it breaks (a checker that gives up, or a
//! harness panic, is no catch unless the bug is a panic). The bug catalog
//! test and `etcd-sim bench detection` both judge catches by it.

use etcd_sim::bugs::Bug;

/// The verdict classes a bug's first failing seed may get: the checks
/// meant to catch it.
pub fn caught_as(bug: Bug) -> &'static [&'static str] {
    match bug {
        Bug::StaleRead | Bug::LostLeaderLease => &["not-linearizable"],
        // A retried write applied twice: a client sees it, or a watcher
        // gets its second application with the version of a write the
        // history never had (seed 302 of `bench detection`).
        Bug::NonIdempotentRetry => &["not-linearizable", "broken:watch"],
        // An acknowledged write that a new leader drops: a client read
        // misses it, a watcher misses its event, or the deposed leader
        // keeps it while the others do not (hashkv); a conf change so
        // dropped leaves the members disagreeing on who votes
        // (membership; seed 503 of `bench detection`).
        Bug::EarlyAck => &[
            "not-linearizable",
            "broken:watch",
            "broken:hashkv",
            "broken:membership",
        ],
        // Lost WAL writes show as lost acknowledged writes (a client read
        // or a watcher misses one: seed 200 of `bench detection`), or raft
        // itself finds its log gone and the member panics: all this bug.
        Bug::SkipFsync => &["not-linearizable", "broken:watch", "panicked"],
        // Re-applied entries: members disagree (hashkv), a client sees a
        // write applied twice, or a watcher on the member that applied
        // them twice sees another write at a revision than the others saw;
        // or a snapshot whose data holds a membership change past its index.
        Bug::DoubleApply => &[
            "broken:hashkv",
            "not-linearizable",
            "broken:watch",
            "broken:membership",
        ],
        Bug::WatchDropsEventOnReconnect => &["broken:watch"],
        Bug::LeaseExpiresOnFollowerClock => &["broken:lease"],
        Bug::LeaseRenewalToOldLeader | Bug::WatchEndsWhenMemberUnreachable => &["stuck"],
        // The etcd bug museum's watch bugs (tests/suite/bug_catalog.rs
        // asserts which watch guarantee each breaks).
        Bug::Etcd15271
        | Bug::Etcd20221
        | Bug::Etcd18089
        | Bug::Etcd17529
        | Bug::Etcd15220
        | Bug::Etcd17247 => &["broken:watch"],
        // Entries a quorum acknowledged, or a log's middle, lost in a
        // crash: raft finds its log shorter than it promised and panics
        // (as etcd's raft does), or a client misses an acknowledged write.
        Bug::SnapshotPurgeBeforeSave => &["panicked", "not-linearizable", "broken:hashkv"],
        // Besides those, entries a follower acknowledged and then lost
        // leave the leader's match index above its log: raft never probes
        // below it, so the member stays behind for good (stuck); and the
        // lost write's revision goes to another write, which a watcher
        // that saw the first sees as a different event at that revision.
        Bug::AckBeforeSync => &[
            "panicked",
            "not-linearizable",
            "broken:hashkv",
            "broken:watch",
            "stuck",
        ],
        Bug::ProgressRevisionAtSend => &["broken:watch"],
        Bug::RangeDefaultLimit => &["not-linearizable"],
        // A txn refused on the member that served it but applied on the
        // others: a read sees the refused write, members disagree, or a
        // watcher on one member gets another event at a revision than the
        // history's (seed 601 of `bench detection`).
        Bug::Etcd18667 => &["not-linearizable", "broken:hashkv", "broken:watch"],
        // A page that claims to be the last hides the keys after it.
        Bug::ListLimitLosesMore => &["not-linearizable"],
        // A read at a past revision that sees the one before (the revision
        // rules: stale at its revision, or compacted without cause).
        Bug::PastReadOffByOne => &["not-linearizable"],
        // A one-member cluster's write answered and then lost in a crash:
        // a read misses it, a watcher misses its event, or a lease granted
        // or renewed is gone again.
        Bug::Etcd14370 => &["not-linearizable", "broken:watch", "broken:lease"],
        // A snapshot that claims entries its data lacks: a member restored
        // from it skips them, so members differ (hashkv) or a read or a
        // watcher misses an acknowledged write.
        // Or the snapshot's voters are not those of the index it claims.
        Bug::Etcd13766 => &[
            "not-linearizable",
            "broken:hashkv",
            "broken:watch",
            "broken:membership",
        ],
        // Every member deletes the same wrong key, so only a client sees
        // it: a key read absent after a put moved it off the revoked lease.
        Bug::LeaseReattachKeepsOld => &["not-linearizable"],
        // A restored member deletes the delete at the compacted revision:
        // a watch from there on it misses the delete, or its history
        // differs from the others' (hashkv).
        Bug::Etcd19179 => &["broken:watch", "broken:hashkv"],
        // A restored member's revision goes back: it stands at a lower
        // revision than the others at the same applied index (hashkv), a
        // client sees a revision reused or an acknowledged write's
        // revision gone, or a watcher gets a second event at a revision.
        Bug::Etcd17780 => &["broken:hashkv", "not-linearizable", "broken:watch"],
        // A received snapshot's file removed before the applier opened it:
        // the member panics, as etcd's does.
        Bug::Etcd18055 => &["panicked"],
        // A member added to the running cluster (a replaced one) that is
        // sent a snapshot whose voters and learners lack it refuses it, and
        // never catches up: the liveness probe's put through it gets no
        // answer.
        Bug::Etcd12473 => &["stuck", "broken:membership"],
        // That, or a member restarted from such a snapshot whose raft
        // voters lack changes its membership has: raft then refuses a
        // change the membership takes (removing a voter it no longer
        // counts leaves none), and the member stops on the disagreement.
        Bug::Etcd21190 => &["stuck", "panicked", "broken:membership"],
        // A member removed while down and started with its old data is
        // not told, and runs on.
        Bug::Etcd7512 => &["broken:membership"],
        // The membership calls the updated learner a voter, raft a learner.
        Bug::Etcd21694 => &["broken:membership", "stuck", "panicked"],
    }
}
