//! The run's client actors, one kind a file: KV clients ([`kv_clients`]:
//! etcd traffic in [`workload`], Kubernetes traffic and its informer in
//! [`kubernetes`]), watchers ([`watchers`], each with its shared stream
//! ([`shared_stream`]) and its recent watches ([`recent_watches`]), all
//! logging through [`watch_log`]) and lease clients ([`lease_clients`],
//! logging through [`lease_log`]).
//!
//! Every kind is an [`Actor`]: started with an [`ActorContext`] (the
//! client's place in the run, the addresses of its nodes, the logs it
//! writes), it puts its clients on nodes of their own and hands back a
//! [`Running`] handle. The run starts its actors as a list
//! ([`RunningActors::start`]); the chaos phase lasts until every actor's
//! own work has ended ([`RunningActors::finished`], in the list's order);
//! once the final reads are done, the run stops them in the reverse order
//! ([`RunningActors::stop`]), as a stack unwinds. A new kind of client is a
//! file here and a line in the list (`campaign::run`).
//!
//! The order is part of a seed's run: madsim's schedule follows the order
//! of every node created, every task spawned and every task awaited, so
//! the list's order, and each kind's order within it, is fixed.
//!
//! What an actor logs goes into the run's [`ActorLogs`] as it goes, not at
//! its stop: a seed that panics keeps what was logged until the panic, the
//! liveness probe reads the watch logs while the watchers still run, and
//! the informers' and the watchers' logs interleave in one list as their
//! watches began.

pub mod context;
pub mod kubernetes;
pub mod kv_clients;
pub mod lease_clients;
pub mod lease_log;
pub mod recent_watches;
pub mod shared_stream;
pub mod watch_log;
pub mod watchers;
pub mod workload;

use std::future::Future;

use futures::future::BoxFuture;
use madsim::task::JoinHandle;

use crate::actors::context::ClientContext;
use crate::actors::lease_log::LeaseLog;
use crate::actors::watch_log::WatchLogs;
use crate::cluster::addresses::{AddressPlan, Node};

/// A kind of client actor of a run.
pub trait Actor {
    /// Starts the actor's clients, each on a node of its own
    /// ([`ActorContext::spawn`]), in the order of their numbers.
    fn start(self: Box<Self>, ctx: &ActorContext) -> Box<dyn Running>;
}

/// An actor's clients, running.
pub trait Running: Send {
    /// Waits until the work that ends by itself has ended (the KV and
    /// lease clients' turns); the chaos phase lasts until it has, for every
    /// actor. By default there is none.
    fn finished(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Stops what goes on until the run is over (the watches), and waits
    /// until it has ended. By default there is none.
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// What every actor of a run is started with.
pub struct ActorContext {
    /// Every client's place in the run but for its number: the members,
    /// the client bugs, the recorder and the clock.
    pub client: ClientContext,
    /// Where the run's nodes sit.
    pub addresses: AddressPlan,
    /// The logs the actors fill in besides the recorder.
    pub logs: ActorLogs,
}

impl ActorContext {
    /// Creates `node` and spawns `task` on it.
    pub fn spawn<F>(&self, node: Node, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.addresses.create(node).spawn(task)
    }
}

/// The logs of a run's actors, beside the recorder's history: the watch
/// check judges the first, the lease check the second. Clones share them.
#[derive(Clone, Default)]
pub struct ActorLogs {
    /// What the watchers' and the informers' watches received.
    pub watches: WatchLogs,
    /// What the lease clients saw acknowledged.
    pub leases: LeaseLog,
}

/// A run's actors, running, in the order they started.
pub struct RunningActors(Vec<Box<dyn Running>>);

impl RunningActors {
    /// Starts `actors`, in order.
    pub fn start(actors: Vec<Box<dyn Actor>>, ctx: &ActorContext) -> Self {
        Self(actors.into_iter().map(|a| a.start(ctx)).collect())
    }

    /// Waits, actor by actor in the order they started, until the work
    /// that ends by itself has ended.
    pub async fn finished(&mut self) {
        for actor in &mut self.0 {
            actor.finished().await;
        }
    }

    /// Stops the actors in the reverse order of their start.
    pub async fn stop(self) {
        for actor in self.0.into_iter().rev() {
            actor.stop().await;
        }
    }
}
