//! What can go wrong between a request and its result.

use std::fmt;

use crate::mvcc::MvccError;
use crate::server::lease::LeaseError;

/// Errors of the etcdserver layer, with etcd's exact messages.
///
/// The variants keep uncertainty apart: after [`ServerError::TimedOut`] the
/// request may still be applied; after [`ServerError::NoLeader`] it certainly
/// was not, because raft refused it before it entered any log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerError {
    /// Proposed, but not applied within the request timeout.
    TimedOut,
    /// raft knows no leader, so the proposal was dropped.
    NoLeader,
    /// The member is shutting down.
    Stopped,
    /// The backend quota is exhausted and the NOSPACE alarm is raised.
    NoSpace,
    /// A request only the leader serves reached a follower.
    NotLeader,
    /// Leadership cannot go to that member: it is not in the cluster.
    BadLeaderTransferee,
    /// The leader asked to hand over did not within the request timeout.
    LeaderTransferTimedOut,
    /// The store refused the request when it was applied.
    Mvcc(MvccError),
    /// The lessor refused the request.
    Lease(LeaseError),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::TimedOut => f.write_str("etcdserver: request timed out"),
            ServerError::NoLeader => f.write_str("etcdserver: no leader"),
            ServerError::Stopped => f.write_str("etcdserver: server stopped"),
            ServerError::NoSpace => f.write_str("etcdserver: mvcc: database space exceeded"),
            ServerError::NotLeader => f.write_str("etcdserver: not leader"),
            ServerError::BadLeaderTransferee => f.write_str("etcdserver: bad leader transferee"),
            ServerError::LeaderTransferTimedOut => {
                f.write_str("etcdserver: request timed out, leader transfer took too long")
            }
            ServerError::Mvcc(e) => e.fmt(f),
            ServerError::Lease(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ServerError {}

impl From<MvccError> for ServerError {
    fn from(e: MvccError) -> Self {
        ServerError::Mvcc(e)
    }
}

impl From<LeaseError> for ServerError {
    fn from(e: LeaseError) -> Self {
        ServerError::Lease(e)
    }
}
