//! The nemesis: faults, each drawn whole, applied, held, undone, and
//! recorded with its simulated time.
//!
//! A step is drawn first, as data ([`Fault`]: kind, victims, parameters,
//! and a duration), from the nemesis's own random stream, seeded from the
//! run's seed; so the faults a seed draws do not depend on what the clients
//! drew meanwhile, and a recorded step replays as it ran. [`Nemesis::inject`]
//! then resolves the fault against the cluster as it is (who leads), applies
//! it, holds it and always undoes it before it returns. A schedule
//! ([`Nemesis::run`]) injects faults one after another, with quiet gaps,
//! until told to stop; the run then heals and lets the cluster settle.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_sim::crash::CrashPoint;
use etcd_sim_checker::report::MemberChange;
use madsim::net::NetSim;
use madsim::runtime::Handle;
use madsim::task::NodeId;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cluster::clock::Clock;
use crate::cluster::replace::{
    grow, reconcile, replace, shrink, Reconciled, Replaced, Replacement,
};
use crate::cluster::SimCluster;
use crate::faults::{ChangeFault, Fault, FaultKind, FaultSet, Member, MidChange};
use crate::record::recorder::{FaultId, Recorder};
use crate::shape::schedule::FaultStep;
use crate::shape::swarm::Knobs;

/// Mixed into the seed for the nemesis's own random stream, so that it
/// differs from every other stream seeded with the same seed.
const NEMESIS_STREAM: u64 = 0x6e65_6d65_7369_7321;

/// The longest delay after which madsim restarts a node whose task panicked.
const MADSIM_RESTART_DELAY_MAX: Duration = Duration::from_secs(10);
/// How long a victim's fsyncs stall before a crash or power loss (see
/// [`Nemesis::stall_disks`]).
const FSYNC_STALL: Duration = Duration::from_millis(300);

/// Injects faults into one cluster.
pub struct Nemesis {
    cluster: Arc<SimCluster>,
    recorder: Recorder,
    clock: Clock,
    crash_points: Vec<CrashPoint>,
    seed: u64,
    knobs: Knobs,
    /// The spare slots a grow-shrink fault grew into, until it shrinks.
    grown: Mutex<Vec<usize>>,
    /// The timer of a pause or a partition in the middle of a change.
    amid: Mutex<Option<JoinHandle<()>>>,
}

impl Nemesis {
    /// A nemesis for `cluster` that records into `recorder` and draws its
    /// faults from a stream seeded with `seed`, at the rates and lengths
    /// `knobs` give, restoring the network `knobs` describe when a network
    /// fault ends; the `crash-point` fault arms one of `crash_points`.
    pub fn new(
        cluster: Arc<SimCluster>,
        recorder: Recorder,
        clock: Clock,
        crash_points: Vec<CrashPoint>,
        seed: u64,
        knobs: Knobs,
    ) -> Self {
        assert!(!crash_points.is_empty(), "no crash point to choose from");
        Self {
            cluster,
            recorder,
            clock,
            crash_points,
            seed,
            knobs,
            grown: Mutex::new(Vec::new()),
            amid: Mutex::new(None),
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
        let members = self.cluster.members().len();
        let mut rng = StdRng::seed_from_u64(self.seed ^ NEMESIS_STREAM);
        for n in 0.. {
            let drawn = (!kinds.is_empty()).then(|| self.draw_step(&kinds, members, &mut rng));
            // Once a plan is exhausted the nemesis keeps waiting out drawn
            // quiet gaps, injecting nothing: the timers then stay as they
            // were in the run the plan was drawn from.
            let (step, planned) = match plan {
                Some(plan) => (plan.get(n).cloned(), plan.get(n).is_some()),
                None => (drawn.clone(), drawn.is_some()),
            };
            let Some(step) = step.or(drawn) else {
                return;
            };
            if wait_or_stop(&mut stop, step.quiet()).await {
                return;
            }
            if planned {
                self.recorder.plan_step(step.clone());
                self.inject(&step.fault, step.duration()).await;
            }
        }
    }

    /// Applies `fault` for `duration`, then undoes it; a fault aimed at the
    /// leader is skipped (and noted) when there is none.
    pub async fn inject(&self, fault: &Fault, duration: Duration) {
        let kind = fault.kind();
        let Some((resolved, detail)) = self.resolve(fault).await else {
            return;
        };
        let id = self.start(kind, detail);
        self.apply(kind, &resolved).await;
        self.hold(&resolved, duration).await;
        self.undo(&resolved).await;
        self.end(id);
    }

    /// Whom `fault` hits, now, and how the trace describes it.
    async fn resolve(&self, fault: &Fault) -> Option<(Resolved, String)> {
        let members = self.cluster.members().len();
        let everyone: Vec<usize> = (0..members).collect();
        let but = |out: &[usize]| -> Vec<usize> {
            everyone
                .iter()
                .copied()
                .filter(|m| !out.contains(m))
                .collect()
        };
        let indices = |ms: &[Member]| -> Vec<usize> { ms.iter().map(|m| m.0).collect() };
        let name = |m: usize| self.cluster.name(m).to_string();
        Some(match fault {
            Fault::KillLeader => {
                let leader = self.leader(fault).await?;
                (
                    Resolved::Kill(vec![leader]),
                    format!("{} (leader)", name(leader)),
                )
            }
            Fault::Kill { member } => (Resolved::Kill(vec![member.0]), name(member.0)),
            Fault::KillAll => {
                let detail = format!("{} (power loss)", self.names(&everyone));
                (Resolved::Kill(everyone), detail)
            }
            Fault::Pause { member } => (Resolved::Pause(member.0), name(member.0)),
            Fault::PauseLeader => {
                let leader = self.leader(fault).await?;
                (
                    Resolved::Pause(leader),
                    format!("{} (leader)", name(leader)),
                )
            }
            Fault::Partition { minority } => {
                let (a, b) = (indices(minority), but(&indices(minority)));
                let detail = format!("{} | {}", self.names(&a), self.names(&b));
                (Resolved::Cut(self.between(&a, &b)), detail)
            }
            Fault::IsolateLeader => {
                let leader = self.leader(fault).await?;
                let others = but(&[leader]);
                let detail = format!("{} (leader) | {}", name(leader), self.names(&others));
                (Resolved::Cut(self.between(&[leader], &others)), detail)
            }
            Fault::Bridge { bridge, side } => {
                // A line a - bridge - b: each side sees the bridge but not
                // the other side, so each may believe it can reach a majority.
                let a = indices(side);
                let b = but(&[&a[..], &[bridge.0]].concat());
                let detail = format!(
                    "{} - {} - {}",
                    self.names(&a),
                    name(bridge.0),
                    self.names(&b)
                );
                (Resolved::Cut(self.between(&a, &b)), detail)
            }
            Fault::OneWayClog { from, to } => {
                let link = (self.cluster.node_id(from.0), self.cluster.node_id(to.0));
                let detail = format!("{} -> {}", name(from.0), name(to.0));
                (Resolved::Cut(BTreeSet::from([link])), detail)
            }
            Fault::PacketLoss { percent } => (
                Resolved::PacketLoss(f64::from(*percent) / 100.0),
                format!("{percent}% of packets"),
            ),
            Fault::LatencySpike { max_ms } => (
                Resolved::Latency(Duration::from_millis(*max_ms)),
                format!("1..{max_ms} ms per packet"),
            ),
            Fault::CrashPoint { member, point } => (
                Resolved::CrashPoint(member.0, *point),
                format!("{} at {point}", name(member.0)),
            ),
            Fault::SlowFsync { member, latency_ms } => {
                let latency = Duration::from_millis(*latency_ms);
                let detail = format!("{}: +{latency:?} per fsync", name(member.0));
                (Resolved::SlowFsync(member.0, latency), detail)
            }
            Fault::ClockSkew { member, percent } => (
                Resolved::ClockSkew(member.0, *percent),
                format!("{}: clock at {percent}%", name(member.0)),
            ),
            Fault::TransferLeader { offset } => {
                let leader = self.leader(fault).await?;
                let to = (leader + offset) % members;
                if to == leader {
                    return None;
                }
                let detail = format!("{} -> {}", name(leader), name(to));
                (Resolved::TransferLeader { to }, detail)
            }
            Fault::MemberReplace {
                member,
                learner,
                down_first,
                amid,
            } => {
                if members == 1 {
                    let note = "nemesis: member-replace skipped, the only member cannot go";
                    self.recorder.note(self.clock.now_ns(), note);
                    return None;
                }
                let down = if *down_first { " (stopped first)" } else { "" };
                let how = if *learner { " (back as a learner)" } else { "" };
                let detail = format!("{}{down}{how}{}", name(member.0), amid_detail(amid));
                let how = Replacement {
                    learner: *learner,
                    down_first: *down_first,
                };
                (Resolved::Replace(member.0, how, *amid), detail)
            }
            Fault::RemoveLeader { learner, amid } => {
                if members == 1 {
                    let note = "nemesis: remove-leader skipped, the only member cannot go";
                    self.recorder.note(self.clock.now_ns(), note);
                    return None;
                }
                let leader = self.leader(fault).await?;
                // The member that crashes mid-change is never the one changed.
                let amid = amid.filter(|c| c.member.0 != leader);
                let how = if *learner { ", back as a learner" } else { "" };
                let detail = format!("{} (leader){how}{}", name(leader), amid_detail(&amid));
                let how = Replacement {
                    learner: *learner,
                    down_first: false,
                };
                (Resolved::Replace(leader, how, amid), detail)
            }
            Fault::GrowShrink { amid } => {
                let spares = self.cluster.free_spares();
                if spares.is_empty() {
                    let note = "nemesis: grow-shrink skipped, no spare slot is free";
                    self.recorder.note(self.clock.now_ns(), note);
                    return None;
                }
                let detail = format!("+{}{}", self.names(&spares), amid_detail(amid));
                (Resolved::GrowShrink(spares, *amid), detail)
            }
        })
    }

    async fn apply(&self, kind: FaultKind, resolved: &Resolved) {
        let now = || self.clock.now_ns();
        match resolved {
            Resolved::Kill(victims) => {
                self.stall_disks(victims, FSYNC_STALL).await;
                for &victim in victims {
                    self.cluster.kill(victim);
                    let why = kind.name().to_string();
                    let name = self.cluster.name(victim);
                    self.recorder
                        .member_event(now(), name, MemberChange::Crashed { why });
                }
                self.stall_disks(victims, Duration::ZERO).await;
            }
            Resolved::Pause(victim) => {
                Handle::current().pause(self.cluster.node_id(*victim));
                let name = self.cluster.name(*victim);
                self.recorder
                    .member_event(now(), name, MemberChange::Paused);
            }
            Resolved::Cut(links) => {
                for &(from, to) in links {
                    NetSim::current().clog_link(from, to);
                }
            }
            Resolved::PacketLoss(rate) => {
                NetSim::current().update_config(|c| c.packet_loss_rate = *rate);
            }
            Resolved::Latency(max) => NetSim::current().update_config(|c| {
                c.send_latency = Duration::from_millis(1)..*max;
            }),
            Resolved::CrashPoint(victim, point) => {
                self.cluster.crash_points(*victim).arm(*point);
                if point.reached_on_restart() {
                    // Only a restart (or a leader's snapshot, which is
                    // rare) passes this point.
                    self.cluster.kill(*victim);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    self.cluster.restart(*victim);
                }
            }
            Resolved::SlowFsync(victim, latency) => {
                self.cluster.disk(*victim).set_sync_latency(*latency);
            }
            Resolved::ClockSkew(victim, percent) => {
                self.cluster.clock(*victim).set_percent(*percent);
            }
            Resolved::TransferLeader { to } => {
                let leader = self.cluster.leader().await;
                let answer = match leader {
                    Some(leader) => self.cluster.move_leader(leader, *to).await,
                    None => Err("no leader any more".to_string()),
                };
                let note = match answer {
                    Ok(()) => format!("leadership moved to {}", self.cluster.name(*to)),
                    Err(e) => format!("move-leader failed: {e}"),
                };
                self.recorder.note(now(), note);
            }
            Resolved::Replace(victim, how, amid) => {
                self.arm(amid);
                let name = self.cluster.name(*victim).to_string();
                let note = match replace(&self.cluster, *victim, *how).await {
                    Replaced::StaleNotStopped(why) => {
                        let evidence = format!("{name}: {why}");
                        self.recorder.broken(now(), "membership", evidence);
                        format!("{name} removed while down did not stop")
                    }
                    Replaced::NotRemoved(why) => format!("{name} not removed: {why}"),
                    Replaced::NotAdded(why) => {
                        let why = format!("member-replace: removed, not added back: {why}");
                        self.recorder
                            .member_event(now(), &name, MemberChange::Crashed { why });
                        format!("{name} removed and not added back")
                    }
                    Replaced::Back { id, learner } => {
                        let why = "member-replace: removed, data wiped".to_string();
                        self.recorder
                            .member_event(now(), &name, MemberChange::Crashed { why });
                        let role = if learner { "a learner" } else { "a voter" };
                        format!("{name} back as {id:x}, {role}")
                    }
                };
                self.recorder.note(now(), note);
            }
            Resolved::GrowShrink(spares, amid) => {
                self.arm(amid);
                let (grown, stopped) = grow(&self.cluster, spares).await;
                let note = match stopped {
                    None => format!("grown by {}", self.names(&grown)),
                    Some(why) => format!("grown by {} only: {why}", self.names(&grown)),
                };
                self.recorder.note(now(), note);
                *self.grown.lock().unwrap() = grown;
            }
        }
    }

    /// Starts the fault a membership change may carry in its middle: a
    /// crash point is armed for the whole change; a pause or a partition
    /// comes and goes on a timer of its own while the change goes on.
    fn arm(&self, amid: &Option<ChangeFault>) {
        let Some(ChangeFault { member, what }) = *amid else {
            return;
        };
        let (cluster, recorder, clock) = (self.cluster.clone(), self.recorder.clone(), self.clock);
        let name = self.cluster.name(member.0).to_string();
        let task = match what {
            MidChange::Crash { point } => {
                self.cluster.crash_points(member.0).arm(point);
                return;
            }
            MidChange::Pause { after_ms, hold_ms } => tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(after_ms)).await;
                let node = cluster.node_id(member.0);
                Handle::current().pause(node);
                recorder.member_event(clock.now_ns(), &name, MemberChange::Paused);
                tokio::time::sleep(Duration::from_millis(hold_ms)).await;
                Handle::current().resume(node);
                recorder.member_event(clock.now_ns(), &name, MemberChange::Resumed);
            }),
            MidChange::Isolate { after_ms, hold_ms } => {
                let links = self.isolation(member.0);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(after_ms)).await;
                    for &(from, to) in &links {
                        NetSim::current().clog_link(from, to);
                    }
                    tokio::time::sleep(Duration::from_millis(hold_ms)).await;
                    for &(from, to) in &links {
                        NetSim::current().unclog_link(from, to);
                    }
                })
            }
        };
        *self.amid.lock().unwrap() = Some(task);
    }

    /// Ends the fault a membership change carried: a pause or a partition
    /// has run its course (a change shorter than its timer waits for it),
    /// a crash point that did not fire is disarmed, and one that fired is
    /// noted, its member left to madsim's restart.
    async fn disarm(&self, amid: &Option<ChangeFault>) {
        let Some(ChangeFault { member, what }) = *amid else {
            return;
        };
        let timed = self.amid.lock().unwrap().take();
        if let Some(task) = timed {
            task.await.expect("a mid-change fault's timer panicked");
        }
        let MidChange::Crash { point } = what else {
            return;
        };
        if self.cluster.crash_points(member.0).disarm() {
            return;
        }
        let (now, name) = (self.clock.now_ns(), self.cluster.name(member.0));
        let note = format!("crash point {point} fired; madsim restarts {name}");
        self.recorder.note(now, note);
        let why = format!("crash point {point}");
        self.recorder
            .member_event(now, name, MemberChange::Crashed { why });
        tokio::time::sleep(MADSIM_RESTART_DELAY_MAX).await;
    }

    /// Both directions of every link between slot `slot` and every other
    /// slot (the spares too: a member may be added in one meanwhile).
    fn isolation(&self, slot: usize) -> BTreeSet<(NodeId, NodeId)> {
        let others: Vec<usize> = (0..self.cluster.slots().len())
            .filter(|&s| s != slot)
            .collect();
        self.between(&[slot], &others)
    }

    /// A crash or a power loss seldom strikes disks at rest: before it, the
    /// victims' fsyncs stall for a while under the clients' load, so that
    /// what was written but not yet synced piles up, and saves that began
    /// meanwhile (a WAL append, a snapshot file) are cut off halfway.
    /// Without the stall the window between a write and its fsync is a few
    /// milliseconds, and a bug that lives there (an answer sent ahead of its
    /// fsync, old files removed before the new one is durable) is caught
    /// only by the luck of the crash's timing. `stall` is added to each
    /// victim's fsync latency, and the crash comes half of it later;
    /// `Duration::ZERO` ends the stall.
    async fn stall_disks(&self, victims: &[usize], stall: Duration) {
        // The leader's disk stays quick: it acknowledges its own entries
        // only once synced, so a stalled leader would commit nothing.
        let leader = match stall.is_zero() {
            true => None,
            false => self.cluster.leader().await,
        };
        let stalled: Vec<usize> = victims
            .iter()
            .copied()
            .filter(|&v| Some(v) != leader)
            .collect();
        for &victim in &stalled {
            self.cluster.disk(victim).set_sync_latency(stall);
        }
        if !stall.is_zero() && !stalled.is_empty() {
            let note = format!(
                "fsyncs of {} stall {} ms before the crash",
                self.names(&stalled),
                stall.as_millis()
            );
            self.recorder.note(self.clock.now_ns(), note);
            tokio::time::sleep(stall / 2).await;
        }
    }

    /// Holds the fault for `duration`; an armed crash point is held only
    /// until it fires.
    async fn hold(&self, resolved: &Resolved, duration: Duration) {
        if let Resolved::CrashPoint(victim, _) = resolved {
            let points = self.cluster.crash_points(*victim);
            let deadline = tokio::time::Instant::now() + duration;
            while points.is_armed() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        } else {
            // A leadership transfer's duration is the quiet the new leader gets.
            tokio::time::sleep(duration).await;
        }
    }

    async fn undo(&self, resolved: &Resolved) {
        let now = || self.clock.now_ns();
        match resolved {
            Resolved::Kill(victims) => {
                for &victim in victims {
                    self.cluster.restart(victim);
                }
            }
            Resolved::Pause(victim) => {
                Handle::current().resume(self.cluster.node_id(*victim));
                let name = self.cluster.name(*victim);
                self.recorder
                    .member_event(now(), name, MemberChange::Resumed);
            }
            Resolved::Cut(links) => {
                for &(from, to) in links {
                    NetSim::current().unclog_link(from, to);
                }
            }
            Resolved::PacketLoss(_) => {
                let normal = self.knobs.net_loss();
                NetSim::current().update_config(|c| c.packet_loss_rate = normal);
            }
            Resolved::Latency(_) => {
                let normal = self.knobs.net_latency();
                NetSim::current().update_config(|c| c.send_latency = normal);
            }
            Resolved::CrashPoint(victim, point) => {
                if self.cluster.crash_points(*victim).disarm() {
                    let note = format!("crash point {point} not reached");
                    self.recorder.note(now(), note);
                    return;
                }
                let name = self.cluster.name(*victim);
                let note = format!("crash point {point} fired; madsim restarts {name}");
                self.recorder.note(now(), note);
                let why = format!("crash point {point}");
                self.recorder
                    .member_event(now(), name, MemberChange::Crashed { why });
                // madsim restarts a crashed node 1 to 10 s later; no other
                // fault may kill or restart it meanwhile, or the two
                // restarts would overlap.
                tokio::time::sleep(MADSIM_RESTART_DELAY_MAX).await;
            }
            Resolved::SlowFsync(victim, _) => {
                self.cluster.disk(*victim).set_sync_latency(Duration::ZERO);
            }
            Resolved::ClockSkew(victim, _) => self.cluster.clock(*victim).set_percent(100),
            Resolved::TransferLeader { .. } => {}
            Resolved::Replace(victim, _, amid) => {
                self.disarm(amid).await;
                self.reconcile(&[*victim]).await;
            }
            Resolved::GrowShrink(spares, amid) => {
                let grown = std::mem::take(&mut *self.grown.lock().unwrap());
                let kept = shrink(&self.cluster, &grown).await;
                for &slot in &grown {
                    if !kept.iter().any(|(k, _)| *k == slot) {
                        let why = "grow-shrink: removed, data wiped".to_string();
                        let name = self.cluster.name(slot);
                        self.recorder
                            .member_event(now(), name, MemberChange::Crashed { why });
                    }
                }
                let note = match kept.is_empty() {
                    true => format!("shrunk back, without {}", self.names(&grown)),
                    false => {
                        let kept: Vec<String> = (kept.iter())
                            .map(|(slot, why)| format!("{} ({why})", self.cluster.name(*slot)))
                            .collect();
                        format!("shrunk, but the cluster kept {}", kept.join(", "))
                    }
                };
                self.recorder.note(now(), note);
                self.disarm(amid).await;
                self.reconcile(spares).await;
            }
        }
    }

    /// Brings `slots` in line with the member list after a membership
    /// fault (see [`reconcile`]), and notes what changed.
    async fn reconcile(&self, slots: &[usize]) {
        for (slot, change) in reconcile(&self.cluster, slots).await {
            let name = self.cluster.name(slot).to_string();
            let note = match change {
                Reconciled::AddedAfterAll(Some(id)) => {
                    format!("the cluster had added {name} after all, as {id:x}")
                }
                Reconciled::AddedAfterAll(None) => {
                    format!("the cluster had added {name} after all; removed again")
                }
                Reconciled::RemovedAfterAll(back) => {
                    let why = "removed after all".to_string();
                    self.recorder.member_event(
                        self.clock.now_ns(),
                        &name,
                        MemberChange::Crashed { why },
                    );
                    match back {
                        Some(id) => {
                            format!("the cluster had removed {name} after all; back as {id:x}")
                        }
                        None => format!("the cluster had removed {name} after all"),
                    }
                }
            };
            self.recorder.note(self.clock.now_ns(), note);
        }
    }

    /// A step drawn from the nemesis's own random stream: a quiet gap,
    /// then a fault (kind, victims and parameters) and how long it is held,
    /// at the rates and lengths of the knobs.
    fn draw_step(&self, kinds: &[FaultKind], members: usize, rng: &mut StdRng) -> FaultStep {
        let (min, max) = self.knobs.quiet_ms;
        let quiet_ms = rng.gen_range(min..max.max(min + 1));
        let kind = *kinds
            .choose_weighted(rng, |k| k.weight())
            .expect("not empty, weights positive");
        let fault = Fault::draw(kind, members, &self.crash_points, rng);
        let usual = rng.gen_range(kind.durations()).as_millis() as u64;
        let duration_ms = usual * self.knobs.fault_length_percent / 100;
        FaultStep {
            quiet_ms,
            fault,
            duration_ms,
        }
    }

    async fn leader(&self, fault: &Fault) -> Option<usize> {
        let leader = self.cluster.leader().await;
        if leader.is_none() {
            let note = format!("nemesis: {} skipped, no leader", fault.kind());
            self.recorder.note(self.clock.now_ns(), note);
        }
        leader
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

/// A fault resolved against the cluster as it is when it begins: the
/// members it hits by index, the links it cuts. Each kind's apply and undo
/// are the two arms of [`Nemesis::apply`] and [`Nemesis::undo`] for it.
enum Resolved {
    /// Power loss (unsynced writes are lost) at these members; they restart
    /// when the fault ends.
    Kill(Vec<usize>),
    /// This member's tasks are frozen.
    Pause(usize),
    /// These links drop every packet.
    Cut(BTreeSet<(NodeId, NodeId)>),
    /// This share of all packets is dropped.
    PacketLoss(f64),
    /// Packets are delayed by up to this.
    Latency(Duration),
    /// This crash point of this member is armed.
    CrashPoint(usize, CrashPoint),
    /// This member's fsyncs take this much longer.
    SlowFsync(usize, Duration),
    /// This member's clock runs at this percent.
    ClockSkew(usize, u32),
    /// The leader is asked to hand over to this member.
    TransferLeader {
        /// The member to lead next.
        to: usize,
    },
    /// This member is replaced (as a learner first, if set), maybe with a
    /// fault in the middle.
    Replace(usize, Replacement, Option<ChangeFault>),
    /// Members are added in these spare slots, and removed when the fault
    /// ends, maybe with a crash in the middle.
    GrowShrink(Vec<usize>, Option<ChangeFault>),
}

/// ", n2 paused …" and the like for the trace, if a change has a fault
/// in its middle.
fn amid_detail(amid: &Option<ChangeFault>) -> String {
    amid.map_or_else(String::new, |fault| format!(", {fault}"))
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
