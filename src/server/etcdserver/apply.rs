//! The applier: committed entries in, store changes and woken waiters out.
//!
//! Every member applies every entry in log order, so the store is a pure
//! function of the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use madsim::rand::{thread_rng, Rng};
use prost::Message;
use raft::eraftpb::{Entry, EntryType};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::alarms::Quota;
use super::backend::Backend;
use super::conf_change;
use super::convert::header;
use super::entry::{ApplyResult, Proposal, RaftRequest};
use super::members::MembershipChange;
use super::{ServerError, Wait};
use crate::bugs::{Bug, BugSet};
use crate::coverage::{self, Site};
use crate::crash::{CrashPoint, CrashPoints};
use crate::metrics::Metrics;
use crate::mvcc::{CurrentRevision, KvStore, LoneTombstone, RestoreRules, TombstoneAtCompaction};
use crate::offload::offload;
use crate::proto::etcdserverpb::alarm_request::AlarmAction;
use crate::proto::etcdserverpb::request_op::Request;
use crate::proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, AlarmType, CompactionResponse, LeaseGrantRequest,
    LeaseGrantResponse, LeaseRevokeResponse, Member, RangeRequest, RangeResponse, RequestHeader,
    RequestOp, TxnRequest, TxnResponse,
};
use crate::raft::{Fence, Peer, RaftHandle, SnapshotFile, REMOVED};
use crate::server::lease::attached_keys;

/// Applies committed entries to the store, and snapshots it now and then.
pub struct Applier {
    /// The state machine, which the applier alone changes.
    pub state: Backend,
    /// Writes waiting for their entry to be applied.
    pub writes: Arc<Wait<u64, ApplyResult>>,
    /// Reads waiting for their read index.
    pub reads: Arc<Wait<u64, u64>>,
    /// The index of the last entry applied (etcd's consistent index).
    pub applied: watch::Sender<u64>,
    /// Wakes watch streams and read barriers after each batch (see `watchable.rs`).
    pub watchers: Arc<Notify>,
    /// Counts the snapshots restored, for the watch streams to resync.
    pub restores: Arc<AtomicU64>,
    /// Where snapshots for log compaction go.
    pub raft: RaftHandle,
    /// Applied entries between snapshots.
    pub snapshot_count: u64,
    /// The index of the last snapshot.
    pub last_snapshot: u64,
    /// Where a test may crash this member.
    pub crash: CrashPoints,
    /// Injected bugs (`double-apply` lives here).
    pub bugs: BugSet,
    /// Where lease grants and revocations are counted.
    pub metrics: Metrics,
    /// This member's raft id, to know whether it leads.
    pub member_id: u64,
    /// How much longer than their TTL leases live after a leader change.
    pub promote_extend: Duration,
    /// The backend quota the quota applier checks writes against.
    pub quota: Quota,
    /// Who is removed for good, for the transport to refuse; this
    /// member's own removal stops it.
    pub fence: Fence,
}

impl Applier {
    /// Replaces the state machine with that of the snapshot in `file`,
    /// opened now; `applied` jumps to its index. A snapshot raft saved and
    /// this member cannot open stops it, as etcd panics when it cannot find
    /// a received snapshot's database file.
    pub fn restore(&mut self, file: SnapshotFile) {
        let index = file.index();
        let snapshot = file.open().unwrap_or_else(|e| {
            panic!(
                "member {:x} failed to open the snapshot at index {index}: {e}",
                self.member_id
            )
        });
        let rules = self.restore_rules();
        let restored = self
            .state
            .write(|state| state.decode(&snapshot.data, Instant::now(), rules))
            .unwrap_or_else(|e| panic!("snapshot at index {index} holds no state: {e}"));
        self.crash.reach(CrashPoint::BeforeSnapshotApply);
        let peers = self.state.write(|state| {
            state.install(restored);
            peers(state.members.list())
        });
        // The snapshot's membership replaces the one the log built: the
        // transport sends to its members from now on.
        self.raft.set_peers(peers);
        self.log_membership("restored at", index);
        self.notice_removal();
        self.crash.reach(CrashPoint::AfterSnapshotApply);
        self.last_snapshot = index;
        self.restores.fetch_add(1, Ordering::Relaxed);
        self.applied.send_replace(index);
        self.watchers.notify_waiters();
    }

    /// How a snapshot's store is rebuilt: right, unless a restore bug of
    /// etcd's is switched on.
    fn restore_rules(&self) -> RestoreRules {
        // The bugs: a key whose first record is its delete stays out of
        // the index, so the resumed compaction deletes it (etcd #19179);
        // the current revision is the newest record's after the resumed
        // compaction thinned them (etcd #17780).
        crate::coverage::bug_site(Bug::Etcd19179);
        crate::coverage::bug_site(Bug::Etcd17780);
        RestoreRules {
            lone_tombstone: if self.bugs.has(Bug::Etcd19179) {
                LoneTombstone::Skip
            } else {
                LoneTombstone::Index
            },
            current: if self.bugs.has(Bug::Etcd17780) {
                CurrentRevision::FromRecords
            } else {
                CurrentRevision::Recorded
            },
        }
    }

    /// Applies `entries` in order, wakes their waiters, then publishes the
    /// new applied index.
    pub fn apply_entries(&mut self, entries: Vec<Entry>) {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return;
        };
        let (before_batch, last) = (first.index - 1, last.index);
        let mut applied_a_request = false;
        for entry in entries {
            applied_a_request |= self.apply_entry(entry);
        }
        self.applied.send_replace(last);
        self.watchers.notify_waiters();
        if applied_a_request {
            // The batch's writes are answered and visible to reads here.
            self.crash.reach(CrashPoint::AfterApply);
        }
        self.snapshot_if_due(before_batch, last);
    }

    /// Applies one committed entry and wakes its waiter; whether it
    /// carried a request.
    fn apply_entry(&mut self, entry: Entry) -> bool {
        if entry.get_entry_type() == EntryType::EntryConfChange {
            self.apply_conf_change(&entry);
            return true;
        }
        // Empty entries are the no-ops a new leader appends.
        if entry.get_entry_type() != EntryType::EntryNormal {
            return false;
        }
        if entry.data.is_empty() {
            self.promote_if_leading(entry.term);
            return false;
        }
        // Every member decodes the same bytes the same way: an entry that
        // does not decode would stop them all, here, for good. The API's
        // checks make sure none reaches the log; this is the assertion, and
        // a member that fails it stops (fail-stop).
        let request = RaftRequest::decode(&entry.data)
            .unwrap_or_else(|e| panic!("committed entry {} does not decode: {e}", entry.index));
        let id = request.envelope.header.as_ref().map_or(0, |h| h.id);
        self.crash.reach(CrashPoint::BeforeApply);
        let waited = self.writes.is_registered(&id);
        let result = self.apply(request, waited);
        if let ApplyResult::Compaction(Ok(_)) = result {
            self.snapshot_at_once(entry.index);
        }
        self.crash.reach(CrashPoint::BeforeCommit);
        self.writes.trigger(&id, result);
        self.crash.reach(CrashPoint::AfterCommit);
        true
    }

    /// Applies a committed membership change (etcd's `applyConfChange`):
    /// judged against the membership as it stands, taken by it and by raft
    /// alike if valid, refused on every member alike if not.
    fn apply_conf_change(&mut self, entry: &Entry) {
        // As for any entry: one that does not decode stops every member.
        let (id, change) = conf_change::decode(entry)
            .unwrap_or_else(|e| panic!("committed entry does not decode: {}", e.0));
        self.crash.reach(CrashPoint::ConfChangeBeforeApply);
        let result = self.change_membership(change.clone());
        if result.is_ok() {
            self.crash.reach(CrashPoint::ConfChangeMidApply);
            let peer = match &change {
                MembershipChange::Add(member) => peers(vec![member.clone()]).pop(),
                _ => None,
            };
            // raft starts with the initial members as voters: the entries
            // that bootstrap the membership change nothing of raft's.
            let logged = (id != conf_change::BOOTSTRAP_ID).then_some(entry.index);
            self.raft
                .apply_conf_change(conf_change::encode(&change, id), peer, logged);
            if peer_added(&change, id) {
                // The bug: the newest snapshot is the one before the add.
                crate::coverage::bug_site(Bug::Etcd12473);
                if !self.bugs.has(Bug::Etcd12473) {
                    self.snapshot_at_once(entry.index);
                }
            }
        }
        self.log_membership("at", entry.index);
        self.crash.reach(CrashPoint::BeforeCommit);
        self.writes.trigger(&id, ApplyResult::Membership(result));
        self.crash.reach(CrashPoint::AfterCommit);
        self.notice_removal();
    }

    /// Takes `change` into the membership if it is valid there, and
    /// answers with the members after it.
    fn change_membership(&mut self, change: MembershipChange) -> Result<Vec<Member>, ServerError> {
        // The bug: an update replaces the member's raft attributes whole,
        // learner flag and all.
        crate::coverage::bug_site(Bug::Etcd21694);
        let replaces_attributes = self.bugs.has(Bug::Etcd21694);
        let (result, handed_over) = self.state.write(|state| {
            if let Err(e) = state.members.validate(&change) {
                return (Err(e.into()), false);
            }
            match replaces_attributes {
                true => state.members.apply_replacing_attributes(change),
                false => state.members.apply(change),
            }
            // etcd saves the member in the backend's members bucket.
            (Ok(state.members.list()), state.store.write_elsewhere())
        });
        handed_over_key_bucket(handed_over);
        result
    }

    /// Logs who votes by the membership as of entry `index` (`how`: a
    /// change applied `at` it, or a snapshot `restored at` it), for a
    /// reader to hold against raft's voters and other members'.
    fn log_membership(&self, how: &str, index: u64) {
        let conf = self.state.read(|state| state.members.conf_state());
        tracing::info!(
            target: "etcd_sim::server",
            member = format_args!("{:x}", self.member_id),
            "membership {how} index {index}: {}",
            crate::raft::describe_voters(&conf)
        );
    }

    /// Tells the member to stop once the membership no longer holds it
    /// (etcd: "the member has been permanently removed from the cluster").
    /// The transport refuses every removed member from now on.
    fn notice_removal(&self) {
        let removed = self.state.read(|state| state.members.removed_ids());
        let this_member = removed.contains(&self.member_id);
        self.fence.set_removed(removed);
        if this_member && self.fence.removed_this_member() {
            tracing::warn!(
                target: "etcd_sim::server",
                member = format_args!("{:x}", self.member_id),
                "{REMOVED}"
            );
        }
    }

    /// Snapshots the state machine once `snapshot_count` entries were
    /// applied since the last snapshot; the batch just applied ran from
    /// after `before_batch` to `last`.
    fn snapshot_if_due(&mut self, before_batch: u64, last: u64) {
        if self.snapshot_count == 0 || last.saturating_sub(self.last_snapshot) < self.snapshot_count
        {
            return;
        }
        self.snapshot(before_batch, last);
    }

    /// Snapshots the state machine at once after the entry at `index`,
    /// whatever `snapshot_count` says (with snapshots off there is nothing
    /// to do), where waiting for the count would cost more than a snapshot:
    /// - after a compaction: etcd commits its backend the moment it
    ///   schedules one (`ForceCommit`: a crash must not lose the schedule,
    ///   and a restart resumes it from what the backend holds), and the
    ///   durable copy of this member's store is its snapshot;
    /// - after a member was added to a running cluster: its log is empty,
    ///   and once the leader's log no longer reaches back to the start it
    ///   catches up from the leader's newest snapshot, which raft refuses
    ///   unless its voters and learners hold the new member (the snapshot
    ///   says it is no member), so the member would wait for the next one,
    ///   `snapshot_count` entries away.
    fn snapshot_at_once(&mut self, index: u64) {
        if self.snapshot_count != 0 {
            self.snapshot(index - 1, index);
        }
    }

    /// Snapshots the state machine, which holds every entry up to `last`;
    /// the entries after `before_batch` were applied since the applier
    /// last stopped to publish.
    fn snapshot(&mut self, before_batch: u64, last: u64) {
        crate::coverage::bug_site(Bug::DoubleApply);
        // The snapshot's index is the consistent index: the data holds
        // exactly the entries up to it. The `double-apply` bug takes it from
        // before the batch, so whoever restores this snapshot applies the
        // batch a second time.
        // The `etcd-13766` bug takes it from raft's commit index, which runs
        // ahead of this applier whenever it lags: the snapshot then claims
        // entries its data lacks, and a restore skips them.
        crate::coverage::bug_site(Bug::Etcd13766);
        let index = if self.bugs.has(Bug::DoubleApply) {
            before_batch.max(self.last_snapshot)
        } else if self.bugs.has(Bug::Etcd13766) {
            self.raft.status().commit.max(last)
        } else {
            last
        };
        self.snapshot_in_background(index);
        self.last_snapshot = index;
    }

    /// Freezes the state machine as it is now (every entry up to `index`
    /// applied), and has it encoded and handed to raft for log compaction
    /// while applying goes on. Encoding a large store inside this loop
    /// stalled every write behind it for as long as it took (seconds at
    /// 100,000 keys); freezing copies the records and nothing more.
    fn snapshot_in_background(&self, index: u64) {
        // etcd 3.4 saves the consistent index and commits the backend
        // first (`KV().Commit()`): a key bucket handed over with a stale
        // entry is reset at once.
        let (head, store, conf_state) = self.state.write(|state| {
            state.store.write_elsewhere();
            state.store.commit_batch();
            let (head, store) = state.freeze();
            (head, store, state.members.conf_state())
        });
        let raft = self.raft.clone();
        tokio::spawn(async move {
            let data = offload(move || {
                let mut data = head;
                data.extend(store.encode());
                data
            })
            .await;
            raft.compact(index, conf_state, data);
        });
    }

    /// Wakes the read waiting for `ctx` with the index it must wait for.
    pub fn confirm_read(&self, ctx: &[u8], index: u64) {
        if let Ok(bytes) = ctx.try_into() {
            self.reads.trigger(&u64::from_be_bytes(bytes), index);
        }
    }

    /// etcd promotes the leader's lessor once it applies the empty entry
    /// that opens its term: from then on it alone keeps lease deadlines.
    fn promote_if_leading(&self, term: u64) {
        let status = self.raft.status();
        if status.leader == self.member_id && status.term == term {
            let extend = self.promote_extend;
            self.state
                .write(|state| state.lessor.promote(term, Instant::now(), extend));
        }
    }

    /// Applies one request; `waited` says whether a client waits for its
    /// result on this member. etcd's appliers nest here: the capped one
    /// outside (with NOSPACE raised, nothing may grow the store until an
    /// operator makes room and disarms it), then the quota one, then the
    /// base one.
    fn apply(&mut self, request: RaftRequest, waited: bool) -> ApplyResult {
        let capped = self.state.read(|state| state.alarms.no_space());
        if let Some(refused) = capped.then(|| refused_when_capped(&request)).flatten() {
            return refused;
        }
        let fits = self.fits_quota(&request);
        let applied = self.apply_base(request, waited);
        if fits {
            return applied;
        }
        self.raise_no_space();
        over_quota(applied)
    }

    /// etcd's `quotaApplierV3`: whether a put or txn still fits the quota
    /// as it is applied. The API checked it against the store as it was
    /// then; writes that passed that check together can cross the quota.
    fn fits_quota(&self, request: &RaftRequest) -> bool {
        let cost = match (&request.envelope.put, &request.txn) {
            (Some(put), _) => Quota::put_cost(put),
            (None, Some(txn)) => Quota::txn_cost(txn),
            (None, None) => return true,
        };
        let size = self.state.read(|state| state.store.size_bytes());
        self.quota.allows(size, cost)
    }

    /// Raises NOSPACE through raft unless some member already did, as
    /// etcd's server does for an entry applied as no-space; nobody waits
    /// for it.
    fn raise_no_space(&self) {
        if self.state.read(|state| state.alarms.no_space()) {
            return;
        }
        coverage::hit(Site::NoSpaceRaised);
        let mut entry = AlarmRequest {
            action: AlarmAction::Activate as i32,
            member_id: self.member_id,
            alarm: AlarmType::Nospace as i32,
        }
        .into_entry();
        entry.header = Some(RequestHeader {
            id: thread_rng().gen(),
        });
        let raft = self.raft.clone();
        tokio::spawn(async move { raft.propose(entry.encode_to_vec()).await });
    }

    /// Applies one request, quota or not (etcd's `applierV3backend`).
    fn apply_base(&mut self, request: RaftRequest, waited: bool) -> ApplyResult {
        let RaftRequest {
            envelope: request,
            txn,
        } = request;
        if let Some(alarm) = request.alarm {
            return ApplyResult::Alarm(self.apply_alarm(&alarm));
        }
        if let Some(attributes) = request.member_attr_set {
            let handed_over = self.state.write(|state| {
                // etcd saves the member in the backend's members bucket.
                state.members.publish(attributes) && state.store.write_elsewhere()
            });
            handed_over_key_bucket(handed_over);
            return ApplyResult::MemberAttrSet;
        }
        if let Some(update) = request.member_update {
            let (id, peer_urls) = (update.id, update.peer_ur_ls);
            let result = self.change_membership(MembershipChange::Update { id, peer_urls });
            if let Ok(members) = &result {
                let updated = members.iter().filter(|m| m.id == id).cloned().collect();
                peers(updated)
                    .into_iter()
                    .for_each(|p| self.raft.update_peer(p));
            }
            return ApplyResult::Membership(result);
        }
        if let Some(revoke) = request.lease_revoke {
            return ApplyResult::LeaseRevoke(self.apply_lease_revoke(revoke.id));
        }
        if let Some(grant) = request.lease_grant {
            return ApplyResult::LeaseGrant(self.apply_lease_grant(&grant));
        }
        let (bugs, crash) = (self.bugs, &self.crash);
        self.state.write(|state| {
            let (store, lessor) = (&mut state.store, &state.lessor);
            if let Some(put) = request.put {
                ApplyResult::Put(
                    store
                        .apply_put_with(&put.into(), lessor)
                        .map(Into::into)
                        .map_err(Into::into),
                )
            } else if let Some(delete) = request.delete_range {
                ApplyResult::DeleteRange(Ok(store.apply_delete_range(&delete.into()).into()))
            } else if let Some(mut txn) = txn {
                let reads = |op: &RequestOp| matches!(op.request, Some(Request::RequestRange(_)));
                if !waited && txn.success.iter().chain(&txn.failure).any(reads) {
                    // The bug: nobody reads these ranges' results here, so
                    // they are dropped, and with them their revision checks.
                    crate::coverage::bug_site(Bug::Etcd18667);
                    if bugs.has(Bug::Etcd18667) {
                        txn.success.retain(|op| !reads(op));
                        txn.failure.retain(|op| !reads(op));
                    }
                }
                ApplyResult::Txn(
                    store
                        .apply_txn_with(&txn.into(), lessor)
                        .map(Into::into)
                        .map_err(Into::into),
                )
            } else if let Some(compaction) = request.compaction {
                crash.reach(CrashPoint::BeforeCompactionCommit);
                // The bug: a delete at the compacted revision goes with it.
                crate::coverage::bug_site(Bug::Etcd18089);
                let tombstone = if bugs.has(Bug::Etcd18089) {
                    TombstoneAtCompaction::Drop
                } else {
                    TombstoneAtCompaction::Keep
                };
                let result = store
                    .compact_with(compaction.revision, tombstone)
                    .map(|()| CompactionResponse {
                        header: header(store.current_revision()),
                    });
                crash.reach(CrashPoint::AfterCompactionCommit);
                ApplyResult::Compaction(result.map_err(Into::into))
            } else {
                panic!("committed request has no known body: {request:?}")
            }
        })
    }
}

impl Applier {
    fn apply_lease_grant(
        &self,
        request: &LeaseGrantRequest,
    ) -> Result<LeaseGrantResponse, ServerError> {
        let (ttl, revision) = self.state.write(|state| {
            let ttl = state.lessor.grant(request.id, request.ttl, Instant::now());
            if ttl.is_ok() {
                // etcd's lessor saves the lease in the backend's lease
                // bucket, in a write txn of its own.
                handed_over_key_bucket(state.store.write_elsewhere());
            }
            (ttl, state.store.current_revision())
        });
        let ttl = ttl?;
        self.metrics.lease_granted();
        Ok(LeaseGrantResponse {
            header: header(revision),
            id: request.id,
            ttl,
            error: String::new(),
        })
    }

    /// Forgets the lease and deletes its keys, all in one revision.
    fn apply_lease_revoke(&self, id: i64) -> Result<LeaseRevokeResponse, ServerError> {
        let keeps_old = self.bugs.has(Bug::LeaseReattachKeepsOld);
        let revision = self.state.write(|state| {
            state.lessor.revoke(id)?;
            let keys = attached_keys(&state.store, id, keeps_old);
            let mut txn = state.store.write();
            for key in &keys {
                txn.delete_range(key, &[]);
            }
            // etcd deletes the lease from the backend in the same txn.
            txn.delete_elsewhere();
            Ok::<_, ServerError>(txn.end())
        })?;
        self.metrics.lease_revoked();
        Ok(LeaseRevokeResponse {
            header: header(revision),
        })
    }

    fn apply_alarm(&self, request: &AlarmRequest) -> AlarmResponse {
        let alarm = AlarmType::try_from(request.alarm).unwrap_or(AlarmType::None);
        let changed = self.state.write(|state| {
            let alarms = &mut state.alarms;
            // etcd keeps the alarms in the backend's alarm bucket.
            match AlarmAction::try_from(request.action) {
                Ok(AlarmAction::Get) => alarms.get(alarm),
                Ok(AlarmAction::Activate) => {
                    let raised: Vec<_> = alarms
                        .activate(request.member_id, alarm)
                        .into_iter()
                        .collect();
                    if !raised.is_empty() {
                        handed_over_key_bucket(state.store.write_elsewhere());
                    }
                    raised
                }
                Ok(AlarmAction::Deactivate) => {
                    let disarmed: Vec<_> = alarms
                        .deactivate(request.member_id, alarm)
                        .into_iter()
                        .collect();
                    if !disarmed.is_empty() {
                        state.store.delete_elsewhere();
                    }
                    disarmed
                }
                Err(_) => Vec::new(),
            }
        });
        AlarmResponse {
            header: None,
            alarms: changed,
        }
    }
}

/// Whether `change`, applied under waiter `id`, brought a member to a
/// running cluster (a new cluster's initial members are no such thing).
fn peer_added(change: &MembershipChange, id: u64) -> bool {
    matches!(change, MembershipChange::Add(_)) && id != conf_change::BOOTSTRAP_ID
}

/// Where the transport reaches `members`: each at its first peer URL.
fn peers(members: Vec<Member>) -> Vec<Peer> {
    members
        .into_iter()
        .filter_map(|m| {
            let url = m.peer_ur_ls.into_iter().next()?;
            Some(Peer { id: m.id, url })
        })
        .collect()
}

/// Marks the site of the `etcd-17247` bug when a write txn that wrote
/// outside the key bucket only handed the write buffer's key bucket to the
/// read buffer: where the bug's rule applies.
fn handed_over_key_bucket(handed_over: bool) {
    if handed_over {
        crate::coverage::bug_site(Bug::Etcd17247);
    }
}

/// etcd's `applierV3Capped`: what a request that could grow the store is
/// answered with while NOSPACE is raised (puts, txns that write, lease
/// grants); `None` for the rest, which apply as usual.
fn refused_when_capped(request: &RaftRequest) -> Option<ApplyResult> {
    let RaftRequest { envelope, txn } = request;
    if envelope.put.is_some() {
        Some(ApplyResult::Put(Err(ServerError::NoSpace)))
    } else if txn.as_ref().is_some_and(|t| !is_read_only(t)) {
        Some(ApplyResult::Txn(Err(ServerError::NoSpace)))
    } else if envelope.lease_grant.is_some() {
        Some(ApplyResult::LeaseGrant(Err(ServerError::NoSpace)))
    } else {
        None
    }
}

/// What the quota applier answers for a write it applied past the quota:
/// the write stays applied on every member (raft committed it), but its
/// client is told NOSPACE, as etcd tells it, so a no-space answer does not
/// mean the write did not take effect.
fn over_quota(applied: ApplyResult) -> ApplyResult {
    match applied {
        ApplyResult::Put(Ok(_)) => ApplyResult::Put(Err(ServerError::NoSpace)),
        ApplyResult::Txn(Ok(_)) => ApplyResult::Txn(Err(ServerError::NoSpace)),
        other => other,
    }
}

/// etcd's `isTxnReadonly`: a txn whose ops are all ranges (a nested txn
/// counts as a write). Only such txns skip raft in etcd 3.4, escape the
/// proposal size limit, and pass the capped applier.
pub fn is_read_only(txn: &TxnRequest) -> bool {
    txn.success
        .iter()
        .chain(&txn.failure)
        .all(|op| matches!(op.request, Some(Request::RequestRange(_))))
}

/// etcd's `isTxnSerializable`: a read-only txn whose ranges are all
/// serializable needs no read barrier (an empty one neither).
pub fn is_serializable(txn: &TxnRequest) -> bool {
    txn.success
        .iter()
        .chain(&txn.failure)
        .all(|op| matches!(&op.request, Some(Request::RequestRange(range)) if range.serializable))
}

/// A read-only txn ([`is_read_only`]) against the store as it is, served
/// once the read barrier passed (etcd 3.4's `applyV3Base.Txn` outside
/// raft).
pub fn read_txn(store: &KvStore, txn: &TxnRequest) -> Result<TxnResponse, ServerError> {
    store
        .apply_read_txn(&txn.clone().into())
        .map(Into::into)
        .map_err(Into::into)
}

/// A range against the store as it is, served once the read barrier passed.
pub fn range(
    store: &KvStore,
    request: &RangeRequest,
    bugs: BugSet,
) -> Result<RangeResponse, ServerError> {
    let mut request = request.clone();
    if request.revision > 0 && request.revision < store.current_revision() {
        // The bug: the past revision's bound is off by one.
        crate::coverage::bug_site(Bug::PastReadOffByOne);
        if bugs.has(Bug::PastReadOffByOne) {
            request.revision -= 1;
        }
    }
    let mut response: RangeResponse = store.apply_range(&request.clone().into())?.into();
    if request.limit > 0 && response.more {
        // The bug: `more` is judged from the result already cut to the
        // limit, which never holds more than the limit.
        crate::coverage::bug_site(Bug::ListLimitLosesMore);
        if bugs.has(Bug::ListLimitLosesMore) {
            response.more = response.kvs.len() as i64 > request.limit;
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_txn_skips_the_barrier_only_if_every_range_is_serializable() {
        let range = |serializable| RequestOp {
            request: Some(Request::RequestRange(RangeRequest {
                serializable,
                ..Default::default()
            })),
        };
        let txn = |success, failure| TxnRequest {
            success,
            failure,
            ..Default::default()
        };
        assert!(is_serializable(&txn(vec![range(true)], vec![range(true)])));
        assert!(!is_serializable(&txn(
            vec![range(true)],
            vec![range(false)]
        )));
        assert!(!is_serializable(&txn(vec![range(false)], vec![])));
        // etcd's rule: no range to ask for a barrier, no barrier.
        assert!(is_serializable(&TxnRequest::default()));
    }

    #[test]
    fn a_read_only_txn_is_evaluated_on_the_store_as_it_is() {
        let mut store = KvStore::new();
        store
            .apply_put(&crate::mvcc::txn::PutRequest {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                ..Default::default()
            })
            .unwrap();
        let get = RequestOp {
            request: Some(Request::RequestRange(RangeRequest {
                key: b"k".to_vec(),
                ..Default::default()
            })),
        };
        let read = TxnRequest {
            success: vec![get],
            ..Default::default()
        };
        let response = read_txn(&store, &read).unwrap();
        assert!(response.succeeded);
        assert_eq!(response.header.unwrap().revision, 2);
        assert_eq!(
            store.current_revision(),
            2,
            "a read-only txn writes nothing"
        );
    }
}
