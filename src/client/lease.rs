//! Lease calls (clientv3's `Lease`: `Grant`, `Revoke`, `TimeToLive`,
//! `Leases`, `KeepAliveOnce`, `KeepAlive`).
//!
//! Renewals and TTL queries are served by the leader alone; a follower
//! forwards them to it, as etcd's does. Both are retried on another
//! endpoint after a broken connection: renewing twice does no harm.
//!
//! ```no_run
//! # async fn demo() -> Result<(), etcd_sim::client::ClientError> {
//! use etcd_sim::client::{Client, Op};
//! use futures::StreamExt;
//! use std::sync::Arc;
//! use std::time::Duration;
//! // The keep-alive helper renews from a task of its own: it shares the client.
//! let client = Arc::new(Client::new(["http://127.0.0.1:2379"], Duration::from_secs(2))?);
//! let lease = client.lease_grant(10, 0).await?;
//! client.put_op(Op::put("k", "v").lease(lease.id)).await?;
//! let mut renewals = client.lease_keep_alive(lease.id);
//! let first = renewals.next().await; // answered every TTL/3
//! client.lease_revoke(lease.id).await?; // deletes k
//! # Ok(()) }
//! ```

use std::time::Duration;

use futures::channel::mpsc;
use futures::SinkExt;

use super::{Client, ClientError, Retry, Slot};
use crate::proto::etcdserverpb::lease_client::LeaseClient;
use crate::proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};

/// The renewals of one lease, as [`Client::lease_keep_alive`] gets them.
/// It ends when the lease is gone (a renewal answered TTL 0); dropping it
/// stops the renewals.
pub type KeepAliveStream = mpsc::UnboundedReceiver<LeaseKeepAliveResponse>;

/// How long the keep-alive helper waits before trying again after a
/// failed renewal.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

impl Client {
    /// Grants a lease of `ttl` seconds; `id` 0 lets the server choose it.
    /// Never retried once sent.
    pub async fn lease_grant(&self, ttl: i64, id: i64) -> Result<LeaseGrantResponse, ClientError> {
        let request = LeaseGrantRequest { ttl, id };
        self.call_on(Retry::Never, |channel| async move {
            LeaseClient::new(channel).lease_grant(request).await
        })
        .await
    }

    /// Revokes lease `id`, deleting every key attached to it. Never
    /// retried once sent.
    pub async fn lease_revoke(&self, id: i64) -> Result<LeaseRevokeResponse, ClientError> {
        let request = LeaseRevokeRequest { id };
        self.call_on(Retry::Never, |channel| async move {
            LeaseClient::new(channel).lease_revoke(request).await
        })
        .await
    }

    /// The remaining and granted TTL of lease `id` (TTL -1 if it does not
    /// exist), and with `keys` the keys attached to it.
    pub async fn lease_time_to_live(
        &self,
        id: i64,
        keys: bool,
    ) -> Result<LeaseTimeToLiveResponse, ClientError> {
        let request = LeaseTimeToLiveRequest { id, keys };
        self.call_on(Retry::Idempotent, |channel| async move {
            LeaseClient::new(channel).lease_time_to_live(request).await
        })
        .await
    }

    /// Every lease, as the answering member knows them.
    pub async fn lease_leases(&self) -> Result<LeaseLeasesResponse, ClientError> {
        self.call_on(Retry::Idempotent, |channel| async move {
            LeaseClient::new(channel)
                .lease_leases(LeaseLeasesRequest {})
                .await
        })
        .await
    }

    /// Renews lease `id` once; the answer's TTL is 0 if the lease is gone.
    pub async fn lease_keep_alive_once(
        &self,
        id: i64,
    ) -> Result<LeaseKeepAliveResponse, ClientError> {
        self.call_on(Retry::Idempotent, |channel| async move {
            let requests = futures::stream::iter([LeaseKeepAliveRequest { id }]);
            let mut answers = LeaseClient::new(channel)
                .lease_keep_alive(requests)
                .await?
                .into_inner();
            match answers.message().await? {
                Some(answer) => Ok(tonic::Response::new(answer)),
                None => Err(tonic::Status::unavailable("keep-alive stream closed")),
            }
        })
        .await
    }

    /// Keeps lease `id` alive from a background task, renewing it every
    /// third of its TTL over one keep-alive stream (reopened on another
    /// endpoint when it breaks), and passes every answer on.
    pub fn lease_keep_alive(self: &std::sync::Arc<Self>, id: i64) -> KeepAliveStream {
        let (mut out, stream) = mpsc::unbounded();
        let client = self.clone();
        tokio::spawn(async move {
            // Until the first answer tells the TTL, renew every second.
            let mut every = Duration::from_secs(1);
            loop {
                match client.keep_alive_stream(id, &mut every, &mut out).await {
                    Ok(()) => return,
                    Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
                }
            }
        });
        stream
    }

    /// One keep-alive stream to the current endpoint, until the lease is
    /// gone or nobody listens (`Ok`) or the stream fails (`Err`).
    async fn keep_alive_stream(
        &self,
        id: i64,
        every: &mut Duration,
        out: &mut mpsc::UnboundedSender<LeaseKeepAliveResponse>,
    ) -> Result<(), ClientError> {
        let (slot, channel) = self.channel().await?;
        let (mut requests, outgoing) = mpsc::unbounded();
        requests
            .send(LeaseKeepAliveRequest { id })
            .await
            .expect("the receiver is alive");
        let opened = LeaseClient::new(channel).lease_keep_alive(outgoing).await;
        let mut answers = match opened {
            Ok(answers) => answers.into_inner(),
            Err(status) => return Err(self.after_failure(&slot, status)),
        };
        loop {
            let answer = match answers.message().await {
                Ok(Some(answer)) => answer,
                Ok(None) => {
                    let status = tonic::Status::unavailable("keep-alive stream closed");
                    return Err(self.after_failure(&slot, status));
                }
                Err(status) => return Err(self.after_failure(&slot, status)),
            };
            let gone = answer.ttl <= 0;
            if !gone {
                *every = Duration::from_secs(answer.ttl.max(1) as u64) / 3;
            }
            if out.send(answer).await.is_err() || gone {
                return Ok(());
            }
            tokio::time::sleep(*every).await;
            if requests.send(LeaseKeepAliveRequest { id }).await.is_err() {
                return Ok(());
            }
        }
    }

    /// Moves off the endpoint of `slot` after a failed keep-alive stream.
    fn after_failure(&self, slot: &Slot, status: tonic::Status) -> ClientError {
        self.fail_over(slot);
        ClientError::from(status)
    }
}
