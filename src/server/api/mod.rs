//! The gRPC services of a member (etcd's `etcdserver/api/v3rpc`).
//!
//! A handler checks its request with a pure function, calls
//! [`EtcdServer`](super::etcdserver::EtcdServer), maps errors through the one
//! table in [`error`], and fills the response header. Nothing else.

mod error;
mod header;
mod kv;
mod maintenance;

pub use error::{ApiError, MAX_REQUEST_BYTES};
pub use kv::KvService;
pub use maintenance::MaintenanceService;
