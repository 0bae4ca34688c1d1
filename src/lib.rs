//! etcd-sim: an etcd-3.4-style key-value store that runs unchanged on the
//! madsim simulator or on tokio + tonic.
//!
//! ## The layers, from a client's request down to the disk
//!
//! They follow etcd's, one module each, in the order a request passes them:
//!
//! 1. [`client`]: a clientv3-like [`Client`] over gRPC. It picks an
//!    endpoint, moves to the next when a request certainly did not reach the
//!    server (and, for reads, also when the connection broke), and tells a
//!    write of unknown outcome apart ([`ClientError::may_have_taken_effect`]).
//! 2. [`server::api`]: the gRPC services (KV, Watch, Lease, Cluster,
//!    Maintenance). Each checks its request, calls the layer below, maps the
//!    error to etcd's status and fills the response header.
//! 3. [`server::etcdserver`]: turns requests into raft proposals and waits
//!    for them to be applied, serves linearizable reads through ReadIndex,
//!    and applies committed entries to the state machine (the store, the
//!    lessor, alarms, members). [`server::run`] wires one member together
//!    from a [`ServerConfig`] and a [`Disk`].
//! 4. [`raft`]: one task drives raft-rs's `RawNode` and handles each
//!    `Ready` in the documented order (the WAL is synced before the
//!    persisted messages go out); peers talk over gRPC.
//! 5. [`mvcc`]: the multi-version store ([`KvStore`]): revisions, etcd's
//!    range, put, delete-range and txn semantics, compaction, snapshots.
//!    Pure std, no runtime.
//! 6. [`storage`]: every byte a member persists goes through the [`Disk`]
//!    trait: files with fsync ([`RealDisk`]), or memory that loses what was
//!    not synced when the harness cuts the power ([`SimDisk`]).
//!
//! The client and the server share one leaf, [`rpc_error`]: etcd's gRPC
//! error table, which the server answers from and the client recognises
//! errors by.
//!
//! ## The seams
//!
//! The system reaches the world only through these:
//! 1. the runtime: the `tokio`, `tonic` and `madsim` crates, which are
//!    madsim's simulators under `--cfg madsim` and the real crates
//!    otherwise;
//! 2. the [`storage::Disk`] trait;
//! 3. named switches a test sets in the [`ServerConfig`], each off by
//!    default: injected bugs ([`bugs`]), crash points ([`crash`]),
//!    perturbation sites ([`perturb`]) and each member's clock rate
//!    ([`clock`]).
//!
//! There is no code path that exists only in simulation. The one difference
//! runs the other way: the listener that carries etcd's HTTP endpoints
//! (`/health`, `/version`, `/metrics`; [`server::http`]) exists in the real
//! build only, because madsim's tonic carries gRPC alone; the endpoints'
//! logic runs in both, so simulation tests call it directly.
//!
//! ## An example
//!
//! One member on a data directory, and a client that writes and reads
//! back (as `etcd-sim serve` and `etcdctl` would):
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use etcd_sim::{Client, Cluster, GetOptions, RealDisk, ServerConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let peer_url = "http://127.0.0.1:2380".to_string();
//! let cluster = Cluster::new("etcd-cluster", [("n1".to_string(), peer_url)]);
//! let config = ServerConfig::new(
//!     "n1",
//!     cluster,
//!     "127.0.0.1:2379".parse()?,
//!     "127.0.0.1:2380".parse()?,
//! )?;
//! let disk = Arc::new(RealDisk::open("n1.etcd")?);
//! tokio::spawn(etcd_sim::server::run(config, disk));
//!
//! let client = Client::new(["http://127.0.0.1:2379"], Duration::from_secs(2))?;
//! client.put("foo", "bar").await?;
//! let got = client.get("foo", GetOptions::default()).await?;
//! assert_eq!(got.kvs[0].value, b"bar");
//! # Ok(()) }
//! ```
//!
//! In simulation the harness (the `etcd-sim-harness` crate) does the same
//! on madsim nodes, each member on a [`SimDisk`] it keeps across restarts.

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
pub mod version;

pub use bugs::{Bug, BugSet};
pub use client::{Client, ClientError, GetOptions, Op};
pub use crash::CrashPoint;
pub use mvcc::KvStore;
pub use perturb::Perturbation;
pub use rpc_error::RpcError;
pub use server::{Cluster, ServerConfig};
pub use storage::{Disk, RealDisk, SimDisk};

/// Which runtime this build runs on: `"simulation"` (madsim) or `"real"`.
pub const BUILD_MODE: &str = if cfg!(madsim) { "simulation" } else { "real" };
