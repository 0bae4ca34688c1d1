//! Which keys a lease holds, read from the store itself.

use crate::mvcc::{KvStore, RangeOptions};

/// The keys whose current value is attached to lease `id`, in key order
/// (the order etcd's revoke deletes them in).
///
/// A scan of every key: the store is the one record of attachments, which
/// a second index in the lessor would have to mirror on every put, delete
/// and snapshot restore.
pub fn attached_keys(store: &KvStore, id: i64) -> Vec<Vec<u8>> {
    let all = store
        .range(&[0], &[0], RangeOptions::default())
        .expect("a read at the current revision cannot fail");
    all.kvs
        .into_iter()
        .filter(|kv| kv.lease == id)
        .map(|kv| kv.key)
        .collect()
}
