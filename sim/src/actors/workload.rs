//! Concurrent clients issuing random operations, each one recorded.

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_sim::client::{
    Client, ClientError, Compare, CompareOp, GetOptions, Op, SortOrder, SortTarget, Txn, TxnOp,
};
use etcd_sim::perturb::Perturbations;
use etcd_sim::proto::etcdserverpb::{response_op, RangeResponse, ResponseHeader, ResponseOp};
use etcd_sim::proto::mvccpb;
use etcd_sim_checker::{
    self as history, CompareTarget, KeyValue, Operation, Outcome, Relation, Request, Response,
    StepResult, TxnStep,
};
use madsim::rand::{thread_rng, Rng};

use crate::actors::context::ClientContext;
use crate::cluster::clock::Clock;
use crate::shape::op_mix::{OpMix, TurnKind};

/// Every key the workload uses starts with this.
pub const KEY_PREFIX: &str = "k";

/// The prefix of the election's keys: apart from the workload's keys, so
/// that the lists and watchers of those do not see them.
pub const ELECTION_PREFIX: &str = "e/";

pub use crate::shape::traffic::Traffic;

/// The shape of the client load.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Which traffic the clients drive.
    pub traffic: Traffic,
    /// Operations each client issues (at most, with `duration`).
    pub ops_per_client: usize,
    /// Simulated time each client keeps issuing operations for, from its
    /// first: a long-haul run. `None`: until it has issued `ops_per_client`.
    pub duration: Option<Duration>,
    /// Keys `k0`, `k1`, … the clients contend on.
    pub keys: usize,
    /// How long a client waits for an answer before giving up (the outcome
    /// is then unknown). Longer than the server's request timeout, so that
    /// the server's own, more precise, error usually arrives first.
    pub deadline: Duration,
    /// Perturbation sites of the clients (`slow-client-read`).
    pub perturbations: Perturbations,
    /// How often etcd traffic takes each kind of turn.
    pub mix: OpMix,
    /// Percent of turns that first compact a little below the newest
    /// revision seen, as an operator's auto-compaction would.
    pub compaction_percent: u32,
    /// Bytes of padding after each value's unique name: large values make
    /// snapshots of several MiB.
    pub value_padding: usize,
}

impl Workload {
    /// The numbers of the turns a client takes from now: `ops_per_client`
    /// of them, fewer if `duration` runs out first.
    pub fn turns(&self, clock: Clock) -> impl Iterator<Item = usize> {
        let until = self
            .duration
            .map(|d| clock.now_ns().saturating_add(d.as_nanos() as u64));
        (0..self.ops_per_client).take_while(move |_| until.is_none_or(|end| clock.now_ns() < end))
    }

    /// Client `id`'s value for its turn `seq`: unique (`c<id>-<seq>`), so
    /// a read names the write it saw, then padded.
    pub fn value(&self, id: u32, seq: usize) -> String {
        let mut value = format!("c{id}-{seq}");
        if self.value_padding > 0 {
            value.push('.');
            value.push_str(&"x".repeat(self.value_padding));
        }
        value
    }
}

/// Runs KV client `ctx.id` (etcd traffic), recording every operation.
///
/// Values are unique (`c<id>-<seq>`, and `-<n>` for the n-th put of a
/// txn), so a read names the write it saw. The mix (etcd robustness's
/// etcd traffic with etcd's client patterns, percent of turns; the table
/// is in docs/campaigns.md): puts 10, linearizable gets 8, serializable
/// gets 4, deletes 5, compare-and-set txns expecting the last value this
/// client saw 9, ranges over every key 7, multi-key txns 8, delete-ranges
/// with prev_kv 4, reads at a past revision 7 (a key or every key, some
/// serializable), paginated lists 6 (limit 1 or 2, the next pages at the
/// first page's revision from after its last key), count-only and
/// keys-only lists 4, txns that read a past revision and write 4,
/// compactions raced by a read of the compacted revision 6 (ErrCompacted
/// must come exactly when it should), lease grants 2 (ids the client
/// chooses; one in three short, to expire, the others an hour long), puts
/// attached to one of the client's leases 4 and revokes of one 2 (etcd
/// robustness's PutWithLease and LeaseRevoke), txns with several compares
/// mixing targets and relations 4, STM read-modify-writes 2, sorted and
/// filtered lists 3, elections 1; and now and then a compaction a little
/// below the newest revision seen, as an operator's auto-compaction
/// would, or at the revision of a delete just made. Compactions are
/// operations of the history: the checker needs them to tell a legal
/// ErrCompacted.
pub async fn run_client(ctx: ClientContext, workload: Workload) {
    let client = ctx.client().with_perturbations(workload.perturbations);
    client.prefer_endpoint(thread_rng().gen_range(0..ctx.endpoints.len()));
    let mut c = Turn::new(&ctx, &client, &workload);
    for seq in workload.turns(ctx.clock) {
        if thread_rng().gen_range(0..100) < workload.compaction_percent {
            c.compact(c.newest_revision - 5).await;
        }
        let key = c.key();
        let value = workload.value(ctx.id, seq);
        let request = match workload.mix.pick(&mut thread_rng()) {
            TurnKind::Put => Request::Put {
                key,
                value,
                lease: 0,
            },
            TurnKind::Get => Request::Get {
                key,
                serializable: false,
            },
            TurnKind::SerializableGet => Request::Get {
                key,
                serializable: true,
            },
            TurnKind::Delete => Request::Delete { key },
            TurnKind::Cas => {
                let expected = c.seen.get(&key).and_then(|(v, _)| v.clone());
                Request::Cas {
                    key,
                    expected,
                    value,
                }
            }
            TurnKind::Range => Request::Range {
                prefix: KEY_PREFIX.to_string(),
                serializable: false,
            },
            TurnKind::MultiKeyTxn => c.multi_key_txn(&value),
            TurnKind::DeleteRange => {
                let (start, end) = c.span();
                Request::DeleteRange { start, end }
            }
            TurnKind::PastRead => {
                let (start, end) = if thread_rng().gen_bool(0.5) {
                    (key, String::new())
                } else {
                    c.span()
                };
                Request::List {
                    start,
                    end,
                    revision: c.past_revision(),
                    limit: 0,
                    keys_only: false,
                    count_only: false,
                    serializable: thread_rng().gen_bool(0.3),
                    order: Default::default(),
                }
            }
            TurnKind::PaginatedList => {
                c.paginated_list().await;
                c.pause(None).await;
                continue;
            }
            TurnKind::CountOrKeysOnly => {
                let count_only = thread_rng().gen_bool(0.5);
                Request::List {
                    start: KEY_PREFIX.to_string(),
                    end: prefix_end(KEY_PREFIX),
                    revision: 0,
                    limit: 0,
                    keys_only: !count_only,
                    count_only,
                    serializable: false,
                    order: Default::default(),
                }
            }
            TurnKind::PastReadTxn => Request::Txn {
                compares: vec![],
                success: vec![
                    TxnStep::Get {
                        key: c.key(),
                        revision: c.past_revision().max(1),
                    },
                    TxnStep::Put {
                        key,
                        value,
                        lease: 0,
                    },
                ],
                failure: vec![],
            },
            TurnKind::CompactionRace => {
                c.compaction_race().await;
                c.pause(None).await;
                continue;
            }
            TurnKind::LeaseGrant => c.lease_grant(),
            TurnKind::PutWithLease => match c.some_lease() {
                Some(lease) => Request::Put { key, value, lease },
                None => c.lease_grant(),
            },
            TurnKind::LeaseRevoke => match c.some_lease() {
                Some(id) => Request::LeaseRevoke { id },
                None => c.lease_grant(),
            },
            TurnKind::MultiCompareTxn => c.multi_compare_txn(&value),
            TurnKind::Stm => {
                c.stm(&value).await;
                c.pause(None).await;
                continue;
            }
            TurnKind::SortedList => c.sorted_list(),
            TurnKind::Election => {
                c.election(&value).await;
                c.pause(None).await;
                continue;
            }
        };
        let outcome = c.run(&request).await;
        // Compaction racing deletes: more often than not, compact at the
        // very revision of a delete just made, so that the compacted
        // revision's event is a delete (what etcd #18089 lost), and, when
        // no other write came between, the newest revision is compacted
        // (what etcd #17780's restore got wrong).
        if let Outcome::Ok(Response::Delete {
            deleted: 1..,
            revision,
        }) = &outcome
        {
            if thread_rng().gen_range(0..100) < 60 {
                c.compact(*revision).await;
            }
        }
        c.pause(Some(&outcome)).await;
    }
}

/// One client's state between operations.
pub(crate) struct Turn<'a> {
    ctx: &'a ClientContext,
    client: &'a Client,
    workload: &'a Workload,
    /// Each key's value and mod revision as this client last saw them.
    seen: BTreeMap<String, (Option<String>, i64)>,
    newest_revision: i64,
    /// Each key's version as this client last read it (none after its own
    /// write of the key: it does not know the version that left).
    versions: BTreeMap<String, i64>,
    /// Each key as this client last read it whole (create revision and
    /// version too): operands for compares near the truth.
    read: BTreeMap<String, KeyValue>,
    /// The leases this client granted (or may have) and has not revoked.
    leases: Vec<i64>,
    /// How many leases it asked for.
    grants: i64,
}

/// The TTL of a lease the workload lets expire, in seconds (the server
/// raises it to its minimum, 1.5 election timeouts).
const SHORT_LEASE_TTL: i64 = 3;
/// The TTL of a lease that must not expire during a run: an hour, far
/// beyond any run even with a member's clock running four times fast
/// (etcd robustness uses long TTLs too). The checker lets a lease expire
/// only below `EXPIRY_FREE_TTL`.
const LONG_LEASE_TTL: i64 = 3600;
const _: () = assert!(
    SHORT_LEASE_TTL < history::EXPIRY_FREE_TTL && LONG_LEASE_TTL >= history::EXPIRY_FREE_TTL
);

impl<'a> Turn<'a> {
    pub(crate) fn new(ctx: &'a ClientContext, client: &'a Client, workload: &'a Workload) -> Self {
        Turn {
            ctx,
            client,
            workload,
            seen: BTreeMap::new(),
            newest_revision: 0,
            versions: BTreeMap::new(),
            read: BTreeMap::new(),
            leases: Vec::new(),
            grants: 0,
        }
    }

    pub(crate) fn newest_revision(&self) -> i64 {
        self.newest_revision
    }

    pub(crate) fn has_seen(&self, key: &str) -> bool {
        self.seen.contains_key(key)
    }

    /// `key`'s mod revision as last seen (0: absent or never seen).
    pub(crate) fn mod_revision(&self, key: &str) -> i64 {
        self.seen.get(key).map_or(0, |&(_, m)| m)
    }

    pub(crate) fn key(&self) -> String {
        format!(
            "{KEY_PREFIX}{}",
            thread_rng().gen_range(0..self.workload.keys)
        )
    }

    /// A range of keys: all of them, or from one key to a later one.
    fn span(&self) -> (String, String) {
        if thread_rng().gen_bool(0.5) {
            return (KEY_PREFIX.to_string(), prefix_end(KEY_PREFIX));
        }
        let n = self.workload.keys;
        let a = thread_rng().gen_range(0..n);
        let b = thread_rng().gen_range(a + 1..=n);
        (format!("{KEY_PREFIX}{a}"), format!("{KEY_PREFIX}{b}"))
    }

    /// A grant of a new lease with an id of this client's own (clients'
    /// ids never meet, and the server's random 63-bit ones practically
    /// never land this low): one in three short, to expire, the others
    /// long.
    fn lease_grant(&mut self) -> Request {
        self.grants += 1;
        let ttl = if thread_rng().gen_range(0..3) == 0 {
            SHORT_LEASE_TTL
        } else {
            LONG_LEASE_TTL
        };
        Request::LeaseGrant {
            id: (i64::from(self.ctx.id) + 1) * 1_000_000 + self.grants,
            ttl,
        }
    }

    /// One of the leases this client granted and has not revoked.
    fn some_lease(&self) -> Option<i64> {
        if self.leases.is_empty() {
            return None;
        }
        Some(self.leases[thread_rng().gen_range(0..self.leases.len())])
    }

    /// A revision a little in the past (at least 1): maybe compacted.
    pub(crate) fn past_revision(&self) -> i64 {
        (self.newest_revision - thread_rng().gen_range(0..8)).max(1)
    }

    /// Runs and records `request`, and remembers what it showed.
    pub(crate) async fn run(&mut self, request: &Request) -> Outcome {
        let outcome = recorded(self.ctx, self.client, request, self.workload.deadline).await;
        let op = Operation {
            client: self.ctx.id,
            call_ns: 0,
            return_ns: 0,
            request: request.clone(),
            outcome: outcome.clone(),
            served_by: None,
            persisted: None,
        };
        for (key, value, revision) in op.writes_at_revision() {
            self.seen
                .insert(key.to_string(), (value.map(str::to_string), revision));
            self.versions.remove(key);
        }
        for (key, kv) in op.observed() {
            self.seen
                .insert(key.to_string(), (Some(kv.value.clone()), kv.mod_revision));
            self.versions.insert(key.to_string(), kv.version);
            self.read.insert(key.to_string(), kv.clone());
        }
        if let Outcome::Ok(response) = &outcome {
            self.newest_revision = self.newest_revision.max(response.revision());
        }
        match (request, &outcome) {
            (Request::LeaseGrant { .. }, Outcome::Fail(_)) => {}
            (Request::LeaseGrant { id, .. }, _) => self.leases.push(*id),
            // Revoked, not found, or maybe revoked: not used again.
            (Request::LeaseRevoke { id }, _) => self.leases.retain(|l| l != id),
            _ => {}
        }
        outcome
    }

    /// A refused operation is answered at once (no member reachable, no
    /// leader): an application backs off before it tries again rather
    /// than spend its whole load while the cluster is down, which would
    /// leave nothing to check once it is back (a `quiet` seed).
    pub(crate) async fn pause(&self, outcome: Option<&Outcome>) {
        let pause = match outcome {
            Some(Outcome::Fail(_)) => thread_rng().gen_range(200..600),
            _ => thread_rng().gen_range(0..30),
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }

    /// Compacts at `revision`, if there is any history below it.
    pub(crate) async fn compact(&mut self, revision: i64) -> Option<Outcome> {
        if revision < 2 {
            return None;
        }
        Some(self.run(&Request::Compact { revision }).await)
    }

    /// A txn over two or three keys, with a compare on one key's mod
    /// revision (as last seen), create revision, value, version 0, or
    /// version near the one last read with any relation (=, !=, >, <),
    /// and puts, deletes and gets in both branches.
    fn multi_key_txn(&self, value: &str) -> Request {
        let keys = self.some_keys(2..=3);
        let guarded = keys[0].clone();
        let (seen_value, seen_mod) = self.seen.get(&guarded).cloned().unwrap_or((None, 0));
        let seen_version = self.versions.get(&guarded).copied().unwrap_or(0);
        let target = match (thread_rng().gen_range(0..5), seen_value) {
            (0, Some(v)) => CompareTarget::Value(v),
            (1, _) => CompareTarget::CreateRevision(0),
            (2, _) => CompareTarget::Version(0),
            (3, _) => {
                CompareTarget::Version((seen_version + thread_rng().gen_range(-1..=1)).max(1))
            }
            _ => CompareTarget::ModRevision(seen_mod),
        };
        let relation = match target {
            CompareTarget::Version(0) if thread_rng().gen_bool(0.5) => Relation::Greater,
            CompareTarget::Version(0) => Relation::Equal,
            CompareTarget::Version(_) => [
                Relation::Equal,
                Relation::NotEqual,
                Relation::Greater,
                Relation::Less,
            ][thread_rng().gen_range(0..4)],
            _ => Relation::Equal,
        };
        let compares = vec![history::Compare {
            key: guarded,
            target,
            relation,
        }];
        let (success, failure) = branches(&keys, value);
        Request::Txn {
            compares,
            success,
            failure,
        }
    }

    /// Distinct keys, as many as drawn from `count` (at most every key).
    fn some_keys(&self, count: std::ops::RangeInclusive<usize>) -> Vec<String> {
        let mut keys: Vec<String> = (0..self.workload.keys)
            .map(|k| format!("{KEY_PREFIX}{k}"))
            .collect();
        let take = keys.len().min(thread_rng().gen_range(count));
        for i in 0..take {
            let j = thread_rng().gen_range(i..keys.len());
            keys.swap(i, j);
        }
        keys.truncate(take);
        keys
    }

    /// A txn over two or three keys with two to four compares, each on
    /// one of them, mixing every target (value, version, create and mod
    /// revision, lease) with every relation (=, !=, >, <), the operands
    /// near what this client last read (so that both outcomes come), and
    /// puts, deletes and gets in both branches.
    fn multi_compare_txn(&self, value: &str) -> Request {
        let keys = self.some_keys(2..=3);
        let compares = (0..thread_rng().gen_range(2..=4))
            .map(|_| {
                let key = keys[thread_rng().gen_range(0..keys.len())].clone();
                let read = self.read.get(&key);
                let near = |n: i64| (n + thread_rng().gen_range(-1..=1)).max(0);
                let target = match thread_rng().gen_range(0..5) {
                    0 => CompareTarget::Value(match read {
                        Some(kv) if thread_rng().gen_bool(0.7) => kv.value.clone(),
                        _ => self
                            .workload
                            .value(self.ctx.id, thread_rng().gen_range(0..50)),
                    }),
                    1 => CompareTarget::Version(near(read.map_or(0, |kv| kv.version))),
                    2 => {
                        CompareTarget::CreateRevision(near(read.map_or(0, |kv| kv.create_revision)))
                    }
                    3 => CompareTarget::ModRevision(near(self.mod_revision(&key))),
                    _ => CompareTarget::Lease(match self.some_lease() {
                        Some(lease) if thread_rng().gen_bool(0.5) => lease,
                        _ => 0,
                    }),
                };
                let relation = [
                    Relation::Equal,
                    Relation::NotEqual,
                    Relation::Greater,
                    Relation::Less,
                ][thread_rng().gen_range(0..4)];
                history::Compare {
                    key,
                    target,
                    relation,
                }
            })
            .collect();
        let (success, failure) = branches(&keys, value);
        Request::Txn {
            compares,
            success,
            failure,
        }
    }

    /// A sorted and/or filtered list, as etcd's clients ask for them: all
    /// keys or a span, sorted by any target either way (or not), with
    /// min/max mod and create revision filters near the newest revision
    /// seen, often with a limit, now and then keys-only or count-only.
    fn sorted_list(&self) -> Request {
        let (start, end) = self.span();
        let sort_target = [
            history::SortTarget::Key,
            history::SortTarget::Version,
            history::SortTarget::Create,
            history::SortTarget::Mod,
            history::SortTarget::Value,
        ][thread_rng().gen_range(0..5)];
        let sort_order = [
            history::SortOrder::None,
            history::SortOrder::Ascend,
            history::SortOrder::Descend,
        ][thread_rng().gen_range(0..3)];
        let bound = || {
            if thread_rng().gen_bool(0.3) {
                (self.newest_revision - thread_rng().gen_range(0..20)).max(1)
            } else {
                0
            }
        };
        let order = history::ListOrder {
            sort_target,
            sort_order,
            min_mod_revision: bound(),
            max_mod_revision: bound(),
            min_create_revision: bound(),
            max_create_revision: bound(),
        };
        let shape = thread_rng().gen_range(0..10);
        Request::List {
            start,
            end,
            revision: 0,
            limit: if thread_rng().gen_bool(0.6) {
                thread_rng().gen_range(1..=3)
            } else {
                0
            },
            keys_only: shape == 0,
            count_only: shape == 1,
            serializable: false,
            order,
        }
    }
}

/// Both branches of a txn over `keys`: each a put (of a value made
/// unique from `value`), a delete or a get of every key.
fn branches(keys: &[String], value: &str) -> (Vec<TxnStep>, Vec<TxnStep>) {
    {
        let mut n = 0;
        let mut branch = || -> Vec<TxnStep> {
            keys.iter()
                .map(|key| {
                    n += 1;
                    match thread_rng().gen_range(0..3) {
                        0 => TxnStep::Put {
                            key: key.clone(),
                            value: format!("{value}-{n}"),
                            lease: 0,
                        },
                        1 => TxnStep::Delete { key: key.clone() },
                        _ => TxnStep::Get {
                            key: key.clone(),
                            revision: 0,
                        },
                    }
                })
                .collect()
        };
        let success = branch();
        let failure = branch();
        (success, failure)
    }
}

impl Turn<'_> {
    /// A campaign, leadership and resignation as etcd's
    /// `concurrency.Election` runs them. A session lease (3 s, never
    /// renewed, so it may run out mid-campaign as a crashed candidate's
    /// would); a key of its own under the election's prefix, put with
    /// that lease if absent (`create_revision == 0`, else read back: its
    /// create revision is the candidate's place in line); then, until no
    /// candidate created earlier remains, the latest such (a list sorted
    /// by create revision, descending, limit 1, max create revision just
    /// below its own) and a wait for its delete through a watch; then, as
    /// leader, a proclamation (a put guarded on still holding its key);
    /// and the resignation (a delete guarded so) and the lease's revoke.
    /// A wait gives up after 2 s, and the candidate resigns.
    async fn election(&mut self, value: &str) {
        self.grants += 1;
        let lease = (i64::from(self.ctx.id) + 1) * 1_000_000 + self.grants;
        let grant = Request::LeaseGrant {
            id: lease,
            ttl: SHORT_LEASE_TTL,
        };
        if !matches!(self.run(&grant).await, Outcome::Ok(_)) {
            return;
        }
        let key = format!("{ELECTION_PREFIX}{lease:x}");
        let created = |revision| history::Compare {
            key: key.clone(),
            target: CompareTarget::CreateRevision(revision),
            relation: Relation::Equal,
        };
        let campaign = Request::Txn {
            compares: vec![created(0)],
            success: vec![TxnStep::Put {
                key: key.clone(),
                value: format!("{value}-e0"),
                lease,
            }],
            failure: vec![TxnStep::Get {
                key: key.clone(),
                revision: 0,
            }],
        };
        let mine = match self.run(&campaign).await {
            Outcome::Ok(Response::Txn {
                succeeded: true,
                revision,
                ..
            }) => Some(revision),
            Outcome::Ok(Response::Txn { results, .. }) => match results.first() {
                Some(StepResult::Get { kv: Some(kv), .. }) => Some(kv.create_revision),
                _ => None,
            },
            _ => None,
        };
        if let Some(mine) = mine.filter(|&r| r > 1) {
            let mut leader = false;
            for _wait in 0..3 {
                let predecessors = Request::List {
                    start: ELECTION_PREFIX.to_string(),
                    end: prefix_end(ELECTION_PREFIX),
                    revision: 0,
                    limit: 1,
                    keys_only: false,
                    count_only: false,
                    serializable: false,
                    order: history::ListOrder {
                        sort_target: history::SortTarget::Create,
                        sort_order: history::SortOrder::Descend,
                        max_create_revision: mine - 1,
                        ..Default::default()
                    },
                };
                let Outcome::Ok(Response::List { kvs, revision, .. }) =
                    self.run(&predecessors).await
                else {
                    break;
                };
                let Some((predecessor, _)) = kvs.first() else {
                    leader = true;
                    break;
                };
                if !self.deleted(predecessor, revision).await {
                    break;
                }
            }
            if leader {
                let proclaim = Request::Txn {
                    compares: vec![created(mine)],
                    success: vec![TxnStep::Put {
                        key: key.clone(),
                        value: format!("{value}-e1"),
                        lease,
                    }],
                    failure: vec![],
                };
                self.run(&proclaim).await;
            }
            let resign = Request::Txn {
                compares: vec![created(mine)],
                success: vec![TxnStep::Delete { key: key.clone() }],
                failure: vec![],
            };
            self.run(&resign).await;
        }
        self.run(&Request::LeaseRevoke { id: lease }).await;
    }

    /// Waits, at most 2 s, for `key` to be deleted, watching it from
    /// `revision` on; whether it was.
    async fn deleted(&self, key: &str, revision: i64) -> bool {
        use etcd_sim::client::WatchOptions;
        use etcd_sim::proto::mvccpb::event::EventType;
        let mut watch = self
            .client
            .watch(key, WatchOptions::new().from_revision(revision));
        let wait = async {
            while let Some(response) = watch.next().await {
                if response.canceled {
                    return false;
                }
                if response
                    .events
                    .iter()
                    .any(|e| e.r#type == EventType::Delete as i32)
                {
                    return true;
                }
            }
            false
        };
        let deleted = tokio::time::timeout(Duration::from_secs(2), wait)
            .await
            .unwrap_or(false);
        watch.cancel();
        deleted
    }

    /// A read-modify-write of several keys as etcd's `concurrency.STM`
    /// runs one: it reads one to three keys, then commits a txn whose
    /// compares require every key read to still have the mod revision it
    /// was read at (0: absent), and whose success branch writes (puts or
    /// deletes) some of them and maybe one key more; on a conflict it
    /// tries again, at most three times in all. Half the time with
    /// repeatable-read isolation (each key read once, linearizably; a
    /// retry reads afresh), half with serializable snapshot: the first
    /// read is linearizable, the others are serializable reads at its
    /// revision, the txn also requires each key written but not read to
    /// be unmodified since that revision (mod revision < first + 1), and
    /// its failure branch reads every key read, which a retry uses as its
    /// reads (at the txn's revision), as etcd's prefetch does.
    async fn stm(&mut self, value: &str) {
        let snapshot = thread_rng().gen_bool(0.5);
        let reads = self.some_keys(1..=3);
        let mut writes: Vec<String> = reads
            .iter()
            .filter(|_| thread_rng().gen_bool(0.7))
            .cloned()
            .collect();
        let extra = self.key();
        if (writes.is_empty() || thread_rng().gen_bool(0.3)) && !writes.contains(&extra) {
            writes.push(extra);
        }
        // Each key read: its key-value, `None` if absent.
        let mut read: BTreeMap<String, Option<KeyValue>> = BTreeMap::new();
        let mut first = 0;
        for attempt in 0..3 {
            for key in &reads {
                if read.contains_key(key) {
                    continue;
                }
                let request = if snapshot && first > 0 {
                    Request::List {
                        start: key.clone(),
                        end: String::new(),
                        revision: first,
                        limit: 0,
                        keys_only: false,
                        count_only: false,
                        serializable: true,
                        order: Default::default(),
                    }
                } else {
                    Request::Get {
                        key: key.clone(),
                        serializable: false,
                    }
                };
                let kv = match self.run(&request).await {
                    Outcome::Ok(Response::Get { kv, revision, .. }) => {
                        if snapshot && first == 0 {
                            first = revision;
                        }
                        kv
                    }
                    Outcome::Ok(Response::List { kvs, .. }) => {
                        kvs.into_iter().next().map(|(_, kv)| kv)
                    }
                    // etcd's STM returns the error.
                    _ => return,
                };
                read.insert(key.clone(), kv);
            }
            let mut compares: Vec<history::Compare> = read
                .iter()
                .map(|(key, kv)| history::Compare {
                    key: key.clone(),
                    target: CompareTarget::ModRevision(kv.as_ref().map_or(0, |kv| kv.mod_revision)),
                    relation: Relation::Equal,
                })
                .collect();
            if snapshot {
                compares.extend(writes.iter().filter(|k| !read.contains_key(*k)).map(|key| {
                    history::Compare {
                        key: key.clone(),
                        target: CompareTarget::ModRevision(first + 1),
                        relation: Relation::Less,
                    }
                }));
            }
            let success = writes
                .iter()
                .enumerate()
                .map(|(n, key)| {
                    if thread_rng().gen_range(0..5) == 0 {
                        TxnStep::Delete { key: key.clone() }
                    } else {
                        TxnStep::Put {
                            key: key.clone(),
                            value: format!("{value}-s{attempt}-{n}"),
                            lease: 0,
                        }
                    }
                })
                .collect();
            let failure = if snapshot {
                read.keys()
                    .map(|key| TxnStep::Get {
                        key: key.clone(),
                        revision: 0,
                    })
                    .collect()
            } else {
                vec![]
            };
            let request = Request::Txn {
                compares,
                success,
                failure,
            };
            match self.run(&request).await {
                Outcome::Ok(Response::Txn {
                    succeeded: false,
                    results,
                    revision,
                }) => {
                    let prefetched: Vec<Option<KeyValue>> = results
                        .into_iter()
                        .map(|r| match r {
                            StepResult::Get { kv, .. } => kv,
                            _ => None,
                        })
                        .collect();
                    if snapshot && prefetched.len() == read.len() {
                        for (kv, slot) in prefetched.into_iter().zip(read.values_mut()) {
                            *slot = kv;
                        }
                        first = revision;
                    } else {
                        read.clear();
                        first = 0;
                    }
                }
                // Committed, or an error the STM returns.
                _ => return,
            }
            self.pause(None).await;
        }
    }

    /// A list of every key one or two at a time: the first page at the
    /// current revision, each next one at that page's revision from just
    /// after the last key it had, until no more remain or a page fails.
    /// Returns the revision it listed at, if every page came.
    pub(crate) async fn paginated_list(&mut self) -> Option<i64> {
        let limit = thread_rng().gen_range(1..=2);
        let end = prefix_end(KEY_PREFIX);
        let mut start = KEY_PREFIX.to_string();
        let mut revision = 0;
        for _page in 0..=self.workload.keys {
            let request = Request::List {
                start: start.clone(),
                end: end.clone(),
                revision,
                limit,
                keys_only: false,
                count_only: false,
                serializable: false,
                order: Default::default(),
            };
            let Outcome::Ok(Response::List {
                kvs,
                more,
                revision: header,
                ..
            }) = self.run(&request).await
            else {
                return None;
            };
            if revision == 0 {
                revision = header;
            }
            match kvs.last() {
                Some((last, _)) if more => start = format!("{last}\0"),
                _ => return Some(revision),
            }
        }
        None
    }

    /// Compacts two revisions below the newest seen and reads the
    /// revision just below the compaction, and the compacted one, while
    /// it may still be in flight elsewhere.
    async fn compaction_race(&mut self) {
        let at = self.newest_revision - 2;
        let key = self.key();
        if self.compact(at).await.is_none() {
            return;
        }
        for revision in [at - 1, at] {
            let request = Request::List {
                start: key.clone(),
                end: String::new(),
                revision: revision.max(1),
                limit: 0,
                keys_only: false,
                count_only: false,
                serializable: false,
                order: Default::default(),
            };
            self.run(&request).await;
        }
    }
}

/// The end of the range of every key that starts with `prefix`, as the
/// client computes it; the history keeps keys as text.
pub(crate) fn prefix_end(prefix: &str) -> String {
    String::from_utf8(etcd_sim::client::prefix_end(prefix.as_bytes()))
        .expect("a prefix of ASCII below 0x7f ends in ASCII")
}

/// Reads every key once, linearizably, as client `ctx.id`, retrying each
/// read until it succeeds or ten attempts fail.
pub async fn final_reads(ctx: ClientContext, workload: Workload) {
    let client = ctx.client();
    for key in (0..workload.keys).map(|k| format!("{KEY_PREFIX}{k}")) {
        let request = Request::Get {
            key,
            serializable: false,
        };
        for _attempt in 0..10 {
            let outcome = recorded(&ctx, &client, &request, workload.deadline).await;
            if matches!(outcome, Outcome::Ok(_)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Issues `request` through `client` as client `ctx.id` within `deadline`,
/// recording its invocation and completion.
async fn recorded(
    ctx: &ClientContext,
    client: &Client,
    request: &Request,
    deadline: Duration,
) -> Outcome {
    let ClientContext {
        id,
        recorder,
        clock,
        ..
    } = ctx;
    let op = recorder.invoke(*id, clock.now_ns(), request.clone());
    let (outcome, answered_by) =
        match tokio::time::timeout(deadline, execute(client, request)).await {
            Ok(Ok((response, header))) => (Outcome::Ok(response), header),
            Ok(Err(e)) => (failed(&e), None),
            Err(_) => (failed(&ClientError::DeadlineExceeded), None),
        };
    recorder.complete(op, clock.now_ns(), outcome.clone(), answered_by);
    outcome
}

/// Runs `request`; on success, its response and the response header's
/// member id and raft term (who answered, for the report).
async fn execute(
    client: &Client,
    request: &Request,
) -> Result<(Response, Option<(u64, u64)>), ClientError> {
    let mut answered_by = None;
    let mut seen = |header: &Option<ResponseHeader>| {
        answered_by = header.as_ref().map(|h| (h.member_id, h.raft_term));
        revision(header)
    };
    let response = match request {
        Request::Put { key, value, lease } => client
            .put_op(Op::put(key.as_str(), value.as_str()).lease(*lease))
            .await
            .map(|r| Response::Put {
                revision: seen(&r.header),
            }),
        Request::LeaseGrant { id, ttl } => {
            client
                .lease_grant(*ttl, *id)
                .await
                .map(|r| Response::LeaseGrant {
                    revision: seen(&r.header),
                    id: Some(r.id),
                    ttl: Some(r.ttl),
                })
        }
        Request::LeaseRevoke { id } => {
            client
                .lease_revoke(*id)
                .await
                .map(|r| Response::LeaseRevoke {
                    revision: seen(&r.header),
                })
        }
        Request::Get { key, serializable } => {
            let options = GetOptions {
                serializable: *serializable,
                prefix: false,
            };
            client
                .get(key.as_str(), options)
                .await
                .map(|r| Response::Get {
                    kv: r.kvs.first().map(key_value),
                    revision: seen(&r.header),
                    count: Some(r.count),
                    more: r.more,
                })
        }
        Request::Delete { key } => client.delete(key.as_str()).await.map(|r| Response::Delete {
            deleted: r.deleted,
            revision: seen(&r.header),
        }),
        Request::Cas {
            key,
            expected,
            value,
        } => {
            let condition = match expected {
                Some(old) => Compare::value(key.as_str(), CompareOp::Equal, old.as_str()),
                None => Compare::create_revision(key.as_str(), CompareOp::Equal, 0),
            };
            let txn = Txn::new()
                .when([condition])
                .and_then([TxnOp::put(key.as_str(), value.as_str())]);
            client.txn(txn).await.map(|r| Response::Cas {
                succeeded: r.succeeded,
                revision: seen(&r.header),
            })
        }
        Request::Range {
            prefix,
            serializable,
        } => {
            let options = GetOptions {
                serializable: *serializable,
                prefix: true,
            };
            client.get(prefix.as_str(), options).await.map(|r| {
                seen(&r.header);
                range_response(r)
            })
        }
        Request::List {
            start,
            end,
            revision,
            limit,
            keys_only,
            count_only,
            serializable,
            order,
        } => {
            let mut op = Op::get(start.as_str()).revision(*revision).limit(*limit);
            if !order.is_plain() {
                op = op
                    .sort(sort_target(order.sort_target), sort_order(order.sort_order))
                    .min_mod_revision(order.min_mod_revision)
                    .max_mod_revision(order.max_mod_revision)
                    .min_create_revision(order.min_create_revision)
                    .max_create_revision(order.max_create_revision);
            }
            if !end.is_empty() {
                op = op.range_end(end.as_str());
            }
            if *keys_only {
                op = op.keys_only();
            }
            if *count_only {
                op = op.count_only();
            }
            if *serializable {
                op = op.serializable();
            }
            client.get_op(op).await.map(|r| Response::List {
                kvs: pairs(&r.kvs),
                count: r.count,
                more: r.more,
                revision: seen(&r.header),
            })
        }
        Request::DeleteRange { start, end } => {
            let op = Op::delete(start.as_str()).range_end(end.as_str()).prev_kv();
            client.delete_op(op).await.map(|r| Response::DeleteRange {
                prev_kvs: pairs(&r.prev_kvs),
                revision: seen(&r.header),
                deleted: Some(r.deleted),
            })
        }
        Request::Txn {
            compares,
            success,
            failure,
        } => {
            let txn = Txn::new()
                .when(compares.iter().map(compare))
                .and_then(success.iter().map(txn_op))
                .or_else(failure.iter().map(txn_op));
            client.txn(txn).await.map(|r| Response::Txn {
                succeeded: r.succeeded,
                results: r.responses.iter().map(step_result).collect(),
                revision: seen(&r.header),
            })
        }
        Request::Compact { revision } => {
            client
                .compact(*revision, false)
                .await
                .map(|r| Response::Compact {
                    revision: seen(&r.header),
                })
        }
    }?;
    Ok((response, answered_by))
}

fn compare(c: &history::Compare) -> Compare {
    let op = match c.relation {
        Relation::Equal => CompareOp::Equal,
        Relation::NotEqual => CompareOp::NotEqual,
        Relation::Greater => CompareOp::Greater,
        Relation::Less => CompareOp::Less,
    };
    let key = c.key.as_str();
    match &c.target {
        CompareTarget::Value(v) => Compare::value(key, op, v.as_str()),
        CompareTarget::ModRevision(r) => Compare::mod_revision(key, op, *r),
        CompareTarget::CreateRevision(r) => Compare::create_revision(key, op, *r),
        CompareTarget::Version(v) => Compare::version(key, op, *v),
        CompareTarget::Lease(l) => Compare::lease(key, op, *l),
    }
}

fn sort_target(target: history::SortTarget) -> SortTarget {
    match target {
        history::SortTarget::Key => SortTarget::Key,
        history::SortTarget::Version => SortTarget::Version,
        history::SortTarget::Create => SortTarget::Create,
        history::SortTarget::Mod => SortTarget::Mod,
        history::SortTarget::Value => SortTarget::Value,
    }
}

fn sort_order(order: history::SortOrder) -> SortOrder {
    match order {
        history::SortOrder::None => SortOrder::None,
        history::SortOrder::Ascend => SortOrder::Ascend,
        history::SortOrder::Descend => SortOrder::Descend,
    }
}

fn txn_op(step: &TxnStep) -> TxnOp {
    match step {
        TxnStep::Put { key, value, lease } => {
            Op::put(key.as_str(), value.as_str()).lease(*lease).into()
        }
        TxnStep::Delete { key } => TxnOp::delete(key.as_str()),
        TxnStep::Get { key, revision } => Op::get(key.as_str()).revision(*revision).into(),
    }
}

fn step_result(response: &ResponseOp) -> StepResult {
    match &response.response {
        Some(response_op::Response::ResponseRange(r)) => StepResult::Get {
            kv: r.kvs.first().map(key_value),
            count: Some(r.count),
            more: r.more,
        },
        Some(response_op::Response::ResponseDeleteRange(d)) => {
            StepResult::Delete { deleted: d.deleted }
        }
        // The workload's txns hold puts, deletes and gets only.
        _ => StepResult::Put,
    }
}

fn pairs(kvs: &[mvccpb::KeyValue]) -> Vec<(String, KeyValue)> {
    kvs.iter()
        .map(|kv| (String::from_utf8_lossy(&kv.key).into_owned(), key_value(kv)))
        .collect()
}

fn revision(header: &Option<ResponseHeader>) -> i64 {
    header.as_ref().map_or(0, |h| h.revision)
}

fn key_value(kv: &mvccpb::KeyValue) -> KeyValue {
    KeyValue {
        value: String::from_utf8_lossy(&kv.value).into_owned(),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
    }
}

fn range_response(response: RangeResponse) -> Response {
    let kvs = response
        .kvs
        .iter()
        .map(|kv| (String::from_utf8_lossy(&kv.key).into_owned(), key_value(kv)))
        .collect();
    Response::Range {
        kvs,
        revision: revision(&response.header),
        count: Some(response.count),
        more: response.more,
    }
}

/// The outcome of a failed call: `Fail` only when it certainly did not
/// apply, `Unknown` when it may have.
fn failed(error: &ClientError) -> Outcome {
    if error.may_have_taken_effect() {
        Outcome::Unknown(error.to_string())
    } else {
        Outcome::Fail(error.to_string())
    }
}
