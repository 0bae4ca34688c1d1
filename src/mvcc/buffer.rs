//! The backend's buffers over the key bucket, as etcd's batch tx keeps
//! them (etcd's `backend/tx_buffer.go`, modelled, not copied).
//!
//! etcd writes every change to bbolt's one write txn, which readers cannot
//! see until it commits; the backend commits it in batches (every 100 ms,
//! or at once after a delete). To let readers see what is not committed
//! yet, each write txn also puts its changes in a *write buffer*, and its
//! end (`Unlock`, when anything is pending) *writes back* the buffer into a
//! *read buffer* that readers consult on top of the last commit. A commit
//! resets the read buffer. A read of a revision range of the key bucket
//! (what watchers catching up read) gets the committed records plus the
//! read buffer's.
//!
//! Here `records` is the write txn (every record, committed or not); what
//! the last commit holds is `records` minus [`Buffers::uncommitted`]; and
//! the buffers hold revisions, whose records are looked up in `records`.
//! Done right, the read buffer holds exactly the uncommitted revisions, so
//! a range read sees each record once — the store's history as it was
//! before the buffers were modelled. Only the key bucket is modelled: a
//! write txn that changes other buckets (a lease, an alarm, a member, the
//! compaction's meta keys) only counts as pending.
//!
//! The buffers' slots are reused after a reset, as etcd's are: `used` says
//! how many hold entries, and the slots past it keep what they last held.

use std::collections::BTreeSet;

use super::revision::Revision;

/// What the end of a write txn does with the write buffer's key bucket
/// when the read buffer has none (etcd's `txWriteBuffer.writeback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Writeback {
    /// It is handed over as it is: its entries in use, none if it has
    /// none (etcd 3.4, and etcd since #17228 was reverted).
    #[default]
    HandOver,
    /// It is deduplicated, then handed over (etcd #17228, reverted as the
    /// fix of #17247): the dedupe counts at least one entry in use, so a
    /// buffer with none — kept from a write txn of an earlier batch —
    /// hands over the stale revision in its first slot, which the last
    /// commit already holds, and a range read sees it twice.
    Dedupe,
}

/// One bucket's buffer (etcd's `bucketBuffer`), of the key bucket: the
/// revisions written, in order.
#[derive(Debug, Clone, Default)]
struct BucketBuffer {
    /// The slots; those past `used` keep what they last held.
    slots: Vec<Revision>,
    /// How many slots hold entries.
    used: usize,
}

impl BucketBuffer {
    fn entries(&self) -> &[Revision] {
        &self.slots[..self.used]
    }

    fn add(&mut self, rev: Revision) {
        match self.slots.get_mut(self.used) {
            Some(slot) => *slot = rev,
            None => self.slots.push(rev),
        }
        self.used += 1;
    }

    /// Appends `src`'s entries; sorts and dedupes only if they do not
    /// follow this buffer's (revisions are written in order, so they do).
    fn merge(&mut self, src: &BucketBuffer) {
        for &rev in src.entries() {
            self.add(rev);
        }
        if self.used == src.used || self.slots[self.used - src.used - 1] < src.slots[0] {
            return;
        }
        self.dedupe();
    }

    /// Sorts the entries and keeps the newest of equal ones; as etcd's,
    /// it leaves at least one entry in use, even when there was none (a
    /// fresh buffer's first slot is zeroed: revision 0, below any read).
    fn dedupe(&mut self) {
        self.slots[..self.used].sort();
        let mut kept = 0;
        for next in 1..self.used {
            if self.slots[next] != self.slots[kept] {
                kept += 1;
            }
            self.slots[kept] = self.slots[next];
        }
        self.used = kept + 1;
        if self.slots.len() < self.used {
            self.slots.push(Revision::default());
        }
    }

    /// Empties the buffer; `false` if it was empty already, and is then
    /// dropped (etcd's `txBuffer.reset` demotes such a bucket).
    fn reset(&mut self) -> bool {
        std::mem::replace(&mut self.used, 0) > 0
    }
}

/// The backend's key-bucket buffers and what its batch tx has pending.
#[derive(Debug, Clone, Default)]
pub(super) struct Buffers {
    /// The write buffer's key bucket, if it has one.
    write: Option<BucketBuffer>,
    /// The read buffer's key bucket, if it has one.
    read: Option<BucketBuffer>,
    /// Changes since the last commit, to any bucket (etcd's `pending`).
    pending: u64,
    /// Deletes since the last commit: the txn's end commits at once.
    deletes: u64,
    /// The key-bucket revisions written since the last commit.
    uncommitted: BTreeSet<Revision>,
    /// The rule of the write txn's end (the `etcd-17247` switch).
    pub(super) writeback: Writeback,
}

impl Buffers {
    /// A record put in the key bucket by the write txn under way.
    pub(super) fn put(&mut self, rev: Revision) {
        self.write
            .get_or_insert_with(BucketBuffer::default)
            .add(rev);
        self.uncommitted.insert(rev);
        self.pending += 1;
    }

    /// A put in another bucket by the write txn under way.
    pub(super) fn put_elsewhere(&mut self) {
        self.pending += 1;
    }

    /// A delete in another bucket by the write txn under way.
    pub(super) fn delete_elsewhere(&mut self) {
        self.pending += 1;
        self.deletes += 1;
    }

    /// The end of a write txn (etcd's `batchTxBuffered.Unlock`): if
    /// anything is pending, the write buffer is written back into the read
    /// buffer, and a txn that deleted commits. Whether the rule of
    /// [`Writeback`] was consulted (a key bucket handed over).
    pub(super) fn end_txn(&mut self) -> bool {
        if self.pending == 0 {
            return false;
        }
        let handed_over = self.write_back();
        if self.deletes > 0 {
            self.commit();
        }
        handed_over
    }

    fn write_back(&mut self) -> bool {
        let mut handed_over = false;
        if let Some(mut wb) = self.write.take() {
            match &mut self.read {
                Some(rb) => {
                    rb.merge(&wb);
                    // The write buffer keeps its bucket, emptied below.
                    self.write = Some(wb);
                }
                None => {
                    handed_over = true;
                    if self.writeback == Writeback::Dedupe {
                        wb.dedupe();
                    }
                    self.read = Some(wb);
                }
            }
        }
        // The write buffer's reset.
        if self.write.as_mut().is_some_and(|wb| !wb.reset()) {
            self.write = None;
        }
        handed_over
    }

    /// A commit of the batch: everything written is committed, and the
    /// read buffer is reset (etcd's `readTx.reset`, at every commit).
    pub(super) fn commit(&mut self) {
        if self.read.as_mut().is_some_and(|rb| !rb.reset()) {
            self.read = None;
        }
        self.pending = 0;
        self.deletes = 0;
        self.uncommitted.clear();
    }

    /// Whether the last commit holds `rev`'s record (if it exists).
    pub(super) fn committed(&self, rev: &Revision) -> bool {
        !self.uncommitted.contains(rev)
    }

    /// The read buffer's revisions in `from..to`, sorted.
    pub(super) fn read_in(&self, from: Revision, to: Revision) -> Vec<Revision> {
        let mut revs: Vec<Revision> = self
            .read
            .iter()
            .flat_map(BucketBuffer::entries)
            .copied()
            .filter(|r| (from..to).contains(r))
            .collect();
        revs.sort();
        revs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    fn read(b: &Buffers) -> Vec<Revision> {
        b.read_in(rev(0), rev(i64::MAX))
    }

    #[test]
    fn the_read_buffer_holds_exactly_what_the_last_commit_lacks() {
        let mut b = Buffers::default();
        b.put(rev(2));
        b.end_txn();
        b.put(rev(3));
        b.end_txn();
        assert_eq!(read(&b), vec![rev(2), rev(3)]);
        assert!(!b.committed(&rev(2)));
        b.commit();
        assert!(read(&b).is_empty() && b.committed(&rev(3)));
        // Two commits with nothing written, then a write elsewhere: the
        // write buffer's emptied key bucket is handed over empty.
        b.commit();
        b.commit();
        b.put_elsewhere();
        assert!(b.end_txn(), "the key bucket was handed over");
        assert!(read(&b).is_empty());
        b.put(rev(4));
        b.end_txn();
        assert_eq!(read(&b), vec![rev(4)]);
    }

    #[test]
    fn the_dedupe_of_an_empty_bucket_hands_over_its_stale_first_slot() {
        let mut b = Buffers {
            writeback: Writeback::Dedupe,
            ..Buffers::default()
        };
        b.put(rev(2));
        b.end_txn(); // handed over: the write buffer has no key bucket now
        b.put(rev(3));
        b.put(Revision::new(3, 1));
        b.end_txn(); // merged: the write buffer keeps the emptied bucket
        b.commit();
        b.commit();
        b.put_elsewhere();
        assert!(b.end_txn());
        assert!(b.committed(&rev(3)));
        assert_eq!(read(&b), vec![rev(3)], "3 is committed and buffered");
        b.commit();
        assert!(read(&b).is_empty(), "the next commit resets it");
    }

    #[test]
    fn a_txn_that_deletes_commits_at_its_end() {
        let mut b = Buffers::default();
        b.put(rev(2));
        b.delete_elsewhere();
        b.end_txn();
        assert!(read(&b).is_empty() && b.committed(&rev(2)));
    }
}
