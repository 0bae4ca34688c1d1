//! Coincidences: two different events of a run within [`WINDOW_NS`] of
//! each other, counted as the coverage path `pair:A+B`.
//!
//! Many mistakes show only when two things meet: a restart and an
//! election, a compaction and a watch catching up, a leader change and a
//! lease expiring. A campaign that reaches every path alone may never
//! reach them together, and nothing said so. The events are the moments a
//! fault began (`fault:KIND`), a rare path was reached (`site:NAME`), a
//! member became leader (`leader-elected`) and a client asked for a
//! compaction (`compaction`); [`universe`] holds every pair of two
//! different ones, and `run` reports how many of them the campaign
//! reached.

use std::collections::BTreeMap;

use etcd_sim::coverage::Site;
use etcd_sim_checker::{History, Request};

use crate::faults::FaultKind;

/// How close two events must be to coincide: a second of simulated time,
/// about an election timeout, the span in which one event's aftermath
/// still meets the other.
pub const WINDOW_NS: u64 = 1_000_000_000;

/// The prefix of a coincidence's coverage path.
pub const PREFIX: &str = "pair:";

/// One event of a run: when, and its name in the vocabulary.
pub type Moment = (u64, String);

/// The names of the events that can coincide.
pub fn vocabulary() -> Vec<String> {
    let faults = FaultKind::ALL.iter().map(|f| format!("fault:{}", f.name()));
    let sites = Site::ALL.iter().map(|s| format!("site:{s}"));
    faults
        .chain(sites)
        .chain(["leader-elected".to_string(), "compaction".to_string()])
        .collect()
}

/// Every coincidence a campaign can reach: each pair of two different
/// events of the vocabulary, as its coverage path.
pub fn universe() -> Vec<String> {
    let names = vocabulary();
    let mut pairs = Vec::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            pairs.push(path(a, b));
        }
    }
    pairs.sort();
    pairs
}

/// The coverage path of the coincidence of `a` and `b`, in either order.
fn path(a: &str, b: &str) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    format!("{PREFIX}{first}+{second}")
}

/// The moments the history holds: faults beginning and compactions asked.
pub fn history_moments(history: &History) -> Vec<Moment> {
    let faults = history
        .faults
        .iter()
        .map(|f| (f.start_ns, format!("fault:{}", f.name)));
    let compactions = history
        .operations
        .iter()
        .filter(|op| matches!(op.request, Request::Compact { .. }))
        .map(|op| (op.call_ns, "compaction".to_string()));
    faults.chain(compactions).collect()
}

/// How often each pair of different events happened within [`WINDOW_NS`]
/// of each other: every two such moments count once.
pub fn count(mut moments: Vec<Moment>) -> BTreeMap<String, u64> {
    moments.sort();
    let mut counts = BTreeMap::new();
    for (i, (at, name)) in moments.iter().enumerate() {
        let near = moments[i + 1..]
            .iter()
            .take_while(|(later, _)| later - at <= WINDOW_NS);
        for (_, other) in near.filter(|(_, other)| other != name) {
            *counts.entry(path(name, other)).or_insert(0) += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moment(at_ms: u64, name: &str) -> Moment {
        (at_ms * 1_000_000, name.to_string())
    }

    #[test]
    fn two_different_events_within_the_window_coincide_in_either_order() {
        let counts = count(vec![
            moment(5_000, "site:snapshot-sent"),
            moment(4_500, "fault:kill"),
            moment(9_000, "compaction"),
            moment(10_001, "fault:kill"),
        ]);
        let want: BTreeMap<String, u64> =
            [("pair:fault:kill+site:snapshot-sent".to_string(), 1)].into();
        assert_eq!(counts, want, "9.0 s and 10.001 s are more than 1 s apart");
    }

    #[test]
    fn the_same_event_twice_is_no_coincidence_and_each_pair_counts() {
        let counts = count(vec![
            moment(0, "fault:kill"),
            moment(100, "fault:kill"),
            moment(200, "leader-elected"),
        ]);
        assert_eq!(counts.len(), 1, "{counts:?}");
        assert_eq!(counts["pair:fault:kill+leader-elected"], 2);
    }

    #[test]
    fn the_universe_holds_every_pair_of_two_different_events_once() {
        let names = vocabulary().len();
        let universe = universe();
        assert_eq!(universe.len(), names * (names - 1) / 2);
        let mut unique = universe.clone();
        unique.dedup();
        assert_eq!(unique.len(), universe.len());
        assert!(universe.contains(&"pair:compaction+site:watch-resumed".to_string()));
        let counts = count(vec![
            moment(0, "site:watch-resumed"),
            moment(1, "compaction"),
        ]);
        assert!(counts.keys().all(|k| universe.contains(k)), "{counts:?}");
    }
}
