//! Recovery from disk: torn WAL tails, corrupt WAL records and snapshots,
//! and followers that fall behind log compaction (DESIGN.md §2, raft thesis
//! §5).
#![cfg(madsim)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use etcd_sim::client::{Client, GetOptions};
use etcd_sim::proto::etcdserverpb::StatusRequest;
use etcd_sim::server::{Cluster, ServeError, ServerConfig};
use etcd_sim::storage::{Disk, SimDisk};
use etcd_sim_harness::cluster::SimCluster;
use madsim::net::NetSim;
use madsim::runtime::Handle;

/// Runs `f` on a fresh client node (nodes without an IP cannot dial).
async fn on_client_node<F, T>(octet: u8, f: F) -> T
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    Handle::current()
        .create_node()
        .name(format!("test-client-{octet}"))
        .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 9, octet)))
        .build()
        .spawn(f)
        .await
        .expect("client task")
}

/// Puts `key`, retrying until the cluster accepts it.
async fn put_until_ok(client: &Client, key: &str, value: &str) {
    for _ in 0..50 {
        if client.put(key, value).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the cluster never accepted put {key}={value}");
}

/// A local (serializable) read of `key` on the member at `endpoint`.
async fn local_value(endpoint: String, key: &'static str) -> Option<String> {
    let client = Client::new([endpoint], Duration::from_secs(1)).unwrap();
    let options = GetOptions {
        serializable: true,
        ..Default::default()
    };
    let response = client.get(key, options).await.ok()?;
    let kv = response.kvs.first()?;
    Some(String::from_utf8_lossy(&kv.value).into_owned())
}

fn snapshot_index(disk: &SimDisk) -> Option<u64> {
    disk.list()
        .unwrap()
        .iter()
        .filter_map(|n| n.strip_prefix("snap-")?.strip_suffix(".snap"))
        .filter_map(|hex| u64::from_str_radix(hex, 16).ok())
        .max()
}

#[madsim::test]
async fn a_torn_wal_tail_is_truncated_and_the_member_rejoins() {
    let cluster = Arc::new(SimCluster::start(3, |_| {}));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let endpoints = cluster.endpoints();
    let client = Client::new(&endpoints[1..], Duration::from_secs(1)).unwrap();
    let writer = on_client_node(1, async move {
        put_until_ok(&client, "a", "1").await;
        client
    })
    .await;

    // n1 dies in the middle of appending a record: its header promises 100
    // bytes, 3 made it to the platter.
    cluster.kill(0);
    let disk = cluster.disk(0);
    let intact = disk.read("wal").unwrap().len();
    disk.append("wal", &[100, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3])
        .unwrap();
    disk.sync("wal").unwrap();
    cluster.restart(0);

    on_client_node(2, async move { put_until_ok(&writer, "a", "2").await }).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let n1 = endpoints[0].clone();
    let seen = on_client_node(3, local_value(n1, "a")).await;
    assert_eq!(seen.as_deref(), Some("2"), "n1 rejoined and caught up");
    assert!(
        disk.read("wal").unwrap().len() > intact,
        "the torn bytes were cut and new records appended"
    );
}

/// A one-member cluster on a disk of its own, and how each incarnation of
/// it ended.
struct Alone {
    node: madsim::runtime::NodeHandle,
    disk: SimDisk,
    endings: tokio::sync::mpsc::UnboundedReceiver<Result<(), ServeError>>,
    endpoint: String,
}

fn start_alone(configure: impl Fn(&mut ServerConfig)) -> Alone {
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let cluster = Cluster::new("t", [("n1".to_string(), format!("http://{ip}:2380"))]);
    let mut config = ServerConfig::new(
        "n1",
        cluster,
        SocketAddr::new(ip, 2379),
        SocketAddr::new(ip, 2380),
    )
    .unwrap();
    configure(&mut config);
    let disk = SimDisk::new();
    let (ended, endings) = tokio::sync::mpsc::unbounded_channel();
    let node = Handle::current()
        .create_node()
        .name("n1")
        .ip(ip)
        .init({
            let disk = disk.clone();
            move || {
                let (config, ended) = (config.clone(), ended.clone());
                let disk: Arc<dyn Disk> = Arc::new(disk.clone());
                async move {
                    let _ = ended.send(etcd_sim::server::run(config, disk).await);
                }
            }
        })
        .build();
    Alone {
        node,
        disk,
        endings,
        endpoint: format!("http://{ip}:2379"),
    }
}

impl Alone {
    /// Puts `k0`..`k{n-1}`.
    async fn put_keys(&self, n: usize) {
        let client = Client::new([self.endpoint.clone()], Duration::from_secs(1)).unwrap();
        on_client_node(1, async move {
            for i in 0..n {
                put_until_ok(&client, &format!("k{i}"), "v").await;
            }
        })
        .await;
    }

    /// Restarts the member and returns the error it stopped with, if it
    /// stopped within 5 s.
    async fn restart_and_stop(&mut self) -> Option<ServeError> {
        Handle::current().restart(self.node.id());
        let ended = tokio::time::timeout(Duration::from_secs(5), self.endings.recv()).await;
        ended
            .ok()
            .flatten()
            .map(|r| r.expect_err("a member ends only failing"))
    }
}

#[madsim::test]
async fn a_corrupt_record_in_the_middle_of_the_wal_stops_the_member_with_a_clear_error() {
    let mut alone = start_alone(|_| {});
    tokio::time::sleep(Duration::from_secs(2)).await;
    alone.put_keys(5).await;
    Handle::current().kill(alone.node.id());
    let disk = alone.disk.clone();
    let mut wal = disk.read("wal").unwrap();
    let middle = wal.len() / 2;
    wal[middle] ^= 0xff;
    disk.write("wal", &wal).unwrap();
    disk.sync("wal").unwrap();

    let error = alone
        .restart_and_stop()
        .await
        .expect("a corrupt WAL must stop the member at once, not serve");
    assert!(matches!(error, ServeError::Start(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("wal: corrupt record at offset"),
        "{message}"
    );
}

/// Flips a byte in the newest snapshot file, and returns its name.
fn corrupt_newest_snapshot(disk: &SimDisk) -> String {
    let index = snapshot_index(disk).expect("a snapshot");
    let name = format!("snap-{index:016x}.snap");
    let mut bytes = disk.read(&name).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    disk.write(&name, &bytes).unwrap();
    disk.sync(&name).unwrap();
    name
}

#[madsim::test]
async fn a_corrupt_snapshot_is_set_aside_and_the_member_starts_from_an_older_one() {
    let mut alone = start_alone(|config| {
        config.snapshot_count = 10;
        config.catch_up_entries = 0;
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    alone.put_keys(35).await;
    Handle::current().kill(alone.node.id());
    let broken = corrupt_newest_snapshot(&alone.disk);
    assert!(
        alone.restart_and_stop().await.is_none(),
        "the member serves"
    );
    let names = alone.disk.list().unwrap();
    assert!(names.contains(&format!("{broken}.broken")), "{names:?}");
    // Every write is there: the older snapshot and the WAL's older
    // generations replayed after it.
    let endpoint = alone.endpoint.clone();
    let count = on_client_node(2, async move {
        let client = Client::new([endpoint], Duration::from_secs(1)).unwrap();
        let all = GetOptions {
            prefix: true,
            ..Default::default()
        };
        for _ in 0..50 {
            if let Ok(response) = client.get("k", all.clone()).await {
                return response.count;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the restarted member never answered");
    })
    .await;
    assert_eq!(count, 35);
}

#[madsim::test]
async fn a_member_with_no_usable_snapshot_refuses_to_start_naming_the_file() {
    let mut alone = start_alone(|config| {
        config.snapshot_count = 10;
        config.catch_up_entries = 0;
        config.max_snapshots = 1;
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    alone.put_keys(25).await;
    Handle::current().kill(alone.node.id());
    let broken = corrupt_newest_snapshot(&alone.disk);
    let error = alone
        .restart_and_stop()
        .await
        .expect("the member must refuse to start");
    let message = error.to_string();
    assert!(message.contains("no usable snapshot"), "{message}");
    assert!(message.contains(&format!("{broken}.broken")), "{message}");
}

#[madsim::test]
async fn a_follower_partitioned_past_log_compaction_catches_up_by_snapshot() {
    follower_catches_up_by_snapshot(60, 2).await;
}

/// A snapshot of 12 MiB: streamed in 1 MiB chunks with a deadline that fits
/// its size. Sent whole, it was over the peer's 4 MiB receive limit and
/// refused each time, and the follower never caught up.
#[madsim::test]
async fn a_follower_catches_up_by_a_snapshot_of_several_mib() {
    follower_catches_up_by_snapshot(60, 200 * 1024).await;
}

/// Partitions a follower away, writes `puts` values of `value_size` bytes
/// (to as many keys) through the leader until it compacts its log past the
/// follower, heals, and checks the follower catches up from the snapshot.
async fn follower_catches_up_by_snapshot(puts: usize, value_size: usize) {
    let cluster = Arc::new(SimCluster::start(3, |member| member.snapshot_count = 10));
    let leader = {
        let cluster = cluster.clone();
        on_client_node(1, async move {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Some(leader) = cluster.leader().await {
                    return Some(leader);
                }
            }
            None
        })
        .await
    }
    .expect("a leader was elected within 10 s");
    let follower = (leader + 1) % 3;
    let endpoints = cluster.endpoints();

    // Cut the follower off from its peers (clients still reach it).
    let net = NetSim::current();
    for other in (0..3).filter(|&m| m != follower) {
        net.clog_link(cluster.node_id(follower), cluster.node_id(other));
        net.clog_link(cluster.node_id(other), cluster.node_id(follower));
    }
    let follower_endpoint = endpoints[follower].clone();
    let applied_before = on_client_node(2, async move {
        let client = Client::new([follower_endpoint], Duration::from_secs(1)).unwrap();
        let mut maintenance = client.maintenance().await.unwrap();
        let status = maintenance.status(StatusRequest {}).await.unwrap();
        status.into_inner().raft_applied_index
    })
    .await;

    let majority = vec![endpoints[leader].clone()];
    on_client_node(3, async move {
        let client = Client::new(majority, Duration::from_secs(1)).unwrap();
        for i in 0..puts {
            let padding = "x".repeat(value_size.saturating_sub(8));
            put_until_ok(&client, &format!("key{i}"), &format!("v{i}{padding}")).await;
            put_until_ok(&client, "key", &format!("v{i}")).await;
        }
    })
    .await;
    let leader_snapshot = snapshot_index(cluster.disk(leader)).expect("the leader compacted");
    assert!(
        leader_snapshot > applied_before + 1,
        "the leader's log starts after what the follower has ({leader_snapshot} vs {applied_before})"
    );

    for other in (0..3).filter(|&m| m != follower) {
        net.unclog_link(cluster.node_id(follower), cluster.node_id(other));
        net.unclog_link(cluster.node_id(other), cluster.node_id(follower));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let follower_endpoint = endpoints[follower].clone();
    let seen = on_client_node(4, local_value(follower_endpoint, "key")).await;
    let last = format!("v{}", puts - 1);
    assert_eq!(
        seen.as_deref(),
        Some(last.as_str()),
        "the follower caught up"
    );
    assert!(
        snapshot_index(cluster.disk(follower)).is_some_and(|i| i >= leader_snapshot),
        "the follower holds the leader's snapshot"
    );
}

/// etcd force-commits its backend when it schedules a compaction, so a
/// crash right after it restarts from a backend that holds it. A member's
/// durable store here is its snapshot: a compaction takes one at once,
/// long before `snapshot_count` entries would.
#[madsim::test]
async fn a_compaction_is_in_a_snapshot_at_once_on_every_member() {
    let cluster = Arc::new(SimCluster::start(3, |member| member.snapshot_count = 1_000));
    let endpoints = cluster.endpoints();
    let revision = on_client_node(1, async move {
        let client = Client::new(endpoints, Duration::from_secs(1)).unwrap();
        for i in 0..5 {
            put_until_ok(&client, &format!("key{i}"), "v").await;
        }
        let deleted = client.delete("key4").await.expect("delete");
        let revision = deleted.header.expect("header").revision;
        client.compact(revision, false).await.expect("compact");
        tokio::time::sleep(Duration::from_secs(1)).await;
        revision
    })
    .await;
    assert!(revision > 5, "five puts and a delete: revision {revision}");
    for member in 0..3 {
        let index = snapshot_index(cluster.disk(member));
        assert!(
            index.is_some(),
            "member {member} took no snapshot for the compaction (1,000 entries are far off)"
        );
    }
}
