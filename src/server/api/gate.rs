//! Who may be served at all (etcd 3.4's unary and stream interceptors):
//! a member that applied its own removal serves nothing, and a learner
//! serves only `Status` and serializable ranges.

use tonic::Status;

use super::error::RpcError;
use crate::server::etcdserver::EtcdServer;

/// Whether a request may be served by `server`; `learner_may` says whether
/// a learner serves this one.
pub fn admit(server: &EtcdServer, learner_may: bool) -> Result<(), Status> {
    if server.is_removed() {
        return Err(RpcError::Stopped.into());
    }
    if !learner_may && server.is_learner() {
        return Err(RpcError::NotSupportedForLearner.into());
    }
    Ok(())
}
