//! The one table from internal errors to etcd's gRPC statuses.
//!
//! Codes and messages are etcd 3.4's (`etcdserver/api/v3rpc/rpctypes`), so
//! etcdctl and clientv3 recognise them.

use tonic::{Code, Status};

use crate::mvcc::MvccError;
use crate::server::etcdserver::ServerError;

/// etcd's default limit on a request's size (`--max-request-bytes`).
pub const MAX_REQUEST_BYTES: usize = 1536 * 1024;

/// A request the API layer refuses before it reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiError {
    /// The key is empty.
    EmptyKey,
    /// A txn holds an op with no request in it (etcd 3.4 answers this with
    /// its "key not found" error).
    EmptyRequestOp,
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::EmptyKey => {
                Status::new(Code::InvalidArgument, "etcdserver: key is not provided")
            }
            ApiError::EmptyRequestOp => {
                Status::new(Code::InvalidArgument, "etcdserver: key not found")
            }
        }
    }
}

/// Maps a server error to the status etcd would send.
pub fn to_status(e: ServerError) -> Status {
    let code = match &e {
        ServerError::TimedOut => Code::Unavailable,
        ServerError::NoLeader => Code::Unavailable,
        ServerError::Stopped => Code::Unavailable,
        ServerError::Mvcc(MvccError::Compacted) | ServerError::Mvcc(MvccError::FutureRev) => {
            Code::OutOfRange
        }
        ServerError::Mvcc(MvccError::KeyNotFound) => Code::InvalidArgument,
    };
    Status::new(code, e.to_string())
}
