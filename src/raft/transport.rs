//! Moving raft messages between members over gRPC.
//!
//! Sending never blocks the raft loop: each peer has a queue drained by its
//! own task, which ships everything queued as one batch per call. A peer that
//! is down or unreachable loses messages, which raft tolerates by design
//! (it retransmits); the queue is bounded so that a dead peer cannot grow it
//! without limit.

use std::collections::BTreeMap;
use std::time::Duration;

use protobuf::Message as _;
use raft::eraftpb::Message;
use tokio::sync::mpsc;
use tonic::transport::Endpoint;

use super::RaftHandle;
use crate::proto::etcdsimpb::raft_transport_client::RaftTransportClient;
use crate::proto::etcdsimpb::raft_transport_server::RaftTransport;
use crate::proto::etcdsimpb::{MessageBatch, SendAck};

/// Messages waiting for one peer beyond this are dropped, oldest first.
const MAX_QUEUED: usize = 4096;
/// How long one batch may take before the peer counts as unreachable.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Another member: its raft id and peer URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// raft id.
    pub id: u64,
    /// Where its peer transport listens, e.g. `http://10.0.0.2:2380`.
    pub url: String,
}

/// The sending side, owned by the raft loop.
pub struct Transport {
    queues: BTreeMap<u64, mpsc::UnboundedSender<Message>>,
}

impl Transport {
    /// Starts one sender task per peer; `from` is this member's raft id.
    pub fn start(from: u64, peers: &[Peer]) -> Self {
        let queues = peers
            .iter()
            .filter(|p| p.id != from)
            .map(|peer| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(send_loop(from, peer.url.clone(), rx));
                (peer.id, tx)
            })
            .collect();
        Self { queues }
    }

    /// Queues `messages` for their recipients.
    pub fn send(&self, messages: Vec<Message>) {
        for msg in messages {
            if let Some(queue) = self.queues.get(&msg.to) {
                // The sender task lives as long as the member; a closed queue
                // means the member is shutting down.
                let _ = queue.send(msg);
            }
        }
    }
}

async fn send_loop(from: u64, url: String, mut rx: mpsc::UnboundedReceiver<Message>) {
    let endpoint = match Endpoint::from_shared(url.clone()) {
        Ok(e) => e.connect_timeout(SEND_TIMEOUT).timeout(SEND_TIMEOUT),
        Err(e) => panic!("invalid peer url {url}: {e}"),
    };
    let mut client: Option<RaftTransportClient<tonic::transport::Channel>> = None;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(msg) = rx.try_recv() {
            batch.push(msg);
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
        let Some(c) = client.as_mut() else { continue };
        let sent = tokio::time::timeout(SEND_TIMEOUT, c.send(request)).await;
        if !matches!(sent, Ok(Ok(_))) {
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
        }
    }
}

/// The receiving side: the gRPC service that steps incoming messages.
pub struct RaftTransportService {
    raft: RaftHandle,
}

impl RaftTransportService {
    /// Steps every received message into `raft`.
    pub fn new(raft: RaftHandle) -> Self {
        Self { raft }
    }
}

#[tonic::async_trait]
impl RaftTransport for RaftTransportService {
    async fn send(
        &self,
        request: tonic::Request<MessageBatch>,
    ) -> Result<tonic::Response<SendAck>, tonic::Status> {
        for bytes in request.into_inner().messages {
            let msg = Message::parse_from_bytes(&bytes)
                .map_err(|e| tonic::Status::invalid_argument(format!("bad raft message: {e}")))?;
            self.raft.step(msg);
        }
        Ok(tonic::Response::new(SendAck {}))
    }
}
