//! What a raft log entry carries: an `InternalRaftRequest`, whose txn (if
//! any) is encoded as a message of its own.
//!
//! prost refuses to decode messages nested more than 100 levels deep, and
//! a txn nests two levels per nested txn. Were the txn an ordinary field of
//! the envelope, the applier would decode it one level deeper than the API
//! did, and a txn the API accepted could become an entry that no member can
//! apply. Carried as bytes (the same bytes on the wire as the message
//! field), it is decoded exactly as the API decoded it: the same message
//! type, from the top, under the same limit. The API's depth check
//! (`api::check`) keeps the simulation, where requests are not encoded, to
//! that same limit.

use prost::Message as _;

use crate::proto::etcdserverpb::{InternalRaftRequest, TxnRequest};

/// A decoded entry.
#[derive(Debug)]
pub struct RaftRequest {
    /// The request, its txn bytes taken out.
    pub envelope: InternalRaftRequest,
    /// The txn, decoded on its own.
    pub txn: Option<TxnRequest>,
}

impl RaftRequest {
    /// Decodes what [`EtcdServer::propose`](super::EtcdServer) proposed.
    pub fn decode(data: &[u8]) -> Result<Self, prost::DecodeError> {
        let mut envelope = InternalRaftRequest::decode(data)?;
        let txn = envelope
            .txn
            .take()
            .map(|bytes| TxnRequest::decode(bytes.as_slice()))
            .transpose()?;
        Ok(Self { envelope, txn })
    }
}

/// The envelope of a txn proposal.
pub fn txn_proposal(txn: &TxnRequest) -> InternalRaftRequest {
    InternalRaftRequest {
        txn: Some(txn.encode_to_vec()),
        ..Default::default()
    }
}
