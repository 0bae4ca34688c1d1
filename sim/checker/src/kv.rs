//! The etcd-sim KV model, and how a history is cut into independent parts.
//!
//! Per key the state is the key's value or its absence. Operations on
//! different keys commute, so each key's operations are checked on their
//! own (P-compositionality); a range read observes several keys at one
//! instant, and a txn or a delete-range acts on several at one instant, so
//! each joins their parts into one.
//!
//! The model follows values, not revisions: with every written value
//! unique, a key's mod revision names the value it holds, so a compare on
//! a mod revision (or a keys-only read) is translated into one on that
//! value through the history's revision-to-value map. Reads at a past
//! revision and serializable reads are not linearizable events: they are
//! checked against the order of revisions in [`crate::invariants`].
//!
//! # Leases
//!
//! A lease is one more key of the model ([`lease_key`]): present, with a
//! value of its own, from its grant until its revoke. Which lease a key is
//! attached to needs no state of its own: values are unique, and the put
//! that wrote a key's value named its lease (or none), so the key's value
//! says it. A put with a lease is a txn guarded on the lease being live
//! (refused with etcd's "requested lease not found" otherwise, an answer
//! the model checks); a plain put, a txn's put or a delete leaves a value
//! of no lease, which is how they detach the key. A revoke makes the lease
//! absent and deletes, at the same instant, every key whose value was put
//! with it ([`KvOp::Revoke`]); a lease granted with a short TTL may expire,
//! which is a revoke of unknown outcome from the grant's call. For the
//! parts, a lease's key is named by every put with it, its grant and its
//! revoke, and the grant and revoke touch every key ever put with it, so a
//! lease and its keys always share a part.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::history::{
    in_range, lease_not_found, may_expire, Compare, CompareTarget, History, KeyValue, ListOrder,
    Operation, Outcome, Persisted, Relation, Request, Response, StepResult, TxnStep,
};
use crate::search::{Earlier, Model, Timed};

/// A value, interned: `None` is "absent".
type Value = Option<u32>;

/// One operation of the model, with what was observed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// A put (applied, or maybe applied).
    Put { key: usize, value: u32 },
    /// A read that saw `value`.
    Get { key: usize, value: Value },
    /// A delete; `deleted` is what it reported, `None` if unknown.
    Delete { key: usize, deleted: Option<bool> },
    /// A compare-and-set; `succeeded` is `None` if its outcome is unknown.
    Cas {
        key: usize,
        expected: Value,
        value: u32,
        succeeded: Option<bool>,
    },
    /// A range read that saw these values for every key in its range.
    Range { seen: Vec<(usize, Value)> },
    /// A transaction: if every guard holds, the `then` steps, else the
    /// `otherwise` ones. `complete` says the guards are all the txn's
    /// compares (some may be on keys of another part, or untranslatable):
    /// only then does a failure say one of them broke.
    Txn {
        guards: Vec<Need>,
        complete: bool,
        then: Vec<Step>,
        otherwise: Vec<Step>,
        succeeded: Option<bool>,
    },
    /// A delete of every key in `keys`; `prev` is what they held just
    /// before, as its answer said (`None`: unknown outcome).
    DeleteRange {
        keys: Vec<usize>,
        prev: Option<Vec<Value>>,
    },
    /// A range that counted `count` present keys among `keys`, and saw
    /// these values for the keys of `seen`, at one instant: a count-only
    /// range sees none; a page cut short by its limit sees the keys it
    /// returned, and its count says how many lie beyond them.
    Count {
        seen: Vec<(usize, Value)>,
        keys: Vec<usize>,
        count: usize,
    },
    /// A read that needs every one of `needs` at one instant, and, with
    /// a `count`, that many present keys among `keys`: a sorted or
    /// filtered range, which says of each key it did not return only that
    /// the key was absent, filtered out or ranked after its last one.
    Filtered {
        needs: Vec<Need>,
        keys: Vec<usize>,
        count: Option<usize>,
    },
    /// A lease revoke (or expiry): the lease's key (see [`lease_key`];
    /// `None` when it is in another part) becomes absent, and each key of
    /// `attached` whose value is one of the values put with this lease is
    /// deleted, all at once. `found` is what the revoke answered: `true`
    /// it existed, `false` "lease not found", `None` unknown (a revoke of
    /// a lease that is not live then changes nothing).
    Revoke {
        lease: Option<usize>,
        attached: Vec<(usize, Vec<u32>)>,
        found: Option<bool>,
    },
}

/// One step of a [`KvOp::Txn`] branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// A put.
    Put(usize, u32),
    /// A delete that reported deleting (`Some(true)`) or not, or unknown.
    Delete(usize, Option<bool>),
    /// A read that saw this value (`None`: nothing known, as for a read
    /// at a past revision or of a txn of unknown outcome).
    Get(usize, Option<Value>),
    /// The branch puts with the lease whose key this is: etcd refuses the
    /// whole txn unless the lease is live.
    Live(usize),
}

impl KvOp {
    /// Every (key, value) this operation may leave, wherever it is legal.
    fn may_leave(&self) -> Vec<(usize, Value)> {
        let mut left = Vec::new();
        self.may_leave_any(|key, value| {
            left.push((key, value));
            false
        });
        left
    }

    /// Whether `found` holds for some (key, value) this operation may leave,
    /// wherever it is legal. The search asks this of every pending
    /// operation at every step, so it allocates nothing.
    fn may_leave_any(&self, mut found: impl FnMut(usize, Value) -> bool) -> bool {
        match *self {
            KvOp::Put { key, value } => found(key, Some(value)),
            KvOp::Cas {
                key,
                value,
                succeeded,
                ..
            } if succeeded != Some(false) => found(key, Some(value)),
            KvOp::Delete { key, deleted } if deleted != Some(false) => found(key, None),
            KvOp::Txn {
                ref then,
                ref otherwise,
                succeeded,
                ..
            } => {
                let branches: &[&Vec<Step>] = match succeeded {
                    Some(true) => &[then],
                    Some(false) => &[otherwise],
                    None => &[then, otherwise],
                };
                branches
                    .iter()
                    .flat_map(|b| b.iter())
                    .any(|step| match *step {
                        Step::Put(k, v) => found(k, Some(v)),
                        Step::Delete(k, d) if d != Some(false) => found(k, None),
                        _ => false,
                    })
            }
            KvOp::DeleteRange { ref keys, .. } => keys.iter().any(|&k| found(k, None)),
            KvOp::Revoke {
                lease,
                ref attached,
                found: lived,
            } if lived != Some(false) => {
                lease.is_some_and(|l| found(l, None))
                    || attached.iter().any(|&(k, _)| found(k, None))
            }
            _ => false,
        }
    }

    /// The branch a txn takes in `state`, if its outcome is possible there.
    fn branch<'a>(
        state: &[Value],
        guards: &[Need],
        complete: bool,
        then: &'a [Step],
        otherwise: &'a [Step],
        succeeded: Option<bool>,
    ) -> Option<&'a [Step]> {
        let hold = guards.iter().all(|g| g.holds(state));
        let took_then = match (succeeded, complete) {
            (Some(true), _) => hold.then_some(true)?,
            (Some(false), true) => (!hold).then_some(false)?,
            (Some(false), false) => false,
            (None, _) => hold,
        };
        Some(if took_then { then } else { otherwise })
    }
}

/// The state is every key's value, indexed by key.
pub struct KvModel {
    /// How many keys the part has.
    pub keys: usize,
}

impl Model for KvModel {
    type State = Vec<Value>;
    type Op = KvOp;

    fn init(&self) -> Vec<Value> {
        vec![None; self.keys]
    }

    fn step(&self, state: &Vec<Value>, op: &KvOp) -> Option<Vec<Value>> {
        match *op {
            KvOp::Put { key, value } => Some(with(state, key, Some(value))),
            KvOp::Get { key, value } => (state[key] == value).then(|| state.clone()),
            KvOp::Delete { key, deleted } => match deleted {
                Some(d) if d != state[key].is_some() => None,
                _ => Some(with(state, key, None)),
            },
            KvOp::Cas {
                key,
                expected,
                value,
                succeeded,
            } => {
                let holds = state[key] == expected;
                match succeeded {
                    Some(s) if s != holds => None,
                    _ if holds => Some(with(state, key, Some(value))),
                    _ => Some(state.clone()),
                }
            }
            KvOp::Range { ref seen } => sees(state, seen).then(|| state.clone()),
            KvOp::Txn {
                ref guards,
                complete,
                ref then,
                ref otherwise,
                succeeded,
            } => {
                let branch = KvOp::branch(state, guards, complete, then, otherwise, succeeded)?;
                let mut next = state.clone();
                for step in branch {
                    match *step {
                        Step::Put(k, v) => next[k] = Some(v),
                        // The lease must be live.
                        Step::Live(l) => {
                            next[l]?;
                        }
                        Step::Delete(k, d) => {
                            if d.is_some_and(|d| d != next[k].is_some()) {
                                return None;
                            }
                            next[k] = None;
                        }
                        Step::Get(k, seen) => {
                            if seen.is_some_and(|v| v != next[k]) {
                                return None;
                            }
                        }
                    }
                }
                Some(next)
            }
            KvOp::DeleteRange { ref keys, ref prev } => {
                if let Some(prev) = prev {
                    if keys.iter().zip(prev).any(|(&k, &v)| state[k] != v) {
                        return None;
                    }
                }
                let mut next = state.clone();
                for &k in keys {
                    next[k] = None;
                }
                Some(next)
            }
            KvOp::Count {
                ref seen,
                ref keys,
                count,
            } => (sees(state, seen)
                && keys.iter().filter(|&&k| state[k].is_some()).count() == count)
                .then(|| state.clone()),
            KvOp::Filtered {
                ref needs,
                ref keys,
                count,
            } => (needs.iter().all(|n| n.holds(state))
                && count.is_none_or(|count| {
                    keys.iter().filter(|&&k| state[k].is_some()).count() == count
                }))
            .then(|| state.clone()),
            KvOp::Revoke {
                lease,
                ref attached,
                found,
            } => {
                let live = lease.map(|l| state[l].is_some());
                match (found, live) {
                    (Some(false), Some(true)) | (Some(true), Some(false)) => None,
                    // A revoke of a lease that is not live changes nothing.
                    (Some(false), _) | (None, Some(false)) => Some(state.clone()),
                    _ => {
                        let mut next = state.clone();
                        if let Some(l) = lease {
                            next[l] = None;
                        }
                        for (k, values) in attached {
                            if next[*k].is_some_and(|v| values.contains(&v)) {
                                next[*k] = None;
                            }
                        }
                        Some(next)
                    }
                }
            }
        }
    }

    /// An operation needs some keys to hold (or not hold) some values
    /// where it is linearized. Call the operations of `before` that may
    /// change a key so that a need holds its *remedies*. A need fails for
    /// certain if it does not hold now and has no remedy, or if an
    /// operation certain to come first certainly breaks it and every
    /// remedy must come before that one: after it, nothing can put the key
    /// right before the operation. A range needs every key it saw.
    fn may_become_legal<'a>(
        &self,
        state: &Vec<Value>,
        op: &KvOp,
        before: impl Iterator<Item = Earlier<'a, KvOp>>,
    ) -> bool {
        if matches!(
            op,
            KvOp::Range { .. }
                | KvOp::Count { .. }
                | KvOp::Filtered { .. }
                | KvOp::Txn { .. }
                | KvOp::DeleteRange { .. }
        ) {
            let mut prospects: Vec<Prospect> = needs(op).map(Prospect::new).collect();
            Prospect::weigh(&mut prospects, before);
            prospects.iter().all(|p| p.may_hold(state))
        } else {
            let Some(need) = needs(op).next() else {
                return true;
            };
            let mut prospect = [Prospect::new(need)];
            Prospect::weigh(&mut prospect, before);
            prospect[0].may_hold(state)
        }
    }

    /// A range needs several keys at once: a write of any of them matters,
    /// even while another key is still to be written.
    fn affected(&self, before: &Vec<Value>, after: &Vec<Value>, op: &KvOp) -> bool {
        needs(op).any(|need| before[need.key()] != after[need.key()])
    }

    fn is_read(&self, op: &KvOp) -> bool {
        if let KvOp::Txn {
            then,
            otherwise,
            succeeded,
            ..
        } = op
        {
            let branches: &[&Vec<Step>] = match succeeded {
                Some(true) => &[then],
                Some(false) => &[otherwise],
                None => &[then, otherwise],
            };
            return branches.iter().all(|branch| {
                branch
                    .iter()
                    .all(|step| matches!(step, Step::Get(..) | Step::Live(_)))
            });
        }
        matches!(
            op,
            KvOp::Get { .. }
                | KvOp::Range { .. }
                | KvOp::Count { .. }
                | KvOp::Filtered { .. }
                | KvOp::Delete {
                    deleted: Some(false),
                    ..
                }
                | KvOp::Cas {
                    succeeded: Some(false),
                    ..
                }
                | KvOp::Revoke {
                    found: Some(false),
                    ..
                }
        )
    }
}

/// What an operation's observed outcome requires of one key's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Need {
    /// The key holds this value.
    Is(usize, Value),
    /// The key holds anything but this value.
    IsNot(usize, Value),
    /// The key holds one of these values (sorted): where a compare on a
    /// revision, version or lease holds, or what a filtered range may have
    /// left out.
    OneOf(usize, Arc<[Value]>),
}

impl Need {
    fn key(&self) -> usize {
        match *self {
            Need::Is(key, _) | Need::IsNot(key, _) | Need::OneOf(key, _) => key,
        }
    }

    fn met_by(&self, value: Value) -> bool {
        match self {
            Need::Is(_, v) => value == *v,
            Need::IsNot(_, v) => value != *v,
            Need::OneOf(_, values) => values.binary_search(&value).is_ok(),
        }
    }

    fn holds(&self, state: &[Value]) -> bool {
        self.met_by(state[self.key()])
    }

    /// Whether no value meets it.
    fn never_holds(&self) -> bool {
        matches!(self, Need::OneOf(_, values) if values.is_empty())
    }

    /// The need that the key holds one of `values` (any order, repeats
    /// allowed), as the simplest variant that says it.
    fn one_of(key: usize, mut values: Vec<Value>) -> Need {
        values.sort_unstable();
        values.dedup();
        match values.as_slice() {
            [v] => Need::Is(key, *v),
            _ => Need::OneOf(key, values.into()),
        }
    }

    /// Whether `op` may change the key to a value that meets the need.
    fn may_be_met_by(&self, op: &KvOp) -> bool {
        op.may_leave_any(|key, value| key == self.key() && self.met_by(value))
    }

    /// Whether `op`, wherever it is legal, leaves the key with a value that
    /// does not meet the need.
    fn certainly_broken_by(&self, op: &KvOp) -> bool {
        let left = match *op {
            KvOp::Put { key, value } => Some((key, Some(value))),
            KvOp::Cas {
                key,
                value,
                succeeded: Some(true),
                ..
            } => Some((key, Some(value))),
            KvOp::Delete {
                key,
                deleted: Some(_),
            } => Some((key, None)),
            _ => None,
        };
        left.is_some_and(|(key, value)| key == self.key() && !self.met_by(value))
    }
}

/// What the operations that may come first do to one need: the latest
/// return of a remedy, and the latest call of a forced breaker (see
/// [`KvModel::may_become_legal`]).
struct Prospect {
    need: Need,
    last_remedy_ret: Option<usize>,
    last_breaker_call: Option<usize>,
}

impl Prospect {
    fn new(need: Need) -> Self {
        Prospect {
            need,
            last_remedy_ret: None,
            last_breaker_call: None,
        }
    }

    fn weigh<'a>(prospects: &mut [Prospect], before: impl Iterator<Item = Earlier<'a, KvOp>>) {
        for w in before {
            for p in prospects.iter_mut() {
                if p.need.may_be_met_by(w.op) {
                    p.last_remedy_ret = p.last_remedy_ret.max(Some(w.ret));
                }
                if w.forced && p.need.certainly_broken_by(w.op) {
                    p.last_breaker_call = p.last_breaker_call.max(Some(w.call));
                }
            }
        }
    }

    /// Whether the need may hold where the operation is linearized: it
    /// holds now or has a remedy, and no forced breaker comes after every
    /// remedy.
    fn may_hold(&self, state: &[Value]) -> bool {
        let remedied = self.last_remedy_ret.is_some();
        let broken_for_good = match (self.last_breaker_call, self.last_remedy_ret) {
            (Some(breaker), Some(remedy)) => remedy < breaker,
            (Some(_), None) => true,
            (None, _) => false,
        };
        (self.need.holds(state) || remedied) && !broken_for_good
    }
}

/// The needs that make `op` legal, all of which must hold at once (a
/// delete or compare-and-set of unknown outcome, or a put, is always legal).
/// A txn known to have succeeded needs its guards; a delete-range with a
/// known answer needs the values it reported deleting. (Fewer needs than
/// the truth is safe: they only prune.)
fn needs(op: &KvOp) -> impl Iterator<Item = Need> + '_ {
    let single = match *op {
        KvOp::Get { key, value } => Some(Need::Is(key, value)),
        KvOp::Delete {
            key,
            deleted: Some(true),
        } => Some(Need::IsNot(key, None)),
        KvOp::Delete {
            key,
            deleted: Some(false),
        } => Some(Need::Is(key, None)),
        KvOp::Cas {
            key,
            expected,
            succeeded: Some(true),
            ..
        } => Some(Need::Is(key, expected)),
        KvOp::Cas {
            key,
            expected,
            succeeded: Some(false),
            ..
        } => Some(Need::IsNot(key, expected)),
        KvOp::Revoke {
            lease: Some(l),
            found: Some(found),
            ..
        } => Some(if found {
            Need::IsNot(l, None)
        } else {
            Need::Is(l, None)
        }),
        _ => None,
    };
    let seen: &[(usize, Value)] = match op {
        KvOp::Range { seen } | KvOp::Count { seen, .. } => seen,
        _ => &[],
    };
    let filtered: &[Need] = match op {
        KvOp::Filtered { needs, .. } => needs,
        _ => &[],
    };
    let guards: &[Need] = match op {
        KvOp::Txn {
            guards,
            succeeded: Some(true),
            ..
        } => guards,
        _ => &[],
    };
    let deleted = match op {
        KvOp::DeleteRange {
            keys,
            prev: Some(prev),
        } => Some((keys, prev)),
        _ => None,
    };
    single
        .into_iter()
        .chain(seen.iter().map(|&(key, value)| Need::Is(key, value)))
        .chain(guards.iter().cloned())
        .chain(filtered.iter().cloned())
        .chain(
            deleted
                .into_iter()
                .flat_map(|(keys, prev)| keys.iter().zip(prev).map(|(&k, &v)| Need::Is(k, v))),
        )
}

/// Whether every key of `seen` holds the value it was seen with.
fn sees(state: &[Value], seen: &[(usize, Value)]) -> bool {
    seen.iter().all(|&(key, value)| state[key] == value)
}

fn with(state: &[Value], key: usize, value: Value) -> Vec<Value> {
    let mut next = state.to_vec();
    next[key] = value;
    next
}

/// The operations of one independent part of a history.
pub struct Part {
    /// The keys it covers, in order.
    pub keys: Vec<String>,
    /// Indices into the history's operations.
    pub members: Vec<usize>,
    /// Whether the part holds every key its operations touch (false for
    /// the keys of a joined part checked apart, see [`keys_apart`]).
    pub whole: bool,
}

/// Whether an operation constrains the linearization: failed operations,
/// and those of unknown outcome the logs show [`Persisted::Absent`], never
/// happened, reads whose answer was lost tell nothing, and
/// serializable reads and reads at a past revision are not linearizable
/// (they are checked apart, against the order of revisions); nor is a
/// compaction, which changes no value.
pub fn participates(op: &Operation) -> bool {
    // etcd's "lease not found" changed nothing, but says the lease was not
    // live when it was applied: the model checks that.
    let lease_refused = lease_not_found(&op.outcome)
        && match op.request {
            Request::Put { lease, .. } => lease != 0,
            Request::LeaseRevoke { .. } => true,
            Request::Txn { .. } => refused_for_its_lease(op).is_some(),
            _ => false,
        };
    if lease_refused {
        return true;
    }
    if !op.may_have_taken_effect() {
        return false;
    }
    match (&op.request, &op.outcome) {
        (Request::Compact { .. }, _) => false,
        (Request::Get { serializable, .. } | Request::Range { serializable, .. }, outcome) => {
            !serializable && matches!(outcome, Outcome::Ok(_))
        }
        (
            Request::List {
                serializable,
                revision,
                ..
            },
            outcome,
        ) => !serializable && *revision == 0 && matches!(outcome, Outcome::Ok(_)),
        _ => true,
    }
}

/// The model's name for lease `id`: a key of its own, present (holding a
/// value of its own) while the lease is live. No workload key starts with
/// a NUL, and ranges never cover these (see [`is_lease_key`]), so a lease
/// joins the parts of the keys attached to it like any other key.
pub fn lease_key(id: i64) -> String {
    format!("\u{0}lease/{id}")
}

/// Whether `key` is a lease's key (see [`lease_key`]), which no range covers.
pub fn is_lease_key(key: &str) -> bool {
    key.starts_with("\u{0}lease/")
}

/// For each lease, every key some put attached (or tried to attach) to
/// it, with the values those puts wrote: the keys its revoke or expiry may
/// delete, and the values that say a key is still attached to it.
pub fn lease_puts(history: &History) -> BTreeMap<i64, BTreeMap<&str, Vec<&str>>> {
    let mut leases: BTreeMap<i64, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
    for op in &history.operations {
        let puts: Vec<(&str, &str, i64)> = match &op.request {
            Request::Put { key, value, lease } => vec![(key, value, *lease)],
            request => request
                .txn_steps()
                .filter_map(|step| match step {
                    TxnStep::Put { key, value, lease } => {
                        Some((key.as_str(), value.as_str(), *lease))
                    }
                    _ => None,
                })
                .collect(),
        };
        for (key, value, lease) in puts.into_iter().filter(|p| p.2 != 0) {
            leases
                .entry(lease)
                .or_default()
                .entry(key)
                .or_default()
                .push(value);
        }
    }
    leases
}

/// The leases an operation names: a put's or a txn's puts' leases, a
/// grant's, a revoke's.
fn lease_of(op: &Operation) -> Vec<i64> {
    match op.request {
        Request::Put { lease, .. } if lease != 0 => vec![lease],
        Request::LeaseGrant { id, .. } | Request::LeaseRevoke { id } => vec![id],
        Request::Txn { .. } => txn_leases(&op.request, None),
        _ => vec![],
    }
}

/// The leases the puts of a txn's branches name (of the success branch
/// only with `Some(true)`, the failure one with `Some(false)`), each once.
fn txn_leases(request: &Request, branch: Option<bool>) -> Vec<i64> {
    let Request::Txn {
        success, failure, ..
    } = request
    else {
        return vec![];
    };
    let steps: Vec<&TxnStep> = match branch {
        Some(true) => success.iter().collect(),
        Some(false) => failure.iter().collect(),
        None => success.iter().chain(failure).collect(),
    };
    let mut leases: Vec<i64> = steps
        .into_iter()
        .filter_map(|step| match step {
            TxnStep::Put { lease, .. } if *lease != 0 => Some(*lease),
            _ => None,
        })
        .collect();
    leases.sort_unstable();
    leases.dedup();
    leases
}

/// Whether `op` is a txn refused because the success branch it took puts
/// with a lease that was not live: the model checks that when only its
/// success branch puts with a lease, and all with one lease (as an
/// election's campaign does).
fn refused_for_its_lease(op: &Operation) -> Option<i64> {
    if !lease_not_found(&op.outcome) || !txn_leases(&op.request, Some(false)).is_empty() {
        return None;
    }
    match txn_leases(&op.request, Some(true)).as_slice() {
        [lease] => Some(*lease),
        _ => None,
    }
}

/// The keys `op` names itself (a range names none: it covers keys; a lease
/// operation names its lease's key).
fn named_keys(op: &Operation) -> Vec<Cow<'_, str>> {
    let mut keys: Vec<Cow<'_, str>> = match &op.request {
        Request::Put { key, .. }
        | Request::Get { key, .. }
        | Request::Delete { key }
        | Request::Cas { key, .. } => vec![key.as_str().into()],
        Request::Txn { compares, .. } => compares
            .iter()
            .map(|c| c.key.as_str())
            .chain(op.request.txn_steps().map(TxnStep::key))
            .map(Cow::from)
            .collect(),
        Request::List { start, end, .. } if end.is_empty() => vec![start.as_str().into()],
        Request::Range { .. } | Request::List { .. } | Request::DeleteRange { .. } => vec![],
        Request::Compact { .. } | Request::LeaseGrant { .. } | Request::LeaseRevoke { .. } => {
            vec![]
        }
    };
    keys.extend(lease_of(op).into_iter().map(|id| Cow::from(lease_key(id))));
    keys
}

/// The keys `op` touches, among `all_keys` (sorted) for a range; a
/// lease's grant (which may expire) and revoke touch every key a put
/// attached to it (`leases`, from [`lease_puts`]).
fn touched<'a>(
    op: &Operation,
    all_keys: &'a [String],
    leases: &BTreeMap<i64, BTreeMap<&str, Vec<&str>>>,
) -> Vec<&'a str> {
    let covered = |start: &str, end: &str| -> Vec<&'a str> {
        all_keys
            .iter()
            .filter(|k| !is_lease_key(k) && in_range(k, start, end))
            .map(String::as_str)
            .collect()
    };
    let known = |k: &str| -> Option<&'a str> {
        all_keys
            .binary_search_by(|x| x.as_str().cmp(k))
            .ok()
            .map(|i| all_keys[i].as_str())
    };
    match &op.request {
        Request::Range { prefix, .. } => all_keys
            .iter()
            .filter(|k| !is_lease_key(k) && k.starts_with(prefix.as_str()))
            .map(String::as_str)
            .collect(),
        Request::List { start, end, .. } | Request::DeleteRange { start, end } => {
            covered(start, end)
        }
        _ => {
            let mut keys: Vec<&'a str> = named_keys(op).iter().filter_map(|k| known(k)).collect();
            if let Request::LeaseGrant { id, .. } | Request::LeaseRevoke { id } = op.request {
                let attached = leases.get(&id).into_iter().flat_map(|keys| keys.keys());
                keys.extend(attached.filter_map(|k| known(k)));
            }
            keys.sort_unstable();
            keys.dedup();
            keys
        }
    }
}

/// Cuts the participating operations of `history` into independent parts;
/// with `by_key` false, everything is one part.
pub fn parts(history: &History, by_key: bool) -> Vec<Part> {
    let mut keys: Vec<String> = history
        .operations
        .iter()
        .flat_map(|op| named_keys(op).into_iter().map(Cow::into_owned))
        .collect();
    let leases = lease_puts(history);
    keys.sort();
    keys.dedup();
    // Union-find over keys: a range joins the parts of the keys it read.
    let mut parent: Vec<usize> = (0..keys.len()).collect();
    fn root(parent: &mut [usize], mut k: usize) -> usize {
        while parent[k] != k {
            parent[k] = parent[parent[k]];
            k = parent[k];
        }
        k
    }
    let index = |k: &str| {
        keys.binary_search_by(|x| x.as_str().cmp(k))
            .expect("known key")
    };
    for op in history.operations.iter().filter(|op| participates(op)) {
        let touched: Vec<usize> = touched(op, &keys, &leases).into_iter().map(index).collect();
        for pair in touched.windows(2) {
            let (a, b) = (root(&mut parent, pair[0]), root(&mut parent, pair[1]));
            parent[a] = b;
        }
        if !by_key && !keys.is_empty() {
            for k in 0..keys.len() {
                let (a, b) = (root(&mut parent, k), root(&mut parent, 0));
                parent[a] = b;
            }
        }
    }
    let new_part = || Part {
        keys: vec![],
        members: vec![],
        whole: true,
    };
    let mut parts: BTreeMap<usize, Part> = BTreeMap::new();
    for (k, key) in keys.iter().enumerate() {
        let r = root(&mut parent, k);
        parts
            .entry(r)
            .or_insert_with(new_part)
            .keys
            .push(key.clone());
    }
    for (i, op) in history.operations.iter().enumerate() {
        if !participates(op) {
            continue;
        }
        let touched = touched(op, &keys, &leases);
        let Some(first) = touched.first() else {
            // A range over keys nobody wrote: it must have seen nothing.
            parts
                .entry(usize::MAX)
                .or_insert_with(new_part)
                .members
                .push(i);
            continue;
        };
        let r = root(&mut parent, index(first));
        parts
            .get_mut(&r)
            .expect("every key has a part")
            .members
            .push(i);
    }
    parts
        .into_values()
        .filter(|p| !p.members.is_empty())
        .collect()
}

/// The keys of `part` apart, each with every operation that touches it,
/// ranges included: in a part of one key, a range reads as a get of that
/// key, and a txn or delete-range acts on that key alone. A linearization
/// of the whole history gives one of each key's operations (drop the other
/// keys' writes, which the key's operations do not see; a range was legal
/// where it stood, so its read of the key is; a txn's effect on the key is
/// that of the branch it took), so a key whose operations alone are not
/// linearizable refutes the whole history. A txn of unknown outcome whose
/// branch hangs on another key becomes one optional operation per branch
/// (see [`model_ops`]), which can only allow more. That check is much
/// cheaper than the joined one, whose dead ends multiply with every choice
/// about writes of unknown outcome on the other keys; a verdict of
/// linearizable from it proves nothing.
pub fn keys_apart(history: &History, part: &Part) -> Vec<Part> {
    let leases = lease_puts(history);
    part.keys
        .iter()
        .map(|key| Part {
            keys: vec![key.clone()],
            members: part
                .members
                .iter()
                .copied()
                .filter(|&i| {
                    touched(&history.operations[i], &part.keys, &leases).contains(&key.as_str())
                })
                .collect(),
            whole: false,
        })
        .collect()
}

/// The value each key held from each revision a history names: what acknowledged
/// writes wrote at their revision, and what reads saw with its mod revision.
/// With unique values, this names the value a compare on a mod revision
/// means. (If two sources disagree, the history is wrong; the revision
/// invariants say so, and here the first wins.)
pub fn values_by_revision(history: &History) -> BTreeMap<(&str, i64), &str> {
    let mut map = BTreeMap::new();
    for op in &history.operations {
        for (key, value, revision) in op.writes_at_revision() {
            if let Some(value) = value {
                map.entry((key, revision)).or_insert(value);
            }
        }
        for (key, kv) in op.observed() {
            map.entry((key, kv.mod_revision))
                .or_insert(kv.value.as_str());
        }
    }
    map
}

/// The return time of an operation of unknown outcome: it may take effect
/// at any time after its call, or never.
const NEVER: u64 = u64::MAX;
/// The return time of an operation of unknown outcome that the logs show
/// committed: it takes effect at some time after its call, later than
/// anything that returned.
const SOMETIME: u64 = u64::MAX - 1;

/// A part's operations as the model's.
pub struct ModelOps {
    /// The model over the part's keys.
    pub model: KvModel,
    /// The operations to linearize.
    pub ops: Vec<Timed<KvOp>>,
    /// For each of `ops`, the history operation it came from. One history
    /// operation may give none (a grant of a lease the part cannot see),
    /// or two (a lease that may expire: its grant and an expiry; a txn
    /// whose branch the part cannot tell: one op per branch), so an index
    /// into `ops` is no index into the part's members.
    pub origins: Vec<usize>,
}

/// Translates a part's operations into model operations, interning values.
pub fn model_ops(history: &History, part: &Part, members: &[usize]) -> ModelOps {
    let by_revision = values_by_revision(history);
    let attributes = Attributes::of(history);
    let mut values: BTreeMap<String, u32> = BTreeMap::new();
    let mut intern = |v: &str| -> u32 {
        let next = values.len() as u32;
        *values.entry(v.to_string()).or_insert(next)
    };
    let key_index = |k: &str| part.keys.iter().position(|x| x == k);
    let in_part = |k: &str| key_index(k).expect("key of this part");
    // The keys of this part (lease keys aside) that a range from `start` to
    // `end` covers.
    let keys_in = |start: &str, end: &str| -> Vec<usize> {
        part.keys
            .iter()
            .enumerate()
            .filter(|(_, k)| !is_lease_key(k) && in_range(k, start, end))
            .map(|(i, _)| i)
            .collect()
    };
    let leases = lease_puts(history);
    // The keys of this part a revoke or expiry of `id` may delete, with
    // the values that say a key is attached to it.
    let attached = |id: i64, intern: &mut dyn FnMut(&str) -> u32| -> Vec<(usize, Vec<u32>)> {
        leases
            .get(&id)
            .into_iter()
            .flatten()
            .filter_map(|(key, values)| {
                Some((key_index(key)?, values.iter().map(|v| intern(v)).collect()))
            })
            .collect()
    };
    let mut ops = Vec::with_capacity(members.len());
    let mut origins = Vec::with_capacity(members.len());
    for &i in members {
        let op = &history.operations[i];
        let response = match &op.outcome {
            Outcome::Ok(r) => Some(r),
            _ => None,
        };
        let refused = lease_not_found(&op.outcome);
        // For an op on a lease: it found the lease (it was answered), did
        // not (refused as not found), or may have either way.
        let lease_found = response.map(|_| true).or(refused.then_some(false));
        let mut ret = match (response, op.persisted) {
            _ if refused => op.return_ns,
            (Some(_), _) => op.return_ns,
            // Committed, it must take effect at some time after its call.
            (None, Some(Persisted::Committed)) => SOMETIME,
            (None, _) => NEVER,
        };
        let mut push = |model_op, ret| {
            origins.push(i);
            ops.push(Timed {
                op: model_op,
                call: op.call_ns,
                ret,
            })
        };
        let model_op = match (&op.request, response) {
            (Request::Put { key, value, lease }, _) if *lease != 0 => {
                // A txn: if the lease is live, the put (see `lease_key`).
                let guards: Vec<Need> = key_index(&lease_key(*lease))
                    .map(|l| Need::IsNot(l, None))
                    .into_iter()
                    .collect();
                let complete = !guards.is_empty();
                let then = key_index(key)
                    .map(|k| Step::Put(k, intern(value)))
                    .into_iter()
                    .collect();
                if lease_found.is_none() && !complete {
                    // The lease is in another part: the put may or may
                    // not have found it, so it is optional either way.
                    ret = NEVER;
                }
                KvOp::Txn {
                    guards,
                    complete,
                    then,
                    otherwise: vec![],
                    succeeded: lease_found.or((!complete).then_some(true)),
                }
            }
            (Request::Put { key, value, .. }, _) => KvOp::Put {
                key: in_part(key),
                value: intern(value),
            },
            (Request::LeaseGrant { id, ttl }, _) => {
                let lease = key_index(&lease_key(*id));
                if may_expire(*ttl) {
                    // It may expire at any time after the grant was asked:
                    // a revoke of unknown outcome.
                    let attached = attached(*id, &mut intern);
                    if lease.is_some() || !attached.is_empty() {
                        push(
                            KvOp::Revoke {
                                lease,
                                attached,
                                found: None,
                            },
                            NEVER,
                        );
                    }
                }
                let Some(lease) = lease else {
                    continue;
                };
                KvOp::Put {
                    key: lease,
                    value: intern(&format!("\u{0}live/{id}")),
                }
            }
            (Request::LeaseRevoke { id }, _) => KvOp::Revoke {
                lease: key_index(&lease_key(*id)),
                attached: attached(*id, &mut intern),
                found: lease_found,
            },
            (Request::Get { key, .. }, Some(Response::Get { kv, .. })) => KvOp::Get {
                key: in_part(key),
                value: kv.as_ref().map(|kv| intern(&kv.value)),
            },
            (Request::Delete { key }, response) => KvOp::Delete {
                key: in_part(key),
                deleted: match response {
                    Some(Response::Delete { deleted, .. }) => Some(*deleted > 0),
                    _ => None,
                },
            },
            (
                Request::Cas {
                    key,
                    expected,
                    value,
                },
                response,
            ) => KvOp::Cas {
                key: in_part(key),
                expected: expected.as_deref().map(&mut intern),
                value: intern(value),
                succeeded: match response {
                    Some(Response::Cas { succeeded, .. }) => Some(*succeeded),
                    _ => None,
                },
            },
            (Request::Range { prefix, .. }, Some(Response::Range { kvs, .. })) => {
                let found: BTreeMap<&str, &str> = kvs
                    .iter()
                    .map(|(k, kv)| (k.as_str(), kv.value.as_str()))
                    .collect();
                let seen = part
                    .keys
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| !is_lease_key(k) && k.starts_with(prefix.as_str()))
                    .map(|(i, k)| (i, found.get(k.as_str()).map(|v| intern(v))))
                    .collect();
                KvOp::Range { seen }
            }
            (
                Request::List {
                    start,
                    end,
                    limit,
                    keys_only,
                    count_only,
                    order,
                    ..
                },
                Some(Response::List {
                    kvs, count, more, ..
                }),
            ) if !order.is_plain() => {
                // etcd 3.4 reads the whole range, filters, sorts, then cuts
                // at the limit: each key it returned held what it showed;
                // each other one was absent, filtered out, or (cut short)
                // ranked at or after the last one returned. Its count is
                // every present key of the range, filtered or not.
                let last = kvs.last().filter(|_| *more).map(|(k, kv)| (k.as_str(), kv));
                let covered = keys_in(start, end);
                // etcd 3.4 reads the whole range only if a sort order or a
                // filter is asked: a sort target without an order (sorted
                // ascending all the same) and a limit read the first
                // `limit + 1` keys in key order, sort those and cut them,
                // so a key after the last one returned in key order may be
                // one that was never read, whatever it ranks.
                let unread_after = (order.sort_order == crate::history::SortOrder::None
                    && order.sort_target != crate::history::SortTarget::Key
                    && *limit > 0
                    && !order.filtered()
                    && *more)
                    .then(|| kvs.iter().map(|(k, _)| k.as_str()).max())
                    .flatten();
                let mut needs = Vec::new();
                for &i in &covered {
                    let k = part.keys[i].as_str();
                    let need = match kvs.iter().find(|(key, _)| key == k) {
                        // A count-only list shows no key.
                        _ if *count_only => None,
                        None if unread_after.is_some_and(|after| k > after) => None,
                        Some((_, kv)) if *keys_only => by_revision
                            .get(&(k, kv.mod_revision))
                            .map(|v| Need::Is(i, Some(intern(v)))),
                        Some((_, kv)) => Some(Need::Is(i, Some(intern(&kv.value)))),
                        None => attributes.left_out(i, k, order, *keys_only, last, &mut intern),
                    };
                    needs.extend(need);
                }
                KvOp::Filtered {
                    needs,
                    keys: covered,
                    // A part that is not whole lacks keys it counted.
                    count: part
                        .whole
                        .then(|| usize::try_from(*count).unwrap_or(usize::MAX)),
                }
            }
            (
                Request::List {
                    start,
                    end,
                    keys_only,
                    count_only,
                    ..
                },
                Some(Response::List {
                    kvs, count, more, ..
                }),
            ) => {
                let covered = keys_in(start, end);
                if *count_only {
                    if !part.whole {
                        continue; // it counted keys of other parts too
                    }
                    KvOp::Count {
                        seen: vec![],
                        keys: covered,
                        count: usize::try_from(*count).unwrap_or(usize::MAX),
                    }
                } else {
                    // A page shows nothing of the keys after its last one;
                    // its count says how many of them are present.
                    let last = kvs.last().map(|(k, _)| k.as_str());
                    let (beyond, covered): (Vec<usize>, Vec<usize>) =
                        covered.into_iter().partition(|&i| {
                            *more && last.is_none_or(|last| part.keys[i].as_str() > last)
                        });
                    let mut seen = Vec::new();
                    for i in covered {
                        let k = part.keys[i].as_str();
                        let value = match kvs.iter().find(|(key, _)| key == k) {
                            None => None,
                            Some((_, kv)) if *keys_only => {
                                // Named by its mod revision; unknown: skip.
                                match by_revision.get(&(k, kv.mod_revision)) {
                                    Some(v) => Some(intern(v)),
                                    None => continue,
                                }
                            }
                            Some((_, kv)) => Some(intern(&kv.value)),
                        };
                        seen.push((i, value));
                    }
                    if *more && part.whole {
                        // The count covers keys of other parts only in a
                        // part that is not whole.
                        let shown = i64::try_from(kvs.len()).unwrap_or(i64::MAX);
                        KvOp::Count {
                            seen,
                            keys: beyond,
                            count: usize::try_from(count - shown).unwrap_or(usize::MAX),
                        }
                    } else {
                        KvOp::Range { seen }
                    }
                }
            }
            (Request::DeleteRange { start, end }, response) => {
                let keys = keys_in(start, end);
                let prev = match response {
                    Some(Response::DeleteRange { prev_kvs, .. }) => Some(
                        keys.iter()
                            .map(|&i| {
                                prev_kvs
                                    .iter()
                                    .find(|(k, _)| *k == part.keys[i])
                                    .map(|(_, kv)| intern(&kv.value))
                            })
                            .collect(),
                    ),
                    _ => None,
                };
                KvOp::DeleteRange { keys, prev }
            }
            (
                Request::Txn {
                    compares,
                    success,
                    failure,
                },
                response,
            ) => {
                let (succeeded, results) = match response {
                    Some(Response::Txn {
                        succeeded, results, ..
                    }) => (Some(*succeeded), Some(results)),
                    _ => (None, None),
                };
                let mut guards = Vec::new();
                let mut complete = true;
                for compare in compares {
                    match key_index(&compare.key)
                        .and_then(|k| guard(k, compare, &by_revision, &attributes, &mut intern))
                    {
                        Some(g) => guards.push(g),
                        None => complete = false,
                    }
                }
                let mut steps = |branch: &[TxnStep], ran: bool| -> Vec<Step> {
                    branch
                        .iter()
                        .enumerate()
                        .filter_map(|(n, step)| {
                            let k = key_index(step.key())?;
                            // A missing result is the answer's fault, which
                            // `answers` reports: nothing is known of it here.
                            let result = results.filter(|_| ran).and_then(|r| r.get(n));
                            Some(match step {
                                TxnStep::Put { value, .. } => Step::Put(k, intern(value)),
                                TxnStep::Delete { .. } => Step::Delete(
                                    k,
                                    match result {
                                        Some(StepResult::Delete { deleted }) => Some(*deleted > 0),
                                        _ => None,
                                    },
                                ),
                                TxnStep::Get { revision, .. } => Step::Get(
                                    k,
                                    match result {
                                        Some(StepResult::Get { kv, .. }) if *revision == 0 => {
                                            Some(kv.as_ref().map(|kv| intern(&kv.value)))
                                        }
                                        _ => None,
                                    },
                                ),
                            })
                        })
                        .collect()
                };
                let mut then = steps(success, succeeded == Some(true));
                let mut otherwise = steps(failure, succeeded == Some(false));
                // A branch that puts with a lease runs only while the
                // lease is live (etcd refuses the whole txn otherwise).
                for (branch, steps) in [(true, &mut then), (false, &mut otherwise)] {
                    let live = txn_leases(&op.request, Some(branch))
                        .into_iter()
                        .filter_map(|id| key_index(&lease_key(id)))
                        .map(Step::Live);
                    steps.splice(0..0, live);
                }
                if response.is_none() && !txn_leases(&op.request, None).is_empty() {
                    // Refused or not, unknown: it may never take effect,
                    // even if the logs hold it (a refusal is logged too).
                    ret = NEVER;
                }
                if let Some(lease) = refused_for_its_lease(op) {
                    // Refused: its compares chose the success branch, and
                    // the lease it puts with was not live.
                    guards.extend(key_index(&lease_key(lease)).map(|l| Need::Is(l, None)));
                    KvOp::Txn {
                        guards,
                        complete,
                        then: vec![],
                        otherwise: vec![],
                        succeeded: Some(true),
                    }
                } else if succeeded != Some(true) && guards.iter().any(Need::never_holds) {
                    // A compare that holds for no value the key may hold
                    // (`lease < 0`): only the failure branch can have run.
                    // (An optional success branch that does nothing would
                    // still be a choice the search tries at every step.)
                    failure_only(otherwise)
                } else if succeeded.is_none() && !complete {
                    // The branch hangs on what this part cannot see:
                    // either may have run, each optionally (even if it is
                    // known to have been committed: one of the two ran).
                    // An optional operation is still linearized, at the
                    // end if nowhere else, so the success branch is one
                    // that runs if the guards this part sees hold and does
                    // nothing otherwise: guards that never hold (`lease <
                    // 0`) must not make it illegal everywhere.
                    ret = NEVER;
                    push(
                        KvOp::Txn {
                            guards,
                            complete: true,
                            then,
                            otherwise: vec![],
                            succeeded: None,
                        },
                        ret,
                    );
                    failure_only(otherwise)
                } else {
                    KvOp::Txn {
                        guards,
                        complete,
                        then,
                        otherwise,
                        succeeded,
                    }
                }
            }
            (request, response) => {
                panic!("operation {i} cannot be checked: {request:?} answered by {response:?}")
            }
        };
        push(model_op, ret);
    }
    settle_observed_writes(&mut ops);
    ModelOps {
        model: KvModel {
            keys: part.keys.len(),
        },
        ops,
        origins,
    }
}

/// What a history tells of each value a key may hold. Values are unique,
/// so each has one mod revision (that of the write that wrote it, known
/// when the write was acknowledged or a read showed it), one create
/// revision and version (known when a read showed them) and one lease
/// (named by the write: a put's, 0 for any other).
pub struct Attributes<'h> {
    written: BTreeMap<&'h str, Vec<&'h str>>,
    known: BTreeMap<&'h str, BTreeMap<&'h str, Known>>,
}

/// The fields of one value of one key that the history tells.
#[derive(Clone, Copy, Debug, Default)]
struct Known {
    mod_revision: Option<i64>,
    create_revision: Option<i64>,
    version: Option<i64>,
    lease: Option<i64>,
}

impl<'h> Attributes<'h> {
    /// Gathers them from `history`.
    pub fn of(history: &'h History) -> Self {
        let mut written: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut known: BTreeMap<&str, BTreeMap<&str, Known>> = BTreeMap::new();
        fn entry<'m, 'h>(
            known: &'m mut BTreeMap<&'h str, BTreeMap<&'h str, Known>>,
            key: &'h str,
            value: &'h str,
        ) -> &'m mut Known {
            known.entry(key).or_default().entry(value).or_default()
        }
        for op in &history.operations {
            if op.may_have_taken_effect() {
                for (key, value) in op.request.written_values() {
                    written.entry(key).or_default().push(value);
                    let lease = match &op.request {
                        Request::Put { lease, .. } => *lease,
                        request => request
                            .txn_steps()
                            .find_map(|step| match step {
                                TxnStep::Put {
                                    value: v, lease, ..
                                } if v == value => Some(*lease),
                                _ => None,
                            })
                            .unwrap_or(0),
                    };
                    entry(&mut known, key, value).lease.get_or_insert(lease);
                }
            }
            for (key, value, revision) in op.writes_at_revision() {
                if let Some(value) = value {
                    entry(&mut known, key, value)
                        .mod_revision
                        .get_or_insert(revision);
                }
            }
            for (key, kv) in op.observed() {
                let known = entry(&mut known, key, kv.value.as_str());
                known.mod_revision.get_or_insert(kv.mod_revision);
                known.create_revision.get_or_insert(kv.create_revision);
                known.version.get_or_insert(kv.version);
            }
        }
        Attributes { written, known }
    }

    fn known(&self, key: &str, value: &str) -> Known {
        self.known
            .get(key)
            .and_then(|values| values.get(value))
            .copied()
            .unwrap_or_default()
    }

    /// Every value `key` may hold, absence first.
    fn states(&self, key: &str) -> impl Iterator<Item = Option<&'h str>> + '_ {
        std::iter::once(None).chain(
            self.written
                .get(key)
                .into_iter()
                .flatten()
                .map(|&v| Some(v)),
        )
    }

    /// Whether `compare` holds while its key holds `value` (`None`:
    /// absent, which etcd compares as a key-value of zeros, except that a
    /// value compare on it fails), if the history tells the field.
    fn holds(&self, compare: &Compare, value: Option<&str>) -> Option<bool> {
        use std::cmp::Ordering;
        let relation = |ord: Ordering| match compare.relation {
            Relation::Equal => ord == Ordering::Equal,
            Relation::NotEqual => ord != Ordering::Equal,
            Relation::Greater => ord == Ordering::Greater,
            Relation::Less => ord == Ordering::Less,
        };
        let Some(value) = value else {
            return Some(match compare.target {
                CompareTarget::Value(_) => false,
                CompareTarget::ModRevision(n)
                | CompareTarget::CreateRevision(n)
                | CompareTarget::Version(n)
                | CompareTarget::Lease(n) => relation(0.cmp(&n)),
            });
        };
        let known = self.known(&compare.key, value);
        Some(match &compare.target {
            // etcd compares values as bytes, which is how `str` orders.
            CompareTarget::Value(v) => relation(value.cmp(v.as_str())),
            CompareTarget::ModRevision(n) => relation(known.mod_revision?.cmp(n)),
            CompareTarget::CreateRevision(n) => relation(known.create_revision?.cmp(n)),
            CompareTarget::Version(n) => relation(known.version?.cmp(n)),
            CompareTarget::Lease(n) => relation(known.lease?.cmp(n)),
        })
    }

    /// `compare` on the key at index `k` as one need: the values where it
    /// holds, if the history tells the compared field of every value the
    /// key may hold; otherwise `None` (left to the search as unknown).
    fn need(
        &self,
        k: usize,
        compare: &Compare,
        intern: &mut impl FnMut(&str) -> u32,
    ) -> Option<Need> {
        let (mut yes, mut no) = (Vec::new(), Vec::new());
        for value in self.states(&compare.key) {
            let interned = value.map(&mut *intern);
            if self.holds(compare, value)? {
                yes.push(interned);
            } else {
                no.push(interned);
            }
        }
        Some(match no.as_slice() {
            [v] if yes.len() != 1 => Need::IsNot(k, *v),
            _ => Need::one_of(k, yes),
        })
    }

    /// What a sorted or filtered list (`order`) that did not return `key`
    /// (at index `k`) needs of it: absent, outside the filters, or, when
    /// the list was cut at its limit (`last` is its last key-value),
    /// ranked at or after `last` (ties may fall either side). `None` if
    /// the history does not tell the fields that decide it for every value
    /// the key may hold.
    fn left_out(
        &self,
        k: usize,
        key: &str,
        order: &ListOrder,
        keys_only: bool,
        last: Option<(&str, &KeyValue)>,
        intern: &mut impl FnMut(&str) -> u32,
    ) -> Option<Need> {
        use crate::history::SortTarget;
        let mut allowed = vec![None];
        for value in self.states(key).flatten() {
            let known = self.known(key, value);
            if order.filtered() {
                let passes = order.passes_revisions(
                    known.mod_revision.unwrap_or(0),
                    known.create_revision.unwrap_or(0),
                );
                let told = (order.min_mod_revision == 0 && order.max_mod_revision == 0
                    || known.mod_revision.is_some())
                    && (order.min_create_revision == 0 && order.max_create_revision == 0
                        || known.create_revision.is_some());
                if !told {
                    return None;
                }
                if !passes {
                    allowed.push(Some(intern(value)));
                    continue;
                }
            }
            let Some(last) = last else {
                continue; // it passes the filters: the list had to return it
            };
            let kv = KeyValue {
                value: value.to_string(),
                mod_revision: known.mod_revision.unwrap_or(0),
                create_revision: known.create_revision.unwrap_or(0),
                version: known.version.unwrap_or(0),
            };
            let told = match order.sort_target {
                SortTarget::Key => true,
                // A keys-only list shows no value to rank against.
                SortTarget::Value => !keys_only,
                SortTarget::Version => known.version.is_some(),
                SortTarget::Create => known.create_revision.is_some(),
                SortTarget::Mod => known.mod_revision.is_some(),
            };
            if !told {
                return None;
            }
            if order.rank((key, &kv), last) != std::cmp::Ordering::Less {
                allowed.push(Some(intern(value)));
            }
        }
        Some(Need::one_of(k, allowed))
    }
}

/// A compare on the key at index `k` as a need on its value, if it can be
/// one: a value compared for equality; a mod revision compared for
/// (in)equality, named by the value written at it; a create revision,
/// mod revision or version compared with 0 (absence); otherwise the values
/// where it holds, when the history tells the compared field of every
/// value the key may hold ([`Attributes::need`]). Other compares (`None`)
/// are left to the search as unknown.
fn guard(
    k: usize,
    compare: &Compare,
    by_revision: &BTreeMap<(&str, i64), &str>,
    attributes: &Attributes<'_>,
    intern: &mut impl FnMut(&str) -> u32,
) -> Option<Need> {
    match (&compare.target, compare.relation) {
        (CompareTarget::Value(v), Relation::Equal) => return Some(Need::Is(k, Some(intern(v)))),
        (
            CompareTarget::ModRevision(0)
            | CompareTarget::CreateRevision(0)
            | CompareTarget::Version(0),
            relation,
        ) => {
            return Some(match relation {
                Relation::Greater | Relation::NotEqual => Need::IsNot(k, None),
                Relation::Equal => Need::Is(k, None),
                // Below 0: never.
                Relation::Less => Need::one_of(k, vec![]),
            });
        }
        (CompareTarget::ModRevision(m), relation @ (Relation::Equal | Relation::NotEqual)) => {
            if let Some(v) = by_revision.get(&(compare.key.as_str(), *m)) {
                let v = Some(intern(v));
                return Some(if relation == Relation::Equal {
                    Need::Is(k, v)
                } else {
                    Need::IsNot(k, v)
                });
            }
        }
        _ => {}
    }
    attributes.need(k, compare, intern)
}

/// Gives a write of unknown outcome a return time when a read saw its
/// value and no other operation may write that value to that key: the
/// earliest return of an operation that saw it. Exact, not a guess: the
/// read is legal only after the one write of its value, so in every
/// linearization the write comes before the read, hence before the read
/// returned. The constraint thus holds in every linearization and changes
/// no verdict, but the write is no longer optional, so the search need not
/// try leaving it out or putting it late. (A txn split into one optional
/// operation per branch is settled only through the branch that wrote
/// the value seen.)
fn settle_observed_writes(ops: &mut [Timed<KvOp>]) {
    let mut writers: BTreeMap<(usize, u32), Vec<usize>> = BTreeMap::new();
    let mut seen_by: BTreeMap<(usize, u32), u64> = BTreeMap::new();
    for (i, timed) in ops.iter().enumerate() {
        for written in may_write(&timed.op) {
            writers.entry(written).or_default().push(i);
        }
        let in_txn = match &timed.op {
            KvOp::Txn {
                then,
                otherwise,
                succeeded: Some(s),
                ..
            } => {
                let branch = if *s { then } else { otherwise };
                branch
                    .iter()
                    .filter_map(|step| match *step {
                        Step::Get(k, Some(Some(v))) => Some((k, v)),
                        _ => None,
                    })
                    .collect()
            }
            _ => vec![],
        };
        for observed in needs(&timed.op)
            .filter_map(|need| match need {
                Need::Is(key, Some(value)) => Some((key, value)),
                _ => None,
            })
            .chain(in_txn)
        {
            let earliest = seen_by.entry(observed).or_insert(timed.ret);
            *earliest = (*earliest).min(timed.ret);
        }
    }
    for (written, writers) in writers {
        let (&[w], Some(&seen)) = (writers.as_slice(), seen_by.get(&written)) else {
            continue;
        };
        // A read that returned before the write was called saw another
        // write's value, or the history is wrong: the search says which.
        if ops[w].ret >= SOMETIME && seen > ops[w].call {
            ops[w].ret = seen;
        }
    }
}

/// The keys and values `op` may write.
fn may_write(op: &KvOp) -> Vec<(usize, u32)> {
    op.may_leave()
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
}

/// A txn whose failure branch ran: no guards, nothing on success.
fn failure_only(otherwise: Vec<Step>) -> KvOp {
    KvOp::Txn {
        guards: vec![],
        complete: false,
        then: vec![],
        otherwise,
        succeeded: Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::splitmix64;
    use crate::search::{search, Search};

    /// An operation that may come before the one asked about, at `call`
    /// and `ret`, forced if it returns before that one's call (say 100).
    /// Numbers below `n` drawn from a stream seeded with `seed`, for
    /// closures that draw several times (a shared `Fn`, not an `FnMut`).
    fn draws(seed: u64) -> impl Fn(u64) -> u64 {
        let state = std::cell::Cell::new(seed);
        move |n| {
            let mut s = state.get();
            let r = splitmix64(&mut s) % n;
            state.set(s);
            r
        }
    }

    /// `op` called at a drawn time: it returns a little later, or never if
    /// its outcome is `unknown` and it is not a read.
    fn timed(op: KvOp, unknown: bool, below: &impl Fn(u64) -> u64) -> Timed<KvOp> {
        let call = below(12);
        let reads = matches!(
            op,
            KvOp::Get { .. } | KvOp::Range { .. } | KvOp::Count { .. } | KvOp::Filtered { .. }
        );
        let ret = if unknown && !reads {
            u64::MAX
        } else {
            call + 1 + below(6)
        };
        Timed { op, call, ret }
    }

    /// Checks 3,000 histories with [`search_agrees_with_brute_force`], and
    /// that both verdicts are common among them (a generator that only
    /// makes one kind proves little). A history has 2 to `2 + most - 1`
    /// operations, each drawn by `op` from a stream seeded with `seed` (it
    /// returns the operation and whether its outcome is unknown) and
    /// [`timed`].
    fn cross_check(
        model: &KvModel,
        seed: u64,
        most: u64,
        op: impl Fn(&dyn Fn(u64) -> u64) -> (KvOp, bool),
    ) {
        let below = draws(seed);
        let mut verdicts = [0; 2];
        for _ in 0..3000 {
            let history: Vec<Timed<KvOp>> = (0..2 + below(most))
                .map(|_| {
                    let (op, unknown) = op(&below);
                    timed(op, unknown, &below)
                })
                .collect();
            let expected = search_agrees_with_brute_force(model, &history);
            verdicts[usize::from(expected)] += 1;
        }
        assert!(
            verdicts.iter().all(|&n| n > 300),
            "both verdicts common: {verdicts:?}"
        );
    }

    /// Asserts that the search, on what `model_ops` would give it (seen
    /// writes settled), finds what brute force finds; returns the verdict.
    fn search_agrees_with_brute_force(model: &KvModel, ops: &[Timed<KvOp>]) -> bool {
        let expected = crate::brute_force::linearizable(model, ops);
        let mut settled = ops.to_vec();
        settle_observed_writes(&mut settled);
        let found = match search(model, &settled, None) {
            Search::Linearizable => true,
            Search::NotLinearizable { .. } => false,
            other => panic!("no budget was given: {other:?}"),
        };
        assert_eq!(found, expected, "{ops:?}");
        expected
    }

    fn earlier(op: &KvOp, call: usize, ret: usize) -> Earlier<'_, KvOp> {
        Earlier {
            op,
            forced: ret < 100,
            call,
            ret,
        }
    }

    /// A read that holds now is still doomed if a write certain to come
    /// first overwrites its value and nothing can write it back.
    #[test]
    fn a_held_read_is_doomed_by_a_forced_overwrite_without_a_rewrite() {
        let model = KvModel { keys: 2 };
        let state = vec![Some(1), None];
        let read = KvOp::Range {
            seen: vec![(0, Some(1)), (1, None)],
        };
        let overwrite = KvOp::Put { key: 0, value: 2 };
        let rewrite = KvOp::Cas {
            key: 0,
            expected: Some(2),
            value: 1,
            succeeded: None,
        };
        let other_key = KvOp::Put { key: 1, value: 1 };
        let may = |before: &[Earlier<KvOp>]| {
            model.may_become_legal(&state, &read, before.iter().copied())
        };
        assert!(may(&[]));
        assert!(may(&[earlier(&overwrite, 0, 200)]), "it may come after");
        assert!(!may(&[earlier(&overwrite, 0, 10)]));
        assert!(may(&[
            earlier(&overwrite, 0, 10),
            earlier(&rewrite, 5, 200)
        ]));
        // The rewrite may take effect after the overwrite while both run.
        assert!(may(&[earlier(&overwrite, 0, 30), earlier(&rewrite, 5, 20)]));
        // The rewrite returns before the overwrite is called: too early.
        assert!(!may(&[
            earlier(&rewrite, 0, 10),
            earlier(&overwrite, 20, 30)
        ]));
        // Key 1 is absent as the range saw it: a forced put of it dooms
        // the range, unless a delete may follow.
        let delete = KvOp::Delete {
            key: 1,
            deleted: None,
        };
        assert!(!may(&[
            earlier(&other_key, 0, 10),
            earlier(&overwrite, 0, 200)
        ]));
        assert!(may(&[earlier(&other_key, 0, 10), earlier(&delete, 5, 200)]));
    }

    /// A write of unknown outcome returns when the first operation that saw
    /// its value did, if no other operation may write that value.
    #[test]
    fn an_unknown_write_whose_value_was_seen_returns_with_the_first_reader() {
        let timed = |op, call, ret| Timed { op, call, ret };
        let get = |key, value| KvOp::Get {
            key,
            value: Some(value),
        };
        let mut ops = vec![
            timed(KvOp::Put { key: 0, value: 1 }, 5, u64::MAX),
            timed(get(0, 1), 10, 20),
            timed(
                KvOp::Range {
                    seen: vec![(0, Some(1)), (1, None)],
                },
                8,
                15,
            ),
            // Two writers of 2: which one a read saw is unknown.
            timed(KvOp::Put { key: 0, value: 2 }, 5, u64::MAX),
            timed(KvOp::Put { key: 0, value: 2 }, 6, 7),
            timed(get(0, 2), 10, 20),
            // Its reader returned before it was called.
            timed(
                KvOp::Cas {
                    key: 0,
                    expected: None,
                    value: 3,
                    succeeded: None,
                },
                30,
                u64::MAX,
            ),
            timed(get(0, 3), 10, 20),
            // Seen by nobody; and value 4 of key 1 is not value 4 of key 0.
            timed(KvOp::Put { key: 0, value: 4 }, 5, u64::MAX),
            timed(get(1, 4), 10, 20),
        ];
        settle_observed_writes(&mut ops);
        let rets: Vec<u64> = ops.iter().map(|t| t.ret).collect();
        let never = u64::MAX;
        assert_eq!(rets, [15, 20, 15, never, 7, 20, never, 20, never, 20]);
    }

    /// Every reduction of the search with this model's rules, and the
    /// settling of seen writes, against the definition, on small random
    /// histories of two keys: few values make equal operations, stale and
    /// doomed reads and forced overwrites common; writes of unknown outcome
    /// never return.
    #[test]
    fn agrees_with_brute_force_on_random_histories() {
        cross_check(&KvModel { keys: 2 }, 11, 6, |below| {
            let key = below(2) as usize;
            let [a, b] = [below(3) as u32, below(3) as u32];
            let unknown = below(6) == 0;
            let seen = |v: u32| (v > 0).then_some(v);
            let op = match below(5) {
                0 => KvOp::Put { key, value: a },
                1 => KvOp::Get {
                    key,
                    value: seen(a),
                },
                2 => KvOp::Delete {
                    key,
                    deleted: (!unknown).then(|| below(2) == 0),
                },
                3 => KvOp::Cas {
                    key,
                    expected: seen(a),
                    value: b,
                    succeeded: (!unknown).then(|| below(2) == 0),
                },
                _ => KvOp::Range {
                    seen: vec![(0, seen(a)), (1, seen(b))],
                },
            };
            (op, unknown)
        });
    }

    /// The same cross-check with the operations that act on several keys
    /// at once: txns (a guard on one key, steps on both, both branches,
    /// known or unknown outcome, guards complete or not), delete-ranges
    /// with what they reported deleting, and count-only ranges.
    #[test]
    fn multi_key_operations_agree_with_brute_force() {
        cross_check(&KvModel { keys: 2 }, 23, 5, |below| {
            let key = below(2) as usize;
            let [a, b] = [below(3) as u32, below(3) as u32];
            let unknown = below(5) == 0;
            let seen = |v: u32| (v > 0).then_some(v);
            let step = |k: usize, v: u32, known: bool| match below(3) {
                0 => Step::Put(k, v + 10),
                1 => Step::Delete(k, known.then(|| below(2) == 0)),
                _ => Step::Get(k, known.then(|| seen(v))),
            };
            let op = match below(6) {
                0 => KvOp::Put { key, value: a },
                1 => KvOp::Get {
                    key,
                    value: seen(a),
                },
                2 | 3 => {
                    let succeeded = (!unknown).then(|| below(2) == 0);
                    let known = succeeded.is_some();
                    KvOp::Txn {
                        guards: vec![match below(3) {
                            0 => Need::Is(key, seen(a)),
                            1 => Need::IsNot(key, seen(a)),
                            // Holds for a drawn set of values (maybe none).
                            _ => Need::one_of(
                                key,
                                (0..3).filter(|_| below(2) == 0).map(seen).collect(),
                            ),
                        }],
                        complete: unknown || below(4) > 0,
                        then: vec![step(0, b, known), step(1, a, known)],
                        otherwise: vec![step(1, b, known)],
                        succeeded,
                    }
                }
                4 => KvOp::DeleteRange {
                    keys: vec![0, 1],
                    prev: (!unknown).then(|| vec![seen(a), seen(b)]),
                },
                // A sorted or filtered list: key 0 as seen, key 1 one of
                // the values it may have left out, maybe a count.
                5 if below(4) == 0 => KvOp::Filtered {
                    needs: vec![Need::Is(0, seen(a)), Need::one_of(1, vec![None, seen(b)])],
                    keys: vec![0, 1],
                    count: (below(2) == 0).then(|| below(3) as usize),
                },
                // Count-only, or a page of key 0 counting key 1 beyond it.
                _ if below(2) == 0 => KvOp::Count {
                    seen: vec![],
                    keys: vec![0, 1],
                    count: below(3) as usize,
                },
                _ => KvOp::Count {
                    seen: vec![(0, seen(a))],
                    keys: vec![1],
                    count: below(2) as usize,
                },
            };
            (op, unknown)
        });
    }

    /// The same cross-check with leases: key 2 is a lease's key (present
    /// while it is live), keys 0 and 1 ordinary keys. Grants, puts with the
    /// lease (a txn guarded on it; refused, succeeded or unknown), plain
    /// puts that detach, deletes, gets, and revokes (found, not found,
    /// unknown: an expiry) that delete the keys holding a value put with
    /// the lease (values 10..13).
    #[test]
    fn lease_operations_agree_with_brute_force() {
        let lease = 2;
        let leased = vec![10, 11, 12];
        cross_check(&KvModel { keys: 3 }, 41, 5, |below| {
            let key = below(2) as usize;
            let a = below(3) as u32;
            let unknown = below(5) == 0;
            let seen = |v: u32| (v > 0).then_some(v);
            let known = |b: bool| (!unknown).then_some(b);
            let op = match below(7) {
                0 => KvOp::Put {
                    key: lease,
                    value: 99,
                },
                1 => KvOp::Txn {
                    guards: vec![Need::IsNot(lease, None)],
                    complete: true,
                    then: vec![Step::Put(key, 10 + a)],
                    otherwise: vec![],
                    succeeded: known(below(3) > 0),
                },
                2 => KvOp::Put { key, value: a },
                3 => KvOp::Get {
                    key,
                    value: if below(2) == 0 { seen(a) } else { Some(10 + a) },
                },
                4 => KvOp::Delete {
                    key,
                    deleted: known(below(2) == 0),
                },
                _ => KvOp::Revoke {
                    lease: Some(lease),
                    attached: vec![(0, leased.clone()), (1, leased.clone())],
                    found: known(below(3) > 0),
                },
            };
            (op, unknown)
        });
    }
}
