//! Key-value calls (clientv3's `KV`: `Get`, `Put`, `Delete`, `Compact`,
//! `Txn`, `Do`).

use std::future::Future;

use tonic::transport::Channel;

use super::op::{DeleteOp, GetOp, Op, OpResponse, PutOp};
use super::{Client, ClientError, Retry};
use crate::proto::etcdserverpb::kv_client::KvClient;
use crate::proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeResponse, PutResponse, RangeResponse,
    TxnResponse,
};

/// Options of [`Client::get`]; [`Op::get`] has them all.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    /// Read the answering member's local state, which may be stale, instead
    /// of a linearizable read.
    pub serializable: bool,
    /// Every key with this key as prefix.
    pub prefix: bool,
}

impl Client {
    /// Puts `value` at `key`. Never retried once sent.
    pub async fn put(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Result<PutResponse, ClientError> {
        self.put_op(Op::put(key, value)).await
    }

    /// Gets `key` (or every key under it, with `prefix`).
    pub async fn get(
        &self,
        key: impl Into<Vec<u8>>,
        options: GetOptions,
    ) -> Result<RangeResponse, ClientError> {
        let mut op = Op::get(key);
        if options.prefix {
            op = op.prefix();
        }
        if options.serializable {
            op = op.serializable();
        }
        self.get_op(op).await
    }

    /// Deletes `key`. Never retried once sent.
    pub async fn delete(
        &self,
        key: impl Into<Vec<u8>>,
    ) -> Result<DeleteRangeResponse, ClientError> {
        self.delete_op(Op::delete(key)).await
    }

    /// Runs a range read with all its options. Retried on another endpoint
    /// after a broken connection: reads are idempotent.
    pub async fn get_op(&self, op: GetOp) -> Result<RangeResponse, ClientError> {
        let request = op.into_request();
        self.call(true, |mut kv| {
            let request = request.clone();
            async move { kv.range(request).await }
        })
        .await
    }

    /// Runs a put with all its options. Never retried once sent.
    pub async fn put_op(&self, op: PutOp) -> Result<PutResponse, ClientError> {
        let request = op.into_request();
        self.call(false, |mut kv| {
            let request = request.clone();
            async move { kv.put(request).await }
        })
        .await
    }

    /// Runs a delete-range with all its options. Never retried once sent.
    pub async fn delete_op(&self, op: DeleteOp) -> Result<DeleteRangeResponse, ClientError> {
        let request = op.into_request();
        self.call(false, |mut kv| {
            let request = request.clone();
            async move { kv.delete_range(request).await }
        })
        .await
    }

    /// Runs `txn`. Never retried once sent (it may write).
    pub async fn txn(&self, txn: super::Txn) -> Result<TxnResponse, ClientError> {
        let request = txn.into_request();
        self.call(false, |mut kv| {
            let request = request.clone();
            async move { kv.txn(request).await }
        })
        .await
    }

    /// Compacts the history up to `revision`; with `physical`, answers only
    /// once the compaction is done. Retried like a read: compacting twice
    /// to the same revision changes nothing more (clientv3 deems it
    /// repeatable), though the second attempt may answer `Compacted`.
    pub async fn compact(
        &self,
        revision: i64,
        physical: bool,
    ) -> Result<CompactionResponse, ClientError> {
        let request = CompactionRequest { revision, physical };
        self.call(true, |mut kv| async move { kv.compact(request).await })
            .await
    }

    /// Runs any op (clientv3's `KV.Do`).
    pub async fn execute(&self, op: impl Into<Op>) -> Result<OpResponse, ClientError> {
        Ok(match op.into() {
            Op::Get(op) => OpResponse::Get(self.get_op(op).await?),
            Op::Put(op) => OpResponse::Put(self.put_op(op).await?),
            Op::Delete(op) => OpResponse::Delete(self.delete_op(op).await?),
            Op::Txn(txn) => OpResponse::Txn(self.txn(txn).await?),
        })
    }

    /// Runs `call` with a KV stub, failing over per [`Client::call_on`];
    /// `idempotent` requests are also retried after a broken connection.
    async fn call<T, F, Fut>(&self, idempotent: bool, call: F) -> Result<T, ClientError>
    where
        F: Fn(KvClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let retry = if idempotent {
            Retry::Idempotent
        } else {
            Retry::Never
        };
        self.call_on(retry, |channel| call(KvClient::new(channel)))
            .await
    }
}
