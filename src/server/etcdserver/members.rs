//! Who is in the cluster, as the log made it (etcd's `RaftCluster`).
//!
//! Every member applies the same membership changes in log order, so every
//! member holds the same table at the same applied index: the members, each
//! a voter or a learner with its peer URLs and what it published about
//! itself (name, client URLs), and the ids removed for good. A change is
//! judged against the table as it is when the change applies
//! ([`Membership::validate`]), on every member alike, so one that became
//! invalid while it waited in the log (a second add of the same peer URL)
//! is refused everywhere and changes nothing. raft's voters and learners
//! follow the table ([`Membership::conf_state`]): the applier hands raft
//! exactly the changes the table took.
//!
//! The table is part of every snapshot, so a restarted member rebuilds the
//! same membership from its snapshot and the entries after it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use prost::Message as _;
use raft::eraftpb::ConfState;

use crate::proto::etcdserverpb::{Member, MemberAttrSetRequest};

/// The most learners a cluster may have at once (etcd 3.4's `maxLearners`).
pub const MAX_LEARNERS: usize = 1;

/// One change to the membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipChange {
    /// A new member, a voter or a learner as `is_learner` says.
    Add(Member),
    /// A member leaves for good; its id may never come back.
    Remove(u64),
    /// A learner becomes a voter.
    Promote(u64),
    /// A member's peer URLs change.
    Update {
        /// The member.
        id: u64,
        /// Its new peer URLs.
        peer_urls: Vec<String>,
    },
}

/// Why a membership change was refused when it applied (etcd's
/// `membership` errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipError {
    /// The id was removed from the cluster before.
    IdRemoved,
    /// A member with this id is in the cluster.
    IdExists,
    /// No member has this id.
    IdNotFound,
    /// Another member has one of these peer URLs.
    PeerUrlExists,
    /// Only a learner can be promoted.
    NotLearner,
    /// The cluster has as many learners as it may.
    TooManyLearners,
    /// The change would leave the cluster without a voter.
    NoVoterLeft,
}

impl fmt::Display for MembershipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MembershipError::IdRemoved => "membership: ID removed",
            MembershipError::IdExists => "membership: ID exists",
            MembershipError::IdNotFound => "membership: ID not found",
            MembershipError::PeerUrlExists => "membership: peerURL exists",
            MembershipError::NotLearner => "membership: can only promote a learner member",
            MembershipError::TooManyLearners => "membership: too many learner members in cluster",
            MembershipError::NoVoterLeft => "membership: the change leaves no voter",
        })
    }
}

impl std::error::Error for MembershipError {}

/// The members and the removed ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    members: BTreeMap<u64, Member>,
    removed: BTreeSet<u64>,
}

impl Membership {
    /// Whether `change` may apply to the table as it is (etcd's
    /// `ValidateConfigurationChange`).
    pub fn validate(&self, change: &MembershipChange) -> Result<(), MembershipError> {
        match change {
            MembershipChange::Add(member) => {
                self.known(member.id)
                    .map_or(Ok(()), |_| Err(MembershipError::IdExists))?;
                if self.removed.contains(&member.id) {
                    return Err(MembershipError::IdRemoved);
                }
                self.peer_urls_free(member.id, &member.peer_ur_ls)?;
                if member.is_learner && self.learners().count() >= MAX_LEARNERS {
                    return Err(MembershipError::TooManyLearners);
                }
                Ok(())
            }
            MembershipChange::Remove(id) => {
                let member = self.known(*id)?;
                if !member.is_learner && self.voters().count() == 1 {
                    return Err(MembershipError::NoVoterLeft);
                }
                Ok(())
            }
            MembershipChange::Promote(id) => match self.known(*id)?.is_learner {
                true => Ok(()),
                false => Err(MembershipError::NotLearner),
            },
            MembershipChange::Update { id, peer_urls } => {
                self.known(*id)?;
                self.peer_urls_free(*id, peer_urls)
            }
        }
    }

    /// The member `id`, or why there is none.
    fn known(&self, id: u64) -> Result<&Member, MembershipError> {
        match self.members.get(&id) {
            Some(member) => Ok(member),
            None if self.removed.contains(&id) => Err(MembershipError::IdRemoved),
            None => Err(MembershipError::IdNotFound),
        }
    }

    /// Whether no member but `id` has one of `urls`.
    fn peer_urls_free(&self, id: u64, urls: &[String]) -> Result<(), MembershipError> {
        let taken = self
            .members
            .values()
            .filter(|m| m.id != id)
            .flat_map(|m| &m.peer_ur_ls)
            .any(|url| urls.contains(url));
        if taken {
            return Err(MembershipError::PeerUrlExists);
        }
        Ok(())
    }

    /// Applies `change`, which [`Self::validate`] allowed.
    ///
    /// # Panics
    /// If it does not validate: the applier judges every change first.
    pub fn apply(&mut self, change: MembershipChange) {
        assert_eq!(self.validate(&change), Ok(()), "{change:?}");
        match change {
            MembershipChange::Add(member) => {
                self.members.insert(member.id, member);
            }
            MembershipChange::Remove(id) => {
                self.members.remove(&id);
                self.removed.insert(id);
            }
            MembershipChange::Promote(id) => {
                self.members.get_mut(&id).expect("validated").is_learner = false;
            }
            MembershipChange::Update { id, peer_urls } => {
                self.members.get_mut(&id).expect("validated").peer_ur_ls = peer_urls;
            }
        }
    }

    /// Applies `change` as etcd 3.4 applies an update: the member's raft
    /// attributes replaced whole, so a learner updated becomes a voter in
    /// the membership while raft still counts it as a learner (the
    /// `etcd-21694` bug; other changes apply as [`Self::apply`] does).
    pub fn apply_replacing_attributes(&mut self, change: MembershipChange) {
        let updated = match &change {
            MembershipChange::Update { id, .. } => Some(*id),
            _ => None,
        };
        self.apply(change);
        if let Some(member) = updated.and_then(|id| self.members.get_mut(&id)) {
            member.is_learner = false;
        }
    }

    /// Records what `attributes.member_id` published, replacing what it
    /// published before (a member publishes again on every start). A
    /// removed or unknown member's attributes are dropped, as etcd drops
    /// them. Returns whether the table changed.
    pub fn publish(&mut self, attributes: MemberAttrSetRequest) -> bool {
        let Some(member) = self.members.get_mut(&attributes.member_id) else {
            return false;
        };
        member.name = attributes.name;
        member.client_ur_ls = attributes.client_urls;
        true
    }

    /// Every member as `MemberList` shows it, by id as etcd orders them: a
    /// member that has not published yet has no name and no client URLs.
    pub fn list(&self) -> Vec<Member> {
        self.members.values().cloned().collect()
    }

    /// The member `id`, if it is in the cluster.
    pub fn member(&self, id: u64) -> Option<&Member> {
        self.members.get(&id)
    }

    /// Every id removed from the cluster.
    pub fn removed_ids(&self) -> Vec<u64> {
        self.removed.iter().copied().collect()
    }

    /// The members that vote.
    pub fn voters(&self) -> impl Iterator<Item = &Member> {
        self.members.values().filter(|m| !m.is_learner)
    }

    /// The learners.
    pub fn learners(&self) -> impl Iterator<Item = &Member> {
        self.members.values().filter(|m| m.is_learner)
    }

    /// raft's voters and learners as this table has them.
    pub fn conf_state(&self) -> ConfState {
        let ids = |members: Vec<&Member>| members.iter().map(|m| m.id).collect::<Vec<_>>();
        ConfState::from((ids(self.voters().collect()), ids(self.learners().collect())))
    }

    /// The table as bytes, for snapshots: the members and the removed ids,
    /// each a count and then the entries (a member length-prefixed).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = (self.members.len() as u32).to_be_bytes().to_vec();
        for member in self.members.values() {
            let bytes = member.encode_to_vec();
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        out.extend_from_slice(&(self.removed.len() as u32).to_be_bytes());
        for id in &self.removed {
            out.extend_from_slice(&id.to_be_bytes());
        }
        out
    }

    /// A table encoded by [`Membership::encode`] at the start of `bytes`,
    /// and the bytes after it; `None` if it is cut short or garbled.
    pub fn decode(bytes: &[u8]) -> Option<(Membership, &[u8])> {
        let (count, mut rest) = bytes.split_first_chunk::<4>()?;
        let mut table = Membership::default();
        for _ in 0..u32::from_be_bytes(*count) {
            let (len, after) = rest.split_first_chunk::<4>()?;
            let len = u32::from_be_bytes(*len) as usize;
            let member = Member::decode(after.get(..len)?).ok()?;
            table.members.insert(member.id, member);
            rest = &after[len..];
        }
        let (count, mut after) = rest.split_first_chunk::<4>()?;
        for _ in 0..u32::from_be_bytes(*count) {
            let (id, next) = after.split_first_chunk::<8>()?;
            table.removed.insert(u64::from_be_bytes(*id));
            after = next;
        }
        Some((table, after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, is_learner: bool) -> Member {
        Member {
            id,
            peer_ur_ls: vec![format!("http://10.0.0.{id}:2380")],
            is_learner,
            ..Default::default()
        }
    }

    fn three() -> Membership {
        let mut table = Membership::default();
        for id in 1..=3 {
            table.apply(MembershipChange::Add(member(id, false)));
        }
        table
    }

    #[test]
    fn each_refusal_is_etcds() {
        let mut table = three();
        let add = |m| MembershipChange::Add(m);
        assert_eq!(
            table.validate(&add(member(2, false))),
            Err(MembershipError::IdExists)
        );
        let mut same_url = member(9, false);
        same_url.peer_ur_ls = member(1, false).peer_ur_ls;
        assert_eq!(
            table.validate(&add(same_url)),
            Err(MembershipError::PeerUrlExists)
        );
        assert_eq!(
            table.validate(&MembershipChange::Promote(2)),
            Err(MembershipError::NotLearner)
        );
        table.apply(add(member(4, true)));
        assert_eq!(
            table.validate(&add(member(5, true))),
            Err(MembershipError::TooManyLearners)
        );
        table.apply(MembershipChange::Remove(3));
        assert_eq!(
            table.validate(&add(member(3, false))),
            Err(MembershipError::IdRemoved)
        );
        assert_eq!(
            table.validate(&MembershipChange::Remove(3)),
            Err(MembershipError::IdRemoved)
        );
        assert_eq!(
            table.validate(&MembershipChange::Remove(8)),
            Err(MembershipError::IdNotFound)
        );
        let update = MembershipChange::Update {
            id: 1,
            peer_urls: member(2, false).peer_ur_ls,
        };
        assert_eq!(table.validate(&update), Err(MembershipError::PeerUrlExists));
        // A member may keep its own URLs.
        let keep = MembershipChange::Update {
            id: 1,
            peer_urls: member(1, false).peer_ur_ls,
        };
        assert_eq!(table.validate(&keep), Ok(()));
        table.apply(MembershipChange::Remove(2));
        assert_eq!(
            table.validate(&MembershipChange::Remove(1)),
            Err(MembershipError::NoVoterLeft),
            "the learner cannot carry the cluster"
        );
    }

    #[test]
    fn raft_follows_the_table_through_add_promote_and_remove() {
        let mut table = three();
        table.apply(MembershipChange::Add(member(4, true)));
        assert_eq!(
            table.conf_state(),
            ConfState::from((vec![1, 2, 3], vec![4]))
        );
        table.apply(MembershipChange::Promote(4));
        table.apply(MembershipChange::Remove(1));
        assert_eq!(table.conf_state(), ConfState::from((vec![2, 3, 4], vec![])));
        assert!(table.removed_ids() == [1] && table.member(1).is_none());
    }

    #[test]
    fn only_members_publish_and_the_list_is_by_id() {
        let mut table = three();
        table.apply(MembershipChange::Remove(3));
        let attributes = |id: u64| MemberAttrSetRequest {
            member_id: id,
            name: format!("m{id}"),
            client_urls: vec![format!("http://10.0.0.{id}:2379")],
        };
        assert!(table.publish(attributes(2)));
        assert!(!table.publish(attributes(3)), "removed");
        assert!(!table.publish(attributes(7)), "unknown");
        let list = table.list();
        assert_eq!(list.iter().map(|m| m.id).collect::<Vec<_>>(), [1, 2]);
        assert_eq!((list[0].name.as_str(), list[0].client_ur_ls.len()), ("", 0));
        assert_eq!(list[1].name, "m2");
        assert_eq!(list[1].client_ur_ls, ["http://10.0.0.2:2379"]);
    }

    #[test]
    fn the_table_survives_encoding_and_refuses_a_cut() {
        let mut table = three();
        table.apply(MembershipChange::Remove(2));
        table.apply(MembershipChange::Add(member(7, true)));
        let bytes = [table.encode(), b"tail".to_vec()].concat();
        let (decoded, rest) = Membership::decode(&bytes).unwrap();
        assert_eq!((decoded, rest), (table.clone(), &b"tail"[..]));
        let encoded = table.encode();
        for cut in 0..encoded.len() {
            assert!(
                Membership::decode(&encoded[..cut]).is_none(),
                "cut at {cut}"
            );
        }
    }
}
