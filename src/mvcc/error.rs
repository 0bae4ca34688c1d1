//! The errors of the store and of its request layer, with etcd's messages.

use std::fmt;

/// Why a store operation or request was refused.
///
/// `Display` gives etcd 3.4's exact message, which the API layer passes on
/// to clients (and etcdctl prints) unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MvccError {
    /// A read or compaction named a revision at or below the compacted one
    /// (etcd `mvcc.ErrCompacted`).
    Compacted,
    /// A read or compaction named a revision above the current one (etcd
    /// `mvcc.ErrFutureRev`).
    FutureRev,
    /// A put with `ignore_value` or `ignore_lease` on a key that does not
    /// exist (etcd `etcdserver.ErrKeyNotFound`); nothing was written.
    KeyNotFound,
    /// A put named a lease that does not exist (etcd
    /// `lease.ErrLeaseNotFound`); nothing was written.
    LeaseNotFound,
}

impl fmt::Display for MvccError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MvccError::Compacted => "mvcc: required revision has been compacted",
            MvccError::FutureRev => "mvcc: required revision is a future revision",
            MvccError::KeyNotFound => "etcdserver: key not found",
            MvccError::LeaseNotFound => "lease not found",
        })
    }
}

impl std::error::Error for MvccError {}

/// Why [`KvStore::restore`](super::KvStore::restore) rejected its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// The input does not start with the snapshot magic and version.
    BadMagic,
    /// The input ends before the encoding does.
    Truncated,
    /// The checksum at the end does not match the contents.
    Checksum,
    /// The input decodes but breaks an invariant of the store (named).
    Invalid(&'static str),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::BadMagic => f.write_str("mvcc snapshot: bad magic or version"),
            SnapshotError::Truncated => f.write_str("mvcc snapshot: truncated"),
            SnapshotError::Checksum => f.write_str("mvcc snapshot: checksum mismatch"),
            SnapshotError::Invalid(why) => write!(f, "mvcc snapshot: invalid: {why}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_etcds() {
        assert_eq!(
            MvccError::Compacted.to_string(),
            "mvcc: required revision has been compacted"
        );
        assert_eq!(
            MvccError::FutureRev.to_string(),
            "mvcc: required revision is a future revision"
        );
        assert_eq!(
            MvccError::KeyNotFound.to_string(),
            "etcdserver: key not found"
        );
        assert_eq!(MvccError::LeaseNotFound.to_string(), "lease not found");
    }
}
