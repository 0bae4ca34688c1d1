//! The task that owns raft-rs's `RawNode` and the loop that drives it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use madsim::rand::{thread_rng, Rng};
use raft::eraftpb::{ConfChange, ConfState, Entry, Message, Snapshot};
use raft::{
    ProgressState, RawNode, ReadOnlyOption, SnapshotStatus, StateRole, Storage, INVALID_ID,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::fence::Fence;
use super::log_store::LogStore;
use super::restore::{restore, RestoreError, Restored};
use super::snapshotter::{SnapshotFile, Snapshotter};
use super::transport::{Connectivity, Peer, Report, Transport};
use super::voters::describe as describe_voters;
use super::wal::Wal;
use super::ElectionTimeouts;
use crate::bugs::{Bug, BugSet};
use crate::clock::ClockRate;
use crate::crash::{CrashPoint, CrashPoints};
use crate::metrics::Metrics;
use crate::perturb::{Perturbation, Perturbations};
use crate::storage::Disk;

/// How a member runs raft.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// This member's raft id (non-zero).
    pub id: u64,
    /// The members this one talks to at start, itself included: the
    /// initial cluster (a restarted member learns of later changes again
    /// as it applies its log).
    pub peers: Vec<Peer>,
    /// How a member whose disk holds nothing yet starts its log: a member
    /// of a new cluster with the initial voters and the entries that add
    /// them; a member joining a running cluster (`None`) with no voters
    /// and an empty log, which the leader fills.
    pub bootstrap: Option<Bootstrap>,
    /// The length of one raft tick on the runtime clock.
    pub tick: Duration,
    /// Election timeouts are drawn from `[min, max)` ticks.
    pub election_ticks: (usize, usize),
    /// A leader sends heartbeats every this many ticks.
    pub heartbeat_ticks: usize,
    /// Campaign only after a pre-vote round succeeds (raft thesis §9.6).
    pub pre_vote: bool,
    /// A leader steps down when it has not heard from a quorum in an
    /// election timeout (raft thesis §6.2).
    pub check_quorum: bool,
    /// Injected bugs (`skip-fsync`, `early-ack`).
    pub bugs: BugSet,
    /// Perturbation sites (`tiny-batches`, `leader-hands-over`, and the
    /// transport's).
    pub perturbations: Perturbations,
    /// Where a test may crash this member.
    pub crash_points: CrashPoints,
    /// How fast this member's clock runs (a fault switch).
    pub clock: ClockRate,
    /// Where leader changes and WAL syncs are counted.
    pub metrics: Metrics,
    /// Entries a log compaction keeps before its snapshot, so that a
    /// follower a little behind catches up from the log rather than from a
    /// snapshot (etcd's `SnapshotCatchUpEntries`, 5,000).
    pub catch_up_entries: u64,
    /// Snapshot files kept on disk (etcd's `--max-snapshots`): a start
    /// falls back to an older one when a newer one is corrupt.
    pub max_snapshots: usize,
    /// Who is removed for good; the transport learns from a peer that
    /// this member is.
    pub fence: Fence,
}

/// The start of a new cluster's log (etcd's `StartNode`).
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// The initial voters.
    pub voters: Vec<u64>,
    /// The committed entries of term 1 the log starts with (one conf
    /// change per voter).
    pub entries: Vec<Entry>,
}

/// What raft hands up to the server, in the order raft made it ready:
/// state to apply (a snapshot, committed entries, in log order) and read
/// states (confirmed read indexes), which are not log entries.
#[derive(Debug)]
pub enum Committed {
    /// Replace the state machine with the data of the snapshot in this
    /// file, opened when the applier gets to it; it covers every entry up
    /// to its index. Sent on start if a snapshot was on disk, and when the
    /// leader sends one.
    Snapshot(SnapshotFile),
    /// Entries committed by the cluster, to apply in order.
    Entries(Vec<Entry>),
    /// A read-index request identified by `ctx` may be served once the
    /// applied index reaches `index` (raft thesis §6.4).
    ReadIndex {
        /// The context given to [`RaftHandle::read_index`].
        ctx: Vec<u8>,
        /// The commit index at the time leadership was confirmed.
        index: u64,
    },
}

/// What the rest of the member may know of raft's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RaftStatus {
    /// This member's raft id.
    pub id: u64,
    /// The leader this member follows, 0 if it knows none.
    pub leader: u64,
    /// The current term.
    pub term: u64,
    /// The highest index known committed.
    pub commit: u64,
    /// When this member last became leader, if it ever did (etcd's
    /// `leadElectedTime`): a proposal that timed out across it probably
    /// went to a leader that failed.
    pub elected: Option<Instant>,
}

/// Why a proposal was not taken into the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposeError {
    /// No leader is known (or leadership is moving): the entry is certainly
    /// not in any log.
    Dropped,
    /// The raft loop has stopped.
    Stopped,
}

enum Input {
    Step(Message),
    Propose {
        data: Vec<u8>,
        done: oneshot::Sender<Result<(), ProposeError>>,
    },
    ProposeConfChange {
        change: ConfChange,
        done: oneshot::Sender<Result<(), ProposeError>>,
    },
    /// A committed conf change the membership took: raft's voters follow,
    /// and the transport reaches an added member at `peer`.
    ApplyConfChange {
        change: ConfChange,
        peer: Option<Peer>,
        index: Option<u64>,
    },
    /// The peers to send to, after a snapshot replaced the membership.
    SetPeers(Vec<Peer>),
    /// A member's new peer URL.
    UpdatePeer(Peer),
    /// How far each member's log matches the leader's, if this one leads.
    Matched(oneshot::Sender<Option<BTreeMap<u64, u64>>>),
    ReadIndex(Vec<u8>),
    TransferLeader(u64),
    Compact {
        index: u64,
        conf_state: ConfState,
        data: Vec<u8>,
    },
    /// A log-compaction snapshot is durable: the log may drop what it covers.
    SnapshotSaved(Snapshot),
}

/// A cheap, cloneable handle to a member's raft loop.
#[derive(Clone)]
pub struct RaftHandle {
    inbox: mpsc::UnboundedSender<Input>,
    status: watch::Receiver<RaftStatus>,
    connectivity: Connectivity,
}

impl RaftHandle {
    /// Proposes `data`; `Ok` means raft accepted it into the local log (or
    /// forwarded it to the leader), not that it committed.
    pub async fn propose(&self, data: Vec<u8>) -> Result<(), ProposeError> {
        let (done, accepted) = oneshot::channel();
        self.inbox
            .send(Input::Propose { data, done })
            .map_err(|_| ProposeError::Stopped)?;
        accepted.await.map_err(|_| ProposeError::Stopped)?
    }

    /// Proposes a membership change, as [`RaftHandle::propose`] proposes
    /// an entry.
    pub async fn propose_conf_change(&self, change: ConfChange) -> Result<(), ProposeError> {
        let (done, accepted) = oneshot::channel();
        self.inbox
            .send(Input::ProposeConfChange { change, done })
            .map_err(|_| ProposeError::Stopped)?;
        accepted.await.map_err(|_| ProposeError::Stopped)?
    }

    /// Applies a committed membership change to raft's voters and learners
    /// (the applier calls it in log order for each change it took), and
    /// has the transport reach an added member at `peer`; `index` is the
    /// change's entry, for the log (none: an entry that bootstraps the
    /// membership, whose voters raft started with).
    pub fn apply_conf_change(&self, change: ConfChange, peer: Option<Peer>, index: Option<u64>) {
        let _ = self.inbox.send(Input::ApplyConfChange {
            change,
            peer,
            index,
        });
    }

    /// Sends to exactly `peers` from now on (after a snapshot restored the
    /// membership they come from).
    pub fn set_peers(&self, peers: Vec<Peer>) {
        let _ = self.inbox.send(Input::SetPeers(peers));
    }

    /// Reaches `peer.id` at its new URL from now on.
    pub fn update_peer(&self, peer: Peer) {
        let _ = self.inbox.send(Input::UpdatePeer(peer));
    }

    /// While this member leads: the index up to which each member's log
    /// (its own included) is known to match its own; `None` otherwise.
    pub async fn matched(&self) -> Option<BTreeMap<u64, u64>> {
        let (reply, answer) = oneshot::channel();
        self.inbox.send(Input::Matched(reply)).ok()?;
        answer.await.ok().flatten()
    }

    /// Asks for a read index; the answer arrives as [`Committed::ReadIndex`]
    /// with the same `ctx`, or never if leadership cannot be confirmed.
    pub fn read_index(&self, ctx: Vec<u8>) {
        let _ = self.inbox.send(Input::ReadIndex(ctx));
    }

    /// Asks this member, if it leads, to hand leadership to `to` (raft
    /// thesis §3.10); whether it happened shows in [`RaftHandle::status`].
    pub fn transfer_leader(&self, to: u64) {
        let _ = self.inbox.send(Input::TransferLeader(to));
    }

    /// Waits until `done` holds for this member's status.
    pub async fn wait_status(&self, done: impl FnMut(&RaftStatus) -> bool) {
        let mut status = self.status.clone();
        // The loop only stops with the member; then there is nothing to wait for.
        let _ = status.wait_for(done).await;
    }

    /// Compacts the log up to `index`, which the state machine has applied
    /// and whose state `data` is, with the voters and learners
    /// `conf_state` as of it: a snapshot is saved, and the entries it
    /// covers leave the log and the WAL.
    pub fn compact(&self, index: u64, conf_state: ConfState, data: Vec<u8>) {
        let _ = self.inbox.send(Input::Compact {
            index,
            conf_state,
            data,
        });
    }

    /// Delivers a message from a peer.
    pub fn step(&self, msg: Message) {
        let _ = self.inbox.send(Input::Step(msg));
    }

    /// The latest status.
    pub fn status(&self) -> RaftStatus {
        *self.status.borrow()
    }

    /// Whether the transport has reached `peer` without a break since
    /// before `since` (etcd's `isConnectedSince`).
    pub fn connected_since(&self, peer: u64, since: Instant) -> bool {
        self.connectivity.connected_since(peer, since)
    }
}

/// A started raft loop.
pub struct SpawnedRaft {
    /// How the rest of the member talks to it.
    pub handle: RaftHandle,
    /// Committed entries and read states, in order.
    pub committed: mpsc::UnboundedReceiver<Committed>,
    /// The loop itself: it ends only if it fails, and the member with it.
    pub task: JoinHandle<()>,
}

/// Logs the voters and learners `snapshot` gives raft when it is restored
/// (they must be the membership's as of its index).
fn log_snapshot_voters(id: u64, snapshot: &Snapshot) {
    let meta = snapshot.get_metadata();
    tracing::info!(
        target: "etcd_sim::raft",
        member = format_args!("{id:x}"),
        "snapshot voters at index {}: {}",
        meta.index,
        describe_voters(meta.get_conf_state())
    );
}

/// Restores raft from `disk` and starts its loop.
pub fn spawn_raft(config: RaftConfig, disk: Arc<dyn Disk>) -> Result<SpawnedRaft, RestoreError> {
    let snapshotter = Snapshotter::new(disk.clone())
        .with_max_snapshots(config.max_snapshots)
        .with_crash_points(config.crash_points.clone())
        .with_early_purge(config.bugs.has(Bug::SnapshotPurgeBeforeSave))
        .with_purge_pending(config.bugs.has(Bug::Etcd18055));
    let Restored {
        wal,
        replay,
        snapshot: saved,
    } = restore(disk, &snapshotter)?;
    // The logs the older snapshots need stay beside them.
    let mut wal = wal.with_generations(config.max_snapshots.saturating_sub(1));
    let fresh =
        saved.is_none() && replay.entries.is_empty() && replay.hard_state == Default::default();
    let bootstrap = config.bootstrap.as_ref().filter(|_| fresh);
    let snapshot = saved.unwrap_or_else(|| {
        let voters = bootstrap.map_or(vec![], |b| b.voters.clone());
        let mut initial = Snapshot::default();
        initial
            .mut_metadata()
            .set_conf_state(ConfState::from((voters, vec![])));
        initial
    });
    if let Some(bytes) = replay.torn_bytes {
        tracing::warn!(
            target: "etcd_sim::raft",
            member = format_args!("{:x}", config.id),
            "wal: cut a torn last record of {bytes} bytes"
        );
    }
    tracing::info!(
        target: "etcd_sim::raft",
        member = format_args!("{:x}", config.id),
        "started from a snapshot at index {} and {} WAL entries",
        snapshot.get_metadata().index,
        replay.entries.len()
    );
    if snapshot.get_metadata().index != 0 {
        log_snapshot_voters(config.id, &snapshot);
    }
    wal.set_skip_fsync(config.bugs.has(Bug::SkipFsync));
    let snapshot_index = snapshot.get_metadata().index;
    let storage = LogStore::restore(snapshot.clone(), replay.hard_state, &replay.entries);

    let (min, max) = config.election_ticks;
    let raft_config = raft::Config {
        id: config.id,
        election_tick: min,
        min_election_tick: min,
        max_election_tick: max,
        heartbeat_tick: config.heartbeat_ticks,
        max_size_per_msg: 1 << 20,
        max_inflight_msgs: 256,
        check_quorum: config.check_quorum,
        pre_vote: config.pre_vote,
        read_only_option: ReadOnlyOption::Safe,
        applied: snapshot_index,
        ..Default::default()
    };
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    let mut raw = RawNode::new(&raft_config, storage, &logger).expect("valid raft config");
    if let Some(bootstrap) = bootstrap {
        start_log(&mut raw, &bootstrap.entries);
    }
    let election = ElectionTimeouts::new(thread_rng().gen(), min, max);

    let (inbox, inputs) = mpsc::unbounded_channel();
    let (out, committed) = mpsc::unbounded_channel();
    if snapshot_index > 0 {
        let _ = out.send(Committed::Snapshot(snapshotter.hand_over(snapshot_index)));
    }
    let (status_tx, status) = watch::channel(RaftStatus {
        id: config.id,
        ..Default::default()
    });
    let (report_tx, reports) = mpsc::unbounded_channel();
    let connectivity = Connectivity::default();
    let transport = Transport::start(
        config.id,
        &config.peers,
        report_tx,
        connectivity.clone(),
        config.fence.clone(),
        config.perturbations,
    );
    let driver = Driver {
        inbox: inbox.downgrade(),
        raw,
        wal,
        snapshotter,
        catch_up_entries: config.catch_up_entries,
        saving: BTreeSet::new(),
        transport,
        election,
        out,
        status: status_tx,
        crash: config.crash_points.clone(),
        clock: config.clock.clone(),
        metrics: config.metrics.clone(),
        early_ack: config.bugs.has(Bug::EarlyAck),
        ack_before_sync: config.bugs.has(Bug::AckBeforeSync),
        apply_before_sync: config.bugs.has(Bug::Etcd14370),
        stale_conf_state: config.bugs.has(Bug::Etcd21190),
        perturbations: config.perturbations,
        applied_early: 0,
        progress_logged: BTreeMap::new(),
    };
    let task = tokio::spawn(driver.run(inputs, reports, config.tick));
    Ok(SpawnedRaft {
        handle: RaftHandle {
            inbox,
            status,
            connectivity,
        },
        committed,
        task,
    })
}

struct Driver {
    /// The loop's own inbox, for its background work to report back; weak,
    /// so that the loop still ends when every handle is gone.
    inbox: mpsc::WeakUnboundedSender<Input>,
    raw: RawNode<LogStore>,
    wal: Wal,
    snapshotter: Snapshotter,
    /// See [`RaftConfig::catch_up_entries`].
    catch_up_entries: u64,
    /// The indexes snapshots are being saved at: a second request at one
    /// of them would write the same file at the same time.
    saving: BTreeSet<u64>,
    transport: Transport,
    election: ElectionTimeouts,
    out: mpsc::UnboundedSender<Committed>,
    status: watch::Sender<RaftStatus>,
    crash: CrashPoints,
    clock: ClockRate,
    metrics: Metrics,
    /// The `early-ack` bug: a leader hands up entries it has only appended.
    early_ack: bool,
    /// The `ack-before-sync` bug: persisted messages leave before the fsync.
    ack_before_sync: bool,
    /// The `etcd-14370` bug: a leader that alone is a quorum hands up its
    /// new entries before their WAL write is durable.
    apply_before_sync: bool,
    /// The `etcd-21190` bug: a snapshot records the voters of the one
    /// before it.
    stale_conf_state: bool,
    perturbations: Perturbations,
    /// The last index handed up before it committed (with `early_ack` or
    /// `apply_before_sync`).
    applied_early: u64,
    /// While leading, the replication state of each peer as last logged.
    progress_logged: BTreeMap<u64, ProgressState>,
}

impl Driver {
    async fn run(
        mut self,
        mut inputs: mpsc::UnboundedReceiver<Input>,
        mut reports: mpsc::UnboundedReceiver<Report>,
        tick: Duration,
    ) {
        // The tick interval follows this member's clock rate; it is rebuilt
        // only when the rate changes.
        let mut period = self.clock.scale(tick);
        let mut ticker = crate::clock::ticker(period);
        loop {
            self.election.pin(&mut self.raw.raft);
            tokio::select! {
                biased;
                _ = ticker.tick() => {
                    self.raw.tick();
                    self.maybe_hand_over();
                    if self.clock.scale(tick) != period {
                        period = self.clock.scale(tick);
                        ticker = crate::clock::ticker(period);
                    }
                }
                Some(report) = reports.recv() => match report {
                    Report::Unreachable(to) => self.raw.report_unreachable(to),
                    Report::Snapshot { to, delivered } => self.raw.report_snapshot(
                        to,
                        if delivered { SnapshotStatus::Finish } else { SnapshotStatus::Failure },
                    ),
                },
                input = inputs.recv() => {
                    let Some(input) = input else { return };
                    self.handle(input).await;
                    while let Ok(input) = inputs.try_recv() {
                        self.handle(input).await;
                    }
                }
            }
            self.election.pin(&mut self.raw.raft);
            self.handle_ready().await;
            self.publish_status();
            self.log_progress();
        }
    }

    async fn handle(&mut self, input: Input) {
        match input {
            Input::Step(msg) => {
                // Messages from a stale or unknown peer are rejected by raft;
                // there is nothing to do about them here.
                let _ = self.raw.step(msg);
            }
            Input::Propose { data, done } => {
                let result = self
                    .raw
                    .propose(vec![], data)
                    .map_err(|_| ProposeError::Dropped);
                let _ = done.send(result);
            }
            Input::ProposeConfChange { change, done } => {
                let result = self
                    .raw
                    .propose_conf_change(vec![], change)
                    .map_err(|_| ProposeError::Dropped);
                let _ = done.send(result);
            }
            Input::ApplyConfChange {
                change,
                peer,
                index,
            } => {
                // A leader that removes itself loses its own progress;
                // raft-rs then panics when it is told entries it appended
                // before were persisted (`on_persist_entries` unwraps the
                // leader's progress). Persist them first, while it still
                // has one. (New proposals are dropped once it is removed.)
                let removes_self = change.get_change_type()
                    == raft::eraftpb::ConfChangeType::RemoveNode
                    && change.node_id == self.raw.raft.id;
                if removes_self && self.raw.has_ready() {
                    self.handle_ready().await;
                }
                self.apply_conf_change(&change, peer, index)
            }
            Input::SetPeers(peers) => self.transport.set_peers(&peers),
            Input::UpdatePeer(peer) => self.transport.add_peer(&peer),
            Input::Matched(reply) => {
                let raft = &self.raw.raft;
                let leading = raft.state == StateRole::Leader;
                let matched = raft.prs().iter().map(|(&id, pr)| (id, pr.matched));
                let _ = reply.send(leading.then(|| matched.collect()));
            }
            Input::ReadIndex(ctx) => self.raw.read_index(ctx),
            Input::TransferLeader(to) => self.raw.transfer_leader(to),
            Input::Compact {
                index,
                conf_state,
                data,
            } => self.compact(index, conf_state, data),
            Input::SnapshotSaved(snapshot) => self.compact_log(snapshot).await,
        }
    }

    /// Log compaction, first step: a snapshot at `index` is saved in the
    /// background (at 100,000 keys it is a write of hundreds of MB, and the
    /// loop must go on ticking and replicating meanwhile); once it is
    /// durable, [`Driver::compact_log`] drops what it covers.
    fn compact(&mut self, index: u64, conf_state: ConfState, data: Vec<u8>) {
        let store = self.raw.store();
        let covered = store.snapshot_ref().get_metadata().index;
        // Only committed entries may leave the log; a stale request (a
        // newer snapshot arrived meanwhile) or one being saved is dropped.
        if index <= covered
            || index > self.raw.raft.raft_log.committed
            || self.saving.contains(&index)
        {
            return;
        }
        let Ok(term) = store.term(index) else { return };
        self.saving.insert(index);
        let mut snapshot = Snapshot::default();
        let meta = snapshot.mut_metadata();
        meta.index = index;
        meta.term = term;
        // The bug: the voters of the snapshot before this one.
        crate::coverage::bug_site(Bug::Etcd21190);
        meta.set_conf_state(match self.stale_conf_state {
            true => store.conf_state().clone(),
            false => conf_state,
        });
        if describe_voters(meta.get_conf_state()) != describe_voters(store.conf_state()) {
            self.crash.reach(CrashPoint::MembershipSnapshotSave);
        }
        snapshot.data = data.into();
        let (inbox, crash) = (self.inbox.clone(), self.crash.clone());
        let snapshotter = self.snapshotter.clone();
        let id = self.raw.raft.id;
        tokio::spawn(async move {
            let saved = snapshot.clone();
            save_snapshot(id, snapshotter, &crash, saved).await;
            if let Some(inbox) = inbox.upgrade() {
                let _ = inbox.send(Input::SnapshotSaved(snapshot));
            }
        });
    }

    /// A committed membership change reaches raft's voters and learners.
    /// The membership took it, by rules that leave raft nothing to refuse:
    /// if raft refuses it all the same, the two disagree about who votes,
    /// and this member stops rather than count the wrong quorum.
    /// The voters it ends with are logged by the entry's `index`, for a
    /// reader to hold against the membership's.
    ///
    /// A change from before a snapshot raft restored since it handed the
    /// change's entry to the applier is not taken again: raft's voters are
    /// the snapshot's, which hold it, and taken again a stale change would
    /// undo later ones (a member added back after its removal counted as a
    /// voter for good).
    fn apply_conf_change(&mut self, change: &ConfChange, peer: Option<Peer>, index: Option<u64>) {
        let id = self.raw.raft.id;
        if index.is_some_and(|index| index <= self.restored_up_to()) {
            crate::coverage::hit(crate::coverage::Site::StaleConfChange);
            self.reach_peer(change, peer);
            return;
        }
        let conf = match self.raw.apply_conf_change(change) {
            Ok(conf) => conf,
            Err(e) => panic!(
                "member {id:x} cannot apply a conf change its membership took ({change:?}): {e}"
            ),
        };
        if let Some(index) = index {
            tracing::info!(
                target: "etcd_sim::raft",
                member = format_args!("{id:x}"),
                "raft voters at index {index}: {}",
                describe_voters(&conf)
            );
        }
        self.reach_peer(change, peer);
    }

    /// The transport reaches an added member at `peer`, and no longer a
    /// removed one. (After a snapshot, the applier sets every peer anew.)
    fn reach_peer(&mut self, change: &ConfChange, peer: Option<Peer>) {
        match peer {
            Some(peer) => self.transport.add_peer(&peer),
            None if change.get_change_type() == raft::eraftpb::ConfChangeType::RemoveNode => {
                self.transport.remove_peer(change.node_id)
            }
            None => {}
        }
    }

    /// The index of the newest snapshot raft restored, saved or not yet.
    fn restored_up_to(&self) -> u64 {
        let log = &self.raw.raft.raft_log;
        let unstable = log.unstable.snapshot.as_ref();
        let saved = log.store.snapshot_ref().get_metadata().index;
        unstable.map_or(saved, |s| s.get_metadata().index.max(saved))
    }

    /// Log compaction, second step: `snapshot` is durable, so it becomes the
    /// log's snapshot, and the log and the WAL keep only what follows it
    /// and the catch-up entries before it.
    async fn compact_log(&mut self, snapshot: Snapshot) {
        let index = snapshot.get_metadata().index;
        self.saving.remove(&index);
        // A newer snapshot (from the leader, or a later compaction) may have
        // overtaken this one while it was being saved.
        if index <= self.raw.store().snapshot_ref().get_metadata().index {
            return;
        }
        self.log_snapshot(&snapshot);
        let dropped = self
            .raw
            .mut_store()
            .apply_snapshot(snapshot, self.catch_up_entries);
        // With catch-up entries to keep, a compaction may drop nothing: the
        // WAL is then left as it is rather than rewritten whole.
        if dropped {
            self.rewrite_wal().await;
        }
    }

    /// A snapshot from the leader: saved, made the start of the log, and
    /// the WAL shrunk, in that order, so that a crash at any point leaves a
    /// snapshot and a WAL that together hold every persisted entry. Returns
    /// the saved file, for the applier to open.
    async fn install_snapshot(&mut self, snapshot: Snapshot) -> SnapshotFile {
        self.log_snapshot(&snapshot);
        let id = self.raw.raft.id;
        let index = snapshot.get_metadata().index;
        save_snapshot(id, self.snapshotter.clone(), &self.crash, snapshot.clone()).await;
        let file = self.snapshotter.hand_over(index);
        self.raw
            .mut_store()
            .apply_snapshot(snapshot, self.catch_up_entries);
        self.rewrite_wal().await;
        file
    }

    fn log_snapshot(&self, snapshot: &Snapshot) {
        tracing::info!(
            target: "etcd_sim::raft",
            member = format_args!("{:x}", self.raw.raft.id),
            "snapshot at index {} term {}",
            snapshot.get_metadata().index,
            snapshot.get_metadata().term
        );
        log_snapshot_voters(self.raw.raft.id, snapshot);
    }

    /// Replaces the WAL with the entries the log holds (its catch-up
    /// entries and those after its snapshot) and the hard state.
    async fn rewrite_wal(&mut self) {
        let store = self.raw.store();
        let (entries, hard_state) = (store.held_entries().to_vec(), store.hard_state().clone());
        let id = self.raw.raft.id;
        self.wal
            .rewrite(entries, hard_state)
            .await
            .unwrap_or_else(|e| panic!("member {id:x} cannot rewrite its WAL: {e}"));
    }

    /// One `Ready`, handled in the order raft-rs's documentation gives.
    async fn handle_ready(&mut self) {
        if !self.raw.has_ready() {
            return;
        }
        let mut ready = self.raw.ready();
        // 1. A leader may send before it persists (raft thesis §10.2.1).
        self.send(ready.take_messages());
        // 2. A snapshot from the leader replaces the state machine.
        if !ready.snapshot().is_empty() {
            let file = self.install_snapshot(ready.snapshot().clone()).await;
            let _ = self.out.send(Committed::Snapshot(file));
        }
        // 3. Committed entries are already persisted: hand them up.
        self.emit_read_states(ready.take_read_states());
        self.emit_committed(ready.take_committed_entries());
        self.maybe_apply_before_sync(&ready);
        // 4. Persist new entries and hard state, durably, before anything
        //    that depends on them leaves this member.
        let hard_state = ready.hs().cloned();
        let saving = !ready.entries().is_empty() || hard_state.is_some();
        if saving {
            self.crash.reach(CrashPoint::RaftBeforeSave);
            let sync_started = tokio::time::Instant::now();
            let (wal, id) = (self.wal.clone(), self.raw.raft.id);
            if ready.must_sync() {
                // The loop waits for the write to be durable, as etcd's raft
                // loop waits for its fsync (a slow disk holds it up as a slow
                // fsync holds up etcd's); the runtime's workers do not wait.
                let (entries, hs) = (ready.entries().clone(), hard_state.clone());
                let failed = |e| panic!("member {id:x} cannot write its WAL: {e}");
                wal.write(entries, hs).await.unwrap_or_else(failed);
                crate::coverage::bug_site(Bug::AckBeforeSync);
                if self.ack_before_sync {
                    // The bug: promise what is written but not yet durable.
                    self.send(ready.take_persisted_messages());
                }
                wal.sync().await.unwrap_or_else(failed);
                self.metrics.observe_wal_fsync(sync_started.elapsed());
            } else if let Some(hs) = &hard_state {
                // Only the commit index moved (no entries, vote or term).
                wal.save_commit(hs)
                    .unwrap_or_else(|e| panic!("member {id:x} cannot write its WAL: {e}"));
            }
            self.crash.reach(CrashPoint::RaftAfterSave);
        }
        let store = self.raw.mut_store();
        store.append(ready.entries());
        if let Some(hs) = hard_state {
            store.set_hard_state(hs);
        }
        if self.raw.raft.state == StateRole::Leader && !ready.entries().is_empty() {
            crate::coverage::bug_site(Bug::EarlyAck);
        }
        if self.early_ack && self.raw.raft.state == StateRole::Leader {
            let uncommitted = ready.entries().to_vec();
            self.applied_early = uncommitted.last().map_or(self.applied_early, |e| e.index);
            self.emit_entries(uncommitted);
        }
        // 5. Votes and append responses promise persisted state.
        self.send(ready.take_persisted_messages());
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.raw.mut_store().set_commit(commit);
        }
        self.send(light.take_messages());
        self.emit_committed(light.take_committed_entries());
        self.raw.advance_apply();
    }

    /// The `etcd-14370` bug. A leader that alone is a quorum commits an
    /// entry by persisting it, so raft hands it up only after the WAL
    /// save below. etcd 3.5's raft counted it committed on append and its
    /// server sent it to the applier while the WAL fsync was still under
    /// way, so a write could be answered and then lost in a crash (etcd's
    /// fix waits for the fsync when committed entries are not yet synced).
    /// With the bug on, this member does the same: its new entries go to
    /// the applier before they are durable.
    fn maybe_apply_before_sync(&mut self, ready: &raft::Ready) {
        let raft = &self.raw.raft;
        if raft.state != StateRole::Leader || !raft.prs().is_singleton() {
            return;
        }
        if ready.entries().is_empty() {
            return;
        }
        crate::coverage::bug_site(Bug::Etcd14370);
        if self.apply_before_sync {
            // As etcd's raft loop takes the leader from the soft state
            // first: the applier must see this member lead when it applies
            // the entry that opens its term, while the WAL save is waiting.
            self.publish_status();
            let unsynced = ready.entries().to_vec();
            self.applied_early = unsynced.last().map_or(self.applied_early, |e| e.index);
            self.emit_entries(unsynced);
        }
    }

    /// Sends `messages`, first passing the send crash point of this role.
    fn send(&self, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        self.crash
            .reach(if self.raw.raft.state == StateRole::Leader {
                CrashPoint::LeaderBeforeSend
            } else {
                CrashPoint::FollowerBeforeSend
            });
        for m in &messages {
            tracing::debug!(
                target: "etcd_sim::raft",
                member = format_args!("{:x}", m.from),
                "send {:?} to {:x} term {} log_term {} index {} entries {} commit {}{}",
                m.get_msg_type(),
                m.to,
                m.term,
                m.log_term,
                m.index,
                m.entries.len(),
                m.commit,
                if m.reject { " reject" } else { "" }
            );
        }
        self.transport.send(messages);
    }

    /// Hands up committed entries, less those the `early-ack` bug already
    /// handed up.
    fn emit_committed(&self, mut entries: Vec<Entry>) {
        entries.retain(|e| e.index > self.applied_early);
        self.emit_entries(entries);
    }

    fn emit_entries(&self, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        if self.perturbations.fires(Perturbation::TinyBatches) {
            for entry in entries {
                let _ = self.out.send(Committed::Entries(vec![entry]));
            }
        } else {
            let _ = self.out.send(Committed::Entries(entries));
        }
    }

    /// The `leader-hands-over` perturbation: a leader, now and then, hands
    /// leadership to a random voter, as an operator's MoveLeader would.
    fn maybe_hand_over(&mut self) {
        let raft = &self.raw.raft;
        if raft.state != StateRole::Leader
            || !self.perturbations.fires(Perturbation::LeaderHandsOver)
        {
            return;
        }
        let others: Vec<u64> = raft
            .prs()
            .iter()
            .map(|(&id, _)| id)
            .filter(|&id| id != raft.id)
            .collect();
        if others.is_empty() {
            return;
        }
        let to = others[thread_rng().gen_range(0..others.len())];
        self.raw.transfer_leader(to);
    }

    fn emit_read_states(&self, states: Vec<raft::ReadState>) {
        for state in states {
            let _ = self.out.send(Committed::ReadIndex {
                ctx: state.request_ctx,
                index: state.index,
            });
        }
    }

    /// While leading, logs each peer's replication state (probe,
    /// replicate, snapshot) when it changes: how a stuck follower looks
    /// from the leader, for whoever reads the logs (a `stuck` verdict's
    /// evidence does).
    fn log_progress(&mut self) {
        let raft = &self.raw.raft;
        if raft.state != StateRole::Leader {
            self.progress_logged.clear();
            return;
        }
        for (&peer, pr) in raft.prs().iter() {
            if peer == raft.id || self.progress_logged.get(&peer) == Some(&pr.state) {
                continue;
            }
            self.progress_logged.insert(peer, pr.state);
            tracing::info!(
                target: "etcd_sim::raft",
                member = format_args!("{:x}", raft.id),
                "progress of {peer:x}: {:?}, match {}, next {}, pending snapshot {}",
                pr.state,
                pr.matched,
                pr.next_idx,
                pr.pending_snapshot
            );
        }
    }

    fn publish_status(&self) {
        let raft = &self.raw.raft;
        let mut status = RaftStatus {
            id: raft.id,
            leader: if raft.state == StateRole::Leader {
                raft.id
            } else {
                raft.leader_id
            },
            term: raft.term,
            commit: raft.raft_log.committed,
            elected: None,
        };
        self.status.send_if_modified(|old| {
            let newly_elected = status.leader == raft.id && old.leader != raft.id;
            status.elected = if newly_elected {
                Some(Instant::now())
            } else {
                old.elected
            };
            let changed = *old != status;
            if status.leader != 0 && status.leader != old.leader {
                self.metrics.leader_changed();
            }
            if old.term != status.term || old.leader != status.leader {
                tracing::info!(
                    target: "etcd_sim::raft",
                    member = format_args!("{:x}", raft.id),
                    "{:?} at term {}, leader {:x}",
                    raft.state,
                    status.term,
                    status.leader
                );
            }
            *old = status;
            changed
        });
    }
}

/// Starts a new cluster's log as etcd's `StartNode` does: term 1, and the
/// bootstrap entries appended and committed. They reach the WAL with the
/// first `Ready` and the applier right after, like any committed entry.
fn start_log(raw: &mut RawNode<LogStore>, entries: &[Entry]) {
    let Some(last) = entries.last() else { return };
    raw.raft.become_follower(1, INVALID_ID);
    raw.raft.raft_log.append(entries);
    raw.raft.raft_log.commit_to(last.index);
}

/// Saves `snapshot` durably off the runtime's workers, between the two
/// snapshot crash points.
async fn save_snapshot(id: u64, snapshotter: Snapshotter, crash: &CrashPoints, snapshot: Snapshot) {
    crash.reach(CrashPoint::BeforeSnapshotSave);
    snapshotter
        .save(snapshot)
        .await
        .unwrap_or_else(|e| panic!("member {id:x} cannot save a snapshot: {e}"));
    crash.reach(CrashPoint::AfterSnapshotSave);
}
