//! Perturbations: named places in the system's own code where a rare but
//! legal timing can be made common (FoundationDB's BUGGIFY).
//!
//! A bug that needs the applier to fall behind, a read state to arrive
//! late or a peer message to come twice hides from any test that only
//! injects faults from outside: the member's own timing is always the
//! happy one. Each [`Perturbation`] is a switch in the real code path, like
//! a bug switch, but what it does is something a correct member must
//! survive: wait a little, split a batch, send twice, hand leadership over.
//! A switched-on site fires on a share of the times it is reached, drawn
//! from the runtime's seeded randomness.
//!
//! They are off in real mode (`serve` never switches one on) and outside
//! campaigns; the swarm switches a few on per seed, and some seeds none.
//! `etcd-sim perturbations` lists them.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use madsim::rand::{thread_rng, Rng};

/// One perturbation site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Perturbation {
    /// The applier waits before applying a batch: apply lags commit.
    ApplierLag,
    /// A confirmed read index reaches the read waiting for it late.
    SlowReadStateHandOff,
    /// Raft hands committed entries up one at a time.
    TinyBatches,
    /// A watch stream pauses before it sends a response.
    WatchStall,
    /// A client takes its time reading a response.
    SlowClientRead,
    /// A KV handler waits before it starts on a request.
    SlowHandler,
    /// A raft message to a peer is sent twice.
    DuplicatePeerMessage,
    /// A raft message to a peer is held back, so later ones overtake it.
    DelayPeerMessage,
    /// A leader hands leadership to another member unprompted.
    LeaderHandsOver,
}

impl Perturbation {
    /// Every perturbation, in a fixed order.
    pub const ALL: [Perturbation; 9] = [
        Perturbation::ApplierLag,
        Perturbation::SlowReadStateHandOff,
        Perturbation::TinyBatches,
        Perturbation::WatchStall,
        Perturbation::SlowClientRead,
        Perturbation::SlowHandler,
        Perturbation::DuplicatePeerMessage,
        Perturbation::DelayPeerMessage,
        Perturbation::LeaderHandsOver,
    ];

    /// The name on the command line, in schedule files and in coverage.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// Where it sits and what it does.
    pub fn does(self) -> &'static str {
        self.row().does
    }

    fn row(self) -> &'static Row {
        &ROWS[self as usize]
    }
}

/// One row of the table: name, how often a switched-on site fires (one
/// time in `one_in`), and what it does.
struct Row {
    name: &'static str,
    one_in: u32,
    does: &'static str,
}

/// In the order of [`Perturbation::ALL`].
const ROWS: [Row; 9] = [
    Row {
        name: "applier-lag",
        one_in: 4,
        does: "the applier sleeps 1-100 ms before a batch (apply lags commit)",
    },
    Row {
        name: "slow-read-state",
        one_in: 3,
        does: "a confirmed read index reaches its waiting read 1-50 ms late",
    },
    Row {
        name: "tiny-batches",
        one_in: 2,
        does: "raft hands committed entries to the applier one by one",
    },
    Row {
        name: "watch-stall",
        one_in: 4,
        does: "a watch stream sleeps 1-200 ms before sending a response",
    },
    Row {
        name: "slow-client-read",
        one_in: 4,
        does: "a client sleeps 1-100 ms before reading a response",
    },
    Row {
        name: "slow-handler",
        one_in: 4,
        does: "a KV handler sleeps 1-100 ms before starting on a request",
    },
    Row {
        name: "duplicate-peer-message",
        one_in: 20,
        does: "a raft message to a peer is sent twice (not a forwarded proposal: that is a client retry)",
    },
    Row {
        name: "delay-peer-message",
        one_in: 20,
        does: "a raft message to a peer is held back 1-50 ms, so later ones overtake it",
    },
    Row {
        name: "leader-hands-over",
        one_in: 300,
        does: "a leader hands leadership to another member unprompted (checked every tick)",
    },
];

impl fmt::Display for Perturbation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Perturbation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Perturbation::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Perturbation::ALL.iter().map(|p| p.name()).collect();
                format!("unknown perturbation {s:?}; known: {}", known.join(", "))
            })
    }
}

/// The perturbations switched on in one member or client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Perturbations(u32);

impl Perturbations {
    /// None: the only value outside simulation campaigns.
    pub const NONE: Perturbations = Perturbations(0);

    /// Whether `p` is switched on.
    pub fn has(self, p: Perturbation) -> bool {
        self.0 & (1 << p as u32) != 0
    }

    /// This set with `p` on as well.
    pub fn with(self, p: Perturbation) -> Self {
        Perturbations(self.0 | 1 << p as u32)
    }

    /// The switched-on perturbations, in a fixed order.
    pub fn iter(self) -> impl Iterator<Item = Perturbation> {
        Perturbation::ALL.into_iter().filter(move |&p| self.has(p))
    }

    /// Whether site `p` fires this time it is reached: never if it is off
    /// (and then no randomness is drawn), else one time in its table's
    /// share. A firing is counted as coverage.
    pub fn fires(self, p: Perturbation) -> bool {
        if !self.has(p) || !thread_rng().gen_ratio(1, p.row().one_in) {
            return false;
        }
        tracing::trace!(target: crate::coverage::TARGET, perturbation = p.name());
        true
    }

    /// If site `p` fires, a delay of 1 ms to `max_ms` to wait at it.
    pub fn delay(self, p: Perturbation, max_ms: u64) -> Option<Duration> {
        self.fires(p)
            .then(|| Duration::from_millis(thread_rng().gen_range(1..=max_ms)))
    }

    /// Sleeps at site `p` if it fires.
    pub async fn pause(self, p: Perturbation, max_ms: u64) {
        if let Some(delay) = self.delay(p, max_ms) {
            tokio::time::sleep(delay).await;
        }
    }
}

impl FromIterator<Perturbation> for Perturbations {
    fn from_iter<I: IntoIterator<Item = Perturbation>>(ps: I) -> Self {
        ps.into_iter()
            .fold(Perturbations::NONE, Perturbations::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perturbations_parse_by_name_and_the_table_matches_the_list() {
        assert_eq!(ROWS.len(), Perturbation::ALL.len());
        for (i, p) in Perturbation::ALL.into_iter().enumerate() {
            assert_eq!(p as usize, i, "ALL is in declaration order");
            assert_eq!(p.name().parse::<Perturbation>().unwrap(), p);
            assert!(!p.does().is_empty());
        }
        let err = "nope".parse::<Perturbation>().unwrap_err();
        assert!(err.contains("unknown perturbation"), "{err}");
    }

    #[test]
    fn a_switched_off_site_never_fires() {
        let set: Perturbations = [Perturbation::TinyBatches].into_iter().collect();
        assert!(set.has(Perturbation::TinyBatches));
        assert!(!set.has(Perturbation::ApplierLag));
        assert_eq!(set.iter().collect::<Vec<_>>(), [Perturbation::TinyBatches]);
        // No randomness is drawn for a site that is off, so this needs no
        // runtime.
        assert!(!set.fires(Perturbation::ApplierLag));
        assert!(!Perturbations::NONE.fires(Perturbation::LeaderHandsOver));
    }
}
