//! A reference model of the store, written to be obviously right rather
//! than fast: the whole history is one list of events, and every read
//! replays it from the start. It shares no code with the store except the
//! request and response types; it never forgets history, so compaction is
//! only a bound on the readable revisions.
//!
//! The rules it encodes are etcd 3.4's (`etcdserver/apply.go` and
//! `mvcc/kvstore_txn.go`), restated one by one in the comments.

use std::collections::BTreeSet;

use crate::mvcc::txn::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, RequestOp, ResponseHeader, ResponseOp, SortOrder,
    SortTarget, TargetUnion, TxnRequest, TxnResponse,
};
use crate::mvcc::{KeyValue, MvccError, RangeOptions, RangeResult};

/// One change: a put (value, lease) or a delete (`None`) of one key.
#[derive(Debug, Clone)]
struct Event {
    main: i64,
    key: Vec<u8>,
    put: Option<(Vec<u8>, i64)>,
}

/// The model: events in the order they happened.
#[derive(Debug, Clone)]
pub struct Model {
    events: Vec<Event>,
    /// The last committed revision; a fresh etcd is at 1.
    pub current: i64,
    /// etcd's `compactMainRev`: -1 until the first compaction.
    pub compacted: i64,
    /// Inside a write: the revision being written and whether it changed
    /// anything yet.
    writing: Option<(i64, bool)>,
}

fn in_range(k: &[u8], key: &[u8], end: &[u8]) -> bool {
    match end {
        [] => k == key,
        [0] => k >= key,
        _ => k >= key && k < end,
    }
}

impl Model {
    pub fn new() -> Self {
        Model {
            events: Vec::new(),
            current: 1,
            compacted: -1,
            writing: None,
        }
    }

    /// The revision reads see: during a write that changed something, the
    /// revision being written; otherwise the committed one.
    fn view_rev(&self) -> i64 {
        match self.writing {
            Some((rev, true)) => rev,
            _ => self.current,
        }
    }

    /// Replays the events of `key` up to `rev`.
    fn kv_at(&self, key: &[u8], rev: i64) -> Option<KeyValue> {
        let mut kv: Option<KeyValue> = None;
        for e in self.events.iter().filter(|e| e.main <= rev && e.key == key) {
            kv = match (&e.put, kv) {
                (None, _) => None,
                (Some((value, lease)), prev) => Some(KeyValue {
                    key: key.to_vec(),
                    value: value.clone(),
                    create_revision: prev.as_ref().map_or(e.main, |p| p.create_revision),
                    mod_revision: e.main,
                    version: prev.as_ref().map_or(1, |p| p.version + 1),
                    lease: *lease,
                }),
            };
        }
        kv
    }

    /// Every key in the range that exists at `rev`, in key order.
    fn kvs_at(&self, key: &[u8], end: &[u8], rev: i64) -> Vec<KeyValue> {
        let keys: BTreeSet<&Vec<u8>> = self
            .events
            .iter()
            .map(|e| &e.key)
            .filter(|k| in_range(k, key, end))
            .collect();
        keys.into_iter()
            .filter_map(|k| self.kv_at(k, rev))
            .collect()
    }

    /// The store-level read (etcd's `rangeKeys`).
    pub fn range(&self, key: &[u8], end: &[u8], o: RangeOptions) -> Result<RangeResult, MvccError> {
        let cur = self.view_rev();
        if o.rev > cur {
            return Err(MvccError::FutureRev);
        }
        let rev = if o.rev <= 0 { cur } else { o.rev };
        if rev < self.compacted {
            return Err(MvccError::Compacted);
        }
        let mut kvs = self.kvs_at(key, end, rev);
        let count = kvs.len() as i64;
        if o.count_only {
            kvs.clear();
        }
        if o.limit > 0 && kvs.len() as i64 > o.limit {
            kvs.truncate(o.limit as usize);
        }
        Ok(RangeResult {
            kvs,
            rev: cur,
            count,
        })
    }

    /// A range request (etcd's applier `Range`): read, filter, sort
    /// (stable; no order given but a non-key target means ascending), cut
    /// to `limit`; `count` counts before filter and limit. etcd's quirk:
    /// with no sort order and no filter it reads only the first `limit + 1`
    /// keys in key order, *then* sorts them by a non-key target.
    pub fn apply_range(&self, r: &RangeRequest) -> Result<RangeResponse, MvccError> {
        let all = RangeOptions {
            limit: 0,
            rev: r.revision,
            count_only: r.count_only,
        };
        let mut found = self.range(&r.key, &r.range_end, all)?;
        let filtered = [
            r.min_mod_revision,
            r.max_mod_revision,
            r.min_create_revision,
            r.max_create_revision,
        ] != [0; 4];
        if r.sort_order == SortOrder::None && !filtered && r.limit > 0 {
            found.kvs.truncate(r.limit as usize + 1);
        }
        let keep = |kv: &KeyValue| {
            (r.max_mod_revision == 0 || kv.mod_revision <= r.max_mod_revision)
                && (r.min_mod_revision == 0 || kv.mod_revision >= r.min_mod_revision)
                && (r.max_create_revision == 0 || kv.create_revision <= r.max_create_revision)
                && (r.min_create_revision == 0 || kv.create_revision >= r.min_create_revision)
        };
        let mut kvs: Vec<KeyValue> = found.kvs.into_iter().filter(keep).collect();
        let field = |kv: &KeyValue| -> (i64, Vec<u8>) {
            match r.sort_target {
                SortTarget::Key => (0, kv.key.clone()),
                SortTarget::Version => (kv.version, vec![]),
                SortTarget::Create => (kv.create_revision, vec![]),
                SortTarget::Mod => (kv.mod_revision, vec![]),
                SortTarget::Value => (0, kv.value.clone()),
            }
        };
        let descend = r.sort_order == SortOrder::Descend;
        if r.sort_order != SortOrder::None || r.sort_target != SortTarget::Key {
            kvs.sort_by_key(|kv| field(kv));
            if descend {
                // Reverse, then restore key order among equals.
                kvs.reverse();
                let mut i = 0;
                while i < kvs.len() {
                    let j = (i..kvs.len()).find(|&j| field(&kvs[j]) != field(&kvs[i]));
                    let j = j.unwrap_or(kvs.len());
                    kvs[i..j].reverse();
                    i = j;
                }
            }
        }
        let more = r.limit > 0 && kvs.len() as i64 > r.limit;
        if more {
            kvs.truncate(r.limit as usize);
        }
        for kv in kvs.iter_mut().filter(|_| r.keys_only) {
            kv.value = vec![];
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

    fn begin(&mut self) {
        assert!(self.writing.is_none());
        self.writing = Some((self.current + 1, false));
    }

    fn commit(&mut self) -> i64 {
        if let Some((rev, true)) = self.writing.take() {
            self.current = rev;
        }
        self.current
    }

    fn record(&mut self, key: &[u8], put: Option<(Vec<u8>, i64)>) -> i64 {
        let (main, _) = self.writing.expect("inside a write");
        self.events.push(Event {
            main,
            key: key.to_vec(),
            put,
        });
        self.writing = Some((main, true));
        main
    }

    fn put_in_write(&mut self, p: &PutRequest) -> Result<PutResponse, MvccError> {
        let prev = self.kv_at(&p.key, self.view_rev());
        if (p.ignore_value || p.ignore_lease) && prev.is_none() {
            return Err(MvccError::KeyNotFound);
        }
        let value = match &prev {
            Some(kv) if p.ignore_value => kv.value.clone(),
            _ => p.value.clone(),
        };
        let lease = match &prev {
            Some(kv) if p.ignore_lease => kv.lease,
            _ => p.lease,
        };
        let revision = self.record(&p.key, Some((value, lease)));
        Ok(PutResponse {
            header: ResponseHeader { revision },
            prev_kv: prev.filter(|_| p.prev_kv),
        })
    }

    fn delete_in_write(&mut self, d: &DeleteRangeRequest) -> DeleteRangeResponse {
        let gone = self.kvs_at(&d.key, &d.range_end, self.view_rev());
        for kv in &gone {
            self.record(&kv.key, None);
        }
        DeleteRangeResponse {
            header: ResponseHeader {
                revision: self.view_rev(),
            },
            deleted: gone.len() as i64,
            prev_kvs: if d.prev_kv { gone } else { vec![] },
        }
    }

    pub fn apply_put(&mut self, p: &PutRequest) -> Result<PutResponse, MvccError> {
        self.begin();
        let resp = self.put_in_write(p);
        self.commit();
        resp
    }

    pub fn apply_delete_range(&mut self, d: &DeleteRangeRequest) -> DeleteRangeResponse {
        self.begin();
        let resp = self.delete_in_write(d);
        self.commit();
        resp
    }

    pub fn compact(&mut self, rev: i64) -> Result<(), MvccError> {
        if rev <= self.compacted {
            return Err(MvccError::Compacted);
        }
        if rev > self.current {
            return Err(MvccError::FutureRev);
        }
        self.compacted = rev;
        Ok(())
    }

    /// etcd's `applyCompare`, spelled out.
    fn compare_holds(&self, c: &Compare) -> bool {
        let kvs = self.kvs_at(&c.key, &c.range_end, self.current);
        if kvs.is_empty() {
            if c.target == CompareTarget::Value {
                return false;
            }
            return compare_kv(c, &KeyValue::default());
        }
        kvs.iter().all(|kv| compare_kv(c, kv))
    }

    /// etcd's `compareToPath`: a flat list of branch choices, this txn's
    /// first, then each nested txn of the chosen branch, depth first.
    fn txn_path(&self, r: &TxnRequest) -> Vec<bool> {
        let ok = r.compare.iter().all(|c| self.compare_holds(c));
        let mut path = vec![ok];
        for op in if ok { &r.success } else { &r.failure } {
            if let RequestOp::Txn(t) = op {
                path.extend(self.txn_path(t));
            }
        }
        path
    }

    /// The non-txn ops that run, in order, for a given path.
    fn ops_run<'a>(r: &'a TxnRequest, path: &[bool], out: &mut Vec<&'a RequestOp>) -> usize {
        let mut used = 1;
        for op in if path[0] { &r.success } else { &r.failure } {
            match op {
                RequestOp::Txn(t) => used += Self::ops_run(t, &path[used..], out),
                op => out.push(op),
            }
        }
        used
    }

    /// Runs the chosen ops; returns the response and the path entries used.
    fn run(&mut self, r: &TxnRequest, path: &[bool]) -> Result<(TxnResponse, usize), MvccError> {
        let mut used = 1;
        let mut responses = vec![];
        for op in if path[0] { &r.success } else { &r.failure } {
            responses.push(match op {
                RequestOp::Range(q) => ResponseOp::Range(self.apply_range(q)?),
                RequestOp::Put(p) => ResponseOp::Put(self.put_in_write(p)?),
                RequestOp::DeleteRange(d) => ResponseOp::DeleteRange(self.delete_in_write(d)),
                RequestOp::Txn(t) => {
                    let (resp, n) = self.run(t, &path[used..])?;
                    used += n;
                    ResponseOp::Txn(resp)
                }
            });
        }
        let resp = TxnResponse {
            header: ResponseHeader::default(),
            succeeded: path[0],
            responses,
        };
        Ok((resp, used))
    }

    /// etcd's applier `Txn`.
    pub fn apply_txn(&mut self, r: &TxnRequest) -> Result<TxnResponse, MvccError> {
        let path = self.txn_path(r);
        let mut ops = vec![];
        Self::ops_run(r, &path, &mut ops);
        let writes = !r
            .success
            .iter()
            .chain(&r.failure)
            .all(|op| matches!(op, RequestOp::Range(_)));
        if writes {
            // etcd's checkPut: against the store before the txn...
            for op in &ops {
                if let RequestOp::Put(p) = op {
                    if (p.ignore_value || p.ignore_lease)
                        && self.kv_at(&p.key, self.current).is_none()
                    {
                        return Err(MvccError::KeyNotFound);
                    }
                }
            }
            // ...and, where etcd would panic, at the moment the put runs: a
            // trial run of the writes alone must not fail.
            let mut trial = self.clone();
            let writes_only = strip_ranges(r);
            trial.begin();
            if trial.run(&writes_only, &path).is_err() {
                return Err(MvccError::KeyNotFound);
            }
        }
        // etcd's checkRange.
        for op in &ops {
            if let RequestOp::Range(q) = op {
                if q.revision != 0 && q.revision > self.current {
                    return Err(MvccError::FutureRev);
                }
                if q.revision != 0 && q.revision < self.compacted {
                    return Err(MvccError::Compacted);
                }
            }
        }
        self.begin();
        let (mut resp, _) = self.run(r, &path).expect("checked");
        resp.header.revision = self.commit();
        Ok(resp)
    }
}

/// The txn with every range op of every branch replaced by a harmless one,
/// keeping positions (and so the path) intact.
fn strip_ranges(r: &TxnRequest) -> TxnRequest {
    let strip = |ops: &Vec<RequestOp>| {
        ops.iter()
            .map(|op| match op {
                RequestOp::Range(_) => RequestOp::Range(RangeRequest::default()),
                RequestOp::Txn(t) => RequestOp::Txn(strip_ranges(t)),
                op => op.clone(),
            })
            .collect()
    };
    TxnRequest {
        compare: r.compare.clone(),
        success: strip(&r.success),
        failure: strip(&r.failure),
    }
}

/// etcd's `compareKV`: the operand is read only from the matching variant.
fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    use std::cmp::Ordering::*;
    let int = |field: i64, want: i64| field.cmp(&want);
    let ord = match c.target {
        CompareTarget::Value => {
            let want = match &c.target_union {
                Some(TargetUnion::Value(v)) => v.clone(),
                _ => vec![],
            };
            kv.value.cmp(&want)
        }
        CompareTarget::Version => match c.target_union {
            Some(TargetUnion::Version(v)) => int(kv.version, v),
            _ => int(kv.version, 0),
        },
        CompareTarget::Create => match c.target_union {
            Some(TargetUnion::CreateRevision(v)) => int(kv.create_revision, v),
            _ => int(kv.create_revision, 0),
        },
        CompareTarget::Mod => match c.target_union {
            Some(TargetUnion::ModRevision(v)) => int(kv.mod_revision, v),
            _ => int(kv.mod_revision, 0),
        },
        CompareTarget::Lease => match c.target_union {
            Some(TargetUnion::Lease(v)) => int(kv.lease, v),
            _ => int(kv.lease, 0),
        },
    };
    match c.result {
        CompareResult::Equal => ord == Equal,
        CompareResult::NotEqual => ord != Equal,
        CompareResult::Greater => ord == Greater,
        CompareResult::Less => ord == Less,
    }
}
