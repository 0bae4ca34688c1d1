//! Which keys a lease holds, read from the store itself.

use std::collections::BTreeMap;

use crate::mvcc::{KvStore, RangeOptions};

/// The keys whose current value is attached to lease `id`, in key order
/// (the order etcd's revoke deletes them in).
///
/// A scan of every key: the store is the one record of attachments, which
/// a second index in the lessor would have to mirror on every put, delete
/// and snapshot restore.
///
/// `keeps_old` is the `lease-reattach-keeps-old` bug: the keys are those
/// an index that attaches on every put but detaches only on delete would
/// hold — every present key that a put attached to `id` at some revision
/// the store still holds, in the key's current life (no delete since),
/// whatever lease later puts gave it.
pub fn attached_keys(store: &KvStore, id: i64, keeps_old: bool) -> Vec<Vec<u8>> {
    crate::coverage::bug_site(crate::bugs::Bug::LeaseReattachKeepsOld);
    let all = |rev: i64| {
        store
            .range(
                &[0],
                &[0],
                RangeOptions {
                    rev,
                    ..RangeOptions::default()
                },
            )
            .expect("a read of every key at a held revision cannot fail")
            .kvs
    };
    let current = all(0);
    if !keeps_old {
        return current
            .into_iter()
            .filter(|kv| kv.lease == id)
            .map(|kv| kv.key)
            .collect();
    }
    // Each key ever attached to `id`, with the life (create revision) it
    // was attached in.
    let mut ever: BTreeMap<Vec<u8>, Vec<i64>> = BTreeMap::new();
    for rev in store.compacted_revision().max(1)..=store.current_revision() {
        for kv in all(rev).into_iter().filter(|kv| kv.lease == id) {
            ever.entry(kv.key).or_default().push(kv.create_revision);
        }
    }
    current
        .into_iter()
        .filter(|kv| {
            kv.lease == id
                || ever
                    .get(&kv.key)
                    .is_some_and(|lives| lives.contains(&kv.create_revision))
        })
        .map(|kv| kv.key)
        .collect()
}
