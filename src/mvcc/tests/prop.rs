//! The store against [`Model`] on random request sequences (issue 4:
//! "a model-based property test ... with compaction included").
//!
//! Runs `PROPTEST_CASES` sequences (proptest's default, 256, when unset);
//! CI sets `PROPTEST_CASES=10000`. `PROPTEST_RNG_SEED` fixes the seed.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::model::Model;
use crate::mvcc::txn::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp,
    SortOrder, SortTarget, TargetUnion, TxnRequest,
};
use crate::mvcc::{KvStore, RangeOptions};

/// One step of a test sequence.
#[derive(Debug, Clone)]
enum Step {
    Put(PutRequest),
    Delete(DeleteRangeRequest),
    Range(RangeRequest),
    /// The store-level read, without the request layer.
    RawRange(Vec<u8>, Vec<u8>, RangeOptions),
    Txn(TxnRequest),
    Compact(i64),
    /// Replace the store by `restore(snapshot())`.
    Restart,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    select(vec!["a", "b", "ba", "c", "d"]).prop_map(|k| k.as_bytes().to_vec())
}

fn range_end() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => Just(vec![]),
        1 => Just(vec![0]),
        2 => select(vec!["a", "b", "bb", "c", "e"]).prop_map(|k| k.as_bytes().to_vec()),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    select(vec!["", "x", "y", "zz"]).prop_map(|v| v.as_bytes().to_vec())
}

/// Revisions `>= RELATIVE` stand for `current - (r - RELATIVE)`, resolved
/// when the step runs (see [`resolve`]): sequences are generated before the
/// revisions they could name are known.
const RELATIVE: i64 = 1_000_000;

/// Mostly the current or a recent revision; sometimes a negative, future or
/// long-compacted one.
fn revision() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => Just(0),
        4 => (RELATIVE - 1)..(RELATIVE + 6),
        1 => -2..30i64,
    ]
}

/// Replaces relative revisions (see [`RELATIVE`]) by absolute ones.
fn resolve(step: &Step, current: i64) -> Step {
    let abs = |r: i64| {
        if r >= RELATIVE - 1 {
            current - (r - RELATIVE)
        } else {
            r
        }
    };
    match step {
        Step::Range(q) => Step::Range(RangeRequest {
            revision: abs(q.revision),
            ..q.clone()
        }),
        Step::RawRange(k, e, o) => Step::RawRange(
            k.clone(),
            e.clone(),
            RangeOptions {
                rev: abs(o.rev),
                ..*o
            },
        ),
        Step::Txn(t) => Step::Txn(resolve_txn(t, &abs)),
        Step::Compact(r) => Step::Compact(abs(*r)),
        step => step.clone(),
    }
}

fn filter() -> impl Strategy<Value = i64> {
    prop_oneof![4 => Just(0), 1 => 1..15i64]
}

fn range_request() -> impl Strategy<Value = RangeRequest> {
    let sort = (
        select(vec![SortOrder::None, SortOrder::Ascend, SortOrder::Descend]),
        select(vec![
            SortTarget::Key,
            SortTarget::Version,
            SortTarget::Create,
            SortTarget::Mod,
            SortTarget::Value,
        ]),
    );
    let flags = (any::<bool>(), prop::bool::weighted(0.2), any::<bool>());
    let filters = (filter(), filter(), filter(), filter());
    (
        key(),
        range_end(),
        -1..5i64,
        revision(),
        sort,
        flags,
        filters,
    )
        .prop_map(
            |(key, range_end, limit, revision, sort, flags, filters)| RangeRequest {
                key,
                range_end,
                limit,
                revision,
                sort_order: sort.0,
                sort_target: sort.1,
                serializable: flags.0,
                count_only: flags.1,
                keys_only: flags.2,
                min_mod_revision: filters.0,
                max_mod_revision: filters.1,
                min_create_revision: filters.2,
                max_create_revision: filters.3,
            },
        )
}

fn put_request() -> impl Strategy<Value = PutRequest> {
    let rare = || prop::bool::weighted(0.15);
    (key(), value(), 0..3i64, any::<bool>(), rare(), rare()).prop_map(
        |(key, value, lease, prev_kv, ignore_value, ignore_lease)| PutRequest {
            key,
            value,
            lease,
            prev_kv,
            ignore_value,
            ignore_lease,
        },
    )
}

fn delete_request() -> impl Strategy<Value = DeleteRangeRequest> {
    (key(), range_end(), any::<bool>()).prop_map(|(key, range_end, prev_kv)| DeleteRangeRequest {
        key,
        range_end,
        prev_kv,
    })
}

fn compare() -> impl Strategy<Value = Compare> {
    let target = select(vec![
        CompareTarget::Version,
        CompareTarget::Create,
        CompareTarget::Mod,
        CompareTarget::Value,
        CompareTarget::Lease,
    ]);
    let result = select(vec![
        CompareResult::Equal,
        CompareResult::Greater,
        CompareResult::Less,
        CompareResult::NotEqual,
    ]);
    let end = prop_oneof![4 => Just(vec![]), 1 => range_end()];
    let operand = (-1..8i64, value(), prop::bool::weighted(0.1), 0..5u8);
    (target, result, key(), end, operand).prop_map(|(target, result, key, range_end, op)| {
        let (n, v, mismatch, other) = op;
        let matching = match target {
            CompareTarget::Version => TargetUnion::Version(n),
            CompareTarget::Create => TargetUnion::CreateRevision(n),
            CompareTarget::Mod => TargetUnion::ModRevision(n),
            CompareTarget::Value => TargetUnion::Value(v),
            CompareTarget::Lease => TargetUnion::Lease(n),
        };
        // Now and then an operand of another kind, or none at all.
        let target_union = match (mismatch, other) {
            (false, _) => Some(matching),
            (true, 0) => None,
            (true, 1) => Some(TargetUnion::Version(n)),
            (true, 2) => Some(TargetUnion::ModRevision(n)),
            (true, 3) => Some(TargetUnion::Lease(n)),
            (true, _) => Some(TargetUnion::Value(b"x".to_vec())),
        };
        Compare {
            result,
            target,
            key,
            range_end,
            target_union,
        }
    })
}

fn request_op(depth: u32) -> BoxedStrategy<RequestOp> {
    let leaf = prop_oneof![
        2 => range_request().prop_map(RequestOp::Range),
        2 => put_request().prop_map(RequestOp::Put),
        1 => delete_request().prop_map(RequestOp::DeleteRange),
    ];
    if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![5 => leaf, 1 => txn_request(depth - 1).prop_map(RequestOp::Txn)].boxed()
    }
}

fn txn_request(depth: u32) -> BoxedStrategy<TxnRequest> {
    (
        vec(compare(), 0..3),
        vec(request_op(depth), 0..4),
        vec(request_op(depth), 0..4),
    )
        .prop_map(|(compare, success, failure)| TxnRequest {
            compare,
            success,
            failure,
        })
        .boxed()
}

/// [`resolve`] for the ranges of a txn, nested ones included.
fn resolve_txn(t: &TxnRequest, abs: &dyn Fn(i64) -> i64) -> TxnRequest {
    let ops = |ops: &[RequestOp]| {
        ops.iter()
            .map(|op| match op {
                RequestOp::Range(q) => RequestOp::Range(RangeRequest {
                    revision: abs(q.revision),
                    ..q.clone()
                }),
                RequestOp::Txn(t) => RequestOp::Txn(resolve_txn(t, abs)),
                op => op.clone(),
            })
            .collect()
    };
    TxnRequest {
        compare: t.compare.clone(),
        success: ops(&t.success),
        failure: ops(&t.failure),
    }
}

fn step() -> impl Strategy<Value = Step> {
    let raw = (key(), range_end(), -1..4i64, revision(), any::<bool>());
    prop_oneof![
        5 => put_request().prop_map(Step::Put),
        2 => delete_request().prop_map(Step::Delete),
        3 => range_request().prop_map(Step::Range),
        1 => raw.prop_map(|(k, e, limit, rev, count_only)| {
            Step::RawRange(k, e, RangeOptions { limit, rev, count_only })
        }),
        3 => txn_request(2).prop_map(Step::Txn),
        1 => prop_oneof![3 => (RELATIVE - 1)..(RELATIVE + 5), 1 => -2..30i64]
            .prop_map(Step::Compact),
        1 => Just(Step::Restart),
    ]
}

fn config() -> ProptestConfig {
    // `default()` reads PROPTEST_CASES and PROPTEST_RNG_SEED. No regression
    // files: a failure prints its minimal sequence, which becomes a test.
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn store_agrees_with_the_reference_model(steps in vec(step(), 1..50)) {
        let mut store = KvStore::new();
        let mut model = Model::new();
        for (i, step) in steps.iter().enumerate() {
            let step = &resolve(step, model.current);
            match step {
                Step::Put(p) => prop_assert_eq!(store.apply_put(p), model.apply_put(p), "step {}", i),
                Step::Delete(d) => prop_assert_eq!(
                    store.apply_delete_range(d), model.apply_delete_range(d), "step {}", i
                ),
                Step::Range(r) => prop_assert_eq!(
                    store.apply_range(r), model.apply_range(r), "step {}", i
                ),
                Step::RawRange(k, e, o) => prop_assert_eq!(
                    store.range(k, e, *o), model.range(k, e, *o), "step {}", i
                ),
                Step::Txn(t) => {
                    let want = model.apply_txn(t);
                    if t.is_read_only() {
                        prop_assert_eq!(&store.apply_read_txn(t), &want, "step {} (read)", i);
                    }
                    prop_assert_eq!(store.apply_txn(t), want, "step {}", i);
                }
                Step::Compact(rev) => prop_assert_eq!(store.compact(*rev), model.compact(*rev), "step {}", i),
                Step::Restart => {
                    let restored = KvStore::restore(&store.snapshot());
                    prop_assert_eq!(restored.as_ref(), Ok(&store), "step {}", i);
                    store = restored.unwrap();
                }
            }
            prop_assert_eq!(store.current_revision(), model.current, "step {}", i);
            prop_assert_eq!(store.compacted_revision(), model.compacted.max(0), "step {}", i);
        }
    }
}
