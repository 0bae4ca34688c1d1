//! etcd's own guarantees on revisions, checked apart from the search:
//! each is a pure function from a history to the violations it finds.

use std::collections::BTreeMap;
use std::fmt;

use crate::history::{History, Operation, Outcome, Request, Response};

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
        }
    }
}

/// The revision a successful write was applied at, if it changed the store.
fn write_revision(op: &Operation) -> Option<i64> {
    match (&op.request, &op.outcome) {
        (Request::Put { .. }, Outcome::Ok(Response::Put { revision })) => Some(*revision),
        (Request::Delete { .. }, Outcome::Ok(Response::Delete { deleted, revision }))
            if *deleted > 0 =>
        {
            Some(*revision)
        }
        (
            Request::Cas { .. },
            Outcome::Ok(Response::Cas {
                succeeded: true,
                revision,
            }),
        ) => Some(*revision),
        _ => None,
    }
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
    let mut done = 0;
    let mut highest: Option<(i64, usize)> = None;
    for &(call, rev, i) in &by_call {
        while done < by_return.len() && by_return[done].0 < call {
            let (_, r, j) = by_return[done];
            if highest.is_none_or(|(h, _)| r > h) {
                highest = Some((r, j));
            }
            done += 1;
        }
        if let Some((h, j)) = highest {
            if h >= rev {
                violations.push(Violation::RevisionWentBack {
                    earlier: j,
                    later: i,
                });
            }
        }
    }
    violations
}

/// Every value a read returned was written by a write of that key that
/// began before the read ended, and carries that write's revision.
pub fn reads(history: &History) -> Vec<Violation> {
    let ops = &history.operations;
    let mut writers: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        if matches!(op.outcome, Outcome::Fail(_)) {
            continue;
        }
        if let Request::Put { key, value } | Request::Cas { key, value, .. } = &op.request {
            writers.insert((key.as_str(), value.as_str()), i);
        }
    }
    let mut violations = Vec::new();
    for (read, op) in ops.iter().enumerate() {
        let seen: Vec<(&str, &crate::history::KeyValue)> = match &op.outcome {
            Outcome::Ok(Response::Get { kv: Some(kv), .. }) => match &op.request {
                Request::Get { key, .. } => vec![(key.as_str(), kv)],
                _ => continue,
            },
            Outcome::Ok(Response::Range { kvs, .. }) => {
                kvs.iter().map(|(k, kv)| (k.as_str(), kv)).collect()
            }
            _ => continue,
        };
        for (key, kv) in seen {
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
            if let Some(written) = write_revision(&ops[write]) {
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
