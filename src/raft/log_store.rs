//! raft-rs's view of a member's log: the latest snapshot and the entries
//! after it, in memory, rebuilt from the WAL and the snapshot file on start.
//!
//! Unlike raft-rs's `MemStorage`, a snapshot here carries the state machine's
//! data, so a leader can send it to a follower that has fallen behind the
//! compacted log.
//!
//! Invariant: `entries[i].index == snapshot.index + 1 + i`.

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{Error, GetEntriesContext, RaftState, Storage, StorageError};

/// The log raft reads from; the driver writes it after the WAL is durable.
pub struct LogStore {
    hard_state: HardState,
    snapshot: Snapshot,
    entries: Vec<Entry>,
}

impl LogStore {
    /// A log that starts at `snapshot` (index 0 for a new member, whose
    /// metadata carries the initial voters).
    pub fn new(snapshot: Snapshot, mut hard_state: HardState) -> Self {
        hard_state.commit = hard_state.commit.max(snapshot.get_metadata().index);
        Self {
            hard_state,
            snapshot,
            entries: Vec::new(),
        }
    }

    /// The snapshot the log starts from.
    pub fn snapshot_ref(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The hard state.
    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    /// The entries after the snapshot.
    pub fn entries_after_snapshot(&self) -> &[Entry] {
        &self.entries
    }

    /// The voters as of the latest snapshot.
    pub fn conf_state(&self) -> &ConfState {
        self.snapshot.get_metadata().get_conf_state()
    }

    /// Sets the hard state.
    pub fn set_hard_state(&mut self, hard_state: HardState) {
        self.hard_state = hard_state;
    }

    /// Records a new commit index.
    pub fn set_commit(&mut self, commit: u64) {
        self.hard_state.commit = commit;
    }

    /// Appends `entries`, replacing any conflicting suffix.
    ///
    /// # Panics
    /// If `entries` would leave a gap or rewrite the snapshot.
    pub fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else { return };
        let snapshot_index = self.snapshot.get_metadata().index;
        assert!(
            first.index > snapshot_index,
            "append at {} rewrites snapshot at {snapshot_index}",
            first.index
        );
        let keep = (first.index - snapshot_index - 1) as usize;
        assert!(
            keep <= self.entries.len(),
            "append at {} leaves a gap after {}",
            first.index,
            self.last()
        );
        self.entries.truncate(keep);
        self.entries.extend_from_slice(entries);
    }

    /// Makes `snapshot` the start of the log, keeping the entries after it
    /// if they agree with it, as both log compaction and an incoming
    /// snapshot require.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) {
        let meta = snapshot.get_metadata();
        let (index, term) = (meta.index, meta.term);
        let agrees = self.term(index).is_ok_and(|t| t == term);
        if agrees {
            let first = self.snapshot.get_metadata().index + 1;
            self.entries.drain(..(index + 1 - first) as usize);
        } else {
            self.entries.clear();
        }
        if self.hard_state.commit < index {
            self.hard_state.commit = index;
        }
        self.snapshot = snapshot;
    }

    fn last(&self) -> u64 {
        self.snapshot.get_metadata().index + self.entries.len() as u64
    }
}

impl Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState {
            hard_state: self.hard_state.clone(),
            conf_state: self.conf_state().clone(),
        })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let first = self.snapshot.get_metadata().index + 1;
        if low < first {
            return Err(Error::Store(StorageError::Compacted));
        }
        assert!(
            high <= self.last() + 1,
            "entries [{low}, {high}) past last index {}",
            self.last()
        );
        let wanted = &self.entries[(low - first) as usize..(high - first) as usize];
        // Copy only what the size limit lets through: a follower far behind
        // asks for the whole rest of the log, a message at a time.
        let mut take = wanted.len();
        if let Some(max) = max_size.into() {
            let mut size = 0;
            take = wanted
                .iter()
                .position(|e| {
                    size += u64::from(protobuf::Message::compute_size(e));
                    size > max
                })
                .map_or(wanted.len(), |over| over.max(1));
        }
        Ok(wanted[..take].to_vec())
    }

    fn term(&self, index: u64) -> raft::Result<u64> {
        let meta = self.snapshot.get_metadata();
        if index == meta.index {
            return Ok(meta.term);
        }
        if index < meta.index {
            return Err(Error::Store(StorageError::Compacted));
        }
        self.entries
            .get((index - meta.index - 1) as usize)
            .map(|e| e.term)
            .ok_or(Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.snapshot.get_metadata().index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, _request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        Ok(self.snapshot.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            ..Default::default()
        }
    }

    fn snapshot(index: u64, term: u64) -> Snapshot {
        let mut s = Snapshot::default();
        s.mut_metadata().index = index;
        s.mut_metadata().term = term;
        s
    }

    #[test]
    fn appends_replace_conflicting_suffixes() {
        let mut log = LogStore::new(Snapshot::default(), HardState::default());
        log.append(&[entry(1, 1), entry(2, 1), entry(3, 1)]);
        log.append(&[entry(2, 2)]);
        assert_eq!(log.last_index().unwrap(), 2);
        assert_eq!(log.term(2).unwrap(), 2);
        let got = log
            .entries(1, 3, None, GetEntriesContext::empty(false))
            .unwrap();
        assert_eq!(got, vec![entry(1, 1), entry(2, 2)]);
    }

    #[test]
    fn compaction_keeps_the_entries_after_the_snapshot() {
        let mut log = LogStore::new(Snapshot::default(), HardState::default());
        log.append(&[entry(1, 1), entry(2, 1), entry(3, 2)]);
        log.apply_snapshot(snapshot(2, 1));
        assert_eq!(log.first_index().unwrap(), 3);
        assert_eq!(log.term(2).unwrap(), 1);
        assert_eq!(log.term(3).unwrap(), 2);
        assert_eq!(log.term(1), Err(Error::Store(StorageError::Compacted)));
        let compacted = log.entries(2, 4, None, GetEntriesContext::empty(false));
        assert_eq!(compacted, Err(Error::Store(StorageError::Compacted)));
    }

    #[test]
    fn a_snapshot_that_disagrees_with_the_log_replaces_it() {
        let mut log = LogStore::new(Snapshot::default(), HardState::default());
        log.append(&[entry(1, 1), entry(2, 1)]);
        log.apply_snapshot(snapshot(5, 3));
        assert_eq!(log.first_index().unwrap(), 6);
        assert_eq!(log.last_index().unwrap(), 5);
        assert_eq!(log.initial_state().unwrap().hard_state.commit, 5);
    }
}
