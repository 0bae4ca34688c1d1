//! The KV service (etcd's `v3rpc/key.go`).

use tonic::{Response, Status};

use super::error::{to_status, ApiError};
use super::header::fill;
use crate::proto::etcdserverpb::kv_server::Kv;
use crate::proto::etcdserverpb::request_op::Request;
use crate::proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use crate::server::etcdserver::EtcdServer;

/// Serves `etcdserverpb.KV`.
pub struct KvService {
    server: EtcdServer,
}

impl KvService {
    /// The KV service of `server`.
    pub fn new(server: EtcdServer) -> Self {
        Self { server }
    }
}

fn check_key(key: &[u8]) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::EmptyKey);
    }
    Ok(())
}

/// Checks every op of a txn, nested txns included.
fn check_txn(txn: &TxnRequest) -> Result<(), ApiError> {
    for op in txn.success.iter().chain(&txn.failure) {
        match &op.request {
            None => return Err(ApiError::EmptyRequestOp),
            Some(Request::RequestRange(r)) => check_key(&r.key)?,
            Some(Request::RequestPut(r)) => check_key(&r.key)?,
            Some(Request::RequestDeleteRange(r)) => check_key(&r.key)?,
            Some(Request::RequestTxn(t)) => check_txn(t)?,
        }
    }
    Ok(())
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(
        &self,
        request: tonic::Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let request = request.into_inner();
        check_key(&request.key)?;
        let mut response = self.server.range(request).await.map_err(to_status)?;
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }

    async fn put(
        &self,
        request: tonic::Request<PutRequest>,
    ) -> Result<Response<PutResponse>, Status> {
        let request = request.into_inner();
        check_key(&request.key)?;
        let mut response = self.server.put(request).await.map_err(to_status)?;
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }

    async fn delete_range(
        &self,
        request: tonic::Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let request = request.into_inner();
        check_key(&request.key)?;
        let mut response = self.server.delete_range(request).await.map_err(to_status)?;
        fill(&self.server, &mut response.header);
        Ok(Response::new(response))
    }

    async fn txn(
        &self,
        request: tonic::Request<TxnRequest>,
    ) -> Result<Response<TxnResponse>, Status> {
        let request = request.into_inner();
        check_txn(&request)?;
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

    #[test]
    fn an_empty_key_is_refused_with_etcds_message() {
        let status = Status::from(check_key(b"").unwrap_err());
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), "etcdserver: key is not provided");
        assert!(check_key(b"k").is_ok());
    }

    #[test]
    fn a_txn_with_an_empty_op_is_refused_even_when_nested() {
        let empty = crate::proto::etcdserverpb::RequestOp { request: None };
        let nested = TxnRequest {
            failure: vec![empty],
            ..Default::default()
        };
        let outer = TxnRequest {
            success: vec![crate::proto::etcdserverpb::RequestOp {
                request: Some(Request::RequestTxn(nested)),
            }],
            ..Default::default()
        };
        assert_eq!(check_txn(&outer), Err(ApiError::EmptyRequestOp));
        assert_eq!(check_txn(&TxnRequest::default()), Ok(()));
    }
}
