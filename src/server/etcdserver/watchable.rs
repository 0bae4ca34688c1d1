//! What watchers need from the member: its applied store, and a signal
//! whenever the applier moved it.
//!
//! Watches are served from the member's own applied state, not through raft
//! (etcd's watches are not linearizable either). The applier only publishes
//! its applied index, which it does anyway; it never waits on a watcher, so
//! a slow client cannot stall apply.

use tokio::sync::watch;

use super::EtcdServer;
use crate::mvcc::KvStore;

impl EtcdServer {
    /// A receiver that changes whenever this member applied entries or
    /// restored a snapshot: the moment to look for new events.
    pub fn applied_changes(&self) -> watch::Receiver<u64> {
        self.inner.applied.clone()
    }

    /// Runs `read` on the store as this member has applied it. Each applied
    /// request changes the store under the same lock, so `read` sees whole
    /// revisions only.
    pub fn read_store<T>(&self, read: impl FnOnce(&KvStore) -> T) -> T {
        read(&self.inner.store.lock().unwrap())
    }
}
