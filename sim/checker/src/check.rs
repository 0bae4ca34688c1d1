//! The verdict on a history: the search per part, the revision invariants,
//! and the evidence a person needs when something is wrong.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use crate::history::{History, Outcome, Request, Response};
use crate::invariants::{self, Violation};
use crate::kv::{keys_apart, model_ops, parts, ModelOps, Part};
use crate::search::{search, search_bounded, search_parts, Search};

/// How to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Check each independent part (key) on its own; much faster, and the
    /// same verdict.
    pub partition_by_key: bool,
    /// Give up after this long (verdict [`Verdict::Unknown`]).
    pub timeout: Option<Duration>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            partition_by_key: true,
            timeout: None,
        }
    }
}

/// The checker's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Some order of the operations explains every response.
    Linearizable,
    /// None does, or an invariant is broken.
    NotLinearizable,
    /// The timeout passed before a verdict.
    Unknown,
}

/// A part the search could not linearize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The keys of the part.
    pub keys: Vec<String>,
    /// The smallest set of its operations found that is still not
    /// linearizable (indices into the history's operations).
    pub minimal: Vec<usize>,
    /// The longest linearizable prefix the search found (porcupine's
    /// partial linearization): indices into the history's operations, in
    /// the order it linearized them. Where it stops is where every order
    /// got stuck.
    pub longest_prefix: Vec<usize>,
    /// How many operations the part had.
    pub operations: usize,
}

/// A verdict with its evidence.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The verdict.
    pub verdict: Verdict,
    /// The first part that is not linearizable, if any.
    pub failure: Option<Failure>,
    /// Broken revision invariants.
    pub violations: Vec<Violation>,
    /// The history's operations, rendered, for the evidence.
    rendered: Vec<String>,
}

impl CheckReport {
    /// A report of a bare search verdict, for histories of other models
    /// (porcupine's), which carry no evidence beyond it.
    pub fn from_search(result: &Search) -> Self {
        let (verdict, failure) = match *result {
            Search::Linearizable => (Verdict::Linearizable, None),
            Search::NotLinearizable { ref prefix } => (
                Verdict::NotLinearizable,
                Some(Failure {
                    keys: vec![],
                    minimal: vec![],
                    longest_prefix: prefix.clone(),
                    operations: 0,
                }),
            ),
            Search::TimedOut | Search::OutOfSteps => (Verdict::Unknown, None),
        };
        CheckReport {
            verdict,
            failure,
            violations: vec![],
            rendered: vec![],
        }
    }

    /// The operations that make up the evidence, each once, in order.
    pub fn failing_operations(&self) -> Vec<usize> {
        let mut ops: Vec<usize> = self
            .failure
            .iter()
            .flat_map(|f| f.minimal.iter().copied())
            .chain(self.violations.iter().flat_map(Violation::operations))
            .collect();
        ops.sort_unstable();
        ops.dedup();
        ops
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.verdict {
            Verdict::Linearizable => return f.write_str("linearizable"),
            Verdict::Unknown => {
                return f.write_str("unknown: the checker gave up (its time or memory bound)")
            }
            Verdict::NotLinearizable => {}
        }
        if let Some(failure) = self.failure.as_ref().filter(|f| f.minimal.is_empty()) {
            writeln!(
                f,
                "no linearization exists (longest linearizable prefix: {} operations)",
                failure.longest_prefix.len()
            )?;
        } else if let Some(failure) = &self.failure {
            writeln!(
                f,
                "keys {:?}: no linearization of {} operations (longest linearizable prefix: {}); \
                 a minimal non-linearizable sub-history of {}:",
                failure.keys,
                failure.operations,
                failure.longest_prefix.len(),
                failure.minimal.len()
            )?;
            for &i in &failure.minimal {
                writeln!(f, "  {}", self.rendered[i])?;
            }
        }
        for violation in &self.violations {
            writeln!(f, "invariant: {violation}")?;
            for i in violation.operations() {
                writeln!(f, "  {}", self.rendered[i])?;
            }
        }
        Ok(())
    }
}

/// Checks `history` against etcd-sim's KV model and etcd's revision rules.
pub fn check_kv(history: &History, options: &CheckOptions) -> CheckReport {
    let deadline = options.timeout.map(|t| Instant::now() + t);
    let mut violations = invariants::revisions(history);
    violations.extend(invariants::reads(history));
    violations.extend(invariants::at_revision(history));
    violations.extend(crate::answers::answers(history));
    let mut report = CheckReport {
        verdict: Verdict::Linearizable,
        failure: None,
        violations,
        rendered: Vec::new(),
    };
    let mut parts = parts(history, options.partition_by_key);
    if options.partition_by_key {
        // Keys joined by ranges are first checked apart, each with the
        // ranges read as gets of it: a quick refutation of most violations
        // (see `keys_apart`), before the joined search.
        let apart: Vec<Part> = parts
            .iter()
            .filter(|part| part.keys.len() > 1)
            .flat_map(|part| keys_apart(history, part))
            .collect();
        parts.splice(0..0, apart);
    }
    let first_failure = search_parts(parts.len(), |i, budget| {
        let part = model_ops(history, &parts[i], &parts[i].members);
        search_bounded(&part.model, &part.ops, deadline, budget)
    });
    match first_failure {
        None => {}
        Some((_, Search::TimedOut)) => {
            // A broken revision rule is proof enough on its own.
            if report.violations.is_empty() {
                report.verdict = Verdict::Unknown;
            } else {
                report.verdict = Verdict::NotLinearizable;
                report.rendered = render(history);
            }
            return report;
        }
        Some((i, Search::NotLinearizable { prefix })) => {
            let part = &parts[i];
            report.failure = Some(Failure {
                minimal: minimize(history, part, deadline),
                keys: part.keys.clone(),
                longest_prefix: history_order(&model_ops(history, part, &part.members), &prefix),
                operations: part.members.len(),
            });
        }
        Some((_, other)) => unreachable!("search_parts ends on a failure, not {other:?}"),
    }
    if report.failure.is_some() || !report.violations.is_empty() {
        report.verdict = Verdict::NotLinearizable;
        report.rendered = render(history);
    }
    report
}

/// Every operation in words, for the evidence: only a failing history needs
/// it, and a history of large values takes a while to render.
fn render(history: &History) -> Vec<String> {
    history
        .operations
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let ret = if op.return_ns == u64::MAX {
                "never".to_string()
            } else {
                format!("{:.6}s", op.return_ns as f64 / 1e9)
            };
            format!(
                "#{i} client {} [{:.6}s, {ret}] {:?} -> {:?}",
                op.client,
                op.call_ns as f64 / 1e9,
                op.request,
                op.outcome
            )
        })
        .collect()
}

fn is_read_by_a_kept_read(history: &History, write: usize, kept: &[usize]) -> bool {
    let (Request::Put { key, value, .. } | Request::Cas { key, value, .. }) =
        &history.operations[write].request
    else {
        return false;
    };
    kept.iter().any(|&r| match &history.operations[r].outcome {
        Outcome::Ok(Response::Get { kv: Some(kv), .. }) => {
            kv.value == *value
                && matches!(&history.operations[r].request, Request::Get { key: k, .. } if k == key)
        }
        Outcome::Ok(Response::Range { kvs, .. }) => {
            kvs.iter().any(|(k, kv)| k == key && kv.value == *value)
        }
        // A compare-and-set that succeeded read its expected value too.
        Outcome::Ok(Response::Cas {
            succeeded: true, ..
        }) => matches!(
            &history.operations[r].request,
            Request::Cas { key: k, expected: Some(e), .. } if k == key && e == value
        ),
        _ => false,
    })
}

fn search_part(
    history: &History,
    part: &Part,
    members: &[usize],
    deadline: Option<Instant>,
) -> Search {
    let part = model_ops(history, part, members);
    search(&part.model, &part.ops, deadline)
}

/// The history operations behind `prefix` (indices into `part.ops`), each
/// once, where it first appears.
fn history_order(part: &ModelOps, prefix: &[usize]) -> Vec<usize> {
    let mut seen = BTreeSet::new();
    prefix
        .iter()
        .map(|&j| part.origins[j])
        .filter(|&i| seen.insert(i))
        .collect()
}

/// Drops operations one at a time while what is left stays
/// non-linearizable (delta debugging, one element at a time). A write whose
/// value a kept read (or successful compare-and-set) saw stays: without it the read would fail for
/// the dull reason that nobody wrote its value, and hide the real story.
fn minimize(history: &History, part: &Part, deadline: Option<Instant>) -> Vec<usize> {
    let mut kept = part.members.clone();
    // Passes until nothing more can go: dropping a read can free its write.
    loop {
        let before = kept.len();
        let mut i = 0;
        while i < kept.len() {
            if is_read_by_a_kept_read(history, kept[i], &kept) {
                i += 1;
                continue;
            }
            let mut without = kept.clone();
            without.remove(i);
            match search_part(history, part, &without, deadline) {
                Search::NotLinearizable { .. } => kept = without,
                Search::Linearizable => i += 1,
                Search::TimedOut | Search::OutOfSteps => return kept,
            }
        }
        if kept.len() == before {
            return kept;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Operation;

    fn op(call_ns: u64, request: Request, outcome: Outcome) -> Operation {
        Operation {
            client: 0,
            call_ns,
            return_ns: call_ns + 5,
            request,
            outcome,
            served_by: None,
            persisted: None,
        }
    }

    fn put(call_ns: u64, value: &str, lease: i64, revision: i64) -> Operation {
        let request = Request::Put {
            key: "k".into(),
            value: value.into(),
            lease,
        };
        op(call_ns, request, Outcome::Ok(Response::Put { revision }))
    }

    /// A lease that may expire is two model operations (its grant and an
    /// expiry), so the search's prefix, which indexes those, is no index
    /// into the part's operations. Read as one, a prefix through the put
    /// of d (the sixth of seven operations, the eighth of nine model
    /// operations) ran past them and the checker panicked (found by
    /// `etcd-14370`, seed 940).
    #[test]
    fn a_prefix_of_model_operations_names_each_history_operation_once() {
        let grant = |call_ns, id, revision| {
            let request = Request::LeaseGrant { id, ttl: 5 };
            op(
                call_ns,
                request,
                Outcome::Ok(Response::LeaseGrant {
                    revision,
                    id: Some(id),
                    ttl: Some(5),
                }),
            )
        };
        let history = History {
            operations: vec![
                grant(0, 9, 2),
                grant(10, 10, 3),
                put(20, "a", 9, 4),
                put(30, "b", 10, 5),
                put(40, "c", 0, 6),
                put(50, "d", 0, 7),
            ],
            faults: vec![],
        };
        let part = &parts(&history, true)[0];
        assert_eq!(
            part.members,
            [0, 1, 2, 3, 4, 5],
            "one part: {:?}",
            part.keys
        );
        let model = model_ops(&history, part, &part.members);
        assert_eq!(model.origins, [0, 0, 1, 1, 2, 3, 4, 5], "each grant twice");
        assert_eq!(model.ops.len(), model.origins.len());
        let prefix = [1, 3, 0, 4, 5, 6, 7];
        assert_eq!(history_order(&model, &prefix), [0, 1, 2, 3, 4, 5]);
    }
}
