//! Watcher clients: they watch the workload's keys through the client's
//! resuming watch for the whole run, under every fault, and log what they
//! receive for the watch check (`etcd_sim_checker::watch`).
//!
//! Watcher 0 watches from revision 1, so it replays the whole history;
//! watcher 1 starts from "now" at a random moment of the run. Both ask for
//! progress now and then, so that the bookmark rule has notifications to
//! judge besides the client's own liveness probes.
//!
//! Each watcher client also opens, at random moments, [`EXTRA_WATCHES`]
//! more watches, each first on another member:
//!
//! - one on a future revision (a few to a few dozen revisions beyond the
//!   newest it has been told of): it sits waiting across faults and
//!   snapshot restores, then turns into an ordinary watch when the cluster
//!   gets there;
//! - the others from revision 1: once compaction cancels one, it watches
//!   again from the compacted revision it was told of (as a cache that
//!   relists at the compaction does), so the compacted revision's own
//!   events are judged too. They start at moments spread over the run,
//!   each first on another member, so that a member's compacted revision
//!   is read again after its restarts and snapshot restores.
//!
//! Their logs are numbered `id + 10 * (k + 1)` for the `k`-th, plus 100
//! for each watch again after a compaction.
//!
//! And each watcher client runs a stream of its own with several watches
//! on it, first on yet another member (see [`crate::actors::shared_stream`]), and
//! short watches from a recent revision, one after another, on members at
//! random (see [`crate::actors::recent_watches`]).

use std::sync::Arc;
use std::time::Duration;

use etcd_sim::client::{Client, WatchOptions};
use etcd_sim_checker::watch::Delivery;
use futures::future::BoxFuture;
use madsim::rand::{thread_rng, Rng};
use madsim::task::JoinHandle;
use tokio::sync::oneshot;

use crate::actors::context::ClientContext;
use crate::actors::recent_watches::run_recent_watches;
use crate::actors::shared_stream::run_shared_stream;
use crate::actors::watch_log::{follow, new_log, told, Followed, WatchLogs};
use crate::actors::workload::KEY_PREFIX;
use crate::actors::{Actor, ActorContext, Running};
use crate::cluster::addresses::Node;

/// How many watchers a run starts by default.
pub const WATCHERS: u32 = 2;

/// The run's watcher clients.
pub struct Watchers {
    /// How many.
    pub count: u32,
}

impl Actor for Watchers {
    fn start(self: Box<Self>, ctx: &ActorContext) -> Box<dyn Running> {
        let watchers = (0..self.count)
            .map(|w| {
                let (stop, stopped) = oneshot::channel();
                let watcher = run_watcher(ctx.client.with_id(w), ctx.logs.watches.clone(), stopped);
                (stop, ctx.spawn(Node::Watcher(w), watcher))
            })
            .collect();
        Box::new(RunningWatchers(watchers))
    }
}

/// The watchers, running: each one's stop and task. They watch until the
/// run stops them.
struct RunningWatchers(Vec<(oneshot::Sender<()>, JoinHandle<()>)>);

impl Running for RunningWatchers {
    /// Stops the watchers one by one, each ended before the next is told.
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            for (stop, task) in self.0 {
                let _ = stop.send(());
                task.await.expect("watcher panicked");
            }
        })
    }
}

/// Runs watcher `ctx.id` (and its extra watches) until `stop` fires (or its
/// sender is dropped), appending to their logs in `logs` as responses
/// arrive. (A oneshot per watch, not one watch channel for all: tokio's
/// watch channel wakes its waiters in an order madsim does not control.)
pub async fn run_watcher(ctx: ClientContext, logs: WatchLogs, stop: oneshot::Receiver<()>) {
    let id = ctx.id;
    let client = Arc::new(ctx.client());
    let first_member = thread_rng().gen_range(0..ctx.endpoints.len());
    client.prefer_endpoint(first_member);
    let extras: Vec<_> = (0..EXTRA_WATCHES)
        .map(|k| {
            let (stop, stopped) = oneshot::channel();
            let watch = ExtraWatch {
                kind: if k == 0 {
                    ExtraKind::Future
                } else {
                    ExtraKind::FromCompaction
                },
                watcher: id + 10 * (k + 1),
                order: k,
                client: client.clone(),
                member: first_member + 1 + k as usize,
                follows: id,
                logs: logs.clone(),
            };
            (stop, tokio::spawn(watch.run(stopped)))
        })
        .collect();
    let (shared_stop, shared_stopped) = oneshot::channel();
    let shared = tokio::spawn(run_shared_stream(
        client.clone(),
        id,
        first_member + 1 + EXTRA_WATCHES as usize,
        logs.clone(),
        shared_stopped,
    ));
    let (recent_stop, recent_stopped) = oneshot::channel();
    let recent = tokio::spawn(run_recent_watches(
        client.clone(),
        id,
        ctx.endpoints.len(),
        logs.clone(),
        recent_stopped,
    ));
    let start = if id == 0 {
        1
    } else {
        let delay = thread_rng().gen_range(500..4000);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        0
    };
    let slot = new_log(&logs, id, start);
    let options = WatchOptions::new().prefix().from_revision(start);
    let mut stop = stop;
    if follow(client.watch(KEY_PREFIX, options), &logs, slot, &mut stop).await == Followed::Ended {
        // The extra watches go on until the run ends.
        let _ = stop.await;
    }
    let _ = shared_stop.send(());
    shared.await.expect("shared stream panicked");
    let _ = recent_stop.send(());
    recent.await.expect("recent watches panicked");
    for (stop, task) in extras {
        let _ = stop.send(());
        task.await.expect("extra watch panicked");
    }
}

/// How many watches each watcher client opens besides its own.
pub const EXTRA_WATCHES: u32 = 4;

/// What an extra watch watches.
#[derive(Debug, Clone, Copy)]
enum ExtraKind {
    /// From a future revision.
    Future,
    /// From revision 1, then from each compaction that cancels it.
    FromCompaction,
}

/// A watch a watcher client opens besides its own.
struct ExtraWatch {
    kind: ExtraKind,
    /// Which of the client's extra watches it is (0-based).
    order: u32,
    /// Its log's number.
    watcher: u32,
    client: Arc<Client>,
    /// The member it goes to first.
    member: usize,
    /// The watcher whose log says how far the cluster has got.
    follows: u32,
    logs: WatchLogs,
}

impl ExtraWatch {
    async fn run(self, mut stop: oneshot::Receiver<()>) {
        // The k-th starts within the first 5k seconds.
        let delay = thread_rng().gen_range(500..5000 * u64::from(self.order.max(1)));
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let mut start = match self.kind {
            ExtraKind::Future => {
                let told = {
                    let logs = self.logs.lock().unwrap();
                    logs.iter()
                        .filter(|log| log.watcher == self.follows)
                        .map(told)
                        .max()
                        .unwrap_or(1)
                };
                told.max(1) + thread_rng().gen_range(3..60)
            }
            ExtraKind::FromCompaction => 1,
        };
        let mut watcher = self.watcher;
        loop {
            let slot = new_log(&self.logs, watcher, start);
            self.client.prefer_endpoint(self.member);
            let options = WatchOptions::new().prefix().from_revision(start);
            let stream = self.client.watch(KEY_PREFIX, options);
            if follow(stream, &self.logs, slot, &mut stop).await == Followed::Stopped {
                return;
            }
            // The stream ended: compaction cancelled it (or its create
            // was refused); watch again from the compaction it named.
            let compacted =
                self.logs.lock().unwrap()[slot]
                    .deliveries
                    .iter()
                    .find_map(|d| match d {
                        Delivery::Compacted(at) => Some(*at),
                        _ => None,
                    });
            match (self.kind, compacted) {
                (ExtraKind::FromCompaction, Some(at)) if at >= start => {
                    start = at;
                    watcher += 100;
                }
                _ => return,
            }
        }
    }
}
