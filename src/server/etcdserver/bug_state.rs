//! State that only injected bugs keep, out of the server's core.
//!
//! A member without these bugs switched on has none of it: each part
//! exists only when its bug does, so the correct server's structs hold
//! nothing the correct server does not use.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::bugs::{Bug, BugSet};

/// What the member's bugs remember between requests.
pub struct BugState {
    /// With `lost-leader-lease`: the leadership lease it trusts.
    pub lost_leader_lease: Option<LostLeaderLease>,
    /// With `lease-renewal-to-old-leader`: where lease requests go.
    pub remembered_leader: Option<RememberedLeader>,
}

impl BugState {
    /// The state `bugs` need; `election_timeout` sizes the lease the
    /// `lost-leader-lease` bug grants itself.
    pub fn new(bugs: BugSet, election_timeout: Duration) -> Self {
        Self {
            lost_leader_lease: bugs.has(Bug::LostLeaderLease).then(|| LostLeaderLease {
                until: Mutex::new(None),
                // Ten election timeouts: far longer than a deposed leader
                // needs to notice it lost, which is the bug; long enough
                // to outlive the request timeouts its partition causes.
                lease: election_timeout * 10,
            }),
            remembered_leader: bugs
                .has(Bug::LeaseRenewalToOldLeader)
                .then(|| RememberedLeader(Mutex::new(None))),
        }
    }
}

/// The `lost-leader-lease` bug: a leader renews its lease whenever it sees
/// itself lead, and trusts it for longer than it takes the others to elect
/// someone else.
pub struct LostLeaderLease {
    /// Until when this member believes its leadership lease holds.
    until: Mutex<Option<Instant>>,
    /// How long each renewal lasts.
    lease: Duration,
}

impl LostLeaderLease {
    /// Renews the lease at `now` if `leading()`; then whether it holds.
    pub fn holds(&self, now: Instant, leading: impl FnOnce() -> bool) -> bool {
        let mut until = self.until.lock().unwrap();
        if leading() {
            *until = Some(now + self.lease);
        }
        until.is_some_and(|until| now < until)
    }
}

/// The `lease-renewal-to-old-leader` bug: the first leader this member
/// forwarded to stays its target until it cannot be reached, whoever raft
/// says leads now.
pub struct RememberedLeader(Mutex<Option<u64>>);

impl RememberedLeader {
    /// Where to forward, with raft saying `leader` leads and this member
    /// being `me`.
    pub fn target(&self, leader: u64, me: u64) -> u64 {
        let mut remembered = self.0.lock().unwrap();
        match *remembered {
            Some(old) => old,
            None => {
                if leader != 0 && leader != me {
                    *remembered = Some(leader);
                }
                leader
            }
        }
    }

    /// The remembered leader could not be reached: forget it.
    pub fn forget(&self) {
        *self.0.lock().unwrap() = None;
    }
}
