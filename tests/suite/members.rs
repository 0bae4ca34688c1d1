//! The cluster as an operator sees it: `MemberList` with the client URLs
//! members publish through raft, and HashKV, which must agree between
//! members at the same revision.
#![cfg(madsim)]

use std::sync::Arc;
use std::time::Duration;

use etcd_sim::client::{Client, ClientError, GetOptions};
use etcd_sim::rpc_error::RpcError;
use etcd_sim_harness::cluster::addresses::AddressPlan;
use etcd_sim_harness::cluster::{eventually, operator_node, SimCluster};
use madsim::runtime::Handle;

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
                    (m.id(), c.name(i).to_string(), vec![url])
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

/// `client`'s view of the members, as (id, is_learner), by id.
async fn roles(client: &Client) -> Vec<(u64, bool)> {
    let members = client.member_list().await.unwrap().members;
    members.iter().map(|m| (m.id, m.is_learner)).collect()
}

#[madsim::test]
async fn a_learner_joins_catches_up_by_snapshot_is_promoted_and_a_voter_is_removed() {
    let small_snapshots = |member: &mut etcd_sim::server::ServerConfig| {
        // The joining member's log is far behind: it gets a snapshot.
        member.snapshot_count = 20;
        member.catch_up_entries = 5;
    };
    let cluster = Arc::new(SimCluster::start(3, small_snapshots));
    let c = cluster.clone();
    operator_node()
        .spawn(async move {
            c.settle().await;
            let client = Client::new(c.endpoints(), Duration::from_secs(2)).unwrap();
            for i in 0..60 {
                client.put(format!("k{i}"), "v").await.unwrap();
            }
            let url = AddressPlan::peer_url(AddressPlan::member_ip(3));
            let added = client.member_add(vec![url.clone()], true).await.unwrap();
            let learner = added.member.unwrap();
            assert!(learner.is_learner && learner.name.is_empty());
            assert_eq!(added.members.len(), 4);
            assert_eq!(added.header.unwrap().revision, 0, "no revision");
            let joined = c.join(3, learner.id, small_snapshots);
            let at_learner = Client::new([joined.endpoint()], Duration::from_secs(2)).unwrap();
            // A learner serves serializable ranges, and catches up...
            let serializable = GetOptions {
                serializable: true,
                ..Default::default()
            };
            let mut caught_up = false;
            for _ in 0..100 {
                let read = at_learner.get("k59", serializable.clone()).await;
                if read.is_ok_and(|r| r.kvs.len() == 1) {
                    caught_up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let status = at_learner.status().await;
            let leader_status = client.status().await;
            assert!(
                caught_up,
                "the learner has not caught up in 20 s: {status:?}, leader's {leader_status:?}"
            );
            // ... and refuses what only voters serve.
            assert_eq!(
                at_learner.put("k", "v").await.unwrap_err(),
                ClientError::Server(RpcError::NotSupportedForLearner)
            );
            assert_eq!(
                at_learner.member_list().await.unwrap_err(),
                ClientError::Server(RpcError::NotSupportedForLearner)
            );
            // Two learners at once are too many.
            let second = AddressPlan::peer_url(AddressPlan::member_ip(4));
            assert_eq!(
                client.member_add(vec![second], true).await.unwrap_err(),
                ClientError::Server(RpcError::TooManyLearners)
            );
            eventually("the promotion", || client.member_promote(learner.id)).await;
            assert_eq!(
                client.member_promote(learner.id).await.unwrap_err(),
                ClientError::Server(RpcError::MemberNotLearner)
            );
            let mut voters: Vec<(u64, bool)> =
                c.members().iter().map(|m| (m.id(), false)).collect();
            voters.push((learner.id, false));
            voters.sort();
            assert_eq!(roles(&client).await, voters);
            // The new voter serves writes and linearizable reads.
            let put = || at_learner.put("from-the-new-voter", "v");
            eventually("a write through the new voter", put).await;
            // Remove the first member; it stops serving, the rest go on.
            let removed = c.members()[0].id();
            // The leader counts a voter active once it reached it for 5 s.
            // The removed member may be the one the client asked: its
            // answer may be lost, and the next try, on the next member,
            // finds the member gone.
            let remove = || async {
                match client.member_remove(removed).await {
                    Ok(_) | Err(ClientError::Server(RpcError::MemberNotFound)) => {
                        client.member_list().await
                    }
                    Err(other) => Err(other),
                }
            };
            let left = eventually("the removal", remove).await.members;
            assert!(left.iter().all(|m| m.id != removed) && left.len() == 3);
            let at_removed =
                Client::new([c.endpoints()[0].clone()], Duration::from_secs(1)).unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let read = at_removed.get("k1", GetOptions::default()).await;
            assert!(read.is_err(), "a removed member serves nothing: {read:?}");
            let voters: Vec<(u64, bool)> = voters.into_iter().filter(|v| v.0 != removed).collect();
            let rest = Client::new(c.endpoints()[1..].to_vec(), Duration::from_secs(2)).unwrap();
            // Removing the leader costs an election; a request meanwhile
            // times out, as etcd's would.
            let again = || async {
                match rest.member_remove(removed).await {
                    Err(ClientError::Server(RpcError::MemberNotFound)) => Ok(()),
                    Ok(answer) => panic!("removed twice: {answer:?}"),
                    Err(other) => Err(other),
                }
            };
            eventually("a second removal refused as not found", again).await;
            for i in 0..30 {
                rest.put(format!("after-{i}"), "v").await.unwrap();
            }
            // A power loss of every remaining member: the membership is in
            // their snapshots and logs, and comes back the same.
            for index in 1..3 {
                c.kill(index);
            }
            Handle::current().kill(joined.node_id());
            for index in 1..3 {
                c.restart(index);
            }
            Handle::current().restart(joined.node_id());
            let rest = Client::new(
                vec![
                    c.endpoints()[1].clone(),
                    c.endpoints()[2].clone(),
                    joined.endpoint(),
                ],
                Duration::from_secs(2),
            )
            .unwrap();
            eventually("a write after the power loss", || rest.put("last", "v")).await;
            let endpoints = [
                c.endpoints()[1].clone(),
                c.endpoints()[2].clone(),
                joined.endpoint(),
            ];
            for endpoint in endpoints {
                let member = Client::new([endpoint.clone()], Duration::from_secs(2)).unwrap();
                let listed = eventually("the member list", || roles_of(&member)).await;
                assert_eq!(listed, voters, "{endpoint}");
            }
        })
        .await
        .unwrap();
}

/// [`roles`], as a result.
async fn roles_of(client: &Client) -> Result<Vec<(u64, bool)>, ClientError> {
    let members = client.member_list().await?.members;
    Ok(members.iter().map(|m| (m.id, m.is_learner)).collect())
}

#[madsim::test]
async fn membership_changes_are_refused_as_etcd_refuses_them() {
    let cluster = Arc::new(SimCluster::start(3, |_| {}));
    let c = cluster.clone();
    operator_node()
        .spawn(async move {
            c.settle().await;
            // Publishing takes a commit after the election.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let client = Client::new(c.endpoints(), Duration::from_secs(2)).unwrap();
            let taken = AddressPlan::peer_url(c.members()[1].ip);
            let refused = |e: ClientError| match e {
                ClientError::Server(e) => e,
                other => panic!("{other:?}"),
            };
            let add = client.member_add(vec![taken.clone()], false).await;
            assert_eq!(refused(add.unwrap_err()), RpcError::PeerUrlExist);
            let add = client.member_add(vec!["not a url".into()], false).await;
            assert_eq!(refused(add.unwrap_err()), RpcError::MemberBadUrls);
            let add = client.member_add(vec![], true).await;
            assert_eq!(refused(add.unwrap_err()), RpcError::MemberBadUrls);
            let remove = client.member_remove(42).await;
            assert_eq!(refused(remove.unwrap_err()), RpcError::MemberNotFound);
            let promote = client.member_promote(c.members()[1].id()).await;
            assert_eq!(refused(promote.unwrap_err()), RpcError::MemberNotLearner);
            let update = client.member_update(c.members()[0].id(), vec![taken]).await;
            assert_eq!(refused(update.unwrap_err()), RpcError::PeerUrlExist);
            let update = client
                .member_update(c.members()[0].id(), vec!["::".into()])
                .await;
            assert_eq!(refused(update.unwrap_err()), RpcError::MemberBadUrls);
            // A voter added that never starts: a fourth voter of whom only
            // three started still leaves a quorum of started voters (3 of
            // 4) ...
            let absent = AddressPlan::peer_url(AddressPlan::member_ip(5));
            client.member_add(vec![absent], false).await.unwrap();
            // ... but a fifth would not (3 started of 5 needs 3: it may;
            // then a sixth, 3 of 6, needs 4: refused).
            let fifth = AddressPlan::peer_url(AddressPlan::member_ip(6));
            client.member_add(vec![fifth], false).await.unwrap();
            let sixth = AddressPlan::peer_url(AddressPlan::member_ip(7));
            let add = client.member_add(vec![sixth], false).await;
            assert_eq!(refused(add.unwrap_err()), RpcError::MemberNotEnoughStarted);
        })
        .await
        .unwrap();
}
