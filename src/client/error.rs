//! Client errors, recognised from etcd's status messages.

use std::fmt;

use tonic::{Code, Status};

use crate::server::api::RpcError;

/// What a request can end in, besides success.
///
/// Server errors are recognised by etcd's exact messages, as clientv3's
/// `rpctypes` does (through the server's own table, [`RpcError`]). The
/// variants keep apart what certainly did not happen from what may have
/// happened: see [`ClientError::may_have_taken_effect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// An endpoint URL does not parse.
    InvalidEndpoint(String),
    /// No endpoint accepted a connection: nothing was sent.
    Unreachable,
    /// The connection broke or the call failed in transport after the
    /// request may have been sent.
    ConnectionLost(String),
    /// No answer within the client's own deadline.
    DeadlineExceeded,
    /// `etcdserver: request timed out`: proposed, outcome unknown.
    TimedOut,
    /// `etcdserver: request timed out, possibly due to previous leader
    /// failure`: outcome unknown.
    TimedOutDueToLeaderFail,
    /// `etcdserver: request timed out, possibly due to connection lost`:
    /// outcome unknown.
    TimedOutDueToConnectionLost,
    /// `etcdserver: no leader`: refused before it entered the log.
    NoLeader,
    /// `etcdserver: leader changed`: outcome unknown.
    LeaderChanged,
    /// `etcdserver: server stopped`: outcome unknown.
    Stopped,
    /// `etcdserver: key is not provided`.
    EmptyKey,
    /// `etcdserver: key not found`: `ignore_value`/`ignore_lease` on a
    /// missing key (or a txn op with no request).
    KeyNotFound,
    /// `etcdserver: value is provided`: `ignore_value` with a value.
    ValueProvided,
    /// `etcdserver: lease is provided`: `ignore_lease` with a lease.
    LeaseProvided,
    /// `etcdserver: too many operations in txn request`.
    TooManyOps,
    /// `etcdserver: duplicate key given in txn request`.
    DuplicateKey,
    /// `etcdserver: request is too large`.
    RequestTooLarge,
    /// `etcdserver: requested lease not found`.
    LeaseNotFound,
    /// `etcdserver: mvcc: database space exceeded`. etcd may answer this
    /// after applying a write that crossed the quota, so it is uncertain.
    NoSpace,
    /// `etcdserver: mvcc: required revision has been compacted`.
    Compacted,
    /// `etcdserver: mvcc: required revision is a future revision`.
    FutureRevision,
    /// Any other status from the server.
    Other {
        /// The gRPC code.
        code: Code,
        /// The message, verbatim.
        message: String,
    },
}

impl ClientError {
    /// Whether a write that ended in this error may nevertheless have been
    /// applied (now or later). `false` means it certainly was not.
    pub fn may_have_taken_effect(&self) -> bool {
        matches!(
            self,
            ClientError::ConnectionLost(_)
                | ClientError::DeadlineExceeded
                | ClientError::TimedOut
                | ClientError::TimedOutDueToLeaderFail
                | ClientError::TimedOutDueToConnectionLost
                | ClientError::LeaderChanged
                | ClientError::Stopped
                | ClientError::NoSpace
                | ClientError::Other { .. }
        )
    }

    /// Whether the request certainly did not reach a server, so that sending
    /// it elsewhere cannot apply it twice.
    pub fn never_sent(&self) -> bool {
        matches!(self, ClientError::Unreachable)
    }

    /// The server error this is, if the server sent one of etcd's.
    pub fn rpc_error(&self) -> Option<RpcError> {
        Some(match self {
            ClientError::TimedOut => RpcError::Timeout,
            ClientError::TimedOutDueToLeaderFail => RpcError::TimeoutDueToLeaderFail,
            ClientError::TimedOutDueToConnectionLost => RpcError::TimeoutDueToConnectionLost,
            ClientError::NoLeader => RpcError::NoLeader,
            ClientError::LeaderChanged => RpcError::LeaderChanged,
            ClientError::Stopped => RpcError::Stopped,
            ClientError::EmptyKey => RpcError::EmptyKey,
            ClientError::KeyNotFound => RpcError::KeyNotFound,
            ClientError::ValueProvided => RpcError::ValueProvided,
            ClientError::LeaseProvided => RpcError::LeaseProvided,
            ClientError::TooManyOps => RpcError::TooManyOps,
            ClientError::DuplicateKey => RpcError::DuplicateKey,
            ClientError::RequestTooLarge => RpcError::RequestTooLarge,
            ClientError::LeaseNotFound => RpcError::LeaseNotFound,
            ClientError::NoSpace => RpcError::NoSpace,
            ClientError::Compacted => RpcError::Compacted,
            ClientError::FutureRevision => RpcError::FutureRev,
            ClientError::InvalidEndpoint(_)
            | ClientError::Unreachable
            | ClientError::ConnectionLost(_)
            | ClientError::DeadlineExceeded
            | ClientError::Other { .. } => return None,
        })
    }
}

impl From<RpcError> for ClientError {
    fn from(e: RpcError) -> Self {
        match e {
            RpcError::Timeout => ClientError::TimedOut,
            RpcError::TimeoutDueToLeaderFail => ClientError::TimedOutDueToLeaderFail,
            RpcError::TimeoutDueToConnectionLost => ClientError::TimedOutDueToConnectionLost,
            RpcError::NoLeader => ClientError::NoLeader,
            RpcError::LeaderChanged => ClientError::LeaderChanged,
            RpcError::Stopped => ClientError::Stopped,
            RpcError::EmptyKey => ClientError::EmptyKey,
            RpcError::KeyNotFound => ClientError::KeyNotFound,
            RpcError::ValueProvided => ClientError::ValueProvided,
            RpcError::LeaseProvided => ClientError::LeaseProvided,
            RpcError::TooManyOps => ClientError::TooManyOps,
            RpcError::DuplicateKey => ClientError::DuplicateKey,
            RpcError::RequestTooLarge => ClientError::RequestTooLarge,
            RpcError::LeaseNotFound => ClientError::LeaseNotFound,
            RpcError::NoSpace => ClientError::NoSpace,
            RpcError::Compacted => ClientError::Compacted,
            RpcError::FutureRev => ClientError::FutureRevision,
        }
    }
}

impl From<Status> for ClientError {
    fn from(status: Status) -> Self {
        if let Some(e) = RpcError::from_message(status.message()) {
            return e.into();
        }
        match status.code() {
            Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Internal => {
                ClientError::ConnectionLost(status.message().to_string())
            }
            Code::DeadlineExceeded => ClientError::DeadlineExceeded,
            code => ClientError::Other {
                code,
                message: status.message().to_string(),
            },
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = self.rpc_error() {
            return f.write_str(e.message());
        }
        match self {
            ClientError::InvalidEndpoint(url) => write!(f, "invalid endpoint {url:?}"),
            ClientError::Unreachable => f.write_str("no endpoint is reachable"),
            ClientError::ConnectionLost(m) => write!(f, "connection lost: {m}"),
            ClientError::DeadlineExceeded => f.write_str("context deadline exceeded"),
            ClientError::Other { code, message } => write!(f, "{message} ({code:?})"),
            _ => unreachable!("{self:?} is a server error"),
        }
    }
}

impl std::error::Error for ClientError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_messages_map_to_typed_errors_with_the_right_certainty() {
        let timed_out = ClientError::from(Status::unavailable("etcdserver: request timed out"));
        assert_eq!(timed_out, ClientError::TimedOut);
        assert!(timed_out.may_have_taken_effect());
        let no_leader = ClientError::from(Status::unavailable("etcdserver: no leader"));
        assert_eq!(no_leader, ClientError::NoLeader);
        assert!(!no_leader.may_have_taken_effect());
        let lost = ClientError::from(Status::unavailable("connection reset"));
        assert!(lost.may_have_taken_effect());
        assert!(!ClientError::Unreachable.may_have_taken_effect());
    }

    #[test]
    fn every_server_error_comes_back_typed_from_its_status_with_its_message() {
        let all = [
            (RpcError::EmptyKey, ClientError::EmptyKey),
            (RpcError::KeyNotFound, ClientError::KeyNotFound),
            (RpcError::ValueProvided, ClientError::ValueProvided),
            (RpcError::LeaseProvided, ClientError::LeaseProvided),
            (RpcError::TooManyOps, ClientError::TooManyOps),
            (RpcError::DuplicateKey, ClientError::DuplicateKey),
            (RpcError::RequestTooLarge, ClientError::RequestTooLarge),
            (RpcError::LeaseNotFound, ClientError::LeaseNotFound),
            (RpcError::NoSpace, ClientError::NoSpace),
            (RpcError::Compacted, ClientError::Compacted),
            (RpcError::FutureRev, ClientError::FutureRevision),
            (RpcError::NoLeader, ClientError::NoLeader),
            (RpcError::LeaderChanged, ClientError::LeaderChanged),
            (RpcError::Stopped, ClientError::Stopped),
            (RpcError::Timeout, ClientError::TimedOut),
            (
                RpcError::TimeoutDueToLeaderFail,
                ClientError::TimedOutDueToLeaderFail,
            ),
            (
                RpcError::TimeoutDueToConnectionLost,
                ClientError::TimedOutDueToConnectionLost,
            ),
        ];
        for (rpc, client) in all {
            let got = ClientError::from(Status::from(rpc));
            assert_eq!(got, client);
            assert_eq!(got.rpc_error(), Some(rpc));
            assert_eq!(got.to_string(), rpc.message());
        }
    }

    #[test]
    fn refusals_are_certain_and_timeouts_are_not() {
        for certain in [
            ClientError::EmptyKey,
            ClientError::KeyNotFound,
            ClientError::TooManyOps,
            ClientError::DuplicateKey,
            ClientError::RequestTooLarge,
            ClientError::LeaseNotFound,
            ClientError::Compacted,
            ClientError::FutureRevision,
        ] {
            assert!(!certain.may_have_taken_effect(), "{certain:?}");
        }
        for uncertain in [
            ClientError::TimedOutDueToLeaderFail,
            ClientError::LeaderChanged,
            ClientError::Stopped,
            ClientError::NoSpace,
        ] {
            assert!(uncertain.may_have_taken_effect(), "{uncertain:?}");
        }
    }

    #[test]
    fn an_unknown_message_keeps_its_code_and_text() {
        let other = ClientError::from(Status::invalid_argument("something else"));
        assert_eq!(
            other,
            ClientError::Other {
                code: Code::InvalidArgument,
                message: "something else".into()
            }
        );
        assert_eq!(other.rpc_error(), None);
    }
}
