//! Behaviour of the request layer, case by case (etcd 3.4's
//! `etcdserver/apply.go` is the reference for each).

use super::*;
use crate::mvcc::{KeyValue, KvStore, MvccError};

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

fn get(key: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        ..Default::default()
    }
}

fn prefix(key: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        range_end: vec![0],
        ..Default::default()
    }
}

fn version_is(key: &str, version: i64) -> Compare {
    Compare {
        result: CompareResult::Equal,
        target: CompareTarget::Version,
        key: key.into(),
        range_end: vec![],
        target_union: Some(TargetUnion::Version(version)),
    }
}

/// `a=1` at revision 2, `b=22` at 3, `c=3` at 4, `a=111` at 5.
fn store() -> KvStore {
    let mut s = KvStore::new();
    for (k, v) in [("a", "1"), ("b", "22"), ("c", "3"), ("a", "111")] {
        s.apply_put(&put(k, v)).unwrap();
    }
    s
}

fn keys(kvs: &[KeyValue]) -> Vec<&[u8]> {
    kvs.iter().map(|kv| kv.key.as_slice()).collect()
}

#[test]
fn put_returns_the_previous_key_value_when_asked() {
    let mut s = store();
    let resp = s
        .apply_put(&PutRequest {
            prev_kv: true,
            ..put("a", "x")
        })
        .unwrap();
    assert_eq!(resp.header.revision, 6);
    let prev = resp.prev_kv.unwrap();
    assert_eq!((prev.value.as_slice(), prev.version), (&b"111"[..], 2));
    let resp = s
        .apply_put(&PutRequest {
            prev_kv: true,
            ..put("new", "x")
        })
        .unwrap();
    assert_eq!(resp.prev_kv, None);
}

#[test]
fn ignore_value_and_ignore_lease_keep_what_is_there_or_fail_on_a_missing_key() {
    let mut s = KvStore::new();
    s.apply_put(&PutRequest {
        lease: 7,
        ..put("a", "v")
    })
    .unwrap();
    s.apply_put(&PutRequest {
        ignore_value: true,
        ignore_lease: true,
        ..put("a", "")
    })
    .unwrap();
    let kv = &s.apply_range(&get("a")).unwrap().kvs[0];
    assert_eq!(
        (kv.value.as_slice(), kv.lease, kv.version),
        (&b"v"[..], 7, 2)
    );
    let missing = PutRequest {
        ignore_value: true,
        ..put("b", "")
    };
    assert_eq!(s.apply_put(&missing), Err(MvccError::KeyNotFound));
    let missing = PutRequest {
        ignore_lease: true,
        ..put("b", "x")
    };
    assert_eq!(s.apply_put(&missing), Err(MvccError::KeyNotFound));
    assert_eq!(s.current_revision(), 3);
}

#[test]
fn delete_range_reports_what_it_deleted_and_a_miss_keeps_the_revision() {
    let mut s = store();
    let resp = s.apply_delete_range(&DeleteRangeRequest {
        key: "a".into(),
        range_end: "c".into(),
        prev_kv: true,
    });
    assert_eq!((resp.deleted, resp.header.revision), (2, 6));
    assert_eq!(keys(&resp.prev_kvs), vec![b"a", b"b"]);
    let resp = s.apply_delete_range(&DeleteRangeRequest {
        key: "zz".into(),
        ..Default::default()
    });
    assert_eq!((resp.deleted, resp.header.revision), (0, 6));
}

#[test]
fn range_sorts_then_limits_and_counts_everything() {
    let s = store();
    let r = s
        .apply_range(&RangeRequest {
            sort_order: SortOrder::Descend,
            sort_target: SortTarget::Mod,
            limit: 2,
            ..prefix("")
        })
        .unwrap();
    assert_eq!(keys(&r.kvs), vec![b"a", b"c"]);
    assert!(r.more);
    assert_eq!(r.count, 3);
    assert_eq!(r.header.revision, 5);
}

#[test]
fn range_count_ignores_the_revision_filters() {
    let s = store();
    let r = s
        .apply_range(&RangeRequest {
            min_create_revision: 3,
            ..prefix("")
        })
        .unwrap();
    assert_eq!(keys(&r.kvs), vec![b"b", b"c"]);
    assert_eq!(r.count, 3);
}

#[test]
fn a_non_key_target_without_order_sorts_ascending_after_the_limit() {
    // etcd fetches `limit + 1` keys in key order and only then sorts them.
    let s = store();
    let r = s
        .apply_range(&RangeRequest {
            sort_target: SortTarget::Value,
            limit: 1,
            ..prefix("")
        })
        .unwrap();
    assert_eq!(keys(&r.kvs), vec![b"a"]);
    assert!(r.more);
}

#[test]
fn keys_only_and_count_only_strip_the_answer() {
    let s = store();
    let r = s
        .apply_range(&RangeRequest {
            keys_only: true,
            ..get("b")
        })
        .unwrap();
    assert_eq!((r.kvs[0].value.len(), r.kvs[0].version), (0, 1));
    let r = s
        .apply_range(&RangeRequest {
            count_only: true,
            ..prefix("")
        })
        .unwrap();
    assert_eq!((r.kvs.len(), r.count, r.more), (0, 3, false));
}

#[test]
fn historical_ranges_see_old_values() {
    let mut s = store();
    let old = RangeRequest {
        revision: 2,
        ..get("a")
    };
    assert_eq!(s.apply_range(&old).unwrap().kvs[0].value, b"1");
    s.compact(3).unwrap();
    assert_eq!(s.apply_range(&old), Err(MvccError::Compacted));
    let future = RangeRequest {
        revision: 6,
        ..get("a")
    };
    assert_eq!(s.apply_range(&future), Err(MvccError::FutureRev));
}

#[test]
fn a_txn_is_one_revision_and_its_ops_see_each_other() {
    let mut s = store();
    let txn = TxnRequest {
        compare: vec![version_is("a", 2)],
        success: vec![
            RequestOp::Put(put("d", "4")),
            RequestOp::Range(prefix("c")),
            RequestOp::Put(put("d", "44")),
        ],
        failure: vec![],
    };
    let resp = s.apply_txn(&txn).unwrap();
    assert!(resp.succeeded);
    assert_eq!(resp.header.revision, 6);
    let ResponseOp::Range(seen) = &resp.responses[1] else {
        panic!("{resp:?}")
    };
    assert_eq!(
        (keys(&seen.kvs), seen.header.revision),
        (vec![&b"c"[..], b"d"], 6)
    );
    let d = &s.apply_range(&get("d")).unwrap().kvs[0];
    assert_eq!(
        (d.value.as_slice(), d.version, d.mod_revision),
        (&b"44"[..], 2, 6)
    );
}

#[test]
fn a_failed_compare_runs_the_failure_branch() {
    let mut s = store();
    let txn = TxnRequest {
        compare: vec![version_is("a", 1)],
        success: vec![RequestOp::Put(put("a", "no"))],
        failure: vec![RequestOp::Range(get("a"))],
    };
    let resp = s.apply_txn(&txn).unwrap();
    assert!(!resp.succeeded);
    assert_eq!(resp.header.revision, 5);
    assert_eq!(s.current_revision(), 5);
}

#[test]
fn nested_compares_are_judged_before_any_op_runs() {
    let mut s = store();
    let inner = TxnRequest {
        // "x" does not exist when the txn starts, although the outer
        // success branch creates it before the nested txn runs.
        compare: vec![version_is("x", 0)],
        success: vec![RequestOp::Put(put("y", "inner-success"))],
        failure: vec![RequestOp::Put(put("y", "inner-failure"))],
    };
    let txn = TxnRequest {
        compare: vec![],
        success: vec![RequestOp::Put(put("x", "1")), RequestOp::Txn(inner)],
        failure: vec![],
    };
    let resp = s.apply_txn(&txn).unwrap();
    let ResponseOp::Txn(nested) = &resp.responses[1] else {
        panic!("{resp:?}")
    };
    assert!(nested.succeeded);
    assert_eq!(
        nested.header.revision, 0,
        "etcd 3.4 leaves nested headers unset"
    );
    assert_eq!(
        s.apply_range(&get("y")).unwrap().kvs[0].value,
        b"inner-success"
    );
}

#[test]
fn a_txn_fails_whole_on_a_missing_key_put_before_a_bad_range() {
    let mut s = store();
    let txn = TxnRequest {
        compare: vec![],
        success: vec![
            RequestOp::Range(RangeRequest {
                revision: 99,
                ..get("a")
            }),
            RequestOp::Put(put("a", "written")),
            RequestOp::Put(PutRequest {
                ignore_value: true,
                ..put("missing", "")
            }),
        ],
        failure: vec![],
    };
    assert_eq!(s.apply_txn(&txn), Err(MvccError::KeyNotFound));
    assert_eq!(s.current_revision(), 5);
    assert_eq!(s.apply_range(&get("a")).unwrap().kvs[0].value, b"111");
}

#[test]
fn a_txn_range_at_a_future_or_compacted_revision_fails_the_txn() {
    let mut s = store();
    let at = |revision| TxnRequest {
        success: vec![RequestOp::Range(RangeRequest {
            revision,
            ..get("a")
        })],
        ..Default::default()
    };
    assert_eq!(s.apply_txn(&at(6)), Err(MvccError::FutureRev));
    s.compact(4).unwrap();
    assert_eq!(s.apply_txn(&at(3)), Err(MvccError::Compacted));
    assert!(s.apply_txn(&at(4)).is_ok());
}

#[test]
fn an_ignore_value_put_after_a_delete_of_its_key_fails_the_txn() {
    // etcd would panic here; the API layer rejects the duplicate key first.
    let mut s = store();
    let txn = TxnRequest {
        success: vec![
            RequestOp::DeleteRange(DeleteRangeRequest {
                key: "a".into(),
                ..Default::default()
            }),
            RequestOp::Put(PutRequest {
                ignore_value: true,
                ..put("a", "")
            }),
        ],
        ..Default::default()
    };
    assert_eq!(s.apply_txn(&txn), Err(MvccError::KeyNotFound));
    assert_eq!(s.current_revision(), 5);
}

#[test]
fn a_read_only_txn_runs_on_a_shared_store() {
    let s = store();
    let txn = TxnRequest {
        compare: vec![version_is("a", 2)],
        success: vec![RequestOp::Range(prefix("b"))],
        failure: vec![],
    };
    assert!(txn.is_read_only());
    let resp = s.apply_read_txn(&txn).unwrap();
    assert_eq!(resp.header.revision, 5);
    let mut writable = s.clone();
    assert_eq!(writable.apply_txn(&txn), Ok(resp));
}

#[test]
fn a_put_naming_an_unknown_lease_fails_and_writes_nothing() {
    let mut s = store();
    let leased = PutRequest {
        lease: 0x1234,
        ..put("a", "x")
    };
    assert_eq!(
        s.apply_put_with(&leased, &NoLeases),
        Err(MvccError::LeaseNotFound)
    );
    assert_eq!(s.current_revision(), 5);
    assert!(s.apply_put_with(&put("a", "x"), &NoLeases).is_ok());
    assert!(s.apply_put_with(&leased, &AnyLease).is_ok());
}

#[test]
fn a_txn_checks_leases_only_in_the_branch_taken_after_each_puts_ignore_check() {
    let mut s = store();
    let leased = RequestOp::Put(PutRequest {
        lease: 7,
        ..put("b", "x")
    });
    let missing = RequestOp::Put(PutRequest {
        ignore_value: true,
        ..put("nope", "")
    });
    let untaken = TxnRequest {
        compare: vec![version_is("a", 99)],
        success: vec![leased.clone()],
        failure: vec![RequestOp::Put(put("b", "y"))],
    };
    assert!(!s.apply_txn_with(&untaken, &NoLeases).unwrap().succeeded);
    let ignore_first = TxnRequest {
        success: vec![missing.clone(), leased.clone()],
        ..Default::default()
    };
    assert_eq!(
        s.apply_txn_with(&ignore_first, &NoLeases),
        Err(MvccError::KeyNotFound)
    );
    let lease_first = TxnRequest {
        success: vec![leased, missing],
        ..Default::default()
    };
    assert_eq!(
        s.apply_txn_with(&lease_first, &NoLeases),
        Err(MvccError::LeaseNotFound)
    );
}
