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

use super::conf_change;
use super::entry::{ApplyResult, Proposal};
use super::members::MembershipChange;
use super::membership_api::quorum;
use super::{EtcdServer, ServerError};
use crate::proto::etcdserverpb::{InternalRaftRequest, Member, RequestHeader};
use crate::raft::{ProposeError, RaftStatus};

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
