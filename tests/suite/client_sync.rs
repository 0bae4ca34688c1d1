//! `Client::sync` (clientv3's `Sync`): a client learns its endpoints from
//! the member list, as members join and leave, and keeps working through
//! the change.
#![cfg(madsim)]

use std::sync::Arc;
use std::time::Duration;

use etcd_sim::client::{Client, ClientError, GetOptions};
use etcd_sim::rpc_error::RpcError;
use etcd_sim_harness::cluster::addresses::AddressPlan;
use etcd_sim_harness::cluster::{eventually, operator_node, SimCluster};

/// The URL of `client`'s current endpoint (its URI ends in `/`).
fn current(client: &Client) -> String {
    let uri = client.current_endpoint();
    uri.trim_end_matches('/').to_string()
}

/// Syncs `client` until its endpoints are `expected`.
async fn synced_to(client: &Client, expected: &[String]) {
    eventually(&format!("a sync to {expected:?}"), || async {
        client.sync().await.map_err(|e| e.to_string())?;
        let endpoints = client.endpoints();
        if endpoints == expected {
            Ok(())
        } else {
            Err(format!("{endpoints:?}"))
        }
    })
    .await;
}

#[madsim::test]
async fn a_client_learns_a_joined_member_and_forgets_a_removed_one() {
    let cluster = Arc::new(SimCluster::start(3, |_| {}));
    let c = cluster.clone();
    operator_node()
        .spawn(async move {
            c.settle().await;
            // Publishing takes a commit after the election.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut all = c.endpoints();
            all.sort();
            // One endpoint to start with; a sync finds the others.
            let client = Client::new([c.endpoints()[0].clone()], Duration::from_secs(1)).unwrap();
            client.sync().await.unwrap();
            assert_eq!(client.endpoints(), all);
            // The current endpoint stays the one it was.
            assert_eq!(current(&client), c.endpoints()[0]);
            client.put("k", "v1").await.unwrap();

            // A learner added but not started has published no URL yet.
            let url = AddressPlan::peer_url(AddressPlan::member_ip(3));
            let added = client.member_add(vec![url], true).await.unwrap();
            let learner = added.member.unwrap();
            client.sync().await.unwrap();
            assert_eq!(client.endpoints(), all);
            // Once it runs, it has (a learner's URLs are listed, as
            // clientv3 3.4's Sync keeps them).
            let joined = c.join(3, learner.id, |_| {});
            let mut with_joined = all.clone();
            with_joined.push(joined.endpoint());
            with_joined.sort();
            synced_to(&client, &with_joined).await;

            // The client's watch goes on across syncs.
            let mut watch = client.watch("k", Default::default());
            assert!(watch.next().await.unwrap().created);

            // The current member leaves (an operator removes it through
            // the others): the next sync fails over to another member and
            // drops its URL; calls go on through the rest.
            let removed = c.members()[0].id();
            let operator = Client::new(&c.endpoints()[1..], Duration::from_secs(1)).unwrap();
            let remove = || async {
                match operator.member_remove(removed).await {
                    Ok(_) | Err(ClientError::Server(RpcError::MemberNotFound)) => Ok(()),
                    Err(e) => Err(e.to_string()),
                }
            };
            eventually("the removal", remove).await;
            let rest: Vec<String> = with_joined
                .iter()
                .filter(|e| **e != c.endpoints()[0])
                .cloned()
                .collect();
            synced_to(&client, &rest).await;
            assert_ne!(current(&client), c.endpoints()[0]);
            let put = || async { client.put("k", "v2").await.map_err(|e| e.to_string()) };
            eventually("a write after the removal", put).await;
            let got = client.get("k", GetOptions::default()).await.unwrap();
            assert_eq!(got.kvs[0].value, b"v2");
            // (Progress notifications may come first.)
            let events = loop {
                let response = watch.next().await.expect("the watch goes on");
                if !response.events.is_empty() {
                    break response.events;
                }
            };
            assert_eq!(events[0].kv.as_ref().unwrap().value, b"v2");
        })
        .await
        .unwrap();
}

#[madsim::test]
async fn an_auto_synced_client_follows_the_membership_and_stops_with_the_client() {
    let cluster = Arc::new(SimCluster::start(3, |_| {}));
    let c = cluster.clone();
    operator_node()
        .spawn(async move {
            c.settle().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let endpoints = c.endpoints();
            let client = Client::new([endpoints[1].clone()], Duration::from_secs(1))
                .unwrap()
                .with_auto_sync(Duration::from_secs(2));
            // Nothing before the first interval ...
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert_eq!(client.endpoints(), [endpoints[1].clone()]);
            // ... then every member.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let mut all = endpoints.clone();
            all.sort();
            assert_eq!(client.endpoints(), all);
            client.put("k", "v").await.unwrap();
        })
        .await
        .unwrap();
}
