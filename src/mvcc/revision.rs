//! Revisions: the logical clock of the store.
//!
//! Every write request (a put, a delete-range or a whole txn) that changes
//! something gets one new *main* revision; the individual changes inside it
//! are told apart by a *sub* revision counting from 0. A key-value read at
//! revision `r` sees every change whose main revision is `<= r`.

use std::fmt;

/// The length of an encoded [`Revision`]: 8 bytes main, a `_`, 8 bytes sub.
pub const REVISION_BYTES: usize = 17;

/// The byte appended to an encoded revision that records a tombstone.
pub const TOMBSTONE_MARK: u8 = b't';

/// A point in the store's history: `(main, sub)`, ordered by main then sub.
///
/// # Key encoding
///
/// etcd keys its backend by revision, not by user key, so that a scan in byte
/// order is a scan in revision order. We keep the same 17-byte encoding
/// (used by the snapshot format, see `snapshot.rs`):
///
/// ```text
/// byte  0..8   main, big-endian i64
/// byte  8      b'_'
/// byte  9..17  sub,  big-endian i64
/// byte  17     optional b't': the change at this revision is a tombstone
/// ```
///
/// For example `Revision { main: 5, sub: 1 }` encodes as
/// `00 00 00 00 00 00 00 05 5f 00 00 00 00 00 00 00 01`. Revisions are never
/// negative, so big-endian byte order equals numeric order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision {
    /// The revision of the write request (one per put, delete or txn).
    pub main: i64,
    /// The position of the change inside its write request, from 0.
    pub sub: i64,
}

impl Revision {
    /// A revision with the given main and sub parts.
    pub const fn new(main: i64, sub: i64) -> Self {
        Revision { main, sub }
    }

    /// Encodes the revision as described on [`Revision`] (no tombstone mark).
    pub fn to_bytes(self) -> [u8; REVISION_BYTES] {
        let mut out = [0u8; REVISION_BYTES];
        out[..8].copy_from_slice(&self.main.to_be_bytes());
        out[8] = b'_';
        out[9..].copy_from_slice(&self.sub.to_be_bytes());
        out
    }

    /// Decodes an encoded revision and its optional tombstone mark; returns
    /// `(revision, is_tombstone)`, or `None` if `bytes` is not an encoding.
    pub fn from_bytes(bytes: &[u8]) -> Option<(Revision, bool)> {
        let tombstone = match bytes.len() {
            REVISION_BYTES => false,
            n if n == REVISION_BYTES + 1 && bytes[REVISION_BYTES] == TOMBSTONE_MARK => true,
            _ => return None,
        };
        if bytes[8] != b'_' {
            return None;
        }
        let main = i64::from_be_bytes(bytes[..8].try_into().ok()?);
        let sub = i64::from_be_bytes(bytes[9..REVISION_BYTES].try_into().ok()?);
        Some((Revision { main, sub }, tombstone))
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.main, self.sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_main_then_sub() {
        assert!(Revision::new(1, 5) < Revision::new(2, 0));
        assert!(Revision::new(2, 0) < Revision::new(2, 1));
    }

    #[test]
    fn encoding_round_trips_and_sorts_like_revisions() {
        let a = Revision::new(5, 1);
        let b = Revision::new(256, 0);
        assert_eq!(
            a.to_bytes(),
            [0, 0, 0, 0, 0, 0, 0, 5, b'_', 0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(Revision::from_bytes(&a.to_bytes()), Some((a, false)));
        let mut t = a.to_bytes().to_vec();
        t.push(TOMBSTONE_MARK);
        assert_eq!(Revision::from_bytes(&t), Some((a, true)));
        assert!(a.to_bytes() < b.to_bytes());
    }

    #[test]
    fn rejects_malformed_encodings() {
        assert_eq!(Revision::from_bytes(&[0; 16]), None);
        let mut bad = Revision::new(1, 1).to_bytes();
        bad[8] = b'-';
        assert_eq!(Revision::from_bytes(&bad), None);
        let mut t = Revision::new(1, 1).to_bytes().to_vec();
        t.push(b'x');
        assert_eq!(Revision::from_bytes(&t), None);
    }
}
