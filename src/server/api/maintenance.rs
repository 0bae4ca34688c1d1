//! The Maintenance service: `Status`, `MoveLeader`, `Alarm`, `Hash` and
//! `HashKV`.

use tonic::{Request, Response, Status};

use super::error::to_status;
use super::gate::admit;
use super::header::fill;
use crate::proto::etcdserverpb::maintenance_server::Maintenance;
use crate::proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse,
    MoveLeaderRequest, MoveLeaderResponse, StatusRequest, StatusResponse,
};
use crate::server::etcdserver::EtcdServer;
use crate::version::VERSION;

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
        admit(&self.server, true)?;
        let status = self.server.status();
        let mut response = StatusResponse {
            version: VERSION.to_string(),
            leader: status.leader,
            raft_index: status.commit,
            raft_term: status.term,
            raft_applied_index: status.applied,
            db_size: status.db_size as i64,
            db_size_in_use: status.db_size_in_use as i64,
            errors: self.server.alarm_descriptions(),
            ..Default::default()
        };
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }

    async fn move_leader(
        &self,
        request: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        admit(&self.server, false)?;
        self.server
            .move_leader(request.into_inner().target_id)
            .await
            .map_err(to_status)?;
        let mut response = MoveLeaderResponse::default();
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }

    async fn alarm(
        &self,
        request: Request<AlarmRequest>,
    ) -> Result<Response<AlarmResponse>, Status> {
        admit(&self.server, false)?;
        // etcd 3.4 answers alarms without a header.
        let response = self
            .server
            .alarm(request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(response))
    }

    async fn hash(&self, _: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        admit(&self.server, false)?;
        let mut response = HashResponse {
            hash: self.server.hash(),
            ..Default::default()
        };
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }

    async fn hash_kv(
        &self,
        request: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        admit(&self.server, false)?;
        let hash = self
            .server
            .hash_kv(request.into_inner().revision)
            .map_err(to_status)?;
        let mut response = HashKvResponse {
            hash: hash.hash,
            compact_revision: hash.compact_revision,
            ..Default::default()
        };
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }
}
