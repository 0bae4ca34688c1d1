//! The nemesis: faults, each named, seeded, and recorded with its
//! simulated time.
//!
//! Every fault is a pair of verbs (partition/heal, clog/unclog, kill/restart,
//! pause/resume) applied by [`Nemesis::inject`], which always undoes what it
//! did before it returns. A schedule ([`Nemesis::run`]) injects faults one
//! after another, with quiet gaps, until told to stop; the run then heals
//! and lets the cluster settle before the final reads.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use etcd_sim::crash::CrashPoint;
use etcd_sim_checker::report::MemberChange;
use madsim::net::NetSim;
use madsim::rand::{seq::SliceRandom, thread_rng, Rng};
use madsim::runtime::Handle;
use madsim::task::NodeId;
use tokio::sync::watch;

use crate::cluster::SimCluster;
use crate::faults::{FaultKind, FaultSet};
use crate::recorder::{FaultId, Recorder};
use crate::run::Clock;
use crate::schedule::FaultStep;

/// The longest delay after which madsim restarts a node whose task panicked.
const MADSIM_RESTART_DELAY_MAX: Duration = Duration::from_secs(10);

/// Injects faults into one cluster.
pub struct Nemesis {
    cluster: Arc<SimCluster>,
    recorder: Recorder,
    clock: Clock,
    crash_points: Vec<CrashPoint>,
}

impl Nemesis {
    /// A nemesis for `cluster` that records into `recorder`; the
    /// `crash-point` fault arms one of `crash_points`.
    pub fn new(
        cluster: Arc<SimCluster>,
        recorder: Recorder,
        clock: Clock,
        crash_points: Vec<CrashPoint>,
    ) -> Self {
        assert!(!crash_points.is_empty(), "no crash point to choose from");
        Self {
            cluster,
            recorder,
            clock,
            crash_points,
        }
    }

    /// Injects faults until `stop` turns true; each fault is healed before
    /// the next one starts and before this returns. Without a `plan`, steps
    /// are drawn from `faults` for as long as the clients run; with one, its
    /// steps are taken in order and the nemesis then stays quiet. Every step
    /// taken is recorded, so a drawn run can be replayed as a plan.
    pub async fn run(
        &self,
        faults: &FaultSet,
        plan: Option<&[FaultStep]>,
        mut stop: watch::Receiver<bool>,
    ) {
        let kinds: Vec<FaultKind> = faults.iter().collect();
        for n in 0.. {
            let drawn = (!kinds.is_empty()).then(|| draw_step(&kinds));
            // A plan still draws each step and discards it, and once it is
            // exhausted it keeps waiting out drawn quiet gaps: the seed's
            // random stream and the timers then stay exactly as they were
            // when the plan was drawn.
            let (step, planned) = match plan {
                Some(plan) => (plan.get(n).copied(), plan.get(n).is_some()),
                None => (drawn, drawn.is_some()),
            };
            let Some(step) = step.or(drawn) else {
                return;
            };
            if wait_or_stop(&mut stop, step.quiet()).await {
                return;
            }
            if planned {
                self.recorder.plan_step(step);
                self.inject(step.fault, step.duration()).await;
            }
        }
    }

    /// Applies `kind` for `duration`, then undoes it.
    pub async fn inject(&self, kind: FaultKind, duration: Duration) {
        let members = self.cluster.members().len();
        let everyone: Vec<usize> = (0..members).collect();
        match kind {
            FaultKind::KillLeader => {
                let Some(leader) = self.leader(kind).await else {
                    return;
                };
                self.kill_restart(&[leader], kind, duration, "leader").await;
            }
            FaultKind::Kill => {
                let victim = thread_rng().gen_range(0..members);
                self.kill_restart(&[victim], kind, duration, "").await;
            }
            FaultKind::KillAll => {
                self.kill_restart(&everyone, kind, duration, "power loss")
                    .await;
            }
            FaultKind::Pause => {
                let victim = thread_rng().gen_range(0..members);
                self.pause(victim, kind, duration, "").await;
            }
            FaultKind::PauseLeader => {
                let Some(leader) = self.leader(kind).await else {
                    return;
                };
                self.pause(leader, kind, duration, " (leader)").await;
            }
            FaultKind::Partition => {
                let order = shuffled(members);
                let minority = thread_rng().gen_range(1..=(members / 2).max(1));
                let (a, b) = order.split_at(minority);
                let detail = format!("{} | {}", self.names(a), self.names(b));
                self.cut(kind, self.between(a, b), duration, detail).await;
            }
            FaultKind::IsolateLeader => {
                let Some(leader) = self.leader(kind).await else {
                    return;
                };
                let others: Vec<usize> = everyone.into_iter().filter(|&m| m != leader).collect();
                let detail = format!(
                    "{} (leader) | {}",
                    self.cluster.name(leader),
                    self.names(&others)
                );
                self.cut(kind, self.between(&[leader], &others), duration, detail)
                    .await;
            }
            FaultKind::Bridge => {
                // A line a - bridge - b: each side sees the bridge but not the
                // other side, so each may believe it can reach a majority.
                let order = shuffled(members);
                let (bridge, rest) = order.split_first().expect("at least one member");
                let (a, b) = rest.split_at(rest.len() / 2);
                let detail = format!(
                    "{} - {} - {}",
                    self.names(a),
                    self.cluster.name(*bridge),
                    self.names(b)
                );
                self.cut(kind, self.between(a, b), duration, detail).await;
            }
            FaultKind::OneWayClog => {
                let order = shuffled(members);
                let (from, to) = (order[0], order[1 % members]);
                let link = (self.cluster.node_id(from), self.cluster.node_id(to));
                let detail = format!("{} -> {}", self.cluster.name(from), self.cluster.name(to));
                self.cut(kind, BTreeSet::from([link]), duration, detail)
                    .await;
            }
            FaultKind::PacketLoss => {
                let rate = thread_rng().gen_range(0.05..0.3);
                let fault = self.start(kind, format!("{:.0}% of packets", rate * 100.0));
                NetSim::current().update_config(|c| c.packet_loss_rate = rate);
                tokio::time::sleep(duration).await;
                NetSim::current().update_config(|c| c.packet_loss_rate = 0.0);
                self.end(fault);
            }
            FaultKind::CrashPoint => {
                let victim = thread_rng().gen_range(0..members);
                let point = *self
                    .crash_points
                    .choose(&mut thread_rng())
                    .expect("not empty");
                let detail = format!("{} at {point}", self.cluster.name(victim));
                let fault = self.start(kind, detail);
                let points = self.cluster.crash_points(victim);
                points.arm(point);
                if point.reached_on_restart() {
                    // Only a restart (or a leader's snapshot, which is
                    // rare) passes this point.
                    self.cluster.kill(victim);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    self.cluster.restart(victim);
                }
                let deadline = tokio::time::Instant::now() + duration;
                while points.is_armed() && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                if points.disarm() {
                    let note = format!("crash point {point} not reached");
                    self.recorder.note(self.clock.now_ns(), note);
                } else {
                    let name = self.cluster.name(victim);
                    let note = format!("crash point {point} fired; madsim restarts {name}");
                    self.recorder.note(self.clock.now_ns(), note);
                    let why = format!("crash point {point}");
                    let crashed = MemberChange::Crashed { why };
                    self.recorder
                        .member_event(self.clock.now_ns(), name, crashed);
                    // madsim restarts a crashed node 1 to 10 s later; no other
                    // fault may kill or restart it meanwhile, or the two
                    // restarts would overlap.
                    tokio::time::sleep(MADSIM_RESTART_DELAY_MAX).await;
                }
                self.end(fault);
            }
            FaultKind::SlowFsync => {
                let victim = thread_rng().gen_range(0..members);
                let latency = Duration::from_millis(thread_rng().gen_range(20..300));
                let detail = format!("{}: +{latency:?} per fsync", self.cluster.name(victim));
                let fault = self.start(kind, detail);
                self.cluster.disk(victim).set_sync_latency(latency);
                tokio::time::sleep(duration).await;
                self.cluster.disk(victim).set_sync_latency(Duration::ZERO);
                self.end(fault);
            }
            FaultKind::ClockSkew => {
                let victim = thread_rng().gen_range(0..members);
                let percent = if thread_rng().gen_bool(0.5) {
                    thread_rng().gen_range(25..80)
                } else {
                    thread_rng().gen_range(150..400)
                };
                let detail = format!("{}: clock at {percent}%", self.cluster.name(victim));
                let fault = self.start(kind, detail);
                self.cluster.clock(victim).set_percent(percent);
                tokio::time::sleep(duration).await;
                self.cluster.clock(victim).set_percent(100);
                self.end(fault);
            }
            FaultKind::TransferLeader => {
                let Some(leader) = self.leader(kind).await else {
                    return;
                };
                let others: Vec<usize> = everyone.into_iter().filter(|&m| m != leader).collect();
                let Some(&to) = others.choose(&mut thread_rng()) else {
                    return;
                };
                let detail = format!("{} -> {}", self.cluster.name(leader), self.cluster.name(to));
                let fault = self.start(kind, detail);
                let answer = self.cluster.move_leader(leader, to).await;
                let note = match answer {
                    Ok(()) => format!("leadership moved to {}", self.cluster.name(to)),
                    Err(e) => format!("move-leader failed: {e}"),
                };
                self.recorder.note(self.clock.now_ns(), note);
                // The fault's duration is the quiet the new leader gets.
                tokio::time::sleep(duration).await;
                self.end(fault);
            }
            FaultKind::LatencySpike => {
                let max = thread_rng().gen_range(50..500);
                let fault = self.start(kind, format!("1..{max} ms per packet"));
                let normal = madsim::net::Config::default().send_latency;
                NetSim::current().update_config(|c| {
                    c.send_latency = Duration::from_millis(1)..Duration::from_millis(max)
                });
                tokio::time::sleep(duration).await;
                NetSim::current().update_config(|c| c.send_latency = normal);
                self.end(fault);
            }
        }
    }

    async fn leader(&self, kind: FaultKind) -> Option<usize> {
        let leader = self.cluster.leader().await;
        if leader.is_none() {
            let note = format!("nemesis: {kind} skipped, no leader");
            self.recorder.note(self.clock.now_ns(), note);
        }
        leader
    }

    async fn pause(&self, victim: usize, kind: FaultKind, duration: Duration, why: &str) {
        let node = self.cluster.node_id(victim);
        let fault = self.start(kind, format!("{}{why}", self.cluster.name(victim)));
        let name = self.cluster.name(victim);
        Handle::current().pause(node);
        let now = self.clock.now_ns();
        self.recorder.member_event(now, name, MemberChange::Paused);
        tokio::time::sleep(duration).await;
        Handle::current().resume(node);
        let now = self.clock.now_ns();
        self.recorder.member_event(now, name, MemberChange::Resumed);
        self.end(fault);
    }

    async fn kill_restart(
        &self,
        victims: &[usize],
        kind: FaultKind,
        downtime: Duration,
        why: &str,
    ) {
        let mut detail = self.names(victims);
        if !why.is_empty() {
            detail = format!("{detail} ({why})");
        }
        let fault = self.start(kind, detail);
        for &victim in victims {
            self.cluster.kill(victim);
            let why = kind.name().to_string();
            let (now, name) = (self.clock.now_ns(), self.cluster.name(victim));
            self.recorder
                .member_event(now, name, MemberChange::Crashed { why });
        }
        tokio::time::sleep(downtime).await;
        for &victim in victims {
            self.cluster.restart(victim);
        }
        self.end(fault);
    }

    /// Clogs every link in `links` for `duration`.
    async fn cut(
        &self,
        kind: FaultKind,
        links: BTreeSet<(NodeId, NodeId)>,
        duration: Duration,
        detail: String,
    ) {
        let fault = self.start(kind, detail);
        for &(from, to) in &links {
            NetSim::current().clog_link(from, to);
        }
        tokio::time::sleep(duration).await;
        for &(from, to) in &links {
            NetSim::current().unclog_link(from, to);
        }
        self.end(fault);
    }

    /// Both directions of every link between a member of `a` and one of `b`.
    fn between(&self, a: &[usize], b: &[usize]) -> BTreeSet<(NodeId, NodeId)> {
        let mut links = BTreeSet::new();
        for &x in a {
            for &y in b {
                let (x, y) = (self.cluster.node_id(x), self.cluster.node_id(y));
                links.insert((x, y));
                links.insert((y, x));
            }
        }
        links
    }

    fn names(&self, members: &[usize]) -> String {
        let names: Vec<&str> = members.iter().map(|&m| self.cluster.name(m)).collect();
        names.join(",")
    }

    fn start(&self, kind: FaultKind, detail: String) -> FaultId {
        self.recorder
            .fault_started(kind.name(), detail, self.clock.now_ns())
    }

    fn end(&self, fault: FaultId) {
        self.recorder.fault_ended(fault, self.clock.now_ns());
    }
}

/// A step drawn from the seed: a quiet gap, a fault kind, its duration.
fn draw_step(kinds: &[FaultKind]) -> FaultStep {
    let quiet_ms = thread_rng().gen_range(200..1_500);
    let fault = *kinds.choose(&mut thread_rng()).expect("not empty");
    let duration_ms = thread_rng().gen_range(fault.durations()).as_millis() as u64;
    FaultStep {
        quiet_ms,
        fault,
        duration_ms,
    }
}

fn shuffled(members: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..members).collect();
    order.shuffle(&mut thread_rng());
    order
}

/// Sleeps for `duration` unless `stop` turns true first; returns whether it did.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        biased;
        _ = stop.wait_for(|&s| s) => true,
        _ = tokio::time::sleep(duration) => false,
    }
}
