//! The KV service (etcd's `v3rpc/key.go`).
//!
//! Each handler checks its request ([`super::check`]), calls the server,
//! maps the error through the one table ([`super::error`]) and fills the
//! header ([`super::header`]). Nothing else. The backend quota is not
//! checked here: [`super::QuotaKvService`] wraps this service, as etcd's
//! `quotaKVServer` wraps its `kvServer`.

use tonic::{Response, Status};

use super::check::{check_delete, check_put, check_range, check_size, check_txn, Limits, Proposal};
use super::error::to_status;
use super::header::fill;
use crate::bugs::Bug;
use crate::coverage;
use crate::perturb::Perturbation;
use crate::proto::etcdserverpb::kv_server::Kv;
use crate::proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use crate::server::etcdserver::{is_read_only, EtcdServer};

/// The page the `range-default-limit` bug answers a range without a limit with.
const DEFAULT_PAGE: i64 = 4;

/// Where a handler may dawdle before it starts (a perturbation site).
const SLOW_HANDLER: Perturbation = Perturbation::SlowHandler;

/// Serves `etcdserverpb.KV`.
pub struct KvService {
    server: EtcdServer,
    limits: Limits,
}

impl KvService {
    /// The KV service of `server`, refusing what exceeds `limits`.
    pub fn new(server: EtcdServer, limits: Limits) -> Self {
        Self { server, limits }
    }
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(
        &self,
        request: tonic::Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        self.server.perturbations().pause(SLOW_HANDLER, 100).await;
        let mut request = request.into_inner();
        check_range(&request)?;
        coverage::bug_site(Bug::RangeDefaultLimit);
        if self.server.bugs().has(Bug::RangeDefaultLimit) && request.limit == 0 {
            // The bug: no limit is taken for a default page.
            request.limit = DEFAULT_PAGE;
        }
        let mut response = self.server.range(request).await.map_err(to_status)?;
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }

    async fn put(
        &self,
        request: tonic::Request<PutRequest>,
    ) -> Result<Response<PutResponse>, Status> {
        self.server.perturbations().pause(SLOW_HANDLER, 100).await;
        let request = request.into_inner();
        check_put(&request)?;
        check_size(Proposal::Put(&request), self.limits.max_request_bytes)?;
        let mut response = self.server.put(request).await.map_err(to_status)?;
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }

    async fn delete_range(
        &self,
        request: tonic::Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        self.server.perturbations().pause(SLOW_HANDLER, 100).await;
        let request = request.into_inner();
        check_delete(&request)?;
        check_size(
            Proposal::DeleteRange(&request),
            self.limits.max_request_bytes,
        )?;
        let mut response = self.server.delete_range(request).await.map_err(to_status)?;
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }

    async fn txn(
        &self,
        request: tonic::Request<TxnRequest>,
    ) -> Result<Response<TxnResponse>, Status> {
        self.server.perturbations().pause(SLOW_HANDLER, 100).await;
        let request = request.into_inner();
        check_txn(&request, self.limits.max_txn_ops)?;
        if !is_read_only(&request) {
            check_size(Proposal::Txn(&request), self.limits.max_request_bytes)?;
        }
        let mut response = self.server.txn(request).await.map_err(to_status)?;
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }

    async fn compact(
        &self,
        request: tonic::Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        let mut response = self
            .server
            .compact(request.into_inner())
            .await
            .map_err(to_status)?;
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::etcdserverpb::request_op::Request;
    use crate::proto::etcdserverpb::RequestOp;

    #[test]
    fn only_txns_of_ranges_alone_are_read_only() {
        let op = |request| RequestOp {
            request: Some(request),
        };
        let ranges = TxnRequest {
            success: vec![op(Request::RequestRange(Default::default()))],
            failure: vec![op(Request::RequestRange(Default::default()))],
            ..Default::default()
        };
        assert!(is_read_only(&ranges));
        assert!(is_read_only(&TxnRequest::default()));
        let nested = TxnRequest {
            failure: vec![op(Request::RequestTxn(Default::default()))],
            ..Default::default()
        };
        assert!(!is_read_only(&nested));
    }
}
