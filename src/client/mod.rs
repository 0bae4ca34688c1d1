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
//!
//! The endpoint list can follow the membership, as clientv3's `Sync` and
//! `AutoSyncInterval` make it: [`Client::sync`] replaces it with the
//! members' client URLs, [`Client::with_auto_sync`] does so periodically.

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
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::bugs::{Bug, BugSet};
use crate::coverage::{self, Site};
use crate::perturb::{Perturbation, Perturbations};

use crate::proto::etcdserverpb::cluster_client::ClusterClient;
use crate::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use crate::proto::etcdserverpb::watch_client::WatchClient;
use crate::proto::etcdserverpb::MemberListRequest;

/// How long one of [`Client::with_auto_sync`]'s syncs may take, as
/// clientv3's `autoSync` gives each `Sync` 5 s.
const AUTO_SYNC_TIMEOUT: Duration = Duration::from_secs(5);

/// When a call that failed moves on to the next endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Only if it certainly was not sent: writes.
    Never,
    /// Also after a broken connection: reads, renewals.
    Idempotent,
}

/// One endpoint of the list: its URL as given (with a scheme) and how to
/// dial it.
struct Target {
    url: String,
    endpoint: Endpoint,
}

/// The endpoint list, its connections and the current endpoint, shared by
/// every call in flight, the watches and the auto-sync task. [`Client::sync`]
/// replaces the list (a new `Arc`), so a [`Slot`] taken from an older list
/// is found again by its URL, not its index.
struct Pool {
    targets: Arc<[Target]>,
    channels: Vec<Option<Channel>>,
    current: usize,
}

/// An endpoint as a call chose it: a position in the list of that moment.
#[derive(Clone)]
struct Slot {
    targets: Arc<[Target]>,
    index: usize,
}

impl Slot {
    fn target(&self) -> &Target {
        &self.targets[self.index]
    }
}

impl Pool {
    fn new(targets: Vec<Target>) -> Self {
        Self {
            channels: vec![None; targets.len()],
            targets: targets.into(),
            current: 0,
        }
    }

    fn len(&self) -> usize {
        self.targets.len()
    }

    fn slot(&self, index: usize) -> Slot {
        Slot {
            targets: self.targets.clone(),
            index,
        }
    }

    /// Where `slot` is in the list now: the same index while the list is
    /// the one it was taken from, else its URL's place, if still listed.
    fn find(&self, slot: &Slot) -> Option<usize> {
        if Arc::ptr_eq(&self.targets, &slot.targets) {
            return Some(slot.index);
        }
        let url = &slot.target().url;
        self.targets.iter().position(|t| &t.url == url)
    }

    /// The endpoint after `slot`: the next one in the list, or, if a sync
    /// dropped it, the first URL that sorts after it (the synced list is
    /// sorted), wrapping around.
    fn after(&self, slot: &Slot) -> usize {
        match self.find(slot) {
            Some(index) => (index + 1) % self.len(),
            None => self.successor(&slot.target().url),
        }
    }

    /// The first URL after `url` in the (sorted) list, wrapping around.
    fn successor(&self, url: &str) -> usize {
        self.targets.partition_point(|t| t.url.as_str() <= url) % self.len()
    }

    /// Replaces the list with `targets` (sorted, deduplicated, non-empty),
    /// keeping the connections of the URLs still listed and the current
    /// endpoint if it still is; else the one after it. An unchanged list
    /// is left alone.
    fn replace(&mut self, targets: Vec<Target>) {
        let same = targets.len() == self.len()
            && targets
                .iter()
                .zip(self.targets.iter())
                .all(|(a, b)| a.url == b.url);
        if same {
            return;
        }
        let channels = targets
            .iter()
            .map(|t| {
                let old = self.targets.iter().position(|o| o.url == t.url);
                old.and_then(|i| self.channels[i].clone())
            })
            .collect();
        let current_url = self.targets[self.current].url.clone();
        self.targets = targets.into();
        self.channels = channels;
        self.current = match self.targets.iter().position(|t| t.url == current_url) {
            Some(index) => index,
            None => self.successor(&current_url),
        };
    }
}

/// Parses `url` (`http://` is assumed without a scheme) into an endpoint
/// dialled within `dial_timeout`.
fn target(url: &str, dial_timeout: Duration) -> Result<Target, ClientError> {
    let url = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    let endpoint = Endpoint::from_shared(url.clone())
        .map(|e| e.connect_timeout(dial_timeout))
        .map_err(|_| ClientError::InvalidEndpoint(url.clone()))?;
    Ok(Target { url, endpoint })
}

/// A connection to a cluster, through any of its members.
///
/// The endpoint list starts as given to [`Client::new`]; [`Client::sync`]
/// (or [`Client::with_auto_sync`], periodically) replaces it with the
/// members' client URLs, as clientv3's `Sync` does. Calls in flight finish
/// on the endpoint they chose.
pub struct Client {
    pool: Arc<Mutex<Pool>>,
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
        let targets = endpoints
            .into_iter()
            .map(|url| target(url.as_ref(), dial_timeout))
            .collect::<Result<Vec<_>, _>>()?;
        if targets.is_empty() {
            return Err(ClientError::InvalidEndpoint(String::new()));
        }
        Ok(Self {
            pool: Arc::new(Mutex::new(Pool::new(targets))),
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
        let mut pool = self.pool();
        pool.current = index % pool.len();
    }

    /// The endpoint requests go to now.
    pub fn current_endpoint(&self) -> String {
        let pool = self.pool();
        pool.targets[pool.current].endpoint.uri().to_string()
    }

    /// The endpoint list, in the order it is tried (clientv3's
    /// `Endpoints`).
    pub fn endpoints(&self) -> Vec<String> {
        self.pool().targets.iter().map(|t| t.url.clone()).collect()
    }

    /// Replaces the endpoint list with the client URLs of every member
    /// the cluster lists (clientv3's `Sync`): `MemberList` on the current
    /// endpoint (failing over as reads do), then every URL of every
    /// member, learners included, as 3.4 keeps them; a member that has
    /// not started yet has published none. The list is sorted and
    /// deduplicated, so every client that syncs tries the same order; an
    /// answer with no URL at all (or one that does not parse) leaves the
    /// list as it was. The current endpoint stays current if still listed.
    pub async fn sync(&self) -> Result<(), ClientError> {
        let list = self
            .call_on(Retry::Idempotent, |channel| async move {
                ClusterClient::new(channel)
                    .member_list(MemberListRequest {})
                    .await
            })
            .await?;
        let mut targets = list
            .members
            .iter()
            .flat_map(|m| &m.client_ur_ls)
            .map(|url| target(url, self.dial_timeout))
            .collect::<Result<Vec<_>, _>>()?;
        targets.sort_by(|a, b| a.url.cmp(&b.url));
        targets.dedup_by(|a, b| a.url == b.url);
        if !targets.is_empty() {
            self.pool().replace(targets);
        }
        Ok(())
    }

    /// Syncs the endpoint list every `interval` from a task of its own
    /// (clientv3's `AutoSyncInterval`), the first time one `interval` from
    /// now, each sync within 5 s; a failed sync keeps the list. The task
    /// ends once this client (and every watch and keep-alive of it) is
    /// gone. Call it within the runtime: the task is spawned on the
    /// current node.
    pub fn with_auto_sync(self, interval: Duration) -> Self {
        let pool = Arc::downgrade(&self.pool);
        let (dial_timeout, bugs) = (self.dial_timeout, self.bugs);
        tokio::spawn(auto_sync(pool, dial_timeout, bugs, interval));
        self
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

    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap()
    }

    /// Tries each endpoint once, starting with the current one, until one
    /// connects. An endpoint that a sync drops meanwhile is skipped.
    async fn channel(&self) -> Result<(Slot, Channel), ClientError> {
        let (first, count) = {
            let pool = self.pool();
            (pool.slot(pool.current), pool.len())
        };
        for step in 0..count {
            let slot = Slot {
                index: (first.index + step) % count,
                ..first.clone()
            };
            {
                let mut pool = self.pool();
                let Some(index) = pool.find(&slot) else {
                    continue;
                };
                if let Some(channel) = pool.channels[index].clone() {
                    pool.current = index;
                    return Ok((slot, channel));
                }
            }
            let connect = slot.target().endpoint.connect();
            if let Ok(Ok(channel)) = tokio::time::timeout(self.dial_timeout, connect).await {
                let mut pool = self.pool();
                if let Some(index) = pool.find(&slot) {
                    pool.channels[index] = Some(channel.clone());
                    pool.current = index;
                    return Ok((slot, channel));
                }
            }
        }
        Err(ClientError::Unreachable)
    }

    /// Drops the connection to the endpoint of `slot` and moves to the
    /// next one (if a sync has not dropped it already).
    fn fail_over(&self, slot: &Slot) {
        coverage::hit(Site::ClientFailover);
        let mut pool = self.pool();
        let Some(index) = pool.find(slot) else {
            return;
        };
        pool.channels[index] = None;
        if pool.current == index {
            pool.current = (index + 1) % pool.len();
        }
    }

    /// Runs `call` on an endpoint's channel, failing over per the rule in
    /// the module docs and `retry`.
    async fn call_on<T, F, Fut>(&self, retry: Retry, call: F) -> Result<T, ClientError>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut last = ClientError::Unreachable;
        let count = self.pool().len();
        for _ in 0..count {
            let (slot, channel) = self.channel().await?;
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
                    self.fail_over(&slot);
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

/// The task behind [`Client::with_auto_sync`]: a client on the same pool
/// (without perturbations: a sync is no read of the history), every
/// `interval`, while the pool lives.
async fn auto_sync(
    pool: Weak<Mutex<Pool>>,
    dial_timeout: Duration,
    bugs: BugSet,
    interval: Duration,
) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let client = Client {
            pool,
            dial_timeout,
            bugs,
            perturbations: Perturbations::NONE,
        };
        let _ = tokio::time::timeout(AUTO_SYNC_TIMEOUT, client.sync()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(urls: &[&str]) -> Pool {
        Pool::new(targets(urls))
    }

    fn targets(urls: &[&str]) -> Vec<Target> {
        let dial = Duration::from_secs(1);
        urls.iter().map(|u| target(u, dial).unwrap()).collect()
    }

    fn urls(pool: &Pool) -> Vec<&str> {
        pool.targets.iter().map(|t| t.url.as_str()).collect()
    }

    #[test]
    fn a_sync_keeps_the_current_endpoint_if_still_listed_else_takes_the_next() {
        let mut p = pool(&["http://b:1", "c:1", "http://a:1"]);
        assert_eq!(urls(&p), ["http://b:1", "http://c:1", "http://a:1"]);
        p.current = 1;
        p.replace(targets(&["http://a:1", "http://b:1", "http://c:1"]));
        assert_eq!(p.targets[p.current].url, "http://c:1");
        // c goes: the next URL after it, wrapping, is a.
        p.replace(targets(&["http://a:1", "http://b:1"]));
        assert_eq!(p.targets[p.current].url, "http://a:1");
        // a goes: b, which sorts after it.
        p.replace(targets(&["http://b:1", "http://d:1"]));
        assert_eq!(p.targets[p.current].url, "http://b:1");
    }

    #[test]
    fn an_older_slot_is_found_by_its_url_and_a_dropped_one_is_not() {
        let mut p = pool(&["http://a:1", "http://b:1", "http://c:1"]);
        let b = p.slot(1);
        let c = p.slot(2);
        assert_eq!(p.find(&b), Some(1));
        assert_eq!(p.after(&c), 0);
        p.replace(targets(&["http://b:1", "http://c:1"]));
        assert_eq!(p.find(&b), Some(0));
        assert_eq!(p.find(&c), Some(1));
        p.replace(targets(&["http://a:1", "http://c:1", "http://d:1"]));
        assert_eq!(p.find(&b), None);
        // After b, gone, comes c.
        assert_eq!(p.after(&b), 1);
    }

    #[test]
    fn an_unchanged_list_keeps_its_slots() {
        let mut p = pool(&["http://a:1", "http://b:1"]);
        let before = p.targets.clone();
        p.replace(targets(&["http://a:1", "http://b:1"]));
        assert!(Arc::ptr_eq(&before, &p.targets));
    }
}
