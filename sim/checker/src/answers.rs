//! What each answer says of itself: the fields that follow from the rest
//! of the answer and from its request alone, whatever the store held.
//!
//! A range's `count` and `more` against its `kvs` and limit (etcd 3.4's
//! `count` is every key of the range, beyond the limit too, and `more` is
//! whether that count passes the limit); its keys inside the range asked,
//! in key order, each once; a keys-only answer without values, a count-only
//! one without keys; a delete's `deleted` against its `prev_kvs` (or the
//! one key it names); a txn's results against the branch it says ran, each
//! step's as its kind's; a lease grant's id and TTL against the grant
//! asked; a header revision of at least 1.
//!
//! What the store held is the model's and the other invariants' to judge.
//! Together they pin each field: the model checks the keys and values a
//! range returned, so a count that must equal their number is checked too,
//! and a page cut short by its limit has its count of the keys beyond it
//! checked by the model itself (see `kv::KvOp::Count`).

use crate::history::{
    in_range, History, KeyValue, ListOrder, Operation, Outcome, Request, Response, StepResult,
    TxnStep, EXPIRY_FREE_TTL,
};
use crate::invariants::Violation;

/// Every field of every answer of `history` that contradicts the rest of
/// its answer or its request.
pub fn answers(history: &History) -> Vec<Violation> {
    history
        .operations
        .iter()
        .enumerate()
        .flat_map(|(op, operation)| {
            wrong_fields(operation)
                .into_iter()
                .map(move |detail| Violation::WrongField { op, detail })
        })
        .collect()
}

/// Why `op`'s answer contradicts itself or its request: one line per wrong
/// field, naming it and both values.
pub fn wrong_fields(op: &Operation) -> Vec<String> {
    let Outcome::Ok(response) = &op.outcome else {
        return vec![];
    };
    if let Some(why) = op.request.mismatch(response) {
        return vec![why];
    }
    let mut wrong = Vec::new();
    if response.revision() < 1 {
        wrong.push(format!(
            "{} header revision {}, but a store's revision is at least 1",
            response.kind(),
            response.revision()
        ));
    }
    match (&op.request, response) {
        (
            Request::Get { key, .. },
            Response::Get {
                kv, count, more, ..
            },
        ) => {
            let kvs: Vec<_> = kv.iter().map(|kv| (key.as_str(), kv)).collect();
            let answer = RangeAnswer {
                kvs: &kvs,
                count: *count,
                more: *more,
            };
            wrong.extend(answer.wrong("get", &Asked::all(Scope::Span(key, ""))));
        }
        (
            Request::Range { prefix, .. },
            Response::Range {
                kvs, count, more, ..
            },
        ) => {
            let asked = Asked::all(Scope::Prefix(prefix));
            let kvs = pairs(kvs);
            let answer = RangeAnswer {
                kvs: &kvs,
                count: *count,
                more: *more,
            };
            wrong.extend(answer.wrong("range", &asked));
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
            Response::List {
                kvs, count, more, ..
            },
        ) => {
            let asked = Asked {
                scope: Scope::Span(start, end),
                limit: *limit,
                keys_only: *keys_only,
                count_only: *count_only,
                order: (!order.is_plain()).then_some(order),
            };
            let kvs = pairs(kvs);
            let answer = RangeAnswer {
                kvs: &kvs,
                count: Some(*count),
                more: *more,
            };
            wrong.extend(answer.wrong("list", &asked));
        }
        (Request::Delete { .. }, Response::Delete { deleted, .. }) => {
            wrong.extend(one_key_deleted("delete", *deleted));
        }
        (
            Request::DeleteRange { start, end },
            Response::DeleteRange {
                prev_kvs, deleted, ..
            },
        ) => {
            let keys: Vec<&str> = prev_kvs.iter().map(|(k, _)| k.as_str()).collect();
            wrong.extend(keys_wrong(
                "delete-range prev_kvs",
                &keys,
                Scope::Span(start, end),
            ));
            if let Some(deleted) = *deleted {
                if deleted != prev_kvs.len() as i64 {
                    wrong.push(format!(
                        "delete-range deleted {deleted}, but its prev_kvs hold {}",
                        prev_kvs.len()
                    ));
                }
            }
        }
        (Request::Txn { .. }, Response::Txn { .. }) => {
            for (n, (step, result)) in op.request.taken_steps(response).enumerate() {
                wrong.extend(step_wrong(n, step, result));
            }
        }
        (
            Request::LeaseGrant { id, ttl },
            Response::LeaseGrant {
                id: got,
                ttl: ttl_got,
                ..
            },
        ) => {
            wrong.extend(grant_wrong(*id, *ttl, *got, *ttl_got));
        }
        _ => {}
    }
    wrong
}

/// A delete of one key deletes it or nothing.
fn one_key_deleted(what: &str, deleted: i64) -> Option<String> {
    (!(0..=1).contains(&deleted))
        .then(|| format!("{what} deleted {deleted}, but it names one key (0 or 1)"))
}

/// What is wrong with the answer to step `n` of a txn's branch.
fn step_wrong(n: usize, step: &TxnStep, result: &StepResult) -> Vec<String> {
    match (step, result) {
        (TxnStep::Get { key, .. }, StepResult::Get { kv, count, more }) => {
            let kvs: Vec<_> = kv.iter().map(|kv| (key.as_str(), kv)).collect();
            let answer = RangeAnswer {
                kvs: &kvs,
                count: *count,
                more: *more,
            };
            answer.wrong(
                &format!("txn step {n} get"),
                &Asked::all(Scope::Span(key, "")),
            )
        }
        (TxnStep::Delete { .. }, StepResult::Delete { deleted }) => {
            one_key_deleted(&format!("txn step {n} delete"), *deleted)
                .into_iter()
                .collect()
        }
        _ => vec![],
    }
}

/// A grant answers the id asked for, and the TTL asked for or more (a
/// server raises a TTL below its minimum, 1.5 election timeouts, to it; no
/// minimum comes near [`EXPIRY_FREE_TTL`], so a TTL that long is answered
/// as asked).
fn grant_wrong(id: i64, ttl: i64, got: Option<i64>, ttl_got: Option<i64>) -> Vec<String> {
    let mut wrong = Vec::new();
    if let Some(got) = got.filter(|&got| got != id) {
        wrong.push(format!("lease grant id {got}, but {id} was asked"));
    }
    match ttl_got {
        Some(t) if t < ttl => wrong.push(format!("lease grant ttl {t}, below the {ttl} asked")),
        Some(t) if ttl >= EXPIRY_FREE_TTL && t != ttl => {
            wrong.push(format!("lease grant ttl {t}, but {ttl} was asked"))
        }
        _ => {}
    }
    wrong
}

/// The keys a read or delete covers.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// `[start, end)`; an empty end is `start` alone.
    Span(&'a str, &'a str),
    /// Every key that starts with it.
    Prefix(&'a str),
}

impl Scope<'_> {
    fn covers(self, key: &str) -> bool {
        match self {
            Scope::Span(start, end) => in_range(key, start, end),
            Scope::Prefix(prefix) => key.starts_with(prefix),
        }
    }
}

/// What a range read asked for, as far as its answer's shape goes.
struct Asked<'a> {
    scope: Scope<'a>,
    /// At most this many keys; 0 is no limit.
    limit: i64,
    keys_only: bool,
    count_only: bool,
    /// Its sort and filters, unless it is plain (key order, no filters).
    order: Option<&'a ListOrder>,
}

impl<'a> Asked<'a> {
    /// An unlimited read of `scope`.
    fn all(scope: Scope<'a>) -> Asked<'a> {
        Asked {
            scope,
            limit: 0,
            keys_only: false,
            count_only: false,
            order: None,
        }
    }
}

/// A range read's answer, as far as its shape goes.
struct RangeAnswer<'a> {
    /// Its keys and values, in the order received.
    kvs: &'a [(&'a str, &'a KeyValue)],
    /// Its count, if recorded.
    count: Option<i64>,
    more: bool,
}

impl RangeAnswer<'_> {
    /// A keys-only answer's values: each one returned is wrong.
    fn values_returned(&self, what: &str) -> Vec<String> {
        self.kvs
            .iter()
            .filter(|(_, kv)| !kv.value.is_empty())
            .map(|(k, kv)| {
                format!(
                    "keys-only {what} returned {k} with a value of {} bytes",
                    kv.value.len()
                )
            })
            .collect()
    }

    /// What is wrong with it, given what was `asked`; `what` names the
    /// read in the messages.
    fn wrong(&self, what: &str, asked: &Asked<'_>) -> Vec<String> {
        if let Some(order) = asked.order {
            return self.wrong_sorted(what, asked, order);
        }
        let keys: Vec<&str> = self.kvs.iter().map(|&(k, _)| k).collect();
        let mut wrong = keys_wrong(what, &keys, asked.scope);
        if asked.keys_only {
            wrong.extend(self.values_returned(what));
        }
        let n = self.kvs.len() as i64;
        let limit = asked.limit;
        match self.count {
            Some(count) => {
                let shown = if asked.count_only {
                    0
                } else if limit > 0 {
                    count.min(limit)
                } else {
                    count
                };
                if n != shown {
                    wrong.push(format!(
                        "{what} returned {n} kvs, but its count {count} with limit {limit} says {shown}"
                    ));
                }
                let more = !asked.count_only && limit > 0 && count > limit;
                if self.more != more {
                    wrong.push(format!(
                        "{what} more {}, but its count {count} with limit {limit} says {more}",
                        self.more
                    ));
                }
            }
            // Recorded before counts were: what the rest still tells.
            None => {
                if (limit > 0 && n > limit) || (asked.count_only && n > 0) {
                    wrong.push(format!("{what} returned {n} kvs, above its limit {limit}"));
                }
                if self.more && (limit == 0 || n != limit) {
                    wrong.push(format!(
                        "{what} more true, but it returned {n} kvs with limit {limit}"
                    ));
                }
            }
        }
        wrong
    }
}

impl RangeAnswer<'_> {
    /// What is wrong with the answer to a sorted or filtered read (etcd
    /// 3.4: the whole range read, filtered, sorted, then cut at the
    /// limit): its keys in the range, each once, in the order asked (ties
    /// on the sort target either way), each inside the filters; at most
    /// `limit` of them, exactly `limit` if `more`; its count every key of
    /// the range before the filters, so without filters the plain rules
    /// hold (`more` is whether the count passes the limit). Whether the
    /// keys it left out had to be left out is the model's to judge.
    fn wrong_sorted(&self, what: &str, asked: &Asked<'_>, order: &ListOrder) -> Vec<String> {
        let mut wrong: Vec<String> = self
            .kvs
            .iter()
            .filter(|(k, _)| !asked.scope.covers(k))
            .map(|(k, _)| format!("{what} returned {k}, outside the range asked"))
            .collect();
        let mut keys: Vec<&str> = self.kvs.iter().map(|&(k, _)| k).collect();
        keys.sort_unstable();
        for pair in keys.windows(2).filter(|p| p[0] == p[1]) {
            wrong.push(format!("{what} returned {} twice", pair[0]));
        }
        for pair in self.kvs.windows(2) {
            if order.rank(pair[0], pair[1]) == std::cmp::Ordering::Greater {
                wrong.push(format!(
                    "{what} returned {} after {}: not in the order asked ({:?} {:?})",
                    pair[1].0,
                    pair[0].0,
                    order.sort_target,
                    order.effective_order()
                ));
            }
        }
        for (k, kv) in self.kvs.iter().filter(|(_, kv)| !order.passes(kv)) {
            wrong.push(format!(
                "{what} returned {k} (mod revision {}, create revision {}), outside its filters",
                kv.mod_revision, kv.create_revision
            ));
        }
        if asked.keys_only {
            wrong.extend(self.values_returned(what));
        }
        let n = self.kvs.len() as i64;
        let limit = asked.limit;
        if asked.count_only && n > 0 {
            wrong.push(format!("count-only {what} returned {n} kvs"));
        }
        if limit > 0 && n > limit {
            wrong.push(format!("{what} returned {n} kvs, above its limit {limit}"));
        }
        if self.more && (limit == 0 || n != limit || asked.count_only) {
            wrong.push(format!(
                "{what} more true, but it returned {n} kvs with limit {limit}"
            ));
        }
        if let Some(count) = self.count {
            if n > count {
                wrong.push(format!("{what} returned {n} kvs, above its count {count}"));
            }
            if !order.filtered() && !asked.count_only {
                let shown = if limit > 0 { count.min(limit) } else { count };
                if n != shown {
                    wrong.push(format!(
                        "{what} returned {n} kvs, but its count {count} with limit {limit} says {shown}"
                    ));
                }
                if self.more != (limit > 0 && count > limit) {
                    wrong.push(format!(
                        "{what} more {}, but its count {count} with limit {limit} says {}",
                        self.more, !self.more
                    ));
                }
            }
        }
        wrong
    }
}

/// What is wrong with the keys of an answer: each must lie in `scope`, and
/// they come in key order, each once.
fn keys_wrong(what: &str, keys: &[&str], scope: Scope<'_>) -> Vec<String> {
    let mut wrong: Vec<String> = keys
        .iter()
        .filter(|k| !scope.covers(k))
        .map(|k| format!("{what} returned {k}, outside the range asked"))
        .collect();
    for pair in keys.windows(2).filter(|p| p[0] >= p[1]) {
        wrong.push(format!(
            "{what} returned {} after {}: not in key order, or twice",
            pair[1], pair[0]
        ));
    }
    wrong
}

fn pairs(kvs: &[(String, KeyValue)]) -> Vec<(&str, &KeyValue)> {
    kvs.iter().map(|(k, kv)| (k.as_str(), kv)).collect()
}
