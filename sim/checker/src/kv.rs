//! The etcd-sim KV model, and how a history is cut into independent parts.
//!
//! Per key the state is the key's value or its absence. Operations on
//! different keys commute, so each key's operations are checked on their
//! own (P-compositionality); a range read observes several keys at one
//! instant, so it joins their parts into one.

use std::collections::BTreeMap;

use crate::history::{History, Operation, Outcome, Request, Response};
use crate::search::{Model, Timed};

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
    (
        KvModel {
            keys: part.keys.len(),
        },
        ops,
    )
}
