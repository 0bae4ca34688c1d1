//! etcd's gRPC error table (clientv3's and the server's `rpctypes`): every
//! error a member answers with, its gRPC code and etcd 3.4's exact message.
//!
//! A leaf: it knows nothing of the server or the client, so both use it
//! without either depending on the other. The server sends these statuses
//! (`server::api` maps its internal errors here in one place); the client
//! recognises them by message ([`RpcError::from_message`] is rpctypes'
//! `errStringToError`), as etcdctl does, so the two sides cannot drift
//! apart.

use std::fmt;

use tonic::{Code, Status};

use crate::table::column;

/// Every error the KV API answers with, named after etcd's `ErrGRPC*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpcError {
    /// A request, compare or txn op with an empty key.
    EmptyKey,
    /// `ignore_value`/`ignore_lease` on a missing key; also etcd 3.4's
    /// answer to a txn op with no request in it.
    KeyNotFound,
    /// `ignore_value` together with a value.
    ValueProvided,
    /// `ignore_lease` together with a lease.
    LeaseProvided,
    /// A txn with more compares or ops in a branch than `--max-txn-ops`.
    TooManyOps,
    /// A txn that writes one key twice, or puts a key it also deletes.
    DuplicateKey,
    /// A read or compaction below the compacted revision.
    Compacted,
    /// A read or compaction above the current revision.
    FutureRev,
    /// The backend quota is exhausted (the NOSPACE alarm is raised).
    NoSpace,
    /// A put named a lease that does not exist.
    LeaseNotFound,
    /// A grant named a lease id that is taken.
    LeaseExist,
    /// A grant asked for a TTL above etcd's maximum.
    LeaseTtlTooLarge,
    /// The proposal would exceed `--max-request-bytes`.
    RequestTooLarge,
    /// raft knows no leader.
    NoLeader,
    /// The leader changed while the request waited.
    LeaderChanged,
    /// The member is shutting down.
    Stopped,
    /// Proposed, but not applied in time: it may still be.
    Timeout,
    /// A timeout right after a leader failure.
    TimeoutDueToLeaderFail,
    /// A timeout while the connection to the leader was lost.
    TimeoutDueToConnectionLost,
    /// A leader-only request (MoveLeader) reached a follower.
    NotLeader,
    /// MoveLeader named a member that is not in the cluster.
    BadLeaderTransferee,
    /// MoveLeader did not finish within the request timeout; etcd has no
    /// gRPC error for it and sends its message with code Unknown.
    TimeoutLeaderTransfer,
    /// MemberAdd of a member whose id is in the cluster.
    MemberExist,
    /// MemberAdd or MemberUpdate with a peer URL another member has.
    PeerUrlExist,
    /// A change that would leave too few started voters for a quorum
    /// (etcd's `--strict-reconfig-check`).
    MemberNotEnoughStarted,
    /// MemberAdd or MemberUpdate with a peer URL that does not parse.
    MemberBadUrls,
    /// A membership call naming an id not in the cluster (or removed).
    MemberNotFound,
    /// MemberPromote of a voter.
    MemberNotLearner,
    /// MemberPromote of a learner whose log lags the leader's.
    LearnerNotReady,
    /// MemberAdd of a learner when the cluster has as many as it may.
    TooManyLearners,
    /// A learner asked for anything but Status or a serializable Range.
    NotSupportedForLearner,
}

/// The table: each error's gRPC code and etcd's exact message.
const TABLE: &[(RpcError, Code, &str)] = &[
    (
        RpcError::EmptyKey,
        Code::InvalidArgument,
        "etcdserver: key is not provided",
    ),
    (
        RpcError::KeyNotFound,
        Code::InvalidArgument,
        "etcdserver: key not found",
    ),
    (
        RpcError::ValueProvided,
        Code::InvalidArgument,
        "etcdserver: value is provided",
    ),
    (
        RpcError::LeaseProvided,
        Code::InvalidArgument,
        "etcdserver: lease is provided",
    ),
    (
        RpcError::TooManyOps,
        Code::InvalidArgument,
        "etcdserver: too many operations in txn request",
    ),
    (
        RpcError::DuplicateKey,
        Code::InvalidArgument,
        "etcdserver: duplicate key given in txn request",
    ),
    (
        RpcError::Compacted,
        Code::OutOfRange,
        "etcdserver: mvcc: required revision has been compacted",
    ),
    (
        RpcError::FutureRev,
        Code::OutOfRange,
        "etcdserver: mvcc: required revision is a future revision",
    ),
    (
        RpcError::NoSpace,
        Code::ResourceExhausted,
        "etcdserver: mvcc: database space exceeded",
    ),
    (
        RpcError::LeaseNotFound,
        Code::NotFound,
        "etcdserver: requested lease not found",
    ),
    (
        RpcError::LeaseExist,
        Code::FailedPrecondition,
        "etcdserver: lease already exists",
    ),
    (
        RpcError::LeaseTtlTooLarge,
        Code::OutOfRange,
        "etcdserver: too large lease TTL",
    ),
    (
        RpcError::RequestTooLarge,
        Code::InvalidArgument,
        "etcdserver: request is too large",
    ),
    (
        RpcError::NoLeader,
        Code::Unavailable,
        "etcdserver: no leader",
    ),
    (
        RpcError::LeaderChanged,
        Code::Unavailable,
        "etcdserver: leader changed",
    ),
    (
        RpcError::Stopped,
        Code::Unavailable,
        "etcdserver: server stopped",
    ),
    (
        RpcError::Timeout,
        Code::Unavailable,
        "etcdserver: request timed out",
    ),
    (
        RpcError::TimeoutDueToLeaderFail,
        Code::Unavailable,
        "etcdserver: request timed out, possibly due to previous leader failure",
    ),
    (
        RpcError::TimeoutDueToConnectionLost,
        Code::Unavailable,
        "etcdserver: request timed out, possibly due to connection lost",
    ),
    (
        RpcError::NotLeader,
        Code::FailedPrecondition,
        "etcdserver: not leader",
    ),
    (
        RpcError::BadLeaderTransferee,
        Code::FailedPrecondition,
        "etcdserver: bad leader transferee",
    ),
    (
        RpcError::TimeoutLeaderTransfer,
        Code::Unknown,
        "etcdserver: request timed out, leader transfer took too long",
    ),
    (
        RpcError::MemberExist,
        Code::FailedPrecondition,
        "etcdserver: member ID already exist",
    ),
    (
        RpcError::PeerUrlExist,
        Code::FailedPrecondition,
        "etcdserver: Peer URLs already exists",
    ),
    (
        RpcError::MemberNotEnoughStarted,
        // etcd 3.4 maps this error to clientv3's error value rather than
        // to a gRPC status, so grpc-go sends it with code Unknown; clients
        // recognise it by its message.
        Code::Unknown,
        "etcdserver: re-configuration failed due to not enough started members",
    ),
    (
        RpcError::MemberBadUrls,
        Code::InvalidArgument,
        "etcdserver: given member URLs are invalid",
    ),
    (
        RpcError::MemberNotFound,
        Code::NotFound,
        "etcdserver: member not found",
    ),
    (
        RpcError::MemberNotLearner,
        Code::FailedPrecondition,
        "etcdserver: can only promote a learner member",
    ),
    (
        RpcError::LearnerNotReady,
        Code::FailedPrecondition,
        "etcdserver: can only promote a learner member which is in sync with leader",
    ),
    (
        RpcError::TooManyLearners,
        Code::FailedPrecondition,
        "etcdserver: too many learner members in cluster",
    ),
    (
        RpcError::NotSupportedForLearner,
        Code::Unavailable,
        "etcdserver: rpc not supported for learner",
    ),
];

impl RpcError {
    /// Every error, in the table's order.
    pub const ALL: [RpcError; TABLE.len()] = column!(TABLE.0, RpcError::EmptyKey);

    fn entry(self) -> &'static (RpcError, Code, &'static str) {
        TABLE
            .iter()
            .find(|(e, _, _)| *e == self)
            .unwrap_or_else(|| panic!("{self:?} is missing from the error table"))
    }

    /// The gRPC status code etcd sends.
    pub fn code(self) -> Code {
        self.entry().1
    }

    /// etcd's exact message.
    pub fn message(self) -> &'static str {
        self.entry().2
    }

    /// The error whose message this is, as clients recognise errors.
    pub fn from_message(message: &str) -> Option<RpcError> {
        TABLE
            .iter()
            .find(|(_, _, m)| *m == message)
            .map(|(e, _, _)| *e)
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for RpcError {}

impl From<RpcError> for Status {
    fn from(e: RpcError) -> Self {
        Status::new(e.code(), e.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_one_row_and_its_message_names_it_back() {
        for e in RpcError::ALL {
            let rows = TABLE.iter().filter(|(row, _, _)| *row == e).count();
            assert_eq!(rows, 1, "{e:?}");
            assert_eq!(RpcError::from_message(e.message()), Some(e));
            assert!(e.message().starts_with("etcdserver: "), "{e:?}");
        }
        assert_eq!(
            RpcError::from_message("mvcc: required revision has been compacted"),
            None
        );
    }
}
