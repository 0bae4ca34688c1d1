//! Leadership changing hands: a transfer (raft thesis §3.10) through etcd's
//! MoveLeader, with etcd's errors for a follower and for a member that does
//! not exist; and a leader paused and resumed, which must come back as a
//! follower of the leader elected while it was away.
#![cfg(madsim)]

use std::sync::Arc;
use std::time::Duration;

use etcd_sim::proto::etcdserverpb::StatusRequest;

use etcd_sim::client::Client;
use etcd_sim_harness::cluster::{operator_node, SimCluster};

#[madsim::test]
async fn move_leader_hands_leadership_over_and_refuses_what_etcd_refuses() {
    let cluster = Arc::new(SimCluster::start(3, |_| {}));
    let node = operator_node();
    node.spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let leader = cluster.leader().await.expect("a leader after 3 s");
        let (a, b) = match leader {
            0 => (1, 2),
            1 => (0, 2),
            _ => (0, 1),
        };
        // A follower is not the one to ask.
        let err = cluster.move_leader(a, b).await.unwrap_err();
        assert_eq!(err, "etcdserver: not leader");
        // The leader hands over; everyone then follows the new leader.
        cluster
            .move_leader(leader, a)
            .await
            .expect("the move succeeds");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(cluster.leader().await, Some(a));
        // ...which keeps serving writes.
        let client = Client::new(cluster.endpoints(), Duration::from_secs(1)).unwrap();
        client
            .put("k", "after the move")
            .await
            .expect("a write after the move");
        // Leadership cannot go to a member that does not exist.
        let endpoint = cluster.endpoints().swap_remove(a);
        let client = Client::new([endpoint], Duration::from_secs(1)).unwrap();
        let mut maintenance = client.maintenance().await.unwrap();
        let request = etcd_sim::proto::etcdserverpb::MoveLeaderRequest { target_id: 42 };
        let status = maintenance.move_leader(request).await.unwrap_err();
        assert_eq!(status.message(), "etcdserver: bad leader transferee");
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    })
    .await
    .unwrap();
}

/// The highest raft term any reachable member reports.
async fn highest_term(cluster: &SimCluster) -> u64 {
    let mut highest = 0;
    for endpoint in cluster.endpoints() {
        let client = Client::new([endpoint], Duration::from_millis(500)).unwrap();
        let status = async {
            let mut maintenance = client.maintenance().await.ok()?;
            maintenance.status(StatusRequest {}).await.ok()
        };
        if let Ok(Some(status)) = tokio::time::timeout(Duration::from_secs(1), status).await {
            highest = highest.max(status.into_inner().raft_term);
        }
    }
    highest
}

/// A leader frozen for 8 s (SIGSTOP, a VM freeze) and resumed fires the
/// one tick it missed, not all eighty: it reads the new leader's higher
/// term and follows. Firing them all at once ran out its election timeout
/// several times over, and its campaigns deposed the new leader: 2-6 s
/// without one after the resume (etcd's Go ticker drops missed ticks).
#[madsim::test]
async fn a_leader_resumed_after_a_long_pause_follows_the_leader_elected_meanwhile() {
    // Without pre-vote (etcd 3.4's default and `serve`'s), as a campaign
    // at a higher term deposes a leader; pre-vote would hide the burst.
    let cluster = Arc::new(SimCluster::start(3, |config| config.pre_vote = false));
    let node = operator_node();
    node.spawn(async move {
        cluster.settle().await;
        let paused = cluster.leader().await.expect("a leader");
        let handle = madsim::runtime::Handle::current();
        handle.pause(cluster.node_id(paused));
        tokio::time::sleep(Duration::from_secs(8)).await;
        let elected = cluster.leader().await.expect("a leader elected in 8 s");
        assert_ne!(elected, paused);
        let term = highest_term(&cluster).await;
        handle.resume(cluster.node_id(paused));
        let client = Client::new([cluster.endpoint(elected)], Duration::from_secs(1)).unwrap();
        // Writes go on through the resume: none waits for an election.
        for i in 0..20 {
            let started = tokio::time::Instant::now();
            client
                .put("k", format!("after the resume {i}"))
                .await
                .expect("a write after the resume");
            assert!(
                started.elapsed() < Duration::from_millis(500),
                "write {i} after the resume took {:?}",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            highest_term(&cluster).await,
            term,
            "an election after the resume"
        );
        assert_eq!(cluster.leader().await, Some(elected));
    })
    .await
    .unwrap();
}
