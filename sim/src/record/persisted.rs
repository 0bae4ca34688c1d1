//! Persisted requests: what the members' write-ahead logs, read after the
//! run, say of the writes whose clients never learned their outcome.
//!
//! A write that timed out may have taken effect or not, at any time after
//! its call; every such write doubles the orders the checker may have to
//! try. etcd's robustness tests settle many of them from the members' WALs,
//! and so does this module, under two rules that raft guarantees (so a
//! correct cluster never gets a false alarm from them):
//!
//! - **Committed.** An entry at or below a member's persisted commit index
//!   was committed, and a committed entry is applied. If it carries a value
//!   the write asked to write (values are unique, so a `(key, value)` pair
//!   names its request), the write took effect. This holds for a txn
//!   whatever branch it took: the entry shows the request, not its result.
//! - **Absent.** Let `F..=C` be the longest run of indexes ending at the
//!   highest commit index `C` that the members' committed entries cover
//!   between them, and `T` the earliest return of an acknowledged write
//!   found in that run. A write called after `T` comes after that write in
//!   every linearization, hence after it in the log: if it was committed,
//!   its entry is in `F..=C` (the run ends quiet, so `C` is the last
//!   commit). So a write called after `T` whose values no member's log holds
//!   anywhere never took effect.
//!
//! Evidence only narrows what the checker allows, so it can never hide a
//! violation. Writes without a value of their own (deletes, delete-ranges,
//! txns without a put) and writes older than `T` stay unknown; so does a
//! txn whose branch hangs on keys its part of the history does not see.
//! A put with a lease is settled like any put: committed means applied,
//! and the applier may still have refused it for a lease gone by then, so
//! the checker reads "committed" there as "applied with whatever answer
//! the lease's state gave" (a txn guarded on the lease). Lease grants and
//! revokes carry no value and stay unknown.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use etcd_sim::proto::etcdserverpb::{request_op, TxnRequest};
use etcd_sim::raft::wal::Wal;
use etcd_sim::server::etcdserver::RaftRequest;
use etcd_sim::storage::Disk;
use etcd_sim_checker::{History, Outcome, Persisted};
use serde::{Deserialize, Serialize};

/// A `(key, value)` pair a logged request asked to write, as bytes (values
/// may be large; nothing needs them as text).
type Written = (Vec<u8>, Vec<u8>);

/// What the members' logs hold.
#[derive(Debug, Default)]
pub struct PersistedRequests {
    /// Pairs in entries at or below their member's commit index, with the
    /// entry's index.
    committed: BTreeMap<Written, u64>,
    /// Pairs in any entry of any member's log, committed or not.
    logged: BTreeSet<Written>,
    /// The first index of the covered run `F..=C` (see the module docs);
    /// `None` if no member has a committed entry.
    covered_from: Option<u64>,
}

/// How many writes of unknown outcome the logs settled, each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    /// Writes of unknown outcome in the history.
    pub unknown: usize,
    /// Of those, the ones found committed.
    pub committed: usize,
    /// Of those, the ones shown never to have taken effect.
    pub absent: usize,
}

impl Settled {
    /// Adds another run's counts.
    pub fn add(&mut self, other: Settled) {
        self.unknown += other.unknown;
        self.committed += other.committed;
        self.absent += other.absent;
    }
}

impl fmt::Display for Settled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let share = |n: usize| 100.0 * n as f64 / self.unknown.max(1) as f64;
        write!(
            f,
            "writes of unknown outcome: {}; the members' logs showed {} committed ({:.0}%) and {} \
             never applied ({:.0}%)",
            self.unknown,
            self.committed,
            share(self.committed),
            self.absent,
            share(self.absent)
        )
    }
}

impl PersistedRequests {
    /// Reads every member's log. A log that does not read back (a torn or
    /// corrupt file) gives no evidence: the checks that look at members say
    /// what is wrong with it.
    pub fn read<'a>(disks: impl IntoIterator<Item = &'a dyn Disk>) -> Self {
        let mut found = PersistedRequests::default();
        let mut covered = BTreeSet::new();
        for disk in disks {
            let Ok(replay) = Wal::read(disk) else {
                continue;
            };
            let commit = replay.hard_state.commit;
            for entry in &replay.entries {
                // A configuration change or an empty entry decodes to no
                // pair, or not at all.
                let written = RaftRequest::decode(&entry.data)
                    .map(|request| written_by(&request))
                    .unwrap_or_default();
                if entry.index <= commit {
                    covered.insert(entry.index);
                    for pair in &written {
                        found.committed.entry(pair.clone()).or_insert(entry.index);
                    }
                }
                found.logged.extend(written);
            }
        }
        found.covered_from = covered.iter().next_back().map(|&last| {
            let mut first = last;
            while first > 1 && covered.contains(&(first - 1)) {
                first -= 1;
            }
            first
        });
        found
    }

    /// Marks each write of unknown outcome in `history` whose fate the logs
    /// show, and counts them.
    pub fn settle(&self, history: &mut History) -> Settled {
        let in_covered_run = |pair: &Written| matches!((self.committed.get(pair), self.covered_from), (Some(&at), Some(from)) if at >= from);
        let pairs = |request: &etcd_sim_checker::Request| -> Vec<Written> {
            request
                .written_values()
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect()
        };
        // T: the earliest return of an acknowledged write in the run.
        let boundary = history
            .operations
            .iter()
            .filter(|op| matches!(op.outcome, Outcome::Ok(_)))
            .filter(|op| pairs(&op.request).iter().any(in_covered_run))
            .map(|op| op.return_ns)
            .min();
        let mut settled = Settled::default();
        for op in &mut history.operations {
            let written = pairs(&op.request);
            if !matches!(op.outcome, Outcome::Unknown(_)) || written.is_empty() {
                continue;
            }
            settled.unknown += 1;
            op.persisted = if written.iter().any(|p| self.committed.contains_key(p)) {
                settled.committed += 1;
                Some(Persisted::Committed)
            } else if boundary.is_some_and(|t| op.call_ns > t)
                && !written.iter().any(|p| self.logged.contains(p))
            {
                settled.absent += 1;
                Some(Persisted::Absent)
            } else {
                None
            };
        }
        settled
    }
}

/// The `(key, value)` pairs a logged request asks to write, in either
/// branch of a txn and in nested txns.
fn written_by(request: &RaftRequest) -> Vec<Written> {
    let mut written = Vec::new();
    if let Some(put) = &request.envelope.put {
        written.push(pair(&put.key, &put.value));
    }
    if let Some(txn) = &request.txn {
        txn_writes(txn, &mut written);
    }
    written
}

fn txn_writes(txn: &TxnRequest, written: &mut Vec<Written>) {
    for op in txn.success.iter().chain(&txn.failure) {
        match &op.request {
            Some(request_op::Request::RequestPut(put)) => written.push(pair(&put.key, &put.value)),
            Some(request_op::Request::RequestTxn(nested)) => txn_writes(nested, written),
            _ => {}
        }
    }
}

fn pair(key: &[u8], value: &[u8]) -> Written {
    (key.to_vec(), value.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_sim_checker::{Operation, Request, Response};

    fn put(call_ns: u64, value: &str, outcome: Outcome) -> Operation {
        Operation {
            client: 0,
            call_ns,
            return_ns: if matches!(outcome, Outcome::Ok(_)) {
                call_ns + 10
            } else {
                u64::MAX
            },
            request: Request::Put {
                key: "k".into(),
                value: value.into(),
                lease: 0,
            },
            outcome,
            served_by: None,
            persisted: None,
        }
    }

    fn written(value: &str) -> Written {
        (b"k".to_vec(), value.as_bytes().to_vec())
    }

    #[test]
    fn settles_what_the_logs_can_tell_and_nothing_else() {
        // Committed entries 5..=9 between the members: "a" at 6. "b" is
        // logged but not committed; "old" was committed below the run.
        let logs = PersistedRequests {
            committed: [(written("a"), 6), (written("old"), 2)].into(),
            logged: [written("a"), written("old"), written("b")].into(),
            covered_from: Some(5),
        };
        let unknown = || Outcome::Unknown("timed out".into());
        let mut history = History {
            operations: vec![
                put(0, "early", unknown()), // before T: unsettled
                put(100, "a", Outcome::Ok(Response::Put { revision: 3 })), // T = 110
                put(200, "old", unknown()), // committed
                put(200, "b", unknown()),   // logged, uncommitted: unsettled
                put(200, "gone", unknown()), // after T, nowhere: absent
            ],
            ..History::default()
        };
        let settled = logs.settle(&mut history);
        let marks: Vec<Option<Persisted>> =
            history.operations.iter().map(|op| op.persisted).collect();
        assert_eq!(
            marks,
            [
                None,
                None,
                Some(Persisted::Committed),
                None,
                Some(Persisted::Absent)
            ]
        );
        assert_eq!(
            settled,
            Settled {
                unknown: 4,
                committed: 1,
                absent: 1
            }
        );
    }

    #[test]
    fn without_a_covered_run_nothing_is_absent() {
        let logs = PersistedRequests::default();
        let mut history = History {
            operations: vec![
                put(0, "a", Outcome::Ok(Response::Put { revision: 2 })),
                put(100, "gone", Outcome::Unknown("timed out".into())),
            ],
            ..History::default()
        };
        assert_eq!(logs.settle(&mut history).absent, 0);
        assert_eq!(history.operations[1].persisted, None);
    }
}
