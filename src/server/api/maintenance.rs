//! The Maintenance service; for now only `Status`.

use tonic::{Request, Response, Status};

use super::header::fill;
use crate::proto::etcdserverpb::maintenance_server::Maintenance;
use crate::proto::etcdserverpb::{StatusRequest, StatusResponse};
use crate::server::etcdserver::EtcdServer;

/// The etcd version this member claims to speak.
pub const VERSION: &str = "3.4.0";

/// Serves `etcdserverpb.Maintenance`.
pub struct MaintenanceService {
    server: EtcdServer,
}

impl MaintenanceService {
    /// The maintenance service of `server`.
    pub fn new(server: EtcdServer) -> Self {
        Self { server }
    }
}

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let status = self.server.status();
        let mut response = StatusResponse {
            version: VERSION.to_string(),
            leader: status.leader,
            raft_index: status.commit,
            raft_term: status.term,
            raft_applied_index: status.applied,
            ..Default::default()
        };
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }
}
