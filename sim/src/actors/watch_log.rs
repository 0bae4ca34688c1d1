//! The watch logs every watching actor writes into, and the one way they
//! fill them in: the watchers' own watches ([`crate::actors::watchers`]), their
//! shared streams ([`crate::actors::shared_stream`]) and recent watches
//! ([`crate::actors::recent_watches`]), the Kubernetes clients' informers
//! ([`crate::actors::kubernetes`]); the liveness probe reads them. A leaf of the
//! actors: it imports none of them, so they need not import each other.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_sim::client::WatchStream;
use etcd_sim::proto::etcdserverpb::WatchResponse;
use etcd_sim::proto::mvccpb::event::EventType;
use etcd_sim_checker::watch::{Delivery, EventKind, WatchEvent, WatcherLog};
use madsim::rand::{thread_rng, Rng};
use tokio::sync::oneshot;

use crate::actors::workload::KEY_PREFIX;

/// The logs of a run's watchers, filled in as they go.
pub type WatchLogs = Arc<Mutex<Vec<WatcherLog>>>;

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
                create_revision: kv.create_revision,
                version: kv.version,
            }
        })
        .collect();
    Some(Delivery::Events(events))
}
