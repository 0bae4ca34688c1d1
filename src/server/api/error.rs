//! Internal errors to gRPC statuses, in one place, as etcd's `togRPCError`.
//!
//! The table itself (codes and etcd's exact messages) is the leaf module
//! [`crate::rpc_error`], which the client reads too; which [`RpcError`]
//! each [`ServerError`] is, is the server's to say (`ServerError`'s
//! conversion). Handlers map errors only through [`to_status`].

use tonic::Status;

pub use crate::rpc_error::RpcError;
use crate::server::etcdserver::ServerError;

/// Maps a server error to the status etcd would send.
pub fn to_status(e: ServerError) -> Status {
    RpcError::from(e).into()
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;
    use crate::mvcc::MvccError;
    use crate::server::lease::LeaseError;

    #[test]
    fn store_errors_get_etcds_codes_and_messages() {
        let status = to_status(ServerError::Mvcc(MvccError::FutureRev));
        assert_eq!(status.code(), Code::OutOfRange);
        assert_eq!(
            status.message(),
            "etcdserver: mvcc: required revision is a future revision"
        );
        let status = to_status(ServerError::Mvcc(MvccError::LeaseNotFound));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "etcdserver: requested lease not found");
        let status = to_status(ServerError::Lease(LeaseError::Exists));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "etcdserver: lease already exists");
        let status = to_status(ServerError::Lease(LeaseError::TtlTooLarge));
        assert_eq!(status.code(), Code::OutOfRange);
        assert_eq!(status.message(), "etcdserver: too large lease TTL");
        let status = to_status(ServerError::TimedOut);
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "etcdserver: request timed out");
    }
}
