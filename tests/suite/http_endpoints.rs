//! etcd's `/health`, `/version` and `/metrics` in simulation: the content
//! the real build serves over HTTP, computed by the same code
//! ([`etcd_sim::server::http::respond`]) on a simulated member.
#![cfg(madsim)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use etcd_sim::proto::etcdserverpb::{LeaseGrantRequest, PutRequest};
use etcd_sim::server::etcdserver::{EtcdServer, Unhealthy};
use etcd_sim::server::http::{respond, Listener};
use etcd_sim::server::{Cluster, Identity, ServerConfig};
use etcd_sim::storage::SimDisk;
use madsim::runtime::Handle;

fn config(members: usize) -> ServerConfig {
    let ip = |i: usize| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1));
    let cluster = Cluster::new(
        "etcd-cluster",
        (0..members).map(|i| (format!("n{i}"), format!("http://{}:2380", ip(i)))),
    );
    ServerConfig::new(
        "n0",
        cluster,
        SocketAddr::new(ip(0), 2379),
        SocketAddr::new(ip(0), 2380),
    )
    .unwrap()
}

/// Runs `test` against member n0 of a cluster of `members`, only n0 started.
async fn on_member<F, Fut>(members: usize, test: F)
where
    F: FnOnce(EtcdServer) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let node = Handle::current()
        .create_node()
        .name("n0")
        .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
        .build();
    node.spawn(async move {
        let config = config(members);
        let identity = Identity::of_new_cluster(&config);
        let (server, _essential) =
            EtcdServer::start(&config, identity, Arc::new(SimDisk::new())).unwrap();
        test(server).await;
    })
    .await
    .unwrap();
}

fn value(server: &EtcdServer, name: &str) -> f64 {
    server
        .current_metrics()
        .value(name)
        .unwrap_or_else(|| panic!("{name} is not a metric"))
}

#[madsim::test]
async fn a_member_with_a_leader_is_healthy_and_its_counters_move() {
    on_member(1, |server| async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(server.health(&[]).await, Ok(()));
        let health = respond(&server, Listener::Client, "GET", "/health", None).await;
        assert_eq!(
            (health.status, health.body.as_str()),
            (200, r#"{"health":"true"}"#)
        );
        assert_eq!(value(&server, "etcd_server_has_leader"), 1.0);
        assert_eq!(value(&server, "etcd_server_is_leader"), 1.0);
        assert_eq!(value(&server, "etcd_server_leader_changes_seen_total"), 1.0);
        assert_eq!(value(&server, "etcd_server_health_success"), 2.0);

        // The member's own publish may have failed before it led.
        let failed = value(&server, "etcd_server_proposals_failed_total");
        let applied = value(&server, "etcd_server_proposals_applied_total");
        let synced = value(&server, "etcd_disk_wal_fsync_duration_seconds");
        let committed = value(&server, "etcd_disk_backend_commit_duration_seconds");
        for i in 0..3 {
            let put = PutRequest {
                key: format!("k{i}").into_bytes(),
                value: b"v".to_vec(),
                ..Default::default()
            };
            server.put(put).await.unwrap();
        }
        let lease = LeaseGrantRequest { ttl: 60, id: 0 };
        let id = server.lease_grant(lease).await.unwrap().id;
        server.lease_renew(id).await.unwrap();
        server.lease_revoke(id).await.unwrap();

        assert_eq!(
            value(&server, "etcd_server_proposals_applied_total"),
            applied + 5.0
        );
        assert_eq!(
            value(&server, "etcd_server_proposals_committed_total"),
            value(&server, "etcd_server_proposals_applied_total")
        );
        assert_eq!(value(&server, "etcd_server_proposals_pending"), 0.0);
        assert_eq!(value(&server, "etcd_server_proposals_failed_total"), failed);
        assert!(value(&server, "etcd_disk_wal_fsync_duration_seconds") >= synced + 5.0);
        assert!(value(&server, "etcd_disk_backend_commit_duration_seconds") >= committed + 5.0);
        assert!(value(&server, "etcd_mvcc_db_total_size_in_bytes") > 0.0);
        for counter in ["granted", "renewed", "revoked"] {
            let name = format!("etcd_debugging_lease_{counter}_total");
            assert_eq!(value(&server, &name), 1.0, "{name}");
        }

        let metrics = respond(&server, Listener::Metrics, "GET", "/metrics", None).await;
        assert_eq!(metrics.status, 200);
        assert!(metrics.body.contains("\netcd_server_has_leader 1\n"));
        let version = respond(&server, Listener::Client, "GET", "/version", None).await;
        assert_eq!(
            (version.status, version.content_type),
            (200, "application/json")
        );
        let absent = respond(&server, Listener::Metrics, "GET", "/version", None).await;
        assert_eq!(absent.status, 404, "the metrics listener has no /version");
        let posted = respond(&server, Listener::Client, "POST", "/health", None).await;
        assert_eq!((posted.status, posted.allow), (405, Some("GET")));
    })
    .await;
}

#[madsim::test]
async fn a_member_without_a_leader_is_unhealthy() {
    on_member(3, |server| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(server.health(&[]).await, Err(Unhealthy::NoLeader));
        let health = respond(&server, Listener::Client, "GET", "/health", None).await;
        assert_eq!(
            (health.status, health.body.as_str()),
            (503, "{\"health\":\"false\"}\n")
        );
        assert_eq!(value(&server, "etcd_server_has_leader"), 0.0);
        assert_eq!(value(&server, "etcd_server_leader_changes_seen_total"), 0.0);
        assert_eq!(value(&server, "etcd_server_health_failures"), 2.0);
        let failed = value(&server, "etcd_server_proposals_failed_total");
        let put = PutRequest {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            ..Default::default()
        };
        assert!(server.put(put).await.is_err());
        // The put, and maybe the member's own publish retrying meanwhile.
        assert!(value(&server, "etcd_server_proposals_failed_total") > failed);
        assert_eq!(value(&server, "etcd_server_proposals_pending"), 0.0);
    })
    .await;
}
