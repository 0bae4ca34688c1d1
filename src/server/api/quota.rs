//! The backend quota in front of the KV service (etcd's `v3rpc/quota.go`).
//!
//! [`QuotaKvService`] wraps a KV service as etcd's `quotaKVServer` wraps
//! its `kvServer`: a put or txn that does not fit raises NOSPACE through
//! raft and is refused before the service sees it; every other call passes
//! through untouched. The other half of the quota is in the applier (etcd's
//! capped applier): once NOSPACE is raised, every member refuses writes
//! that could grow the store, whichever member they came through.

use tonic::{Request, Response, Status};

use super::error::to_status;
use crate::coverage::{self, Site};
use crate::mvcc::KvStore;
use crate::proto::etcdserverpb::alarm_request::AlarmAction;
use crate::proto::etcdserverpb::kv_server::Kv;
use crate::proto::etcdserverpb::{
    AlarmRequest, AlarmType, CompactionRequest, CompactionResponse, DeleteRangeRequest,
    DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse, TxnRequest,
    TxnResponse,
};
use crate::server::etcdserver::{EtcdServer, Quota, ServerError};

/// A KV service behind the backend quota.
pub struct QuotaKvService<S> {
    kv: S,
    server: EtcdServer,
    quota: Quota,
}

impl<S: Kv> QuotaKvService<S> {
    /// `kv` behind the quota `server` was started with.
    pub fn new(kv: S, server: EtcdServer) -> Self {
        let quota = server.quota();
        Self { kv, server, quota }
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
        self.kv.range(request).await
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        self.check(Quota::put_cost(request.get_ref())).await?;
        self.kv.put(request).await
    }

    async fn delete_range(
        &self,
        request: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        self.kv.delete_range(request).await
    }

    async fn txn(&self, request: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        self.check(Quota::txn_cost(request.get_ref())).await?;
        self.kv.txn(request).await
    }

    async fn compact(
        &self,
        request: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        self.kv.compact(request).await
    }
}
