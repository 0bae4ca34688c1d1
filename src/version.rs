//! The etcd version this store claims to speak (etcd's `version` package).
//!
//! A leaf: the API layer reports it in `Status`, the HTTP listener in
//! `/version`, and the server in its metrics, none of them through another.

/// The etcd server version a member reports; etcdctl and clients read the
/// cluster's API level (`3.4`) off it.
pub const VERSION: &str = "3.4.0";
