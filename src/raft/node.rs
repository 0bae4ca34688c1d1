//! The task that owns raft-rs's `RawNode` and the loop that drives it.

use std::sync::Arc;
use std::time::Duration;

use madsim::rand::{thread_rng, Rng};
use raft::eraftpb::{ConfState, Entry, Message};
use raft::storage::MemStorage;
use raft::{RawNode, ReadOnlyOption, StateRole};
use tokio::sync::{mpsc, oneshot, watch};

use super::transport::{Peer, Transport};
use super::wal::{Wal, WalError};
use super::ElectionTimeouts;
use crate::storage::Disk;

/// How a member runs raft.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// This member's raft id (non-zero).
    pub id: u64,
    /// Every member of the cluster, this one included.
    pub peers: Vec<Peer>,
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
}

/// What raft hands up to the server, in log order.
#[derive(Debug)]
pub enum Committed {
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
    ReadIndex(Vec<u8>),
}

/// A cheap, cloneable handle to a member's raft loop.
#[derive(Clone)]
pub struct RaftHandle {
    inbox: mpsc::UnboundedSender<Input>,
    status: watch::Receiver<RaftStatus>,
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

    /// Asks for a read index; the answer arrives as [`Committed::ReadIndex`]
    /// with the same `ctx`, or never if leadership cannot be confirmed.
    pub fn read_index(&self, ctx: Vec<u8>) {
        let _ = self.inbox.send(Input::ReadIndex(ctx));
    }

    /// Delivers a message from a peer.
    pub fn step(&self, msg: Message) {
        let _ = self.inbox.send(Input::Step(msg));
    }

    /// The latest status.
    pub fn status(&self) -> RaftStatus {
        *self.status.borrow()
    }
}

/// Restores raft from `disk` and starts its loop; committed entries and read
/// states arrive on the returned receiver.
pub fn spawn_raft(
    config: RaftConfig,
    disk: Arc<dyn Disk>,
) -> Result<(RaftHandle, mpsc::UnboundedReceiver<Committed>), WalError> {
    let (wal, replay) = Wal::open(disk)?;
    let voters: Vec<u64> = config.peers.iter().map(|p| p.id).collect();
    let storage = MemStorage::new_with_conf_state(ConfState::from((voters, vec![])));
    storage
        .wl()
        .append(&replay.entries)
        .expect("replayed log is contiguous");
    storage.wl().set_hardstate(replay.hard_state);

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
        ..Default::default()
    };
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    let raw = RawNode::new(&raft_config, storage, &logger).expect("valid raft config");
    let election = ElectionTimeouts::new(thread_rng().gen(), min, max);

    let (inbox, inputs) = mpsc::unbounded_channel();
    let (out, committed) = mpsc::unbounded_channel();
    let (status_tx, status) = watch::channel(RaftStatus {
        id: config.id,
        ..Default::default()
    });
    let transport = Transport::start(config.id, &config.peers);
    let driver = Driver {
        raw,
        wal,
        transport,
        election,
        out,
        status: status_tx,
    };
    tokio::spawn(driver.run(inputs, config.tick));
    Ok((RaftHandle { inbox, status }, committed))
}

struct Driver {
    raw: RawNode<MemStorage>,
    wal: Wal,
    transport: Transport,
    election: ElectionTimeouts,
    out: mpsc::UnboundedSender<Committed>,
    status: watch::Sender<RaftStatus>,
}

impl Driver {
    async fn run(mut self, mut inputs: mpsc::UnboundedReceiver<Input>, tick: Duration) {
        let mut ticker = tokio::time::interval(tick);
        loop {
            self.election.pin(&mut self.raw.raft);
            tokio::select! {
                biased;
                _ = ticker.tick() => {
                    self.raw.tick();
                }
                input = inputs.recv() => {
                    let Some(input) = input else { return };
                    self.handle(input);
                    while let Ok(input) = inputs.try_recv() {
                        self.handle(input);
                    }
                }
            }
            self.election.pin(&mut self.raw.raft);
            self.handle_ready();
            self.publish_status();
        }
    }

    fn handle(&mut self, input: Input) {
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
            Input::ReadIndex(ctx) => self.raw.read_index(ctx),
        }
    }

    /// One `Ready`, handled in the order raft-rs's documentation gives.
    fn handle_ready(&mut self) {
        if !self.raw.has_ready() {
            return;
        }
        let mut ready = self.raw.ready();
        // 1. A leader may send before it persists (raft thesis §10.2.1).
        self.transport.send(ready.take_messages());
        assert!(
            ready.snapshot().is_empty(),
            "raft snapshots need log compaction, which this member never does"
        );
        // 2. Committed entries are already persisted: hand them up.
        self.emit_read_states(ready.take_read_states());
        self.emit_entries(ready.take_committed_entries());
        // 3. Persist new entries and hard state, durably, before anything
        //    that depends on them leaves this member.
        let hard_state = ready.hs().cloned();
        self.wal
            .save(ready.entries(), hard_state.as_ref())
            .unwrap_or_else(|e| panic!("member {} cannot write its WAL: {e}", self.raw.raft.id));
        let store = self.raw.mut_store();
        store
            .wl()
            .append(ready.entries())
            .expect("raft appends a contiguous suffix");
        if let Some(hs) = hard_state {
            store.wl().set_hardstate(hs);
        }
        // 4. Votes and append responses promise persisted state.
        self.transport.send(ready.take_persisted_messages());
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.raw.mut_store().wl().mut_hard_state().commit = commit;
        }
        self.transport.send(light.take_messages());
        self.emit_entries(light.take_committed_entries());
        self.raw.advance_apply();
    }

    fn emit_entries(&self, entries: Vec<Entry>) {
        if !entries.is_empty() {
            let _ = self.out.send(Committed::Entries(entries));
        }
    }

    fn emit_read_states(&self, states: Vec<raft::ReadState>) {
        for state in states {
            let _ = self.out.send(Committed::ReadIndex {
                ctx: state.request_ctx,
                index: state.index,
            });
        }
    }

    fn publish_status(&self) {
        let raft = &self.raw.raft;
        let status = RaftStatus {
            id: raft.id,
            leader: if raft.state == StateRole::Leader {
                raft.id
            } else {
                raft.leader_id
            },
            term: raft.term,
            commit: raft.raft_log.committed,
        };
        self.status.send_if_modified(|old| {
            let changed = *old != status;
            *old = status;
            changed
        });
    }
}
