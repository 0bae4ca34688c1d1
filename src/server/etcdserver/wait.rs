//! Waiters: a request registers under its id and is woken with its result.
//!
//! A member applies every committed entry, but only the member that proposed
//! an entry has a waiter for it; the others find none and move on.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

/// Pending requests keyed by id.
pub struct Wait<K, T> {
    pending: Mutex<BTreeMap<K, oneshot::Sender<T>>>,
}

impl<K: Ord, T> Default for Wait<K, T> {
    fn default() -> Self {
        Self {
            pending: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<K: Ord, T> Wait<K, T> {
    /// Registers `id`; the receiver gets what [`Wait::trigger`] sends.
    ///
    /// # Panics
    /// If `id` is already pending: ids are unique by construction.
    pub fn register(&self, id: K) -> oneshot::Receiver<T> {
        let (tx, rx) = oneshot::channel();
        let previous = self.pending.lock().unwrap().insert(id, tx);
        assert!(previous.is_none(), "request id registered twice");
        rx
    }

    /// Wakes the waiter for `id`, if any.
    pub fn trigger(&self, id: &K, value: T) {
        if let Some(tx) = self.pending.lock().unwrap().remove(id) {
            let _ = tx.send(value);
        }
    }

    /// Whether a requester waits for `id` on this member (etcd's
    /// `IsRegistered`).
    pub fn is_registered(&self, id: &K) -> bool {
        self.pending.lock().unwrap().contains_key(id)
    }

    /// Forgets `id` (its requester gave up).
    pub fn cancel(&self, id: &K) {
        self.pending.lock().unwrap().remove(id);
    }
}
