//! Leader transfer (raft thesis §3.10) through etcd's MoveLeader, with
//! etcd's errors for a follower and for a member that does not exist.
#![cfg(madsim)]

use std::sync::Arc;
use std::time::Duration;

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
