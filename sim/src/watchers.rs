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
//! on it, first on yet another member (see [`crate::shared_stream`]), and
//! short watches from a recent revision, one after another, on members at
//! random (see [`crate::recent_watches`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_sim::client::{Client, WatchOptions, WatchStream};
use etcd_sim::proto::etcdserverpb::WatchResponse;
use etcd_sim::proto::mvccpb::event::EventType;
use etcd_sim_checker::watch::{Delivery, EventKind, WatchEvent, WatcherLog};
use madsim::rand::{thread_rng, Rng};
use tokio::sync::oneshot;

use crate::client_context::ClientContext;
use crate::recent_watches::run_recent_watches;
use crate::shared_stream::run_shared_stream;
use crate::workload::KEY_PREFIX;

/// The logs of a run's watchers, filled in as they go.
pub type WatchLogs = Arc<Mutex<Vec<WatcherLog>>>;

/// How many watchers a run starts by default.
pub const WATCHERS: u32 = 2;

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

/// What a Kubernetes client needs to run its informer's watch: where to
/// log it, and the signal that the run is over.
pub struct Informer {
    /// The run's watch logs.
    pub logs: WatchLogs,
    /// Fires when the run is over.
    pub stop: oneshot::Receiver<()>,
}

impl Informer {
    /// Watches every workload key from `start` with progress notifications,
    /// as a Kubernetes informer does after its list at revision `start - 1`,
    /// into watch log `watcher` until the run is over; the watch check
    /// judges it like any other (a compaction that overtook the list
    /// cancels it).
    pub fn watch(self, client: &Client, watcher: u32, start: i64) -> tokio::task::JoinHandle<()> {
        let Informer { logs, mut stop } = self;
        let slot = new_log(&logs, watcher, start);
        let options = WatchOptions::new()
            .prefix()
            .from_revision(start)
            .progress_notify();
        let stream = client.watch(KEY_PREFIX, options);
        tokio::spawn(async move {
            follow(stream, &logs, slot, &mut stop).await;
        })
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

/// The newest revision `log` has been told of, by an event or a progress
/// notification.
pub(crate) fn told(log: &WatcherLog) -> i64 {
    log.deliveries
        .iter()
        .map(|d| match d {
            Delivery::Events(events) => events.iter().map(|e| e.revision).max().unwrap_or(0),
            Delivery::Progress(at) => *at,
            Delivery::Compacted(_) => 0,
        })
        .max()
        .unwrap_or(0)
}

/// Adds the log of watcher `watcher`, asking from `start` (0: from now, to
/// be filled in by its `created` response); returns its slot.
pub(crate) fn new_log(logs: &WatchLogs, watcher: u32, start: i64) -> usize {
    push_log(&mut logs.lock().unwrap(), watcher, start)
}

/// [`new_log`] with the logs already locked.
pub(crate) fn push_log(logs: &mut Vec<WatcherLog>, watcher: u32, start: i64) -> usize {
    logs.push(WatcherLog {
        watcher,
        prefix: KEY_PREFIX.to_string(),
        start_revision: start,
        deliveries: Vec::new(),
        closed: false,
    });
    logs.len() - 1
}

/// How [`follow`] ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Followed {
    /// `stop` fired (or its sender was dropped).
    Stopped,
    /// The watch ended by itself.
    Ended,
}

/// Logs what `stream` delivers into `logs[slot]` until `stop` fires (or
/// its sender is dropped) or the watch ends, asking for progress now and
/// then.
pub(crate) async fn follow(
    mut stream: WatchStream,
    logs: &WatchLogs,
    slot: usize,
    stop: &mut oneshot::Receiver<()>,
) -> Followed {
    let mut ask = tokio::time::interval(Duration::from_millis(thread_rng().gen_range(300..900)));
    loop {
        tokio::select! {
            biased;
            _ = &mut *stop => return Followed::Stopped,
            response = stream.next() => {
                let Some(response) = response else { return Followed::Ended };
                let mut logs = logs.lock().unwrap();
                let log = &mut logs[slot];
                if response.created && log.start_revision == 0 {
                    log.start_revision = response.header.as_ref().map_or(0, |h| h.revision) + 1;
                }
                log.deliveries.extend(delivery(&response));
            }
            _ = ask.tick() => stream.request_progress(),
        }
    }
}

/// What the check needs of a response; `None` for a `created` response.
pub(crate) fn delivery(response: &WatchResponse) -> Option<Delivery> {
    if response.canceled {
        return Some(Delivery::Compacted(response.compact_revision));
    }
    if response.created {
        return None;
    }
    if response.events.is_empty() {
        let revision = response.header.as_ref().map_or(0, |h| h.revision);
        return Some(Delivery::Progress(revision));
    }
    let events = response
        .events
        .iter()
        .map(|e| {
            let kv = e.kv.clone().unwrap_or_default();
            let kind = match EventType::try_from(e.r#type) {
                Ok(EventType::Delete) => EventKind::Delete,
                _ => EventKind::Put,
            };
            WatchEvent {
                revision: kv.mod_revision,
                key: String::from_utf8_lossy(&kv.key).into_owned(),
                kind,
                value: String::from_utf8_lossy(&kv.value).into_owned(),
            }
        })
        .collect();
    Some(Delivery::Events(events))
}
