//! Leases (etcd's `lease` package and `v3rpc/lease.go`): grants and
//! revocations through raft, keys deleted with their lease in one
//! revision, expiry decided by the leader's lessor, leases extended on a
//! new leader, renewals that keep a lease alive across a leader change,
//! followers forwarding renewals and TTL queries to the leader, and etcd's
//! errors.
#![cfg(madsim)]

use std::sync::Arc;
use std::time::Duration;

use etcd_sim::client::{Client, ClientError, GetOptions, Op};
use etcd_sim::rpc_error::RpcError;
use etcd_sim_harness::cluster::{operator_node, SimCluster};
use futures::StreamExt;

/// Runs `test` on an operator node next to a fresh 3-member cluster, once
/// a leader is elected.
async fn with_cluster<F, Fut>(test: F)
where
    F: FnOnce(Arc<SimCluster>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let cluster = Arc::new(SimCluster::start(3, |member| {
        // Snapshot often, so that restarts restore leases from one.
        member.snapshot_count = 5;
    }));
    let operator = operator_node();
    operator
        .spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            cluster.leader().await.expect("a leader after 3 s");
            test(cluster).await;
        })
        .await
        .unwrap();
}

fn client(cluster: &SimCluster) -> Arc<Client> {
    Arc::new(Client::new(cluster.endpoints(), Duration::from_secs(1)).unwrap())
}

async fn exists(client: &Client, key: &str) -> bool {
    let got = client.get(key, GetOptions::default()).await.unwrap();
    !got.kvs.is_empty()
}

#[madsim::test]
async fn grant_put_and_revoke_delete_the_leases_keys_in_one_revision() {
    with_cluster(|cluster| async move {
        let client = client(&cluster);
        // The server picks a positive id; a short TTL is raised to the
        // minimum (1.5 election timeouts of 10 ticks of 100 ms: 2 s).
        let granted = client.lease_grant(1, 0).await.unwrap();
        assert!(granted.id > 0);
        assert_eq!(granted.ttl, 2);
        let lease = client.lease_grant(60, 0x1234).await.unwrap();
        assert_eq!((lease.id, lease.ttl), (0x1234, 60));

        client
            .put_op(Op::put("a", "1").lease(0x1234))
            .await
            .unwrap();
        client
            .put_op(Op::put("b", "2").lease(0x1234))
            .await
            .unwrap();
        client.put("c", "3").await.unwrap();
        // Re-putting a key under another lease moves it there.
        client
            .put_op(Op::put("d", "4").lease(0x1234))
            .await
            .unwrap();
        client
            .put_op(Op::put("d", "5").lease(granted.id))
            .await
            .unwrap();

        let ttl = client.lease_time_to_live(0x1234, true).await.unwrap();
        assert_eq!(ttl.granted_ttl, 60);
        assert!((55..=60).contains(&ttl.ttl), "{ttl:?}");
        assert_eq!(ttl.keys, vec![b"a".to_vec(), b"b".to_vec()]);
        let without = client.lease_time_to_live(0x1234, false).await.unwrap();
        assert!(without.keys.is_empty());
        let mut listed: Vec<i64> = client
            .lease_leases()
            .await
            .unwrap()
            .leases
            .iter()
            .map(|l| l.id)
            .collect();
        listed.sort();
        let mut expected = vec![0x1234, granted.id];
        expected.sort();
        assert_eq!(listed, expected);

        let before = client.get("c", GetOptions::default()).await.unwrap();
        let before = before.header.unwrap().revision;
        let revoked = client.lease_revoke(0x1234).await.unwrap();
        assert_eq!(revoked.header.unwrap().revision, before + 1, "one revision");
        assert!(!exists(&client, "a").await && !exists(&client, "b").await);
        assert!(exists(&client, "c").await && exists(&client, "d").await);

        // A revoked lease is gone for every call.
        let gone = client.lease_time_to_live(0x1234, false).await.unwrap();
        assert_eq!(gone.ttl, -1);
        let renewed = client.lease_keep_alive_once(0x1234).await.unwrap();
        assert_eq!(renewed.ttl, 0);
        let not_found = ClientError::Server(RpcError::LeaseNotFound);
        assert_eq!(client.lease_revoke(0x1234).await.unwrap_err(), not_found);
        let put = client.put_op(Op::put("a", "x").lease(0x1234)).await;
        assert_eq!(put.unwrap_err(), not_found);
        assert!(!exists(&client, "a").await, "a refused put writes nothing");
    })
    .await;
}

#[madsim::test]
async fn grants_refuse_taken_ids_and_ttls_above_etcds_maximum() {
    with_cluster(|cluster| async move {
        let client = client(&cluster);
        client.lease_grant(10, 7).await.unwrap();
        assert_eq!(
            client.lease_grant(10, 7).await.unwrap_err(),
            ClientError::Server(RpcError::LeaseExist)
        );
        assert_eq!(
            client.lease_grant(9_000_000_001, 8).await.unwrap_err(),
            ClientError::Server(RpcError::LeaseTtlTooLarge)
        );
        client.lease_grant(9_000_000_000, 8).await.unwrap();
    })
    .await;
}

#[madsim::test]
async fn a_lease_expires_by_the_leaders_clock_and_its_keys_go_everywhere() {
    with_cluster(|cluster| async move {
        let client = client(&cluster);
        let lease = client.lease_grant(3, 0).await.unwrap().id;
        client.put_op(Op::put("k", "v").lease(lease)).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(exists(&client, "k").await, "alive within its TTL");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!exists(&client, "k").await, "gone soon after its TTL");
        assert_eq!(
            client.lease_time_to_live(lease, false).await.unwrap().ttl,
            -1
        );
        // The revocation went through raft: every member deleted the key
        // at the same revision.
        let mut revisions = Vec::new();
        for endpoint in cluster.endpoints() {
            let member = Client::new([endpoint], Duration::from_secs(1)).unwrap();
            let options = GetOptions {
                serializable: true,
                ..Default::default()
            };
            let got = member.get("k", options).await.unwrap();
            assert!(got.kvs.is_empty());
            revisions.push(got.header.unwrap().revision);
        }
        assert!(
            revisions.iter().all(|&r| r == revisions[0]),
            "{revisions:?}"
        );
    })
    .await;
}

#[madsim::test]
async fn a_new_leader_extends_every_lease_by_a_full_ttl() {
    with_cluster(|cluster| async move {
        let client = client(&cluster);
        let lease = client.lease_grant(10, 0).await.unwrap().id;
        client.put_op(Op::put("k", "v").lease(lease)).await.unwrap();
        tokio::time::sleep(Duration::from_secs(6)).await;
        let leader = cluster.leader().await.unwrap();
        cluster.kill(leader);
        // The old deadline passes under the new leader...
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(exists(&client, "k").await, "extended by the new leader");
        let ttl = client.lease_time_to_live(lease, false).await.unwrap();
        assert!(ttl.ttl > 0 && ttl.ttl <= 11, "{ttl:?}");
        // ...and the lease still expires, a TTL after the promotion.
        tokio::time::sleep(Duration::from_secs(12)).await;
        assert!(!exists(&client, "k").await, "expired under the new leader");
        cluster.restart(leader);
    })
    .await;
}

#[madsim::test]
async fn keep_alives_hold_a_lease_across_a_leader_kill_and_restarts_restore_it() {
    with_cluster(|cluster| async move {
        let client = client(&cluster);
        let lease = client.lease_grant(3, 0).await.unwrap().id;
        client.put_op(Op::put("k", "v").lease(lease)).await.unwrap();
        let mut renewals = client.lease_keep_alive(lease);
        let first = renewals.next().await.unwrap();
        assert_eq!((first.id, first.ttl), (lease, 3));
        for round in 0..3 {
            let leader = cluster.leader().await.unwrap();
            cluster.kill(leader);
            tokio::time::sleep(Duration::from_secs(5)).await;
            assert!(exists(&client, "k").await, "kept alive, round {round}");
            cluster.restart(leader);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        // Once the renewals stop, the lease expires.
        drop(renewals);
        tokio::time::sleep(Duration::from_secs(8)).await;
        assert!(!exists(&client, "k").await);
    })
    .await;
}

#[madsim::test]
async fn every_member_answers_renewals_and_ttl_queries_by_asking_the_leader() {
    with_cluster(|cluster| async move {
        let lease = client(&cluster).lease_grant(30, 0).await.unwrap().id;
        let leader = cluster.leader().await.unwrap();
        for (index, endpoint) in cluster.endpoints().into_iter().enumerate() {
            // One endpoint only: no failover can hide a follower's answer.
            let member = Client::new([endpoint], Duration::from_secs(1)).unwrap();
            let renewed = member.lease_keep_alive_once(lease).await.unwrap();
            assert_eq!(renewed.ttl, 30, "member {index}, leader {leader}");
            let ttl = member.lease_time_to_live(lease, true).await.unwrap();
            assert_eq!(ttl.granted_ttl, 30);
            assert!(ttl.ttl >= 29, "{ttl:?}");
            let unknown = member.lease_time_to_live(lease ^ 1, false).await.unwrap();
            assert_eq!(unknown.ttl, -1);
            assert_eq!(
                member.lease_keep_alive_once(lease ^ 1).await.unwrap().ttl,
                0
            );
        }
    })
    .await;
}

#[madsim::test]
async fn a_keep_alive_stream_renews_every_third_of_a_ttl_and_ends_with_its_lease() {
    with_cluster(|cluster| async move {
        let client = client(&cluster);
        let lease = client.lease_grant(6, 0).await.unwrap().id;
        let mut renewals = client.lease_keep_alive(lease);
        let start = tokio::time::Instant::now();
        assert_eq!(renewals.next().await.unwrap().ttl, 6);
        assert_eq!(renewals.next().await.unwrap().ttl, 6);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(2) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
        client.lease_revoke(lease).await.unwrap();
        let mut last = None;
        while let Some(renewal) = renewals.next().await {
            last = Some(renewal.ttl);
        }
        assert_eq!(last, Some(0), "the last answer says the lease is gone");
    })
    .await;
}

/// The lease check of the default campaign (every fault) finds nothing
/// in a correct cluster; `etcd-sim run --seeds 0..500` is the longer run.
#[test]
fn the_lease_check_passes_every_seed_under_every_fault() {
    use etcd_sim_harness::{run_seed, RunConfig, SeedVerdict};
    for seed in 0..50 {
        let outcome = run_seed(&RunConfig::new(seed));
        assert!(
            outcome.lease_violations.is_empty(),
            "seed {seed}: {:?}\nreproduce: etcd-sim reproduce --seed {seed}",
            outcome.lease_violations
        );
        assert_eq!(outcome.verdict(), SeedVerdict::Linearizable, "seed {seed}");
    }
}

/// With the bug, followers revoke leases the leader keeps renewing, and
/// the check says so (tests/suite/bug_catalog.rs demands it within 200 seeds).
#[test]
fn the_lease_check_catches_a_follower_that_expires_leases_by_its_own_clock() {
    use etcd_sim::bugs::{Bug, BugSet};
    use etcd_sim_harness::{run_seed, RunConfig};
    let caught = (0..50).any(|seed| {
        let mut config = RunConfig::new(seed);
        config.bugs = BugSet::NONE.with(Bug::LeaseExpiresOnFollowerClock);
        !run_seed(&config).lease_violations.is_empty()
    });
    assert!(caught);
}
