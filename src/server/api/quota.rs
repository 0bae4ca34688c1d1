//! The backend quota in front of the KV and Lease services (etcd's
//! `v3rpc/quota.go`).
//!
//! [`QuotaKvService`] wraps a KV service as etcd's `quotaKVServer` wraps
//! its `kvServer`, and [`QuotaLeaseService`] a Lease service as
//! `quotaLeaseServer` does: a put, txn or lease grant that does not fit
//! raises NOSPACE through raft and is refused before the service sees it;
//! every other call passes through untouched. The other half of the quota
//! is in the applier (etcd's quota and capped appliers): a write that no
//! longer fits when applied is answered NOSPACE and raises it, and once
//! NOSPACE is raised every member refuses writes that could grow the
//! store, whichever member they came through.

use tonic::{Request, Response, Status};

use super::error::to_status;
use super::gate::admit;
use crate::coverage::{self, Site};
use crate::mvcc::KvStore;
use crate::proto::etcdserverpb::alarm_request::AlarmAction;
use crate::proto::etcdserverpb::kv_server::Kv;
use crate::proto::etcdserverpb::lease_server::Lease;
use crate::proto::etcdserverpb::{
    AlarmRequest, AlarmType, CompactionRequest, CompactionResponse, DeleteRangeRequest,
    DeleteRangeResponse, LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, PutRequest, PutResponse, RangeRequest,
    RangeResponse, TxnRequest, TxnResponse,
};
use crate::server::etcdserver::{EtcdServer, Quota, ServerError};

/// etcd's `quotaAlarmer`: the quota a member was started with, and the
/// member to raise NOSPACE through.
struct QuotaAlarmer {
    server: EtcdServer,
    quota: Quota,
}

/// A KV service behind the backend quota.
pub struct QuotaKvService<S> {
    kv: S,
    alarmer: QuotaAlarmer,
}

impl<S: Kv> QuotaKvService<S> {
    /// `kv` behind the quota `server` was started with.
    pub fn new(kv: S, server: EtcdServer) -> Self {
        let alarmer = QuotaAlarmer::new(server);
        Self { kv, alarmer }
    }
}

/// A Lease service behind the backend quota: a grant adds a lease record.
pub struct QuotaLeaseService<S> {
    lease: S,
    alarmer: QuotaAlarmer,
}

impl<S: Lease> QuotaLeaseService<S> {
    /// `lease` behind the quota `server` was started with.
    pub fn new(lease: S, server: EtcdServer) -> Self {
        let alarmer = QuotaAlarmer::new(server);
        Self { lease, alarmer }
    }
}

impl QuotaAlarmer {
    fn new(server: EtcdServer) -> Self {
        let quota = server.quota();
        Self { server, quota }
    }

    /// etcd's `quotaAlarmer.check`: if a request adding `cost` bytes does
    /// not fit, NOSPACE is raised through raft (so every member caps its
    /// applier) and the request is refused.
    async fn check(&self, cost: u64) -> Result<(), Status> {
        let size = self.server.read_store(KvStore::size_bytes);
        if self.quota.allows(size, cost) {
            return Ok(());
        }
        let raise = AlarmRequest {
            action: AlarmAction::Activate as i32,
            member_id: self.server.member_id(),
            alarm: AlarmType::Nospace as i32,
        };
        // As etcd, the refusal does not depend on the alarm committing.
        coverage::hit(Site::NoSpaceRaised);
        let _ = self.server.alarm(raise).await;
        Err(to_status(ServerError::NoSpace))
    }
}

#[tonic::async_trait]
impl<S: Kv> Kv for QuotaKvService<S> {
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        admit(&self.alarmer.server, request.get_ref().serializable)?;
        self.kv.range(request).await
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        admit(&self.alarmer.server, false)?;
        self.alarmer
            .check(Quota::put_cost(request.get_ref()))
            .await?;
        self.kv.put(request).await
    }

    async fn delete_range(
        &self,
        request: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        admit(&self.alarmer.server, false)?;
        self.kv.delete_range(request).await
    }

    async fn txn(&self, request: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        admit(&self.alarmer.server, false)?;
        self.alarmer
            .check(Quota::txn_cost(request.get_ref()))
            .await?;
        self.kv.txn(request).await
    }

    async fn compact(
        &self,
        request: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        admit(&self.alarmer.server, false)?;
        self.kv.compact(request).await
    }
}

#[tonic::async_trait]
impl<S: Lease> Lease for QuotaLeaseService<S> {
    async fn lease_grant(
        &self,
        request: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        admit(&self.alarmer.server, false)?;
        self.alarmer.check(Quota::LEASE_COST).await?;
        self.lease.lease_grant(request).await
    }

    async fn lease_revoke(
        &self,
        request: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        admit(&self.alarmer.server, false)?;
        self.lease.lease_revoke(request).await
    }

    type LeaseKeepAliveStream = S::LeaseKeepAliveStream;

    async fn lease_keep_alive(
        &self,
        request: Request<tonic::Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        admit(&self.alarmer.server, false)?;
        self.lease.lease_keep_alive(request).await
    }

    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        admit(&self.alarmer.server, false)?;
        self.lease.lease_time_to_live(request).await
    }

    async fn lease_leases(
        &self,
        request: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        admit(&self.alarmer.server, false)?;
        self.lease.lease_leases(request).await
    }
}
