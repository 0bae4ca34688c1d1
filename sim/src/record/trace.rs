//! The event trace of a run and its hash.
//!
//! Two runs of the same seed must produce the same trace, byte for byte; the
//! hash makes that cheap to compare and to print (`trace-hash: <hex>`).
//!
//! Events come in two weights: the harness's own (client operations,
//! faults, notes), always recorded and hashed; and the system's details
//! (raft messages and state changes), recorded only when asked for
//! (`reproduce --trace`) and left out of the hash, so that asking for them
//! does not change the hash a seed prints.

use std::fmt::Write as _;

/// An append-only list of timestamped events.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    /// Each line, and whether it counts in the hash.
    lines: Vec<(String, bool)>,
    /// Print each event as it happens, so that a run that panics still
    /// shows how it got there.
    echo: bool,
}

impl Trace {
    /// A trace that also prints every event to stdout as it is recorded.
    pub fn echoing() -> Self {
        Self {
            lines: Vec::new(),
            echo: true,
        }
    }

    /// Records `event` at simulated time `at_ns`.
    pub fn record(&mut self, at_ns: u64, event: impl std::fmt::Display) {
        self.push(at_ns, event, true);
    }

    /// Records a detail of the system's at `at_ns`, outside the hash.
    pub fn record_detail(&mut self, at_ns: u64, event: impl std::fmt::Display) {
        self.push(at_ns, event, false);
    }

    fn push(&mut self, at_ns: u64, event: impl std::fmt::Display, hashed: bool) {
        let mut line = String::new();
        let _ = write!(
            line,
            "{:>4}.{:09}s {event}",
            at_ns / 1_000_000_000,
            at_ns % 1_000_000_000
        );
        if self.echo {
            println!("{line}");
        }
        self.lines.push((line, hashed));
    }

    /// The events, one per line, details included.
    pub fn lines(&self) -> Vec<&str> {
        self.lines.iter().map(|(line, _)| line.as_str()).collect()
    }

    /// FNV-1a over every hashed line: stable across builds, unlike `std`'s
    /// hasher.
    pub fn hash(&self) -> u64 {
        self.lines
            .iter()
            .filter(|(_, hashed)| *hashed)
            .flat_map(|(l, _)| l.bytes().chain(std::iter::once(b'\n')))
            .fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_changes_with_any_event_and_only_then() {
        let mut a = Trace::default();
        a.record(1_000, "put k0");
        let mut b = a.clone();
        assert_eq!(a.hash(), b.hash());
        b.record(2_000, "get k0");
        assert_ne!(a.hash(), b.hash());
        let mut c = Trace::default();
        c.record(1_001, "put k0");
        assert_ne!(a.hash(), c.hash());
        let mut d = a.clone();
        d.record_detail(1_500, "send MsgAppend");
        assert_eq!(a.hash(), d.hash(), "details stay out of the hash");
        assert_eq!(d.lines().len(), 2);
    }
}
