//! HashKV: a checksum of the key-value history, for comparing members.
//!
//! Every member applies the same log, so at the same revision, with the
//! same compaction behind them, their retained histories must be equal; a
//! member whose hash differs applied something the others did not (etcd's
//! corruption check compares exactly this). The hash covers each retained
//! record up to the revision in the bytes a snapshot stores it as, so it
//! sees keys, values, create revisions, versions, leases and tombstones.

use super::error::MvccError;
use super::revision::Revision;
use super::snapshot::encode_record;
use super::store::KvStore;

/// What [`KvStore::hash_kv`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvHash {
    /// CRC-32 of the retained records up to the revision.
    pub hash: u32,
    /// The revision the hash covers.
    pub revision: i64,
    /// The store's last compaction, -1 if none (as etcd answers): hashes
    /// are comparable only between members that compacted at the same
    /// revision.
    pub compact_revision: i64,
}

impl KvStore {
    /// Hashes the history up to `rev` (0: the current revision).
    ///
    /// As etcd 3.4's `HashByRev`, fails with [`MvccError::Compacted`] if
    /// `rev` is at or below the last compaction and with
    /// [`MvccError::FutureRev`] if it is above the current revision.
    pub fn hash_kv(&self, rev: i64) -> Result<KvHash, MvccError> {
        let compact_revision = self.compacted;
        if rev > 0 && rev <= compact_revision {
            return Err(MvccError::Compacted);
        }
        if rev > self.current_revision() {
            return Err(MvccError::FutureRev);
        }
        let revision = if rev > 0 {
            rev
        } else {
            self.current_revision()
        };
        let mut hasher = crc32fast::Hasher::new();
        let mut bytes = Vec::new();
        for (rev, record) in self.records.range(..Revision::new(revision + 1, 0)) {
            bytes.clear();
            encode_record(&mut bytes, *rev, record);
            hasher.update(&bytes);
        }
        Ok(KvHash {
            hash: hasher.finalize(),
            revision,
            compact_revision,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(values: &[&[u8]]) -> KvStore {
        let mut store = KvStore::new();
        for value in values {
            let mut txn = store.write();
            txn.put(b"k", value, 0);
            txn.end();
        }
        store
    }

    #[test]
    fn equal_histories_hash_equal_and_any_difference_shows() {
        let a = store_with(&[b"1", b"2"]);
        let b = store_with(&[b"1", b"2"]);
        let c = store_with(&[b"1", b"3"]);
        assert_eq!(a.hash_kv(0), b.hash_kv(0));
        assert_ne!(a.hash_kv(0).unwrap().hash, c.hash_kv(0).unwrap().hash);
        // Up to revision 2 the histories agree.
        assert_eq!(a.hash_kv(2), c.hash_kv(2));
        assert_eq!(a.hash_kv(0).unwrap().revision, 3);
    }

    #[test]
    fn a_later_write_does_not_change_the_hash_of_an_earlier_revision() {
        let mut store = store_with(&[b"1", b"2"]);
        let before = store.hash_kv(3).unwrap();
        let mut txn = store.write();
        txn.delete_range(b"k", b"");
        txn.end();
        assert_eq!(store.hash_kv(3), Ok(before));
        assert_ne!(store.hash_kv(0).unwrap().hash, before.hash);
    }

    #[test]
    fn compacted_and_future_revisions_are_refused_as_etcd_does() {
        let mut store = store_with(&[b"1", b"2", b"3"]);
        store.compact(3).unwrap();
        assert_eq!(store.hash_kv(3), Err(MvccError::Compacted));
        assert_eq!(store.hash_kv(5), Err(MvccError::FutureRev));
        let hash = store.hash_kv(4).unwrap();
        assert_eq!((hash.revision, hash.compact_revision), (4, 3));
        assert_eq!(store_with(&[]).hash_kv(0).unwrap().compact_revision, -1);
    }
}
