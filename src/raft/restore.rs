//! What a member starts from: its WAL, and the newest snapshot that reads
//! back intact and that the WAL continues from.
//!
//! A snapshot file that fails its checksum is set aside (see
//! [`Snapshotter::load_newest`]) and an older one tried, with the WAL's
//! older generations replayed before it as far back as that one needs;
//! when none is left that the WAL reaches back to, the member refuses to
//! start, naming the files, where it used to go on from nothing and die in
//! raft's log with "append at 3001 leaves a gap after 0".

use std::fmt;
use std::io;
use std::sync::Arc;

use raft::eraftpb::{Entry, Snapshot};

use super::snapshotter::Snapshotter;
use super::wal::{Replay, Wal, WalError};
use crate::storage::Disk;

/// Why a member could not restore its log.
#[derive(Debug)]
pub enum RestoreError {
    /// The WAL could not be read.
    Wal(WalError),
    /// The snapshot files could not be read or set aside.
    Snapshots(io::Error),
    /// No snapshot is left that the WAL continues from.
    NoUsableSnapshot {
        /// The index of the WAL's first entry.
        wal_starts_at: u64,
        /// Files set aside as corrupt, newest first.
        broken: Vec<String>,
        /// Intact snapshots the WAL does not reach back to, newest first.
        unreachable: Vec<String>,
    },
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::Wal(e) => e.fmt(f),
            RestoreError::Snapshots(e) => write!(f, "snapshot files: {e}"),
            RestoreError::NoUsableSnapshot {
                wal_starts_at,
                broken,
                unreachable,
            } => {
                write!(
                    f,
                    "no usable snapshot: the WAL begins at index {wal_starts_at}"
                )?;
                if !broken.is_empty() {
                    write!(f, "; corrupt, set aside: {}", broken.join(", "))?;
                }
                if !unreachable.is_empty() {
                    write!(
                        f,
                        "; intact but older than the WAL reaches: {}",
                        unreachable.join(", ")
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for RestoreError {}

impl From<WalError> for RestoreError {
    fn from(e: WalError) -> Self {
        RestoreError::Wal(e)
    }
}

/// The log a member restores: its WAL, what the WAL replayed, and the
/// snapshot it starts from (`None`: the beginning).
pub struct Restored {
    /// The WAL, open for appending.
    pub wal: Wal,
    /// What the WAL held.
    pub replay: Replay,
    /// The snapshot the log starts from.
    pub snapshot: Option<Snapshot>,
}

/// Opens the WAL on `disk` and finds the newest snapshot it continues
/// from, going back through the WAL's older generations while none does.
pub fn restore(disk: Arc<dyn Disk>, snapshotter: &Snapshotter) -> Result<Restored, RestoreError> {
    let (wal, mut replay) = Wal::open(disk.clone())?;
    // Read only when the log alone reaches no snapshot.
    let mut older: Option<std::vec::IntoIter<Replay>> = None;
    let mut broken = Vec::new();
    loop {
        let found = snapshotter
            .load_newest(|index| continues_from(&replay.entries, index))
            .map_err(RestoreError::Snapshots)?;
        broken.extend(found.broken);
        if found.snapshot.is_some() || continues_from(&replay.entries, 0) {
            return Ok(Restored {
                wal,
                replay,
                snapshot: found.snapshot,
            });
        }
        let no_usable = RestoreError::NoUsableSnapshot {
            wal_starts_at: replay.entries[0].index,
            broken: broken.clone(),
            unreachable: found.unreachable,
        };
        // An older generation reaches further back, if it joins.
        if older.is_none() {
            let generations = Wal::older_generations(disk.as_ref()).map_err(WalError::from)?;
            older = Some(generations.into_iter());
        }
        let next = older.as_mut().and_then(Iterator::next);
        match next.map(|generation| generation.then(replay)) {
            Some(Ok(joined)) => replay = joined,
            _ => return Err(no_usable),
        }
    }
}

/// Whether a log starting from a snapshot at `index` can take `entries`:
/// the first of them past the snapshot is the very next index.
fn continues_from(entries: &[Entry], index: u64) -> bool {
    entries
        .iter()
        .find(|e| e.index > index)
        .is_none_or(|e| e.index == index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(indexes: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
        indexes
            .map(|index| Entry {
                index,
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn a_snapshot_is_usable_when_the_wal_goes_on_right_after_it() {
        let wal = entries(3001..=3010);
        assert!(continues_from(&wal, 3000));
        assert!(continues_from(&wal, 3005));
        assert!(continues_from(&wal, 3020));
        assert!(!continues_from(&wal, 2999));
        assert!(!continues_from(&wal, 0));
        assert!(continues_from(&[], 0));
    }

    #[test]
    fn the_refusal_names_the_files() {
        let refusal = RestoreError::NoUsableSnapshot {
            wal_starts_at: 3001,
            broken: vec!["snap-0000000000000bb8.snap.broken".into()],
            unreachable: vec!["snap-00000000000007d0.snap".into()],
        };
        assert_eq!(
            refusal.to_string(),
            "no usable snapshot: the WAL begins at index 3001; corrupt, set aside: \
             snap-0000000000000bb8.snap.broken; intact but older than the WAL reaches: \
             snap-00000000000007d0.snap"
        );
    }
}
