//! The KV clients: client `c` drives Kubernetes traffic ([`kubernetes`])
//! if the workload's traffic says so, and etcd traffic ([`workload`])
//! otherwise. A Kubernetes client's informer watches on after the client's
//! turns until the run stops it.

use futures::future::BoxFuture;
use madsim::task::JoinHandle;
use tokio::sync::oneshot;

use crate::actors::context::ClientContext;
use crate::actors::kubernetes::{self, Informer};
use crate::actors::workload::{self, Workload};
use crate::actors::{Actor, ActorContext, Running};
use crate::cluster::addresses::Node;

/// The run's KV clients.
pub struct KvClients {
    /// How many.
    pub count: u32,
    /// The load each applies.
    pub workload: Workload,
}

impl Actor for KvClients {
    fn start(self: Box<Self>, ctx: &ActorContext) -> Box<dyn Running> {
        let mut informers_stop = Vec::new();
        let clients = (0..self.count)
            .map(|c| {
                let (stop, stopped) = oneshot::channel();
                informers_stop.push(stop);
                let informer = Informer {
                    logs: ctx.logs.watches.clone(),
                    stop: stopped,
                };
                let client = run_kv_client(ctx.client.with_id(c), self.workload.clone(), informer);
                ctx.spawn(Node::KvClient(c), client)
            })
            .collect();
        Box::new(RunningKvClients {
            clients,
            informers_stop,
            informers: Vec::new(),
        })
    }
}

/// The KV clients, running.
struct RunningKvClients {
    /// Each ends with its informer's watch, if it has one.
    clients: Vec<JoinHandle<Option<JoinHandle<()>>>>,
    /// Stops the Kubernetes clients' informers.
    informers_stop: Vec<oneshot::Sender<()>>,
    /// The informers' watches, once their clients have ended.
    informers: Vec<JoinHandle<()>>,
}

impl Running for RunningKvClients {
    fn finished(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for client in self.clients.drain(..) {
                let informer = client.await.expect("client task panicked");
                self.informers.extend(informer);
            }
        })
    }

    /// Stops every informer, then waits for their watches to end.
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            for stop in self.informers_stop {
                let _ = stop.send(());
            }
            for informer in self.informers {
                informer.await.expect("informer watch panicked");
            }
        })
    }
}

/// Runs KV client `ctx.id`: Kubernetes-style if the workload's traffic
/// says so (its informer then watches on after the client's turns, in the
/// task returned, until the run is over), etcd-style otherwise.
async fn run_kv_client(
    ctx: ClientContext,
    workload: Workload,
    informer: Informer,
) -> Option<JoinHandle<()>> {
    if workload.traffic.kubernetes(ctx.id) {
        kubernetes::run_client(ctx, workload, informer).await
    } else {
        workload::run_client(ctx, workload).await;
        None
    }
}
