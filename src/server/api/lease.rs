//! The Lease service (etcd's `v3rpc/lease.go`).
//!
//! Each handler calls the server, maps the error through the one table and
//! fills the header. Two answers are not errors, as in etcd: a keep-alive
//! for a lease that is gone answers TTL 0, and a time-to-live query for one
//! answers TTL -1.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::error::to_status;
use super::header::fill;
use crate::proto::etcdserverpb::lease_server::Lease;
use crate::proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, ResponseHeader,
};
use crate::server::etcdserver::{EtcdServer, ServerError};
use crate::server::lease::LeaseError;

/// Serves `etcdserverpb.Lease`.
pub struct LeaseService {
    server: EtcdServer,
}

impl LeaseService {
    /// The lease service of `server`.
    pub fn new(server: EtcdServer) -> Self {
        Self { server }
    }
}

/// The answers of one keep-alive stream.
type KeepAliveStream =
    Pin<Box<dyn Stream<Item = Result<LeaseKeepAliveResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        request: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        let mut response = self
            .server
            .lease_grant(request.into_inner())
            .await
            .map_err(to_status)?;
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }

    async fn lease_revoke(
        &self,
        request: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        let mut response = self
            .server
            .lease_revoke(request.into_inner().id)
            .await
            .map_err(to_status)?;
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let state = Some((self.server.clone(), request.into_inner()));
        let answers = futures::stream::unfold(state, |state| async move {
            let (server, mut requests) = state?;
            let request = requests.message().await.ok().flatten()?;
            match keep_alive(&server, request.id).await {
                Ok(answer) => Some((Ok(answer), Some((server, requests)))),
                // An error ends the stream, as etcd's.
                Err(status) => Some((Err(status), None)),
            }
        });
        Ok(Response::new(Box::pin(answers)))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let request = request.into_inner();
        let id = request.id;
        let mut response = match self.server.lease_time_to_live(request).await {
            Ok(response) => response,
            Err(ServerError::Lease(LeaseError::NotFound)) => LeaseTimeToLiveResponse {
                id,
                ttl: -1,
                ..Default::default()
            },
            Err(e) => return Err(to_status(e)),
        };
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }

    async fn lease_leases(
        &self,
        _: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        let mut response = self.server.lease_leases();
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }
}

/// One renewal on a keep-alive stream.
async fn keep_alive(server: &EtcdServer, id: i64) -> Result<LeaseKeepAliveResponse, Status> {
    // The header is taken before the renewal, as etcd does: its revision
    // is then never above the one at which the lease might be revoked.
    let mut header: Option<ResponseHeader> = None;
    fill(server, &mut header);
    let ttl = match server.lease_renew(id).await {
        Ok(ttl) => ttl,
        Err(ServerError::Lease(LeaseError::NotFound)) => 0,
        Err(e) => return Err(to_status(e)),
    };
    Ok(LeaseKeepAliveResponse { header, id, ttl })
}
