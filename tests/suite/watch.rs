//! Watches on a simulated cluster: create, events, filters, prev_kv,
//! history, cancel, compaction, progress, and resuming on another member
//! when the watched one dies (etcd 3.4's Watch API, clientv3's watcher).
#![cfg(madsim)]

use std::sync::Arc;
use std::time::Duration;

use etcd_sim::bugs::{Bug, BugSet};
use etcd_sim::client::{Client, Op, Txn, TxnOp, WatchOptions, WatchStream};
use etcd_sim::perturb::{Perturbation, Perturbations};
use etcd_sim::proto::etcdserverpb::WatchResponse;
use etcd_sim::proto::mvccpb::event::EventType;
use etcd_sim::server::config::ServerConfig;
use etcd_sim_harness::cluster::{operator_node, SimCluster};

/// Runs `test` on a client node against a fresh 3-member cluster.
async fn on_cluster<F, Fut>(test: F)
where
    F: FnOnce(Arc<SimCluster>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    on_cluster_with(|_| {}, test).await
}

/// Runs `test` on a client node against a fresh 3-member cluster whose
/// members `configure` sets up.
async fn on_cluster_with<F, Fut>(configure: impl Fn(&mut ServerConfig), test: F) -> Fut::Output
where
    F: FnOnce(Arc<SimCluster>) -> Fut + Send + 'static,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let cluster = Arc::new(SimCluster::start(3, configure));
    let node = operator_node();
    let c = cluster.clone();
    node.spawn(async move {
        c.settle().await;
        test(c).await
    })
    .await
    .unwrap()
}

/// The next response within 5 s.
async fn next(watch: &mut WatchStream) -> WatchResponse {
    tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("a response within 5 s")
        .expect("the watch is still open")
}

/// The next response that carries events.
async fn next_events(watch: &mut WatchStream) -> WatchResponse {
    loop {
        let response = next(watch).await;
        if !response.events.is_empty() || response.canceled {
            return response;
        }
    }
}

/// `(type, key, value, mod_revision)` of each event.
fn summary(response: &WatchResponse) -> Vec<(EventType, String, String, i64)> {
    response
        .events
        .iter()
        .map(|e| {
            let kv = e.kv.as_ref().unwrap();
            (
                EventType::try_from(e.r#type).unwrap(),
                String::from_utf8_lossy(&kv.key).into_owned(),
                String::from_utf8_lossy(&kv.value).into_owned(),
                kv.mod_revision,
            )
        })
        .collect()
}

fn ev(kind: EventType, key: &str, value: &str, rev: i64) -> (EventType, String, String, i64) {
    (kind, key.into(), value.into(), rev)
}

fn revision(header: Option<etcd_sim::proto::etcdserverpb::ResponseHeader>) -> i64 {
    header.unwrap().revision
}

#[madsim::test]
async fn a_watch_sees_puts_and_deletes_of_its_key_then_stops_when_cancelled() {
    on_cluster(|c| async move {
        let client = Client::new(c.endpoints(), Duration::from_secs(1)).unwrap();
        let mut watch = client.watch("a", WatchOptions::new());
        let created = next(&mut watch).await;
        assert!(created.created && !created.canceled);
        let put = revision(client.put("a", "1").await.unwrap().header);
        client.put("b", "other key").await.unwrap();
        let deleted = revision(client.delete("a").await.unwrap().header);
        assert_eq!(
            summary(&next_events(&mut watch).await),
            vec![ev(EventType::Put, "a", "1", put)]
        );
        assert_eq!(
            summary(&next_events(&mut watch).await),
            vec![ev(EventType::Delete, "a", "", deleted)]
        );
        watch.cancel();
        assert!(next_events(&mut watch).await.canceled);
        assert!(watch.next().await.is_none());
    })
    .await;
}

#[madsim::test]
async fn prefix_history_filters_and_prev_kv() {
    on_cluster(|c| async move {
        let client = Client::new(c.endpoints(), Duration::from_secs(1)).unwrap();
        let first = revision(client.put("p/1", "a").await.unwrap().header);
        client.put("q", "outside").await.unwrap();
        let second = revision(client.put("p/1", "b").await.unwrap().header);
        let gone = revision(client.delete("p/1").await.unwrap().header);

        let mut all = client.watch("p/", WatchOptions::new().prefix().from_revision(first));
        next(&mut all).await;
        assert_eq!(
            summary(&next_events(&mut all).await),
            vec![
                ev(EventType::Put, "p/1", "a", first),
                ev(EventType::Put, "p/1", "b", second),
                ev(EventType::Delete, "p/1", "", gone),
            ]
        );

        let options = WatchOptions::new()
            .prefix()
            .from_revision(first)
            .no_delete()
            .prev_kv();
        let mut puts = client.watch("p/", options);
        next(&mut puts).await;
        let got = next_events(&mut puts).await;
        assert_eq!(
            summary(&got),
            vec![
                ev(EventType::Put, "p/1", "a", first),
                ev(EventType::Put, "p/1", "b", second)
            ]
        );
        assert_eq!(got.events[0].prev_kv, None);
        assert_eq!(got.events[1].prev_kv.as_ref().unwrap().value, b"a");

        let mut deletes =
            client.watch("p/", WatchOptions::new().prefix().from_revision(1).no_put());
        next(&mut deletes).await;
        let got = summary(&next_events(&mut deletes).await);
        assert_eq!(got, vec![ev(EventType::Delete, "p/1", "", gone)]);
    })
    .await;
}

#[madsim::test]
async fn a_txn_arrives_in_one_response() {
    on_cluster(|c| async move {
        let client = Client::new(c.endpoints(), Duration::from_secs(1)).unwrap();
        let mut watch = client.watch("t", WatchOptions::new().prefix());
        next(&mut watch).await;
        let txn = Txn::new().and_then([TxnOp::put("t1", "x"), TxnOp::put("t2", "y")]);
        let rev = revision(client.txn(txn).await.unwrap().header);
        let got = next_events(&mut watch).await;
        assert_eq!(
            summary(&got),
            vec![
                ev(EventType::Put, "t1", "x", rev),
                ev(EventType::Put, "t2", "y", rev)
            ]
        );
    })
    .await;
}

#[madsim::test]
async fn a_watch_from_a_compacted_revision_is_created_then_cancelled() {
    on_cluster(|c| async move {
        let client = Client::new(c.endpoints(), Duration::from_secs(1)).unwrap();
        let old = revision(client.put("c", "1").await.unwrap().header);
        let newer = revision(client.put("c", "2").await.unwrap().header);
        client.compact(newer, true).await.unwrap();
        let mut watch = client.watch("c", WatchOptions::new().from_revision(old));
        let created = next(&mut watch).await;
        assert!(created.created && !created.canceled);
        let cancelled = next(&mut watch).await;
        assert!(cancelled.canceled && cancelled.events.is_empty());
        assert_eq!(cancelled.compact_revision, newer);
        assert!(watch.next().await.is_none());
    })
    .await;
}

#[madsim::test]
async fn a_watch_from_the_compaction_revision_is_served_with_its_delete() {
    // As etcd 3.4 serves a watcher at the compaction revision, and as its
    // fix of #18089 keeps the delete made there.
    on_cluster(|c| async move {
        let client = Client::new(c.endpoints(), Duration::from_secs(1)).unwrap();
        client.put("d", "1").await.unwrap();
        let deleted = revision(client.delete("d").await.unwrap().header);
        client.compact(deleted, true).await.unwrap();
        let mut watch = client.watch("d", WatchOptions::new().from_revision(deleted));
        let created = next(&mut watch).await;
        assert!(created.created && !created.canceled);
        let events = next_events(&mut watch).await;
        assert!(!events.canceled);
        let event = &events.events[..];
        assert_eq!(event.len(), 1, "{events:?}");
        assert_eq!(event[0].r#type, EventType::Delete as i32);
        assert_eq!(event[0].kv.as_ref().unwrap().mod_revision, deleted);
    })
    .await;
}

/// Many gRPC clients close their sending side once they have asked for
/// everything; etcd goes on serving the stream's watchers.
#[madsim::test]
async fn a_watch_whose_client_half_closed_still_gets_its_events() {
    use etcd_sim::proto::etcdserverpb::watch_client::WatchClient;
    use etcd_sim::proto::etcdserverpb::watch_request::RequestUnion;
    use etcd_sim::proto::etcdserverpb::{WatchCreateRequest, WatchRequest};

    on_cluster(|cluster| async move {
        let endpoint = cluster.endpoints().remove(0);
        let channel = tonic::transport::Endpoint::from_shared(endpoint)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let create = WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                key: b"h".to_vec(),
                ..Default::default()
            })),
        };
        // The request stream ends after the create: a half-close.
        let requests = futures::stream::iter([create]);
        let mut responses = WatchClient::new(channel)
            .watch(requests)
            .await
            .unwrap()
            .into_inner();
        let created = tokio::time::timeout(Duration::from_secs(5), responses.message())
            .await
            .expect("created in time")
            .unwrap()
            .unwrap();
        assert!(created.created);
        let client = Client::new(cluster.endpoints(), Duration::from_secs(1)).unwrap();
        client.put("h", "1").await.unwrap();
        let event = tokio::time::timeout(Duration::from_secs(5), responses.message())
            .await
            .expect("the event in time")
            .expect("no error")
            .expect("the stream is still open");
        assert_eq!(event.events.len(), 1);
        assert_eq!(event.events[0].kv.as_ref().unwrap().value, b"1");
    })
    .await;
}

#[madsim::test]
async fn a_progress_notification_never_runs_ahead_of_the_events() {
    on_cluster(|c| async move {
        let client = Client::new(c.endpoints(), Duration::from_secs(1)).unwrap();
        for i in 0..5 {
            client.put(format!("g{i}"), "v").await.unwrap();
        }
        let last = revision(client.put("g", "last").await.unwrap().header);
        let mut watch = client.watch("g", WatchOptions::new().prefix().from_revision(1));
        watch.request_progress();
        let mut seen = 0;
        loop {
            let response = next(&mut watch).await;
            if let Some(e) = response.events.last() {
                seen = e.kv.as_ref().unwrap().mod_revision;
            } else if !response.created {
                let at = revision(response.header);
                assert!(at <= seen, "progress at {at} before the event at {last}");
                assert!(at >= last);
                break;
            }
        }
    })
    .await;
}

/// How many events arrive at or below a progress notification that came
/// before them, on a stream whose member stalls before sending (the
/// `watch-stall` perturbation), while a writer puts and the watcher asks
/// for progress every 50 ms: its requests are read while events are
/// queued or being sent.
async fn events_behind_progress(bugs: BugSet) -> usize {
    let stalled = Perturbations::NONE.with(Perturbation::WatchStall);
    let configure = move |config: &mut ServerConfig| {
        config.perturbations = stalled;
        config.bugs = bugs;
    };
    on_cluster_with(configure, |c| async move {
        const PUTS: usize = 200;
        let client = Arc::new(Client::new(c.endpoints(), Duration::from_secs(1)).unwrap());
        let mut watch = client.watch("s/", WatchOptions::new().prefix());
        assert!(next(&mut watch).await.created);
        let writer = client.clone();
        let writer = tokio::spawn(async move {
            for i in 0..PUTS {
                writer.put(format!("s/{}", i % 5), "v").await.unwrap();
            }
        });
        let mut ask = tokio::time::interval(Duration::from_millis(50));
        let deadline = tokio::time::sleep(Duration::from_secs(60));
        tokio::pin!(deadline);
        let (mut progress, mut notifications, mut events, mut behind) = (0, 0, 0, 0);
        while events < PUTS {
            tokio::select! {
                biased;
                () = &mut deadline => panic!("{events} of {PUTS} events in 60 s"),
                response = next(&mut watch) => {
                    for e in &response.events {
                        events += 1;
                        if e.kv.as_ref().unwrap().mod_revision <= progress {
                            behind += 1;
                        }
                    }
                    if response.events.is_empty() {
                        notifications += 1;
                        progress = progress.max(revision(response.header));
                    }
                }
                _ = ask.tick() => watch.request_progress(),
            }
        }
        writer.await.unwrap();
        assert!(
            notifications > 10,
            "only {notifications} progress notifications"
        );
        behind
    })
    .await
}

#[madsim::test]
async fn a_progress_request_read_while_events_are_queued_is_answered_after_them() {
    assert_eq!(events_behind_progress(BugSet::NONE).await, 0);
}

#[madsim::test]
async fn etcd_15220_answers_a_progress_request_ahead_of_the_queued_events() {
    // The same stream with the bug: the answer overtakes what is queued.
    let behind = events_behind_progress(BugSet::NONE.with(Bug::Etcd15220)).await;
    assert!(
        behind > 0,
        "no event arrived behind a progress notification"
    );
}

#[madsim::test]
async fn idle_watchers_that_asked_get_periodic_progress() {
    on_cluster(|c| async move {
        let client = Client::new(c.endpoints(), Duration::from_secs(1)).unwrap();
        let rev = revision(client.put("i", "v").await.unwrap().header);
        let mut watch = client.watch("i", WatchOptions::new().progress_notify());
        next(&mut watch).await;
        // The default interval is etcd's 10 minutes of (simulated) time;
        // the client's own liveness probes arrive meanwhile, so look for
        // a notification addressed to this watcher (not to the stream).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(700);
        loop {
            let response =
                tokio::time::timeout(deadline - tokio::time::Instant::now(), watch.next())
                    .await
                    .expect("a periodic notification within 700 s")
                    .unwrap();
            if response.watch_id >= 0 && response.events.is_empty() {
                assert_eq!(revision(response.header), rev);
                break;
            }
        }
    })
    .await;
}

#[madsim::test]
async fn a_watch_resumes_on_another_member_and_misses_nothing() {
    on_cluster(|c| async move {
        let writer = Client::new(c.endpoints(), Duration::from_secs(1)).unwrap();
        let watcher = Client::new(c.endpoints(), Duration::from_secs(1)).unwrap();
        watcher.prefer_endpoint(0);
        let mut watch = watcher.watch("r", WatchOptions::new().prefix());
        next(&mut watch).await;
        let mut expected = Vec::new();
        for i in 0..10 {
            if i == 4 {
                c.kill(0);
            }
            let put = writer.put_op(Op::put(format!("r{i}"), "v")).await;
            if let Ok(put) = put {
                expected.push(revision(put.header));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let mut got = Vec::new();
        while got.len() < expected.len() {
            for e in next_events(&mut watch).await.events {
                got.push(e.kv.unwrap().mod_revision);
            }
        }
        assert_eq!(got, expected);
        c.restart(0);
    })
    .await;
}

/// The watch check over whole runs with every fault (kills, partitions,
/// crashes, snapshots): both watchers of each seed see every acknowledged
/// write in order, once, atomically, across their reconnects. CI runs 50
/// seeds; `etcd-sim run --seeds 0..500` runs more.
#[test]
fn watchers_miss_and_repeat_nothing_under_every_fault() {
    use etcd_sim_checker::watch::Delivery;
    use etcd_sim_harness::{run_seed, RunConfig};
    let mut events = 0;
    for seed in 0..50 {
        let outcome = run_seed(&RunConfig::new(seed));
        assert!(
            outcome.watch_violations.is_empty(),
            "seed {seed}: {:?}\nreproduce: etcd-sim reproduce --seed {seed}",
            outcome.watch_violations
        );
        // Each watcher's own watch, besides their extra ones.
        let own = |w: u32| outcome.watch_logs.iter().filter(move |l| l.watcher == w);
        assert_eq!((own(0).count(), own(1).count()), (1, 1), "seed {seed}");
        assert!(
            outcome.watch_logs.len() > 2,
            "seed {seed}: no extra watches"
        );
        events += own(0)
            .next()
            .unwrap()
            .deliveries
            .iter()
            .filter(|d| matches!(d, Delivery::Events(_)))
            .count();
    }
    // The check is not vacuous: the watcher from revision 1 saw events.
    assert!(
        events > 50 * 10,
        "only {events} event responses in 50 seeds"
    );
}
