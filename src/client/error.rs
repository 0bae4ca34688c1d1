//! Client errors, recognised from etcd's status messages.

use std::fmt;

use tonic::{Code, Status};

/// What a request can end in, besides success.
///
/// Server errors are recognised by etcd's exact messages, as clientv3's
/// `rpctypes` does. The variants keep apart what certainly did not happen
/// from what may have happened: see [`ClientError::may_have_taken_effect`].
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
    /// `etcdserver: no leader`: refused before it entered the log.
    NoLeader,
    /// `etcdserver: key is not provided`.
    EmptyKey,
    /// `mvcc: required revision has been compacted`.
    Compacted,
    /// `mvcc: required revision is a future revision`.
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
                | ClientError::Other { .. }
        )
    }

    /// Whether the request certainly did not reach a server, so that sending
    /// it elsewhere cannot apply it twice.
    pub fn never_sent(&self) -> bool {
        matches!(self, ClientError::Unreachable)
    }
}

impl From<Status> for ClientError {
    fn from(status: Status) -> Self {
        match status.message() {
            "etcdserver: request timed out" => return ClientError::TimedOut,
            "etcdserver: no leader" => return ClientError::NoLeader,
            "etcdserver: key is not provided" => return ClientError::EmptyKey,
            "mvcc: required revision has been compacted" => return ClientError::Compacted,
            "mvcc: required revision is a future revision" => return ClientError::FutureRevision,
            _ => {}
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
            ClientError::TimedOut => f.write_str("etcdserver: request timed out"),
            ClientError::NoLeader => f.write_str("etcdserver: no leader"),
            ClientError::EmptyKey => f.write_str("etcdserver: key is not provided"),
            ClientError::Compacted => f.write_str("mvcc: required revision has been compacted"),
            ClientError::FutureRevision => {
                f.write_str("mvcc: required revision is a future revision")
            }
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
        assert_eq!(timed_out, ClientError::TimedOut);
        assert!(timed_out.may_have_taken_effect());
        let no_leader = ClientError::from(Status::unavailable("etcdserver: no leader"));
        assert_eq!(no_leader, ClientError::NoLeader);
        assert!(!no_leader.may_have_taken_effect());
        let lost = ClientError::from(Status::unavailable("connection reset"));
        assert!(lost.may_have_taken_effect());
        assert!(!ClientError::Unreachable.may_have_taken_effect());
    }
}
