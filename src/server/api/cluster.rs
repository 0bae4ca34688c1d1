//! The Cluster service: `MemberList`. Membership is static (the initial
//! cluster), so the other membership calls are left unimplemented.

use tonic::{Request, Response, Status};

use super::header::fill_without_revision;
use crate::proto::etcdserverpb::cluster_server::Cluster;
use crate::proto::etcdserverpb::{MemberListRequest, MemberListResponse};
use crate::server::etcdserver::EtcdServer;

/// Serves `etcdserverpb.Cluster`.
pub struct ClusterService {
    server: EtcdServer,
}

impl ClusterService {
    /// The cluster service of `server`.
    pub fn new(server: EtcdServer) -> Self {
        Self { server }
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    /// Served from this member's applied state, as etcd 3.4 does.
    async fn member_list(
        &self,
        _: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        let mut response = MemberListResponse {
            members: self.server.member_list(),
            ..Default::default()
        };
        fill_without_revision(&self.server, &mut response.header);
        Ok(Response::new(response))
    }
}
