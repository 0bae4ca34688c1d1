//! The membership check: who votes, as the members' own lines tell it
//! (`record::membership_lines`), held against itself and against who
//! answered the clients.
//!
//! - **One sequence.** Every member that applied the conf change entry at
//!   index I ends with the same voters and learners: each member's applied
//!   memberships are a prefix of one common sequence (a member that caught
//!   up by snapshot skips part of it).
//! - **raft follows.** raft's voters after taking the entry at I are the
//!   membership's after applying it: a member whose raft counts other
//!   voters than its membership names counts the wrong quorum.
//! - **Snapshots hold the membership of their index.** What a snapshot at
//!   I gives raft (its metadata) and the membership (its data) is the
//!   common sequence's newest membership at or before I.
//! - **A removed member answers nothing.** No request invoked after a
//!   member applied its own removal is answered by it.
//! - **A learner answers nothing linearizable.** No request but a
//!   serializable read is answered by a member while, by its own
//!   membership, it is a learner.

use std::collections::BTreeMap;

use crate::record::membership_lines::{MembershipFact, MembershipLine, View};

/// One answered client request, as the membership check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The member that answered (raft id, from the response header).
    pub member: u64,
    /// When the request was invoked.
    pub call_ns: u64,
    /// When the answer arrived.
    pub return_ns: u64,
    /// Whether only a voter may answer it (anything but a serializable read).
    pub linearizable: bool,
}

/// Every broken rule, as evidence for a person; empty if none.
pub fn check(lines: &[MembershipLine], answers: &[Answer]) -> Vec<String> {
    let (common, mut broken) = common_sequence(lines);
    broken.extend(views_follow(lines, &common));
    broken.extend(removed_answered(lines, answers));
    broken.extend(learner_answered(lines, answers));
    broken
}

/// The common sequence (voters by the index of the conf change entry
/// that led to them, with the first member to apply it), and every member
/// that applied an entry otherwise.
fn common_sequence(lines: &[MembershipLine]) -> (BTreeMap<u64, (&str, u64)>, Vec<String>) {
    let mut common: BTreeMap<u64, (&str, u64)> = BTreeMap::new();
    let mut broken = Vec::new();
    for line in lines {
        let MembershipFact::Voters {
            view: View::Applied,
            index,
            voters,
        } = &line.fact
        else {
            continue;
        };
        let (first, by) = *common.entry(*index).or_insert((voters, line.member));
        if first != voters {
            broken.push(format!(
                "members {by:x} and {:x} applied the conf change at index {index} differently: \
                 {first} vs {voters}",
                line.member
            ));
        }
    }
    (common, broken)
}

/// raft's voters and the snapshots' against the common sequence.
fn views_follow<'a>(
    lines: &'a [MembershipLine],
    common: &'a BTreeMap<u64, (&'a str, u64)>,
) -> impl Iterator<Item = String> + 'a {
    lines.iter().filter_map(move |line| {
        let MembershipFact::Voters {
            view,
            index,
            voters,
        } = &line.fact
        else {
            return None;
        };
        let (expected, what) = match view {
            View::Applied => return None,
            View::Raft => (common.get(index)?.0, "its raft counts"),
            View::Restored | View::Snapshot => (
                common.range(..=index).next_back()?.1 .0,
                match view {
                    View::Restored => "a snapshot restored its membership as",
                    _ => "a snapshot gives its raft",
                },
            ),
        };
        (expected != voters).then(|| {
            format!(
                "member {:x}: at index {index} {what} {voters}, but the membership is {expected}",
                line.member
            )
        })
    })
}

/// Requests a member answered that were invoked after it applied its own
/// removal.
fn removed_answered(lines: &[MembershipLine], answers: &[Answer]) -> Vec<String> {
    let mut removed_at: BTreeMap<u64, u64> = BTreeMap::new();
    for line in lines {
        if line.fact == MembershipFact::Removed {
            removed_at.entry(line.member).or_insert(line.at_ns);
        }
    }
    answers
        .iter()
        .filter_map(|answer| {
            let removed = *removed_at.get(&answer.member)?;
            (answer.call_ns > removed).then(|| {
                format!(
                    "member {:x} answered a request invoked at {:.3}s, after it applied its own \
                     removal at {:.3}s",
                    answer.member,
                    seconds(answer.call_ns),
                    seconds(removed)
                )
            })
        })
        .collect()
}

/// Linearizable requests a member answered while, by its own membership,
/// it was a learner from before the request to after the answer.
fn learner_answered(lines: &[MembershipLine], answers: &[Answer]) -> Vec<String> {
    let spans = learner_spans(lines);
    answers
        .iter()
        .filter(|answer| answer.linearizable)
        .filter_map(|answer| {
            let (from, to) = *spans
                .get(&answer.member)?
                .iter()
                .find(|(from, to)| *from <= answer.call_ns && answer.return_ns <= *to)?;
            Some(format!(
                "member {:x} answered a linearizable request ({:.3}s to {:.3}s) while it was a \
                 learner ({:.3}s to {:.3}s)",
                answer.member,
                seconds(answer.call_ns),
                seconds(answer.return_ns),
                seconds(from),
                seconds(to.min(answer.return_ns))
            ))
        })
        .collect()
}

/// When each member was a learner by its own membership: from the line
/// that made it one to the next line that did not (a restart forgets).
fn learner_spans(lines: &[MembershipLine]) -> BTreeMap<u64, Vec<(u64, u64)>> {
    let mut since: BTreeMap<u64, u64> = BTreeMap::new();
    let mut spans: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for line in lines {
        let learner = match &line.fact {
            MembershipFact::Voters {
                view: View::Applied | View::Restored,
                voters,
                ..
            } => is_learner(voters, line.member),
            MembershipFact::Voters { .. } => continue,
            MembershipFact::Removed | MembershipFact::Started => false,
        };
        match (learner, since.get(&line.member).copied()) {
            (true, None) => {
                since.insert(line.member, line.at_ns);
            }
            (false, Some(from)) => {
                since.remove(&line.member);
                spans
                    .entry(line.member)
                    .or_default()
                    .push((from, line.at_ns));
            }
            _ => {}
        }
    }
    for (member, from) in since {
        spans.entry(member).or_default().push((from, u64::MAX));
    }
    spans
}

/// Whether `voters` (`voters [..] learners [..]`) lists `member` as a learner.
fn is_learner(voters: &str, member: u64) -> bool {
    let Some((_, learners)) = voters.split_once("learners [") else {
        return false;
    };
    let id = format!("{member:x}");
    learners.trim_end_matches(']').split(", ").any(|l| l == id)
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn line(member: u64, at_s: u64, view: View, index: u64, voters: &str) -> MembershipLine {
        MembershipLine {
            member,
            at_ns: at_s * S,
            fact: MembershipFact::Voters {
                view,
                index,
                voters: voters.to_string(),
            },
        }
    }

    fn fact(member: u64, at_s: u64, fact: MembershipFact) -> MembershipLine {
        MembershipLine {
            member,
            at_ns: at_s * S,
            fact,
        }
    }

    fn answer(member: u64, from_s: u64, to_s: u64, linearizable: bool) -> Answer {
        Answer {
            member,
            call_ns: from_s * S,
            return_ns: to_s * S,
            linearizable,
        }
    }

    const THREE: &str = "voters [1, 2, 3] learners []";
    const WITH_LEARNER: &str = "voters [1, 2, 3] learners [4]";
    const PROMOTED: &str = "voters [1, 2, 3, 4] learners []";
    const WITHOUT_3: &str = "voters [1, 2] learners []";

    /// A cluster of three that adds member 4 as a learner at index 10,
    /// promotes it at 12 and removes member 3 at 20, every view agreeing;
    /// member 4 caught up by a snapshot at 11.
    fn good_run() -> Vec<MembershipLine> {
        let mut lines = Vec::new();
        for m in 1..=3 {
            lines.push(line(m, 1, View::Applied, 3, THREE));
            lines.push(line(m, 1, View::Raft, 3, THREE));
        }
        for m in 1..=3 {
            lines.push(line(m, 5, View::Applied, 10, WITH_LEARNER));
            lines.push(line(m, 5, View::Raft, 10, WITH_LEARNER));
        }
        lines.push(line(1, 6, View::Snapshot, 11, WITH_LEARNER));
        lines.push(fact(4, 6, MembershipFact::Started));
        lines.push(line(4, 7, View::Snapshot, 11, WITH_LEARNER));
        lines.push(line(4, 7, View::Restored, 11, WITH_LEARNER));
        for m in 1..=4 {
            lines.push(line(m, 9, View::Applied, 12, PROMOTED));
            lines.push(line(m, 9, View::Raft, 12, PROMOTED));
        }
        for m in [1, 2, 4, 3] {
            lines.push(line(m, 20, View::Applied, 20, WITHOUT_3));
        }
        lines.push(fact(3, 20, MembershipFact::Removed));
        lines
    }

    fn good_answers() -> Vec<Answer> {
        vec![
            answer(4, 7, 8, false),
            answer(4, 10, 11, true),
            answer(3, 15, 19, true),
            answer(1, 21, 22, true),
        ]
    }

    #[test]
    fn a_run_whose_views_agree_passes() {
        assert_eq!(check(&good_run(), &good_answers()), Vec::<String>::new());
    }

    #[test]
    fn two_members_that_applied_one_entry_differently_are_caught() {
        let mut lines = good_run();
        lines.push(line(4, 30, View::Applied, 12, WITH_LEARNER));
        let broken = check(&lines, &good_answers());
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(broken[0].contains("applied the conf change at index 12 differently"));
    }

    #[test]
    fn raft_counting_other_voters_than_the_membership_is_caught() {
        let mut lines = good_run();
        // etcd #21694's outcome: the membership promoted, raft did not.
        lines.push(line(2, 30, View::Raft, 20, "voters [1] learners [2]"));
        let broken = check(&lines, &good_answers());
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(broken[0].contains("member 2: at index 20 its raft counts"));
    }

    #[test]
    fn a_snapshot_with_an_older_membership_than_its_index_is_caught() {
        let mut lines = good_run();
        // etcd #21190's outcome: the snapshot at 13 has the voters of 10.
        lines.push(line(1, 30, View::Snapshot, 13, WITH_LEARNER));
        let broken = check(&lines, &good_answers());
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(broken[0].contains("a snapshot gives its raft"));
        let mut lines = good_run();
        lines.push(line(2, 30, View::Restored, 25, PROMOTED));
        let broken = check(&lines, &good_answers());
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(broken[0].contains("a snapshot restored its membership as"));
    }

    #[test]
    fn a_removed_member_that_answers_is_caught() {
        let mut answers = good_answers();
        answers.push(answer(3, 21, 22, false));
        let broken = check(&good_run(), &answers);
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(broken[0].contains("member 3 answered a request invoked at 21.000s"));
    }

    #[test]
    fn a_learner_that_answers_a_linearizable_request_is_caught() {
        let mut answers = good_answers();
        answers.push(answer(4, 7, 8, true));
        let broken = check(&good_run(), &answers);
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(broken[0].contains("member 4 answered a linearizable request"));
        // Not while it might have been promoted already, nor after a
        // restart made it forget.
        let mut answers = good_answers();
        answers.push(answer(4, 8, 10, true));
        assert!(check(&good_run(), &answers).is_empty());
    }

    #[test]
    fn learners_are_read_from_the_learner_list_only() {
        assert!(is_learner(WITH_LEARNER, 4));
        assert!(!is_learner(WITH_LEARNER, 1));
        assert!(!is_learner("voters [4] learners [14]", 4));
    }
}
