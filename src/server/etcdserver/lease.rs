//! Leases at the server: grants and revocations through raft, renewals and
//! TTL queries at the leader, and the loop that revokes expired leases.
//!
//! Renewals do not go through raft (etcd's neither): the leader's lessor
//! alone keeps deadlines, so it alone can renew, and it alone answers
//! time-to-live queries. A follower forwards both to the leader
//! ([`super::lease_peer`]), retrying until its request timeout, as etcd
//! 3.4's `LeaseRenew` does over its peer HTTP API. Before renewing, the
//! leader confirms through ReadIndex that it still leads, as etcd does
//! since 3.4.25 (etcd issue #15247): a deposed leader that has not noticed
//! yet must not tell a client its lease is safe.

use std::future::Future;
use std::time::Duration;

use madsim::rand::{thread_rng, Rng};
use tokio::time::Instant;

use super::{EtcdServer, ServerError};
use crate::bugs::Bug;
use crate::coverage::{self, Site};
use crate::proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseLeasesResponse, LeaseRevokeRequest,
    LeaseRevokeResponse, LeaseStatus, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use crate::server::lease::{attached_keys, LeaseError};

/// How often the leader looks for expired leases (etcd: every 500 ms).
const EXPIRY_CHECK: Duration = Duration::from_millis(500);
/// How often a renewal of an expired lease looks again whether the
/// revocation has been applied; also the pause between attempts to
/// forward a request to the leader.
const REVOKE_POLL: Duration = Duration::from_millis(50);

/// Where a leader-only lease request goes.
enum Target {
    /// This member leads.
    Here,
    /// The leader, at its peer URL.
    Leader(String),
    /// No leader is known.
    Unknown,
}

impl EtcdServer {
    /// Grants a lease through raft; id 0 lets the server choose one.
    pub async fn lease_grant(
        &self,
        mut request: LeaseGrantRequest,
    ) -> Result<LeaseGrantResponse, ServerError> {
        while request.id == 0 {
            // As etcd: a random positive id.
            request.id = thread_rng().gen::<i64>() & i64::MAX;
        }
        self.propose(request).await
    }

    /// Revokes a lease through raft, deleting its keys in one revision.
    pub async fn lease_revoke(&self, id: i64) -> Result<LeaseRevokeResponse, ServerError> {
        self.propose(LeaseRevokeRequest { id }).await
    }

    /// Renews lease `id` for another TTL, here or at the leader; returns
    /// the TTL. Fails with not-found if the lease is gone, and with a
    /// timeout if no leader renewed it within the request timeout.
    pub async fn lease_renew(&self, id: i64) -> Result<i64, ServerError> {
        self.at_leader(
            || self.lease_renew_here(id),
            |url| async move { super::lease_peer::renew_at(&url, id).await },
        )
        .await
    }

    /// A lease's TTLs (and keys), here or at the leader.
    pub async fn lease_time_to_live(
        &self,
        request: LeaseTimeToLiveRequest,
    ) -> Result<LeaseTimeToLiveResponse, ServerError> {
        self.at_leader(
            || async move { self.lease_time_to_live_here(request) },
            |url| async move { super::lease_peer::time_to_live_at(&url, request).await },
        )
        .await
    }

    /// Runs a leader-only lease request where raft says the leader is:
    /// `here` if this member leads, `there` with the leader's peer URL if
    /// another does. Anything but an answer or not-found (no leader, a
    /// deposed leader, a peer that cannot be reached) is retried until the
    /// request timeout, which then answers a timeout.
    async fn at_leader<T, Here, HereAnswer, There, ThereAnswer>(
        &self,
        here: Here,
        there: There,
    ) -> Result<T, ServerError>
    where
        Here: Fn() -> HereAnswer,
        HereAnswer: Future<Output = Result<T, ServerError>>,
        There: Fn(String) -> ThereAnswer,
        ThereAnswer: Future<Output = Result<T, ServerError>>,
    {
        let deadline = Instant::now() + self.inner.request_timeout;
        loop {
            let answer = match self.target() {
                Target::Here => here().await,
                Target::Leader(url) => {
                    let answer = there(url).await;
                    self.forwarded(&answer);
                    answer
                }
                Target::Unknown => Err(ServerError::NoLeader),
            };
            match answer {
                Ok(_) | Err(ServerError::Lease(LeaseError::NotFound)) => return answer,
                Err(_) if Instant::now() < deadline => tokio::time::sleep(REVOKE_POLL).await,
                Err(_) => return Err(ServerError::TimedOut),
            }
        }
    }

    /// Where raft says the leader is.
    fn target(&self) -> Target {
        let leader = self.inner.raft.status().leader;
        coverage::bug_site(Bug::LeaseRenewalToOldLeader);
        let leader = match &self.inner.bug_state.remembered_leader {
            Some(remembered) => remembered.target(leader, self.member_id()),
            None => leader,
        };
        match leader {
            0 => Target::Unknown,
            leader if leader == self.member_id() => Target::Here,
            leader => match self.peer_url(leader) {
                Some(url) => Target::Leader(url),
                None => Target::Unknown,
            },
        }
    }

    /// Notes how a forwarded request went: the leader could not be reached
    /// (the bug's remembered leader is forgotten), or it answered.
    fn forwarded<T>(&self, answer: &Result<T, ServerError>) {
        match answer {
            Err(ServerError::NoLeader) => {
                if let Some(remembered) = &self.inner.bug_state.remembered_leader {
                    remembered.forget();
                }
            }
            Ok(_) => coverage::hit(Site::LeaseRenewalForwarded),
            Err(_) => {}
        }
    }

    /// Renews lease `id` at this member, which must lead. An expired lease
    /// is not brought back: the renewal waits until its revocation is
    /// applied and then fails with not-found.
    pub(super) async fn lease_renew_here(&self, id: i64) -> Result<i64, ServerError> {
        self.leading_term().ok_or(ServerError::NotLeader)?;
        self.read_barrier().await?;
        let deadline = Instant::now() + self.inner.request_timeout;
        loop {
            let term = self.leading_term().ok_or(ServerError::NotLeader)?;
            let renewed = self.inner.state.deadlines(|lessor| {
                if lessor.primary_term() == Some(term) {
                    lessor.renew(id, Instant::now())
                } else {
                    Err(LeaseError::NotPrimary)
                }
            });
            match renewed {
                Ok(ttl) => {
                    self.inner.metrics.lease_renewed();
                    return Ok(ttl);
                }
                Err(LeaseError::Expired) if Instant::now() < deadline => {
                    tokio::time::sleep(REVOKE_POLL).await;
                }
                Err(LeaseError::Expired) => return Err(ServerError::TimedOut),
                Err(LeaseError::NotPrimary) => return Err(ServerError::NotLeader),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A lease's remaining and granted TTL, and its keys if asked, at this
    /// member, which must lead: its lessor alone knows deadlines.
    pub(super) fn lease_time_to_live_here(
        &self,
        request: LeaseTimeToLiveRequest,
    ) -> Result<LeaseTimeToLiveResponse, ServerError> {
        self.leading_term().ok_or(ServerError::NotLeader)?;
        let keeps_old = self.inner.bugs.has(Bug::LeaseReattachKeepsOld);
        let (ttl, keys) = self.inner.state.read(|state| {
            let ttl = state
                .lessor
                .time_to_live(request.id, Instant::now())
                .ok_or(LeaseError::NotFound)?;
            let keys = if request.keys {
                attached_keys(&state.store, request.id, keeps_old)
            } else {
                Vec::new()
            };
            Ok::<_, LeaseError>((ttl, keys))
        })?;
        Ok(LeaseTimeToLiveResponse {
            header: None,
            id: request.id,
            ttl: ttl.remaining.unwrap_or(ttl.granted),
            granted_ttl: ttl.granted,
            keys,
        })
    }

    /// Every lease this member knows (etcd 3.4 answers from local state).
    pub fn lease_leases(&self) -> LeaseLeasesResponse {
        let ids = self.inner.state.read(|state| state.lessor.leases());
        LeaseLeasesResponse {
            header: None,
            leases: ids.into_iter().map(|id| LeaseStatus { id }).collect(),
        }
    }

    /// The term this member leads in, if raft says it leads and its lessor
    /// has been promoted for that term.
    fn leading_term(&self) -> Option<u64> {
        let status = self.inner.raft.status();
        let primary = self.inner.state.read(|state| state.lessor.primary_term());
        (status.leader == self.member_id() && primary == Some(status.term)).then_some(status.term)
    }

    /// Runs for the member's life: demotes the lessor when this member
    /// stops leading, and proposes the revocation of every lease that
    /// expired by the leader's clock (etcd's `revokeExpiredLeases`).
    ///
    /// A leader that was paused wakes up believing it still leads, with
    /// every deadline passed. So before proposing, it confirms through
    /// ReadIndex that it leads, and before each proposal it checks again
    /// that it leads and that the lease is still expired: a revocation
    /// proposed once it follows would be forwarded to the real leader and
    /// applied, although the real leader's lessor may have renewed the
    /// lease meanwhile.
    pub(super) async fn expire_leases(self) {
        loop {
            tokio::time::sleep(EXPIRY_CHECK).await;
            if self.expired_while_leading().is_empty() || self.read_barrier().await.is_err() {
                continue;
            }
            for id in self.expired_while_leading() {
                if !self.expired_while_leading().contains(&id) {
                    continue;
                }
                // A failed proposal is retried at the next check, as long
                // as the lease is still there and this member still leads.
                if self.lease_revoke(id).await.is_ok() {
                    coverage::hit(Site::LeaseRevokedOnExpiry);
                }
            }
        }
    }

    /// Demotes the lessor if this member no longer leads in the term it
    /// was promoted for; then the leases expired by its deadlines.
    fn expired_while_leading(&self) -> Vec<i64> {
        let status = self.inner.raft.status();
        let leading = status.leader == self.member_id();
        self.inner.state.deadlines(|lessor| {
            if !(leading && lessor.primary_term() == Some(status.term))
                && lessor.primary_term().is_some()
            {
                lessor.demote();
            }
            lessor.expired(Instant::now())
        })
    }
}
