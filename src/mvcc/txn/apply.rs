//! The request layer: what etcd 3.4's `applierV3backend` does with a range,
//! put, delete-range or txn request, on top of the store.

use std::cmp::Ordering;

use super::compare::Compare;
use super::leases::{AnyLease, Leases};
use super::types::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    RequestOp, ResponseHeader, ResponseOp, SortOrder, SortTarget, TxnRequest, TxnResponse,
};
use crate::mvcc::key_index::KeyIndex;
use crate::mvcc::{KeyValue, KvStore, MvccError, RangeOptions, RangeResult, ReadView, WriteTxn};

impl KvStore {
    /// Serves a range request at the current revision (etcd's `Range`):
    /// reads, drops key-values outside the min/max mod and create revision
    /// filters, sorts, then applies `limit` and sets `more`. `count` is the
    /// number of keys in the range before filters and limit.
    ///
    /// Sorting is stable, so ties keep key order. etcd's Go sort is stable
    /// for up to 12 key-values; beyond that its order of ties is arbitrary.
    pub fn apply_range(&self, r: &RangeRequest) -> Result<RangeResponse, MvccError> {
        range(self, r)
    }

    /// Serves a put request in a write txn of its own (etcd's `Put`).
    /// `ignore_value` / `ignore_lease` keep the key's current value / lease
    /// and fail with [`MvccError::KeyNotFound`] (writing nothing) if the key
    /// does not exist. Every lease counts as existing; see
    /// [`KvStore::apply_put_with`].
    pub fn apply_put(&mut self, r: &PutRequest) -> Result<PutResponse, MvccError> {
        self.apply_put_with(r, &AnyLease)
    }

    /// [`KvStore::apply_put`], failing first with
    /// [`MvccError::LeaseNotFound`] if the put names a lease that `leases`
    /// does not know (etcd checks that before it opens the write txn).
    pub fn apply_put_with(
        &mut self,
        r: &PutRequest,
        leases: &dyn Leases,
    ) -> Result<PutResponse, MvccError> {
        if r.lease != 0 && !leases.exists(r.lease) {
            return Err(MvccError::LeaseNotFound);
        }
        let mut txn = self.write();
        let resp = put(&mut txn, r);
        txn.end();
        resp
    }

    /// Serves a delete-range request in a write txn of its own (etcd's
    /// `DeleteRange`). The header revision is unchanged if nothing existed.
    pub fn apply_delete_range(&mut self, r: &DeleteRangeRequest) -> DeleteRangeResponse {
        let mut txn = self.write();
        let resp = delete_range(&mut txn, r);
        txn.end();
        resp
    }

    /// Serves a txn request (etcd 3.4's `Txn`), all at one revision:
    ///
    /// 1. every compare — the nested txns' too — is judged against the store
    ///    as it was before the txn, which fixes the branch taken at every
    ///    level;
    /// 2. the ops of the chosen branches are checked, puts first: a put with
    ///    `ignore_value`/`ignore_lease` on a missing key fails the txn with
    ///    [`MvccError::KeyNotFound`]; then ranges: a revision above the
    ///    current one or below the compacted one fails it with
    ///    [`MvccError::FutureRev`] / [`MvccError::Compacted`]. A failed txn
    ///    changes nothing;
    /// 3. the ops run in order in one write txn, each seeing the effects of
    ///    the ones before; every change gets the same main revision.
    ///
    /// Each response carries the revision its op saw; nested txn responses
    /// carry revision 0, as in etcd 3.4.
    ///
    /// One departure: etcd checks `ignore_value` puts only against the
    /// store before the txn and panics if an earlier op of the same txn
    /// deleted the key. Here that txn fails with `KeyNotFound` instead. The
    /// API layer's duplicate-key check rejects such txns before they get
    /// here anyway.
    pub fn apply_txn(&mut self, r: &TxnRequest) -> Result<TxnResponse, MvccError> {
        self.apply_txn_with(r, &AnyLease)
    }

    /// [`KvStore::apply_txn`] where a put of a taken branch that names a
    /// lease `leases` does not know fails the txn with
    /// [`MvccError::LeaseNotFound`]. As in etcd, each put is checked in op
    /// order, its `ignore_value`/`ignore_lease` check before its lease.
    pub fn apply_txn_with(
        &mut self,
        r: &TxnRequest,
        leases: &dyn Leases,
    ) -> Result<TxnResponse, MvccError> {
        let path = Path::judge(self, r);
        self.check(r, &path, leases)?;
        let mut txn = self.write();
        let mut resp = run(&mut txn, r, &path);
        resp.header.revision = txn.end();
        Ok(resp)
    }

    /// Serves a read-only txn (see [`TxnRequest::is_read_only`]) on a
    /// shared store, as etcd serves them outside raft. Same results as
    /// [`KvStore::apply_txn`].
    ///
    /// # Panics
    ///
    /// If the txn is not read-only: that is a caller bug.
    pub fn apply_read_txn(&self, r: &TxnRequest) -> Result<TxnResponse, MvccError> {
        assert!(
            r.is_read_only(),
            "apply_read_txn with a txn that writes: {r:?}"
        );
        let path = Path::judge(self, r);
        self.check(r, &path, &AnyLease)?;
        let mut resp = run(&mut ReadOnly(self), r, &path);
        resp.header.revision = self.current_revision();
        Ok(resp)
    }

    /// Step 2 of [`KvStore::apply_txn`] (etcd's `checkRequests`).
    fn check(&self, r: &TxnRequest, path: &Path, leases: &dyn Leases) -> Result<(), MvccError> {
        if !r.is_read_only() {
            self.check_puts(r, path, leases, &mut Vec::new())?;
        }
        self.check_ranges(r, path)
    }

    fn check_puts<'r>(
        &self,
        r: &'r TxnRequest,
        path: &Path,
        leases: &dyn Leases,
        earlier: &mut Vec<Effect<'r>>,
    ) -> Result<(), MvccError> {
        let mut nested = path.nested.iter();
        for op in path.branch(r) {
            match op {
                RequestOp::Put(p) => {
                    if p.ignore_value || p.ignore_lease {
                        let before = self.index.get(&p.key[..]).is_some_and(KeyIndex::is_live);
                        let now = earlier
                            .iter()
                            .rev()
                            .find_map(|e| e.exists(&p.key))
                            .unwrap_or(before);
                        if !(before && now) {
                            return Err(MvccError::KeyNotFound);
                        }
                    }
                    if p.lease != 0 && !leases.exists(p.lease) {
                        return Err(MvccError::LeaseNotFound);
                    }
                    earlier.push(Effect::Put(&p.key));
                }
                RequestOp::DeleteRange(d) => earlier.push(Effect::Delete(&d.key, &d.range_end)),
                RequestOp::Txn(t) => {
                    self.check_puts(t, nested.next().expect("path"), leases, earlier)?
                }
                RequestOp::Range(_) => {}
            }
        }
        Ok(())
    }

    fn check_ranges(&self, r: &TxnRequest, path: &Path) -> Result<(), MvccError> {
        let mut nested = path.nested.iter();
        for op in path.branch(r) {
            match op {
                RequestOp::Range(q) if q.revision == 0 => {}
                RequestOp::Range(q) if q.revision > self.current => {
                    return Err(MvccError::FutureRev)
                }
                // etcd compares with `compactMainRev` as is (-1 before any
                // compaction), so a negative revision can fail here.
                RequestOp::Range(q) if q.revision < self.compacted => {
                    return Err(MvccError::Compacted)
                }
                RequestOp::Txn(t) => self.check_ranges(t, nested.next().expect("path"))?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// The branch taken at each level of a txn, fixed before any op runs
/// (etcd's `txnPath`).
#[derive(Debug)]
struct Path {
    succeeded: bool,
    /// One per nested txn of the taken branch, in op order.
    nested: Vec<Path>,
}

impl Path {
    fn judge(view: &KvStore, r: &TxnRequest) -> Path {
        let succeeded = r.compare.iter().all(|c: &Compare| c.holds(view));
        let mut path = Path {
            succeeded,
            nested: Vec::new(),
        };
        path.nested = path
            .branch(r)
            .iter()
            .filter_map(|op| match op {
                RequestOp::Txn(t) => Some(Path::judge(view, t)),
                _ => None,
            })
            .collect();
        path
    }

    fn branch<'r>(&self, r: &'r TxnRequest) -> &'r [RequestOp] {
        if self.succeeded {
            &r.success
        } else {
            &r.failure
        }
    }
}

/// A change an earlier op of the txn makes, as far as the put check cares.
enum Effect<'r> {
    Put(&'r [u8]),
    Delete(&'r [u8], &'r [u8]),
}

impl Effect<'_> {
    /// Whether `key` exists after this change, if the change touches it.
    fn exists(&self, key: &[u8]) -> Option<bool> {
        match *self {
            Effect::Put(k) => (k == key).then_some(true),
            Effect::Delete(start, end) => {
                let hit = match end {
                    [] => key == start,
                    [0] => key >= start,
                    end => key >= start && key < end,
                };
                hit.then_some(false)
            }
        }
    }
}

/// A view that txn ops run against: a write txn, or the store itself for a
/// read-only txn (etcd's `TxnWrite` and `NewReadOnlyTxnWrite`).
trait TxnOps: ReadView {
    fn put(&mut self, key: &[u8], value: &[u8], lease: i64) -> i64;
    fn delete_range(&mut self, key: &[u8], range_end: &[u8]) -> (i64, Vec<KeyValue>);
}

impl TxnOps for WriteTxn<'_> {
    fn put(&mut self, key: &[u8], value: &[u8], lease: i64) -> i64 {
        WriteTxn::put(self, key, value, lease)
    }

    fn delete_range(&mut self, key: &[u8], range_end: &[u8]) -> (i64, Vec<KeyValue>) {
        WriteTxn::delete_range(self, key, range_end)
    }
}

struct ReadOnly<'a>(&'a KvStore);

impl ReadView for ReadOnly<'_> {
    fn rev(&self) -> i64 {
        self.0.current_revision()
    }

    fn range(&self, key: &[u8], end: &[u8], opts: RangeOptions) -> Result<RangeResult, MvccError> {
        self.0.range(key, end, opts)
    }
}

impl TxnOps for ReadOnly<'_> {
    fn put(&mut self, _: &[u8], _: &[u8], _: i64) -> i64 {
        unreachable!("a read-only txn reached a put")
    }

    fn delete_range(&mut self, _: &[u8], _: &[u8]) -> (i64, Vec<KeyValue>) {
        unreachable!("a read-only txn reached a delete")
    }
}

/// Step 3 of [`KvStore::apply_txn`] (etcd's `applyTxn`); the checks have
/// ruled out every error.
fn run<T: TxnOps>(txn: &mut T, r: &TxnRequest, path: &Path) -> TxnResponse {
    let mut nested = path.nested.iter();
    let mut responses = Vec::new();
    for op in path.branch(r) {
        responses.push(match op {
            RequestOp::Range(q) => ResponseOp::Range(
                range(txn, q).unwrap_or_else(|e| panic!("txn range after its check: {e}")),
            ),
            RequestOp::Put(p) => ResponseOp::Put(
                put(txn, p).unwrap_or_else(|e| panic!("txn put after its check: {e}")),
            ),
            RequestOp::DeleteRange(d) => ResponseOp::DeleteRange(delete_range(txn, d)),
            RequestOp::Txn(t) => ResponseOp::Txn(run(txn, t, nested.next().expect("path"))),
        });
    }
    TxnResponse {
        header: ResponseHeader::default(),
        succeeded: path.succeeded,
        responses,
    }
}

fn range<V: ReadView + ?Sized>(view: &V, r: &RangeRequest) -> Result<RangeResponse, MvccError> {
    let filtered = r.min_mod_revision != 0
        || r.max_mod_revision != 0
        || r.min_create_revision != 0
        || r.max_create_revision != 0;
    // Sorting or filtering needs everything; otherwise one extra key-value
    // tells whether there is `more`.
    let limit = match r.limit {
        _ if filtered || r.sort_order != SortOrder::None => 0,
        l if l > 0 => l.saturating_add(1),
        l => l,
    };
    let opts = RangeOptions {
        limit,
        rev: r.revision,
        count_only: r.count_only,
    };
    let found = view.range(&r.key, &r.range_end, opts)?;
    let mut kvs = found.kvs;
    kvs.retain(|kv| {
        (r.max_mod_revision == 0 || kv.mod_revision <= r.max_mod_revision)
            && (r.min_mod_revision == 0 || kv.mod_revision >= r.min_mod_revision)
            && (r.max_create_revision == 0 || kv.create_revision <= r.max_create_revision)
            && (r.min_create_revision == 0 || kv.create_revision >= r.min_create_revision)
    });
    let order = match (r.sort_order, r.sort_target) {
        (SortOrder::None, SortTarget::Key) => SortOrder::None,
        (SortOrder::None, _) => SortOrder::Ascend,
        (order, _) => order,
    };
    let by = |a: &KeyValue, b: &KeyValue| -> Ordering {
        match r.sort_target {
            SortTarget::Key => a.key.cmp(&b.key),
            SortTarget::Version => a.version.cmp(&b.version),
            SortTarget::Create => a.create_revision.cmp(&b.create_revision),
            SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
            SortTarget::Value => a.value.cmp(&b.value),
        }
    };
    match order {
        SortOrder::None => {}
        SortOrder::Ascend => kvs.sort_by(by),
        SortOrder::Descend => kvs.sort_by(|a, b| by(b, a)),
    }
    let more = r.limit > 0 && kvs.len() as i64 > r.limit;
    if more {
        kvs.truncate(r.limit as usize);
    }
    if r.keys_only {
        for kv in &mut kvs {
            kv.value.clear();
        }
    }
    Ok(RangeResponse {
        header: ResponseHeader {
            revision: found.rev,
        },
        kvs,
        more,
        count: found.count,
    })
}

fn put<T: TxnOps + ?Sized>(txn: &mut T, p: &PutRequest) -> Result<PutResponse, MvccError> {
    let prev = if p.ignore_value || p.ignore_lease || p.prev_kv {
        txn.range(&p.key, &[], RangeOptions::default())?.kvs.pop()
    } else {
        None
    };
    let (value, lease) = match &prev {
        None if p.ignore_value || p.ignore_lease => return Err(MvccError::KeyNotFound),
        Some(kv) => (
            if p.ignore_value { &kv.value } else { &p.value },
            if p.ignore_lease { kv.lease } else { p.lease },
        ),
        None => (&p.value, p.lease),
    };
    let revision = txn.put(&p.key, value, lease);
    Ok(PutResponse {
        header: ResponseHeader { revision },
        prev_kv: if p.prev_kv { prev } else { None },
    })
}

fn delete_range<T: TxnOps + ?Sized>(txn: &mut T, d: &DeleteRangeRequest) -> DeleteRangeResponse {
    let (deleted, prev) = txn.delete_range(&d.key, &d.range_end);
    DeleteRangeResponse {
        header: ResponseHeader {
            revision: txn.rev(),
        },
        deleted,
        prev_kvs: if d.prev_kv { prev } else { Vec::new() },
    }
}
