//! What can go wrong between a request and its result.

use std::fmt;

use super::members::MembershipError;
use crate::mvcc::MvccError;
use crate::rpc_error::RpcError;
use crate::server::lease::LeaseError;

/// Errors of the etcdserver layer.
///
/// The variants keep uncertainty apart: after a timeout the request may
/// still be applied; after [`ServerError::NoLeader`] it certainly was not,
/// because raft refused it before it entered any log. Their messages are
/// etcd's, read from the one table ([`RpcError`]); the store's and the
/// lessor's errors keep their own (etcd prefixes them only at the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerError {
    /// Proposed, but not applied within the request timeout.
    TimedOut,
    /// Proposed, but not applied within the request timeout, by a member
    /// that was elected leader meanwhile: the leader the proposal went to
    /// probably failed (etcd's `ErrTimeoutDueToLeaderFail`).
    TimedOutDueToLeaderFail,
    /// Proposed, but not applied within the request timeout, while this
    /// member was not connected to the leader (or, leading, to a quorum)
    /// (etcd's `ErrTimeoutDueToConnectionLost`).
    TimedOutDueToConnectionLost,
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
    /// The membership refused a change when it applied.
    Membership(MembershipError),
    /// The change would leave too few started voters for a quorum.
    NotEnoughStartedMembers,
    /// A learner's log lags the leader's too far to promote it.
    LearnerNotReady,
    /// A peer URL that does not parse.
    BadMemberUrls,
    /// A learner was asked for what only voters serve.
    NotSupportedForLearner,
    /// A request forwarded to the leader (a promotion) was refused there.
    RefusedByLeader(RpcError),
    /// The waiter was answered with the result of an entry of another
    /// kind. Only an entry proposed under the same id can do that (one
    /// proposed before a restart, applied after it), so whether this
    /// request applied is unknown: the client hears a timeout, etcd's
    /// answer for a write of unknown outcome.
    AnsweredByAnotherEntry,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Mvcc(e) => e.fmt(f),
            ServerError::Lease(e) => e.fmt(f),
            ServerError::Membership(e) => e.fmt(f),
            other => f.write_str(RpcError::from(other.clone()).message()),
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

impl From<MembershipError> for ServerError {
    fn from(e: MembershipError) -> Self {
        ServerError::Membership(e)
    }
}

impl From<ServerError> for RpcError {
    /// The error a client is answered with (etcd's `togRPCError`).
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::TimedOut | ServerError::AnsweredByAnotherEntry => RpcError::Timeout,
            ServerError::TimedOutDueToLeaderFail => RpcError::TimeoutDueToLeaderFail,
            ServerError::TimedOutDueToConnectionLost => RpcError::TimeoutDueToConnectionLost,
            ServerError::NoLeader => RpcError::NoLeader,
            ServerError::Stopped => RpcError::Stopped,
            ServerError::NoSpace => RpcError::NoSpace,
            ServerError::NotLeader => RpcError::NotLeader,
            ServerError::BadLeaderTransferee => RpcError::BadLeaderTransferee,
            ServerError::LeaderTransferTimedOut => RpcError::TimeoutLeaderTransfer,
            ServerError::Mvcc(MvccError::Compacted) => RpcError::Compacted,
            ServerError::Mvcc(MvccError::FutureRev) => RpcError::FutureRev,
            ServerError::Mvcc(MvccError::KeyNotFound) => RpcError::KeyNotFound,
            ServerError::Mvcc(MvccError::LeaseNotFound) => RpcError::LeaseNotFound,
            ServerError::Lease(LeaseError::NotFound) => RpcError::LeaseNotFound,
            ServerError::Lease(LeaseError::Exists) => RpcError::LeaseExist,
            ServerError::Lease(LeaseError::TtlTooLarge) => RpcError::LeaseTtlTooLarge,
            // Internal to renewals, which answer them as not-leader and
            // timeout before they reach here.
            ServerError::Lease(LeaseError::NotPrimary) => RpcError::NotLeader,
            ServerError::Lease(LeaseError::Expired) => RpcError::Timeout,
            ServerError::Membership(e) => match e {
                MembershipError::IdRemoved | MembershipError::IdNotFound => {
                    RpcError::MemberNotFound
                }
                MembershipError::IdExists => RpcError::MemberExist,
                MembershipError::PeerUrlExists => RpcError::PeerUrlExist,
                MembershipError::NotLearner => RpcError::MemberNotLearner,
                MembershipError::TooManyLearners => RpcError::TooManyLearners,
                // Refused before it is proposed (the strict check); one
                // that was proposed all the same fails alike everywhere.
                MembershipError::NoVoterLeft => RpcError::MemberNotEnoughStarted,
            },
            ServerError::NotEnoughStartedMembers => RpcError::MemberNotEnoughStarted,
            ServerError::LearnerNotReady => RpcError::LearnerNotReady,
            ServerError::BadMemberUrls => RpcError::MemberBadUrls,
            ServerError::NotSupportedForLearner => RpcError::NotSupportedForLearner,
            ServerError::RefusedByLeader(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_tables_and_the_layers_below_keep_their_own() {
        assert_eq!(
            ServerError::TimedOut.to_string(),
            "etcdserver: request timed out"
        );
        assert_eq!(
            ServerError::TimedOutDueToLeaderFail.to_string(),
            "etcdserver: request timed out, possibly due to previous leader failure"
        );
        assert_eq!(
            ServerError::LeaderTransferTimedOut.to_string(),
            "etcdserver: request timed out, leader transfer took too long"
        );
        assert_eq!(
            ServerError::Mvcc(MvccError::Compacted).to_string(),
            "mvcc: required revision has been compacted"
        );
    }
}
