//! Snapshot files: a raft snapshot (metadata and state machine data), saved
//! atomically and found again on start.
//!
//! # File format
//!
//! `snap-<index:016x>.snap` holds `crc: u32 LE` followed by the
//! `eraftpb::Snapshot` in raft-rs's encoding; the CRC-32 covers the rest.
//! A file is written as `<name>.tmp`, synced, then renamed, so a crash leaves
//! either the old set of snapshots or the new one, never a partial file
//! under a real name. The newest `max_snapshots` files are kept (etcd's
//! `--max-snapshots`, 5 by default there), older ones removed once a newer
//! one is durable, except those the applier has still to open. On start
//! the newest file that checks out and that the WAL continues from wins; a
//! file that fails its checksum is logged and renamed `<name>.broken`, as
//! etcd does, and an older one is tried.
//!
//! # Handing a snapshot to the applier
//!
//! As etcd's applier opens a received snapshot's database file by its
//! index, the applier here is handed a [`SnapshotFile`] — the index and
//! where to find it — and reads the data from the file when its turn
//! comes, which may be well after raft saved it (its queue of committed
//! batches runs in order). Until then the file is marked pending, and a
//! newer save does not remove it (etcd's fix of #18055); the `etcd-18055`
//! bug removes it anyway, and the applier finds nothing to open.

use std::collections::BTreeSet;
use std::io;
use std::sync::{Arc, Mutex};

use protobuf::Message as _;
use raft::eraftpb::Snapshot;

use crate::crash::{CrashPoint, CrashPoints};
use crate::offload::offload;
use crate::storage::{self, Disk};

const PREFIX: &str = "snap-";
const SUFFIX: &str = ".snap";

/// Saves and loads a member's snapshots. A clone works on the same files
/// and the same pending marks.
#[derive(Clone)]
pub struct Snapshotter {
    disk: Arc<dyn Disk>,
    /// Indexes of snapshots handed to the applier and not yet opened by
    /// it; in memory only, as a restart hands over only the newest one.
    pending: Arc<Mutex<BTreeSet<u64>>>,
    /// The member's crash points: a save passes `mid-snapshot-save`.
    crash: CrashPoints,
    /// How many snapshot files a save leaves (at least 1).
    keep: usize,
    /// The `snapshot-purge-before-save` bug.
    early_purge: bool,
    /// The `etcd-18055` bug: purging ignores the pending marks.
    purge_pending: bool,
}

/// A saved snapshot handed to the applier, which opens it from disk when
/// it gets to it (etcd's applier opens the received database file by
/// index).
pub struct SnapshotFile {
    index: u64,
    snapshotter: Snapshotter,
}

impl std::fmt::Debug for SnapshotFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotFile")
            .field("index", &self.index)
            .finish()
    }
}

impl SnapshotFile {
    /// The index of the last entry the snapshot covers.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Reads the snapshot from its file, and lets newer saves remove that
    /// file from now on. `NotFound` if it is gone (the `etcd-18055` bug),
    /// `InvalidData` if it does not read back intact.
    pub fn open(self) -> io::Result<Snapshot> {
        let name = file_name(self.index);
        let read = self.snapshotter.read(&name);
        self.snapshotter.pending.lock().unwrap().remove(&self.index);
        read?.map_err(|why| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("snapshot file {name} is corrupt: {why}"),
            )
        })
    }
}

impl Snapshotter {
    /// Snapshots on `disk`.
    pub fn new(disk: Arc<dyn Disk>) -> Self {
        Self {
            disk,
            pending: Arc::default(),
            crash: CrashPoints::default(),
            keep: 1,
            early_purge: false,
            purge_pending: false,
        }
    }

    /// Passes the member's `crash` points, so that a test can crash it
    /// halfway through a save.
    pub fn with_crash_points(mut self, crash: CrashPoints) -> Self {
        self.crash = crash;
        self
    }

    /// Keeps the newest `max` snapshot files (at least one).
    pub fn with_max_snapshots(mut self, max: usize) -> Self {
        self.keep = max.max(1);
        self
    }

    /// Switches the `snapshot-purge-before-save` bug on or off.
    pub fn with_early_purge(mut self, on: bool) -> Self {
        self.early_purge = on;
        self
    }

    /// Switches the `etcd-18055` bug on or off.
    pub fn with_purge_pending(mut self, on: bool) -> Self {
        self.purge_pending = on;
        self
    }

    /// Marks the saved snapshot at `index` pending and hands it over: its
    /// file stays until the applier has opened it.
    pub fn hand_over(&self, index: u64) -> SnapshotFile {
        self.pending.lock().unwrap().insert(index);
        SnapshotFile {
            index,
            snapshotter: self.clone(),
        }
    }

    /// Saves `snapshot` durably, then removes the files of older
    /// snapshots. Saves may overlap (log compaction saves in the background
    /// while a leader's snapshot arrives): a save never removes a newer
    /// snapshot than its own, so the newest always survives.
    pub async fn save(&self, snapshot: Snapshot) -> io::Result<()> {
        let name = file_name(snapshot.get_metadata().index);
        crate::coverage::bug_site(crate::bugs::Bug::SnapshotPurgeBeforeSave);
        if self.early_purge {
            // The bug: make room first, before the new one is durable.
            self.purge_older_than(&name, 0)?;
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
        self.purge_older_than(&name, self.keep - 1)
    }

    /// Removes the snapshots older than the one named `name` but the
    /// newest `spare` of them, and not those the applier has still to open.
    fn purge_older_than(&self, name: &str, spare: usize) -> io::Result<()> {
        // Names sort as their indexes (fixed-width hex).
        let mut older: Vec<String> = self.names()?;
        older.retain(|old| old.as_str() < name);
        older.truncate(older.len().saturating_sub(spare));
        for old in older {
            if self.is_pending(&old) {
                crate::coverage::bug_site(crate::bugs::Bug::Etcd18055);
                if !self.purge_pending {
                    continue;
                }
                // The bug: the applier has still to open it, and will not
                // find it.
            }
            self.disk.remove(&old)?;
        }
        Ok(())
    }

    fn is_pending(&self, name: &str) -> bool {
        let pending = self.pending.lock().unwrap();
        pending.iter().any(|&index| file_name(index) == name)
    }

    /// The newest snapshot that reads back intact and whose index `usable`
    /// accepts (the WAL continues from it). A file that does not read back
    /// is logged and set aside as `<name>.broken`, and older ones tried.
    pub fn load_newest(&self, usable: impl Fn(u64) -> bool) -> io::Result<Found> {
        let mut found = Found::default();
        for name in self.names()?.iter().rev() {
            match self.read(name)? {
                Err(why) => {
                    let broken = format!("{name}.broken");
                    tracing::warn!(
                        target: "etcd_sim::raft",
                        "snapshot file {name} is corrupt ({why}); set aside as {broken}"
                    );
                    self.disk.rename(name, &broken)?;
                    found.broken.push(broken);
                }
                Ok(snapshot) if usable(snapshot.get_metadata().index) => {
                    found.snapshot = Some(snapshot);
                    break;
                }
                Ok(_) => found.unreachable.push(name.clone()),
            }
        }
        Ok(found)
    }

    /// The snapshot in file `name`, or why it does not check out.
    fn read(&self, name: &str) -> io::Result<Result<Snapshot, String>> {
        let data = self.disk.read(name)?;
        let Some((crc, body)) = data.split_first_chunk::<4>() else {
            return Ok(Err(format!("{} bytes, too short", data.len())));
        };
        if u32::from_le_bytes(*crc) != crc32fast::hash(body) {
            return Ok(Err("checksum mismatch".to_string()));
        }
        Ok(Snapshot::parse_from_bytes(body).map_err(|e| format!("does not decode: {e}")))
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

/// What start-up found among the snapshot files.
#[derive(Debug, Default, PartialEq)]
pub struct Found {
    /// The newest intact snapshot the WAL continues from, if any.
    pub snapshot: Option<Snapshot>,
    /// Files that did not read back, as renamed (`<name>.broken`), newest first.
    pub broken: Vec<String>,
    /// Intact snapshots newer than `snapshot` that the WAL does not
    /// continue from, newest first.
    pub unreachable: Vec<String>,
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
        assert_eq!(snapshotter.load_newest(|_| true).unwrap().snapshot, None);
        snapshotter.save(snapshot(10, b"ten")).await.unwrap();
        snapshotter.save(snapshot(20, b"twenty")).await.unwrap();
        assert_eq!(disk.list().unwrap(), vec![file_name(20)]);
        assert_eq!(
            snapshotter.load_newest(|_| true).unwrap().snapshot,
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
            snapshotter.load_newest(|_| true).unwrap().snapshot,
            Some(snapshot(20, b"twenty"))
        );
    }

    #[tokio::test]
    async fn a_snapshot_handed_over_stays_until_the_applier_opened_it() {
        let disk = Arc::new(SimDisk::new());
        let snapshotter = Snapshotter::new(disk.clone());
        snapshotter.save(snapshot(10, b"ten")).await.unwrap();
        let first = snapshotter.hand_over(10);
        // A second snapshot arrives while the applier lags (etcd #18055).
        snapshotter.save(snapshot(20, b"twenty")).await.unwrap();
        let second = snapshotter.hand_over(20);
        assert_eq!(disk.list().unwrap(), vec![file_name(10), file_name(20)]);
        assert_eq!(first.open().unwrap(), snapshot(10, b"ten"));
        assert_eq!(second.open().unwrap(), snapshot(20, b"twenty"));
        // Opened, they are ordinary old snapshots again.
        snapshotter.save(snapshot(30, b"thirty")).await.unwrap();
        assert_eq!(disk.list().unwrap(), vec![file_name(30)]);
    }

    #[tokio::test]
    async fn with_etcd_18055_a_newer_save_removes_a_snapshot_not_yet_opened() {
        let disk = Arc::new(SimDisk::new());
        let snapshotter = Snapshotter::new(disk.clone()).with_purge_pending(true);
        snapshotter.save(snapshot(10, b"ten")).await.unwrap();
        let first = snapshotter.hand_over(10);
        snapshotter.save(snapshot(20, b"twenty")).await.unwrap();
        assert_eq!(first.open().unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn a_corrupt_snapshot_is_set_aside_and_an_older_one_used() {
        let disk = Arc::new(SimDisk::new());
        let snapshotter = Snapshotter::new(disk.clone()).with_max_snapshots(5);
        snapshotter.save(snapshot(10, b"ten")).await.unwrap();
        snapshotter.save(snapshot(20, b"twenty")).await.unwrap();
        let mut bytes = disk.read(&file_name(20)).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        disk.write(&file_name(20), &bytes).unwrap();
        disk.write(&file_name(30), b"\0\0").unwrap();
        let found = snapshotter.load_newest(|_| true).unwrap();
        assert_eq!(found.snapshot, Some(snapshot(10, b"ten")));
        let broken = [30, 20].map(|i| format!("{}.broken", file_name(i)));
        assert_eq!(found.broken, broken);
        assert_eq!(
            disk.list().unwrap(),
            vec![file_name(10), broken[1].clone(), broken[0].clone()]
        );
        // Set aside, they are not read again.
        let again = snapshotter.load_newest(|_| true).unwrap();
        assert_eq!(
            (again.snapshot, again.broken),
            (Some(snapshot(10, b"ten")), vec![])
        );
    }

    #[tokio::test]
    async fn a_snapshot_the_wal_does_not_continue_from_is_passed_over() {
        let disk = Arc::new(SimDisk::new());
        let snapshotter = Snapshotter::new(disk.clone()).with_max_snapshots(5);
        snapshotter.save(snapshot(10, b"ten")).await.unwrap();
        snapshotter.save(snapshot(20, b"twenty")).await.unwrap();
        let found = snapshotter.load_newest(|index| index < 20).unwrap();
        assert_eq!(found.snapshot, Some(snapshot(10, b"ten")));
        assert_eq!(found.unreachable, vec![file_name(20)]);
        let none = snapshotter.load_newest(|_| false).unwrap();
        assert_eq!(none.snapshot, None);
        assert_eq!(none.unreachable, vec![file_name(20), file_name(10)]);
    }

    #[tokio::test]
    async fn the_newest_max_snapshots_are_kept() {
        let disk = Arc::new(SimDisk::new());
        let snapshotter = Snapshotter::new(disk.clone()).with_max_snapshots(3);
        for index in 1..=5 {
            snapshotter.save(snapshot(index, b"s")).await.unwrap();
        }
        assert_eq!(disk.list().unwrap(), [3, 4, 5].map(file_name));
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
            snapshotter.load_newest(|_| true).unwrap().snapshot,
            Some(snapshot(10, b"ten"))
        );
    }
}
