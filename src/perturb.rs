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

use crate::table::column;

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
    /// Snapshots move slowly, as a large database's do: a snapshot
    /// stream reaches its peer late, and the applier gets to a received
    /// snapshot late.
    SlowSnapshot,
}

impl Perturbation {
    /// Every perturbation, in the table's order.
    pub const ALL: [Perturbation; TABLE.len()] =
        column!(TABLE.perturbation, Perturbation::ApplierLag);

    /// The name on the command line, in schedule files and in coverage.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// Where it sits and what it does.
    pub fn does(self) -> &'static str {
        self.row().does
    }

    /// The real timing it makes common.
    pub fn models(self) -> &'static str {
        self.row().models
    }

    fn row(self) -> &'static Row {
        &TABLE[self as usize]
    }
}

/// One row of the table.
struct Row {
    perturbation: Perturbation,
    /// On the command line, in schedule files and in coverage.
    name: &'static str,
    /// A switched-on site fires one time in this many.
    one_in: u32,
    /// Where it sits and what it does.
    does: &'static str,
    /// The real timing it makes common.
    models: &'static str,
}

/// Every perturbation, one row each, in declaration order.
const TABLE: [Row; 10] = [
    Row {
        perturbation: Perturbation::ApplierLag,
        name: "applier-lag",
        one_in: 4,
        does: "the applier sleeps 1-100 ms before a batch (apply lags commit)",
        models: "a slow backend commit or a large delete holding the applier up",
    },
    Row {
        perturbation: Perturbation::SlowReadStateHandOff,
        name: "slow-read-state",
        one_in: 3,
        does: "a confirmed read index reaches its waiting read 1-50 ms late",
        models: "a busy scheduler waking the read's goroutine late",
    },
    Row {
        perturbation: Perturbation::TinyBatches,
        name: "tiny-batches",
        one_in: 2,
        does: "raft hands committed entries to the applier one by one",
        models: "light load or a fast disk: a Ready with one entry at a time",
    },
    Row {
        perturbation: Perturbation::WatchStall,
        name: "watch-stall",
        one_in: 4,
        does: "a watch stream sleeps 1-200 ms before sending a response",
        models: "a slow or congested watch stream",
    },
    Row {
        perturbation: Perturbation::SlowClientRead,
        name: "slow-client-read",
        one_in: 4,
        does: "a client sleeps 1-100 ms before reading a response",
        models: "a slow client, or a congested link to it",
    },
    Row {
        perturbation: Perturbation::SlowHandler,
        name: "slow-handler",
        one_in: 4,
        does: "a KV handler sleeps 1-100 ms before starting on a request",
        models: "a loaded server scheduling its handlers late",
    },
    Row {
        perturbation: Perturbation::DuplicatePeerMessage,
        name: "duplicate-peer-message",
        one_in: 20,
        does: "a raft message to a peer is sent twice (not a forwarded proposal: that is a client retry)",
        models: "a message sent again over a reconnected stream",
    },
    Row {
        perturbation: Perturbation::DelayPeerMessage,
        name: "delay-peer-message",
        one_in: 20,
        does: "a raft message to a peer is held back 1-50 ms, so later ones overtake it",
        models: "messages reordered across connections (etcd's pipeline and stream)",
    },
    Row {
        perturbation: Perturbation::LeaderHandsOver,
        name: "leader-hands-over",
        one_in: 300,
        does: "a leader hands leadership to another member unprompted (checked every tick)",
        models: "an operator's move-leader, or a leader handing over as it shuts down",
    },
    Row {
        perturbation: Perturbation::SlowSnapshot,
        name: "slow-snapshot",
        one_in: 1,
        does: "a snapshot stream to a peer starts 1-3000 ms late, and the applier waits 1-5000 ms \
            before it opens a snapshot received from the leader",
        models: "a large database: etcd streams the whole file to a follower, whose applier, \
            behind a backlog of batches (apply jobs run in order), gets to it late",
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
        for (i, p) in Perturbation::ALL.into_iter().enumerate() {
            assert_eq!(p as usize, i, "the table is in declaration order");
            assert_eq!(p.name().parse::<Perturbation>().unwrap(), p);
            assert!(!p.does().is_empty() && !p.models().is_empty());
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
