//! Key-value calls.

use std::future::Future;

use tonic::transport::Channel;

use super::{Client, ClientError};
use crate::bugs::Bug;
use crate::proto::etcdserverpb::kv_client::KvClient;
use crate::proto::etcdserverpb::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    TxnResponse,
};

/// Options of [`Client::get`].
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    /// Read the answering member's local state, which may be stale, instead
    /// of a linearizable read.
    pub serializable: bool,
    /// Every key with this key as prefix.
    pub prefix: bool,
}

/// `range_end` for all keys that start with `key` (clientv3's `GetPrefixRangeEnd`).
pub fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

impl Client {
    /// Puts `value` at `key`. Never retried once sent.
    pub async fn put(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Result<PutResponse, ClientError> {
        let request = PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        };
        self.call(false, |mut kv| {
            let request = request.clone();
            async move { kv.put(request).await }
        })
        .await
    }

    /// Gets `key` (or every key under it, with `prefix`).
    pub async fn get(
        &self,
        key: impl Into<Vec<u8>>,
        options: GetOptions,
    ) -> Result<RangeResponse, ClientError> {
        let key = key.into();
        let request = RangeRequest {
            range_end: if options.prefix {
                prefix_end(&key)
            } else {
                vec![]
            },
            key,
            serializable: options.serializable,
            ..Default::default()
        };
        self.call(true, |mut kv| {
            let request = request.clone();
            async move { kv.range(request).await }
        })
        .await
    }

    /// Deletes `key`. Never retried once sent.
    pub async fn delete(
        &self,
        key: impl Into<Vec<u8>>,
    ) -> Result<DeleteRangeResponse, ClientError> {
        let request = DeleteRangeRequest {
            key: key.into(),
            ..Default::default()
        };
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

    /// Runs `call` on an endpoint, failing over per the rule in the module
    /// docs; `idempotent` requests are also retried after a broken connection.
    async fn call<T, F, Fut>(&self, idempotent: bool, call: F) -> Result<T, ClientError>
    where
        F: Fn(KvClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut last = ClientError::Unreachable;
        for _ in 0..self.endpoints.len() {
            let (index, kv) = self.kv_client().await?;
            match call(kv).await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) => {
                    let error = ClientError::from(status);
                    let retry_anyway =
                        self.bugs.has(Bug::NonIdempotentRetry) && error.may_have_taken_effect();
                    if !matches!(error, ClientError::ConnectionLost(_)) && !retry_anyway {
                        return Err(error);
                    }
                    self.fail_over(index);
                    if !idempotent && !retry_anyway {
                        return Err(error);
                    }
                    last = error;
                }
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"abc"), b"abd");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }
}
