//! Forwarding lease requests from a follower to the leader (etcd's
//! `lease/leasehttp`, here a gRPC service on the peer listener).
//!
//! Only the leader's lessor renews leases and knows their deadlines, so a
//! follower that gets a keep-alive or a time-to-live query asks the leader.
//! The leader answers "gone" in the response (TTL 0 for a renewal, -1 for
//! a query), and anything else that stops it — it no longer leads, it
//! timed out — as an error status, which the follower retries until its
//! request timeout, as etcd's `LeaseRenew` does.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use super::{EtcdServer, ServerError};
use crate::proto::etcdserverpb::{
    LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use crate::proto::etcdsimpb::lease_peer_client::LeasePeerClient;
use crate::proto::etcdsimpb::lease_peer_server::LeasePeer;
use crate::server::lease::LeaseError;

/// How long a forwarded request may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves the leader's side of forwarded lease requests.
pub struct LeasePeerService {
    server: EtcdServer,
}

impl LeasePeerService {
    /// The forwarding endpoint of `server`.
    pub fn new(server: EtcdServer) -> Self {
        Self { server }
    }
}

#[tonic::async_trait]
impl LeasePeer for LeasePeerService {
    async fn renew(
        &self,
        request: Request<LeaseKeepAliveRequest>,
    ) -> Result<Response<LeaseKeepAliveResponse>, Status> {
        let id = request.into_inner().id;
        let ttl = match self.server.lease_renew_here(id).await {
            Ok(ttl) => ttl,
            Err(ServerError::Lease(LeaseError::NotFound)) => 0,
            Err(e) => return Err(Status::unavailable(e.to_string())),
        };
        Ok(Response::new(LeaseKeepAliveResponse {
            header: None,
            id,
            ttl,
        }))
    }

    async fn time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let request = request.into_inner();
        let id = request.id;
        match self.server.lease_time_to_live_here(request) {
            Ok(response) => Ok(Response::new(response)),
            Err(ServerError::Lease(LeaseError::NotFound)) => Ok(Response::new(gone(id))),
            Err(e) => Err(Status::unavailable(e.to_string())),
        }
    }
}

/// A time-to-live answer for a lease that does not exist.
fn gone(id: i64) -> LeaseTimeToLiveResponse {
    LeaseTimeToLiveResponse {
        id,
        ttl: -1,
        ..Default::default()
    }
}

/// Renews lease `id` at the leader listening on `url`.
///
/// Fails with `NoLeader` if it cannot be reached, `NotLeader` if it
/// answered with an error.
pub async fn renew_at(url: &str, id: i64) -> Result<i64, ServerError> {
    let mut leader = connect(url).await?;
    let answer = leader
        .renew(LeaseKeepAliveRequest { id })
        .await
        .map_err(|_| ServerError::NotLeader)?
        .into_inner();
    match answer.ttl {
        ttl if ttl > 0 => Ok(ttl),
        _ => Err(LeaseError::NotFound.into()),
    }
}

/// Asks the leader listening on `url` for lease `request.id`'s TTLs.
pub async fn time_to_live_at(
    url: &str,
    request: LeaseTimeToLiveRequest,
) -> Result<LeaseTimeToLiveResponse, ServerError> {
    let mut leader = connect(url).await?;
    let answer = leader
        .time_to_live(request)
        .await
        .map_err(|_| ServerError::NotLeader)?
        .into_inner();
    if answer.ttl == -1 {
        return Err(LeaseError::NotFound.into());
    }
    Ok(answer)
}

async fn connect(url: &str) -> Result<LeasePeerClient<Channel>, ServerError> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .unwrap_or_else(|e| panic!("invalid peer url {url}: {e}"))
        .connect_timeout(CONNECT_TIMEOUT);
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect()).await;
    match connected {
        Ok(Ok(channel)) => Ok(LeasePeerClient::new(channel)),
        // Unreachable: whether it still leads is unknown.
        _ => Err(ServerError::NoLeader),
    }
}
