//! Membership changes as raft's log carries them: a raft-rs `ConfChange`
//! (v1, as etcd 3.4 proposes them), whose context is the member as the
//! change makes it (etcd's `ConfigChangeContext`).
//!
//! | change  | raft kind        | context                   |
//! |---------|------------------|---------------------------|
//! | add     | `AddNode` / `AddLearnerNode` | the new member |
//! | promote | `AddNode`        | the member, `is_promote`  |
//! | remove  | `RemoveNode`     | none                      |
//!
//! A peer-URL update changes no voter, and raft-rs has no kind for it: it
//! travels as an ordinary entry (`InternalRaftRequest::member_update`).

use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, Entry, EntryType};

use super::members::MembershipChange;
use crate::proto::etcdserverpb::{ConfChangeContext, Member};

/// The waiter id of the bootstrap entries: nobody waits for them.
pub const BOOTSTRAP_ID: u64 = 0;

/// A conf change entry that does not decode; every member would stop on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Garbled(pub String);

/// The raft conf change proposing `change` under the waiter id `id`.
///
/// # Panics
/// For an update, which is no conf change (see the module's doc).
pub fn encode(change: &MembershipChange, id: u64) -> ConfChange {
    let mut cc = ConfChange {
        id,
        ..Default::default()
    };
    let context = |member: &Member, is_promote| {
        ConfChangeContext {
            member: Some(member.clone()),
            is_promote,
        }
        .encode_to_vec()
    };
    match change {
        MembershipChange::Add(member) => {
            cc.set_change_type(if member.is_learner {
                ConfChangeType::AddLearnerNode
            } else {
                ConfChangeType::AddNode
            });
            cc.node_id = member.id;
            cc.context = context(member, false).into();
        }
        MembershipChange::Promote(id) => {
            cc.set_change_type(ConfChangeType::AddNode);
            cc.node_id = *id;
            let member = Member {
                id: *id,
                ..Default::default()
            };
            cc.context = context(&member, true).into();
        }
        MembershipChange::Remove(id) => {
            cc.set_change_type(ConfChangeType::RemoveNode);
            cc.node_id = *id;
        }
        MembershipChange::Update { .. } => panic!("an update is an ordinary entry"),
    }
    cc
}

/// The waiter id and the change a conf change entry carries.
pub fn decode(entry: &Entry) -> Result<(u64, MembershipChange), Garbled> {
    let garbled = |what: &str| Garbled(format!("conf change entry {}: {what}", entry.index));
    let cc = ConfChange::parse_from_bytes(&entry.data).map_err(|e| garbled(&e.to_string()))?;
    let context = || {
        ConfChangeContext::decode(cc.context.as_ref())
            .map_err(|e| garbled(&e.to_string()))
            .and_then(|c| Ok((c.member.ok_or_else(|| garbled("no member"))?, c.is_promote)))
    };
    let change = match cc.get_change_type() {
        ConfChangeType::RemoveNode => MembershipChange::Remove(cc.node_id),
        kind => {
            let (member, is_promote) = context()?;
            if member.id != cc.node_id {
                return Err(garbled("the member is not the node changed"));
            }
            match (kind, is_promote) {
                (ConfChangeType::AddNode, true) => MembershipChange::Promote(cc.node_id),
                (ConfChangeType::AddNode, false) if !member.is_learner => {
                    MembershipChange::Add(member)
                }
                (ConfChangeType::AddLearnerNode, false) if member.is_learner => {
                    MembershipChange::Add(member)
                }
                _ => return Err(garbled("the kind and the member disagree")),
            }
        }
    };
    Ok((cc.id, change))
}

/// The entries a new cluster's log starts with (etcd's `StartNode`): one
/// committed `AddNode` per initial member, at indexes 1, 2, … of term 1,
/// so that a member that joins later learns the initial voters from the
/// log like every later change.
pub fn bootstrap(members: &[Member]) -> Vec<Entry> {
    members
        .iter()
        .zip(1..)
        .map(|(member, index)| {
            let cc = encode(&MembershipChange::Add(member.clone()), BOOTSTRAP_ID);
            let mut entry = Entry {
                term: 1,
                index,
                data: cc.write_to_bytes().expect("a conf change encodes").into(),
                ..Default::default()
            };
            entry.set_entry_type(EntryType::EntryConfChange);
            entry
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(cc: &ConfChange) -> Entry {
        let mut entry = Entry {
            index: 9,
            data: cc.write_to_bytes().unwrap().into(),
            ..Default::default()
        };
        entry.set_entry_type(EntryType::EntryConfChange);
        entry
    }

    #[test]
    fn every_change_round_trips_with_its_id() {
        let learner = Member {
            id: 4,
            peer_ur_ls: vec!["http://10.0.0.4:2380".into()],
            is_learner: true,
            ..Default::default()
        };
        let voter = Member {
            is_learner: false,
            ..learner.clone()
        };
        for change in [
            MembershipChange::Add(learner),
            MembershipChange::Add(voter),
            MembershipChange::Promote(4),
            MembershipChange::Remove(4),
        ] {
            let decoded = decode(&entry(&encode(&change, 77))).unwrap();
            assert_eq!(decoded, (77, change));
        }
    }

    #[test]
    fn a_context_that_contradicts_its_change_is_refused() {
        let mut cc = encode(
            &MembershipChange::Add(Member {
                id: 4,
                ..Default::default()
            }),
            1,
        );
        cc.set_change_type(ConfChangeType::AddLearnerNode);
        assert!(decode(&entry(&cc)).is_err());
        cc.node_id = 5;
        assert!(decode(&entry(&cc)).is_err());
    }

    #[test]
    fn a_new_cluster_starts_with_one_committed_add_per_member() {
        let members: Vec<Member> = (1..=3)
            .map(|id| Member {
                id,
                ..Default::default()
            })
            .collect();
        let entries = bootstrap(&members);
        assert_eq!(
            entries.iter().map(|e| e.index).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        for (entry, member) in entries.iter().zip(&members) {
            assert_eq!(entry.term, 1);
            let (_, change) = decode(entry).unwrap();
            assert_eq!(change, MembershipChange::Add(member.clone()));
        }
    }
}
