//! A clientv3-like client: endpoints, failover, typed errors.
//!
//! ```no_run
//! # async fn demo() -> Result<(), etcd_sim::client::ClientError> {
//! use etcd_sim::client::{Client, GetOptions};
//! use std::time::Duration;
//! let client = Client::new(["http://127.0.0.1:2379"], Duration::from_secs(2))?;
//! client.put("foo", "bar").await?;
//! let got = client.get("foo", GetOptions::default()).await?;
//! assert_eq!(got.kvs[0].value, b"bar");
//!
//! // Every option of etcd's requests, through clientv3-style op builders.
//! use etcd_sim::client::{Op, SortOrder, SortTarget};
//! let old = client.put_op(Op::put("foo", "baz").prev_kv()).await?;
//! assert_eq!(old.prev_kv.unwrap().value, b"bar");
//! let newest = Op::get("f").prefix().sort(SortTarget::Mod, SortOrder::Descend).limit(1);
//! let got = client.get_op(newest).await?;
//! client.compact(got.header.unwrap().revision, false).await?;
//! # Ok(()) }
//! ```
//!
//! Failover follows clientv3's rule: a request moves to the next endpoint
//! when it certainly did not reach the server (the connection could not be
//! made), and reads, which are idempotent, also when the connection broke
//! while they were in flight. A write whose connection broke is *not*
//! retried: it may have been applied, and the caller must learn that from the
//! error ([`ClientError::may_have_taken_effect`]). A member that answers
//! `etcdserver: server stopped` is treated like a broken connection.

mod error;
mod kv;
mod lease;
mod maintenance;
mod op;
mod txn;
mod watch;

pub use error::ClientError;
pub use kv::GetOptions;
pub use lease::KeepAliveStream;
pub use op::prefix_end;
pub use op::{DeleteOp, GetOp, Op, OpResponse, PutOp, SortOrder, SortTarget};
pub use txn::{Compare, CompareOp, Txn, TxnOp};
pub use watch::{WatchOptions, WatchStream, LIVENESS_TIMEOUT};

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::bugs::{Bug, BugSet};
use crate::coverage::{self, Site};
use crate::perturb::{Perturbation, Perturbations};

use crate::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use crate::proto::etcdserverpb::watch_client::WatchClient;

/// When a call that failed moves on to the next endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Only if it certainly was not sent: writes.
    Never,
    /// Also after a broken connection: reads, renewals.
    Idempotent,
}

/// A connection to a cluster, through any of its members.
pub struct Client {
    endpoints: Vec<Endpoint>,
    channels: Mutex<Vec<Option<Channel>>>,
    current: AtomicUsize,
    dial_timeout: Duration,
    bugs: BugSet,
    perturbations: Perturbations,
}

impl Client {
    /// A client for `endpoints` (`http://HOST:PORT`); connections are made on
    /// first use, each within `dial_timeout`.
    pub fn new<S: AsRef<str>>(
        endpoints: impl IntoIterator<Item = S>,
        dial_timeout: Duration,
    ) -> Result<Self, ClientError> {
        let endpoints = endpoints
            .into_iter()
            .map(|url| {
                let url = url.as_ref();
                let url = if url.contains("://") {
                    url.to_string()
                } else {
                    format!("http://{url}")
                };
                Endpoint::from_shared(url.clone())
                    .map(|e| e.connect_timeout(dial_timeout))
                    .map_err(|_| ClientError::InvalidEndpoint(url))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err(ClientError::InvalidEndpoint(String::new()));
        }
        let channels = Mutex::new(vec![None; endpoints.len()]);
        Ok(Self {
            endpoints,
            channels,
            current: AtomicUsize::new(0),
            dial_timeout,
            bugs: BugSet::NONE,
            perturbations: Perturbations::NONE,
        })
    }

    /// Switches on injected client bugs (`non-idempotent-retry`).
    pub fn with_bugs(mut self, bugs: BugSet) -> Self {
        self.bugs = bugs;
        self
    }

    /// Switches on perturbation sites (`slow-client-read`).
    pub fn with_perturbations(mut self, perturbations: Perturbations) -> Self {
        self.perturbations = perturbations;
        self
    }

    /// Starts with endpoint `index` (mod the count), e.g. to spread clients.
    pub fn prefer_endpoint(&self, index: usize) {
        self.current
            .store(index % self.endpoints.len(), Ordering::Relaxed);
    }

    /// The endpoint requests go to now.
    pub fn current_endpoint(&self) -> String {
        self.endpoints[self.current.load(Ordering::Relaxed)]
            .uri()
            .to_string()
    }

    /// A Maintenance stub for the current endpoint.
    pub async fn maintenance(&self) -> Result<MaintenanceClient<Channel>, ClientError> {
        Ok(MaintenanceClient::new(self.channel().await?.1))
    }

    /// A Watch stub for the current endpoint, for a caller that runs its
    /// own stream (several watches on it, as etcd's clients multiplex the
    /// watches of one context), without this client's resuming.
    pub async fn watch_service(&self) -> Result<WatchClient<Channel>, ClientError> {
        Ok(WatchClient::new(self.channel().await?.1))
    }

    /// Tries each endpoint once, starting with the current one, until one
    /// connects.
    async fn channel(&self) -> Result<(usize, Channel), ClientError> {
        let start = self.current.load(Ordering::Relaxed);
        let count = self.endpoints.len();
        for step in 0..count {
            let index = (start + step) % count;
            if let Some(channel) = self.channels.lock().unwrap()[index].clone() {
                self.current.store(index, Ordering::Relaxed);
                return Ok((index, channel));
            }
            let connect = self.endpoints[index].connect();
            if let Ok(Ok(channel)) = tokio::time::timeout(self.dial_timeout, connect).await {
                self.channels.lock().unwrap()[index] = Some(channel.clone());
                self.current.store(index, Ordering::Relaxed);
                return Ok((index, channel));
            }
        }
        Err(ClientError::Unreachable)
    }

    /// Drops the connection to endpoint `index` and moves to the next one.
    fn fail_over(&self, index: usize) {
        coverage::hit(Site::ClientFailover);
        self.channels.lock().unwrap()[index] = None;
        let next = (index + 1) % self.endpoints.len();
        let _ = self
            .current
            .compare_exchange(index, next, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Runs `call` on an endpoint's channel, failing over per the rule in
    /// the module docs and `retry`.
    async fn call_on<T, F, Fut>(&self, retry: Retry, call: F) -> Result<T, ClientError>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut last = ClientError::Unreachable;
        for _ in 0..self.endpoints.len() {
            let (index, channel) = self.channel().await?;
            match call(channel).await {
                Ok(response) => {
                    self.perturbations
                        .pause(Perturbation::SlowClientRead, 100)
                        .await;
                    return Ok(response.into_inner());
                }
                Err(status) => {
                    let error = ClientError::from(status);
                    coverage::bug_site(Bug::NonIdempotentRetry);
                    let retry_anyway =
                        self.bugs.has(Bug::NonIdempotentRetry) && error.may_have_taken_effect();
                    if !error.member_gone() && !retry_anyway {
                        return Err(error);
                    }
                    self.fail_over(index);
                    if retry == Retry::Never && !retry_anyway {
                        return Err(error);
                    }
                    last = error;
                }
            }
        }
        Err(last)
    }
}
