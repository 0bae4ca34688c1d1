//! The cluster as an operator sees it: `MemberList` with the client URLs
//! members publish through raft, and HashKV, which must agree between
//! members at the same revision.
#![cfg(madsim)]

use std::sync::Arc;
use std::time::Duration;

use etcd_sim::client::{Client, ClientError};
use etcd_sim::rpc_error::RpcError;
use etcd_sim_harness::cluster::{operator_node, SimCluster};

/// Every member's (name, client URLs) as member `index` lists them, by id.
async fn listed(cluster: &SimCluster, index: usize) -> Vec<(u64, String, Vec<String>)> {
    let endpoint = cluster.endpoints().swap_remove(index);
    let client = Client::new([endpoint], Duration::from_secs(1)).unwrap();
    let list = client.member_list().await.unwrap();
    list.members
        .into_iter()
        .map(|m| (m.id, m.name, m.client_ur_ls))
        .collect()
}

#[madsim::test]
async fn every_member_lists_every_member_with_its_client_urls_across_a_power_loss() {
    let cluster = Arc::new(SimCluster::start(3, |member| {
        // Snapshot often, so that restarts restore the table from one.
        member.snapshot_count = 3;
    }));
    let c = cluster.clone();
    operator_node()
        .spawn(async move {
            c.settle().await;
            // Publishing takes a commit after the election.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut expected: Vec<(u64, String, Vec<String>)> = c
                .members()
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let url = c.endpoints()[i].clone();
                    (m.id, c.name(i).to_string(), vec![url])
                })
                .collect();
            // etcd lists members by id.
            expected.sort();
            for index in 0..3 {
                assert_eq!(listed(&c, index).await, expected, "member {index}");
            }
            // Enough writes for snapshots, then a power loss of all.
            let client = Client::new(c.endpoints(), Duration::from_secs(1)).unwrap();
            for i in 0..10 {
                client.put(format!("k{i}"), "v").await.unwrap();
            }
            for index in 0..3 {
                c.kill(index);
            }
            for index in 0..3 {
                c.restart(index);
            }
            c.settle().await;
            for index in 0..3 {
                assert_eq!(
                    listed(&c, index).await,
                    expected,
                    "member {index} restarted"
                );
            }
        })
        .await
        .unwrap();
}

#[madsim::test]
async fn members_agree_on_hashkv_and_refuse_what_etcd_refuses() {
    let cluster = Arc::new(SimCluster::start(3, |_| {}));
    let c = cluster.clone();
    operator_node()
        .spawn(async move {
            c.settle().await;
            let client = Client::new(c.endpoints(), Duration::from_secs(1)).unwrap();
            for i in 0..5 {
                client.put("k", format!("v{i}")).await.unwrap();
            }
            client.delete("k").await.unwrap();
            let current = client.status().await.unwrap().header.unwrap().revision;
            client.compact(current - 2, true).await.unwrap();
            // Let every member apply everything.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut hashes = Vec::new();
            for endpoint in c.endpoints() {
                let member = Client::new([endpoint], Duration::from_secs(1)).unwrap();
                let now = member.hash_kv(0).await.unwrap();
                let before = member.hash_kv(current - 1).await.unwrap();
                assert_eq!(now.header.unwrap().revision, current);
                assert_eq!(now.compact_revision, current - 2);
                assert_ne!(now.hash, before.hash, "the delete changed the history");
                hashes.push((now.hash, before.hash));
                assert_eq!(
                    member.hash_kv(current - 2).await.unwrap_err(),
                    ClientError::Server(RpcError::Compacted)
                );
                assert_eq!(
                    member.hash_kv(current + 1).await.unwrap_err(),
                    ClientError::Server(RpcError::FutureRev)
                );
            }
            assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:x?}");
        })
        .await
        .unwrap();
}
