//! The watch check: what watchers received, judged against the history.
//!
//! etcd's watch guarantees (the API guarantees page of etcd 3.4, and the
//! robustness tests etcd added after #15220, #17247, #17529, #18089), per
//! watcher:
//!
//! - **ordered**: revisions never go back; a response's events are in
//!   revision order and each response starts after the previous one;
//! - **unique**: no event is delivered twice;
//! - **atomic**: the events of one revision come in one response;
//! - **reliable** (and with it **resumable**, since the watchers here
//!   resume across reconnects): every write the history acknowledged at a
//!   revision `r` in the watcher's range and at or after its start is
//!   delivered, with its key, kind and value, once the watcher has been
//!   told of any revision `>= r` (by an event or a progress notification);
//! - **bookmarkable**: after a progress notification at `R`, no event at a
//!   revision `<= R` arrives;
//!
//! and across watchers: they **agree** on what happened at each revision
//! to each key they both saw. Every event must also be **explained**: a
//! put's value was written by some request of the history, with the create
//! revision and version every read of that value showed (a delete's key
//! has neither); and a cancel's `compact_revision` names a compaction some
//! client asked for.
//!
//! Each rule is one pass over the logs returning [`WatchViolation`]s with
//! their evidence.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::history::{History, Request};
#[cfg(test)]
use crate::history::{Outcome, Response};

/// What an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    /// The key was set.
    Put,
    /// The key was deleted.
    Delete,
}

/// One event as a watcher received it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WatchEvent {
    /// The revision of the change (the key-value's `mod_revision`).
    pub revision: i64,
    /// The key.
    pub key: String,
    /// Put or delete.
    pub kind: EventKind,
    /// The value put; empty for a delete.
    pub value: String,
    /// The key's create revision after the change: 0 for a delete, and in
    /// logs written before it was recorded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub create_revision: i64,
    /// The key's version after the change: 0 for a delete, and in logs
    /// written before it was recorded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl WatchEvent {
    /// The change itself (revision, key, kind, value), which the history
    /// tells of a write, without what only a read shows.
    pub fn change(&self) -> (i64, &str, EventKind, &str) {
        (self.revision, &self.key, self.kind, &self.value)
    }
}

/// One response a watcher received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// Events, in the order received.
    Events(Vec<WatchEvent>),
    /// A progress notification at this header revision.
    Progress(i64),
    /// The watch was cancelled: its position was compacted at this
    /// revision. Nothing after it counts.
    Compacted(i64),
}

/// Everything one watcher received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatcherLog {
    /// Which watcher.
    pub watcher: u32,
    /// It watched every key with this prefix.
    pub prefix: String,
    /// It asked for events from this revision on.
    pub start_revision: i64,
    /// The responses, in order.
    pub deliveries: Vec<Delivery>,
    /// Its client closed it after the last of them: it owes nothing it had
    /// not been told of, and has nothing left to catch up.
    #[serde(default)]
    pub closed: bool,
}

/// A broken watch guarantee, with its evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchViolation {
    /// An event at `revision` came after one at `after`.
    OutOfOrder {
        /// The watcher.
        watcher: u32,
        /// The revision already seen.
        after: i64,
        /// The revision that came later.
        revision: i64,
    },
    /// The same event arrived twice.
    Duplicate {
        /// The watcher.
        watcher: u32,
        /// The event.
        event: WatchEvent,
    },
    /// The events of `revision` came in more than one response.
    Split {
        /// The watcher.
        watcher: u32,
        /// The revision.
        revision: i64,
    },
    /// An acknowledged write never arrived, though later revisions did.
    Missing {
        /// The watcher.
        watcher: u32,
        /// The write, as the history has it.
        expected: WatchEvent,
        /// What the watcher got for that key at that revision, if anything.
        got: Option<WatchEvent>,
    },
    /// An event at or below a progress notification's revision came after it.
    ProgressAhead {
        /// The watcher.
        watcher: u32,
        /// The notification's revision.
        progress: i64,
        /// The later event's revision.
        revision: i64,
    },
    /// The watch was cancelled as compacted at `compact_revision`, though
    /// the next revision it needed, `next`, was above it.
    CompactedAhead {
        /// The watcher.
        watcher: u32,
        /// The revision after its last event (or its start).
        next: i64,
        /// The compaction the cancel named.
        compact_revision: i64,
    },
    /// An event older than the revision the watch asked to start from.
    BeforeStart {
        /// The watcher.
        watcher: u32,
        /// The revision it asked to start from.
        start: i64,
        /// The older event's revision.
        revision: i64,
    },
    /// Two watchers saw different changes of one key at one revision.
    Disagree {
        /// One watcher and its event.
        first: (u32, WatchEvent),
        /// The other and its event.
        second: (u32, WatchEvent),
    },
    /// A put of a value that no request of the history wrote.
    Unexplained {
        /// The watcher.
        watcher: u32,
        /// The event.
        event: WatchEvent,
    },
    /// An event's create revision or version no store holds, or differs
    /// from what a read of the same value showed.
    WrongKeyValue {
        /// The watcher.
        watcher: u32,
        /// The event.
        event: WatchEvent,
        /// Which field, and both values.
        detail: String,
    },
    /// A cancel named a compaction no client asked for.
    UnaskedCompaction {
        /// The watcher.
        watcher: u32,
        /// The revision the cancel named.
        compact_revision: i64,
    },
}

impl fmt::Display for WatchViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Checks every rule of the module docs on `logs` against `history`.
pub fn check_watches(history: &History, logs: &[WatcherLog]) -> Vec<WatchViolation> {
    let writes = acknowledged_writes(history);
    let written = written_values(history);
    let read = read_key_values(history);
    let written_at: BTreeMap<(&str, &str), i64> = writes
        .iter()
        .filter(|w| w.kind == EventKind::Put)
        .map(|w| ((w.key.as_str(), w.value.as_str()), w.revision))
        .collect();
    let compactions = asked_compactions(history);
    let mut violations = Vec::new();
    for log in logs {
        violations.extend(ordered_unique_atomic(log));
        violations.extend(bookmarkable(log));
        violations.extend(from_start(log));
        violations.extend(cancelled_for_cause(log));
        violations.extend(compacted_as_asked(log, &compactions));
        violations.extend(reliable(log, &writes));
        violations.extend(explained(log, &written));
        violations.extend(key_values_as_read(log, &read, &written_at));
    }
    violations.extend(agree(logs));
    violations
}

/// The deliveries that count: everything before a compaction's cancel.
fn counted(log: &WatcherLog) -> impl Iterator<Item = &Delivery> {
    log.deliveries
        .iter()
        .take_while(|d| !matches!(d, Delivery::Compacted(_)))
}

fn events(log: &WatcherLog) -> impl Iterator<Item = &WatchEvent> {
    counted(log).flat_map(|d| match d {
        Delivery::Events(events) => events.as_slice(),
        _ => &[],
    })
}

/// Ordered, unique and atomic: revisions never go back, no event twice,
/// no revision in two responses.
pub fn ordered_unique_atomic(log: &WatcherLog) -> Vec<WatchViolation> {
    let watcher = log.watcher;
    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    let mut last = i64::MIN;
    for delivery in counted(log) {
        let Delivery::Events(events) = delivery else {
            continue;
        };
        let first_of_response = last;
        for event in events {
            if !seen.insert(event) {
                violations.push(WatchViolation::Duplicate {
                    watcher,
                    event: event.clone(),
                });
            } else if event.revision < last {
                violations.push(WatchViolation::OutOfOrder {
                    watcher,
                    after: last,
                    revision: event.revision,
                });
            } else if event.revision == first_of_response {
                violations.push(WatchViolation::Split {
                    watcher,
                    revision: event.revision,
                });
            }
            last = last.max(event.revision);
        }
    }
    violations
}

/// Bookmarkable: no event at or below a progress notification after it.
pub fn bookmarkable(log: &WatcherLog) -> Vec<WatchViolation> {
    let mut violations = Vec::new();
    let mut progress = i64::MIN;
    for delivery in counted(log) {
        match delivery {
            Delivery::Progress(at) => progress = progress.max(*at),
            Delivery::Events(events) => {
                for e in events.iter().filter(|e| e.revision <= progress) {
                    violations.push(WatchViolation::ProgressAhead {
                        watcher: log.watcher,
                        progress,
                        revision: e.revision,
                    });
                }
            }
            Delivery::Compacted(_) => {}
        }
    }
    violations
}

/// Cancelled for cause: a compaction cancel names a compaction at or above
/// the next revision the watcher needed.
pub fn cancelled_for_cause(log: &WatcherLog) -> Vec<WatchViolation> {
    let Some(compact_revision) = log.deliveries.iter().find_map(|d| match d {
        Delivery::Compacted(at) => Some(*at),
        _ => None,
    }) else {
        return Vec::new();
    };
    let next = events(log)
        .map(|e| e.revision + 1)
        .max()
        .unwrap_or(0)
        .max(log.start_revision);
    if next <= compact_revision {
        return Vec::new();
    }
    vec![WatchViolation::CompactedAhead {
        watcher: log.watcher,
        next,
        compact_revision,
    }]
}

/// From its start: no event below the revision the watch started from.
pub fn from_start(log: &WatcherLog) -> Vec<WatchViolation> {
    events(log)
        .filter(|e| e.revision < log.start_revision)
        .map(|e| WatchViolation::BeforeStart {
            watcher: log.watcher,
            start: log.start_revision,
            revision: e.revision,
        })
        .collect()
}

/// Reliable: every acknowledged write in the watcher's range, from its
/// start up to the highest revision it was told of, arrived as written.
pub fn reliable(log: &WatcherLog, writes: &[WatchEvent]) -> Vec<WatchViolation> {
    let told = counted(log)
        .map(|d| match d {
            Delivery::Events(events) => events.iter().map(|e| e.revision).max().unwrap_or(0),
            Delivery::Progress(at) => *at,
            Delivery::Compacted(_) => 0,
        })
        .max()
        .unwrap_or(0);
    let got: BTreeMap<(i64, &str), &WatchEvent> = events(log)
        .map(|e| ((e.revision, e.key.as_str()), e))
        .collect();
    writes
        .iter()
        .filter(|w| w.revision >= log.start_revision && w.revision <= told)
        .filter(|w| w.key.starts_with(&log.prefix))
        .filter_map(|w| {
            let found = got.get(&(w.revision, w.key.as_str())).copied();
            (found.map(WatchEvent::change) != Some(w.change())).then(|| WatchViolation::Missing {
                watcher: log.watcher,
                expected: w.clone(),
                got: found.cloned(),
            })
        })
        .collect()
}

/// Explained: every put's value was written by some request.
pub fn explained(log: &WatcherLog, written: &BTreeSet<&str>) -> Vec<WatchViolation> {
    events(log)
        .filter(|e| e.kind == EventKind::Put && !written.contains(e.value.as_str()))
        .map(|e| WatchViolation::Unexplained {
            watcher: log.watcher,
            event: e.clone(),
        })
        .collect()
}

/// Compacted as asked: a cancel's compact revision is one some client
/// asked to compact at (whatever its answer: a compaction whose answer was
/// lost may still apply). etcd-sim compacts only when asked.
pub fn compacted_as_asked(log: &WatcherLog, compactions: &BTreeSet<i64>) -> Vec<WatchViolation> {
    log.deliveries
        .iter()
        .filter_map(|d| match d {
            Delivery::Compacted(at) if *at > 0 && !compactions.contains(at) => {
                Some(WatchViolation::UnaskedCompaction {
                    watcher: log.watcher,
                    compact_revision: *at,
                })
            }
            _ => None,
        })
        .collect()
}

/// Explained key-values: a put comes at the revision its write was
/// acknowledged at, if it was (values are unique); a delete's key has no
/// create revision or version; a put's key has ones a store can hold
/// (version 1 exactly when created at the change), and the ones every read
/// of the same value showed.
pub fn key_values_as_read(
    log: &WatcherLog,
    read: &BTreeMap<(&str, &str), (i64, i64)>,
    written_at: &BTreeMap<(&str, &str), i64>,
) -> Vec<WatchViolation> {
    events(log)
        .filter_map(|e| {
            let written = written_at.get(&(e.key.as_str(), e.value.as_str()));
            let detail = match written {
                Some(&at) if e.kind == EventKind::Put && at != e.revision => format!(
                    "put event of {}={:?} at revision {}, but its write was acknowledged at {at}",
                    e.key, e.value, e.revision
                ),
                _ => key_value_wrong(e, read)?,
            };
            Some(WatchViolation::WrongKeyValue {
                watcher: log.watcher,
                event: e.clone(),
                detail,
            })
        })
        .collect()
}

/// What is wrong with `event`'s create revision and version, if anything
/// (see [`key_values_as_read`]). A put recorded without them is not judged.
fn key_value_wrong(
    event: &WatchEvent,
    read: &BTreeMap<(&str, &str), (i64, i64)>,
) -> Option<String> {
    let (create, version) = (event.create_revision, event.version);
    match event.kind {
        EventKind::Delete if create != 0 || version != 0 => Some(format!(
            "delete event create_revision {create} version {version}, but a deleted key has 0 and 0"
        )),
        EventKind::Delete => None,
        EventKind::Put if version == 0 => None,
        EventKind::Put if create > event.revision || (version == 1) != (create == event.revision) => {
            Some(format!(
                "put event create_revision {create} version {version} at mod_revision {}, which no store holds",
                event.revision
            ))
        }
        EventKind::Put => {
            let &(read_create, read_version) = read.get(&(event.key.as_str(), event.value.as_str()))?;
            ((read_create, read_version) != (create, version)).then(|| {
                format!(
                    "put event create_revision {create} version {version}, but a read of the value showed {read_create} and {read_version}"
                )
            })
        }
    }
}

/// Agreement: one change per key and revision across all watchers.
pub fn agree(logs: &[WatcherLog]) -> Vec<WatchViolation> {
    let mut first: BTreeMap<(i64, &str), (u32, &WatchEvent)> = BTreeMap::new();
    let mut violations = Vec::new();
    for log in logs {
        for e in events(log) {
            let (watcher, seen) = *first
                .entry((e.revision, e.key.as_str()))
                .or_insert((log.watcher, e));
            if seen != e {
                violations.push(WatchViolation::Disagree {
                    first: (watcher, seen.clone()),
                    second: (log.watcher, e.clone()),
                });
            }
        }
    }
    violations
}

/// The changes the history acknowledged, each at its revision (a txn's
/// or a delete-range's several, in key order).
pub fn acknowledged_writes(history: &History) -> Vec<WatchEvent> {
    history
        .operations
        .iter()
        .flat_map(|op| op.writes_at_revision())
        .map(|(key, value, revision)| WatchEvent {
            revision,
            key: key.to_string(),
            kind: if value.is_some() {
                EventKind::Put
            } else {
                EventKind::Delete
            },
            value: value.unwrap_or_default().to_string(),
            create_revision: 0,
            version: 0,
        })
        .collect()
}

/// The create revision and version reads of the history showed with each
/// (key, value): the first read's (the KV invariants hold the others to
/// it).
fn read_key_values(history: &History) -> BTreeMap<(&str, &str), (i64, i64)> {
    let mut read = BTreeMap::new();
    for op in &history.operations {
        for (key, kv) in op.observed() {
            read.entry((key, kv.value.as_str()))
                .or_insert((kv.create_revision, kv.version));
        }
    }
    read
}

/// Every revision some client asked to compact at.
fn asked_compactions(history: &History) -> BTreeSet<i64> {
    history
        .operations
        .iter()
        .filter_map(|op| match op.request {
            Request::Compact { revision } => Some(revision),
            _ => None,
        })
        .collect()
}

/// Every value any request tried to write, whatever its outcome.
fn written_values(history: &History) -> BTreeSet<&str> {
    history
        .operations
        .iter()
        .flat_map(|op| op.request.written_values())
        .map(|(_, value)| value)
        .collect()
}

#[cfg(test)]
mod tests;
