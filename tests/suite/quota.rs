//! The backend quota (etcd's quotaKVServer and capped applier): past
//! `--quota-backend-bytes` the NOSPACE alarm is raised through raft, puts
//! and growing txns are refused everywhere, reads and deletes still work,
//! the alarm survives a whole-cluster restart, and after compaction and a
//! disarm writes go through again.
#![cfg(madsim)]

use std::sync::Arc;
use std::time::Duration;

use etcd_sim::client::{Client, ClientError, GetOptions, Op, Txn, TxnOp};
use etcd_sim::proto::etcdserverpb::AlarmType;
use etcd_sim::rpc_error::RpcError;
use etcd_sim::server::etcdserver::Quota;
use etcd_sim_harness::cluster::{operator_node, SimCluster};

const NO_SPACE: ClientError = ClientError::Server(RpcError::NoSpace);

#[madsim::test]
async fn past_the_quota_writes_stop_reads_go_on_and_the_alarm_survives_restart() {
    // Room for the empty backend and about four small puts.
    let quota = Quota::EMPTY_BACKEND_BYTES + 4 * 340;
    let cluster = Arc::new(SimCluster::start(3, |member| {
        member.quota_backend_bytes = quota as i64;
        // Snapshot often, so that restarts restore the alarm from one.
        member.snapshot_count = 3;
    }));
    let operator = operator_node();
    let c = cluster.clone();
    let raised = operator
        .spawn(async move {
            c.settle().await;
            let client = Client::new(c.endpoints(), Duration::from_secs(1)).unwrap();
            let mut accepted = 0;
            let refusal = loop {
                match client.put(format!("k{accepted}"), "v".repeat(10)).await {
                    Ok(_) => accepted += 1,
                    Err(e) => break e,
                }
                assert!(accepted < 100, "the quota never bit");
            };
            assert_eq!(refusal, NO_SPACE);
            assert!(accepted >= 1, "the first put fits");
            let alarms = client.alarm_list().await.unwrap();
            assert_eq!(alarms.len(), 1, "{alarms:?}");
            assert_eq!(alarms[0].alarm, AlarmType::Nospace as i32);
            // Every member refuses, reads and deletes still work, and so
            // does a read-only txn; a growing txn does not.
            for endpoint in c.endpoints() {
                let member = Client::new([endpoint], Duration::from_secs(1)).unwrap();
                assert_eq!(member.put("more", "x").await.unwrap_err(), NO_SPACE);
            }
            let got = client.get("k0", GetOptions::default()).await.unwrap();
            assert_eq!(got.kvs.len(), 1);
            let read_only = Txn::new().and_then([TxnOp::get("k0")]);
            client.txn(read_only).await.unwrap();
            let growing = Txn::new().and_then([TxnOp::put("k0", "w")]);
            assert_eq!(client.txn(growing).await.unwrap_err(), NO_SPACE);
            client.delete("k0").await.unwrap();
            let status = client.status().await.unwrap();
            assert!(
                status.errors[0].ends_with(" alarm:NOSPACE "),
                "{:?}",
                status.errors
            );
            // Each member that refused raised its own alarm.
            client.alarm_list().await.unwrap()
        })
        .await
        .unwrap();
    assert_eq!(raised.len(), 3, "{raised:?}");

    // Power loss everywhere: the alarm is in the log and the snapshots.
    for member in 0..3 {
        cluster.kill(member);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for member in 0..3 {
        cluster.restart(member);
    }
    let c = cluster.clone();
    operator
        .spawn(async move {
            c.settle().await;
            let client = Client::new(c.endpoints(), Duration::from_secs(1)).unwrap();
            assert_eq!(client.alarm_list().await.unwrap(), raised);
            assert_eq!(client.put("after", "restart").await.unwrap_err(), NO_SPACE);
            // Make room, disarm, write again.
            let revision = client.status().await.unwrap().header.unwrap().revision;
            client.delete_op(Op::delete("k").prefix()).await.unwrap();
            client.compact(revision + 1, true).await.unwrap();
            let cleared = client.alarm_disarm(0, AlarmType::None).await.unwrap();
            assert_eq!(cleared, raised);
            assert!(client.alarm_list().await.unwrap().is_empty());
            client.put("after", "room").await.unwrap();
        })
        .await
        .unwrap();
}

/// etcd's quota applier: two puts that each fit the store as the API saw
/// it both pass its check, but once the first is applied the second no
/// longer fits. Every member still applies it (raft committed it), its
/// client is answered NOSPACE (a no-space answer does not mean the write
/// did not happen), and the appliers raise NOSPACE, which then refuses a
/// lease grant at the API (etcd's quotaLeaseServer) as it refuses puts.
#[madsim::test]
async fn a_write_that_crosses_the_quota_as_it_is_applied_is_kept_but_answered_no_space() {
    // 100-byte values: each put costs 357 bytes against the quota and
    // stores a 165-byte record, so one fits the empty store, two do not.
    let value = "v".repeat(100);
    let cost = 256 + 1 + value.len() as u64;
    let quota = Quota::EMPTY_BACKEND_BYTES + cost + 100;
    let cluster = Arc::new(SimCluster::start(3, |member| {
        member.quota_backend_bytes = quota as i64;
    }));
    let operator = operator_node();
    let c = cluster.clone();
    operator
        .spawn(async move {
            c.settle().await;
            let client = Client::new(c.endpoints(), Duration::from_secs(1)).unwrap();
            let (a, b) = tokio::join!(client.put("a", value.clone()), client.put("b", value));
            let mut answers = [a.map(|_| ()), b.map(|_| ())];
            answers.sort_by_key(|answer| answer.is_err());
            assert_eq!(
                answers,
                [Ok(()), Err(NO_SPACE)],
                "one fits, the other crosses"
            );
            let alarms = client.alarm_list().await.unwrap();
            // Each member that applied it before any alarm was in raises
            // its own, as in etcd.
            assert!(!alarms.is_empty(), "the applier raised NOSPACE");
            assert!(
                alarms.iter().all(|a| a.alarm == AlarmType::Nospace as i32),
                "{alarms:?}"
            );
            for endpoint in c.endpoints() {
                let member = Client::new([endpoint], Duration::from_secs(1)).unwrap();
                let all = member.get_op(Op::get("").prefix()).await.unwrap();
                let keys: Vec<_> = all.kvs.iter().map(|kv| kv.key.clone()).collect();
                assert_eq!(
                    keys,
                    [b"a".to_vec(), b"b".to_vec()],
                    "both applied everywhere"
                );
                assert_eq!(member.lease_grant(10, 0).await.unwrap_err(), NO_SPACE);
            }
        })
        .await
        .unwrap();
}
