//! A watch client that multiplexes several watches on one gRPC stream, as
//! etcd's clients do for the watches of one context (and Kubernetes' API
//! server for its watch caches): the traffic of etcd #17529, where the
//! watches of one stream wait on each other when the stream is slow.
//!
//! It opens [`SHARED_WATCHES`] watches of the workload's keys from
//! revision 1 on one stream, so they start far behind and each write
//! reaches every one of them. A watch that compaction cancels is created
//! again on the same stream from the compacted revision it was told of (a
//! cache relisting at the compaction), so a compacted watcher is common on
//! a stream that is behind. When the stream ends or goes silent, the
//! watches go on from where they were (the revision after the last event
//! each got) on a stream to the next member, as the client's watches do.
//!
//! Each watch logs into a log of its own for the watch check, numbered
//! from `SHARED_LOGS + 1000 * client` on, and a new one each time it
//! watches again from a compaction.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use etcd_sim::client::Client;
use etcd_sim::proto::etcdserverpb::watch_request::RequestUnion;
use etcd_sim::proto::etcdserverpb::{WatchCreateRequest, WatchProgressRequest, WatchRequest};
use etcd_sim::server::watch::PROGRESS_WATCH_ID;
use etcd_sim_checker::watch::Delivery;
use madsim::rand::{thread_rng, Rng};
use tokio::sync::{mpsc, oneshot};

use crate::actors::watch_log::{delivery, new_log, push_log, WatchLogs};
use crate::actors::workload::KEY_PREFIX;

/// How many watches the stream carries.
pub const SHARED_WATCHES: i64 = 16;

/// The first log number of watcher client 0's shared stream.
pub const SHARED_LOGS: u32 = 5000;

/// A stream that sends nothing for this long is deemed lost (its member
/// down or cut off), as the client's liveness probe would.
const SILENCE: Duration = Duration::from_secs(3);

/// One watch of the stream.
struct Watch {
    /// The first revision it has not been sent.
    next: i64,
    /// Its log.
    slot: usize,
    /// Whether its `created` response has arrived: a progress notification
    /// that came before it was computed without it.
    created: bool,
}

/// Watcher client `client`'s shared stream, first on member `member`,
/// until `stop` fires.
pub async fn run_shared_stream(
    client: Arc<Client>,
    client_id: u32,
    member: usize,
    logs: WatchLogs,
    mut stop: oneshot::Receiver<()>,
) {
    let delay = thread_rng().gen_range(500..5000);
    tokio::select! {
        biased;
        _ = &mut stop => return,
        () = tokio::time::sleep(Duration::from_millis(delay)) => {}
    }
    let mut numbers = (SHARED_LOGS + 1000 * client_id)..;
    let mut watches: BTreeMap<i64, Watch> = (0..SHARED_WATCHES)
        .map(|id| {
            let number = numbers.next().expect("log numbers last");
            let watch = Watch {
                next: 1,
                slot: new_log(&logs, number, 1),
                created: false,
            };
            (id, watch)
        })
        .collect();
    let mut member = member;
    loop {
        client.prefer_endpoint(member);
        member += 1;
        for w in watches.values_mut() {
            w.created = false;
        }
        if stream(&client, &mut watches, &logs, &mut numbers, &mut stop).await == Ended::Stopped {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How one stream ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The run is over.
    Stopped,
    /// The stream broke or went silent: the watches go on, each in its
    /// log, from where they were on the next stream.
    Lost,
}

/// Runs `watches` on one stream to the client's current member.
async fn stream(
    client: &Client,
    watches: &mut BTreeMap<i64, Watch>,
    logs: &WatchLogs,
    numbers: &mut std::ops::RangeFrom<u32>,
    stop: &mut oneshot::Receiver<()>,
) -> Ended {
    let Ok(mut service) = client.watch_service().await else {
        return Ended::Lost;
    };
    let (requests, requests_rx) = mpsc::unbounded_channel();
    let create = |id: i64, start: i64| WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: KEY_PREFIX.into(),
            range_end: etcd_sim::client::prefix_end(KEY_PREFIX.as_bytes()),
            start_revision: start,
            watch_id: id,
            ..Default::default()
        })),
    };
    for (&id, w) in watches.iter() {
        let _ = requests.send(create(id, w.next));
    }
    let outbound = futures::stream::unfold(requests_rx, |mut rx| async move {
        rx.recv().await.map(|request| (request, rx))
    });
    let Ok(response) = service.watch(outbound).await else {
        return Ended::Lost;
    };
    let mut inbound = response.into_inner();
    let mut ask = tokio::time::interval(Duration::from_millis(thread_rng().gen_range(300..900)));
    loop {
        tokio::select! {
            biased;
            _ = &mut *stop => return Ended::Stopped,
            message = tokio::time::timeout(SILENCE, inbound.message()) => {
                let Ok(Ok(Some(response))) = message else {
                    return Ended::Lost;
                };
                if response.created && !response.canceled {
                    if let Some(w) = watches.get_mut(&response.watch_id) {
                        w.created = true;
                    }
                }
                let Some(delivered) = delivery(&response) else {
                    continue;
                };
                let mut logs = logs.lock().unwrap();
                if response.watch_id == PROGRESS_WATCH_ID {
                    // Progress concerns every watch the stream had then.
                    for w in watches.values().filter(|w| w.created) {
                        logs[w.slot].deliveries.push(delivered.clone());
                    }
                    continue;
                }
                let Some(w) = watches.get_mut(&response.watch_id) else {
                    continue;
                };
                if let Some(last) = response.events.last().and_then(|e| e.kv.as_ref()) {
                    w.next = last.mod_revision + 1;
                }
                logs[w.slot].deliveries.push(delivered.clone());
                if let Delivery::Compacted(at) = delivered {
                    if at < w.next || at <= 0 {
                        // Not a compaction it can go on from.
                        watches.remove(&response.watch_id);
                        continue;
                    }
                    // Watch again from the compaction, on this stream.
                    let number = numbers.next().expect("log numbers last");
                    w.next = at;
                    w.created = false;
                    w.slot = push_log(&mut logs, number, at);
                    let _ = requests.send(create(response.watch_id, at));
                }
            }
            _ = ask.tick() => {
                let progress = RequestUnion::ProgressRequest(WatchProgressRequest {});
                let _ = requests.send(WatchRequest { request_union: Some(progress) });
            }
        }
    }
}
