//! The members' own log lines, read as events for the report's member
//! lanes: role and term changes, (re)starts from disk, snapshots, torn WAL
//! tails. The system under test logs them through `tracing` as etcd logs
//! them; this is the log reader, so it knows their wording (see
//! `src/raft/node.rs`) and nothing else about the system.

use etcd_sim_checker::report::{MemberChange, Role};

/// What one log line says, if it is one the report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged {
    /// A role, term or leader change; the leader as its raft id (0: none).
    Role {
        /// The role.
        role: Role,
        /// The term.
        term: u64,
        /// The leader's raft id, 0 if none is known.
        leader: u64,
    },
    /// The process started from its disk (a first start or a restart).
    Started(String),
    /// Anything else the lanes show.
    Change(MemberChange),
}

/// Reads a member's log `message`.
pub fn parse(message: &str) -> Option<Logged> {
    if let Some(detail) = message.strip_prefix("started from ") {
        return Some(Logged::Started(detail.to_string()));
    }
    if let Some(detail) = message.strip_prefix("snapshot ") {
        let detail = detail.to_string();
        return Some(Logged::Change(MemberChange::Snapshot { detail }));
    }
    if let Some(detail) = message.strip_prefix("wal: ") {
        let detail = detail.to_string();
        return Some(Logged::Change(MemberChange::TornWal { detail }));
    }
    // "{role:?} at term {term}, leader {leader:x}"
    let (role, rest) = message.split_once(" at term ")?;
    let (term, leader) = rest.split_once(", leader ")?;
    Some(Logged::Role {
        role: role.parse().ok()?,
        term: term.parse().ok()?,
        leader: u64::from_str_radix(leader, 16).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_the_lanes_show_are_read_and_others_are_not() {
        assert_eq!(
            parse("Leader at term 3, leader 2a"),
            Some(Logged::Role {
                role: Role::Leader,
                term: 3,
                leader: 0x2a
            })
        );
        assert_eq!(
            parse("started from a snapshot at index 25 and 3 WAL entries"),
            Some(Logged::Started(
                "a snapshot at index 25 and 3 WAL entries".into()
            ))
        );
        assert!(matches!(
            parse("snapshot at index 50 term 2"),
            Some(Logged::Change(MemberChange::Snapshot { .. }))
        ));
        assert_eq!(parse("send MsgAppend to 2 term 3"), None);
        assert_eq!(parse("Leaderish at term x, leader 1"), None);
    }
}
