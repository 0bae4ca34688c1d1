//! raft-rs's view of a member's log: the latest snapshot and the entries
//! around it, in memory, rebuilt from the WAL and the snapshot file on start.
//!
//! Unlike raft-rs's `MemStorage`, a snapshot here carries the state machine's
//! data, so a leader can send it to a follower that has fallen behind the
//! compacted log.
//!
//! Like etcd's, the log keeps some entries the snapshot already covers (its
//! *catch-up entries*): a follower a little behind is then sent the entries
//! it lacks rather than the whole state machine.
//!
//! Invariants: `entries[i].index == compacted.index + 1 + i`, and
//! `compacted.index <= snapshot.index <= last index`.

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{Error, GetEntriesContext, RaftState, Storage, StorageError};

/// The log raft reads from; the driver writes it after the WAL is durable.
pub struct LogStore {
    hard_state: HardState,
    snapshot: Snapshot,
    /// The last entry no longer held: `entries` follow it. Its term is
    /// kept, as raft asks for the term of the entry before the first one.
    compacted: EntryId,
    entries: Vec<Entry>,
}

/// An entry's place in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntryId {
    index: u64,
    term: u64,
}

impl EntryId {
    fn of_snapshot(snapshot: &Snapshot) -> Self {
        let meta = snapshot.get_metadata();
        EntryId {
            index: meta.index,
            term: meta.term,
        }
    }
}

impl LogStore {
    /// A log that starts at `snapshot` (index 0 for a new member, whose
    /// metadata carries the initial voters).
    pub fn new(snapshot: Snapshot, mut hard_state: HardState) -> Self {
        hard_state.commit = hard_state.commit.max(snapshot.get_metadata().index);
        Self {
            hard_state,
            compacted: EntryId::of_snapshot(&snapshot),
            snapshot,
            entries: Vec::new(),
        }
    }

    /// The log a member restarts with: `snapshot`, and the entries its WAL
    /// replayed. Entries the snapshot covers are kept as catch-up entries
    /// if they reach up to it and agree with it; otherwise (the WAL was cut
    /// short of the snapshot, or holds a log the snapshot replaced) the log
    /// starts at the snapshot.
    pub fn restore(snapshot: Snapshot, hard_state: HardState, wal: &[Entry]) -> Self {
        let mut log = LogStore::new(snapshot, hard_state);
        let at = EntryId::of_snapshot(&log.snapshot);
        let covered = wal.partition_point(|e| e.index <= at.index);
        let reaches = covered > 0 && wal[covered - 1].index == at.index;
        if reaches && wal[covered - 1].term == at.term && covered > 1 {
            log.compacted = EntryId {
                index: wal[0].index,
                term: wal[0].term,
            };
            log.entries = wal[1..covered].to_vec();
        }
        log.append(&wal[covered..]);
        log
    }

    /// The snapshot the log starts from.
    pub fn snapshot_ref(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The hard state.
    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    /// The entries the log holds: its catch-up entries, then every entry
    /// after the snapshot. The WAL holds the same.
    pub fn held_entries(&self) -> &[Entry] {
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
        let keep = (first.index - self.compacted.index - 1) as usize;
        assert!(
            keep <= self.entries.len(),
            "append at {} leaves a gap after {}",
            first.index,
            self.last()
        );
        self.entries.truncate(keep);
        self.entries.extend_from_slice(entries);
    }

    /// Makes `snapshot` the log's snapshot. If the log agrees with it
    /// (log compaction), the log keeps the entries after it and up to
    /// `catch_up` entries it covers; if not (a snapshot from the leader
    /// that replaces the log), the log starts at it. Returns whether the
    /// log dropped entries: only then has the WAL something to shed.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot, catch_up: u64) -> bool {
        let at = EntryId::of_snapshot(&snapshot);
        let agrees = self.term(at.index).is_ok_and(|t| t == at.term);
        let before = (self.compacted, self.entries.len());
        if agrees {
            let keep_from = at.index.saturating_sub(catch_up).max(self.compacted.index);
            let drop = (keep_from - self.compacted.index) as usize;
            if drop > 0 {
                self.compacted = EntryId {
                    index: keep_from,
                    term: self.entries[drop - 1].term,
                };
                self.entries.drain(..drop);
            }
        } else {
            self.entries.clear();
            self.compacted = at;
        }
        if self.hard_state.commit < at.index {
            self.hard_state.commit = at.index;
        }
        self.snapshot = snapshot;
        (self.compacted, self.entries.len()) != before
    }

    fn last(&self) -> u64 {
        self.compacted.index + self.entries.len() as u64
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
        let first = self.compacted.index + 1;
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
        if index == self.compacted.index {
            return Ok(self.compacted.term);
        }
        if index < self.compacted.index {
            return Err(Error::Store(StorageError::Compacted));
        }
        self.entries
            .get((index - self.compacted.index - 1) as usize)
            .map(|e| e.term)
            .ok_or(Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.compacted.index + 1)
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
        log.apply_snapshot(snapshot(2, 1), 0);
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
        log.apply_snapshot(snapshot(5, 3), 100);
        assert_eq!(log.first_index().unwrap(), 6);
        assert_eq!(log.last_index().unwrap(), 5);
        assert_eq!(log.initial_state().unwrap().hard_state.commit, 5);
    }

    #[test]
    fn compaction_keeps_catch_up_entries_before_the_snapshot() {
        let mut log = LogStore::new(Snapshot::default(), HardState::default());
        log.append(&[entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)]);
        log.apply_snapshot(snapshot(3, 2), 1);
        assert_eq!(log.first_index().unwrap(), 3, "entry 3, one before 4");
        assert_eq!(log.term(2).unwrap(), 1, "the term before the first entry");
        assert_eq!(log.term(1), Err(Error::Store(StorageError::Compacted)));
        let kept = log.entries(3, 5, None, GetEntriesContext::empty(false));
        assert_eq!(kept, Ok(vec![entry(3, 2), entry(4, 2)]));
        // A later snapshot never brings back what was dropped.
        log.apply_snapshot(snapshot(4, 2), 10);
        assert_eq!(log.first_index().unwrap(), 3);
        assert_eq!(log.held_entries().len(), 2);
    }

    #[test]
    fn a_restart_keeps_the_wal_entries_that_reach_the_snapshot() {
        let wal = [entry(2, 1), entry(3, 1), entry(4, 2), entry(5, 2)];
        let log = LogStore::restore(snapshot(4, 2), HardState::default(), &wal);
        assert_eq!(log.first_index().unwrap(), 3);
        assert_eq!(log.last_index().unwrap(), 5);
        assert_eq!(log.term(2).unwrap(), 1);
        // A WAL whose entry at the snapshot's index has another term holds
        // a log the snapshot replaced: only what follows is kept.
        let log = LogStore::restore(snapshot(4, 3), HardState::default(), &wal);
        assert_eq!(log.first_index().unwrap(), 5);
        assert_eq!(log.last_index().unwrap(), 5);
        // A WAL that starts after the snapshot (rewritten by an older
        // version, or the snapshot was just saved) is appended as it is.
        let log = LogStore::restore(snapshot(4, 2), HardState::default(), &wal[3..]);
        assert_eq!(log.first_index().unwrap(), 5);
        assert_eq!(log.last_index().unwrap(), 5);
    }
}
