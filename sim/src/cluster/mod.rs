//! A cluster of etcd-sim members on madsim nodes, and what the harness
//! does to it and reads from it: where every node of a run sits
//! ([`addresses`]), the run's clock ([`clock`]), the faults it suffers
//! ([`nemesis`]) and the members' own logs ([`observer`], [`details`]).
//!
//! Each member is a madsim node with its own IP whose init runs the real
//! server, [`etcd_sim::server::run`], on a [`SimDisk`] that the harness
//! keeps. A restart re-runs init, so the member comes back from what its disk
//! made durable and nothing else, as a restarted process does. A member that
//! reaches an armed crash point panics and madsim restarts it the same way.

pub mod addresses;
pub mod clock;
pub mod details;
pub mod nemesis;
pub mod observer;
pub mod replace;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_sim::client::Client;
use etcd_sim::clock::ClockRate;
use etcd_sim::crash::{CrashPoints, CRASH_PANIC};
use etcd_sim::proto::etcdserverpb::StatusRequest;
use etcd_sim::server::{Cluster, ClusterState, ServeError, ServerConfig};
use etcd_sim::storage::{Disk, SimDisk};
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::NodeId;

use crate::cluster::addresses::{AddressPlan, CLIENT_PORT, PEER_PORT};

pub use crate::cluster::addresses::operator_node;

/// Starts member `index` of `cluster` on a node and disk of its own.
fn spawn_member(
    cluster: Cluster,
    index: usize,
    state: ClusterState,
    configure: &impl Fn(&mut ServerConfig),
) -> SimMember {
    let (name, ip) = (
        AddressPlan::member_name(index),
        AddressPlan::member_ip(index),
    );
    let mut config = ServerConfig::new(
        &name,
        cluster.clone(),
        SocketAddr::new(ip, CLIENT_PORT),
        SocketAddr::new(ip, PEER_PORT),
    )
    .expect("the member is in the cluster it was built from");
    config.initial_cluster_state = state;
    configure(&mut config);
    let crash_points = config.crash_points.clone();
    let clock = config.clock.clone();
    let disk = SimDisk::new();
    let member_disk = disk.clone();
    // Whether the next start joins the running cluster: once the member was
    // replaced, an empty disk must not start a cluster of its own.
    let joins = Arc::new(AtomicBool::new(state == ClusterState::Existing));
    let joining = joins.clone();
    // A process that returns from main is gone, tasks and all: the node
    // kills itself, which it can name only once it is built.
    let this_node = Arc::new(std::sync::OnceLock::new());
    let exited = this_node.clone();
    let node = Handle::current()
        .create_node()
        .name(&name)
        .ip(ip)
        .restart_on_panic_matching(CRASH_PANIC)
        .init(move || {
            let mut config = config.clone();
            if joining.load(Ordering::Relaxed) {
                config.initial_cluster_state = ClusterState::Existing;
            }
            let disk = disk.clone();
            let exited = exited.clone();
            async move {
                // A process (re)starts with what its disk made
                // durable: whatever was not synced when the last
                // incarnation died is gone, except what the page
                // cache wrote back by chance (see `power_loss`).
                disk.power_loss();
                let disk: Arc<dyn Disk> = Arc::new(disk);
                match etcd_sim::server::run(config, disk).await {
                    // A removed member's process exits, and stays down.
                    Err(ServeError::Removed) | Ok(()) => {
                        let node = *exited.get().expect("set once built");
                        Handle::current().kill(node);
                    }
                    Err(e) => panic!("member stopped: {e}"),
                }
            }
        })
        .build();
    this_node.set(node.id()).expect("set once");
    SimMember {
        id: AtomicU64::new(cluster.member(&name).expect("built above").id),
        retired: Mutex::new(Vec::new()),
        joins,
        in_cluster: AtomicBool::new(true),
        name,
        ip,
        node,
        disk: member_disk,
        crash_points,
        clock,
    }
}

/// One member: its node, its disk and the switch of its crash points.
pub struct SimMember {
    /// Its `--name`, `n1`, `n2`, …
    pub name: String,
    /// Its IP on the simulated network.
    pub ip: IpAddr,
    /// Its raft and member id, which a replacement changes.
    id: AtomicU64,
    /// The ids it had before, each removed from the cluster when the slot
    /// took the next.
    retired: Mutex<Vec<u64>>,
    /// Whether it starts as a member joining the running cluster.
    joins: Arc<AtomicBool>,
    /// Whether it is in the cluster (a spare slot is not until a member
    /// is added in it, and leaves it when that member is removed).
    in_cluster: AtomicBool,
    node: NodeHandle,
    disk: SimDisk,
    crash_points: CrashPoints,
    clock: ClockRate,
}

impl SimMember {
    /// Its raft and member id now.
    pub fn id(&self) -> u64 {
        self.id.load(Ordering::Relaxed)
    }

    /// Whether `id` is one this slot had before its current one.
    pub fn retired(&self, id: u64) -> bool {
        self.retired.lock().unwrap().contains(&id)
    }

    /// Its madsim node.
    pub fn node_id(&self) -> NodeId {
        self.node.id()
    }

    /// Where it serves clients.
    pub fn endpoint(&self) -> String {
        AddressPlan::client_url(self.ip)
    }
}

/// The members of one simulated cluster, and the spare slots a grown
/// cluster's extra members take.
pub struct SimCluster {
    /// The members it started with, then the spares.
    slots: Vec<SimMember>,
    /// How many it started with.
    size: usize,
    /// Told of every new id a slot takes, before its member starts.
    new_ids: std::sync::Mutex<Option<NewIdHook>>,
}

/// What [`SimCluster::on_new_id`] calls: the id, and the slot's name.
type NewIdHook = Box<dyn Fn(u64, &str) + Send + Sync>;

impl SimCluster {
    /// Starts `size` members at their addresses
    /// ([`AddressPlan::member_ip`]) in the current runtime; `configure`
    /// adjusts each member's configuration first.
    pub fn start(size: usize, configure: impl Fn(&mut ServerConfig)) -> Self {
        Self::start_with_spares(size, 0, configure)
    }

    /// As [`SimCluster::start`], with `spares` more slots after the
    /// members (`n{size+1}`, …) that stay down until a member is added in
    /// one ([`SimCluster::grow_into`]).
    pub fn start_with_spares(
        size: usize,
        spares: usize,
        configure: impl Fn(&mut ServerConfig),
    ) -> Self {
        let peers = |slots: std::ops::Range<usize>| {
            slots.map(|i| {
                let peer_url = AddressPlan::peer_url(AddressPlan::member_ip(i));
                (AddressPlan::member_name(i), peer_url)
            })
        };
        let cluster = Cluster::new("etcd-sim", peers(0..size));
        let mut slots: Vec<SimMember> = (0..size)
            .map(|i| spawn_member(cluster.clone(), i, ClusterState::New, &configure))
            .collect();
        for spare in size..size + spares {
            // It knows the initial members and itself; joining, it asks
            // them for the cluster as it is.
            let cluster = Cluster::new("etcd-sim", peers(0..size).chain(peers(spare..spare + 1)));
            let member = spawn_member(cluster, spare, ClusterState::Existing, &configure);
            // Down until added: killed before its first instruction ran.
            Handle::current().kill(member.node.id());
            member.in_cluster.store(false, Ordering::Relaxed);
            slots.push(member);
        }
        Self {
            slots,
            size,
            new_ids: std::sync::Mutex::new(None),
        }
    }

    /// Calls `hook` with every new id a slot takes (a member replaced, or
    /// added in a spare), before the member starts and logs under it.
    pub fn on_new_id(&self, hook: impl Fn(u64, &str) + Send + Sync + 'static) {
        *self.new_ids.lock().unwrap() = Some(Box::new(hook));
    }

    /// Slot `index` goes by `id` from now on.
    fn take_id(&self, index: usize, id: u64) {
        let member = &self.slots[index];
        let old = member.id.swap(id, Ordering::Relaxed);
        if old != id {
            member.retired.lock().unwrap().push(old);
        }
        if let Some(hook) = self.new_ids.lock().unwrap().as_ref() {
            hook(id, &member.name);
        }
    }

    /// Starts member `index` as a member that joins this running cluster
    /// (`--initial-cluster-state existing`), on a disk of its own; `member
    /// add` must have told the cluster of its peer URL
    /// ([`AddressPlan::peer_url`] of [`AddressPlan::member_ip`]`(index)`).
    /// `id` is the one `member add` answered with.
    pub fn join(&self, index: usize, id: u64, configure: impl Fn(&mut ServerConfig)) -> SimMember {
        let cluster = Cluster::new(
            "etcd-sim",
            self.members()
                .iter()
                .map(|m| (m.name.clone(), AddressPlan::peer_url(m.ip)))
                .chain([(
                    AddressPlan::member_name(index),
                    AddressPlan::peer_url(AddressPlan::member_ip(index)),
                )]),
        );
        let member = spawn_member(cluster, index, ClusterState::Existing, &configure);
        member.id.store(id, Ordering::Relaxed);
        member
    }

    /// The members the cluster started with, in order of name: the ones
    /// faults name.
    pub fn members(&self) -> &[SimMember] {
        &self.slots[..self.size]
    }

    /// The number of members it started with: the slots after them are
    /// spares.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Every slot, the spares after the members it started with.
    pub fn slots(&self) -> &[SimMember] {
        &self.slots
    }

    /// The slots in the cluster now: the members it started with (unless
    /// removed for good) and the spares a member was added in.
    pub fn in_cluster(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].in_cluster.load(Ordering::Relaxed))
            .collect()
    }

    /// The spare slots no member is in now.
    pub fn free_spares(&self) -> Vec<usize> {
        (self.size..self.slots.len())
            .filter(|&i| !self.slots[i].in_cluster.load(Ordering::Relaxed))
            .collect()
    }

    /// A member with id `id` was added in spare slot `index`: it starts
    /// now, joining the running cluster.
    pub fn grow_into(&self, index: usize, id: u64) {
        self.take_id(index, id);
        let member = &self.slots[index];
        member.in_cluster.store(true, Ordering::Relaxed);
        Handle::current().restart(member.node.id());
    }

    /// Slot `index` holds member `id` from now on, a new member joining
    /// the running cluster: what ran there stops, its data is wiped, and
    /// it starts afresh.
    pub fn start_afresh(&self, index: usize, id: u64) {
        let member = &self.slots[index];
        Handle::current().kill(member.node.id());
        member.disk.wipe();
        self.take_id(index, id);
        member.joins.store(true, Ordering::Relaxed);
        member.in_cluster.store(true, Ordering::Relaxed);
        Handle::current().restart(member.node.id());
    }

    /// The member in spare slot `index` was removed: its process is
    /// stopped (if it did not stop by itself) and its data wiped, and the
    /// slot is free again.
    pub fn shrink_from(&self, index: usize) {
        assert!(index >= self.size, "only a spare slot is given up");
        let member = &self.slots[index];
        Handle::current().kill(member.node.id());
        member.disk.wipe();
        member.in_cluster.store(false, Ordering::Relaxed);
    }

    /// The madsim node of member `index`.
    pub fn node_id(&self, index: usize) -> NodeId {
        self.slots[index].node.id()
    }

    /// The name of member `index`.
    pub fn name(&self, index: usize) -> &str {
        &self.slots[index].name
    }

    /// The disk of member `index`, which outlives its incarnations.
    pub fn disk(&self, index: usize) -> &SimDisk {
        &self.slots[index].disk
    }

    /// The clock rate of member `index`.
    pub fn clock(&self, index: usize) -> &ClockRate {
        &self.slots[index].clock
    }

    /// The crash points of member `index`.
    pub fn crash_points(&self, index: usize) -> &CrashPoints {
        &self.slots[index].crash_points
    }

    /// The client URL of every slot in the cluster now
    /// ([`SimCluster::in_cluster`]).
    pub fn endpoints(&self) -> Vec<String> {
        self.in_cluster()
            .into_iter()
            .map(|i| self.slots[i].endpoint())
            .collect()
    }

    /// The client URL of slot `index`.
    pub fn endpoint(&self, index: usize) -> String {
        self.slots[index].endpoint()
    }

    /// Kills member `index` like a power loss: its tasks die, and when it
    /// restarts, its disk has lost what was not synced.
    pub fn kill(&self, index: usize) {
        Handle::current().kill(self.slots[index].node.id());
    }

    /// Whether member `index`'s process has stopped (killed, or exited by
    /// itself, as a removed member's does).
    pub fn has_stopped(&self, index: usize) -> bool {
        Handle::current().is_exit(self.slots[index].node.id())
    }

    /// Member `index` was removed from the cluster and added back as a new
    /// member with id `id` (etcd robustness's MemberReplace): from now on
    /// it starts as a member joining the running cluster.
    pub fn replaced(&self, index: usize, id: u64) {
        self.take_id(index, id);
        let member = &self.slots[index];
        member.joins.store(true, Ordering::Relaxed);
    }

    /// Where member `index`'s peers reach it.
    pub fn peer_url(&self, index: usize) -> String {
        AddressPlan::peer_url(self.slots[index].ip)
    }

    /// Starts member `index` again from its disk.
    pub fn restart(&self, index: usize) {
        Handle::current().restart(self.slots[index].node.id());
    }

    /// The index of the member that most members report as leader, if any.
    /// Call it from a node that has network access.
    pub async fn leader(&self) -> Option<usize> {
        let mut votes: Vec<u64> = Vec::new();
        for endpoint in self.endpoints() {
            let Ok(client) = Client::new([endpoint], Duration::from_millis(500)) else {
                continue;
            };
            let status = async {
                let mut maintenance = client.maintenance().await.ok()?;
                maintenance.status(StatusRequest {}).await.ok()
            };
            if let Ok(Some(status)) = tokio::time::timeout(Duration::from_secs(1), status).await {
                votes.push(status.into_inner().leader);
            }
        }
        let leader = votes
            .iter()
            .copied()
            .filter(|&id| id != 0)
            .max_by_key(|id| votes.iter().filter(|v| *v == id).count())?;
        self.slots.iter().position(|m| m.id() == leader)
    }

    /// Waits until every member follows the same leader (elections take a
    /// few seconds after a start or a power loss, and a member that knows
    /// no leader drops proposals). Panics after 20 s without one.
    pub async fn settle(&self) {
        for _ in 0..100 {
            let mut leaders = Vec::new();
            for endpoint in self.endpoints() {
                let member = Client::new([endpoint], Duration::from_millis(500)).unwrap();
                leaders.push(member.status().await.map_or(0, |s| s.leader));
            }
            if leaders[0] != 0 && leaders.iter().all(|&l| l == leaders[0]) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("no leader within 20 s");
    }

    /// Asks member `from` to hand leadership to member `to` through the
    /// Maintenance API, as `etcdctl move-leader` does; returns the server's
    /// answer (an error if `from` does not lead, or the move timed out).
    pub async fn move_leader(&self, from: usize, to: usize) -> Result<(), String> {
        let endpoint = self.endpoint(from);
        let client =
            Client::new([endpoint], Duration::from_millis(500)).map_err(|e| e.to_string())?;
        let moved = client.move_leader(self.slots[to].id());
        match tokio::time::timeout(Duration::from_secs(7), moved).await {
            Ok(answer) => answer.map_err(|e| e.to_string()),
            Err(_) => Err("no answer".to_string()),
        }
    }
}

/// Calls `call` every 200 ms until it succeeds, for up to 20 s, as a test
/// that drives a cluster waits out an election or a member catching up.
///
/// # Panics
/// With `what` and the last error, if it never succeeds.
pub async fn eventually<T, E, F, Fut>(what: &str, mut call: F) -> T
where
    E: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut last = None;
    for _ in 0..100 {
        match call().await {
            Ok(value) => return value,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: still failing after 20 s: {last:?}");
}
