//! What every client actor of a run shares.
//!
//! A run has three kinds of client actor: KV clients (etcd traffic in
//! `workload`, Kubernetes traffic in `kubernetes`, and the final reader),
//! watchers (`watchers`) and lease clients (`lease_clients`). Each is a
//! number, the members to talk to, the client bugs its client carries, the
//! recorder it records into and the run's clock; what differs (the load,
//! the logs) goes beside this. A leaf: the actors import it, it imports
//! none of them.

use std::time::Duration;

use etcd_sim::bugs::BugSet;
use etcd_sim::client::Client;

use crate::cluster::clock::Clock;
use crate::record::recorder::Recorder;

/// How long an actor's client waits for a connection to a member.
const DIAL_TIMEOUT: Duration = Duration::from_secs(1);

/// How often an actor's client syncs its endpoints with the member list,
/// as a clientv3 client with `AutoSyncInterval` set does: a member
/// replaced, or left out when it could not be added back, drops out of the
/// clients' lists and comes back once it serves again.
pub const AUTO_SYNC_INTERVAL: Duration = Duration::from_secs(5);

/// One client actor's place in a run.
#[derive(Clone)]
pub struct ClientContext {
    /// The actor's number among its kind: its client id in the history, its
    /// keys, its log, its line in the trace.
    pub id: u32,
    /// The members' client URLs.
    pub endpoints: Vec<String>,
    /// The client bugs (`non-idempotent-retry`, the watch bugs) its client
    /// carries: none for the actors whose checks judge the server alone.
    pub bugs: BugSet,
    /// Where its operations and notes go.
    pub recorder: Recorder,
    /// The run's simulated time.
    pub clock: Clock,
}

impl ClientContext {
    /// The same context for actor `id`.
    pub fn with_id(&self, id: u32) -> Self {
        Self { id, ..self.clone() }
    }

    /// The same context with no client bug.
    pub fn without_bugs(&self) -> Self {
        Self {
            bugs: BugSet::NONE,
            ..self.clone()
        }
    }

    /// A client for every member, with the context's bugs, syncing its
    /// endpoints every [`AUTO_SYNC_INTERVAL`] from a task on the calling
    /// node until it is dropped (a failed sync keeps the endpoints). Its
    /// syncs are not operations of the history: they change only which
    /// member answers.
    pub fn client(&self) -> Client {
        Client::new(&self.endpoints, DIAL_TIMEOUT)
            .expect("valid endpoints")
            .with_bugs(self.bugs)
            .with_auto_sync(AUTO_SYNC_INTERVAL)
    }
}
