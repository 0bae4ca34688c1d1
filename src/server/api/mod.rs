//! The gRPC services of a member (etcd's `etcdserver/api/v3rpc`).
//!
//! A handler checks its request with a pure function ([`check`]), calls
//! [`EtcdServer`](super::etcdserver::EtcdServer), maps errors through the one
//! table in [`error`], and fills the response header. Nothing else.

mod check;
mod client_port;
mod cluster;
mod error;
mod gate;
mod header;
mod intervals;
mod kv;
mod lease;
mod maintenance;
mod quota;
mod receive_limit;
mod watch;

pub use check::{Limits, MAX_REQUEST_BYTES, MAX_TXN_OPS};
pub use client_port::{ClientPortLayer, MAX_HEADER_LIST_BYTES};
pub use cluster::ClusterService;
pub use error::RpcError;
pub use kv::KvService;
pub use lease::LeaseService;
pub use maintenance::MaintenanceService;
pub use quota::{QuotaKvService, QuotaLeaseService};
pub use receive_limit::{grpc_receive_limit, GRPC_OVERHEAD_BYTES};
pub use watch::{WatchResponses, WatchService, PROGRESS_NOTIFY_INTERVAL};
