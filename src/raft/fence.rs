//! The fence around removed members (etcd's rafthttp refuses a removed
//! member's messages with "410 Gone", and a member refused so stops): a
//! member removed while it was cut off, down or paused never applies its
//! own removal, and without the fence it would go on campaigning and
//! serving stale reads, waiting for a leader that no longer sends to it
//! (etcd #7512: a removed member restarted with its old data hangs).
//!
//! Clones share one fence per member: the applier writes who is removed
//! (as the membership says), the transport's receiving side refuses their
//! messages with [`REMOVED`], its sending side raises the member's own
//! flag when a peer refuses it so, and the server stops on that flag.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// What a member answers a removed member's message with, and how a
/// removed member tells that it was (etcd's words for it).
pub const REMOVED: &str = "the member has been permanently removed from the cluster";

/// The removed members, and whether this member is one of them.
#[derive(Debug, Clone)]
pub struct Fence {
    removed: Arc<Mutex<BTreeSet<u64>>>,
    this_removed: Arc<watch::Sender<bool>>,
}

impl Default for Fence {
    fn default() -> Self {
        Self {
            removed: Arc::default(),
            this_removed: Arc::new(watch::channel(false).0),
        }
    }
}

impl Fence {
    /// The members removed for good are `ids` (the membership's list, which
    /// only grows).
    pub fn set_removed(&self, ids: impl IntoIterator<Item = u64>) {
        *self.removed.lock().unwrap() = ids.into_iter().collect();
    }

    /// Whether `id` was removed for good.
    pub fn is_removed(&self, id: u64) -> bool {
        self.removed.lock().unwrap().contains(&id)
    }

    /// This member learned that it was removed (by applying its removal,
    /// or from a peer); whether it is news.
    pub fn removed_this_member(&self) -> bool {
        !self.this_removed.send_replace(true)
    }

    /// Whether this member was removed, as a flag to wait on.
    pub fn this_member_removed(&self) -> watch::Receiver<bool> {
        self.this_removed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_is_shared_and_the_flag_is_news_once() {
        let fence = Fence::default();
        let transport = fence.clone();
        fence.set_removed([3, 1]);
        assert!(transport.is_removed(3) && !transport.is_removed(2));
        let flag = fence.this_member_removed();
        assert!(!*flag.borrow());
        assert!(transport.removed_this_member());
        assert!(!fence.removed_this_member(), "not news the second time");
        assert!(*flag.borrow());
    }
}
