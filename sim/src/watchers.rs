//! Watcher clients: they watch the workload's keys through the client's
//! resuming watch for the whole run, under every fault, and log what they
//! receive for the watch check (`etcd_sim_checker::watch`).
//!
//! Watcher 0 watches from revision 1, so it replays the whole history;
//! watcher 1 starts from "now" at a random moment of the run. Both ask for
//! progress now and then, so that the bookmark rule has notifications to
//! judge besides the client's own liveness probes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_sim::bugs::BugSet;
use etcd_sim::client::{Client, WatchOptions};
use etcd_sim::proto::etcdserverpb::WatchResponse;
use etcd_sim::proto::mvccpb::event::EventType;
use etcd_sim_checker::watch::{Delivery, EventKind, WatchEvent, WatcherLog};
use madsim::rand::{thread_rng, Rng};
use tokio::sync::oneshot;

use crate::workload::KEY_PREFIX;

/// The logs of a run's watchers, filled in as they go.
pub type WatchLogs = Arc<Mutex<Vec<WatcherLog>>>;

/// How many watchers a run starts by default.
pub const WATCHERS: u32 = 2;

/// Runs watcher `id` until `stop` fires (or its sender is dropped),
/// appending to its log in `logs` as responses arrive. (A oneshot per
/// watcher, not one watch channel for all: tokio's watch channel wakes its
/// waiters in an order madsim does not control.)
pub async fn run_watcher(
    id: u32,
    endpoints: Vec<String>,
    bugs: BugSet,
    logs: WatchLogs,
    mut stop: oneshot::Receiver<()>,
) {
    let client = Client::new(&endpoints, Duration::from_secs(1))
        .expect("valid endpoints")
        .with_bugs(bugs);
    client.prefer_endpoint(thread_rng().gen_range(0..endpoints.len()));
    let start = if id == 0 {
        1
    } else {
        let delay = thread_rng().gen_range(500..4000);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        0
    };
    let slot = {
        let mut logs = logs.lock().unwrap();
        logs.push(WatcherLog {
            watcher: id,
            prefix: KEY_PREFIX.to_string(),
            start_revision: start,
            deliveries: Vec::new(),
        });
        logs.len() - 1
    };
    let options = WatchOptions::new().prefix().from_revision(start);
    let mut stream = client.watch(KEY_PREFIX, options);
    let mut ask = tokio::time::interval(Duration::from_millis(thread_rng().gen_range(300..900)));
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return,
            response = stream.next() => {
                let Some(response) = response else { return };
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
fn delivery(response: &WatchResponse) -> Option<Delivery> {
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
