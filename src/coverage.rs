//! Coverage sites: rare paths of the system, named, so that a campaign can
//! count how often each was taken and say which never were.
//!
//! Reaching a site logs one `tracing` event (target [`TARGET`], field
//! `site`), as a production member would log the same moment; whoever
//! collects the logs counts them (the simulation harness does, per seed).
//! Nothing else happens: a site changes no behaviour, and with no
//! subscriber listening at trace level it costs one disabled callsite check.
//!
//! Besides the rare paths ([`Site`]), every bug switch's site is counted
//! whether or not the bug is on ([`bug_site`]): a campaign that never
//! reaches the code a bug lives in could not catch that bug.

use std::fmt;

use crate::bugs::Bug;

/// The `tracing` target of coverage events.
pub const TARGET: &str = "etcd_sim::coverage";

/// A rare path of the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Site {
    /// A leader streamed a snapshot to a follower, and it arrived.
    SnapshotSent,
    /// A member restored a snapshot sent by the leader (not its own, at start).
    SnapshotReceived,
    /// A member restarted from a snapshot plus the WAL written after it.
    RestartFromSnapshot,
    /// A leader handed its leadership to another member (MoveLeader).
    LeaderTransferred,
    /// The leader revoked a lease because it expired.
    LeaseRevokedOnExpiry,
    /// A follower forwarded a keep-alive to the leader and got an answer.
    LeaseRenewalForwarded,
    /// A watcher was cancelled because its start revision was compacted.
    WatchCancelledByCompaction,
    /// A follower served a linearizable read after a ReadIndex round.
    ReadIndexOnFollower,
    /// A write did not fit the backend quota and NOSPACE was raised.
    NoSpaceRaised,
    /// A client moved a request to another endpoint.
    ClientFailover,
    /// A client's watch resumed on another stream after losing one.
    WatchResumed,
    /// raft restored a snapshot from the leader while the applier still
    /// had older membership changes to apply (raft skips them).
    StaleConfChange,
}

impl Site {
    /// Every site, in a fixed order.
    pub const ALL: [Site; 12] = [
        Site::SnapshotSent,
        Site::SnapshotReceived,
        Site::RestartFromSnapshot,
        Site::LeaderTransferred,
        Site::LeaseRevokedOnExpiry,
        Site::LeaseRenewalForwarded,
        Site::WatchCancelledByCompaction,
        Site::ReadIndexOnFollower,
        Site::NoSpaceRaised,
        Site::ClientFailover,
        Site::WatchResumed,
        Site::StaleConfChange,
    ];

    /// The name counted and printed.
    pub fn name(self) -> &'static str {
        match self {
            Site::SnapshotSent => "snapshot-sent",
            Site::SnapshotReceived => "snapshot-received",
            Site::RestartFromSnapshot => "restart-from-snapshot",
            Site::LeaderTransferred => "leader-transferred",
            Site::LeaseRevokedOnExpiry => "lease-revoked-on-expiry",
            Site::LeaseRenewalForwarded => "lease-renewal-forwarded",
            Site::WatchCancelledByCompaction => "watch-cancelled-by-compaction",
            Site::ReadIndexOnFollower => "read-index-on-follower",
            Site::NoSpaceRaised => "nospace-raised",
            Site::ClientFailover => "client-failover",
            Site::WatchResumed => "watch-resumed",
            Site::StaleConfChange => "stale-conf-change",
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Logs that `site` was reached.
#[inline]
pub fn hit(site: Site) {
    tracing::trace!(target: TARGET, site = site.name());
}

/// Logs that the code `bug` lives in was reached (whether or not it is on).
#[inline]
pub fn bug_site(bug: Bug) {
    tracing::trace!(target: TARGET, bug = bug.name());
}
