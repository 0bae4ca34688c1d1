//! The entry codec: what a raft log entry carries and what applying it
//! answers, shared by the two ends of the write path. Proposing turns a
//! request into an entry ([`Proposal::into_entry`]) under a waiter id;
//! applying decodes it ([`RaftRequest::decode`]) and hands the waiter an
//! [`ApplyResult`], which [`Proposal::answer`] turns back into the
//! request's own response. Neither end knows the other: both know this.
//!
//! An entry is an `InternalRaftRequest`, whose txn (if any) is encoded as
//! a message of its own. prost refuses to decode messages nested more
//! than 100 levels deep, and a txn nests two levels per nested txn. Were
//! the txn an ordinary field of the envelope, the applier would decode it
//! one level deeper than the API did, and a txn the API accepted could
//! become an entry that no member can apply. Carried as bytes (the same
//! bytes on the wire as the message field), it is decoded exactly as the
//! API decoded it: the same message type, from the top, under the same
//! limit. The API's depth check (`api::check`) keeps the simulation, where
//! requests are not encoded, to that same limit.

use prost::Message as _;

use super::ServerError;
use crate::proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, CompactionRequest, CompactionResponse, DeleteRangeRequest,
    DeleteRangeResponse, InternalRaftRequest, LeaseGrantRequest, LeaseGrantResponse,
    LeaseRevokeRequest, LeaseRevokeResponse, Member, MemberAttrSetRequest, MemberUpdateRequest,
    PutRequest, PutResponse, TxnRequest, TxnResponse,
};

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

/// The result of applying one request, handed to its waiter.
#[derive(Debug)]
pub enum ApplyResult {
    /// A put.
    Put(Result<PutResponse, ServerError>),
    /// A delete-range.
    DeleteRange(Result<DeleteRangeResponse, ServerError>),
    /// A txn.
    Txn(Result<TxnResponse, ServerError>),
    /// A compaction.
    Compaction(Result<CompactionResponse, ServerError>),
    /// An alarm request.
    Alarm(AlarmResponse),
    /// A member's published attributes, recorded.
    MemberAttrSet,
    /// A lease grant.
    LeaseGrant(Result<LeaseGrantResponse, ServerError>),
    /// A lease revocation, with the deletion of its keys.
    LeaseRevoke(Result<LeaseRevokeResponse, ServerError>),
    /// A membership change: the members after it, or why it was refused.
    Membership(Result<Vec<Member>, ServerError>),
}

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
}
