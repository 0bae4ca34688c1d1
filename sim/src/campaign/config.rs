//! What shapes one seed's run besides the seed's randomness: the fixed
//! shape, the swarm's per-seed draw, the long-haul run, and a schedule
//! file read back or written.

use std::time::Duration;

use etcd_sim::bugs::{Bug, BugSet};
use etcd_sim::crash::CrashPoint;
use etcd_sim::perturb::Perturbations;

use crate::actors::watchers::WATCHERS;
use crate::actors::workload::Workload;
use crate::faults::FaultSet;
use crate::shape::op_mix::OpMix;
use crate::shape::schedule::{FaultStep, Schedule};
use crate::shape::swarm::{self, Knobs};
use crate::shape::traffic::Traffic;

/// Everything that shapes a run besides the seed's randomness.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The seed: it fixes the schedule, the faults and the history.
    pub seed: u64,
    /// Cluster size.
    pub nodes: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Lease clients, beside the KV clients (see `actors::lease_clients`).
    pub lease_clients: usize,
    /// The load each client applies.
    pub workload: Workload,
    /// The faults the nemesis draws from during the chaos phase.
    pub faults: FaultSet,
    /// Bugs switched on in every member and client.
    pub bugs: BugSet,
    /// The crash points the `crash-point` fault chooses from.
    pub crash_points: Vec<CrashPoint>,
    /// Leak OS entropy into the trace, to prove that the determinism
    /// check notices (tests only).
    pub inject_nondeterminism: bool,
    /// Print the trace as the run goes (for `reproduce --trace -`).
    pub echo_trace: bool,
    /// Also trace the system's own events: raft messages, role changes,
    /// WAL recovery, snapshots (for `reproduce --trace`).
    pub details: bool,
    /// Timing, disk, network and fault-rate knobs (see `swarm`).
    pub knobs: Knobs,
    /// The nemesis's steps, if fixed (a replayed or shrunk schedule);
    /// `None` draws them from the seed.
    pub plan: Option<Vec<FaultStep>>,
    /// Members run raft with pre-vote.
    pub pre_vote: bool,
    /// Members run raft with check-quorum.
    pub check_quorum: bool,
    /// Watcher clients (see `actors/watchers.rs`) whose events the watch check
    /// judges.
    pub watchers: u32,
    /// Run the liveness phase (`--no-liveness` turns it off, for
    /// comparison with campaigns before it: the run then settles for 3 s
    /// after the heal instead, as they did).
    pub liveness: bool,
}

impl RunConfig {
    /// The default run: 3 members, 5 clients, 30 operations each on 3 keys,
    /// 2 watchers and one lease client, under every fault the nemesis knows.
    pub fn new(seed: u64) -> Self {
        let mut config = Self {
            seed,
            nodes: 3,
            clients: 5,
            lease_clients: 1,
            workload: Workload {
                traffic: Default::default(),
                ops_per_client: 30,
                duration: None,
                keys: 3,
                deadline: Duration::from_secs(7),
                // Set from the knobs below.
                perturbations: Perturbations::NONE,
                mix: OpMix::fixed(),
                compaction_percent: 0,
                value_padding: 0,
            },
            faults: FaultSet::all(),
            bugs: BugSet::NONE,
            knobs: Knobs::fixed(),
            crash_points: CrashPoint::ALL.to_vec(),
            echo_trace: false,
            details: false,
            inject_nondeterminism: false,
            plan: None,
            pre_vote: true,
            check_quorum: true,
            watchers: WATCHERS,
            liveness: true,
        };
        config.set_knobs(Knobs::fixed());
        config
    }

    /// The long-haul run `bench check` times: seed `seed` of the fixed
    /// shape with 11 clients of etcd traffic issuing puts, gets and deletes
    /// (2:2:1) for 10 simulated minutes under every fault, some 50,000
    /// operations; a history porcupine's kv model can check too. The same
    /// as `reproduce --seed SEED --shape fixed --clients 11 --traffic etcd
    /// --mix put=2,get=2,delete=1 --duration 600`.
    pub fn long_haul(seed: u64) -> Self {
        let mut config = RunConfig::new(seed);
        config.clients = 11;
        config.workload.traffic = Traffic::Etcd;
        config.workload.ops_per_client = usize::MAX;
        config.workload.duration = Some(Duration::from_secs(600));
        let mut knobs = config.knobs.clone();
        knobs.op_mix = "put=2,get=2,delete=1".parse().expect("a valid mix");
        config.set_knobs(knobs);
        config
    }

    /// Seed `seed` as the swarm draws it: its own cluster size, load,
    /// fault kinds and knobs (see `swarm`); the rest as [`RunConfig::new`].
    pub fn swarm(seed: u64) -> Self {
        let shape = swarm::draw(seed);
        let mut config = RunConfig::new(seed);
        config.nodes = shape.nodes;
        config.clients = shape.clients;
        config.workload.ops_per_client = shape.ops_per_client;
        config.workload.keys = shape.keys;
        config.faults = shape.faults;
        config.set_knobs(shape.knobs);
        config
    }

    /// Sets the knobs, and the workload's settings that come from them.
    pub fn set_knobs(&mut self, knobs: Knobs) {
        self.workload.perturbations = knobs.perturbation_set();
        self.workload.mix = knobs.op_mix.clone();
        self.workload.compaction_percent = knobs.compaction_percent;
        self.workload.value_padding = knobs.value_padding;
        self.knobs = knobs;
    }

    /// The run a schedule file describes.
    pub fn from_schedule(schedule: &Schedule) -> Result<Self, String> {
        let mut config = RunConfig::new(schedule.seed);
        config.nodes = schedule.nodes;
        config.clients = schedule.clients;
        config.workload.ops_per_client = schedule.ops_per_client;
        config.workload.duration = schedule.duration_ms.map(Duration::from_millis);
        config.workload.keys = schedule.keys;
        config.watchers = schedule.watchers;
        config.lease_clients = schedule.lease_clients;
        config.faults = schedule.fault_set()?;
        config.bugs = schedule.bug_set()?;
        config.plan = Some(schedule.plan.clone());
        config.pre_vote = schedule.pre_vote;
        config.check_quorum = schedule.check_quorum;
        config.set_knobs(schedule.knobs.clone());
        config.workload.traffic = schedule.traffic;
        Ok(config)
    }

    /// This run as a schedule with the nemesis steps `plan`.
    pub fn to_schedule(&self, plan: Vec<FaultStep>) -> Schedule {
        Schedule {
            seed: self.seed,
            nodes: self.nodes,
            clients: self.clients,
            ops_per_client: self.workload.ops_per_client,
            duration_ms: self.workload.duration.map(|d| d.as_millis() as u64),
            keys: self.workload.keys,
            watchers: self.watchers,
            lease_clients: self.lease_clients,
            bugs: Bug::ALL
                .into_iter()
                .filter(|&b| self.bugs.has(b))
                .map(|b| b.name().to_string())
                .collect(),
            faults: self.faults.to_string(),
            pre_vote: self.pre_vote,
            check_quorum: self.check_quorum,
            traffic: self.workload.traffic,
            knobs: self.knobs.clone(),
            plan,
        }
    }
}
