//! The violation in words: why no order of the evidence works.
//!
//! The checker's proof that no linearization exists is a search that ran
//! out of orders; a person wants the reason. Most violations etcd-sim
//! finds are one of a few shapes, all about a read of key `k` that
//! returned value `v` (written by `W`): a write `X` of `k` certainly took
//! effect after `W` and before the read began, so the read should have
//! seen `X`'s value or a newer one (a stale read); or nobody wrote `v`
//! before the read ended. "Certainly after" is proven by real time (`X`
//! began after `W` was acknowledged) or by a read that began after `W` was
//! acknowledged and returned `X`'s value; "certainly before" by real time
//! or by a read of `X`'s value that ended before the read began. When the
//! minimal sub-history fits none of these shapes, the explanation says
//! what real time forces among its operations, which is what the search
//! could not reconcile.

use std::fmt::Write as _;

use crate::check::CheckReport;
use crate::history::{History, Operation, Outcome, Request, Response};

/// The verdict in sentences; `#N` names operation `N`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Explanation {
    /// One sentence per finding, the first violation first.
    pub sentences: Vec<String>,
    /// The operation where the first violation shows (the read that saw
    /// too little, say), to jump to.
    pub focus: Option<usize>,
}

/// Explains `report`'s evidence about `history`.
pub fn explain(history: &History, report: &CheckReport) -> Explanation {
    let mut explanation = Explanation::default();
    if let Some(failure) = &report.failure {
        let minimal = &failure.minimal;
        let ops = &history.operations;
        let found: Vec<(usize, String)> = minimal
            .iter()
            .filter_map(|&r| stale_read(history, minimal, r).map(|s| (r, s)))
            .collect();
        if let Some(&(read, _)) = found.first() {
            explanation.focus = Some(read);
        }
        explanation
            .sentences
            .extend(found.into_iter().map(|(_, s)| s));
        if explanation.sentences.is_empty() && !minimal.is_empty() {
            explanation.sentences.push(real_time_story(ops, minimal));
            explanation.focus = minimal.iter().copied().max_by_key(|&i| (ops[i].call_ns, i));
        }
        if !failure.longest_prefix.is_empty() && failure.operations > 0 {
            let last = failure.longest_prefix.last().expect("not empty");
            explanation.sentences.push(format!(
                "The longest order the search found places {} of the {} operations on {} \
                 (the blue numbers), ending with #{last}; from there no remaining operation \
                 can go next.",
                failure.longest_prefix.len(),
                failure.operations,
                keys(&failure.keys),
            ));
        }
    }
    for violation in &report.violations {
        explanation
            .sentences
            .push(format!("etcd's revision rules break: {violation}."));
        if explanation.focus.is_none() {
            explanation.focus = violation.operations().into_iter().max();
        }
    }
    explanation
}

fn keys(keys: &[String]) -> String {
    match keys {
        [] => "the history".to_string(),
        [one] => format!("key {one}"),
        many => format!("keys {}", many.join(", ")),
    }
}

/// A time for a sentence: seconds with millisecond precision.
fn at(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

/// What `op` read: each key and the value it saw (`None`: absent).
fn reads(op: &Operation) -> Vec<(&str, Option<&str>)> {
    match (&op.request, &op.outcome) {
        (Request::Get { key, .. }, Outcome::Ok(Response::Get { kv, .. })) => {
            vec![(key.as_str(), kv.as_ref().map(|kv| kv.value.as_str()))]
        }
        (Request::Range { .. }, Outcome::Ok(Response::Range { kvs, .. })) => kvs
            .iter()
            .map(|(k, kv)| (k.as_str(), Some(kv.value.as_str())))
            .collect(),
        (
            Request::Cas {
                key,
                expected: Some(expected),
                ..
            },
            Outcome::Ok(Response::Cas {
                succeeded: true, ..
            }),
        ) => vec![(key.as_str(), Some(expected.as_str()))],
        _ => vec![],
    }
}

/// The value `op` may have written to its key: `Some(None)` for a delete.
fn written(op: &Operation) -> Option<(&str, Option<&str>)> {
    let may_have = !matches!(
        op.outcome,
        Outcome::Fail(_)
            | Outcome::Ok(Response::Cas {
                succeeded: false,
                ..
            })
    );
    match &op.request {
        _ if !may_have => None,
        Request::Put { key, value, .. } | Request::Cas { key, value, .. } => {
            Some((key.as_str(), Some(value.as_str())))
        }
        Request::Delete { key } => Some((key.as_str(), None)),
        _ => None,
    }
}

fn acknowledged(op: &Operation) -> bool {
    matches!(op.outcome, Outcome::Ok(_))
}

fn returned(op: &Operation) -> bool {
    op.return_ns != u64::MAX
}

fn show(value: Option<&str>) -> String {
    value.map_or("nothing (absent)".to_string(), str::to_string)
}

/// Why read `r` of the minimal sub-history could not have seen what it
/// did, if it is one of the shapes of the module docs.
fn stale_read(history: &History, minimal: &[usize], r: usize) -> Option<String> {
    let ops = &history.operations;
    let read = &ops[r];
    for (key, seen) in reads(read) {
        let source = seen.and_then(|v| {
            ops.iter()
                .position(|op| written(op) == Some((key, Some(v))))
        });
        if let (Some(value), None) = (seen, source) {
            return Some(format!(
                "Read #{r} returned {key}={value}, but no operation wrote that value."
            ));
        }
        if let Some(w) = source.filter(|&w| ops[w].call_ns > read.return_ns) {
            return Some(format!(
                "Read #{r} returned {key}={value} and ended at {}, but #{w}, which wrote it, \
                 began only at {}.",
                at(read.return_ns),
                at(ops[w].call_ns),
                value = show(seen),
            ));
        }
        // Absent with no delete in the evidence: the key was never written
        // as far as the read is concerned, so any write before it is news.
        let deletes = minimal
            .iter()
            .any(|&d| matches!(written(&ops[d]), Some((k, None)) if k == key));
        if source.is_none() && deletes {
            continue;
        }
        for &x in minimal {
            let Some((k, Some(newer))) = written(&ops[x]) else {
                continue;
            };
            if k != key || Some(x) == source || x == r {
                continue;
            }
            let Some(after) = after_source(ops, minimal, source, x, key, newer) else {
                continue;
            };
            let Some(before) = before_read(ops, minimal, r, x, key, newer) else {
                continue;
            };
            let (noun, saw) = match read.request {
                Request::Cas { .. } => ("Compare-and-set", "found"),
                _ => ("Read", "returned"),
            };
            let mut s = format!(
                "{noun} #{r} (client {}, {}–{}) {saw} {key}={}",
                read.client,
                at(read.call_ns),
                at(read.return_ns),
                show(seen)
            );
            if let Some(w) = source {
                let _ = write!(s, ", which #{w} wrote");
            }
            let _ = write!(
                s,
                "; but #{x} wrote {key}={newer} after that ({after}) and before #{r} began \
                 ({before}). So #{r} should have returned {newer} or a newer value: \
                 no order of these operations explains it."
            );
            return Some(s);
        }
    }
    None
}

/// Why write `x` (of `value` to `key`) certainly took effect after
/// `source`, the write whose value the read saw (`None`: the key's
/// initial absence, which every write follows).
fn after_source(
    ops: &[Operation],
    minimal: &[usize],
    source: Option<usize>,
    x: usize,
    key: &str,
    value: &str,
) -> Option<String> {
    let Some(w) = source else {
        return Some("the key was absent until written".to_string());
    };
    let (w_op, x_op) = (&ops[w], &ops[x]);
    if returned(w_op) && w_op.return_ns < x_op.call_ns {
        return Some(format!(
            "#{x} began at {}, after #{w} was acknowledged at {}",
            at(x_op.call_ns),
            at(w_op.return_ns)
        ));
    }
    minimal.iter().find_map(|&r2| {
        let r2_op = &ops[r2];
        let saw = reads(r2_op).contains(&(key, Some(value)));
        (saw && returned(w_op) && w_op.return_ns < r2_op.call_ns).then(|| {
            format!(
                "read #{r2} began at {}, after #{w} was acknowledged, and returned {value}",
                at(r2_op.call_ns)
            )
        })
    })
}

/// Why write `x` (of `value` to `key`) certainly took effect before read
/// `r` began.
fn before_read(
    ops: &[Operation],
    minimal: &[usize],
    r: usize,
    x: usize,
    key: &str,
    value: &str,
) -> Option<String> {
    let (x_op, r_op) = (&ops[x], &ops[r]);
    if acknowledged(x_op) && x_op.return_ns < r_op.call_ns {
        return Some(format!(
            "#{x} was acknowledged at {}, before #{r} began at {}",
            at(x_op.return_ns),
            at(r_op.call_ns)
        ));
    }
    minimal.iter().find_map(|&r2| {
        let r2_op = &ops[r2];
        let saw = r2 != r && reads(r2_op).contains(&(key, Some(value)));
        (saw && r2_op.return_ns < r_op.call_ns).then(|| {
            format!(
                "read #{r2} returned {value} and ended at {}, before #{r} began at {}",
                at(r2_op.return_ns),
                at(r_op.call_ns)
            )
        })
    })
}

/// The fallback: what real time forces among the evidence.
fn real_time_story(ops: &[Operation], minimal: &[usize]) -> String {
    let mut forced = Vec::new();
    for &a in minimal {
        for &b in minimal {
            if a != b && returned(&ops[a]) && ops[a].return_ns < ops[b].call_ns {
                forced.push(format!("#{a} before #{b}"));
            }
        }
    }
    let mut s = format!(
        "No order of these {} operations explains every response; each is needed (without \
         any one of them an order exists).",
        minimal.len()
    );
    if forced.is_empty() {
        s += " All of them overlap in time, so real time forces no order: the responses \
               contradict each other in every order.";
    } else {
        let _ = write!(
            s,
            " Real time forces {}; every order that respects that leaves some response \
             unexplained.",
            forced.join(", ")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check_kv, CheckOptions, KeyValue};

    fn op(client: u32, call: u64, ret: u64, request: Request, response: Response) -> Operation {
        Operation {
            client,
            call_ns: call * 1_000_000,
            return_ns: ret * 1_000_000,
            request,
            outcome: Outcome::Ok(response),
            served_by: None,
            persisted: None,
        }
    }

    fn put(client: u32, call: u64, ret: u64, value: &str, revision: i64) -> Operation {
        let request = Request::Put {
            key: "k1".into(),
            value: value.into(),
            lease: 0,
        };
        op(client, call, ret, request, Response::Put { revision })
    }

    fn get(client: u32, call: u64, ret: u64, value: &str, revision: i64) -> Operation {
        let request = Request::Get {
            key: "k1".into(),
            serializable: false,
        };
        let kv = KeyValue {
            value: value.into(),
            create_revision: 2,
            mod_revision: 2,
            version: 1,
        };
        let response = Response::Get {
            kv: Some(kv),
            revision,
            count: Some(1),
            more: false,
        };
        op(client, call, ret, request, response)
    }

    #[test]
    fn a_stale_read_is_told_as_the_write_it_missed() {
        let history = History {
            operations: vec![
                put(1, 0, 10, "c1-2", 2),
                put(2, 20, 30, "c2-21", 3),
                get(3, 40, 50, "c1-2", 3),
            ],
            faults: vec![],
        };
        let report = check_kv(&history, &CheckOptions::default());
        let explanation = explain(&history, &report);
        assert_eq!(explanation.focus, Some(2));
        let first = &explanation.sentences[0];
        assert!(first.contains("Read #2"), "{first}");
        assert!(
            first.contains("returned k1=c1-2, which #0 wrote"),
            "{first}"
        );
        assert!(
            first.contains("#1 began at 0.020s, after #0 was acknowledged at 0.010s"),
            "{first}"
        );
        assert!(
            first.contains("#1 was acknowledged at 0.030s, before #2 began at 0.040s"),
            "{first}"
        );
    }

    #[test]
    fn the_order_between_writes_can_come_from_a_read() {
        // The writes overlap, but a read after the first ended saw the
        // second: so the second is newer, and a later read missed it.
        let history = History {
            operations: vec![
                put(1, 0, 30, "a", 2),
                put(2, 5, 40, "b", 3),
                get(3, 35, 45, "b", 3),
                get(4, 50, 60, "a", 3),
            ],
            faults: vec![],
        };
        let report = check_kv(&history, &CheckOptions::default());
        let explanation = explain(&history, &report);
        let text = explanation.sentences.join(" ");
        assert!(text.contains("Read #3"), "{text}");
        assert!(
            text.contains("read #2 began at 0.035s, after #0 was acknowledged"),
            "{text}"
        );
    }

    #[test]
    fn a_linearizable_history_needs_no_words() {
        let history = History {
            operations: vec![put(1, 0, 10, "a", 2), get(2, 20, 30, "a", 2)],
            faults: vec![],
        };
        let report = check_kv(&history, &CheckOptions::default());
        assert_eq!(explain(&history, &report), Explanation::default());
    }
}
