//! The members' log lines about who votes, read as facts for the
//! membership check (`verdict::membership`). The system under test logs
//! them through `tracing` (see `src/server/etcdserver/apply.rs` and
//! `src/raft/node.rs`); this reader knows their wording and nothing else
//! about the system.
//!
//! - `membership at index I: V`: the member applied the conf change entry
//!   at I, and its membership then has voters and learners V (a refused
//!   change leaves them as they were);
//! - `membership restored at index I: V`: a snapshot at I gave it V;
//! - `raft voters at index I: V`: raft took the conf change at I, and
//!   counts V;
//! - `snapshot voters at index I: V`: a snapshot at I (taken, received or
//!   started from) gives raft V when restored;
//! - `the member has been permanently removed from the cluster`: it applied
//!   its own removal;
//! - `started from …`: its process (re)started from its disk.

/// What one line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipFact {
    /// Voters and learners `voters` by some view as of entry `index`.
    Voters {
        /// Whose view.
        view: View,
        /// The entry (or snapshot) index.
        index: u64,
        /// `voters [..] learners [..]`, as the member wrote them.
        voters: String,
    },
    /// The member applied its own removal.
    Removed,
    /// The member's process started (again) from its disk: it knows only
    /// what its disk held until its next lines.
    Started,
}

/// Whose view of the voters a line gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum View {
    /// The membership, after applying a conf change entry.
    Applied,
    /// The membership, as a snapshot restored it.
    Restored,
    /// raft, after taking a conf change entry.
    Raft,
    /// raft, as a snapshot's metadata gives it.
    Snapshot,
}

impl View {
    /// How a line names it.
    fn prefix(self) -> &'static str {
        match self {
            View::Applied => "membership at index ",
            View::Restored => "membership restored at index ",
            View::Raft => "raft voters at index ",
            View::Snapshot => "snapshot voters at index ",
        }
    }
}

/// One fact, by whom and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipLine {
    /// The member's raft id.
    pub member: u64,
    /// Simulated time of the line.
    pub at_ns: u64,
    /// What it says.
    pub fact: MembershipFact,
}

/// Reads a member's log `message`, if it is about who votes.
pub fn parse(message: &str) -> Option<MembershipFact> {
    if message == "the member has been permanently removed from the cluster" {
        return Some(MembershipFact::Removed);
    }
    if message.starts_with("started from ") {
        return Some(MembershipFact::Started);
    }
    [View::Applied, View::Restored, View::Raft, View::Snapshot]
        .into_iter()
        .find_map(|view| {
            let (index, voters) = message.strip_prefix(view.prefix())?.split_once(": ")?;
            Some(MembershipFact::Voters {
                view,
                index: index.parse().ok()?,
                voters: voters.to_string(),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_views_and_the_removal_are_read_and_nothing_else() {
        let voters = |view, index| {
            Some(MembershipFact::Voters {
                view,
                index,
                voters: "voters [1, 2] learners [3]".into(),
            })
        };
        assert_eq!(
            parse("membership at index 7: voters [1, 2] learners [3]"),
            voters(View::Applied, 7)
        );
        assert_eq!(
            parse("membership restored at index 9: voters [1, 2] learners [3]"),
            voters(View::Restored, 9)
        );
        assert_eq!(
            parse("raft voters at index 7: voters [1, 2] learners [3]"),
            voters(View::Raft, 7)
        );
        assert_eq!(
            parse("snapshot voters at index 9: voters [1, 2] learners [3]"),
            voters(View::Snapshot, 9)
        );
        assert_eq!(
            parse("the member has been permanently removed from the cluster"),
            Some(MembershipFact::Removed)
        );
        assert_eq!(
            parse("started from a snapshot at index 0 and 3 WAL entries"),
            Some(MembershipFact::Started)
        );
        assert_eq!(parse("snapshot at index 9 term 2"), None);
        assert_eq!(parse("membership at index x: voters []"), None);
    }
}
