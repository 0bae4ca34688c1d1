//! EtcdServer: requests in, raft proposals out, applied results back.
//!
//! Writes go through one funnel (`propose`): pick a unique id, register a
//! waiter, propose, wait for the apply loop to trigger the id or for the
//! timeout, and hand back the response the request's kind implies.
//! Linearizable reads go through ReadIndex
//! ([`EtcdServer::read_barrier`]): ask raft for the commit index the leader
//! has confirmed, wait until this member has applied that far, then read the
//! local store. Reads waiting together share one such round (`read_loop`).

mod alarms;
mod apply;
mod backend;
mod bug_state;
mod conf_change;
mod convert;
mod entry;
mod error;
mod essential;
mod health;
mod lease;
mod lease_peer;
mod members;
mod membership_api;
mod propose;
mod read_loop;
mod wait;
mod watchable;

pub use alarms::{Alarms, Quota};
pub use apply::is_read_only;
pub use entry::RaftRequest;
pub use error::ServerError;
pub use essential::{EssentialTasks, TaskEnded};
pub use health::Unhealthy;
pub use lease_peer::LeasePeerService;
pub use members::{MembershipError, MAX_LEARNERS};
pub use membership_api::ClusterPeerService;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use futures::future::select_all;
use madsim::rand::{thread_rng, Rng};
use tokio::sync::{mpsc, watch};

use super::{Identity, ServerConfig};
use crate::bugs::{Bug, BugSet};
use crate::coverage::{self, Site};
use crate::metrics::Metrics;
use crate::mvcc::{KvHash, Writeback};
use crate::offload::offload;
use crate::perturb::{Perturbation, Perturbations};
use crate::proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, CompactionRequest, CompactionResponse, DeleteRangeRequest,
    DeleteRangeResponse, Member as MemberInfo, MemberAttrSetRequest, PutRequest, PutResponse,
    RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use crate::raft::{
    spawn_raft, Bootstrap, Committed, Fence, Peer, RaftConfig, RaftHandle, RaftTransportService,
    RestoreError, SpawnedRaft,
};
use crate::server::lease::Lessor;
use crate::storage::Disk;
use apply::Applier;
use backend::{Backend, BackendReader, StateMachine};
use bug_state::BugState;
use entry::ApplyResult;
use read_loop::ReadRounds;
use wait::Wait;

/// Why a member could not start.
pub type StartError = RestoreError;

/// The part of a member between the API and raft. Cheap to clone.
#[derive(Clone)]
pub struct EtcdServer {
    inner: Arc<Inner>,
}

struct Inner {
    member_id: u64,
    /// The `cluster_id` of response headers, fixed when the cluster began.
    cluster_id: u64,
    /// Refuse a membership change that would leave too few started voters
    /// (etcd's `--strict-reconfig-check`).
    strict_reconfig_check: bool,
    /// Becomes true once this member applied its own removal, or a peer
    /// refused its messages for it.
    removed: watch::Receiver<bool>,
    /// Who is removed for good, for the peer transport to refuse.
    fence: Fence,
    raft: RaftHandle,
    /// The state machine, read here, changed by the applier alone.
    state: BackendReader,
    quota: Quota,
    applied: watch::Receiver<u64>,
    /// Woken after every applied batch: watch streams and read barriers wait on it.
    watchers: Arc<tokio::sync::Notify>,
    /// Snapshots the applier restored the state from (see `watchable.rs`).
    restores: Arc<AtomicU64>,
    writes: Arc<Wait<u64, ApplyResult>>,
    reads: Arc<Wait<u64, u64>>,
    /// The linearizable reads waiting for the next ReadIndex round.
    read_rounds: ReadRounds,
    request_timeout: Duration,
    /// The shortest election timeout, by which etcd judges whether a
    /// leader failure made a proposal time out.
    election_timeout: Duration,
    bugs: BugSet,
    /// What the switched-on bugs remember; nothing without them.
    bug_state: BugState,
    perturbations: Perturbations,
    metrics: Metrics,
}

/// Where a member stands, for `Status`.
#[derive(Debug, Clone, Copy)]
pub struct MemberStatus {
    /// The leader's id, 0 if none is known.
    pub leader: u64,
    /// The current raft term.
    pub term: u64,
    /// The highest committed raft index known here.
    pub commit: u64,
    /// The highest raft index applied to the store.
    pub applied: u64,
    /// The store's current revision.
    pub revision: i64,
    /// What the store takes in a backend, empty backend included.
    pub db_size: u64,
    /// What the store's retained records take.
    pub db_size_in_use: u64,
}

impl EtcdServer {
    /// Restores the member from `disk` and starts its raft and apply loops;
    /// the member must stop if one of them ends (see [`EssentialTasks`]).
    pub fn start(
        config: &ServerConfig,
        identity: Identity,
        disk: Arc<dyn Disk>,
    ) -> Result<(Self, EssentialTasks), StartError> {
        let quota = Quota::from_flag(config.quota_backend_bytes);
        let metrics = Metrics::new(
            identity.member_id,
            crate::version::VERSION,
            quota.limit().unwrap_or(0),
        );
        let fence = Fence::default();
        let SpawnedRaft {
            handle: raft,
            committed,
            task: raft_loop,
        } = spawn_raft(
            raft_config(config, &identity, metrics.clone(), fence.clone()),
            disk,
        )?;
        // The bug: a key bucket with no entries in use is handed over
        // with one.
        let writeback = if config.bugs.has(Bug::Etcd17247) {
            Writeback::Dedupe
        } else {
            Writeback::HandOver
        };
        let state = Backend::new(StateMachine::new(lessor(config)).with_writeback(writeback));
        let reader = state.reader();
        let (applied_tx, applied) = watch::channel(0);
        let watchers = Arc::new(tokio::sync::Notify::new());
        let restores = Arc::new(AtomicU64::new(0));
        let writes = Arc::new(Wait::default());
        let reads = Arc::new(Wait::default());
        let applier = Applier {
            state,
            writes: writes.clone(),
            reads: reads.clone(),
            applied: applied_tx,
            watchers: watchers.clone(),
            restores: restores.clone(),
            raft: raft.clone(),
            snapshot_count: config.snapshot_count,
            last_snapshot: 0,
            crash: config.crash_points.clone(),
            bugs: config.bugs,
            member_id: identity.member_id,
            promote_extend: config.tick * config.election_ticks.0 as u32,
            metrics: metrics.clone(),
            quota,
            fence: fence.clone(),
        };
        let apply_loop = tokio::spawn(apply_loop(
            applier,
            committed,
            metrics.clone(),
            config.perturbations,
        ));
        let server = Self {
            inner: Arc::new(Inner {
                member_id: identity.member_id,
                cluster_id: identity.cluster_id,
                strict_reconfig_check: config.strict_reconfig_check,
                removed: fence.this_member_removed(),
                fence,
                raft,
                state: reader,
                quota,
                applied,
                watchers,
                restores,
                writes,
                reads,
                read_rounds: ReadRounds::default(),
                request_timeout: config.request_timeout,
                election_timeout: config.tick * config.election_ticks.0 as u32,
                bugs: config.bugs,
                bug_state: BugState::new(config.bugs, config.tick * config.election_ticks.0 as u32),
                perturbations: config.perturbations,
                metrics,
            }),
        };
        tokio::spawn(server.clone().expire_leases());
        let read_loop = tokio::spawn(server.clone().read_loop());
        tokio::spawn(server.clone().publish(MemberAttrSetRequest {
            member_id: identity.member_id,
            name: config.name.clone(),
            client_urls: config.advertise_client_urls.clone(),
        }));
        let essential = EssentialTasks::new(vec![
            ("raft loop", raft_loop),
            ("applier", apply_loop),
            ("read loop", read_loop),
        ]);
        Ok((server, essential))
    }

    /// Publishes this member's name and client URLs through raft, retrying
    /// until it commits (etcd's `publish`): only then can the others list
    /// where it serves clients.
    async fn publish(self, attributes: MemberAttrSetRequest) {
        loop {
            match self.propose(attributes.clone()).await {
                Ok(_) => return,
                Err(ServerError::Stopped) => return,
                Err(_) => tokio::time::sleep(self.inner.request_timeout / 10).await,
            }
        }
    }

    /// This member's raft handle, for the peer transport.
    pub fn raft(&self) -> &RaftHandle {
        &self.inner.raft
    }

    /// The peer transport's service: it steps what peers send into raft,
    /// refusing removed members (unless the `etcd-7512` bug is on).
    pub fn raft_transport(&self) -> RaftTransportService {
        // The bug: removed members' messages are stepped, so one that
        // missed its removal is never told.
        crate::coverage::bug_site(Bug::Etcd7512);
        let fence = (!self.inner.bugs.has(Bug::Etcd7512)).then(|| self.inner.fence.clone());
        RaftTransportService::new(self.inner.raft.clone(), fence)
    }

    /// This member's id.
    pub fn member_id(&self) -> u64 {
        self.inner.member_id
    }

    /// The cluster's id.
    pub fn cluster_id(&self) -> u64 {
        self.inner.cluster_id
    }

    /// Every member with what it published, as `MemberList` shows them.
    pub fn member_list(&self) -> Vec<MemberInfo> {
        self.inner.state.read(|state| state.members.list())
    }

    /// The ids of the voting members, as this member applied them.
    fn voter_ids(&self) -> Vec<u64> {
        let voters = |state: &StateMachine| state.members.voters().map(|m| m.id).collect();
        self.inner.state.read(voters)
    }

    /// Whether this member is a learner: it then serves only `Status`
    /// and serializable ranges (etcd 3.4's learner interceptor).
    pub fn is_learner(&self) -> bool {
        let id = self.member_id();
        let learner = |state: &StateMachine| state.members.member(id).is_some_and(|m| m.is_learner);
        self.inner.state.read(learner)
    }

    /// Whether this member applied its own removal: it serves nothing more.
    pub fn is_removed(&self) -> bool {
        *self.inner.removed.borrow()
    }

    /// Returns once this member applied its own removal.
    pub async fn removed(&self) {
        let mut removed = self.inner.removed.clone();
        let _ = removed.wait_for(|removed| *removed).await;
    }

    /// The key-value history up to `revision` hashed (0: the current
    /// revision), from this member's applied state.
    pub fn hash_kv(&self, revision: i64) -> Result<KvHash, ServerError> {
        Ok(self
            .inner
            .state
            .read(|state| state.store.hash_kv(revision))?)
    }

    /// A CRC-32 of this member's whole state machine, as a snapshot would
    /// hold it.
    pub fn hash(&self) -> u32 {
        self.inner.state.read(StateMachine::hash)
    }

    /// Where this member stands now.
    pub fn status(&self) -> MemberStatus {
        let raft = self.inner.raft.status();
        let (revision, size) = self
            .inner
            .state
            .read(|state| (state.store.current_revision(), state.store.size_bytes()));
        MemberStatus {
            leader: raft.leader,
            term: raft.term,
            commit: raft.commit,
            applied: *self.inner.applied.borrow(),
            revision,
            db_size: Quota::EMPTY_BACKEND_BYTES + size,
            db_size_in_use: size,
        }
    }

    /// Range; linearizable unless `serializable` is set.
    pub async fn range(&self, request: RangeRequest) -> Result<RangeResponse, ServerError> {
        if !request.serializable && !self.may_read_locally() {
            self.read_barrier().await?;
        }
        let bugs = self.inner.bugs;
        self.read_store(|store| apply::range(store, &request, bugs))
    }

    /// Put through raft.
    pub async fn put(&self, request: PutRequest) -> Result<PutResponse, ServerError> {
        self.propose(request).await
    }

    /// DeleteRange through raft.
    pub async fn delete_range(
        &self,
        request: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, ServerError> {
        self.propose(request).await
    }

    /// Txn. One that only reads ([`is_read_only`]) is served as etcd 3.4
    /// serves it, like a range: after the read barrier unless every range
    /// in it is serializable, from this member's store, without raft. Any
    /// other goes through raft.
    pub async fn txn(&self, request: TxnRequest) -> Result<TxnResponse, ServerError> {
        if !is_read_only(&request) {
            return self.propose(request).await;
        }
        if !apply::is_serializable(&request) && !self.may_read_locally() {
            self.read_barrier().await?;
        }
        self.read_store(|store| apply::read_txn(store, &request))
    }

    /// Compaction through raft.
    pub async fn compact(
        &self,
        request: CompactionRequest,
    ) -> Result<CompactionResponse, ServerError> {
        self.propose(request).await
    }

    /// Hands leadership to member `target` (etcd's MoveLeader): only the
    /// leader may, and it answers once `target` leads.
    pub async fn move_leader(&self, target: u64) -> Result<(), ServerError> {
        let me = self.member_id();
        if self.inner.raft.status().leader != me {
            return Err(ServerError::NotLeader);
        }
        if !self.voter_ids().contains(&target) {
            return Err(ServerError::BadLeaderTransferee);
        }
        if target == me {
            return Ok(());
        }
        self.inner.raft.transfer_leader(target);
        let moved = self.inner.raft.wait_status(|s| s.leader == target);
        tokio::time::timeout(self.inner.request_timeout, moved)
            .await
            .map_err(|_| ServerError::LeaderTransferTimedOut)?;
        coverage::hit(Site::LeaderTransferred);
        Ok(())
    }

    /// The backend quota this member was started with
    /// (`--quota-backend-bytes`), which the API checks writes against.
    pub fn quota(&self) -> Quota {
        self.inner.quota
    }

    /// Lists, raises or clears alarms, through raft.
    pub async fn alarm(&self, request: AlarmRequest) -> Result<AlarmResponse, ServerError> {
        self.propose(request).await
    }

    /// The raised alarms in etcd's text form, for `Status`.
    pub fn alarm_descriptions(&self) -> Vec<String> {
        self.inner.state.read(|state| state.alarms.describe())
    }

    /// The perturbation sites switched on in this member.
    pub fn perturbations(&self) -> Perturbations {
        self.inner.perturbations
    }

    /// Whether an injected bug lets a linearizable read skip the barrier.
    fn may_read_locally(&self) -> bool {
        coverage::bug_site(Bug::StaleRead);
        coverage::bug_site(Bug::LostLeaderLease);
        let leading = || self.inner.raft.status().leader == self.member_id();
        self.inner.bugs.has(Bug::StaleRead)
            || (self.inner.bug_state.lost_leader_lease.as_ref())
                .is_some_and(|lease| lease.holds(Instant::now(), leading))
    }

    /// Returns once this member has applied everything committed before the
    /// call, as confirmed by the leader (raft thesis §6.4).
    async fn read_barrier(&self) -> Result<(), ServerError> {
        self.read_barrier_within(self.inner.request_timeout).await
    }

    /// [`Self::read_barrier`], giving up after `timeout`.
    async fn read_barrier_within(&self, timeout: Duration) -> Result<(), ServerError> {
        let round = self.inner.read_rounds.join();
        let result = match tokio::time::timeout(timeout, round).await {
            Ok(Ok(result)) => result,
            // The read loop is gone: the member is stopping.
            Ok(Err(_)) => Err(ServerError::Stopped),
            Err(_) => Err(ServerError::TimedOut),
        };
        if result.is_ok() && self.inner.raft.status().leader != self.member_id() {
            coverage::hit(Site::ReadIndexOnFollower);
        }
        result
    }

    /// How many ReadIndex rounds this member ran, and how many linearizable
    /// reads (and lease checks) they answered.
    pub fn read_rounds(&self) -> (u64, u64) {
        self.inner.read_rounds.counts()
    }

    /// The read loop (etcd's `linearizableReadLoop`): serves the reads
    /// waiting for a round, one round at a time, for as long as the member
    /// lives.
    async fn read_loop(self) {
        self.inner.read_rounds.run(|| self.read_round()).await
    }

    /// One round: the confirmed read index (given up after the request
    /// timeout, etcd's `ErrTimeout`), then this member applied that far.
    async fn read_round(&self) -> Result<(), ServerError> {
        let index = tokio::time::timeout(self.inner.request_timeout, self.read_index())
            .await
            .unwrap_or(Err(ServerError::TimedOut))?;
        self.applied_at_least(index).await
    }

    /// The index a round must wait for, from raft's ReadIndex. A request
    /// that goes unanswered (lost with a message, or sent to a leader that
    /// went away) is asked again every [`READ_INDEX_RETRY`], as etcd
    /// 3.4.20+ does, each time under a fresh context (etcd's fix of
    /// #20418); an answer to any of the round's requests will do, since
    /// each was sent after the round closed.
    async fn read_index(&self) -> Result<u64, ServerError> {
        let mut asked = vec![PendingRead::new(&self.inner.reads)];
        loop {
            let ctx = asked.last().expect("a request was made").ctx;
            self.inner.raft.read_index(ctx.to_be_bytes().to_vec());
            let answers = select_all(asked.iter_mut().map(|pending| &mut pending.confirmed));
            match tokio::time::timeout(READ_INDEX_RETRY, answers).await {
                Ok((index, _, _)) => return index.map_err(|_| ServerError::Stopped),
                // A fresh context: raft's read-only queue is keyed by it,
                // so a reused one could count acknowledgements of the
                // first request's heartbeats for the retry (etcd #20418).
                Err(_) => asked.push(PendingRead::new(&self.inner.reads)),
            }
        }
    }
}

/// The member's raft, as `config` describes it.
fn raft_config(
    config: &ServerConfig,
    identity: &Identity,
    metrics: Metrics,
    fence: Fence,
) -> RaftConfig {
    RaftConfig {
        id: identity.member_id,
        peers: match identity.peers.is_empty() {
            false => identity.peers.clone(),
            true => (config.cluster.members.iter())
                .map(|m| Peer {
                    id: m.id,
                    url: m.peer_url.clone(),
                })
                .collect(),
        },
        bootstrap: identity.new_cluster.then(|| bootstrap(config)),
        tick: config.tick,
        election_ticks: config.election_ticks,
        heartbeat_ticks: 1,
        pre_vote: config.pre_vote,
        check_quorum: config.check_quorum,
        bugs: config.bugs,
        perturbations: config.perturbations,
        crash_points: config.crash_points.clone(),
        clock: config.clock.clone(),
        metrics,
        catch_up_entries: config.catch_up_entries,
        max_snapshots: config.max_snapshots,
        fence,
    }
}

/// The start of a new cluster's log: the initial members, each added by a
/// conf change of its own.
fn bootstrap(config: &ServerConfig) -> Bootstrap {
    let mut members: Vec<MemberInfo> = config
        .cluster
        .members
        .iter()
        .map(|m| MemberInfo {
            id: m.id,
            name: m.name.clone(),
            peer_ur_ls: vec![m.peer_url.clone()],
            ..Default::default()
        })
        .collect();
    // etcd adds them in order of id.
    members.sort_by_key(|m| m.id);
    Bootstrap {
        voters: members.iter().map(|m| m.id).collect(),
        entries: conf_change::bootstrap(&members),
    }
}

/// An empty lessor with etcd's minimum TTL for `config`'s election
/// timeout (and the `lease-expires-on-follower-clock` bug, if it is on).
fn lessor(config: &ServerConfig) -> Lessor {
    let lessor = Lessor::new(Lessor::min_ttl_for(config.tick, config.election_ticks.0));
    if config.bugs.has(Bug::LeaseExpiresOnFollowerClock) {
        lessor.with_follower_expiry()
    } else {
        lessor
    }
}

/// How long a read waits for its ReadIndex before asking again (etcd's
/// `readIndexRetryTime`).
const READ_INDEX_RETRY: Duration = Duration::from_millis(500);

/// A ReadIndex request waiting for its answer; forgotten when dropped.
struct PendingRead<'a> {
    reads: &'a Wait<u64, u64>,
    ctx: u64,
    confirmed: tokio::sync::oneshot::Receiver<u64>,
}

impl<'a> PendingRead<'a> {
    fn new(reads: &'a Wait<u64, u64>) -> Self {
        let ctx: u64 = thread_rng().gen();
        let confirmed = reads.register(ctx);
        PendingRead {
            reads,
            ctx,
            confirmed,
        }
    }
}

impl Drop for PendingRead<'_> {
    fn drop(&mut self) {
        self.reads.cancel(&self.ctx);
    }
}

async fn apply_loop(
    mut applier: Applier,
    mut committed: mpsc::UnboundedReceiver<Committed>,
    metrics: Metrics,
    perturbations: Perturbations,
) {
    // The first batch of a member that starts from a snapshot is that
    // snapshot; any later one was sent by the leader.
    let mut first = true;
    while let Some(batch) = committed.recv().await {
        let starting = std::mem::replace(&mut first, false);
        // Restoring a snapshot and applying a batch can take long (a
        // delete-range of 100,000 keys is one entry): they run off the
        // runtime's workers, one at a time and in log order, as they come.
        applier = match batch {
            Committed::Snapshot(snapshot) => {
                if starting {
                    coverage::hit(Site::RestartFromSnapshot);
                } else {
                    coverage::hit(Site::SnapshotReceived);
                    // The applier opens the file when its turn comes; raft
                    // may have saved a newer snapshot meanwhile (#18055).
                    perturbations.pause(Perturbation::SlowSnapshot, 5_000).await;
                }
                offload(move || {
                    applier.restore(snapshot);
                    applier
                })
                .await
            }
            Committed::Entries(entries) => {
                perturbations.pause(Perturbation::ApplierLag, 100).await;
                let metrics = metrics.clone();
                offload(move || {
                    // The store commits each batch at once, as etcd's
                    // backend commits a batch transaction.
                    let started = Instant::now();
                    applier.apply_entries(entries);
                    metrics.observe_backend_commit(started.elapsed());
                    applier
                })
                .await
            }
            Committed::ReadIndex { ctx, index } => {
                perturbations
                    .pause(Perturbation::SlowReadStateHandOff, 50)
                    .await;
                applier.confirm_read(&ctx, index);
                applier
            }
        };
    }
}
