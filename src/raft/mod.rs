//! The raft layer: a driver around raft-rs's `RawNode`.
//!
//! One task owns the `RawNode` ([`node`]). It ticks on the runtime clock,
//! steps messages from peers, takes proposals and read-index requests from
//! the server, and handles each `Ready` in the order raft-rs documents:
//! send what may go before persistence, hand committed entries to the
//! server, persist entries and hard state in the [`wal`] and sync, only then
//! send the persisted messages, advance. Peers talk over gRPC
//! ([`transport`]); election timeouts come from the member's seed
//! ([`election`]).

mod election;
mod fence;
mod log_store;
mod node;
mod restore;
mod snapshotter;
mod transport;
mod voters;
pub mod wal;

pub use election::ElectionTimeouts;
pub use fence::{Fence, REMOVED};
pub use node::{
    spawn_raft, Bootstrap, Committed, ProposeError, RaftConfig, RaftHandle, RaftStatus, SpawnedRaft,
};
pub use restore::RestoreError;
pub use snapshotter::SnapshotFile;
pub use transport::{Connectivity, Peer, RaftTransportService, Report, Transport};
pub use voters::describe as describe_voters;
