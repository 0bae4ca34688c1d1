//! Swarm testing: each seed draws its own shape.
//!
//! A campaign whose every seed has the same shape (three members, the same
//! ticks, every fault at the same rate) explores one corner many times: a
//! bug that needs a single member, a fast disk turning slow, long elections
//! or a quiet network never gets its conditions. Swarm testing (Groce et
//! al., "Swarm Testing", ISSTA 2012; TigerBeetle's VOPR; FoundationDB's
//! simulation) draws the configuration per seed instead — cluster size,
//! timing, load, which faults are on and how often, how fast the disk and
//! the network are — so that every seed is a different corner, and some
//! leave whole features out, which makes room for the rest.
//!
//! The knobs are drawn from their own stream seeded with the seed, before
//! the run starts, and written into schedule files, so a swarm seed replays
//! and shrinks like any other.

use std::time::Duration;

use etcd_sim::perturb::{Perturbation, Perturbations};
use etcd_sim::storage::DiskLatency;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::faults::{FaultKind, FaultSet};
use crate::shape::op_mix::OpMix;

/// Mixed into the seed for the swarm's own random stream.
const SWARM_STREAM: u64 = 0x7377_6172_6d21_2121;

/// The knobs of a run besides its cluster size, load and fault kinds
/// (which `RunConfig` and schedule files have always carried).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knobs {
    /// One raft tick, etcd's `--heartbeat-interval`: a leader heartbeats
    /// every tick.
    pub tick_ms: u64,
    /// Election timeouts are drawn from `[election_ticks, 2 election_ticks)`.
    pub election_ticks: usize,
    /// Applied entries between a member's snapshots.
    pub snapshot_count: u64,
    /// Entries a snapshot leaves in the log before its index, for
    /// followers a little behind (etcd keeps 5,000). 0 in files written
    /// before it was drawn: those runs kept none.
    #[serde(default)]
    pub catch_up_entries: u64,
    /// Quiet time before each fault, drawn from `[min, max)` ms.
    pub quiet_ms: (u64, u64),
    /// Fault durations, as a percent of each kind's usual durations.
    pub fault_length_percent: u64,
    /// How long the members' disks take to sync.
    pub disk: DiskProfile,
    /// Packets take `[min, max)` ms on the network when no fault is on.
    pub net_latency_ms: (u64, u64),
    /// Packets in ten thousand lost when no fault is on.
    pub net_loss_per_10k: u32,
    /// Perturbation sites switched on in every member and client, by name
    /// (see `etcd-sim perturbations`).
    #[serde(default)]
    pub perturbations: Vec<String>,
    /// How often etcd traffic takes each kind of turn (see `op_mix`).
    #[serde(default)]
    pub op_mix: OpMix,
    /// Percent of turns that first compact a little below the newest
    /// revision.
    #[serde(default = "fixed_compaction_percent")]
    pub compaction_percent: u32,
    /// Bytes of padding after each value's unique name.
    #[serde(default)]
    pub value_padding: usize,
}

/// The fixed shape's compaction rate, also that of files written before it
/// was drawn.
fn fixed_compaction_percent() -> u32 {
    3
}

impl Knobs {
    /// Today's fixed shape: 100 ms ticks, elections after 10 to 20 ticks,
    /// snapshots every 25 entries that keep no catch-up entries, a fault after 0.2 to 1.5 s of quiet, an
    /// instant disk and madsim's default network.
    pub fn fixed() -> Self {
        Self {
            tick_ms: 100,
            election_ticks: 10,
            snapshot_count: 25,
            catch_up_entries: 0,
            quiet_ms: (200, 1_500),
            fault_length_percent: 100,
            disk: DiskProfile::INSTANT,
            net_latency_ms: (1, 10),
            net_loss_per_10k: 0,
            perturbations: Vec::new(),
            op_mix: OpMix::fixed(),
            compaction_percent: fixed_compaction_percent(),
            value_padding: 0,
        }
    }

    /// The perturbation sites switched on. Names were checked when the
    /// knobs were drawn or read ([`Knobs::check`]).
    pub fn perturbation_set(&self) -> Perturbations {
        self.perturbations
            .iter()
            .map(|name| name.parse::<Perturbation>().expect("checked"))
            .collect()
    }

    /// Whether every name in the knobs is known.
    pub fn check(&self) -> Result<(), String> {
        for name in &self.perturbations {
            name.parse::<Perturbation>()
                .map_err(|e| format!("knobs: {e}"))?;
        }
        self.op_mix.check().map_err(|e| format!("knobs: {e}"))
    }

    /// The network's latency when no fault is on.
    pub fn net_latency(&self) -> std::ops::Range<Duration> {
        Duration::from_millis(self.net_latency_ms.0)..Duration::from_millis(self.net_latency_ms.1)
    }

    /// The network's packet loss rate when no fault is on.
    pub fn net_loss(&self) -> f64 {
        f64::from(self.net_loss_per_10k) / 10_000.0
    }

    /// Whether these are [`Knobs::fixed`].
    pub fn is_fixed(&self) -> bool {
        *self == Self::fixed()
    }

    /// These knobs with one group set back to the fixed shape's, for each
    /// group that differs: what a shrinker tries, to learn which knob a
    /// failure needs.
    pub fn toward_fixed(&self) -> Vec<Knobs> {
        let fixed = Self::fixed();
        let resets: [fn(&mut Knobs, &Knobs); 10] = [
            |k, f| k.perturbations = f.perturbations.clone(),
            |k, f| k.disk = f.disk.clone(),
            |k, f| (k.net_latency_ms, k.net_loss_per_10k) = (f.net_latency_ms, f.net_loss_per_10k),
            |k, f| (k.tick_ms, k.election_ticks) = (f.tick_ms, f.election_ticks),
            |k, f| k.snapshot_count = f.snapshot_count,
            |k, f| k.catch_up_entries = f.catch_up_entries,
            |k, f| (k.op_mix, k.compaction_percent) = (f.op_mix.clone(), f.compaction_percent),
            |k, f| k.value_padding = f.value_padding,
            |k, f| k.quiet_ms = f.quiet_ms,
            |k, f| k.fault_length_percent = f.fault_length_percent,
        ];
        resets
            .iter()
            .map(|reset| {
                let mut knobs = self.clone();
                reset(&mut knobs, &fixed);
                knobs
            })
            .filter(|knobs| knobs != self)
            .collect()
    }
}

impl Default for Knobs {
    fn default() -> Self {
        Self::fixed()
    }
}

/// A disk's sync latency profile, in whole microseconds (see
/// [`DiskLatency`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskProfile {
    /// The usual sync takes `[min, max)` µs.
    pub fast_us: (u64, u64),
    /// Syncs in a thousand that are slow.
    pub slow_per_mille: u32,
    /// A slow sync takes `[min, max)` µs.
    pub slow_us: (u64, u64),
    /// Syncs in ten thousand that are very slow.
    pub very_slow_per_10k: u32,
    /// A very slow sync takes `[min, max)` µs.
    pub very_slow_us: (u64, u64),
}

impl DiskProfile {
    /// Durable the instant a sync is asked for.
    pub const INSTANT: DiskProfile = DiskProfile {
        fast_us: (0, 0),
        slow_per_mille: 0,
        slow_us: (0, 0),
        very_slow_per_10k: 0,
        very_slow_us: (0, 0),
    };

    /// The profile as the simulated disk takes it.
    pub fn latency(&self) -> DiskLatency {
        let us = |(a, b): (u64, u64)| Duration::from_micros(a)..Duration::from_micros(b);
        DiskLatency {
            fast: us(self.fast_us),
            slow_per_mille: self.slow_per_mille,
            slow: us(self.slow_us),
            very_slow_per_10k: self.very_slow_per_10k,
            very_slow: us(self.very_slow_us),
        }
    }
}

/// The disk profiles a seed draws from.
const DISK_PROFILES: [DiskProfile; 4] = [
    DiskProfile::INSTANT,
    // An SSD: fast, a rare stall.
    DiskProfile {
        fast_us: (50, 500),
        slow_per_mille: 5,
        slow_us: (2_000, 10_000),
        very_slow_per_10k: 5,
        very_slow_us: (50_000, 200_000),
    },
    // A busy disk: a few ms, often slower, now and then very slow.
    DiskProfile {
        fast_us: (1_000, 5_000),
        slow_per_mille: 50,
        slow_us: (10_000, 50_000),
        very_slow_per_10k: 20,
        very_slow_us: (100_000, 500_000),
    },
    // A network disk: slow throughout.
    DiskProfile {
        fast_us: (5_000, 20_000),
        slow_per_mille: 100,
        slow_us: (20_000, 100_000),
        very_slow_per_10k: 10,
        very_slow_us: (200_000, 1_000_000),
    },
];

/// One of `choices`, evenly (list a value twice to weight it).
fn pick<T: Clone>(rng: &mut StdRng, choices: &[T]) -> T {
    choices.choose(rng).expect("a choice").clone()
}

/// A seed's drawn shape: the knobs, and the parts of the run that
/// `RunConfig` has always had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Cluster size: 1, 3 or 5.
    pub nodes: usize,
    /// Concurrent KV clients.
    pub clients: usize,
    /// Operations per client.
    pub ops_per_client: usize,
    /// Keys the clients contend on.
    pub keys: usize,
    /// The fault kinds this seed uses (some seeds none).
    pub faults: FaultSet,
    /// Everything else.
    pub knobs: Knobs,
}

/// Draws seed `seed`'s shape. Ranges stay where a run still means
/// something: elections finish well inside the liveness bound, every seed
/// issues enough operations to check, and a seed with faults has at least
/// one kind that cuts or kills.
pub fn draw(seed: u64) -> Shape {
    let mut rng = StdRng::seed_from_u64(seed ^ SWARM_STREAM);
    let nodes = pick(&mut rng, &[1, 3, 3, 3, 5, 5]);
    let clients = rng.gen_range(2..=8);
    let ops_per_client = (150 / clients).max(10) + rng.gen_range(0..10);
    let keys = pick(&mut rng, &[1, 2, 3, 3, 5, 8, 20]);
    let tick_ms = pick(&mut rng, &[20, 50, 100, 100, 150]);
    // An election timeout of 0.1 s to 2 s, and at least 5 ticks (etcd
    // wants the timeout at least five heartbeats).
    let most = (2_000 / tick_ms as usize).max(5);
    let election_ticks = rng.gen_range(5..=most.min(20));
    let snapshot_count = pick(&mut rng, &[5, 5, 5, 10, 25, 25, 100, 1_000]);
    // Each kind is on with even odds (swarm testing's coin per feature);
    // one seed in ten runs without faults at all.
    let faults = if rng.gen_ratio(1, 10) {
        FaultSet::none()
    } else {
        let mut kinds: Vec<FaultKind> = FaultKind::ALL
            .into_iter()
            .filter(|_| rng.gen_bool(0.5))
            .collect();
        if kinds.is_empty() {
            kinds.push(pick(&mut rng, &FaultKind::ALL));
        }
        FaultSet::of(kinds)
    };
    let quiet_min = pick(&mut rng, &[50, 200, 200, 500, 1_000]);
    let quiet_ms = (quiet_min, quiet_min * rng.gen_range(2..=6));
    let fault_length_percent = pick(&mut rng, &[50, 100, 100, 200]);
    let disk = pick(&mut rng, &DISK_PROFILES);
    let net_latency_ms = pick(&mut rng, &[(1, 10), (1, 3), (1, 10), (5, 30), (1, 50)]);
    let net_loss_per_10k = pick(&mut rng, &[0, 0, 0, 10, 100]);
    // A quarter of the seeds run unperturbed; in the rest each site is on
    // with even odds (FoundationDB switches each BUGGIFY site per run).
    let perturbations = if rng.gen_ratio(1, 4) {
        Vec::new()
    } else {
        Perturbation::ALL
            .into_iter()
            .filter(|_| rng.gen_bool(0.5))
            .map(|p| p.name().to_string())
            .collect()
    };
    // Drawn after the knobs above, so that adding it moved none of them.
    // Half keep none: with the whole log kept, a member that lost its
    // snapshot file recovers from the WAL, and the mistakes about snapshot
    // files that a short log exposes go unseen; and a follower that caught
    // up by snapshot needs another at once if the leader compacted
    // meanwhile (etcd #18055 needs two in a row), which snapshots every
    // few entries (three seeds in eight) and no catch-up entries make
    // common.
    let catch_up_entries = pick(&mut rng, &[0, 0, 0, 0, 5, 50, 500, 5_000]);
    let op_mix = OpMix::draw(&mut rng);
    let compaction_percent = pick(&mut rng, &[0, 3, 3, 10, 30]);
    // Mostly short values, now and then larger ones. Values of 100 KB make
    // snapshots of several MiB; they come only with snapshots 100 entries
    // apart or more (one seed in 18), as such a seed costs as much as ten
    // others, and encoding a store that size every few entries would cost
    // more still.
    let value_padding = if snapshot_count >= 100 && rng.gen_ratio(1, 6) {
        100_000
    } else {
        pick(&mut rng, &[0, 0, 0, 0, 0, 100, 1_000, 10_000])
    };
    Shape {
        nodes,
        clients,
        ops_per_client,
        keys,
        faults,
        knobs: Knobs {
            tick_ms,
            election_ticks,
            snapshot_count,
            catch_up_entries,
            quiet_ms,
            fault_length_percent,
            disk,
            net_latency_ms,
            net_loss_per_10k,
            perturbations,
            op_mix,
            compaction_percent,
            value_padding,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_draws_the_same_shape_every_time() {
        for seed in 0..50 {
            assert_eq!(draw(seed), draw(seed));
        }
    }

    #[test]
    fn the_swarm_covers_every_shape_it_promises() {
        let shapes: Vec<Shape> = (0..400).map(draw).collect();
        for nodes in [1, 3, 5] {
            assert!(
                shapes.iter().any(|s| s.nodes == nodes),
                "no {nodes}-member seed"
            );
        }
        assert!(shapes.iter().any(|s| s.faults.is_empty()));
        for kind in FaultKind::ALL {
            let with = shapes.iter().filter(|s| s.faults.iter().any(|k| k == kind));
            assert!(with.count() > 100, "{kind} is on in too few seeds");
        }
        assert!(shapes.iter().any(|s| s.knobs.disk == DiskProfile::INSTANT));
        assert!(shapes.iter().any(|s| s.knobs.perturbations.is_empty()));
        for p in Perturbation::ALL {
            let on = shapes.iter().filter(|s| s.knobs.perturbation_set().has(p));
            assert!(on.count() > 80, "{p} is on in too few seeds");
        }
        assert!(shapes
            .iter()
            .any(|s| s.knobs.disk.very_slow_us.1 >= 1_000_000));
        for s in &shapes {
            let timeout = s.knobs.tick_ms * s.knobs.election_ticks as u64;
            assert!((100..=2_000).contains(&timeout), "{s:?}");
            assert!(s.clients * s.ops_per_client >= 100, "{s:?}");
            assert!((1..=20).contains(&s.keys));
        }
    }

    #[test]
    fn knobs_move_toward_the_fixed_shape_one_group_at_a_time() {
        assert!(Knobs::fixed().toward_fixed().is_empty());
        let mut knobs = Knobs::fixed();
        knobs.snapshot_count = 5;
        knobs.net_loss_per_10k = 100;
        let steps = knobs.toward_fixed();
        assert_eq!(steps.len(), 2);
        assert!(steps.iter().all(|k| *k != knobs && !k.is_fixed()));
    }

    #[test]
    fn knobs_survive_their_file_format() {
        let knobs = draw(3).knobs;
        let text = serde_json::to_string(&knobs).unwrap();
        assert_eq!(serde_json::from_str::<Knobs>(&text).unwrap(), knobs);
    }
}
