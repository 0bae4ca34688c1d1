//! etcd's own guarantees on revisions, checked apart from the search:
//! each is a pure function from a history to the violations it finds.
//!
//! # The order of revisions
//!
//! Every write that changes the store gets the next revision, and a read
//! at revision `R` sees the store as the writes up to `R` left it. The
//! history tells much of that order for certain: an acknowledged write
//! changed its keys at its header revision, and a key-value a read saw
//! was written at its mod revision. [`at_revision`] holds every read that
//! states a revision to it:
//!
//! - a read at a past revision `R` (a list or txn get with `revision`),
//!   and every read at its own header revision `H`: a linearizable read
//!   sees the store at `H`, and so does a serializable one, which may be
//!   stale, but only by being at an older revision. That is how etcd's
//!   robustness checks a stale read: as a read of the state at the
//!   revision its header names, which need not be the newest;
//! - a key it saw with mod revision `M` must have `M <= R`, and no
//!   certain change of that key may lie in `(M, R]`;
//! - a key it found absent must not have a certain put at some `r <= R`
//!   with no certain delete after it up to `R`, unless a delete of unknown
//!   outcome, invoked before the read returned, may lie in between (a
//!   lease's revoke, whatever its answer, and the expiry of a lease with a
//!   short TTL count as such deletes of every key a put attached to it);
//! - `ErrCompacted` is legal only if a compaction above `R` was invoked
//!   before the read returned; a linearizable read at `R` must fail with it
//!   once a compaction above `R` was acknowledged before the read began
//!   (a serializable one may be served by a member yet to apply it);
//! - `ErrFutureRev` is legal only if `R` is above every revision
//!   acknowledged before a linearizable read began; a read that succeeded
//!   at `R` carries a header revision of at least `R`.
//!
//! [`revisions`] adds real time: writes' revisions increase, and a
//! linearizable answer's header revision is at least that of every answer
//! that came before it was asked.

use std::collections::BTreeMap;
use std::fmt;

use crate::history::{
    History, KeyValue, Operation, Outcome, Request, Response, StepResult, TxnStep,
};

/// A broken guarantee, with its evidence. Fields named after operations
/// (`first`, `read`, `write`, ...) are indices into the history's operations.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Two writes that changed the store got the same revision.
    DuplicateRevision {
        first: usize,
        second: usize,
        revision: i64,
    },
    /// `earlier` completed before `later` was invoked, yet got a revision
    /// not below `later`'s.
    RevisionWentBack { earlier: usize, later: usize },
    /// A read returned a value that no write of that key ever wrote.
    ValueNeverWritten {
        read: usize,
        key: String,
        value: String,
    },
    /// A serializable read returned a value whose write was invoked after
    /// the read completed.
    ReadFromTheFuture { read: usize, write: usize },
    /// A read's mod_revision differs from the revision of the write it saw.
    WrongModRevision {
        read: usize,
        write: usize,
        seen: i64,
        written: i64,
    },
    /// `earlier` completed before the linearizable `later` was invoked,
    /// yet `later`'s header revision is below `earlier`'s revision.
    HeaderWentBack { earlier: usize, later: usize },
    /// A read at revision `at` saw `key` with a mod revision above `at`.
    ModRevisionAfterRead {
        read: usize,
        key: String,
        mod_revision: i64,
        at: i64,
    },
    /// A read at revision `at` saw `key` as it was before `write` changed
    /// it, at `revision <= at`.
    StaleAtRevision {
        read: usize,
        write: usize,
        key: String,
        revision: i64,
        at: i64,
    },
    /// A read at revision `at` found `key` absent, though `write` put it
    /// at `revision <= at` and nothing may have deleted it since.
    MissingAtRevision {
        read: usize,
        write: usize,
        key: String,
        revision: i64,
        at: i64,
    },
    /// A read at revision `at` failed as compacted, though no compaction
    /// above `at` had been asked for before it returned.
    CompactedWithoutCompaction { read: usize, at: i64 },
    /// A linearizable read at revision `at` succeeded after `compaction`
    /// above `at` was acknowledged.
    ReadBelowCompaction {
        read: usize,
        compaction: usize,
        at: i64,
    },
    /// A linearizable read at revision `at` failed as a future revision,
    /// though `write` had been acknowledged at `revision >= at` before it
    /// began.
    FutureRevisionTooEarly {
        read: usize,
        write: usize,
        at: i64,
        revision: i64,
    },
    /// A read at revision `at` succeeded with a header revision below it.
    ReadAtFutureRevision { read: usize, at: i64, header: i64 },
    /// Two answers showed the same value of `key` with different create
    /// or mod revisions or versions.
    KeyValueDiffers {
        first: usize,
        second: usize,
        key: String,
    },
    /// A key-value that no store holds: created after its last change,
    /// a version below 1, or version 1 but not created at its mod revision.
    ImpossibleKeyValue { read: usize, key: String },
    /// A field of `op`'s answer contradicts the rest of the answer or the
    /// request (see [`crate::answers`]); `detail` names it and both values.
    WrongField { op: usize, detail: String },
}

impl Violation {
    /// The operations that make up the evidence.
    pub fn operations(&self) -> Vec<usize> {
        match *self {
            Violation::DuplicateRevision { first, second, .. } => vec![first, second],
            Violation::RevisionWentBack { earlier, later } => vec![earlier, later],
            Violation::ValueNeverWritten { read, .. } => vec![read],
            Violation::ReadFromTheFuture { read, write } => vec![read, write],
            Violation::WrongModRevision { read, write, .. } => vec![read, write],
            Violation::HeaderWentBack { earlier, later } => vec![earlier, later],
            Violation::ModRevisionAfterRead { read, .. }
            | Violation::CompactedWithoutCompaction { read, .. }
            | Violation::ReadAtFutureRevision { read, .. }
            | Violation::ImpossibleKeyValue { read, .. } => vec![read],
            Violation::WrongField { op, .. } => vec![op],
            Violation::StaleAtRevision { read, write, .. }
            | Violation::MissingAtRevision { read, write, .. }
            | Violation::FutureRevisionTooEarly { read, write, .. } => vec![write, read],
            Violation::ReadBelowCompaction {
                read, compaction, ..
            } => vec![compaction, read],
            Violation::KeyValueDiffers { first, second, .. } => vec![first, second],
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::DuplicateRevision { first, second, revision } => write!(
                f,
                "operations #{first} and #{second} both wrote at revision {revision}"
            ),
            Violation::RevisionWentBack { earlier, later } => write!(
                f,
                "operation #{earlier} completed before #{later} began, yet its revision is not lower"
            ),
            Violation::ValueNeverWritten { read, key, value } => {
                write!(f, "operation #{read} read {key}={value:?}, which no write wrote")
            }
            Violation::ReadFromTheFuture { read, write } => write!(
                f,
                "operation #{read} read a value written by #{write}, which began after it ended"
            ),
            Violation::WrongModRevision { read, write, seen, written } => write!(
                f,
                "operation #{read} saw mod_revision {seen} for the value #{write} wrote at revision {written}"
            ),
            Violation::HeaderWentBack { earlier, later } => write!(
                f,
                "operation #{later} began after #{earlier} completed, yet its header revision is below #{earlier}'s revision"
            ),
            Violation::ModRevisionAfterRead { read, key, mod_revision, at } => write!(
                f,
                "operation #{read} read at revision {at} saw {key} with mod_revision {mod_revision}, from after it"
            ),
            Violation::StaleAtRevision { read, write, key, revision, at } => write!(
                f,
                "operation #{read} read {key} at revision {at} as it was before #{write} changed it at revision {revision}"
            ),
            Violation::MissingAtRevision { read, write, key, revision, at } => write!(
                f,
                "operation #{read} found {key} absent at revision {at}, though #{write} put it at revision {revision} and nothing may have deleted it since"
            ),
            Violation::CompactedWithoutCompaction { read, at } => write!(
                f,
                "operation #{read} was refused as compacted at revision {at}, though no compaction above {at} was asked for before it returned"
            ),
            Violation::ReadBelowCompaction { read, compaction, at } => write!(
                f,
                "operation #{read} read at revision {at} after compaction #{compaction} above it was acknowledged"
            ),
            Violation::FutureRevisionTooEarly { read, write, at, revision } => write!(
                f,
                "operation #{read} was refused revision {at} as a future one, though #{write} was acknowledged at revision {revision} before it began"
            ),
            Violation::ReadAtFutureRevision { read, at, header } => write!(
                f,
                "operation #{read} read at revision {at} but its header revision is {header}"
            ),
            Violation::KeyValueDiffers { first, second, key } => write!(
                f,
                "operations #{first} and #{second} saw the same value of {key} with different revisions or versions"
            ),
            Violation::ImpossibleKeyValue { read, key } => write!(
                f,
                "operation #{read} saw {key} with create/mod revisions and version no store can hold"
            ),
            Violation::WrongField { op, detail } => write!(f, "operation #{op}: {detail}"),
        }
    }
}

/// The revision a successful write was applied at, if it changed the store.
fn write_revision(op: &Operation) -> Option<i64> {
    op.writes_at_revision().first().map(|&(_, _, r)| r)
}

/// Revisions of writes that changed the store are unique, and increase in
/// real-time order.
pub fn revisions(history: &History) -> Vec<Violation> {
    let mut writes: Vec<(i64, usize)> = history
        .operations
        .iter()
        .enumerate()
        .filter_map(|(i, op)| Some((write_revision(op)?, i)))
        .collect();
    let mut violations = Vec::new();
    writes.sort_unstable();
    for pair in writes.windows(2) {
        if pair[0].0 == pair[1].0 {
            violations.push(Violation::DuplicateRevision {
                first: pair[0].1,
                second: pair[1].1,
                revision: pair[0].0,
            });
        }
    }
    // Sorted by revision, a later write must not have returned before an
    // earlier-revision write was invoked.
    let ops = &history.operations;
    let mut by_call: Vec<(u64, i64, usize)> = writes
        .iter()
        .map(|&(rev, i)| (ops[i].call_ns, rev, i))
        .collect();
    by_call.sort_unstable();
    // For each write, the highest revision among writes that returned
    // before it was called must be lower than its own.
    let mut by_return: Vec<(u64, i64, usize)> = writes
        .iter()
        .map(|&(rev, i)| (ops[i].return_ns, rev, i))
        .collect();
    by_return.sort_unstable();
    for (rev, i, (h, j)) in highest_returned_before(&by_return, &by_call) {
        if h >= rev {
            violations.push(Violation::RevisionWentBack {
                earlier: j,
                later: i,
            });
        }
    }
    violations.extend(headers(history));
    violations
}

/// A linearizable answer that changed nothing (a read, a failed compare, a
/// delete of nothing) carries the revision of the store it saw, which
/// holds every write acknowledged before it was asked.
fn headers(history: &History) -> Vec<Violation> {
    let ops = &history.operations;
    let answered = |op: &Operation| match &op.outcome {
        Outcome::Ok(response) => Some(write_revision(op).unwrap_or(response.revision())),
        _ => None,
    };
    let mut by_return: Vec<(u64, i64, usize)> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| !op.request.is_serializable())
        .filter_map(|(i, op)| Some((op.return_ns, answered(op)?, i)))
        .collect();
    by_return.sort_unstable();
    let mut readers: Vec<(u64, i64, usize)> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| !op.request.is_serializable() && write_revision(op).is_none())
        .filter_map(|(i, op)| Some((op.call_ns, answered(op)?, i)))
        .collect();
    readers.sort_unstable();
    highest_returned_before(&by_return, &readers)
        .filter(|&(header, _, (h, _))| header < h)
        .map(|(_, i, (_, j))| Violation::HeaderWentBack {
            earlier: j,
            later: i,
        })
        .collect()
}

/// One sweep over time for the two real-time checks: for each operation of
/// `by_call` (`(call_ns, revision, index)`, sorted), the highest revision
/// among the operations of `by_return` (`(return_ns, revision, index)`,
/// sorted) that returned before it was called, with the operation that
/// had it (the first to return, of equals). Yields `(revision, index,
/// (highest, its index))` for the operations that have such a one.
fn highest_returned_before<'a>(
    by_return: &'a [(u64, i64, usize)],
    by_call: &'a [(u64, i64, usize)],
) -> impl Iterator<Item = (i64, usize, (i64, usize))> + 'a {
    let mut done = 0;
    let mut highest: Option<(i64, usize)> = None;
    by_call.iter().filter_map(move |&(call, rev, i)| {
        while done < by_return.len() && by_return[done].0 < call {
            let (_, r, j) = by_return[done];
            if highest.is_none_or(|(h, _)| r > h) {
                highest = Some((r, j));
            }
            done += 1;
        }
        highest.map(|earlier| (rev, i, earlier))
    })
}

/// Every value a read returned was written by a write of that key that
/// began before the read ended, and carries that write's revision; the same
/// value always shows the same create and mod revision and version, and
/// those make sense together.
pub fn reads(history: &History) -> Vec<Violation> {
    let ops = &history.operations;
    let writers = writers(history);
    let mut violations = Vec::new();
    let mut first_seen: BTreeMap<(&str, &str), (usize, &KeyValue)> = BTreeMap::new();
    for (read, op) in ops.iter().enumerate() {
        for (key, kv) in op.observed() {
            if kv.create_revision > kv.mod_revision
                || kv.version < 1
                || (kv.version == 1) != (kv.create_revision == kv.mod_revision)
            {
                violations.push(Violation::ImpossibleKeyValue {
                    read,
                    key: key.to_string(),
                });
            }
            match first_seen.get(&(key, kv.value.as_str())) {
                Some(&(first, seen)) if seen != kv && first != read => {
                    violations.push(Violation::KeyValueDiffers {
                        first,
                        second: read,
                        key: key.to_string(),
                    })
                }
                Some(_) => {}
                None => {
                    first_seen.insert((key, kv.value.as_str()), (read, kv));
                }
            }
            let Some(&write) = writers.get(&(key, kv.value.as_str())) else {
                violations.push(Violation::ValueNeverWritten {
                    read,
                    key: key.to_string(),
                    value: kv.value.clone(),
                });
                continue;
            };
            if ops[write].call_ns > op.return_ns {
                violations.push(Violation::ReadFromTheFuture { read, write });
            }
            let written = ops[write]
                .writes_at_revision()
                .into_iter()
                .find(|&(k, v, _)| k == key && v == Some(kv.value.as_str()));
            if let Some((_, _, written)) = written {
                if written != kv.mod_revision {
                    violations.push(Violation::WrongModRevision {
                        read,
                        write,
                        seen: kv.mod_revision,
                        written,
                    });
                }
            }
        }
    }
    violations
}

/// Which operation wrote each (key, value): of the operations that may have
/// taken effect and write it, the last in the history. [`reads`] and
/// [`at_revision`] both trace a value a read saw back to it.
fn writers(history: &History) -> BTreeMap<(&str, &str), usize> {
    let mut writers = BTreeMap::new();
    for (i, op) in history.operations.iter().enumerate() {
        if !op.may_have_taken_effect() {
            continue;
        }
        for (key, value) in op.request.written_values() {
            writers.insert((key, value), i);
        }
    }
    writers
}

/// The marks etcd's errors carry.
const COMPACTED: &str = "required revision has been compacted";
const FUTURE: &str = "required revision is a future revision";

/// One read that states the revision it read at.
struct ReadAt<'h> {
    read: usize,
    at: i64,
    /// The keys it answers for and what it saw of each (`None`: absent).
    seen: Vec<(&'h str, Option<&'h KeyValue>)>,
}

/// The certain order of revisions (see the module docs), and every read
/// held to it.
pub fn at_revision(history: &History) -> Vec<Violation> {
    let ops = &history.operations;
    // Certain changes per key: revision -> (value left, by which op).
    let mut changes: BTreeMap<&str, BTreeMap<i64, (Option<&str>, usize)>> = BTreeMap::new();
    let writers = writers(history);
    for (i, op) in ops.iter().enumerate() {
        for (key, value, revision) in op.writes_at_revision() {
            changes
                .entry(key)
                .or_default()
                .entry(revision)
                .or_insert((value, i));
        }
    }
    for (i, op) in ops.iter().enumerate() {
        for (key, kv) in op.observed() {
            let writer = writers.get(&(key, kv.value.as_str())).copied().unwrap_or(i);
            changes
                .entry(key)
                .or_default()
                .entry(kv.mod_revision)
                .or_insert((Some(kv.value.as_str()), writer));
        }
    }
    let keys: Vec<&str> = changes.keys().copied().collect();
    // Deletes of unknown outcome, by key: when each was invoked.
    let mut maybe_deleted: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for op in ops
        .iter()
        .filter(|op| matches!(op.outcome, Outcome::Unknown(_)) && op.may_have_taken_effect())
    {
        let deletes: Vec<&str> = match &op.request {
            Request::Delete { key } => vec![key.as_str()],
            Request::DeleteRange { start, end } => keys
                .iter()
                .copied()
                .filter(|k| crate::history::in_range(k, start, end))
                .collect(),
            Request::Txn { .. } => op
                .request
                .txn_steps()
                .filter_map(|step| match step {
                    TxnStep::Delete { key } => Some(key.as_str()),
                    _ => None,
                })
                .collect(),
            _ => vec![],
        };
        for key in deletes {
            maybe_deleted.entry(key).or_default().push(op.call_ns);
        }
    }
    // A revoke's answer does not say which keys it deleted, and an expiry
    // is in no answer at all: each may delete every key a put attached to
    // its lease, from when it was asked (an expiry from the grant's call).
    let leases = crate::kv::lease_puts(history);
    for op in ops.iter() {
        let id = match op.request {
            Request::LeaseRevoke { id } if op.may_have_taken_effect() => id,
            Request::LeaseGrant { id, ttl }
                if crate::history::may_expire(ttl) && op.may_have_taken_effect() =>
            {
                id
            }
            _ => continue,
        };
        for &key in leases.get(&id).into_iter().flat_map(|keys| keys.keys()) {
            maybe_deleted.entry(key).or_default().push(op.call_ns);
        }
    }
    let compactions: Vec<(usize, i64)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match (&op.request, &op.outcome) {
            // Whatever its outcome: an error (a timeout the client
            // took as a refusal) does not prove it never applied.
            (Request::Compact { revision }, _) => Some((i, *revision)),
            _ => None,
        })
        .collect();
    let mut acknowledged: Vec<(u64, i64, usize)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| Some((op.return_ns, write_revision(op)?, i)))
        .collect();
    acknowledged.sort_unstable();
    let mut violations = Vec::new();
    for (read, op) in ops.iter().enumerate() {
        let linearizable = !op.request.is_serializable();
        // The past revisions it asked for, if any.
        let past: Vec<i64> = match &op.request {
            Request::List { revision, .. } if *revision > 0 => vec![*revision],
            Request::Txn { .. } => op
                .request
                .txn_steps()
                .filter_map(|step| match step {
                    TxnStep::Get { revision, .. } if *revision > 0 => Some(*revision),
                    _ => None,
                })
                .collect(),
            _ => vec![],
        };
        let lowest = past.iter().copied().min();
        match (&op.outcome, lowest) {
            (Outcome::Fail(why), Some(at)) if why.contains(COMPACTED) => {
                let asked = compactions
                    .iter()
                    .any(|&(c, rev)| rev > at && ops[c].call_ns < op.return_ns);
                if !asked {
                    violations.push(Violation::CompactedWithoutCompaction { read, at });
                }
            }
            (Outcome::Fail(why), Some(_)) if why.contains(FUTURE) && linearizable => {
                let highest = past.iter().copied().max().unwrap_or(0);
                let before = acknowledged
                    .iter()
                    .take_while(|&&(ret, _, _)| ret < op.call_ns)
                    .filter(|&&(_, rev, _)| rev >= highest)
                    .last();
                if let Some(&(_, revision, write)) = before {
                    violations.push(Violation::FutureRevisionTooEarly {
                        read,
                        write,
                        at: highest,
                        revision,
                    });
                }
            }
            (Outcome::Ok(response), Some(at)) => {
                let highest = past.iter().copied().max().unwrap_or(0);
                if highest > response.revision() {
                    violations.push(Violation::ReadAtFutureRevision {
                        read,
                        at: highest,
                        header: response.revision(),
                    });
                }
                let passed = compactions.iter().find(|&&(c, rev)| {
                    rev > at
                        && matches!(ops[c].outcome, Outcome::Ok(_))
                        && ops[c].return_ns < op.call_ns
                });
                if let (Some(&(compaction, _)), true) = (passed, linearizable) {
                    violations.push(Violation::ReadBelowCompaction {
                        read,
                        compaction,
                        at,
                    });
                }
            }
            _ => {}
        }
        for read_at in reads_at(op, read, &keys) {
            check_read_at(&read_at, op, &changes, &maybe_deleted, &mut violations);
        }
    }
    violations
}

/// The reads of `op` that state their revision: a list or get at its
/// header revision or at the past one it asked for; a txn's gets at a past
/// revision. (A txn's gets at its own revision see its earlier steps:
/// the search checks those.)
fn reads_at<'h>(op: &'h Operation, read: usize, keys: &[&'h str]) -> Vec<ReadAt<'h>> {
    let Outcome::Ok(response) = &op.outcome else {
        return vec![];
    };
    let header = response.revision();
    let found = |kvs: &'h [(String, KeyValue)], key: &str| {
        kvs.iter().find(|(k, _)| k == key).map(|(_, kv)| kv)
    };
    match (&op.request, response) {
        (Request::Get { key, .. }, Response::Get { kv, .. }) => vec![ReadAt {
            read,
            at: header,
            seen: vec![(key.as_str(), kv.as_ref())],
        }],
        (Request::Range { prefix, .. }, Response::Range { kvs, .. }) => vec![ReadAt {
            read,
            at: header,
            seen: keys
                .iter()
                .filter(|k| k.starts_with(prefix.as_str()))
                .map(|&k| (k, found(kvs, k)))
                .collect(),
        }],
        (
            Request::List {
                start,
                end,
                revision,
                count_only: false,
                order,
                ..
            },
            Response::List { kvs, .. },
        ) if !order.is_plain() => {
            // A key it did not return may have been filtered out, or
            // ranked beyond its limit: only what it returned is seen.
            vec![ReadAt {
                read,
                at: if *revision > 0 { *revision } else { header },
                seen: kvs.iter().map(|(k, kv)| (k.as_str(), Some(kv))).collect(),
            }]
        }
        (
            Request::List {
                start,
                end,
                revision,
                count_only: false,
                ..
            },
            Response::List { kvs, more, .. },
        ) => {
            let last = kvs.last().map(|(k, _)| k.as_str());
            vec![ReadAt {
                read,
                at: if *revision > 0 { *revision } else { header },
                seen: keys
                    .iter()
                    .filter(|k| crate::history::in_range(k, start, end))
                    .filter(|&&k| !*more || last.is_some_and(|last| k <= last))
                    .map(|&k| (k, found(kvs, k)))
                    .collect(),
            }]
        }
        (Request::Txn { .. }, Response::Txn { .. }) => op
            .request
            .taken_steps(response)
            .filter_map(|(step, result)| match (step, result) {
                (TxnStep::Get { key, revision }, StepResult::Get { kv, .. }) if *revision > 0 => {
                    Some(ReadAt {
                        read,
                        at: *revision,
                        seen: vec![(key.as_str(), kv.as_ref())],
                    })
                }
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

fn check_read_at(
    read_at: &ReadAt<'_>,
    op: &Operation,
    changes: &BTreeMap<&str, BTreeMap<i64, (Option<&str>, usize)>>,
    maybe_deleted: &BTreeMap<&str, Vec<u64>>,
    violations: &mut Vec<Violation>,
) {
    let ReadAt { read, at, .. } = *read_at;
    for &(key, kv) in &read_at.seen {
        let history = changes.get(key);
        match kv {
            Some(kv) if kv.mod_revision > at => violations.push(Violation::ModRevisionAfterRead {
                read,
                key: key.to_string(),
                mod_revision: kv.mod_revision,
                at,
            }),
            Some(kv) => {
                let later = history
                    .filter(|_| kv.mod_revision < at)
                    .and_then(|h| h.range(kv.mod_revision + 1..=at).next());
                if let Some((&revision, &(_, write))) = later {
                    violations.push(Violation::StaleAtRevision {
                        read,
                        write,
                        key: key.to_string(),
                        revision,
                        at,
                    });
                }
            }
            None => {
                let latest = history.and_then(|h| h.range(..=at).next_back());
                let Some((&revision, &(Some(_), write))) = latest else {
                    continue;
                };
                let may_be_deleted = maybe_deleted
                    .get(key)
                    .is_some_and(|calls| calls.iter().any(|&call| call < op.return_ns));
                if !may_be_deleted {
                    violations.push(Violation::MissingAtRevision {
                        read,
                        write,
                        key: key.to_string(),
                        revision,
                        at,
                    });
                }
            }
        }
    }
}
