//! The lease log: what the lease clients ([`crate::actors::lease_clients`])
//! saw acknowledged, for the lease check ([`etcd_sim_checker::lease`]).

use std::sync::{Arc, Mutex};

use etcd_sim_checker::lease::LeaseEvent;

/// The events of one run, from every lease client; clones share them.
#[derive(Debug, Clone, Default)]
pub struct LeaseLog(Arc<Mutex<Vec<LeaseEvent>>>);

impl LeaseLog {
    /// Appends `event`.
    pub fn push(&self, event: LeaseEvent) {
        self.0.lock().unwrap().push(event);
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<LeaseEvent> {
        self.0.lock().unwrap().clone()
    }
}
