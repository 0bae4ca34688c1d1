//! Client errors, recognised from etcd's status messages.

use std::fmt;

use tonic::{Code, Status};

use crate::rpc_error::RpcError;

/// What a request can end in, besides success.
///
/// Server errors are recognised by etcd's exact messages, as clientv3's
/// `rpctypes` does, through the table the server sends them from
/// ([`RpcError`], a leaf module both use), so the two sides cannot drift
/// apart. The variants keep apart what certainly did
/// not happen from what may have happened: see
/// [`ClientError::may_have_taken_effect`].
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
    /// One of etcd's errors, sent by the server.
    Server(RpcError),
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
        match self {
            ClientError::InvalidEndpoint(_) | ClientError::Unreachable => false,
            ClientError::ConnectionLost(_)
            | ClientError::DeadlineExceeded
            | ClientError::Other { .. } => true,
            ClientError::Server(e) => matches!(
                e,
                RpcError::Timeout
                    | RpcError::TimeoutDueToLeaderFail
                    | RpcError::TimeoutDueToConnectionLost
                    | RpcError::LeaderChanged
                    | RpcError::Stopped
                    // etcd may answer this after applying a write that
                    // crossed the quota.
                    | RpcError::NoSpace
            ),
        }
    }

    /// Whether the request certainly did not reach a server, so that sending
    /// it elsewhere cannot apply it twice.
    pub fn never_sent(&self) -> bool {
        matches!(self, ClientError::Unreachable)
    }

    /// Whether the member that answered is going away, so that the next
    /// request should go to another endpoint.
    pub fn member_gone(&self) -> bool {
        matches!(
            self,
            ClientError::ConnectionLost(_) | ClientError::Server(RpcError::Stopped)
        )
    }

    /// The server error this is, if the server sent one of etcd's.
    pub fn rpc_error(&self) -> Option<RpcError> {
        match self {
            ClientError::Server(e) => Some(*e),
            _ => None,
        }
    }
}

impl From<RpcError> for ClientError {
    fn from(e: RpcError) -> Self {
        ClientError::Server(e)
    }
}

impl From<Status> for ClientError {
    fn from(status: Status) -> Self {
        if let Some(e) = RpcError::from_message(status.message()) {
            return ClientError::Server(e);
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
        match self {
            ClientError::InvalidEndpoint(url) => write!(f, "invalid endpoint {url:?}"),
            ClientError::Unreachable => f.write_str("no endpoint is reachable"),
            ClientError::ConnectionLost(m) => write!(f, "connection lost: {m}"),
            ClientError::DeadlineExceeded => f.write_str("context deadline exceeded"),
            ClientError::Server(e) => f.write_str(e.message()),
            ClientError::Other { code, message } => write!(f, "{message} ({code:?})"),
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
        assert_eq!(timed_out, ClientError::Server(RpcError::Timeout));
        assert!(timed_out.may_have_taken_effect());
        let no_leader = ClientError::from(Status::unavailable("etcdserver: no leader"));
        assert_eq!(no_leader, ClientError::Server(RpcError::NoLeader));
        assert!(!no_leader.may_have_taken_effect());
        let lost = ClientError::from(Status::unavailable("connection reset"));
        assert!(lost.may_have_taken_effect());
        assert!(lost.member_gone());
        assert!(!ClientError::Unreachable.may_have_taken_effect());
    }

    #[test]
    fn every_server_error_comes_back_typed_from_its_status_with_its_message() {
        for rpc in RpcError::ALL {
            let got = ClientError::from(Status::from(rpc));
            assert_eq!(got, ClientError::Server(rpc));
            assert_eq!(got.rpc_error(), Some(rpc));
            assert_eq!(got.to_string(), rpc.message());
        }
    }

    #[test]
    fn refusals_are_certain_and_timeouts_are_not() {
        for certain in [
            RpcError::EmptyKey,
            RpcError::KeyNotFound,
            RpcError::TooManyOps,
            RpcError::DuplicateKey,
            RpcError::RequestTooLarge,
            RpcError::LeaseNotFound,
            RpcError::Compacted,
            RpcError::FutureRev,
            RpcError::NoLeader,
            RpcError::NotLeader,
        ] {
            assert!(
                !ClientError::Server(certain).may_have_taken_effect(),
                "{certain:?}"
            );
        }
        for uncertain in [
            RpcError::Timeout,
            RpcError::TimeoutDueToLeaderFail,
            RpcError::TimeoutDueToConnectionLost,
            RpcError::LeaderChanged,
            RpcError::Stopped,
            RpcError::NoSpace,
        ] {
            assert!(
                ClientError::Server(uncertain).may_have_taken_effect(),
                "{uncertain:?}"
            );
        }
    }
}
