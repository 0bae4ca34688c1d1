//! The write funnel: a request in, the response its kind implies out.
//!
//! Every write goes through raft the same way (etcd's
//! `processInternalRaftRequestOnce`): pick a unique id, register a waiter,
//! propose, wait for the applier to answer the id or for the request
//! timeout. A [`Proposal`] names what a kind of request is answered with,
//! so each caller gets its own response type back; and a timeout says, as
//! etcd's `parseProposeCtxErr` does, whether a leader failure or a lost
//! connection probably caused it.

use std::time::Duration;

use madsim::rand::{thread_rng, Rng};
use prost::Message as _;
use tokio::time::Instant;

use super::apply::ApplyResult;
use super::conf_change;
use super::members::MembershipChange;
use super::membership_api::quorum;
use super::raft_request::txn_proposal;
use super::{EtcdServer, ServerError};
use crate::proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, CompactionRequest, CompactionResponse, DeleteRangeRequest,
    DeleteRangeResponse, InternalRaftRequest, LeaseGrantRequest, LeaseGrantResponse,
    LeaseRevokeRequest, LeaseRevokeResponse, Member, MemberAttrSetRequest, MemberUpdateRequest,
    PutRequest, PutResponse, RequestHeader, TxnRequest, TxnResponse,
};
use crate::raft::{ProposeError, RaftStatus};

/// A kind of request that goes through raft, and what applying it answers.
pub(super) trait Proposal {
    /// What the caller gets once the entry is applied.
    type Response;

    /// The request as raft's log carries it.
    fn into_entry(self) -> InternalRaftRequest;

    /// This kind's answer from the applier's result; if the applier
    /// answered another kind, that was another entry's result, under the
    /// same id ([`ServerError::AnsweredByAnotherEntry`]).
    fn answer(applied: ApplyResult) -> Result<Self::Response, ServerError>;
}

/// Implements [`Proposal`] for a request kind: how it becomes an entry, and
/// which of the applier's results answers it. Most kinds are one field of
/// the entry, answered by the [`ApplyResult`] variant of the same name.
macro_rules! proposal {
    ($request:ty => $response:ty, $field:ident, $variant:ident) => {
        proposal!($request => $response, $field,
            answer: ApplyResult::$variant(result) => result);
    };
    ($request:ty => $response:ty, $field:ident, answer: $answered:pat => $result:expr) => {
        proposal!($request => $response,
            entry: |request| InternalRaftRequest {
                $field: Some(request),
                ..Default::default()
            },
            answer: $answered => $result);
    };
    ($request:ty => $response:ty, entry: $entry:expr, answer: $answered:pat => $result:expr) => {
        impl Proposal for $request {
            type Response = $response;

            fn into_entry(self) -> InternalRaftRequest {
                let entry: fn($request) -> InternalRaftRequest = $entry;
                entry(self)
            }

            fn answer(applied: ApplyResult) -> Result<$response, ServerError> {
                match applied {
                    $answered => $result,
                    _ => Err(ServerError::AnsweredByAnotherEntry),
                }
            }
        }
    };
}

proposal!(PutRequest => PutResponse, put, Put);
proposal!(DeleteRangeRequest => DeleteRangeResponse, delete_range, DeleteRange);
proposal!(CompactionRequest => CompactionResponse, compaction, Compaction);
proposal!(LeaseGrantRequest => LeaseGrantResponse, lease_grant, LeaseGrant);
proposal!(LeaseRevokeRequest => LeaseRevokeResponse, lease_revoke, LeaseRevoke);
// Alarms and published attributes cannot fail once applied.
proposal!(AlarmRequest => AlarmResponse, alarm,
    answer: ApplyResult::Alarm(response) => Ok(response));
proposal!(MemberAttrSetRequest => (), member_attr_set,
    answer: ApplyResult::MemberAttrSet => Ok(()));
proposal!(MemberUpdateRequest => Vec<Member>, member_update, Membership);
// A txn travels as bytes of its own (see `raft_request`).
proposal!(TxnRequest => TxnResponse,
    entry: |txn| txn_proposal(&txn),
    answer: ApplyResult::Txn(result) => result);

impl EtcdServer {
    /// Proposes `request` under a fresh id and waits for its response.
    pub(super) async fn propose<P: Proposal>(
        &self,
        request: P,
    ) -> Result<P::Response, ServerError> {
        let applied = self.propose_entry(request.into_entry()).await?;
        P::answer(applied)
    }

    /// Proposes a membership change that raft's voters follow (add,
    /// remove, promote) under a fresh id, and waits for the members after
    /// it (etcd's `configure`).
    pub(super) async fn propose_conf_change(
        &self,
        change: MembershipChange,
    ) -> Result<Vec<Member>, ServerError> {
        let raft = &self.inner.raft;
        let applied = self
            .submit(|id| raft.propose_conf_change(conf_change::encode(&change, id)))
            .await?;
        match applied {
            ApplyResult::Membership(result) => result,
            _ => Err(ServerError::AnsweredByAnotherEntry),
        }
    }

    /// Proposes `entry` under a fresh id and waits for the applier's result.
    async fn propose_entry(&self, entry: InternalRaftRequest) -> Result<ApplyResult, ServerError> {
        let raft = &self.inner.raft;
        self.submit(|id| {
            let mut entry = entry;
            entry.header = Some(RequestHeader { id });
            raft.propose(entry.encode_to_vec())
        })
        .await
    }

    /// Proposes what `propose` makes of a fresh id, and waits for the
    /// applier's result under that id.
    async fn submit<F>(&self, propose: impl FnOnce(u64) -> F) -> Result<ApplyResult, ServerError>
    where
        F: std::future::Future<Output = Result<(), ProposeError>>,
    {
        // Random ids stay unique across restarts of this member, which a
        // counter would not: entries proposed before a crash may still be
        // applied after it.
        let id: u64 = thread_rng().gen();
        let _pending = self.inner.metrics.proposal_pending();
        let applied = self.inner.writes.register(id);
        let started = Instant::now();
        let proposed = propose(id).await;
        if let Err(e) = proposed {
            self.inner.metrics.proposal_failed();
            self.inner.writes.cancel(&id);
            return Err(match e {
                ProposeError::Dropped => ServerError::NoLeader,
                ProposeError::Stopped => ServerError::Stopped,
            });
        }
        match tokio::time::timeout(self.inner.request_timeout, applied).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(_)) => {
                self.inner.metrics.proposal_failed();
                Err(ServerError::Stopped)
            }
            Err(_) => {
                self.inner.metrics.proposal_failed();
                self.inner.writes.cancel(&id);
                Err(self.timeout_cause(started))
            }
        }
    }

    /// What a proposal made at `started` that timed out is answered with.
    fn timeout_cause(&self, started: Instant) -> ServerError {
        let raft = self.inner.raft.status();
        let connected = match raft.leader {
            // etcd has no more to say when no leader is known.
            0 => true,
            leader if leader == self.member_id() => {
                let voters = self.voter_ids();
                let reached = voters
                    .iter()
                    .filter(|&&peer| peer != leader)
                    .filter(|&&peer| self.inner.raft.connected_since(peer, started))
                    .count();
                reached + 1 >= quorum(voters.len())
            }
            leader => self.inner.raft.connected_since(leader, started),
        };
        timeout_cause(&raft, started, self.inner.election_timeout, connected)
    }
}

/// etcd's `parseProposeCtxErr` for a proposal made at `started` that timed
/// out: if this member was elected leader after it, and less than two
/// election timeouts after it, the leader it went to probably failed;
/// else, if this member was not `connected` since it (to the leader, or
/// leading, to a quorum), the connection probably was lost.
fn timeout_cause(
    raft: &RaftStatus,
    started: Instant,
    election_timeout: Duration,
    connected: bool,
) -> ServerError {
    let elected_after = raft
        .elected
        .is_some_and(|elected| started < elected && elected < started + 2 * election_timeout);
    if elected_after {
        ServerError::TimedOutDueToLeaderFail
    } else if !connected {
        ServerError::TimedOutDueToConnectionLost
    } else {
        ServerError::TimedOut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_kinds_result_is_a_write_of_unknown_outcome_not_a_panic() {
        let put = || PutResponse::default();
        assert_eq!(PutRequest::answer(ApplyResult::Put(Ok(put()))), Ok(put()));
        assert_eq!(
            PutRequest::answer(ApplyResult::Put(Err(ServerError::NoSpace))),
            Err(ServerError::NoSpace)
        );
        let other = ApplyResult::Alarm(AlarmResponse::default());
        assert_eq!(
            PutRequest::answer(other),
            Err(ServerError::AnsweredByAnotherEntry)
        );
        assert_eq!(
            crate::rpc_error::RpcError::from(ServerError::AnsweredByAnotherEntry),
            crate::rpc_error::RpcError::Timeout
        );
        assert_eq!(
            MemberAttrSetRequest::answer(ApplyResult::MemberAttrSet),
            Ok(())
        );
    }

    #[test]
    fn a_timeout_is_blamed_on_a_recent_election_then_on_a_lost_connection() {
        let started = Instant::now();
        let election = Duration::from_secs(1);
        let elected = |after: Option<Duration>| RaftStatus {
            elected: after.map(|d| started + d),
            ..Default::default()
        };
        let soon = elected(Some(Duration::from_millis(1500)));
        assert_eq!(
            timeout_cause(&soon, started, election, false),
            ServerError::TimedOutDueToLeaderFail
        );
        let late = elected(Some(Duration::from_millis(2500)));
        assert_eq!(
            timeout_cause(&late, started, election, true),
            ServerError::TimedOut
        );
        assert_eq!(
            timeout_cause(&late, started, election, false),
            ServerError::TimedOutDueToConnectionLost
        );
        let before = RaftStatus {
            elected: Some(started),
            ..Default::default()
        };
        assert_eq!(
            timeout_cause(&before, started, election, true),
            ServerError::TimedOut
        );
        assert_eq!(
            timeout_cause(&elected(None), started, election, true),
            ServerError::TimedOut
        );
    }
}
