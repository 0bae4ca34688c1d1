//! The Cluster service (etcd's `v3rpc/member.go`): add, remove, update and
//! promote members, and list them. Headers carry the ids and the term, no
//! revision: membership is not part of the key-value history.

use tonic::{Request, Response, Status};

use super::error::to_status;
use super::gate::admit;
use super::header::fill_without_revision;
use crate::proto::etcdserverpb::cluster_server::Cluster;
use crate::proto::etcdserverpb::{
    MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse, ResponseHeader,
};
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

    /// The response header of this member now.
    fn header(&self) -> Option<ResponseHeader> {
        let mut header = None;
        fill_without_revision(&self.server, &mut header);
        header
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        request: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        admit(&self.server, false)?;
        let MemberAddRequest {
            peer_ur_ls,
            is_learner,
        } = request.into_inner();
        let (member, members) = self
            .server
            .member_add(peer_ur_ls, is_learner)
            .await
            .map_err(to_status)?;
        Ok(Response::new(MemberAddResponse {
            header: self.header(),
            member: Some(member),
            members,
        }))
    }

    async fn member_remove(
        &self,
        request: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        admit(&self.server, false)?;
        let id = request.into_inner().id;
        let members = self.server.member_remove(id).await.map_err(to_status)?;
        Ok(Response::new(MemberRemoveResponse {
            header: self.header(),
            members,
        }))
    }

    async fn member_update(
        &self,
        request: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        admit(&self.server, false)?;
        let MemberUpdateRequest { id, peer_ur_ls } = request.into_inner();
        let members = self
            .server
            .member_update(id, peer_ur_ls)
            .await
            .map_err(to_status)?;
        Ok(Response::new(MemberUpdateResponse {
            header: self.header(),
            members,
        }))
    }

    /// Served from this member's applied state, as etcd 3.4 does.
    async fn member_list(
        &self,
        _: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        admit(&self.server, false)?;
        Ok(Response::new(MemberListResponse {
            header: self.header(),
            members: self.server.member_list(),
        }))
    }

    async fn member_promote(
        &self,
        request: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        admit(&self.server, false)?;
        let id = request.into_inner().id;
        let members = self.server.member_promote(id).await.map_err(to_status)?;
        Ok(Response::new(MemberPromoteResponse {
            header: self.header(),
            members,
        }))
    }
}
