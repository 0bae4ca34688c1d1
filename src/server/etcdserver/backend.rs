//! The state machine and its one owner (etcd's backend, behind the applier).
//!
//! Everything applying an entry changes — the key-value store, the leases,
//! the alarms and what members published — is one [`StateMachine`] behind
//! one lock, so that a reader sees all four as of the same applied entry
//! (a hash of the whole state takes one lock, not four in some order).
//!
//! As in etcd, where the applier owns the backend and the API reads through
//! it, the applier holds the [`Backend`]: it alone applies entries and
//! restores snapshots. The rest of the member holds a [`BackendReader`]: it
//! reads, and it keeps lease deadlines, the one part the leader changes
//! outside the log (etcd's lessor renews and demotes without raft).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::alarms::Alarms;
use super::members::Membership;
use crate::mvcc::{FrozenStore, KvStore, RestoreRules, Writeback};
use crate::server::lease::Lessor;

/// The replicated state: a pure function of the applied log (lease
/// deadlines aside: those are each member's own).
pub struct StateMachine {
    /// The key-value store.
    pub store: KvStore,
    /// The leases.
    pub lessor: Lessor,
    /// The raised alarms.
    pub alarms: Alarms,
    /// Who is in the cluster, and what each member published about itself.
    pub members: Membership,
    /// The backend's batch commits done so far.
    batches: Batches,
}

/// How often etcd's backend commits its batch (its default
/// `--backend-batch-interval`).
pub const BATCH_INTERVAL: Duration = Duration::from_millis(100);

/// The backend's periodic batch commits. etcd runs them on a timer; here
/// whoever takes the state machine's lock first after one was due runs
/// it, which nobody can tell apart: a commit changes only what the
/// store's range reads see, and those run under the lock.
#[derive(Default)]
struct Batches {
    /// When the first one was counted from.
    start: Option<Instant>,
    /// How many have been done.
    done: u64,
}

/// What a snapshot replaces, decoded and waiting to be installed (the
/// leases are restored in place: the lessor keeps its role and clock).
pub struct Restored {
    store: KvStore,
    alarms: Alarms,
    members: Membership,
}

impl StateMachine {
    /// An empty state machine around `lessor`.
    pub fn new(lessor: Lessor) -> Self {
        Self {
            store: KvStore::new(),
            lessor,
            alarms: Alarms::default(),
            members: Membership::default(),
            batches: Batches::default(),
        }
    }

    /// This state machine with `rule` for its store's write buffer.
    pub fn with_writeback(mut self, rule: Writeback) -> Self {
        self.store.set_writeback(rule);
        self
    }

    /// Runs the backend's batch commits due by `now`, one every
    /// [`BATCH_INTERVAL`] (two in a row are as good as any more: nothing
    /// was written between them).
    fn commit_due(&mut self, now: Instant) {
        let start = *self.batches.start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start).as_nanos();
        let due = (elapsed / BATCH_INTERVAL.as_nanos()) as u64;
        for _ in self.batches.done..due.min(self.batches.done + 2) {
            self.store.commit_batch();
        }
        self.batches.done = self.batches.done.max(due);
    }

    /// The state as a snapshot holds it: alarms, the membership, leases (ids and TTLs, no deadlines), then the store.
    pub fn encode(&self) -> Vec<u8> {
        let mut data = self.encode_head();
        data.extend(self.store.snapshot());
        data
    }

    /// The state as it is now, cheap to take: what [`Self::encode`] writes
    /// before the store, and the store frozen, to be encoded elsewhere.
    pub fn freeze(&self) -> (Vec<u8>, FrozenStore) {
        (self.encode_head(), self.store.freeze())
    }

    /// What [`Self::encode`] writes before the store.
    fn encode_head(&self) -> Vec<u8> {
        let mut data = self.alarms.encode();
        data.extend(self.members.encode());
        data.extend(self.lessor.encode());
        data
    }

    /// A CRC-32 of the whole state, as a snapshot would hold it.
    pub fn hash(&self) -> u32 {
        crc32fast::hash(&self.encode())
    }

    /// Decodes what [`Self::encode`] wrote: the leases go into this lessor
    /// at once, with deadlines from `now`; the rest waits for
    /// [`Self::install`]. The store is rebuilt by `rules` (see
    /// [`KvStore::restore_with`]).
    pub fn decode(
        &mut self,
        bytes: &[u8],
        now: Instant,
        rules: RestoreRules,
    ) -> Result<Restored, String> {
        let (alarms, rest) = Alarms::decode(bytes).ok_or("its alarms are cut short")?;
        let (members, rest) = Membership::decode(rest).ok_or("its member table is cut short")?;
        let rest = self
            .lessor
            .restore(rest, now)
            .ok_or("its leases are cut short")?;
        let store = KvStore::restore_with(rest, rules).map_err(|e| format!("{e:?}"))?;
        Ok(Restored {
            store,
            alarms,
            members,
        })
    }

    /// Replaces the state with a decoded snapshot's.
    pub fn install(&mut self, restored: Restored) {
        // A decoded store has the default rule; the one it replaces has
        // this member's.
        let rule = self.store.writeback();
        self.store = restored.store;
        self.store.set_writeback(rule);
        self.alarms = restored.alarms;
        self.members = restored.members;
    }
}

/// The state machine's owner: the applier's handle, the only one that
/// changes replicated state.
pub struct Backend(Arc<Mutex<StateMachine>>);

/// The rest of the member's handle on the state machine: reads, and lease
/// deadlines. Cheap to clone.
#[derive(Clone)]
pub struct BackendReader(Arc<Mutex<StateMachine>>);

impl Backend {
    /// The owner of `state`.
    pub fn new(state: StateMachine) -> Self {
        Self(Arc::new(Mutex::new(state)))
    }

    /// A handle for everyone else.
    pub fn reader(&self) -> BackendReader {
        BackendReader(self.0.clone())
    }

    /// Runs `change` on the state machine, alone.
    pub fn write<T>(&self, change: impl FnOnce(&mut StateMachine) -> T) -> T {
        change(&mut lock(&self.0))
    }

    /// Runs `read` on the state machine: what the applier itself looks
    /// at before it changes anything (the quota, a snapshot's copy).
    pub fn read<T>(&self, read: impl FnOnce(&StateMachine) -> T) -> T {
        read(&lock(&self.0))
    }
}

/// The state machine's lock, taken after running the batch commits due.
fn lock(state: &Mutex<StateMachine>) -> MutexGuard<'_, StateMachine> {
    let mut locked = state.lock().unwrap();
    locked.commit_due(Instant::now());
    locked
}

impl BackendReader {
    /// Runs `read` on the state machine as applied so far. Each entry is
    /// applied under the same lock, so `read` sees whole entries only.
    pub fn read<T>(&self, read: impl FnOnce(&StateMachine) -> T) -> T {
        read(&lock(&self.0))
    }

    /// Runs `keep` on the lessor: renewals, demotion and expiry checks,
    /// which change deadlines only, never which leases exist.
    pub fn deadlines<T>(&self, keep: impl FnOnce(&mut Lessor) -> T) -> T {
        keep(&mut lock(&self.0).lessor)
    }
}

#[cfg(test)]
mod tests {
    use super::super::members::MembershipChange;
    use super::*;
    use crate::proto::etcdserverpb::{AlarmType, Member};

    fn empty_state() -> StateMachine {
        StateMachine::new(Lessor::new(2))
    }

    #[test]
    fn a_snapshot_restores_every_part_and_the_hash_sees_each_of_them() {
        let now = Instant::now();
        let mut state = empty_state();
        let empty = state.hash();
        state
            .store
            .apply_put(&crate::mvcc::txn::PutRequest {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                ..Default::default()
            })
            .unwrap();
        let with_key = state.hash();
        state.lessor.grant(7, 10, now).unwrap();
        let with_lease = state.hash();
        state.alarms.activate(1, AlarmType::Nospace);
        let with_alarm = state.hash();
        state.members.apply(MembershipChange::Add(Member {
            id: 1,
            ..Default::default()
        }));
        let full = state.hash();
        let hashes = [empty, with_key, with_lease, with_alarm, full];
        for (i, a) in hashes.iter().enumerate() {
            assert!(hashes[i + 1..].iter().all(|b| a != b), "step {i} unseen");
        }

        let mut restored = empty_state();
        let decoded = restored
            .decode(&state.encode(), now, RestoreRules::default())
            .unwrap();
        assert!(restored.lessor.contains(7), "leases go in at decode");
        assert_eq!(restored.store.current_revision(), 1, "the rest waits");
        restored.install(decoded);
        assert_eq!(restored.hash(), full);
        let (head, frozen) = state.freeze();
        assert_eq!([head, frozen.encode()].concat(), state.encode());
        assert!(restored
            .decode(&state.encode()[..3], now, RestoreRules::default())
            .is_err());
    }
}
