//! One seed, start to verdict.
//!
//! A run has four phases: chaos (clients run while the nemesis injects
//! faults; safety), heal and liveness (no faults; the cluster must elect a
//! leader, catch up and serve through every member within
//! [`liveness::BOUND`], or the seed is `stuck`), final reads (one
//! linearizable read of every key, retried until it succeeds, so that a
//! lost acknowledged write shows up as a violation even if no client
//! happened to read that key again), and the members' hash comparison.

use std::sync::Arc;
use std::time::Duration;

use etcd_sim::crash::CRASH_PANIC;
use etcd_sim_checker::lease::check_leases;
use etcd_sim_checker::search::Search;
use etcd_sim_checker::watch::check_watches;
use etcd_sim_checker::{check_kv, CheckOptions, CheckReport, History, Outcome};
use madsim::runtime::{NodeHandle, Runtime};
use tokio::sync::watch;

use crate::actors::context::ClientContext;
use crate::actors::kv_clients::KvClients;
use crate::actors::lease_clients::LeaseClients;
use crate::actors::watchers::Watchers;
use crate::actors::workload::final_reads;
use crate::actors::{Actor, ActorContext, ActorLogs, RunningActors};
use crate::campaign::config::RunConfig;
use crate::cluster::addresses::{AddressPlan, Node};
use crate::cluster::clock::Clock;
use crate::cluster::details::DetailSink;
use crate::cluster::nemesis::Nemesis;
use crate::cluster::observer::{Counts, Observations, Observer};
use crate::cluster::SimCluster;
use crate::faults::FaultKind;
use crate::record::availability::Availability;
use crate::record::coincidences;
use crate::record::persisted::PersistedRequests;
use crate::record::recorder::{BrokenCheck, Recorder};
use crate::record::trace::Trace;
use crate::verdict::consistency::compare_members;
use crate::verdict::liveness::{self, Probe};
use crate::verdict::membership::{self, Answer};
use crate::verdict::SeedOutcome;

/// How many members a grow-shrink fault adds (3 -> 5).
const GROWTH: usize = 2;

/// Runs `config` in a fresh runtime seeded with `config.seed`, and checks it.
///
/// A panic inside the simulation (a member's broken invariant, such as raft
/// finding its log gone) ends the run; it is reported in the outcome, with
/// the history recorded until then, rather than taking the campaign down.
pub fn run_seed(config: &RunConfig) -> SeedOutcome {
    let runtime = Runtime::with_seed_and_config(config.seed, madsim::Config::default());
    let recorder = new_recorder(config);
    let logs = ActorLogs::default();
    let observed = Observed::default();
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(simulate_into(
            config.clone(),
            recorder.clone(),
            logs.clone(),
            observed.clone(),
        ))
    }));
    let (simulated, mut panic) = match run {
        Ok(simulated) => (simulated, None),
        Err(payload) => (Duration::ZERO, Some(panic_message(payload.as_ref()))),
    };
    let (mut history, trace) = recorder.snapshot();
    let settled = observed.persisted.lock().unwrap().settle(&mut history);
    let report = check_or_panicked(&history, &mut panic);
    let watch_logs = logs.watches.lock().unwrap().clone();
    let watch_violations = check_watches(&history, &watch_logs);
    let lease_events = logs.leases.events();
    let lease_violations = check_leases(&lease_events);
    let converged = observed.liveness.lock().unwrap().clone();
    let availability = Availability::measure(
        &history,
        config.clients as u32,
        converged
            .as_ref()
            .and_then(|c| c.as_ref().ok())
            .map(Duration::as_secs_f64),
    );
    let coverage = coverage(&observed.observations, &history, &trace);
    let membership_broken = membership_check(&observed.observations, &recorder, &history);
    let stuck = match converged {
        Some(Err(evidence)) => Some(evidence),
        _ => None,
    };
    SeedOutcome {
        seed: config.seed,
        history,
        trace,
        report,
        simulated,
        panic,
        plan: recorder.plan(),
        watch_logs,
        lease_events,
        broken: recorder
            .broken_checks()
            .into_iter()
            .chain(watch_violations.iter().map(|v| BrokenCheck {
                check: "watch",
                evidence: v.to_string(),
            }))
            .chain(lease_violations.iter().map(|v| BrokenCheck {
                check: "lease",
                evidence: v.to_string(),
            }))
            .chain(membership_broken)
            .collect(),
        watch_violations,
        lease_violations,
        run_events: recorder.run_events(),
        stuck,
        availability,
        coverage,
        settled,
    }
}

/// What a run observed besides its history, shared with the simulation.
#[derive(Clone, Default)]
struct Observed {
    /// The members' and clients' logs, read as they went.
    observations: Observations,
    /// The liveness phase's result: the time to converge, or the evidence
    /// that it did not (`None`: not run, or the run ended before it).
    liveness: Arc<std::sync::Mutex<Option<Result<Duration, String>>>>,
    /// The members' logs, read once the run is over.
    persisted: Arc<std::sync::Mutex<PersistedRequests>>,
}

/// The membership check (see `verdict::membership`) over the members'
/// lines and every request that was answered.
fn membership_check(
    observations: &Observations,
    recorder: &Recorder,
    history: &History,
) -> Vec<BrokenCheck> {
    let answers: Vec<Answer> = recorder
        .answered_by()
        .into_iter()
        .filter_map(|(op, member)| {
            let op = &history.operations[op];
            matches!(op.outcome, Outcome::Ok(_)).then(|| Answer {
                member,
                call_ns: op.call_ns,
                return_ns: op.return_ns,
                linearizable: !op.request.is_serializable(),
            })
        })
        .collect();
    membership::check(&observations.membership(), &answers)
        .into_iter()
        .map(|evidence| BrokenCheck {
            check: "membership",
            evidence,
        })
        .collect()
}

/// The run's coverage: the paths the logs counted, plus the faults the
/// nemesis injected, the crash points that fired, and the coincidences.
fn coverage(observations: &Observations, history: &History, trace: &Trace) -> Counts {
    let mut counts = observations.counts();
    let mut moments = observations.moments();
    moments.extend(coincidences::history_moments(history));
    counts.extend(coincidences::count(moments));
    for fault in &history.faults {
        *counts.entry(format!("fault:{}", fault.name)).or_insert(0) += 1;
    }
    for line in trace.lines() {
        // The nemesis's note: "crash point NAME fired; madsim restarts …".
        let fired = line
            .split_once("crash point ")
            .and_then(|(_, rest)| rest.split_once(" fired;"))
            .map(|(point, _)| point);
        if let Some(point) = fired {
            *counts.entry(format!("crash-point:{point}")).or_insert(0) += 1;
        }
    }
    counts
}

/// The checker's report on `history`. A panic of the checker itself (a
/// bug in it) is this seed's `panicked` verdict, with the history kept,
/// rather than the end of the whole campaign; a member's panic that ended
/// the run comes first.
fn check_or_panicked(history: &History, panic: &mut Option<String>) -> CheckReport {
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_kv(history, &CheckOptions::default())
    }));
    checked.unwrap_or_else(|payload| {
        let message = format!("the checker panicked: {}", panic_message(payload.as_ref()));
        panic.get_or_insert(message);
        CheckReport::from_search(&Search::TimedOut)
    })
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message")
        .to_string()
}

fn new_recorder(config: &RunConfig) -> Recorder {
    if config.echo_trace {
        Recorder::echoing()
    } else {
        Recorder::default()
    }
}

/// Keeps the panics of crash points (expected: madsim restarts the member)
/// off stderr; every other panic is reported as before.
fn quiet_crash_point_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if message.starts_with(CRASH_PANIC) {
                crate::stderr_filter::expect_crash_note();
            } else {
                report(info);
            }
        }));
    });
}

/// Runs `config` inside the current madsim runtime; returns the history, the
/// trace and the simulated time taken.
pub async fn simulate(config: RunConfig) -> (History, Trace, Duration) {
    let recorder = new_recorder(&config);
    let observed = Observed::default();
    let simulated = simulate_into(
        config,
        recorder.clone(),
        ActorLogs::default(),
        observed.clone(),
    )
    .await;
    let (mut history, trace) = recorder.snapshot();
    observed.persisted.lock().unwrap().settle(&mut history);
    (history, trace, simulated)
}

/// Runs `config` inside the current madsim runtime, recording into
/// `recorder` (client operations) and `logs` (the watches' and the lease
/// clients' events); returns the simulated time taken.
///
/// The phases, in order (see the module's doc): the cluster starts and
/// elects, the actors start, chaos, heal (and liveness), the final reads,
/// the actors stop, the members' hashes are compared, and their logs read.
async fn simulate_into(
    config: RunConfig,
    recorder: Recorder,
    logs: ActorLogs,
    observed: Observed,
) -> Duration {
    quiet_crash_point_panics();
    let run = Run {
        addresses: AddressPlan {
            kv_clients: config.clients as u32,
        },
        clock: Clock::start(),
        config,
        recorder,
        logs,
        observed,
    };
    // madsim runs every node's tasks on this thread: a thread-local
    // subscriber sees the whole cluster, and only this run.
    let _observer = tracing::subscriber::set_default(run.observer());
    let cluster = run.start_cluster().await;
    let ctx = run.actor_context(&cluster);
    let mut actors = RunningActors::start(actors(&run.config), &ctx);
    run.chaos(&cluster, &mut actors).await;
    let reader = run.addresses.create(Node::Reader);
    run.heal(&cluster, &reader).await;
    run.final_reads(&reader, &ctx.client).await;
    actors.stop().await;
    run.compare_members(&reader, cluster.endpoints()).await;
    run.read_members_logs(&cluster);
    Duration::from_nanos(run.clock.now_ns())
}

/// One run in progress: what shapes it, where it records, its clock and
/// its nodes' addresses.
struct Run {
    config: RunConfig,
    recorder: Recorder,
    logs: ActorLogs,
    observed: Observed,
    clock: Clock,
    addresses: AddressPlan,
}

/// The run's client actors, in the order they start (and, reversed, stop):
/// the KV clients, the watchers, the lease clients. A new kind of client is
/// a line here.
fn actors(config: &RunConfig) -> Vec<Box<dyn Actor>> {
    vec![
        Box::new(KvClients {
            count: config.clients as u32,
            workload: config.workload.clone(),
        }),
        Box::new(Watchers {
            count: config.watchers,
        }),
        Box::new(LeaseClients {
            count: config.lease_clients as u32,
            deadline: config.workload.deadline,
        }),
    ]
}

impl Run {
    /// The subscriber that reads the members' and clients' logs (and, with
    /// `details`, brings the system's events into the trace).
    fn observer(&self) -> Observer {
        let details = self
            .config
            .details
            .then(|| DetailSink::new(self.recorder.clone(), self.clock));
        Observer::new(
            self.observed.observations.clone(),
            Some(self.clock),
            details,
        )
    }

    /// Sets up the network, starts the members on their disks, notes the
    /// run's shape, and waits out the first election.
    async fn start_cluster(&self) -> Arc<SimCluster> {
        let (config, knobs, clock) = (&self.config, &self.config.knobs, self.clock);
        madsim::net::NetSim::current().update_config(|net| {
            net.send_latency = knobs.net_latency();
            net.packet_loss_rate = knobs.net_loss();
        });
        // Spare slots for a grow-shrink fault: a cluster grows by two.
        let spares = match config.faults.iter().any(|k| k == FaultKind::GrowShrink) {
            true => GROWTH,
            false => 0,
        };
        let cluster = Arc::new(SimCluster::start_with_spares(
            config.nodes,
            spares,
            |member| {
                member.bugs = config.bugs;
                member.perturbations = knobs.perturbation_set();
                member.snapshot_count = knobs.snapshot_count;
                member.catch_up_entries = knobs.catch_up_entries;
                // One snapshot file, as campaigns always ran: the snapshot
                // bugs (etcd-18055, snapshot-purge-before-save) need a
                // purge to reach the file they lose. The fallback to an
                // older file is the recovery tests' (tests/suite/recovery.rs).
                member.max_snapshots = 1;
                member.tick = Duration::from_millis(knobs.tick_ms);
                member.election_ticks = (knobs.election_ticks, 2 * knobs.election_ticks);
                member.pre_vote = config.pre_vote;
                member.check_quorum = config.check_quorum;
            },
        ));
        for slot in 0..cluster.slots().len() {
            cluster.disk(slot).set_latency(knobs.disk.latency());
        }
        let recorder = &self.recorder;
        recorder.set_members(cluster.members().iter().map(|m| (m.id(), m.name.clone())));
        let names = recorder.clone();
        cluster.on_new_id(move |id, name| names.also_named(id, name));
        let note = format!(
            "seed {} faults {} bugs {:?} cluster {:?}",
            config.seed,
            config.faults,
            config.bugs,
            cluster.endpoints()
        );
        recorder.note(clock.now_ns(), note);

        if config.inject_nondeterminism {
            // The very leak the election-timeout pinning guards against:
            // rand's OsRng reads entropy by a syscall that madsim does not
            // intercept.
            use rand::RngCore;
            let leak = rand::rngs::OsRng.next_u64();
            recorder.note(clock.now_ns(), format_args!("injected entropy {leak:x}"));
        }
        // Let the first election finish before the load starts: the longest
        // election timeout, and at least 2 s.
        let longest_election =
            Duration::from_millis(knobs.tick_ms * 2 * knobs.election_ticks as u64);
        tokio::time::sleep(longest_election.max(Duration::from_secs(2))).await;
        cluster
    }

    /// What every actor is started with: the client's place in the run
    /// but for its number, the nodes' addresses, the logs.
    fn actor_context(&self, cluster: &SimCluster) -> ActorContext {
        ActorContext {
            client: ClientContext {
                id: 0,
                endpoints: cluster.endpoints(),
                bugs: self.config.bugs,
                recorder: self.recorder.clone(),
                clock: self.clock,
            },
            addresses: self.addresses,
            logs: self.logs.clone(),
        }
    }

    /// Chaos: the nemesis injects faults until the actors' own work has
    /// ended (the KV and lease clients' turns), and heals the last before
    /// it returns. The watches go on.
    async fn chaos(&self, cluster: &Arc<SimCluster>, actors: &mut RunningActors) {
        let config = &self.config;
        let (stop, stopped) = watch::channel(false);
        let nemesis = Nemesis::new(
            cluster.clone(),
            self.recorder.clone(),
            self.clock,
            config.crash_points.clone(),
            config.seed,
            config.knobs.clone(),
        );
        let (faults, plan) = (config.faults.clone(), config.plan.clone());
        let nemesis = self
            .addresses
            .create(Node::Nemesis)
            .spawn(async move { nemesis.run(&faults, plan.as_deref(), stopped).await });
        actors.finished().await;
        stop.send_replace(true);
        nemesis.await.expect("nemesis task panicked");
    }

    /// After the heal: with `liveness`, the cluster must converge within
    /// the bound (the result goes to `observed`); without, it settles for
    /// 3 s, as runs did before the liveness phase.
    async fn heal(&self, cluster: &SimCluster, reader: &NodeHandle) {
        let (recorder, clock) = (&self.recorder, self.clock);
        if !self.config.liveness {
            recorder.note(clock.now_ns(), "healed; settling");
            tokio::time::sleep(Duration::from_secs(3)).await;
            return;
        }
        recorder.note(clock.now_ns(), "healed; liveness phase");
        let probe = Probe {
            members: cluster
                .in_cluster()
                .into_iter()
                .map(|slot| liveness::Member {
                    id: cluster.slots()[slot].id(),
                    name: cluster.name(slot).to_string(),
                    endpoint: cluster.endpoint(slot),
                })
                .collect(),
            watch_logs: self.logs.watches.clone(),
            observations: self.observed.observations.clone(),
        };
        let result = reader
            .spawn(async move { probe.run().await })
            .await
            .expect("liveness probe panicked");
        let note = match &result {
            Ok(after) => format!("liveness: converged after {:.3}s", after.as_secs_f64()),
            Err(evidence) => format!("liveness: stuck: {evidence}"),
        };
        recorder.note(clock.now_ns(), note);
        *self.observed.liveness.lock().unwrap() = Some(result);
    }

    /// Reads every key once more, as client number `clients` (after the KV
    /// clients'), so that a lost acknowledged write shows.
    async fn final_reads(&self, reader: &NodeHandle, client: &ClientContext) {
        // Its reads judge what the members hold, not a client's bug.
        let ctx = client.with_id(self.config.clients as u32).without_bugs();
        reader
            .spawn(final_reads(ctx, self.config.workload.clone()))
            .await
            .expect("final reader panicked");
    }

    /// Compares the members' hashes once they have applied the same index.
    async fn compare_members(&self, reader: &NodeHandle, endpoints: Vec<String>) {
        let (recorder, clock) = (self.recorder.clone(), self.clock);
        reader
            .spawn(async move { compare_members(&endpoints, &recorder, clock).await })
            .await
            .expect("member comparison panicked");
    }

    /// Reads the members' logs, for the outcome of writes nobody learned.
    fn read_members_logs(&self, cluster: &SimCluster) {
        *self.observed.persisted.lock().unwrap() = PersistedRequests::read(
            (0..cluster.slots().len())
                .map(|slot| cluster.disk(slot) as &dyn etcd_sim::storage::Disk),
        );
    }
}
