//! etcd-sim: an etcd-3.4-style key-value store that runs unchanged on the
//! madsim simulator or on tokio + tonic.
//!
//! The layers follow etcd's: [`client`] → [`server`] (`api` → `etcdserver`)
//! → [`raft`] → [`mvcc`], with [`storage`] underneath. The client and the
//! server share one leaf, [`rpc_error`]: etcd's gRPC error table, which the
//! server answers from and the client recognises errors by.
//!
//! The system reaches the world only through these seams:
//! 1. the runtime: the `tokio`, `tonic` and `madsim` crates, which are
//!    madsim's simulators under `--cfg madsim` and the real crates
//!    otherwise;
//! 2. the [`storage::Disk`] trait;
//! 3. named switches a test sets, each off by default: injected bugs
//!    ([`bugs`]), crash points ([`crash`]), perturbation sites
//!    ([`perturb`]) and each member's clock rate ([`clock`]).
//!
//! There is no code path that exists only in simulation.

#![deny(missing_docs)]

pub mod bugs;
pub mod client;
pub mod clock;
pub mod coverage;
pub mod crash;
pub mod metrics;
pub mod mvcc;
pub mod offload;
pub mod perturb;
pub mod proto;
pub mod raft;
pub mod rpc_error;
pub mod server;
pub mod storage;
mod table;

/// Which runtime this build runs on: `"simulation"` (madsim) or `"real"`.
pub const BUILD_MODE: &str = if cfg!(madsim) { "simulation" } else { "real" };
