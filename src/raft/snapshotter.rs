//! Snapshot files: a raft snapshot (metadata and state machine data), saved
//! atomically and found again on start.
//!
//! # File format
//!
//! `snap-<index:016x>.snap` holds `crc: u32 LE` followed by the
//! `eraftpb::Snapshot` in raft-rs's encoding; the CRC-32 covers the rest.
//! A file is written as `<name>.tmp`, synced, then renamed, so a crash leaves
//! either the old set of snapshots or the new one, never a partial file
//! under a real name. On start the newest file that checks out wins; older
//! ones are removed once a newer one is durable.

use std::io;
use std::sync::Arc;

use protobuf::Message as _;
use raft::eraftpb::Snapshot;

use crate::crash::{CrashPoint, CrashPoints};
use crate::offload::offload;
use crate::storage::{self, Disk};

const PREFIX: &str = "snap-";
const SUFFIX: &str = ".snap";

/// Saves and loads a member's snapshots. A clone works on the same files.
#[derive(Clone)]
pub struct Snapshotter {
    disk: Arc<dyn Disk>,
    /// The member's crash points: a save passes `mid-snapshot-save`.
    crash: CrashPoints,
    /// The `snapshot-purge-before-save` bug.
    early_purge: bool,
}

impl Snapshotter {
    /// Snapshots on `disk`.
    pub fn new(disk: Arc<dyn Disk>) -> Self {
        Self {
            disk,
            crash: CrashPoints::default(),
            early_purge: false,
        }
    }

    /// Passes the member's `crash` points, so that a test can crash it
    /// halfway through a save.
    pub fn with_crash_points(mut self, crash: CrashPoints) -> Self {
        self.crash = crash;
        self
    }

    /// Switches the `snapshot-purge-before-save` bug on or off.
    pub fn with_early_purge(mut self, on: bool) -> Self {
        self.early_purge = on;
        self
    }

    /// Saves `snapshot` durably, then removes the files of older
    /// snapshots. Saves may overlap (log compaction saves in the background
    /// while a leader's snapshot arrives): a save never removes a newer
    /// snapshot than its own, so the newest always survives.
    pub async fn save(&self, snapshot: Snapshot) -> io::Result<()> {
        let name = file_name(snapshot.get_metadata().index);
        crate::coverage::bug_site(crate::bugs::Bug::SnapshotPurgeBeforeSave);
        if self.early_purge {
            // The bug: make room first.
            self.purge_older_than(&name)?;
        }
        let tmp = format!("{name}.tmp");
        let (disk, written) = (self.disk.clone(), tmp.clone());
        offload(move || {
            let body = snapshot
                .write_to_bytes()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let mut file = crc32fast::hash(&body).to_le_bytes().to_vec();
            file.extend_from_slice(&body);
            disk.write(&written, &file)
        })
        .await?;
        self.crash.reach(CrashPoint::MidSnapshotSave);
        storage::sync(&self.disk, &tmp).await?;
        self.disk.rename(&tmp, &name)?;
        self.purge_older_than(&name)
    }

    /// Removes the snapshots older than the one named `name`.
    fn purge_older_than(&self, name: &str) -> io::Result<()> {
        // Names sort as their indexes (fixed-width hex).
        for old in self.names()?.into_iter().filter(|old| old.as_str() < name) {
            self.disk.remove(&old)?;
        }
        Ok(())
    }

    /// The newest snapshot that reads back intact, if any.
    pub fn load_newest(&self) -> io::Result<Option<Snapshot>> {
        for name in self.names()?.iter().rev() {
            let data = self.disk.read(name)?;
            let Some((crc, body)) = data.split_first_chunk::<4>() else {
                continue;
            };
            if u32::from_le_bytes(*crc) != crc32fast::hash(body) {
                continue;
            }
            if let Ok(snapshot) = Snapshot::parse_from_bytes(body) {
                return Ok(Some(snapshot));
            }
        }
        Ok(None)
    }

    /// Snapshot file names, oldest first (the index is fixed-width hex).
    fn names(&self) -> io::Result<Vec<String>> {
        Ok(self
            .disk
            .list()?
            .into_iter()
            .filter(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
            .collect())
    }
}

fn file_name(index: u64) -> String {
    format!("{PREFIX}{index:016x}{SUFFIX}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Kept, SimDisk};

    fn snapshot(index: u64, data: &[u8]) -> Snapshot {
        let mut s = Snapshot::default();
        s.mut_metadata().index = index;
        s.data = data.to_vec().into();
        s
    }

    #[tokio::test]
    async fn the_newest_intact_snapshot_wins() {
        let disk = Arc::new(SimDisk::new());
        let snapshotter = Snapshotter::new(disk.clone());
        assert_eq!(snapshotter.load_newest().unwrap(), None);
        snapshotter.save(snapshot(10, b"ten")).await.unwrap();
        snapshotter.save(snapshot(20, b"twenty")).await.unwrap();
        assert_eq!(disk.list().unwrap(), vec![file_name(20)]);
        assert_eq!(
            snapshotter.load_newest().unwrap(),
            Some(snapshot(20, b"twenty"))
        );
    }

    #[tokio::test]
    async fn an_older_save_finishing_last_keeps_the_newer_snapshot() {
        let disk = Arc::new(SimDisk::new());
        let snapshotter = Snapshotter::new(disk.clone());
        snapshotter.save(snapshot(20, b"twenty")).await.unwrap();
        snapshotter.save(snapshot(10, b"ten")).await.unwrap();
        assert_eq!(disk.list().unwrap(), vec![file_name(10), file_name(20)]);
        assert_eq!(
            snapshotter.load_newest().unwrap(),
            Some(snapshot(20, b"twenty"))
        );
    }

    #[tokio::test]
    async fn a_corrupt_snapshot_is_passed_over() {
        let disk = Arc::new(SimDisk::new());
        let snapshotter = Snapshotter::new(disk.clone());
        snapshotter.save(snapshot(10, b"ten")).await.unwrap();
        disk.write(&file_name(30), b"\0\0\0\0garbage").unwrap();
        assert_eq!(
            snapshotter.load_newest().unwrap(),
            Some(snapshot(10, b"ten"))
        );
    }

    #[tokio::test]
    async fn a_crash_before_the_rename_keeps_the_old_snapshot() {
        let disk = Arc::new(SimDisk::new());
        let snapshotter = Snapshotter::new(disk.clone());
        snapshotter.save(snapshot(10, b"ten")).await.unwrap();
        disk.write(&format!("{}.tmp", file_name(20)), b"partial")
            .unwrap();
        disk.crash(|_| Kept::Nothing);
        assert_eq!(
            snapshotter.load_newest().unwrap(),
            Some(snapshot(10, b"ten"))
        );
    }
}
