//! What watchers (and reads waiting for their read index) need from the
//! member: its applied store, and a signal whenever the applier moved it.
//!
//! Watches are served from the member's own applied state, not through raft
//! (etcd's watches are not linearizable either). The applier only wakes
//! whoever waits on [`EtcdServer::applied_signal`]; it never waits on a
//! watcher, so a slow client cannot stall apply.
//!
//! The signal is a [`Notify`], not the `applied` watch channel: tokio's
//! watch channel parks each waiter in one of eight queues chosen by the
//! runtime's own random numbers, which madsim does not seed, so many
//! streams — or reads — waiting on it would wake in an order that differs
//! from run to run in one process (`--check-determinism` caught it).
//! `notify_waiters` wakes in queue order.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::Notify;

use super::{EtcdServer, ServerError};
use crate::bugs::BugSet;
use crate::mvcc::KvStore;

impl EtcdServer {
    /// Notified after every batch the applier applied and every snapshot it
    /// restored. Only waiters registered at that moment are woken: enable a
    /// `notified()` future *before* reading the store.
    pub fn applied_signal(&self) -> Arc<Notify> {
        self.inner.watchers.clone()
    }

    /// Returns once this member has applied entry `index`; fails with
    /// [`ServerError::Stopped`] if its applier is gone.
    pub(super) async fn applied_at_least(&self, index: u64) -> Result<(), ServerError> {
        loop {
            let applied = self.inner.watchers.notified();
            tokio::pin!(applied);
            applied.as_mut().enable();
            if *self.inner.applied.borrow() >= index {
                return Ok(());
            }
            if self.inner.applied.has_changed().is_err() {
                return Err(ServerError::Stopped);
            }
            applied.await;
        }
    }

    /// How many snapshots this member has restored its state from since it
    /// started: watch streams resync their watchers when it moves.
    pub fn snapshot_restores(&self) -> u64 {
        self.inner.restores.load(Ordering::Relaxed)
    }

    /// The bugs switched on in this member.
    pub fn bugs(&self) -> BugSet {
        self.inner.bugs
    }

    /// Runs `read` on the store as this member has applied it. Each applied
    /// request changes the store under the same lock, so `read` sees whole
    /// revisions only.
    pub fn read_store<T>(&self, read: impl FnOnce(&KvStore) -> T) -> T {
        self.inner.state.read(|state| read(&state.store))
    }
}
