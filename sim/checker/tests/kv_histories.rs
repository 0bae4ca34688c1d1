//! Hand-written histories with known verdicts: the checker must accept the
//! linearizable ones and reject every kind of violation.

mod common;

use common::{op, verdict};
use etcd_sim_checker::{
    check_kv, CheckOptions, History, KeyValue, Operation, Outcome, Persisted, Request, Response,
    Verdict, LEASE_NOT_FOUND,
};

fn put_request(key: &str, value: &str, lease: i64) -> Request {
    Request::Put {
        key: key.into(),
        value: value.into(),
        lease,
    }
}

fn put(client: u32, call: u64, ret: u64, key: &str, value: &str, revision: i64) -> Operation {
    let request = put_request(key, value, 0);
    op(
        client,
        call,
        ret,
        request,
        Outcome::Ok(Response::Put { revision }),
    )
}

fn put_unknown(client: u32, call: u64, key: &str, value: &str) -> Operation {
    let request = put_request(key, value, 0);
    op(
        client,
        call,
        u64::MAX,
        request,
        Outcome::Unknown("timed out".into()),
    )
}

fn put_failed(client: u32, call: u64, ret: u64, key: &str, value: &str) -> Operation {
    let request = put_request(key, value, 0);
    op(
        client,
        call,
        ret,
        request,
        Outcome::Fail("etcdserver: no leader".into()),
    )
}

fn kv(value: &str, revision: i64) -> KeyValue {
    KeyValue {
        value: value.into(),
        create_revision: revision,
        mod_revision: revision,
        version: 1,
    }
}

fn get(client: u32, call: u64, ret: u64, key: &str, seen: Option<(&str, i64)>) -> Operation {
    let request = Request::Get {
        key: key.into(),
        serializable: false,
    };
    let revision = seen.map_or(1, |(_, r)| r);
    let response = Response::Get {
        kv: seen.map(|(v, r)| kv(v, r)),
        revision,
        count: Some(i64::from(seen.is_some())),
        more: false,
    };
    op(client, call, ret, request, Outcome::Ok(response))
}

/// A range over prefix `k` by `client` that saw `kvs` (key, value,
/// mod revision) at revision 3.
fn range(client: u32, call: u64, ret: u64, kvs: Vec<(&str, &str, i64)>) -> Operation {
    let request = Request::Range {
        prefix: "k".into(),
        serializable: false,
    };
    let kvs: Vec<_> = kvs
        .into_iter()
        .map(|(k, v, r)| (k.to_string(), kv(v, r)))
        .collect();
    let response = Response::Range {
        count: Some(kvs.len() as i64),
        kvs,
        revision: 3,
        more: false,
    };
    op(client, call, ret, request, Outcome::Ok(response))
}

#[test]
fn sequential_puts_and_reads_are_linearizable() {
    let ops = vec![
        put(0, 0, 10, "k", "a", 2),
        get(1, 20, 30, "k", Some(("a", 2))),
        put(0, 40, 50, "k", "b", 3),
        get(1, 60, 70, "k", Some(("b", 3))),
    ];
    assert_eq!(verdict(ops), Verdict::Linearizable);
}

#[test]
fn identifies_a_stale_read() {
    let ops = vec![
        put(0, 0, 10, "k", "a", 2),
        put(0, 20, 30, "k", "b", 3),
        get(1, 40, 50, "k", Some(("a", 2))),
    ];
    assert_eq!(verdict(ops), Verdict::NotLinearizable);
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    let ops = vec![
        put(0, 0, 10, "k", "a", 2),
        put(0, 20, 60, "k", "b", 3),
        get(1, 30, 40, "k", Some(("a", 2))),
        get(2, 35, 50, "k", Some(("b", 3))),
    ];
    assert_eq!(verdict(ops), Verdict::Linearizable);
}

#[test]
fn identifies_a_lost_acknowledged_write() {
    let ops = vec![put(0, 0, 10, "k", "a", 2), get(1, 20, 30, "k", None)];
    assert_eq!(verdict(ops), Verdict::NotLinearizable);
}

#[test]
fn a_write_of_unknown_outcome_may_appear_later_or_never() {
    let appears = vec![
        put_unknown(0, 0, "k", "a"),
        get(1, 20, 30, "k", None),
        get(1, 40, 50, "k", Some(("a", 2))),
    ];
    assert_eq!(verdict(appears), Verdict::Linearizable);
    let never = vec![put_unknown(0, 0, "k", "a"), get(1, 40, 50, "k", None)];
    assert_eq!(verdict(never), Verdict::Linearizable);
}

#[test]
fn a_write_the_logs_show_absent_must_never_be_seen() {
    let absent = |op: Operation| Operation {
        persisted: Some(Persisted::Absent),
        ..op
    };
    let seen = vec![
        absent(put_unknown(0, 0, "k", "a")),
        get(1, 20, 30, "k", Some(("a", 2))),
    ];
    assert_eq!(verdict(seen), Verdict::NotLinearizable);
    let unseen = vec![
        absent(put_unknown(0, 0, "k", "a")),
        get(1, 20, 30, "k", None),
    ];
    assert_eq!(verdict(unseen), Verdict::Linearizable);
}

#[test]
fn a_write_the_logs_show_committed_still_may_take_effect_late() {
    // It took effect, but nothing says when: after the last read is legal.
    let committed = |op: Operation| Operation {
        persisted: Some(Persisted::Committed),
        ..op
    };
    let late = vec![
        committed(put_unknown(0, 0, "k", "a")),
        get(1, 20, 30, "k", None),
    ];
    assert_eq!(verdict(late), Verdict::Linearizable);
    let seen = vec![
        committed(put_unknown(0, 0, "k", "a")),
        get(1, 20, 30, "k", Some(("a", 2))),
        get(1, 40, 50, "k", Some(("a", 2))),
    ];
    assert_eq!(verdict(seen), Verdict::Linearizable);
    // Seen and then unseen is a lost write, committed or not.
    let lost = vec![
        committed(put_unknown(0, 0, "k", "a")),
        get(1, 20, 30, "k", Some(("a", 2))),
        get(1, 40, 50, "k", None),
    ];
    assert_eq!(verdict(lost), Verdict::NotLinearizable);
}

#[test]
fn a_failed_write_must_never_be_seen() {
    let ops = vec![
        put_failed(0, 0, 10, "k", "a"),
        get(1, 20, 30, "k", Some(("a", 2))),
    ];
    assert_eq!(verdict(ops), Verdict::NotLinearizable);
}

#[test]
fn compare_and_set_must_agree_with_the_value() {
    let cas = |call, ret, expected: Option<&str>, value: &str, succeeded, revision| {
        let request = Request::Cas {
            key: "k".into(),
            expected: expected.map(Into::into),
            value: value.into(),
        };
        op(
            2,
            call,
            ret,
            request,
            Outcome::Ok(Response::Cas {
                succeeded,
                revision,
            }),
        )
    };
    let good = vec![
        put(0, 0, 10, "k", "a", 2),
        cas(20, 30, Some("a"), "b", true, 3),
        get(1, 40, 50, "k", Some(("b", 3))),
    ];
    assert_eq!(verdict(good), Verdict::Linearizable);
    let wrong = vec![
        put(0, 0, 10, "k", "a", 2),
        cas(20, 30, Some("x"), "b", true, 3),
    ];
    assert_eq!(verdict(wrong), Verdict::NotLinearizable);
    let failed_but_held = vec![
        put(0, 0, 10, "k", "a", 2),
        cas(20, 30, Some("a"), "b", false, 2),
    ];
    assert_eq!(verdict(failed_but_held), Verdict::NotLinearizable);
}

#[test]
fn a_range_sees_every_key_at_one_instant() {
    // x was written before y (real time); a range that shows y but not x is impossible.
    let torn = vec![
        put(0, 0, 10, "kx", "x", 2),
        put(1, 20, 30, "ky", "y", 3),
        range(3, 40, 50, vec![("ky", "y", 3)]),
    ];
    assert_eq!(verdict(torn), Verdict::NotLinearizable);
    let whole = vec![
        put(0, 0, 10, "kx", "x", 2),
        put(1, 20, 30, "ky", "y", 3),
        range(3, 40, 50, vec![("kx", "x", 2), ("ky", "y", 3)]),
    ];
    assert_eq!(verdict(whole), Verdict::Linearizable);
}

/// Keys joined by ranges are first checked apart, ranges read as gets of
/// each key: a range stale on one key is refuted on that key alone, and a
/// violation that needs both keys is still found by the joined search.
#[test]
fn keys_joined_by_ranges_are_refuted_apart_or_together() {
    let failing_keys = |operations: Vec<Operation>| {
        let history = History {
            operations,
            faults: vec![],
        };
        let report = check_kv(&history, &CheckOptions::default());
        assert_eq!(report.verdict, Verdict::NotLinearizable, "{report}");
        report.failure.expect("the search refutes it").keys
    };
    // kx was overwritten before the range was called.
    let stale = vec![
        put(0, 0, 10, "kx", "x", 2),
        put(1, 0, 10, "ky", "y", 3),
        put(0, 20, 30, "kx", "x2", 4),
        range(2, 40, 50, vec![("kx", "x", 2), ("ky", "y", 3)]),
    ];
    assert_eq!(failing_keys(stale), ["kx"]);
    // Each key alone is fine (each range may go before or after each
    // write), but one range puts kx's write first and the other ky's.
    let crossed = vec![
        put(0, 0, 100, "kx", "x", 2),
        put(1, 0, 100, "ky", "y", 3),
        range(2, 10, 20, vec![("kx", "x", 2)]),
        range(3, 10, 20, vec![("ky", "y", 3)]),
    ];
    assert_eq!(failing_keys(crossed), ["kx", "ky"]);
}

/// A write of unknown outcome whose value a read saw took effect before
/// that read returned: later reads must see what came after it.
#[test]
fn a_seen_write_of_unknown_outcome_took_effect_before_its_reader_returned() {
    let good = vec![
        put_unknown(0, 0, "k", "a"),
        get(1, 10, 20, "k", Some(("a", 2))),
        put(1, 25, 30, "k", "b", 3),
        get(1, 40, 50, "k", Some(("b", 3))),
    ];
    assert_eq!(verdict(good), Verdict::Linearizable);
    let bad = vec![
        put_unknown(0, 0, "k", "a"),
        get(1, 10, 20, "k", Some(("a", 2))),
        put(1, 25, 30, "k", "b", 3),
        get(1, 40, 50, "k", Some(("a", 2))),
    ];
    assert_eq!(verdict(bad), Verdict::NotLinearizable);
}

#[test]
fn identifies_duplicate_and_backward_revisions() {
    let duplicate = vec![put(0, 0, 10, "a", "1", 2), put(1, 20, 30, "b", "2", 2)];
    assert_eq!(verdict(duplicate), Verdict::NotLinearizable);
    let backward = vec![put(0, 0, 10, "a", "1", 5), put(1, 20, 30, "b", "2", 3)];
    assert_eq!(verdict(backward), Verdict::NotLinearizable);
}

#[test]
fn a_serializable_read_may_be_stale_but_not_invented() {
    let stale_read = |value: &str, revision| {
        let request = Request::Get {
            key: "k".into(),
            serializable: true,
        };
        let response = Response::Get {
            kv: Some(kv(value, revision)),
            revision,
            count: Some(1),
            more: false,
        };
        op(1, 40, 50, request, Outcome::Ok(response))
    };
    let stale = vec![
        put(0, 0, 10, "k", "a", 2),
        put(0, 20, 30, "k", "b", 3),
        stale_read("a", 2),
    ];
    assert_eq!(verdict(stale), Verdict::Linearizable);
    let invented = vec![put(0, 0, 10, "k", "a", 2), stale_read("zzz", 2)];
    assert_eq!(verdict(invented), Verdict::NotLinearizable);
}

#[test]
fn the_minimal_failing_sub_history_is_smaller_and_still_fails() {
    let mut ops = vec![
        put(0, 0, 10, "k", "a", 2),
        put(0, 20, 30, "k", "b", 3),
        get(1, 40, 50, "k", Some(("a", 2))),
    ];
    // Unrelated noise on the same key, all consistent.
    for i in 0..6u64 {
        let t = 100 + i * 20;
        let v = format!("n{i}");
        ops.push(put(2, t, t + 5, "k", &v, 4 + i as i64));
        ops.push(get(3, t + 10, t + 15, "k", Some((&v, 4 + i as i64))));
    }
    let history = History {
        operations: ops,
        faults: vec![],
    };
    let report = check_kv(&history, &CheckOptions::default());
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    let failure = report.failure.as_ref().expect("a failing part");
    assert!(failure.minimal.len() < history.operations.len());
    assert_eq!(
        failure.minimal,
        vec![0, 1, 2],
        "put a, put b, then the read of a"
    );
    let minimal = History {
        operations: failure
            .minimal
            .iter()
            .map(|&i| history.operations[i].clone())
            .collect(),
        faults: vec![],
    };
    let again = check_kv(&minimal, &CheckOptions::default());
    assert!(again.failure.is_some(), "the minimal history still fails");
}

#[test]
fn histories_round_trip_through_json_lines_and_bad_lines_are_located() {
    let history = History {
        operations: vec![put(0, 0, 10, "k", "a", 2), put_unknown(1, 5, "k", "b")],
        faults: vec![],
    };
    let mut buf = Vec::new();
    history.write_jsonl(&mut buf).unwrap();
    assert_eq!(History::read_jsonl(&buf[..]).unwrap(), history);
    let mut broken = buf.clone();
    broken.extend_from_slice(b"{\"client\": 1}\n");
    let error = History::read_jsonl(&broken[..]).unwrap_err();
    assert_eq!(error.line, 4);
}

/// A saved run keeps its watch and lease logs after the operations; a
/// reader of the bare history skips them, and `broken` judges them: a
/// watcher that missed the acknowledged put breaks the watch check.
#[test]
fn saved_runs_round_trip_with_their_logs_and_the_logs_are_judged() {
    use etcd_sim_checker::lease::{LeaseEvent, Span};
    use etcd_sim_checker::watch::WatcherLog;
    use etcd_sim_checker::SavedRun;

    let history = History {
        operations: vec![put(0, 0, 10, "k", "a", 2), put_unknown(1, 5, "k", "b")],
        faults: vec![],
    };
    let watcher = WatcherLog {
        watcher: 0,
        prefix: "k".to_string(),
        start_revision: 1,
        deliveries: vec![etcd_sim_checker::watch::Delivery::Progress(2)],
        closed: false,
    };
    let run = SavedRun {
        history: history.clone(),
        watch_logs: vec![watcher],
        lease_events: vec![LeaseEvent::Renewed {
            lease: 7,
            ttl: 5,
            at: Span {
                invoke: 1,
                response: 2,
            },
            id: None,
        }],
    };
    let mut buf = Vec::new();
    run.write_jsonl(&mut buf).unwrap();
    assert_eq!(SavedRun::read_jsonl(&buf[..]).unwrap(), run);
    assert_eq!(History::read_jsonl(&buf[..]).unwrap(), history);
    let broken = run.broken();
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert_eq!(broken[0].check, "watch");

    let without_watchers = SavedRun {
        watch_logs: vec![],
        ..run.clone()
    };
    assert_eq!(without_watchers.broken(), vec![]);

    let mut bad = buf.clone();
    bad.extend_from_slice(b"{\"watch_log\": {\"watcher\": 1}}\n");
    assert_eq!(SavedRun::read_jsonl(&bad[..]).unwrap_err().line, 6);
}

/// A run of `reproduce --seed 18 --faults kill-leader` (3 members): 154
/// operations on three keys, joined into one part by ranges over all of
/// them, with 28 writes of unknown outcome. A wrong order of two writes
/// dooms a range read called much later; found only when that read was
/// called, the dead end cost every subset of the pending unknown writes,
/// and the checker gave up after 2^21 of them. The search now sees the
/// doom right after the wrong step.
fn seed18_kill_leader() -> History {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/seed18-kill-leader.jsonl"
    );
    let file = std::fs::File::open(path).expect("the fixture is checked in");
    History::read_jsonl(std::io::BufReader::new(file)).expect("the fixture parses")
}

/// Within seconds, not the memory bound: the old search needed 4.6 s of a
/// release build to give up.
fn quick() -> CheckOptions {
    CheckOptions {
        timeout: Some(std::time::Duration::from_secs(5)),
        ..CheckOptions::default()
    }
}

#[test]
fn a_clean_kill_leader_run_is_decided_linearizable_quickly() {
    let report = check_kv(&seed18_kill_leader(), &quick());
    assert_eq!(report.verdict, Verdict::Linearizable, "{report}");
}

#[test]
fn the_kill_leader_run_with_one_stale_read_is_refuted_quickly() {
    let mut history = seed18_kill_leader();
    // The final read of k2 saw c4-27, written by a put that returned before
    // it; make it see the value that put overwrote.
    let last = history.operations.last_mut().expect("operations");
    let Outcome::Ok(Response::Get { kv: Some(kv), .. }) = &mut last.outcome else {
        panic!("the fixture ends with a read: {last:?}");
    };
    assert_eq!(kv.value, "c4-27");
    kv.value = "c2-28".into();
    let report = check_kv(&history, &quick());
    assert_eq!(report.verdict, Verdict::NotLinearizable, "{report}");
    assert!(report.failure.is_some(), "the search itself refutes it");
}

/// A txn that put two keys at one revision, and a range that saw one of
/// its puts but not the other: txns are atomic.
#[test]
fn a_range_sees_all_of_a_multi_key_txn_or_none() {
    use etcd_sim_checker::{StepResult, TxnStep};
    let txn = op(
        0,
        0,
        10,
        Request::Txn {
            compares: vec![],
            success: vec![
                TxnStep::Put {
                    key: "k1".into(),
                    value: "a".into(),
                    lease: 0,
                },
                TxnStep::Put {
                    key: "k2".into(),
                    value: "b".into(),
                    lease: 0,
                },
            ],
            failure: vec![],
        },
        Outcome::Ok(Response::Txn {
            succeeded: true,
            results: vec![StepResult::Put, StepResult::Put],
            revision: 2,
        }),
    );
    let torn = range(1, 5, 8, vec![("k1", "a", 2)]);
    assert_eq!(verdict(vec![txn.clone(), torn]), Verdict::NotLinearizable);
    let whole = range(1, 5, 8, vec![("k1", "a", 2), ("k2", "b", 2)]);
    assert_eq!(verdict(vec![txn, whole]), Verdict::Linearizable);
}

fn list_at(
    call: u64,
    ret: u64,
    revision: i64,
    seen: Option<(&str, i64)>,
    header: i64,
) -> Operation {
    op(
        1,
        call,
        ret,
        Request::List {
            start: "k".into(),
            end: String::new(),
            revision,
            limit: 0,
            keys_only: false,
            count_only: false,
            serializable: false,
            order: Default::default(),
        },
        Outcome::Ok(Response::List {
            kvs: seen
                .map(|(v, r)| ("k".to_string(), kv(v, r)))
                .into_iter()
                .collect(),
            count: i64::from(seen.is_some()),
            more: false,
            revision: header,
        }),
    )
}

/// A read at a past revision must see the key as the revisions up to it
/// left it: not an older value, not absent after a put.
#[test]
fn a_read_at_a_past_revision_follows_the_order_of_revisions() {
    let writes = || vec![put(0, 0, 10, "k", "a", 2), put(0, 20, 30, "k", "b", 3)];
    let ok = |seen, at| {
        let mut ops = writes();
        ops.push(list_at(40, 50, at, seen, 3));
        verdict(ops)
    };
    assert_eq!(ok(Some(("a", 2)), 2), Verdict::Linearizable);
    assert_eq!(ok(Some(("b", 3)), 3), Verdict::Linearizable);
    assert_eq!(ok(Some(("a", 2)), 3), Verdict::NotLinearizable, "stale");
    assert_eq!(ok(None, 2), Verdict::NotLinearizable, "missing");
    assert_eq!(
        ok(Some(("b", 3)), 2),
        Verdict::NotLinearizable,
        "from after"
    );
}

/// ErrCompacted is legal only once a compaction above the revision was
/// asked for.
#[test]
fn err_compacted_needs_a_compaction_above_the_revision() {
    let refused = op(
        1,
        40,
        50,
        Request::List {
            start: "k".into(),
            end: String::new(),
            revision: 2,
            limit: 0,
            keys_only: false,
            count_only: false,
            serializable: false,
            order: Default::default(),
        },
        Outcome::Fail("etcdserver: mvcc: required revision has been compacted".into()),
    );
    let compact = |revision| {
        op(
            2,
            30,
            35,
            Request::Compact { revision },
            Outcome::Ok(Response::Compact { revision: 3 }),
        )
    };
    let base = || vec![put(0, 0, 10, "k", "a", 2), put(0, 20, 30, "k", "b", 3)];
    let mut without = base();
    without.push(refused.clone());
    assert_eq!(verdict(without), Verdict::NotLinearizable);
    let mut at_two = base();
    at_two.extend([compact(2), refused.clone()]);
    assert_eq!(
        verdict(at_two),
        Verdict::NotLinearizable,
        "2 is still readable"
    );
    let mut above = base();
    above.extend([compact(3), refused]);
    assert_eq!(verdict(above), Verdict::Linearizable);
}

/// A malformed line is an error that names it, not a panic.
#[test]
fn a_mismatched_line_is_an_error_naming_it() {
    let text = "{\"etcd_sim_history\":1,\"faults\":[]}\n{\"client\":1,\"call_ns\":5,\"return_ns\":9,\"request\":{\"op\":\"get\",\"key\":\"k\",\"serializable\":false},\"outcome\":{\"status\":\"ok\",\"detail\":{\"op\":\"put\",\"revision\":2}}}\n";
    let err = History::read_jsonl(text.as_bytes()).unwrap_err();
    assert_eq!(err.line, 2);
    assert!(
        err.reason.contains("get request answered by a put"),
        "{err}"
    );
}

// Leases. Lease 7 is long (never expires in the model), lease 8 long too,
// lease 9 short (may expire at any time after its grant was asked).

fn grant(client: u32, call: u64, ret: u64, id: i64, ttl: i64, revision: i64) -> Operation {
    op(
        client,
        call,
        ret,
        Request::LeaseGrant { id, ttl },
        Outcome::Ok(Response::LeaseGrant {
            revision,
            id: Some(id),
            ttl: Some(ttl),
        }),
    )
}

fn put_lease(
    client: u32,
    (call, ret): (u64, u64),
    key: &str,
    value: &str,
    lease: i64,
    revision: i64,
) -> Operation {
    let request = put_request(key, value, lease);
    let outcome = if revision > 0 {
        Outcome::Ok(Response::Put { revision })
    } else {
        Outcome::Fail(LEASE_NOT_FOUND.into())
    };
    op(client, call, ret, request, outcome)
}

/// A revoke answered at `revision`; 0: refused as not found; -1: unknown.
fn revoke(client: u32, call: u64, ret: u64, id: i64, revision: i64) -> Operation {
    let (ret, outcome) = match revision {
        0 => (ret, Outcome::Fail(LEASE_NOT_FOUND.into())),
        -1 => (u64::MAX, Outcome::Unknown("timed out".into())),
        r => (ret, Outcome::Ok(Response::LeaseRevoke { revision: r })),
    };
    op(client, call, ret, Request::LeaseRevoke { id }, outcome)
}

/// A linearizable get answered at header revision `header`.
fn get_at(call: u64, key: &str, seen: Option<(&str, i64)>, header: i64) -> Operation {
    let request = Request::Get {
        key: key.into(),
        serializable: false,
    };
    let response = Response::Get {
        kv: seen.map(|(v, r)| kv(v, r)),
        revision: header,
        count: Some(i64::from(seen.is_some())),
        more: false,
    };
    op(9, call, call + 5, request, Outcome::Ok(response))
}

/// The whole check: the search, split and unsplit, and the revision rules.
fn lease_verdict(operations: Vec<Operation>) -> (Verdict, Vec<String>) {
    let verdict = verdict(operations.clone());
    let history = History {
        operations,
        faults: vec![],
    };
    let report = check_kv(&history, &CheckOptions::default());
    (
        verdict,
        report.violations.iter().map(|v| v.to_string()).collect(),
    )
}

fn accepted(operations: Vec<Operation>) {
    let (verdict, violations) = lease_verdict(operations.clone());
    assert_eq!(verdict, Verdict::Linearizable, "{operations:#?}");
    assert!(violations.is_empty(), "{violations:?}");
}

/// Refuted by the model itself (a revision rule may refute it too).
fn refuted(operations: Vec<Operation>) {
    let (verdict, _) = lease_verdict(operations.clone());
    assert_eq!(verdict, Verdict::NotLinearizable, "{operations:#?}");
}

#[test]
fn a_put_with_a_lease_is_refused_exactly_when_the_lease_is_not_live() {
    // Never granted: refused, and never accepted.
    accepted(vec![put_lease(0, (0, 10), "k", "a", 7, 0)]);
    refuted(vec![put_lease(0, (0, 10), "k", "a", 7, 2)]);
    // Granted and not revoked: accepted, never refused.
    accepted(vec![
        grant(0, 0, 10, 7, 3600, 1),
        put_lease(0, (20, 30), "k", "a", 7, 2),
        get_at(40, "k", Some(("a", 2)), 2),
    ]);
    refuted(vec![
        grant(0, 0, 10, 7, 3600, 1),
        put_lease(0, (20, 30), "k", "a", 7, 0),
    ]);
    // Revoked: refused again; a put concurrent with the revoke either way.
    accepted(vec![
        grant(0, 0, 10, 7, 3600, 1),
        revoke(0, 20, 30, 7, 1),
        put_lease(0, (40, 50), "k", "a", 7, 0),
    ]);
    refuted(vec![
        grant(0, 0, 10, 7, 3600, 1),
        revoke(0, 20, 30, 7, 1),
        put_lease(0, (40, 50), "k", "a", 7, 2),
    ]);
    accepted(vec![
        grant(0, 0, 10, 7, 3600, 1),
        revoke(0, 20, 40, 7, 1),
        put_lease(1, (25, 35), "k", "a", 7, 0),
    ]);
}

#[test]
fn a_revoke_deletes_the_keys_attached_to_its_lease_at_one_instant() {
    let attached = || {
        vec![
            grant(0, 0, 10, 7, 3600, 1),
            put_lease(0, (20, 30), "k1", "a", 7, 2),
            put_lease(0, (40, 50), "k2", "b", 7, 3),
        ]
    };
    // Gone after the revoke.
    let mut ops = attached();
    ops.extend([
        revoke(0, 60, 70, 7, 4),
        get_at(80, "k1", None, 4),
        get_at(90, "k2", None, 4),
    ]);
    accepted(ops);
    let mut ops = attached();
    ops.extend([revoke(0, 60, 70, 7, 4), get_at(80, "k2", Some(("b", 3)), 4)]);
    refuted(ops);
    // A range concurrent with the revoke sees both or neither.
    let range_at = |kvs: Vec<(&str, &str, i64)>| {
        let mut r = range(1, 62, 68, kvs);
        if let Outcome::Ok(Response::Range { revision, .. }) = &mut r.outcome {
            *revision = 4;
        }
        r
    };
    let mut ops = attached();
    ops.extend([revoke(0, 60, 70, 7, 4), range_at(vec![])]);
    accepted(ops);
    let mut ops = attached();
    ops.extend([revoke(0, 60, 70, 7, 4), range_at(vec![("k2", "b", 3)])]);
    refuted(ops);
    // A revoke refused as not found while the lease is live is wrong.
    let mut ops = attached();
    ops.push(revoke(0, 60, 70, 7, 0));
    refuted(ops);
    // A revoke of unknown outcome may have happened.
    let mut ops = attached();
    ops.extend([revoke(0, 60, 70, 7, -1), get_at(80, "k1", None, 4)]);
    accepted(ops);
}

#[test]
fn a_put_or_delete_detaches_a_key_from_its_old_lease() {
    let base = || {
        vec![
            grant(0, 0, 10, 7, 3600, 1),
            grant(0, 12, 14, 8, 3600, 1),
            put_lease(0, (20, 30), "k1", "a", 7, 2),
            put_lease(0, (20, 30), "k2", "b", 7, 3),
            // k1 now without a lease, k2 on lease 8.
            put(0, 40, 50, "k1", "c", 4),
            put_lease(0, (40, 50), "k2", "d", 8, 5),
            revoke(0, 60, 70, 7, 5),
        ]
    };
    let mut ops = base();
    ops.extend([
        get_at(80, "k1", Some(("c", 4)), 5),
        get_at(80, "k2", Some(("d", 5)), 5),
    ]);
    accepted(ops);
    // The revoke of the old lease deleting them is wrong.
    for key in ["k1", "k2"] {
        let mut ops = base();
        ops.push(get_at(80, key, None, 5));
        refuted(ops);
    }
    // A deleted key put again without a lease stays.
    let ops = vec![
        grant(0, 0, 10, 7, 3600, 1),
        put_lease(0, (20, 30), "k1", "a", 7, 2),
        op(
            0,
            40,
            50,
            Request::Delete { key: "k1".into() },
            Outcome::Ok(Response::Delete {
                deleted: 1,
                revision: 3,
            }),
        ),
        put(0, 52, 55, "k1", "c", 4),
        revoke(0, 60, 70, 7, 4),
        get_at(80, "k1", Some(("c", 4)), 4),
    ];
    accepted(ops);
}

#[test]
fn only_a_short_lease_may_expire_and_take_its_keys() {
    let lost = |id: i64, ttl: i64| {
        vec![
            grant(0, 0, 10, id, ttl, 1),
            put_lease(0, (20, 30), "k", "a", id, 2),
            // Gone without a revoke: only an expiry explains it.
            get_at(40, "k", None, 3),
            // And the lease with it.
            put_lease(0, (50, 60), "j", "b", id, 0),
        ]
    };
    accepted(lost(9, 5));
    refuted(lost(7, 3600));
    // An expiry takes every key at once, as a revoke does.
    let ops = vec![
        grant(0, 0, 10, 9, 5, 1),
        put_lease(0, (20, 30), "k1", "a", 9, 2),
        put_lease(0, (20, 30), "k2", "b", 9, 3),
        get_at(40, "k1", None, 4),
        get_at(50, "k2", Some(("b", 3)), 4),
    ];
    refuted(ops);
}

#[test]
fn lease_operations_round_trip_through_json_lines() {
    let history = History {
        operations: vec![
            grant(0, 0, 10, 7, 3600, 1),
            put_lease(0, (20, 30), "k", "a", 7, 2),
            put_lease(0, (20, 30), "j", "b", 8, 0),
            revoke(0, 40, 50, 7, 3),
            revoke(0, 60, 70, 7, -1),
        ],
        faults: vec![],
    };
    let mut buf = Vec::new();
    history.write_jsonl(&mut buf).unwrap();
    let text = String::from_utf8(buf.clone()).unwrap();
    assert!(
        text.contains(r#""op":"lease_grant","id":7,"ttl":3600"#),
        "{text}"
    );
    assert!(text.contains(r#""lease":7"#), "{text}");
    assert_eq!(History::read_jsonl(&buf[..]).unwrap(), history);
    // A line of a lease op that lacks its id is located.
    let mut broken = buf.clone();
    broken.extend_from_slice(
        b"{\"client\":1,\"call_ns\":1,\"return_ns\":2,\"request\":{\"op\":\"lease_revoke\"},\"outcome\":{\"status\":\"fail\",\"detail\":\"x\"}}\n",
    );
    let error = History::read_jsonl(&broken[..]).unwrap_err();
    assert_eq!(error.line, 7, "{error}");
}

/// A txn comparing `k`'s version with `n` under `relation`, with one put
/// in its success branch, answered at `revision`.
fn version_txn(
    call: u64,
    relation: etcd_sim_checker::Relation,
    n: i64,
    succeeded: bool,
    revision: i64,
) -> Operation {
    use etcd_sim_checker::{Compare, CompareTarget, StepResult, TxnStep};
    op(
        2,
        call,
        call + 5,
        Request::Txn {
            compares: vec![Compare {
                key: "k".into(),
                target: CompareTarget::Version(n),
                relation,
            }],
            success: vec![TxnStep::Put {
                key: "j".into(),
                value: format!("t{call}"),
                lease: 0,
            }],
            failure: vec![],
        },
        Outcome::Ok(Response::Txn {
            succeeded,
            results: if succeeded {
                vec![StepResult::Put]
            } else {
                vec![]
            },
            revision,
        }),
    )
}

/// Version compares other than 0: each value of a key has the version a
/// read showed, so a compare holds in a known set of states.
#[test]
fn version_compares_follow_the_versions_reads_showed() {
    use etcd_sim_checker::Relation::{Equal, Greater, Less, NotEqual};
    let seen_version = |version: i64| {
        let mut read = get_at(20, "k", Some(("a", 2)), 2);
        if let Outcome::Ok(Response::Get { kv: Some(kv), .. }) = &mut read.outcome {
            kv.create_revision = 2 - (version - 1);
            kv.version = version;
        }
        read
    };
    // k holds "a" at version 2 (created earlier as "z"), then is deleted.
    let history = |txn: Operation| {
        vec![
            put(0, 0, 2, "k", "z", 1),
            put(0, 3, 5, "k", "a", 2),
            seen_version(2),
            txn,
            op(
                0,
                50,
                55,
                Request::Delete { key: "k".into() },
                Outcome::Ok(Response::Delete {
                    deleted: 1,
                    revision: 4,
                }),
            ),
            get_at(60, "k", None, 4),
        ]
    };
    let (during, after) = (30, 70);
    for (relation, n, holds_on_a, holds_when_absent) in [
        (Equal, 2, true, false),
        (NotEqual, 2, false, true),
        (Greater, 1, true, false),
        (Less, 2, false, true),
    ] {
        // The version "z" had is unknown: only a txn whose compare says the
        // same of "z" as of one other state can be checked. Here "z" is
        // gone before the txns, so tell it: "z" was read at version 1.
        let mut known = history(version_txn(during, relation, n, holds_on_a, 3));
        let mut z = get_at(2, "k", Some(("z", 1)), 1);
        z.return_ns = 2;
        known.insert(1, z);
        accepted(known.clone());
        // The wrong answer while k holds "a".
        let mut wrong = history(version_txn(during, relation, n, !holds_on_a, 3));
        wrong.insert(1, known[1].clone());
        refuted(wrong);
        // After the delete: version 0.
        let mut absent = history(version_txn(after, relation, n, holds_when_absent, 5));
        absent.insert(1, known[1].clone());
        accepted(absent.clone());
        let mut wrong = history(version_txn(after, relation, n, !holds_when_absent, 5));
        wrong.insert(1, known[1].clone());
        refuted(wrong);
    }
}

// Every field judged: each test takes a history the checker accepts and
// changes one field of one answer; the checker must refute it. `reason`
// is a word the refutation names when a rule (not the search) refutes it.

/// Accepts `good`; refutes it with `wrong` applied to operation `i`'s
/// answer, naming `reason` if given (`None`: the search refutes it).
fn field_judged(
    good: Vec<Operation>,
    i: usize,
    reason: Option<&str>,
    wrong: impl FnOnce(&mut Response),
) {
    let report = check_kv(&history_of(good.clone()), &CheckOptions::default());
    assert_eq!(report.verdict, Verdict::Linearizable, "{report}");
    let mut bad = good;
    let Outcome::Ok(response) = &mut bad[i].outcome else {
        panic!("operation {i} has no answer to change");
    };
    wrong(response);
    assert_eq!(verdict(bad.clone()), Verdict::NotLinearizable, "{bad:#?}");
    let report = check_kv(&history_of(bad), &CheckOptions::default());
    match reason {
        Some(reason) => assert!(report.to_string().contains(reason), "{report}"),
        None => assert!(report.failure.is_some(), "the search refutes it: {report}"),
    }
}

fn history_of(operations: Vec<Operation>) -> History {
    History {
        operations,
        faults: vec![],
    }
}

/// k1=a at 2, k2=b at 3, k3=c at 4.
fn three_puts() -> Vec<Operation> {
    vec![
        put(0, 0, 10, "k1", "a", 2),
        put(0, 20, 30, "k2", "b", 3),
        put(0, 40, 50, "k3", "c", 4),
    ]
}

/// [`three_puts`], then a list of `[start, end)` with `limit`, keys-only or
/// count-only, answered as etcd would at revision 4.
fn listed(start: &str, end: &str, limit: i64, keys_only: bool, count_only: bool) -> Vec<Operation> {
    let all = [("k1", "a", 2), ("k2", "b", 3), ("k3", "c", 4)];
    let covered: Vec<_> = all
        .iter()
        .filter(|(k, _, _)| etcd_sim_checker::in_range(k, start, end))
        .collect();
    let count = covered.len() as i64;
    let shown = if count_only {
        0
    } else if limit > 0 {
        count.min(limit)
    } else {
        count
    };
    let kvs = covered
        .iter()
        .take(shown as usize)
        .map(|&&(k, v, r)| {
            let value = if keys_only { "" } else { v };
            (k.to_string(), kv(value, r))
        })
        .collect();
    let mut ops = three_puts();
    ops.push(op(
        1,
        60,
        70,
        Request::List {
            start: start.into(),
            end: end.into(),
            revision: 0,
            limit,
            keys_only,
            count_only,
            serializable: false,
            order: Default::default(),
        },
        Outcome::Ok(Response::List {
            kvs,
            count,
            more: !count_only && limit > 0 && count > limit,
            revision: 4,
        }),
    ));
    ops
}

fn list_fields(response: &mut Response) -> (&mut Vec<(String, KeyValue)>, &mut i64, &mut bool) {
    let Response::List {
        kvs, count, more, ..
    } = response
    else {
        panic!("not a list: {response:?}");
    };
    (kvs, count, more)
}

#[test]
fn field_list_count_unlimited() {
    field_judged(listed("k", "l", 0, false, false), 3, Some("count"), |r| {
        *list_fields(r).1 = 2;
    });
}

#[test]
fn field_list_count_beyond_its_limit() {
    // The page and its `more` agree with a count of 4: only the store (the
    // model) says the range holds 3.
    field_judged(listed("k", "l", 2, false, false), 3, None, |r| {
        *list_fields(r).1 = 4;
    });
}

#[test]
fn field_list_more() {
    field_judged(listed("k", "l", 2, false, false), 3, Some("more"), |r| {
        *list_fields(r).2 = false;
    });
}

#[test]
fn field_list_kvs_above_its_limit() {
    field_judged(
        listed("k", "l", 2, false, false),
        3,
        Some("returned 3 kvs"),
        |r| {
            list_fields(r).0.push(("k3".into(), kv("c", 4)));
        },
    );
}

#[test]
fn field_list_kvs_outside_the_range() {
    field_judged(
        listed("k1", "k3", 0, false, false),
        3,
        Some("outside"),
        |r| {
            let (kvs, count, _) = list_fields(r);
            kvs.push(("k3".into(), kv("c", 4)));
            *count = 3;
        },
    );
}

#[test]
fn field_list_kvs_in_key_order() {
    field_judged(
        listed("k", "l", 0, false, false),
        3,
        Some("key order"),
        |r| {
            list_fields(r).0.swap(0, 1);
        },
    );
}

#[test]
fn field_list_kvs_values_at_their_revisions() {
    field_judged(listed("k", "l", 0, false, false), 3, None, |r| {
        list_fields(r).0[1].1 = kv("a", 2);
    });
}

#[test]
fn field_list_keys_only_values() {
    field_judged(
        listed("k", "l", 0, true, false),
        3,
        Some("keys-only"),
        |r| {
            list_fields(r).0[0].1.value = "a".into();
        },
    );
}

#[test]
fn field_list_count_only_kvs() {
    field_judged(
        listed("k", "l", 0, false, true),
        3,
        Some("returned 1 kvs"),
        |r| {
            list_fields(r).0.push(("k1".into(), kv("a", 2)));
        },
    );
}

#[test]
fn field_list_count_only_count() {
    field_judged(listed("k", "l", 0, false, true), 3, None, |r| {
        *list_fields(r).1 = 2;
    });
}

#[test]
fn field_list_header_revision() {
    // A linearizable read after the put at 4 returned cannot be at 3.
    field_judged(listed("k", "l", 0, false, false), 3, Some("header"), |r| {
        let Response::List { revision, .. } = r else {
            unreachable!()
        };
        *revision = 3;
    });
}

/// k=a at 2, then a get of it.
fn put_then_get() -> Vec<Operation> {
    vec![
        put(0, 0, 10, "k", "a", 2),
        get(1, 20, 30, "k", Some(("a", 2))),
    ]
}

fn get_fields(response: &mut Response) -> (&mut Option<KeyValue>, &mut Option<i64>, &mut bool) {
    let Response::Get {
        kv, count, more, ..
    } = response
    else {
        panic!("not a get: {response:?}");
    };
    (kv, count, more)
}

#[test]
fn field_get_count() {
    field_judged(
        put_then_get(),
        1,
        Some("get returned 1 kvs, but its count 2"),
        |r| {
            *get_fields(r).1 = Some(2);
        },
    );
}

#[test]
fn field_get_more() {
    field_judged(put_then_get(), 1, Some("get more true"), |r| {
        *get_fields(r).2 = true;
    });
}

#[test]
fn field_get_kv_value() {
    field_judged(put_then_get(), 1, Some("no write wrote"), |r| {
        get_fields(r).0.as_mut().unwrap().value = "b".into();
    });
}

#[test]
fn field_get_kv_mod_revision() {
    field_judged(put_then_get(), 1, Some("mod_revision"), |r| {
        let kv = get_fields(r).0.as_mut().unwrap();
        (kv.create_revision, kv.mod_revision) = (1, 1);
    });
}

#[test]
fn field_get_kv_create_revision() {
    field_judged(put_then_get(), 1, Some("no store can hold"), |r| {
        get_fields(r).0.as_mut().unwrap().create_revision = 1;
    });
}

#[test]
fn field_get_kv_version() {
    field_judged(put_then_get(), 1, Some("no store can hold"), |r| {
        get_fields(r).0.as_mut().unwrap().version = 2;
    });
}

#[test]
fn field_get_kv_absent() {
    field_judged(put_then_get(), 1, None, |r| {
        let (kv, count, _) = get_fields(r);
        (*kv, *count) = (None, Some(0));
    });
}

/// k1=a at 2, `other`=b at 3, then a range over prefix `k` at 3.
fn put_then_range(other: &str) -> Vec<Operation> {
    let mut seen = vec![("k1", "a", 2)];
    if other.starts_with('k') {
        seen.push((other, "b", 3));
    }
    vec![
        put(0, 0, 10, "k1", "a", 2),
        put(0, 20, 30, other, "b", 3),
        range(1, 60, 70, seen),
    ]
}

#[test]
fn field_range_count() {
    field_judged(
        put_then_range("k2"),
        2,
        Some("range returned 2 kvs, but its count 1"),
        |r| {
            let Response::Range { count, .. } = r else {
                unreachable!()
            };
            *count = Some(1);
        },
    );
}

#[test]
fn field_range_more() {
    field_judged(put_then_range("k2"), 2, Some("range more true"), |r| {
        let Response::Range { more, .. } = r else {
            unreachable!()
        };
        *more = true;
    });
}

#[test]
fn field_range_kvs_outside_the_prefix() {
    field_judged(put_then_range("x"), 2, Some("outside"), |r| {
        let Response::Range { kvs, count, .. } = r else {
            unreachable!()
        };
        kvs.push(("x".into(), kv("b", 3)));
        *count = Some(2);
    });
}

/// k=a at 2, then a delete of it at 3.
fn put_then_delete() -> Vec<Operation> {
    vec![
        put(0, 0, 10, "k", "a", 2),
        op(
            1,
            20,
            30,
            Request::Delete { key: "k".into() },
            Outcome::Ok(Response::Delete {
                deleted: 1,
                revision: 3,
            }),
        ),
    ]
}

#[test]
fn field_delete_deleted_nothing() {
    field_judged(put_then_delete(), 1, None, |r| {
        let Response::Delete { deleted, .. } = r else {
            unreachable!()
        };
        *deleted = 0;
    });
}

#[test]
fn field_delete_deleted_more_than_its_key() {
    field_judged(put_then_delete(), 1, Some("delete deleted 2"), |r| {
        let Response::Delete { deleted, .. } = r else {
            unreachable!()
        };
        *deleted = 2;
    });
}

/// [`three_puts`], then a delete of `[start, end)` at 5 with its prev_kvs.
fn deleted_range(start: &str, end: &str) -> Vec<Operation> {
    let prev_kvs: Vec<_> = [("k1", "a", 2), ("k2", "b", 3), ("k3", "c", 4)]
        .iter()
        .filter(|(k, _, _)| etcd_sim_checker::in_range(k, start, end))
        .map(|&(k, v, r)| (k.to_string(), kv(v, r)))
        .collect();
    let mut ops = three_puts();
    ops.push(op(
        1,
        60,
        70,
        Request::DeleteRange {
            start: start.into(),
            end: end.into(),
        },
        Outcome::Ok(Response::DeleteRange {
            deleted: Some(prev_kvs.len() as i64),
            prev_kvs,
            revision: 5,
        }),
    ));
    ops
}

fn delete_range_fields(
    response: &mut Response,
) -> (&mut Vec<(String, KeyValue)>, &mut Option<i64>) {
    let Response::DeleteRange {
        prev_kvs, deleted, ..
    } = response
    else {
        panic!("not a delete-range: {response:?}");
    };
    (prev_kvs, deleted)
}

#[test]
fn field_delete_range_deleted() {
    field_judged(
        deleted_range("k", "l"),
        3,
        Some("delete-range deleted 2"),
        |r| {
            *delete_range_fields(r).1 = Some(2);
        },
    );
}

#[test]
fn field_delete_range_prev_kvs_missing_one() {
    field_judged(deleted_range("k", "l"), 3, None, |r| {
        let (prev_kvs, deleted) = delete_range_fields(r);
        prev_kvs.pop();
        *deleted = Some(2);
    });
}

#[test]
fn field_delete_range_prev_kvs_outside_the_range() {
    field_judged(deleted_range("k1", "k3"), 3, Some("outside"), |r| {
        let (prev_kvs, deleted) = delete_range_fields(r);
        prev_kvs.push(("k3".into(), kv("c", 4)));
        *deleted = Some(3);
    });
}

#[test]
fn field_delete_range_prev_kv_value() {
    field_judged(deleted_range("k", "l"), 3, None, |r| {
        delete_range_fields(r).0[0].1 = kv("b", 3);
    });
}

/// k1=a at 2, k2=b at 3, then a txn: if k1 is a, get k1, delete k2 and
/// put k3=c (at 4); else get k2.
fn txn_history() -> Vec<Operation> {
    use etcd_sim_checker::{Compare, CompareTarget, Relation, StepResult, TxnStep};
    let mut ops = three_puts();
    ops.truncate(2);
    ops.push(op(
        1,
        60,
        70,
        Request::Txn {
            compares: vec![Compare {
                key: "k1".into(),
                target: CompareTarget::Value("a".into()),
                relation: Relation::Equal,
            }],
            success: vec![
                TxnStep::Get {
                    key: "k1".into(),
                    revision: 0,
                },
                TxnStep::Delete { key: "k2".into() },
                TxnStep::Put {
                    key: "k3".into(),
                    value: "c".into(),
                    lease: 0,
                },
            ],
            failure: vec![TxnStep::Get {
                key: "k2".into(),
                revision: 0,
            }],
        },
        Outcome::Ok(Response::Txn {
            succeeded: true,
            results: vec![
                StepResult::Get {
                    kv: Some(kv("a", 2)),
                    count: Some(1),
                    more: false,
                },
                StepResult::Delete { deleted: 1 },
                StepResult::Put,
            ],
            revision: 4,
        }),
    ));
    ops
}

fn txn_fields(response: &mut Response) -> (&mut bool, &mut Vec<etcd_sim_checker::StepResult>) {
    let Response::Txn {
        succeeded, results, ..
    } = response
    else {
        panic!("not a txn: {response:?}");
    };
    (succeeded, results)
}

#[test]
fn field_txn_succeeded() {
    use etcd_sim_checker::StepResult;
    // The failure branch's answer, from a txn whose compare held.
    field_judged(txn_history(), 2, None, |r| {
        let (succeeded, results) = txn_fields(r);
        *succeeded = false;
        *results = vec![StepResult::Get {
            kv: Some(kv("b", 3)),
            count: Some(1),
            more: false,
        }];
    });
}

#[test]
fn field_txn_results_of_the_branch() {
    field_judged(
        txn_history(),
        2,
        Some("3 steps answered with 2 results"),
        |r| {
            txn_fields(r).1.pop();
        },
    );
}

#[test]
fn field_txn_results_of_each_step_kind() {
    field_judged(txn_history(), 2, Some("txn step 1"), |r| {
        txn_fields(r).1.swap(1, 2);
    });
}

#[test]
fn field_txn_step_get_kv() {
    use etcd_sim_checker::StepResult;
    field_judged(txn_history(), 2, None, |r| {
        txn_fields(r).1[0] = StepResult::Get {
            kv: None,
            count: Some(0),
            more: false,
        };
    });
}

#[test]
fn field_txn_step_get_count() {
    use etcd_sim_checker::StepResult;
    field_judged(txn_history(), 2, Some("txn step 0 get"), |r| {
        let StepResult::Get { count, .. } = &mut txn_fields(r).1[0] else {
            unreachable!()
        };
        *count = Some(2);
    });
}

#[test]
fn field_txn_step_delete_deleted() {
    use etcd_sim_checker::StepResult;
    field_judged(txn_history(), 2, None, |r| {
        txn_fields(r).1[1] = StepResult::Delete { deleted: 0 };
    });
}

#[test]
fn field_txn_header_revision() {
    field_judged(txn_history(), 2, Some("both wrote at revision 3"), |r| {
        let Response::Txn { revision, .. } = r else {
            unreachable!()
        };
        *revision = 3;
    });
}

#[test]
fn field_lease_grant_id() {
    field_judged(
        vec![grant(0, 0, 10, 7, 3600, 1)],
        0,
        Some("lease grant id 8"),
        |r| {
            let Response::LeaseGrant { id, .. } = r else {
                unreachable!()
            };
            *id = Some(8);
        },
    );
}

#[test]
fn field_lease_grant_ttl() {
    field_judged(
        vec![grant(0, 0, 10, 7, 3600, 1)],
        0,
        Some("lease grant ttl 60"),
        |r| {
            let Response::LeaseGrant { ttl, .. } = r else {
                unreachable!()
            };
            *ttl = Some(60);
        },
    );
}

#[test]
fn field_put_header_revision() {
    field_judged(put_then_get(), 0, Some("header revision 0"), |r| {
        *r = Response::Put { revision: 0 };
    });
}

/// Histories saved before counts, `deleted`, lease ids and TTLs were
/// recorded still read, and are judged by what they do hold.
#[test]
fn answers_recorded_without_the_newer_fields_still_read() {
    let old = [
        r#"{"client":1,"call_ns":1,"return_ns":2,"request":{"op":"get","key":"k","serializable":false},"outcome":{"status":"ok","detail":{"op":"get","kv":null,"revision":1}}}"#,
        r#"{"client":1,"call_ns":3,"return_ns":4,"request":{"op":"delete_range","start":"k","end":"l"},"outcome":{"status":"ok","detail":{"op":"delete_range","prev_kvs":[],"revision":1}}}"#,
        r#"{"client":1,"call_ns":5,"return_ns":6,"request":{"op":"lease_grant","id":7,"ttl":3600},"outcome":{"status":"ok","detail":{"op":"lease_grant","revision":1}}}"#,
    ];
    for line in old {
        let op: Operation = serde_json::from_str(line).unwrap();
        assert_eq!(serde_json::to_string(&op).unwrap(), line, "writes the same");
    }
}
