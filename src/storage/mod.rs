//! The disk seam: every byte a member persists goes through [`Disk`].
//!
//! Two implementations share one contract. [`RealDisk`] maps names to files
//! in a data directory and `sync` is `fsync`. [`SimDisk`] keeps files in
//! memory, outside the member's tasks, so it outlives a killed process; what
//! was written but not synced is lost when the harness calls
//! [`SimDisk::crash`], exactly as a page cache is lost on power failure.
//!
//! The trait is synchronous: a member's raft loop must not go on until its
//! WAL write is durable, and etcd's own raft loop waits for its fsync the
//! same way. But the wait must not hold up the rest of the member, so the
//! loop runs disk work through [`crate::offload`], which moves it off the
//! async runtime's worker threads in the real build.

mod real;
mod sim;

pub use real::RealDisk;
pub use sim::{DiskLatency, Kept, SimDisk, Unsynced, PAGE};

use std::io;
use std::sync::Arc;

use crate::offload::offload;

/// A flat namespace of files, one per member.
///
/// Obligations of every implementation:
/// - `append`, `write` and `truncate` change what `read` returns at once, but
///   survive a crash only after `sync` of that file returns `Ok`.
/// - `rename` and `remove` are atomic and durable when they return (a
///   directory sync is implied), so "write temp, sync, rename" publishes a
///   file atomically.
/// - `list` returns the names in ascending order, so that anything derived
///   from it is deterministic.
pub trait Disk: Send + Sync + 'static {
    /// The whole content of `name`; `ErrorKind::NotFound` if it does not exist.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    /// Appends `data` to `name`, creating it if needed.
    fn append(&self, name: &str, data: &[u8]) -> io::Result<()>;
    /// Replaces the content of `name` with `data`, creating it if needed.
    fn write(&self, name: &str, data: &[u8]) -> io::Result<()>;
    /// Cuts `name` to its first `len` bytes.
    fn truncate(&self, name: &str, len: u64) -> io::Result<()>;
    /// Makes everything written to `name` so far durable.
    fn sync(&self, name: &str) -> io::Result<()>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Removes `name`; removing a missing file is not an error.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// All file names, ascending.
    fn list(&self) -> io::Result<Vec<String>>;

    /// How long the next `sync` takes beyond its own duration, to be waited
    /// out on the runtime clock before it (see [`sync`]). Real disks take
    /// their real time inside `fsync` and report zero; a simulated disk
    /// draws its latency from its profile, plus a slow-fsync fault's.
    fn sync_latency(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// Makes everything written to `name` durable, and returns once it is.
///
/// The sync first takes the disk's latency on the runtime clock, then runs
/// off the runtime's workers: what it covers is durable only when it
/// completes, so a crash meanwhile loses it (or keeps what the page cache
/// wrote back on its own), as a power cut during an fsync does.
pub async fn sync(disk: &Arc<dyn Disk>, name: &str) -> io::Result<()> {
    let latency = disk.sync_latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (disk, name) = (disk.clone(), name.to_string());
    offload(move || disk.sync(&name)).await
}

/// Reads `name`, or `None` if it does not exist.
pub fn read_if_exists(disk: &dyn Disk, name: &str) -> io::Result<Option<Vec<u8>>> {
    match disk.read(name) {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod conformance;
