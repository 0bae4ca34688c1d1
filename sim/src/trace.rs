//! The event trace of a run and its hash.
//!
//! Two runs of the same seed must produce the same trace, byte for byte; the
//! hash makes that cheap to compare and to print (`trace-hash: <hex>`).

use std::fmt::Write as _;

/// An append-only list of timestamped events.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    lines: Vec<String>,
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
        self.lines.push(line);
    }

    /// The events, one per line.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// FNV-1a over every line: stable across builds, unlike `std`'s hasher.
    pub fn hash(&self) -> u64 {
        self.lines
            .iter()
            .flat_map(|l| l.bytes().chain(std::iter::once(b'\n')))
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
    }
}
