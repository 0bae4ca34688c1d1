//! The etcd-sim KV model, and how a history is cut into independent parts.
//!
//! Per key the state is the key's value or its absence. Operations on
//! different keys commute, so each key's operations are checked on their
//! own (P-compositionality); a range read observes several keys at one
//! instant, so it joins their parts into one.

use std::collections::BTreeMap;

use crate::history::{History, Operation, Outcome, Request, Response};
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
            KvOp::Range { ref seen } => seen
                .iter()
                .all(|&(key, value)| state[key] == value)
                .then(|| state.clone()),
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
        if let KvOp::Range { .. } = op {
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
        matches!(
            op,
            KvOp::Get { .. }
                | KvOp::Range { .. }
                | KvOp::Delete {
                    deleted: Some(false),
                    ..
                }
                | KvOp::Cas {
                    succeeded: Some(false),
                    ..
                }
        )
    }
}

/// What an operation's observed outcome requires of one key's value.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// The key holds this value.
    Is(usize, Value),
    /// The key holds anything but this value.
    IsNot(usize, Value),
}

impl Need {
    fn key(self) -> usize {
        match self {
            Need::Is(key, _) | Need::IsNot(key, _) => key,
        }
    }

    fn met_by(self, value: Value) -> bool {
        match self {
            Need::Is(_, v) => value == v,
            Need::IsNot(_, v) => value != v,
        }
    }

    fn holds(self, state: &[Value]) -> bool {
        self.met_by(state[self.key()])
    }

    /// Whether `op` may change the key to a value that meets the need.
    fn may_be_met_by(self, op: &KvOp) -> bool {
        let written = match *op {
            KvOp::Put { key, value } => Some((key, Some(value))),
            KvOp::Cas {
                key,
                value,
                succeeded,
                ..
            } if succeeded != Some(false) => Some((key, Some(value))),
            KvOp::Delete { key, deleted } if deleted != Some(false) => Some((key, None)),
            _ => None,
        };
        written.is_some_and(|(key, value)| key == self.key() && self.met_by(value))
    }

    /// Whether `op`, wherever it is legal, leaves the key with a value that
    /// does not meet the need.
    fn certainly_broken_by(self, op: &KvOp) -> bool {
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
        KvOp::Put { .. } | KvOp::Delete { .. } | KvOp::Cas { .. } | KvOp::Range { .. } => None,
    };
    let seen: &[(usize, Value)] = match op {
        KvOp::Range { seen } => seen,
        _ => &[],
    };
    single
        .into_iter()
        .chain(seen.iter().map(|&(key, value)| Need::Is(key, value)))
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
}

/// Whether an operation constrains the linearization: failed operations
/// never happened, reads whose answer was lost tell nothing, and
/// serializable reads are allowed to be stale (they are checked apart).
pub fn participates(op: &Operation) -> bool {
    match (&op.request, &op.outcome) {
        (_, Outcome::Fail(_)) => false,
        (Request::Get { serializable, .. } | Request::Range { serializable, .. }, outcome) => {
            !serializable && matches!(outcome, Outcome::Ok(_))
        }
        _ => true,
    }
}

/// The keys `op` touches, among `all_keys` for a range.
fn touched<'a>(op: &'a Operation, all_keys: &'a [String]) -> Vec<&'a str> {
    match &op.request {
        Request::Put { key, .. }
        | Request::Get { key, .. }
        | Request::Delete { key }
        | Request::Cas { key, .. } => vec![key.as_str()],
        Request::Range { prefix, .. } => all_keys
            .iter()
            .filter(|k| k.starts_with(prefix.as_str()))
            .map(String::as_str)
            .collect(),
    }
}

/// Cuts the participating operations of `history` into independent parts;
/// with `by_key` false, everything is one part.
pub fn parts(history: &History, by_key: bool) -> Vec<Part> {
    let mut keys: Vec<String> = history
        .operations
        .iter()
        .flat_map(|op| match &op.request {
            Request::Range { .. } => None,
            Request::Put { key, .. }
            | Request::Get { key, .. }
            | Request::Delete { key }
            | Request::Cas { key, .. } => Some(key.clone()),
        })
        .collect();
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
        let touched: Vec<usize> = touched(op, &keys).into_iter().map(index).collect();
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
    let mut parts: BTreeMap<usize, Part> = BTreeMap::new();
    for (k, key) in keys.iter().enumerate() {
        let r = root(&mut parent, k);
        parts
            .entry(r)
            .or_insert_with(|| Part {
                keys: vec![],
                members: vec![],
            })
            .keys
            .push(key.clone());
    }
    for (i, op) in history.operations.iter().enumerate() {
        if !participates(op) {
            continue;
        }
        let touched = touched(op, &keys);
        let Some(first) = touched.first() else {
            // A range over keys nobody wrote: it must have seen nothing.
            parts
                .entry(usize::MAX)
                .or_insert_with(|| Part {
                    keys: vec![],
                    members: vec![],
                })
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
/// key. A linearization of the whole history gives one of each key's
/// operations (drop the other keys' writes, which the key's operations do
/// not see; a range was legal where it stood, so its read of the key is),
/// so a key whose operations alone are not linearizable refutes the whole
/// history. That check is much cheaper than the joined one, whose dead ends
/// multiply with every choice about writes of unknown outcome on the other
/// keys; a verdict of linearizable from it proves nothing.
pub fn keys_apart(history: &History, part: &Part) -> Vec<Part> {
    part.keys
        .iter()
        .map(|key| Part {
            keys: vec![key.clone()],
            members: part
                .members
                .iter()
                .copied()
                .filter(|&i| touched(&history.operations[i], &part.keys).contains(&key.as_str()))
                .collect(),
        })
        .collect()
}

/// Translates a part's operations into model operations, interning values.
pub fn model_ops(history: &History, part: &Part, members: &[usize]) -> (KvModel, Vec<Timed<KvOp>>) {
    let mut values: BTreeMap<String, u32> = BTreeMap::new();
    let mut intern = |v: &str| -> u32 {
        let next = values.len() as u32;
        *values.entry(v.to_string()).or_insert(next)
    };
    let key_index = |k: &str| {
        part.keys
            .iter()
            .position(|x| x == k)
            .expect("key of this part")
    };
    let mut ops = Vec::with_capacity(members.len());
    for &i in members {
        let op = &history.operations[i];
        let response = match &op.outcome {
            Outcome::Ok(r) => Some(r),
            _ => None,
        };
        let ret = if response.is_some() {
            op.return_ns
        } else {
            u64::MAX
        };
        let model_op = match (&op.request, response) {
            (Request::Put { key, value }, _) => KvOp::Put {
                key: key_index(key),
                value: intern(value),
            },
            (Request::Get { key, .. }, Some(Response::Get { kv, .. })) => KvOp::Get {
                key: key_index(key),
                value: kv.as_ref().map(|kv| intern(&kv.value)),
            },
            (Request::Delete { key }, response) => KvOp::Delete {
                key: key_index(key),
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
                key: key_index(key),
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
                    .filter(|(_, k)| k.starts_with(prefix.as_str()))
                    .map(|(i, k)| (i, found.get(k.as_str()).map(|v| intern(v))))
                    .collect();
                KvOp::Range { seen }
            }
            (request, response) => {
                panic!("operation {i} cannot be checked: {request:?} answered by {response:?}")
            }
        };
        ops.push(Timed {
            op: model_op,
            call: op.call_ns,
            ret,
        });
    }
    settle_observed_writes(&mut ops);
    (
        KvModel {
            keys: part.keys.len(),
        },
        ops,
    )
}

/// Gives a write of unknown outcome a return time when a read saw its
/// value and no other operation may write that value to that key: the
/// earliest return of an operation that saw it. Exact, not a guess: the
/// read is legal only after the one write of its value, so in every
/// linearization the write comes before the read, hence before the read
/// returned. The constraint thus holds in every linearization and changes
/// no verdict, but the write is no longer optional, so the search need not
/// try leaving it out or putting it late.
fn settle_observed_writes(ops: &mut [Timed<KvOp>]) {
    let mut writers: BTreeMap<(usize, u32), Vec<usize>> = BTreeMap::new();
    let mut seen_by: BTreeMap<(usize, u32), u64> = BTreeMap::new();
    for (i, timed) in ops.iter().enumerate() {
        if let Some(written) = may_write(&timed.op) {
            writers.entry(written).or_default().push(i);
        }
        for observed in needs(&timed.op).filter_map(|need| match need {
            Need::Is(key, Some(value)) => Some((key, value)),
            _ => None,
        }) {
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
        if ops[w].ret == u64::MAX && seen > ops[w].call {
            ops[w].ret = seen;
        }
    }
}

/// The key and value `op` may write.
fn may_write(op: &KvOp) -> Option<(usize, u32)> {
    match *op {
        KvOp::Put { key, value } => Some((key, value)),
        KvOp::Cas {
            key,
            value,
            succeeded,
            ..
        } if succeeded != Some(false) => Some((key, value)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::splitmix64;
    use crate::search::{search, Search};

    /// An operation that may come before the one asked about, at `call`
    /// and `ret`, forced if it returns before that one's call (say 100).
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
        let mut seed = 11;
        let mut below = |n: u64| splitmix64(&mut seed) % n;
        let mut verdicts = [0; 2];
        for _ in 0..3000 {
            let ops: Vec<Timed<KvOp>> = (0..2 + below(6))
                .map(|_| {
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
                    let call = below(12);
                    let writes = !matches!(op, KvOp::Get { .. } | KvOp::Range { .. });
                    let ret = if unknown && writes {
                        u64::MAX
                    } else {
                        call + 1 + below(6)
                    };
                    Timed { op, call, ret }
                })
                .collect();
            let model = KvModel { keys: 2 };
            let expected = crate::brute_force::linearizable(&model, &ops);
            // The search sees what `model_ops` gives it: seen writes settled.
            let mut settled = ops.clone();
            settle_observed_writes(&mut settled);
            let found = match search(&model, &settled, None) {
                Search::Linearizable => true,
                Search::NotLinearizable { .. } => false,
                other => panic!("no budget was given: {other:?}"),
            };
            assert_eq!(found, expected, "{ops:?}");
            verdicts[usize::from(expected)] += 1;
        }
        assert!(
            verdicts.iter().all(|&n| n > 300),
            "both verdicts common: {verdicts:?}"
        );
    }
}
