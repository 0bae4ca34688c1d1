//! etcd's client patterns, judged by the KV model: txns with several
//! compares mixing targets and relations, STM-style read-modify-writes,
//! sorted and filtered lists. Each test accepts a correct history and
//! refutes the same history with exactly one thing wrong.

mod common;

use common::{op, verdict};
use etcd_sim_checker::{
    check_kv, CheckOptions, Compare, CompareTarget, History, KeyValue, ListOrder, Operation,
    Outcome, Relation, Request, Response, SortOrder, SortTarget, StepResult, TxnStep, Verdict,
};

fn put(call: u64, key: &str, value: &str, lease: i64, revision: i64) -> Operation {
    op(
        0,
        call,
        call + 5,
        Request::Put {
            key: key.into(),
            value: value.into(),
            lease,
        },
        Outcome::Ok(Response::Put { revision }),
    )
}

fn kv(value: &str, create: i64, modified: i64, version: i64) -> KeyValue {
    KeyValue {
        value: value.into(),
        create_revision: create,
        mod_revision: modified,
        version,
    }
}

/// A linearizable get of `key` that saw `seen` at header `revision`.
fn get(call: u64, key: &str, seen: Option<KeyValue>, revision: i64) -> Operation {
    op(
        1,
        call,
        call + 5,
        Request::Get {
            key: key.into(),
            serializable: false,
        },
        Outcome::Ok(Response::Get {
            count: Some(i64::from(seen.is_some())),
            kv: seen,
            revision,
            more: false,
        }),
    )
}

fn txn(
    call: u64,
    compares: Vec<Compare>,
    success: Vec<TxnStep>,
    failure: Vec<TxnStep>,
    outcome: Outcome,
) -> Operation {
    op(
        2,
        call,
        call + 5,
        Request::Txn {
            compares,
            success,
            failure,
        },
        outcome,
    )
}

fn compare(key: &str, target: CompareTarget, relation: Relation) -> Compare {
    Compare {
        key: key.into(),
        target,
        relation,
    }
}

fn put_step(key: &str, value: &str) -> TxnStep {
    TxnStep::Put {
        key: key.into(),
        value: value.into(),
        lease: 0,
    }
}

fn get_step(key: &str) -> TxnStep {
    TxnStep::Get {
        key: key.into(),
        revision: 0,
    }
}

/// A txn's answer: the success branch's single put at `revision`, or the
/// failure branch's single get that saw `seen`.
fn answered(succeeded: bool, seen: Option<KeyValue>, revision: i64) -> Outcome {
    let results = if succeeded {
        vec![StepResult::Put]
    } else {
        vec![StepResult::Get {
            count: Some(i64::from(seen.is_some())),
            kv: seen,
            more: false,
        }]
    };
    Outcome::Ok(Response::Txn {
        succeeded,
        results,
        revision,
    })
}

fn report(operations: Vec<Operation>) -> String {
    check_kv(
        &History {
            operations,
            faults: vec![],
        },
        &CheckOptions::default(),
    )
    .to_string()
}

/// `k` was created as "z" (revision 2, version 1), then became "a" with
/// lease 7 (revision 3, version 2); reads showed both; a grant of lease 7
/// came first. The last operation, a txn over the compares of `compares`,
/// ran while `k` held "a" and claims `succeeded`.
fn mixed(compares: Vec<Compare>, succeeded: bool) -> Vec<Operation> {
    let grant = op(
        0,
        0,
        1,
        Request::LeaseGrant { id: 7, ttl: 3600 },
        Outcome::Ok(Response::LeaseGrant {
            revision: 1,
            id: Some(7),
            ttl: Some(3600),
        }),
    );
    let a = kv("a", 2, 3, 2);
    vec![
        grant,
        put(10, "k", "z", 0, 2),
        get(20, "k", Some(kv("z", 2, 2, 1)), 2),
        put(30, "k", "a", 7, 3),
        get(40, "k", Some(a.clone()), 3),
        txn(
            50,
            compares,
            vec![put_step("j", "t")],
            vec![get_step("k")],
            answered(
                succeeded,
                (!succeeded).then_some(a),
                if succeeded { 4 } else { 3 },
            ),
        ),
    ]
}

/// Every target with every relation, each on `k` holding "a" (version 2,
/// create revision 2, mod revision 3, lease 7): the model knows each
/// field of each value `k` ever held, so it knows the outcome, accepts it
/// and refutes the other.
#[test]
fn every_compare_target_and_relation_decides_the_branch() {
    use CompareTarget::{CreateRevision, Lease, ModRevision, Value, Version};
    use Relation::{Equal, Greater, Less, NotEqual};
    let cases = [
        (Value("a".into()), Equal, true),
        (Value("a".into()), NotEqual, false),
        (Value("b".into()), Less, true),
        (Value("a".into()), Greater, false),
        (Version(2), Equal, true),
        (Version(1), Greater, true),
        (Version(2), Less, false),
        (Version(3), NotEqual, true),
        (CreateRevision(2), Equal, true),
        (CreateRevision(2), Greater, false),
        (CreateRevision(3), Less, true),
        (CreateRevision(2), NotEqual, false),
        (ModRevision(3), Equal, true),
        (ModRevision(2), Greater, true),
        (ModRevision(3), Less, false),
        (ModRevision(3), NotEqual, false),
        (Lease(7), Equal, true),
        (Lease(0), Equal, false),
        (Lease(0), Greater, true),
        (Lease(7), Less, false),
        (Lease(0), Less, false),
        (Lease(7), NotEqual, false),
    ];
    for (target, relation, holds) in cases {
        let compares = vec![compare("k", target.clone(), relation)];
        assert_eq!(
            verdict(mixed(compares.clone(), holds)),
            Verdict::Linearizable,
            "{target:?} {relation:?}"
        );
        assert_eq!(
            verdict(mixed(compares, !holds)),
            Verdict::NotLinearizable,
            "{target:?} {relation:?} answered wrong"
        );
    }
}

/// Several compares at once: the txn succeeds only if all hold; one that
/// fails among ones that hold makes success wrong.
#[test]
fn several_compares_must_all_hold() {
    use CompareTarget::{CreateRevision, Lease, ModRevision, Value, Version};
    use Relation::{Equal, Greater, Less, NotEqual};
    let holding = vec![
        compare("k", ModRevision(4), Less),
        compare("k", CreateRevision(1), Greater),
        compare("k", Lease(7), Equal),
        compare("k", Value("b".into()), Less),
        compare("k", Version(1), NotEqual),
    ];
    assert_eq!(verdict(mixed(holding.clone(), true)), Verdict::Linearizable);
    assert_eq!(
        verdict(mixed(holding.clone(), false)),
        Verdict::NotLinearizable
    );
    let mut one_broken = holding;
    one_broken.push(compare("k", Version(2), Greater));
    assert_eq!(
        verdict(mixed(one_broken.clone(), false)),
        Verdict::Linearizable
    );
    assert_eq!(verdict(mixed(one_broken, true)), Verdict::NotLinearizable);
}

/// A txn of unknown outcome whose branch hangs on a compare the model
/// cannot translate is two optional operations, one per branch. One of its
/// compares never holds (a lease below 0): the success half must then do
/// nothing rather than be illegal everywhere, since an optional operation
/// is still linearized, at the end if nowhere else.
#[test]
fn an_unknown_txn_with_a_compare_that_never_holds_is_no_alarm() {
    use CompareTarget::{CreateRevision, Lease};
    use Relation::{Equal, Less};
    let unknown = txn(
        50,
        vec![
            compare("k", Lease(0), Less),
            // "b" was never read: its create revision is unknown.
            compare("k", CreateRevision(4), Equal),
        ],
        vec![put_step("k", "t")],
        vec![get_step("k")],
        Outcome::Unknown("timed out".into()),
    );
    let mut ops = vec![put(0, "k", "a", 0, 2), put(10, "k", "b", 0, 3), unknown];
    ops[2].return_ns = u64::MAX;
    ops.push(get(100, "k", Some(kv("b", 2, 3, 2)), 3));
    assert_eq!(verdict(ops.clone()), Verdict::Linearizable);
    // The success branch cannot have run: "t" is never there.
    ops.push(get(200, "k", Some(kv("t", 2, 4, 3)), 4));
    assert_eq!(verdict(ops), Verdict::NotLinearizable);
}

/// An STM-style read-modify-write: reads of k1 and k2, then a txn whose
/// compares require both unchanged (mod revision as read, 0 for the
/// absent k2) and whose success branch writes both; on a conflict its
/// failure branch re-reads them (serializable STM's prefetch).
fn stm(conflict: bool, succeeded: bool) -> Vec<Operation> {
    let mut ops = vec![
        put(0, "k1", "a", 0, 2),
        get(10, "k1", Some(kv("a", 2, 2, 1)), 2),
        get(20, "k2", None, 2),
    ];
    let mut at = 2;
    if conflict {
        ops.push(put(30, "k2", "other", 0, 3));
        at = 3;
    }
    let results = if succeeded {
        vec![StepResult::Put, StepResult::Put]
    } else {
        let k2 = conflict.then(|| kv("other", 3, 3, 1));
        vec![
            StepResult::Get {
                kv: Some(kv("a", 2, 2, 1)),
                count: Some(1),
                more: false,
            },
            StepResult::Get {
                count: Some(i64::from(k2.is_some())),
                kv: k2,
                more: false,
            },
        ]
    };
    ops.push(txn(
        40,
        vec![
            compare("k1", CompareTarget::ModRevision(2), Relation::Equal),
            compare("k2", CompareTarget::ModRevision(0), Relation::Equal),
            // Serializable snapshot: a key only written must be unchanged
            // since the first read (mod revision < first + 1).
            compare("k3", CompareTarget::ModRevision(3), Relation::Less),
        ],
        vec![put_step("k1", "a2"), put_step("k2", "b2")],
        vec![get_step("k1"), get_step("k2")],
        Outcome::Ok(Response::Txn {
            succeeded,
            results,
            revision: if succeeded { at + 1 } else { at },
        }),
    ));
    ops
}

#[test]
fn an_stm_commit_succeeds_exactly_when_nothing_it_read_changed() {
    assert_eq!(verdict(stm(false, true)), Verdict::Linearizable);
    assert_eq!(verdict(stm(true, false)), Verdict::Linearizable);
    // A commit over a conflicting write, or a conflict where there was none.
    assert_eq!(verdict(stm(true, true)), Verdict::NotLinearizable);
    assert_eq!(verdict(stm(false, false)), Verdict::NotLinearizable);
}

#[test]
fn an_stm_write_only_key_changed_since_the_first_read_is_a_conflict() {
    // k3 written at 3 by another client before the commit: `mod < 3`
    // fails, so the commit must too.
    let mut ops = stm(false, true);
    ops.insert(3, put(30, "k3", "x", 0, 3));
    if let Outcome::Ok(Response::Txn { revision, .. }) = &mut ops[4].outcome {
        *revision = 4;
    }
    assert_eq!(verdict(ops.clone()), Verdict::NotLinearizable);
    let Outcome::Ok(Response::Txn {
        succeeded,
        results,
        revision,
    }) = &mut ops[4].outcome
    else {
        unreachable!()
    };
    *succeeded = false;
    *revision = 3;
    *results = vec![
        StepResult::Get {
            kv: Some(kv("a", 2, 2, 1)),
            count: Some(1),
            more: false,
        },
        StepResult::Get {
            kv: None,
            count: Some(0),
            more: false,
        },
    ];
    assert_eq!(verdict(ops), Verdict::Linearizable);
}

/// k1 = "c" (create 2, mod 5, version 2), k2 = "a" (create 3, mod 3,
/// version 1), k3 = "b" (create 4, mod 4, version 1), each read once so
/// the model knows every field of every value; then a list of every key
/// with `order` and `limit`, answered with `kvs` (keys in the order
/// given), `count` 3 and `more`, at revision 5.
fn sorted(order: ListOrder, limit: i64, kvs: &[&str], more: bool) -> Vec<Operation> {
    let all = |k: &str| match k {
        "k1" => kv("c", 2, 5, 2),
        "k2" => kv("a", 3, 3, 1),
        _ => kv("b", 4, 4, 1),
    };
    let mut ops = vec![
        put(0, "k1", "x", 0, 2),
        get(5, "k1", Some(kv("x", 2, 2, 1)), 2),
        put(10, "k2", "a", 0, 3),
        put(20, "k3", "b", 0, 4),
        put(30, "k1", "c", 0, 5),
    ];
    for (n, k) in ["k1", "k2", "k3"].iter().enumerate() {
        ops.push(get(40 + n as u64 * 10, k, Some(all(k)), 5));
    }
    ops.push(op(
        3,
        100,
        110,
        Request::List {
            start: "k".into(),
            end: "l".into(),
            revision: 0,
            limit,
            keys_only: false,
            count_only: false,
            serializable: false,
            order,
        },
        Outcome::Ok(Response::List {
            kvs: kvs.iter().map(|k| (k.to_string(), all(k))).collect(),
            count: 3,
            more,
            revision: 5,
        }),
    ));
    ops
}

fn by(target: SortTarget, order: SortOrder) -> ListOrder {
    ListOrder {
        sort_target: target,
        sort_order: order,
        ..ListOrder::default()
    }
}

#[test]
fn a_sorted_list_is_in_the_order_asked_and_cut_at_its_limit() {
    use SortOrder::{Ascend, Descend};
    use SortTarget::{Create, Key, Mod, Value, Version};
    for (order, limit, kvs, more) in [
        (by(Key, Descend), 0, &["k3", "k2", "k1"][..], false),
        (by(Value, Ascend), 2, &["k2", "k3"][..], true),
        (by(Mod, Descend), 1, &["k1"][..], true),
        (by(Create, Descend), 0, &["k3", "k2", "k1"][..], false),
        // Ties on the version (k2 and k3) may come either way.
        (by(Version, Descend), 2, &["k1", "k3"][..], true),
        (by(Version, Descend), 2, &["k1", "k2"][..], true),
    ] {
        assert_eq!(
            verdict(sorted(order.clone(), limit, kvs, more)),
            Verdict::Linearizable,
            "{order:?} {limit} {kvs:?}"
        );
    }
    // The right keys in the wrong order: the answer's own rule.
    let wrong = sorted(by(Mod, Descend), 0, &["k1", "k2", "k3"], false);
    assert!(report(wrong).contains("not in the order asked"));
    // The order right but the wrong keys kept at the limit: the model.
    let wrong = sorted(by(Value, Ascend), 2, &["k3", "k1"], true);
    assert_eq!(verdict(wrong), Verdict::NotLinearizable);
    let wrong = sorted(by(Create, Ascend), 1, &["k2"], true);
    assert_eq!(verdict(wrong), Verdict::NotLinearizable);
    // `more` must say the limit cut keys off.
    let wrong = sorted(by(Value, Ascend), 2, &["k2", "k3"], false);
    assert!(report(wrong).contains("more false"));
}

/// etcd 3.4 reads the whole range only when a sort order or a filter is
/// asked: a sort target with no order (sorted ascending all the same) and
/// a limit sorts only the first `limit + 1` keys in key order.
#[test]
fn a_sort_target_without_an_order_sorts_only_what_the_limit_read() {
    let order = by(SortTarget::Value, SortOrder::None);
    // k1..k3 read, sorted by value: k2 "a", k3 "b"; k1 "c" cut.
    assert_eq!(
        verdict(sorted(order.clone(), 2, &["k2", "k3"], true)),
        Verdict::Linearizable
    );
    // With limit 1, only k1 and k2 are read: k2 ("a") comes first.
    assert_eq!(
        verdict(sorted(order.clone(), 1, &["k2"], true)),
        Verdict::Linearizable
    );
    // Still sorted among what it returned.
    let wrong = sorted(order, 2, &["k3", "k2"], true);
    assert!(report(wrong).contains("not in the order asked"));
}

#[test]
fn a_filtered_list_returns_exactly_the_keys_inside_its_filters() {
    let filter = |min_mod, max_mod, min_create, max_create| ListOrder {
        min_mod_revision: min_mod,
        max_mod_revision: max_mod,
        min_create_revision: min_create,
        max_create_revision: max_create,
        ..ListOrder::default()
    };
    for (order, kvs) in [
        (filter(4, 0, 0, 0), &["k1", "k3"][..]),
        (filter(0, 4, 0, 0), &["k2", "k3"][..]),
        (filter(0, 0, 3, 0), &["k2", "k3"][..]),
        (filter(0, 0, 0, 3), &["k1", "k2"][..]),
        (filter(3, 4, 3, 3), &["k2"][..]),
        (filter(6, 0, 0, 0), &[][..]),
    ] {
        // etcd counts the range before the filters: 3.
        assert_eq!(
            verdict(sorted(order.clone(), 0, kvs, false)),
            Verdict::Linearizable,
            "{order:?} {kvs:?}"
        );
    }
    // A key outside the filters returned: the answer's own rule.
    let wrong = sorted(filter(4, 0, 0, 0), 0, &["k1", "k2", "k3"], false);
    assert!(report(wrong).contains("outside its filters"));
    // A key inside them left out: the model.
    let wrong = sorted(filter(4, 0, 0, 0), 0, &["k1"], false);
    assert_eq!(verdict(wrong), Verdict::NotLinearizable);
    // Filters and a limit: the filtered keys pass the limit, so `more`.
    let order = ListOrder {
        sort_target: SortTarget::Mod,
        sort_order: SortOrder::Ascend,
        ..filter(4, 0, 0, 0)
    };
    assert_eq!(
        verdict(sorted(order.clone(), 1, &["k3"], true)),
        Verdict::Linearizable
    );
    let wrong = sorted(order, 1, &["k1"], true);
    assert_eq!(verdict(wrong), Verdict::NotLinearizable);
}

/// An election's campaign: lease 7 granted (long, or a 3 s one that may
/// expire), then a txn putting `e/7` with lease 7 if it is absent
/// (`create_revision == 0`), answered `campaign`; then `after`.
fn campaign(ttl: i64, campaign: Outcome, after: Vec<Operation>) -> Vec<Operation> {
    let grant = op(
        0,
        0,
        5,
        Request::LeaseGrant { id: 7, ttl },
        Outcome::Ok(Response::LeaseGrant {
            revision: 1,
            id: Some(7),
            ttl: Some(ttl),
        }),
    );
    let txn = txn(
        10,
        vec![compare(
            "e/7",
            CompareTarget::CreateRevision(0),
            Relation::Equal,
        )],
        vec![TxnStep::Put {
            key: "e/7".into(),
            value: "me".into(),
            lease: 7,
        }],
        vec![get_step("e/7")],
        campaign,
    );
    let mut ops = vec![grant, txn];
    ops.extend(after);
    ops
}

fn revoke(call: u64, revision: i64) -> Operation {
    op(
        0,
        call,
        call + 5,
        Request::LeaseRevoke { id: 7 },
        Outcome::Ok(Response::LeaseRevoke { revision }),
    )
}

/// A txn's put with a lease attaches the key to it: the lease's revoke
/// deletes it, and a campaign whose lease is gone is refused, never
/// applied.
#[test]
fn an_election_key_put_in_a_txn_lives_and_dies_with_its_lease() {
    let won = answered(true, None, 2);
    let refused = Outcome::Fail(etcd_sim_checker::LEASE_NOT_FOUND.into());
    let seen = |call, revision| get(call, "e/7", Some(kv("me", 2, 2, 1)), revision);
    // Won, read, revoked: then gone.
    let ok = campaign(
        3600,
        won.clone(),
        vec![seen(20, 2), revoke(30, 3), get(40, "e/7", None, 3)],
    );
    assert_eq!(verdict(ok), Verdict::Linearizable);
    // Still there after its lease's revoke.
    let wrong = campaign(3600, won.clone(), vec![revoke(30, 3), seen(40, 3)]);
    assert_eq!(verdict(wrong), Verdict::NotLinearizable);
    // Refused although the long lease is live.
    let wrong = campaign(3600, refused.clone(), vec![]);
    assert_eq!(verdict(wrong), Verdict::NotLinearizable);
    // Refused after a revoke: right; and then the key was never put.
    let mut ok = campaign(3600, refused.clone(), vec![]);
    ok.insert(1, revoke(6, 1));
    ok[2].call_ns = 20;
    ok[2].return_ns = 25;
    assert_eq!(verdict(ok.clone()), Verdict::Linearizable);
    ok.push(seen(40, 2));
    assert_eq!(verdict(ok), Verdict::NotLinearizable);
    // Won after its lease's revoke: the put could not attach the key.
    let mut wrong = campaign(3600, won, vec![]);
    wrong.insert(1, revoke(6, 1));
    wrong[2].call_ns = 20;
    wrong[2].return_ns = 25;
    assert_eq!(verdict(wrong), Verdict::NotLinearizable);
    // A short lease may expire at any time: refused is then possible.
    assert_eq!(verdict(campaign(3, refused, vec![])), Verdict::Linearizable);
}
