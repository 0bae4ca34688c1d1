//! The run's client actors: KV clients driving etcd traffic ([`workload`])
//! or Kubernetes traffic ([`kubernetes`], with its informer), watchers
//! ([`watchers`], each with its shared stream ([`shared_stream`]) and its
//! recent watches ([`recent_watches`]), all logging through [`watch_log`])
//! and lease clients ([`lease_clients`]); [`context`] is what each of them
//! is started with.

pub mod context;
pub mod kubernetes;
pub mod lease_clients;
pub mod recent_watches;
pub mod shared_stream;
pub mod watch_log;
pub mod watchers;
pub mod workload;
