//! Moving raft messages between members over gRPC.
//!
//! Sending never blocks the raft loop: each peer has a queue drained by its
//! own task, which ships everything queued as one batch per call. A peer that
//! is down or unreachable loses messages, which raft tolerates by design
//! (it retransmits); the queue is bounded so that a dead peer cannot grow it
//! without limit.
//!
//! Snapshots travel apart, as etcd sends them: each on a call of its own,
//! streamed in chunks, with a deadline that grows with its size, so that a
//! snapshot of any size gets through and appends and heartbeats are not
//! held up behind it. Whatever became of a send goes back to raft as a
//! [`Report`]: raft stops pipelining to a peer that is unreachable, and a
//! leader whose snapshot was lost sends it again instead of waiting for the
//! follower forever.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::transport::Endpoint;

use super::fence::{Fence, REMOVED};
use super::RaftHandle;
use crate::perturb::{Perturbation, Perturbations};
use crate::proto::etcdsimpb::raft_transport_client::RaftTransportClient;
use crate::proto::etcdsimpb::raft_transport_server::RaftTransport;
use crate::proto::etcdsimpb::{MessageBatch, SendAck, SnapshotChunk};

/// Messages waiting for one peer beyond this are dropped, oldest first.
const MAX_QUEUED: usize = 4096;
/// How long one batch may take before the peer counts as unreachable.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);
/// A snapshot may take [`SEND_TIMEOUT`] plus its size at this rate (bytes
/// per second): slow enough for any network a cluster runs on.
const SNAPSHOT_MIN_RATE: f64 = 8.0 * 1024.0 * 1024.0;
/// Bytes per snapshot chunk, well under gRPC's default message limit.
const SNAPSHOT_CHUNK: usize = 1 << 20;

/// What became of a send, for raft to know (raft-rs's `report_unreachable`
/// and `report_snapshot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Messages to this peer were lost: it could not be reached.
    Unreachable(u64),
    /// A snapshot to `to` was delivered, or was lost.
    Snapshot {
        /// The peer.
        to: u64,
        /// Whether the peer received the whole snapshot.
        delivered: bool,
    },
}

/// Another member: its raft id and peer URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// raft id.
    pub id: u64,
    /// Where its peer transport listens, e.g. `http://10.0.0.2:2380`.
    pub url: String,
}

/// Since when each peer has been reachable, as etcd's rafthttp tells by
/// `ActiveSince`: from the first batch delivered after the last one lost.
/// A peer whose last batch was lost, or that was never sent one, is not
/// reachable. Clones share the record: the transport writes it, the
/// server reads it to tell why a proposal timed out.
#[derive(Debug, Clone, Default)]
pub struct Connectivity(Arc<Mutex<BTreeMap<u64, Instant>>>);

impl Connectivity {
    /// Whether `peer` has been reachable without a break since before `since`.
    pub fn connected_since(&self, peer: u64, since: Instant) -> bool {
        self.0
            .lock()
            .unwrap()
            .get(&peer)
            .is_some_and(|active| *active < since)
    }

    fn delivered(&self, peer: u64) {
        self.0
            .lock()
            .unwrap()
            .entry(peer)
            .or_insert_with(Instant::now);
    }

    fn lost(&self, peer: u64) {
        self.0.lock().unwrap().remove(&peer);
    }
}

/// The sending side, owned by the raft loop.
pub struct Transport {
    from: u64,
    queues: BTreeMap<u64, mpsc::UnboundedSender<Message>>,
    feedback: Feedback,
    perturbations: Perturbations,
}

/// Where every peer's sender task tells what became of its sends: to raft
/// (`reports`), to the server (`connectivity`), and to the member itself
/// (`fence`: a peer said it was removed).
#[derive(Clone)]
struct Feedback {
    reports: mpsc::UnboundedSender<Report>,
    connectivity: Connectivity,
    fence: Fence,
}

impl Transport {
    /// Starts one sender task per peer; `from` is this member's raft id.
    /// What becomes of sends is reported on `reports`, which peers are
    /// reachable in `connectivity`, and a peer's word that this member was
    /// removed in `fence`.
    pub fn start(
        from: u64,
        peers: &[Peer],
        reports: mpsc::UnboundedSender<Report>,
        connectivity: Connectivity,
        fence: Fence,
        perturbations: Perturbations,
    ) -> Self {
        let mut transport = Self {
            from,
            queues: BTreeMap::new(),
            feedback: Feedback {
                reports,
                connectivity,
                fence,
            },
            perturbations,
        };
        transport.set_peers(peers);
        transport
    }

    /// Sends to `peers` from now on, and to no one else: a peer that stays
    /// keeps its queue, one that leaves has it closed (its sender task ends
    /// with it), one that comes gets a new one.
    pub fn set_peers(&mut self, peers: &[Peer]) {
        self.queues
            .retain(|id, _| peers.iter().any(|p| p.id == *id));
        for peer in peers {
            if !self.queues.contains_key(&peer.id) {
                self.add_peer(peer);
            }
        }
    }

    /// Sends to `peer` from now on, at its URL; a peer already known is
    /// moved there (its old sender task ends).
    pub fn add_peer(&mut self, peer: &Peer) {
        if peer.id == self.from {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(send_loop(
            self.from,
            peer.id,
            peer.url.clone(),
            rx,
            self.feedback.clone(),
            self.perturbations,
        ));
        self.queues.insert(peer.id, tx);
    }

    /// Sends nothing to `id` any more.
    pub fn remove_peer(&mut self, id: u64) {
        self.queues.remove(&id);
        self.feedback.connectivity.lost(id);
    }

    /// Queues `messages` for their recipients.
    pub fn send(&self, messages: Vec<Message>) {
        for msg in messages {
            let Some(queue) = self.queues.get(&msg.to) else {
                continue;
            };
            // The network may deliver a message twice, or late and after
            // later ones; raft must not care. A forwarded proposal is not
            // duplicated: that would be a client's retry, which etcd's API
            // does not make exactly-once either (a put applied twice).
            if msg.get_msg_type() != MessageType::MsgPropose
                && self.perturbations.fires(Perturbation::DuplicatePeerMessage)
            {
                let _ = queue.send(msg.clone());
            }
            if let Some(delay) = self.perturbations.delay(Perturbation::DelayPeerMessage, 50) {
                let queue = queue.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = queue.send(msg);
                });
                continue;
            }
            // The sender task lives as long as the member; a closed queue
            // means the member is shutting down.
            let _ = queue.send(msg);
        }
    }
}

async fn send_loop(
    from: u64,
    to: u64,
    url: String,
    mut rx: mpsc::UnboundedReceiver<Message>,
    feedback: Feedback,
    perturbations: Perturbations,
) {
    let Feedback {
        reports,
        connectivity,
        fence,
    } = feedback;
    let snapshot_endpoint = match Endpoint::from_shared(url.clone()) {
        Ok(e) => e.connect_timeout(SEND_TIMEOUT),
        Err(e) => panic!("invalid peer url {url}: {e}"),
    };
    // Batches have one deadline each; a snapshot's depends on its size.
    let endpoint = snapshot_endpoint.clone().timeout(SEND_TIMEOUT);
    let mut client: Option<RaftTransportClient<tonic::transport::Channel>> = None;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(msg) = rx.try_recv() {
            batch.push(msg);
        }
        let (snapshots, mut batch): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|m| m.get_msg_type() == MessageType::MsgSnapshot);
        for snapshot in snapshots {
            // A large database takes a while to stream; the leader's raft
            // goes on meanwhile, and may compact past this snapshot.
            let delay = perturbations.delay(Perturbation::SlowSnapshot, 3_000);
            let (endpoint, reports) = (snapshot_endpoint.clone(), reports.clone());
            tokio::spawn(async move {
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                send_snapshot(endpoint, snapshot, reports).await
            });
        }
        if batch.is_empty() {
            continue;
        }
        if batch.len() > MAX_QUEUED {
            batch.drain(..batch.len() - MAX_QUEUED);
        }
        let messages = batch
            .iter()
            .map(|m| m.write_to_bytes().expect("raft message encodes"))
            .collect();
        let request = MessageBatch { from, messages };
        if client.is_none() {
            client = tokio::time::timeout(SEND_TIMEOUT, endpoint.connect())
                .await
                .ok()
                .and_then(Result::ok)
                .map(RaftTransportClient::new);
        }
        let Some(c) = client.as_mut() else {
            connectivity.lost(to);
            let _ = reports.send(Report::Unreachable(to));
            continue;
        };
        let sent = tokio::time::timeout(SEND_TIMEOUT, c.send(request)).await;
        if matches!(sent, Ok(Ok(_))) {
            connectivity.delivered(to);
        } else if matches!(&sent, Ok(Err(status)) if status.message() == REMOVED) {
            // A peer knows this member was removed: it must stop.
            if fence.removed_this_member() {
                tracing::warn!(target: "etcd_sim::raft", member = format_args!("{from:x}"), "{REMOVED}");
            }
        } else {
            // Once per lost connection, as etcd logs a lost peer stream.
            tracing::warn!(
                target: "etcd_sim::raft",
                member = format_args!("{from:x}"),
                "lost the connection to peer {url}: {} messages dropped ({})",
                batch.len(),
                match sent {
                    Err(_) => "timed out".to_string(),
                    Ok(Err(status)) => status.message().to_string(),
                    Ok(Ok(_)) => unreachable!(),
                }
            );
            client = None;
            connectivity.lost(to);
            let _ = reports.send(Report::Unreachable(to));
        }
    }
}

/// Streams the snapshot message `msg` to the peer at `endpoint` on a
/// connection of its own, and reports whether it arrived.
async fn send_snapshot(endpoint: Endpoint, msg: Message, reports: mpsc::UnboundedSender<Report>) {
    let to = msg.to;
    let bytes = msg.write_to_bytes().expect("raft message encodes");
    let deadline = SEND_TIMEOUT + Duration::from_secs_f64(bytes.len() as f64 / SNAPSHOT_MIN_RATE);
    let chunks: Vec<SnapshotChunk> = bytes
        .chunks(SNAPSHOT_CHUNK)
        .map(|data| SnapshotChunk {
            data: data.to_vec(),
        })
        .collect();
    let sent = tokio::time::timeout(deadline, async move {
        let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
        RaftTransportClient::new(channel)
            .send_snapshot(futures::stream::iter(chunks))
            .await
            .map_err(|status| status.message().to_string())
    })
    .await;
    let delivered = matches!(sent, Ok(Ok(_)));
    if delivered {
        crate::coverage::hit(crate::coverage::Site::SnapshotSent);
    } else {
        tracing::warn!(
            target: "etcd_sim::raft",
            member = format_args!("{:x}", msg.from),
            "snapshot at index {} ({} bytes) to {to:x} lost: {}",
            msg.get_snapshot().get_metadata().index,
            bytes.len(),
            match sent {
                Err(_) => format!("not delivered within {deadline:?}"),
                Ok(Err(e)) => e,
                Ok(Ok(_)) => unreachable!(),
            }
        );
    }
    let _ = reports.send(Report::Snapshot { to, delivered });
}

/// The receiving side: the gRPC service that steps incoming messages.
pub struct RaftTransportService {
    raft: RaftHandle,
    fence: Option<Fence>,
}

impl RaftTransportService {
    /// Steps every received message meant for this member into `raft`,
    /// refusing those of a member `fence` names removed; without a fence
    /// (the `etcd-7512` bug) a removed member's messages are stepped too.
    pub fn new(raft: RaftHandle, fence: Option<Fence>) -> Self {
        Self { raft, fence }
    }

    /// Refuses a removed member's message, so that it learns it was
    /// removed (etcd's rafthttp answers it "410 Gone").
    fn check_sender(&self, from: u64) -> Result<(), tonic::Status> {
        match &self.fence {
            Some(fence) if fence.is_removed(from) => {
                Err(tonic::Status::failed_precondition(REMOVED))
            }
            _ => Ok(()),
        }
    }

    /// Refuses a message meant for another member (etcd's rafthttp:
    /// "raft: mismatch recipient"). A member replaced under a new id keeps
    /// its peer URL, so messages a peer still sends to its old id reach
    /// the new one; raft does not look at a message's recipient, and the
    /// new member would step another member's log position (a heartbeat's
    /// commit index beyond its own log stops it).
    fn check_recipient(&self, msg: &Message) -> Result<(), tonic::Status> {
        let me = self.raft.status().id;
        if msg.to != me {
            return Err(tonic::Status::failed_precondition(format!(
                "raft: mismatch recipient: a message for {:x} reached {me:x}",
                msg.to
            )));
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl RaftTransport for RaftTransportService {
    async fn send(
        &self,
        request: tonic::Request<MessageBatch>,
    ) -> Result<tonic::Response<SendAck>, tonic::Status> {
        let batch = request.into_inner();
        self.check_sender(batch.from)?;
        for bytes in batch.messages {
            let msg = Message::parse_from_bytes(&bytes)
                .map_err(|e| tonic::Status::invalid_argument(format!("bad raft message: {e}")))?;
            self.check_recipient(&msg)?;
            self.raft.step(msg);
        }
        Ok(tonic::Response::new(SendAck {}))
    }

    async fn send_snapshot(
        &self,
        request: tonic::Request<tonic::Streaming<SnapshotChunk>>,
    ) -> Result<tonic::Response<SendAck>, tonic::Status> {
        let mut chunks = request.into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = chunks.message().await? {
            bytes.extend_from_slice(&chunk.data);
        }
        let msg = Message::parse_from_bytes(&bytes)
            .map_err(|e| tonic::Status::invalid_argument(format!("bad raft snapshot: {e}")))?;
        if msg.get_msg_type() != MessageType::MsgSnapshot {
            return Err(tonic::Status::invalid_argument(
                "a snapshot stream carried another message",
            ));
        }
        self.check_sender(msg.from)?;
        self.check_recipient(&msg)?;
        self.raft.step(msg);
        Ok(tonic::Response::new(SendAck {}))
    }
}
