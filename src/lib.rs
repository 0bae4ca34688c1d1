//! etcd-sim: an etcd-3.4-style key-value store that runs unchanged on the
//! madsim simulator or on tokio + tonic.
//!
//! The layers follow etcd's: [`client`] → [`server`] (`api` → `etcdserver`)
//! → [`raft`] → [`mvcc`], with [`storage`] underneath. The system reaches the
//! world only through three seams: the runtime (the `tokio`, `tonic` and
//! `madsim` crates, which are madsim's simulators under `--cfg madsim` and
//! the real crates otherwise), the [`storage::Disk`] trait, and named bug
//! switches ([`bugs`]). There is no code path that exists only in simulation.

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
pub mod server;
pub mod storage;

/// Which runtime this build runs on: `"simulation"` (madsim) or `"real"`.
pub const BUILD_MODE: &str = if cfg!(madsim) { "simulation" } else { "real" };
