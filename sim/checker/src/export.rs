//! Writing a history in porcupine's kv log format, so that porcupine (or
//! anything else that reads its test data) can check the very history
//! etcd-sim checked, and the two can be timed on the same file.
//!
//! The format is the one porcupine's tests read (see
//! `tests/data/porcupine/FORMAT.md`): one `{:process P, :type T, :f F, :key
//! "K", :value V}` line per call and per return, a line's position being
//! its time. Its model is a map of strings with get, put and append, where
//! an absent key reads as `""`. What carries over:
//!
//! - a put is a put;
//! - a delete is a put of `""` (which is why a put of `""` is refused);
//!   how many keys it deleted is not said, so that one observation is lost;
//! - a linearizable get is a get, reading `""` for an absent key;
//! - a compaction changes no value, and is left out;
//! - an operation that certainly failed took no effect, and is left out,
//!   as is a get that never returned (it observed nothing) and a write the
//!   members' logs showed was never applied;
//! - a write of unknown outcome is a call with no return. porcupine closes
//!   it at the end of the history, so it may take effect at any time after
//!   its call, or, taking effect after everything else, as good as never:
//!   in a model of plain values nothing reads it then. Its client goes on
//!   as a new process, since a process has one operation open at a time
//!   (so does a client that overlaps its own operations);
//! - a write of unknown outcome whose value no get read is left out: in
//!   this model nothing can tell whether it took effect (where it did,
//!   nothing read the key before the next write), so either history is
//!   linearizable exactly when the other is. Left in, each such write is
//!   one more operation that a search may place anywhere up to the end.
//!
//! Anything else (txns, ranges, serializable reads, reads at a past
//! revision, leases) has no counterpart in that model and is refused, naming the
//! operation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fmt::Write as _;

use crate::history::{History, Outcome, Persisted, Request, Response};

/// Why a history cannot be written in porcupine's kv format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError {
    /// The operation's position in the history (0-based).
    pub operation: usize,
    /// What porcupine's model cannot say.
    pub reason: String,
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "operation {}: {}; porcupine's kv model has only get, put and append, so only \
             histories of puts, deletes, linearizable gets and compactions can be written in it",
            self.operation, self.reason
        )
    }
}

impl std::error::Error for ExportError {}

/// One operation as porcupine's model sees it.
#[derive(Clone, Copy)]
enum KvCall<'a> {
    Get { key: &'a str, read: &'a str },
    Put { key: &'a str, value: &'a str },
}

/// `history` in porcupine's kv log format.
pub fn porcupine_kv(history: &History) -> Result<String, ExportError> {
    // (time, is a return, operation, call), calls before returns at equal
    // times, as the search orders them: equal times overlap.
    let read = values_read(history);
    let mut events: Vec<(u64, bool, usize, KvCall)> = Vec::new();
    for (i, op) in history.operations.iter().enumerate() {
        let refuse = |reason: String| ExportError {
            operation: i,
            reason,
        };
        let Some((call, returned)) = exported(&op.request, &op.outcome, op.persisted)
            .map_err(|reason| refuse(reason.to_string()))?
        else {
            continue;
        };
        if let (KvCall::Put { key, value }, false) = (call, returned) {
            if !read.contains(&(key, value)) {
                continue;
            }
        }
        let (key, text) = match call {
            KvCall::Get { key, read } => (key, read),
            KvCall::Put { key, value } => (key, value),
        };
        for s in [key, text] {
            if s.contains(['"', '\\', '\n', '\r']) {
                return Err(refuse(format!(
                    "{s:?} has a quote, backslash or line break, which the format cannot hold"
                )));
            }
        }
        if matches!(call, KvCall::Put { value: "", .. })
            && matches!(op.request, Request::Put { .. })
        {
            return Err(refuse(format!(
                "a put of \"\" to {key:?} would read as a delete"
            )));
        }
        events.push((op.call_ns, false, i, call));
        if returned {
            events.push((op.return_ns, true, i, call));
        }
    }
    events.sort_by_key(|&(time, is_ret, i, _)| (time, is_ret, i));

    let mut process = Processes::new(history);
    let mut out = String::new();
    for (_, is_ret, i, call) in &events {
        let op = &history.operations[*i];
        let p = if *is_ret {
            process.ret(*i)
        } else {
            process.call(*i, op.client)
        };
        let (f, key, value) = match *call {
            KvCall::Get { key, .. } if !is_ret => (":get", key, None),
            KvCall::Get { key, read } => (":get", key, Some(read)),
            KvCall::Put { key, value } => (":put", key, Some(value)),
        };
        let kind = if *is_ret { ":ok" } else { ":invoke" };
        let value = value.map_or("nil".to_string(), |v| format!("\"{v}\""));
        writeln!(
            out,
            "{{:process {p}, :type {kind}, :f {f}, :key \"{key}\", :value {value}}}"
        )
        .expect("writing to a String");
    }
    Ok(out)
}

/// Every `(key, value)` a get read (`""`: the key was absent).
fn values_read(history: &History) -> BTreeSet<(&str, &str)> {
    history
        .operations
        .iter()
        .filter_map(|op| match (&op.request, &op.outcome) {
            (Request::Get { key, .. }, Outcome::Ok(Response::Get { kv, .. })) => {
                Some((key.as_str(), kv.as_ref().map_or("", |kv| kv.value.as_str())))
            }
            _ => None,
        })
        .collect()
}

/// What `request` becomes, and whether it returns; `None`: left out.
fn exported<'a>(
    request: &'a Request,
    outcome: &'a Outcome,
    persisted: Option<Persisted>,
) -> Result<Option<(KvCall<'a>, bool)>, &'static str> {
    let write = |key: &'a str, value: &'a str| {
        let call = KvCall::Put { key, value };
        Ok(match (outcome, persisted) {
            (Outcome::Fail(_), _) | (Outcome::Unknown(_), Some(Persisted::Absent)) => None,
            (Outcome::Ok(_), _) => Some((call, true)),
            (Outcome::Unknown(_), _) => Some((call, false)),
        })
    };
    match request {
        Request::Put {
            key,
            value,
            lease: 0,
        } => write(key, value),
        Request::Put { .. } => Err("a put with a lease (a revoke or expiry deletes its key)"),
        Request::LeaseGrant { .. } | Request::LeaseRevoke { .. } => {
            Err("a lease grant or revoke (a revoke deletes the lease's keys)")
        }
        Request::Delete { key } => write(key, ""),
        Request::Get {
            serializable: true, ..
        } => Err("a serializable get may read a stale value"),
        Request::Get {
            key,
            serializable: false,
        } => Ok(match outcome {
            Outcome::Ok(Response::Get { kv, .. }) => Some((
                KvCall::Get {
                    key,
                    read: kv.as_ref().map_or("", |kv| kv.value.as_str()),
                },
                true,
            )),
            Outcome::Ok(_) => return Err("a get answered by another kind of response"),
            Outcome::Fail(_) | Outcome::Unknown(_) => None,
        }),
        Request::Compact { .. } => Ok(None),
        Request::Range { .. } => Err("a range reads several keys at once"),
        Request::Cas { .. } => Err("a compare-and-set"),
        Request::List { .. } => Err("a list reads several keys, or a past revision"),
        Request::DeleteRange { .. } => Err("a delete-range"),
        Request::Txn { .. } => Err("a txn"),
    }
}

/// The process each operation runs as: its client's, unless that process
/// still has an operation open (one of unknown outcome, left open for
/// good, or one of a client that overlaps its own operations, as the final
/// reads do); the client then goes on as a new process, numbered after
/// every client.
struct Processes {
    home: BTreeMap<u32, u64>,
    open: BTreeSet<u64>,
    of_op: BTreeMap<usize, u64>,
    next: u64,
}

impl Processes {
    fn new(history: &History) -> Self {
        let clients = history.operations.iter().map(|op| op.client).max();
        Processes {
            home: BTreeMap::new(),
            open: BTreeSet::new(),
            of_op: BTreeMap::new(),
            next: clients.map_or(0, |c| u64::from(c) + 1),
        }
    }

    /// The process of operation `i`, of `client`, at its call.
    fn call(&mut self, i: usize, client: u32) -> u64 {
        let home = self.home.entry(client).or_insert(u64::from(client));
        if self.open.contains(home) {
            *home = self.next;
            self.next += 1;
        }
        self.open.insert(*home);
        self.of_op.insert(i, *home);
        *home
    }

    /// The process of operation `i` at its return.
    fn ret(&mut self, i: usize) -> u64 {
        let p = self.of_op.remove(&i).expect("a return follows its call");
        self.open.remove(&p);
        p
    }
}
