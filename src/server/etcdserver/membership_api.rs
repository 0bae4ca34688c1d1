//! Membership changes asked of this member (etcd's `AddMember`,
//! `RemoveMember`, `UpdateMember`, `PromoteMember`), and what its peers
//! ask of it about the cluster.
//!
//! Each change is judged twice, as etcd judges it. Here, before it is
//! proposed, against what this member sees now: with
//! `--strict-reconfig-check` (etcd's default) a change that would leave
//! fewer started voters than a quorum is refused, and a learner is promoted
//! only once its log is in sync with the leader's, which only the leader
//! knows (a follower forwards the promotion). Then by every member when the
//! change applies, against the membership as the log left it
//! ([`super::members::Membership::validate`]).

use std::time::Duration;

use madsim::rand::{thread_rng, Rng};
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use super::members::{MembershipChange, MembershipError};
use super::{EtcdServer, ServerError, StateMachine};
use crate::proto::etcdserverpb::{
    Member, MemberListRequest, MemberListResponse, MemberPromoteRequest, MemberPromoteResponse,
    MemberUpdateRequest, ResponseHeader,
};
use crate::proto::etcdsimpb::cluster_peer_client::ClusterPeerClient;
use crate::proto::etcdsimpb::cluster_peer_server::ClusterPeer;
use crate::rpc_error::RpcError;
use crate::server::config::parse_url;

/// How recently a peer must have been reachable to count as active for a
/// removal (etcd's `HealthInterval`).
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// How far behind the leader's log a learner may be and still be promoted:
/// its match index must be at least this share of the leader's (etcd's
/// `readyPercent`).
const READY_PERCENT: f64 = 0.9;

impl EtcdServer {
    /// Adds a member at `peer_urls`, a learner if `is_learner`; answers
    /// with the new member and every member after the change.
    pub async fn member_add(
        &self,
        peer_urls: Vec<String>,
        is_learner: bool,
    ) -> Result<(Member, Vec<Member>), ServerError> {
        check_urls(&peer_urls)?;
        if !is_learner && self.inner.strict_reconfig_check {
            let ready = self.read_members(ready_to_add_voter);
            if !ready {
                return Err(ServerError::NotEnoughStartedMembers);
            }
        }
        // etcd derives the id from the URLs, the cluster and the time:
        // unique, and unknown before the call. A draw is both.
        let member = Member {
            id: thread_rng().gen_range(1..=u64::MAX),
            peer_ur_ls: peer_urls,
            is_learner,
            ..Default::default()
        };
        let members = self
            .propose_conf_change(MembershipChange::Add(member.clone()))
            .await?;
        Ok((member, members))
    }

    /// Removes member `id` for good; answers with the members after it.
    pub async fn member_remove(&self, id: u64) -> Result<Vec<Member>, ServerError> {
        if self.inner.strict_reconfig_check {
            self.may_remove(id)?;
        }
        self.propose_conf_change(MembershipChange::Remove(id)).await
    }

    /// Changes member `id`'s peer URLs; answers with the members after it.
    pub async fn member_update(
        &self,
        id: u64,
        peer_urls: Vec<String>,
    ) -> Result<Vec<Member>, ServerError> {
        // etcd 3.4's server takes any URL here and leaves the check to
        // etcdctl; applied, a URL that does not parse would leave every
        // member unable to reach that member, so it is refused here too.
        check_urls(&peer_urls)?;
        self.propose(MemberUpdateRequest {
            id,
            peer_ur_ls: peer_urls,
        })
        .await
    }

    /// Promotes learner `id` to a voter; answers with the members after it.
    /// Only the leader knows whether the learner is in sync: a follower
    /// asks the leader.
    pub async fn member_promote(&self, id: u64) -> Result<Vec<Member>, ServerError> {
        let leader = self.inner.raft.status().leader;
        if leader == 0 {
            return Err(ServerError::NoLeader);
        }
        if leader != self.member_id() {
            return self.forward_promote(leader, id).await;
        }
        self.may_promote(id).await?;
        self.propose_conf_change(MembershipChange::Promote(id))
            .await
    }

    /// Asks the leader to promote `id`.
    async fn forward_promote(&self, leader: u64, id: u64) -> Result<Vec<Member>, ServerError> {
        let url = self.peer_url(leader).ok_or(ServerError::NoLeader)?;
        let ask = async {
            let mut peer = ClusterPeerClient::connect(url).await.ok()?;
            Some(peer.promote(MemberPromoteRequest { id }).await)
        };
        match tokio::time::timeout(self.inner.request_timeout, ask).await {
            Ok(Some(Ok(response))) => Ok(response.into_inner().members),
            Ok(Some(Err(status))) => match RpcError::from_message(status.message()) {
                Some(refused) => Err(ServerError::RefusedByLeader(refused)),
                None => Err(ServerError::TimedOut),
            },
            Ok(None) | Err(_) => Err(ServerError::TimedOut),
        }
    }

    /// etcd's `mayPromoteMember`: `id` is a learner in sync with this
    /// leader's log, and promoting it keeps a quorum of started voters.
    async fn may_promote(&self, id: u64) -> Result<(), ServerError> {
        let member = self.read_members(|state| state.members.member(id).cloned());
        let member = member.ok_or(MembershipError::IdNotFound)?;
        if !member.is_learner {
            return Err(MembershipError::NotLearner.into());
        }
        let matched = self
            .inner
            .raft
            .matched()
            .await
            .ok_or(ServerError::NotLeader)?;
        let leader = matched.get(&self.member_id()).copied().unwrap_or(0);
        let learner = matched.get(&id).copied().unwrap_or(0);
        if (learner as f64) < leader as f64 * READY_PERCENT {
            return Err(ServerError::LearnerNotReady);
        }
        if self.inner.strict_reconfig_check && !self.read_members(ready_to_add_voter) {
            return Err(ServerError::NotEnoughStartedMembers);
        }
        Ok(())
    }

    /// etcd's `mayRemoveMember`: removing `id` leaves a quorum of started
    /// voters, and of voters the leader reached recently.
    fn may_remove(&self, id: u64) -> Result<(), ServerError> {
        let (member, started_quorum, voters) = self.read_members(|state| {
            let member = state.members.member(id).cloned();
            let voters: Vec<u64> = state.members.voters().map(|m| m.id).collect();
            (member, ready_to_remove_voter(state, id), voters)
        });
        // No quorum rests on a learner, nor on a member that is not there
        // (whose removal the applier refuses as not found).
        if member.is_none_or(|m| m.is_learner) {
            return Ok(());
        }
        if !started_quorum {
            return Err(ServerError::NotEnoughStartedMembers);
        }
        let me = self.member_id();
        // Only a leader talks to every peer (its heartbeats go to all):
        // a follower's transport has nothing to say of the others, where
        // etcd's keeps a stream to each. So the leader judges this part.
        if self.inner.raft.status().leader != me {
            return Ok(());
        }
        let since = Instant::now()
            .checked_sub(HEALTH_INTERVAL)
            .unwrap_or_else(Instant::now);
        // A member this one cannot reach is no part of the active quorum.
        if id != me && !self.inner.raft.connected_since(id, Instant::now()) {
            return Ok(());
        }
        let active = voters
            .iter()
            .filter(|&&v| v == me || self.inner.raft.connected_since(v, since))
            .count();
        if active < 2 + (voters.len() - 1) / 2 {
            return Err(ServerError::NotEnoughStartedMembers);
        }
        Ok(())
    }

    fn read_members<T>(&self, read: impl FnOnce(&StateMachine) -> T) -> T {
        self.inner.state.read(read)
    }

    /// Where member `id`'s peers reach it, if it is a member.
    pub(super) fn peer_url(&self, id: u64) -> Option<String> {
        let url = |state: &StateMachine| state.members.member(id)?.peer_ur_ls.first().cloned();
        self.read_members(url)
    }
}

/// Whether one more voter leaves a quorum of started voters (etcd's
/// `IsReadyToAddVotingMember`): a member has started once it published its
/// name. A one-member cluster may always grow to two (restoring a cluster
/// from one member's data).
fn ready_to_add_voter(state: &StateMachine) -> bool {
    let voters = state.members.voters();
    let (total, started) = voters.fold((1, 0), |(n, s), m| {
        (n + 1, s + usize::from(!m.name.is_empty()))
    });
    (started == 1 && total == 2) || started >= quorum(total)
}

/// Whether the voters but `id` hold a quorum of started ones (etcd's
/// `IsReadyToRemoveVotingMember`).
fn ready_to_remove_voter(state: &StateMachine, id: u64) -> bool {
    let others = state.members.voters().filter(|m| m.id != id);
    let (total, started) = others.fold((0, 0), |(n, s), m| {
        (n + 1, s + usize::from(!m.name.is_empty()))
    });
    started >= quorum(total)
}

/// How many of `voters` make a quorum.
pub(super) fn quorum(voters: usize) -> usize {
    voters / 2 + 1
}

/// etcd refuses a change without peer URLs or with one that is no URL.
fn check_urls(urls: &[String]) -> Result<(), ServerError> {
    if urls.is_empty() || urls.iter().any(|url| parse_url(url).is_err()) {
        return Err(ServerError::BadMemberUrls);
    }
    Ok(())
}

/// What peers ask of this member about the cluster (etcd's peer
/// `/members` and `/members/promote` handlers).
pub struct ClusterPeerService {
    server: EtcdServer,
}

impl ClusterPeerService {
    /// The peer service of `server`.
    pub fn new(server: EtcdServer) -> Self {
        Self { server }
    }
}

#[tonic::async_trait]
impl ClusterPeer for ClusterPeerService {
    async fn members(
        &self,
        _: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        let header = ResponseHeader {
            cluster_id: self.server.cluster_id(),
            member_id: self.server.member_id(),
            ..Default::default()
        };
        Ok(Response::new(MemberListResponse {
            header: Some(header),
            members: self.server.member_list(),
        }))
    }

    async fn promote(
        &self,
        request: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        let id = request.into_inner().id;
        let server = &self.server;
        if server.inner.raft.status().leader != server.member_id() {
            return Err(RpcError::NotLeader.into());
        }
        server.may_promote(id).await.map_err(status)?;
        let members = server
            .propose_conf_change(MembershipChange::Promote(id))
            .await
            .map_err(status)?;
        Ok(Response::new(MemberPromoteResponse {
            header: None,
            members,
        }))
    }
}

fn status(e: ServerError) -> Status {
    RpcError::from(e).into()
}
