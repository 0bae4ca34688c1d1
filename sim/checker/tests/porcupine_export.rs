//! Writing a history in porcupine's kv log format: what porcupine's model
//! can say is kept, so a history and its export get the same verdict, and
//! what it cannot say is refused by name.

use etcd_sim_checker::export::porcupine_kv;
use etcd_sim_checker::porcupine::{check_kv_log, read_kv};
use etcd_sim_checker::search::Search;
use etcd_sim_checker::{check_kv, CheckOptions, History, Verdict};

fn history(lines: &[&str]) -> History {
    let text = std::iter::once(r#"{"etcd_sim_history":1,"faults":[]}"#)
        .chain(lines.iter().copied())
        .collect::<Vec<_>>()
        .join("\n");
    History::read_jsonl(text.as_bytes()).expect("a well-formed history")
}

/// A put acknowledged at `rev`.
fn put(client: u32, (call, ret): (u64, u64), key: &str, value: &str, rev: i64) -> String {
    format!(
        r#"{{"client":{client},"call_ns":{call},"return_ns":{ret},"request":{{"op":"put","key":"{key}","value":"{value}"}},"outcome":{{"status":"ok","detail":{{"op":"put","revision":{rev}}}}}}}"#
    )
}

/// A get at `rev` that saw `seen` (a value written at its revision).
fn get(
    client: u32,
    (call, ret): (u64, u64),
    key: &str,
    seen: Option<(&str, i64)>,
    rev: i64,
) -> String {
    let kv = seen.map_or("null".to_string(), |(v, at)| {
        format!(r#"{{"value":"{v}","create_revision":{at},"mod_revision":{at},"version":1}}"#)
    });
    format!(
        r#"{{"client":{client},"call_ns":{call},"return_ns":{ret},"request":{{"op":"get","key":"{key}","serializable":false}},"outcome":{{"status":"ok","detail":{{"op":"get","kv":{kv},"revision":{rev}}}}}}}"#
    )
}

/// The verdicts of etcd-sim's checker on `history` and of the porcupine
/// model on its export, split by key and not.
fn verdicts(history: &History) -> (Verdict, bool, bool) {
    let native = check_kv(history, &CheckOptions::default()).verdict;
    let text = porcupine_kv(history).expect("exportable");
    let (model, ops) = read_kv(&text).expect("the export reads back");
    let ok = |by_key| {
        matches!(
            check_kv_log(&model, &ops, by_key, None),
            Search::Linearizable
        )
    };
    (native, ok(true), ok(false))
}

#[test]
fn puts_deletes_gets_and_unknown_writes_keep_their_verdict() {
    let delete = r#"{"client":1,"call_ns":50,"return_ns":60,"request":{"op":"delete","key":"k1"},"outcome":{"status":"ok","detail":{"op":"delete","deleted":1,"revision":4}}}"#;
    let unknown = r#"{"client":2,"call_ns":70,"return_ns":18446744073709551615,"request":{"op":"put","key":"k0","value":"never-seen"},"outcome":{"status":"unknown","detail":"timed out"}}"#;
    let failed = r#"{"client":0,"call_ns":75,"return_ns":76,"request":{"op":"put","key":"k0","value":"failed"},"outcome":{"status":"fail","detail":"etcdserver: too many requests"}}"#;
    let compact = r#"{"client":0,"call_ns":77,"return_ns":78,"request":{"op":"compact","revision":2},"outcome":{"status":"ok","detail":{"op":"compact","revision":4}}}"#;
    let good = history(&[
        &put(0, (10, 20), "k0", "a", 2),
        &put(1, (15, 25), "k1", "b", 3),
        &get(2, (30, 40), "k0", Some(("a", 2)), 3),
        delete,
        &get(0, (61, 65), "k1", None, 4),
        unknown,
        failed,
        compact,
        // The unknown write may have taken effect late, or not at all.
        &get(1, (80, 90), "k0", Some(("a", 2)), 4),
        &get(1, (91, 95), "k0", Some(("never-seen", 5)), 5),
    ]);
    assert_eq!(verdicts(&good), (Verdict::Linearizable, true, true));

    // A read of the failed write, and a stale read after it was seen.
    for bad in [
        history(&[
            &put(0, (10, 20), "k0", "a", 2),
            failed,
            &get(1, (80, 90), "k0", Some(("failed", 3)), 3),
        ]),
        history(&[
            &put(0, (10, 20), "k0", "a", 2),
            &put(0, (30, 40), "k0", "b", 3),
            &get(1, (50, 60), "k0", Some(("a", 2)), 3),
        ]),
        history(&[
            &put(1, (15, 25), "k1", "b", 3),
            delete,
            &get(0, (61, 65), "k1", Some(("b", 3)), 4),
        ]),
    ] {
        assert_eq!(verdicts(&bad), (Verdict::NotLinearizable, false, false));
    }
}

#[test]
fn the_lines_are_porcupines_and_a_client_left_open_goes_on_as_a_new_process() {
    let unknown = r#"{"client":1,"call_ns":5,"return_ns":18446744073709551615,"request":{"op":"put","key":"k","value":"u"},"outcome":{"status":"unknown","detail":"timed out"}}"#;
    let h = history(&[
        unknown,
        &put(0, (10, 20), "k", "a", 2),
        &get(1, (30, 40), "k", Some(("a", 2)), 2),
        &get(0, (50, 60), "k", Some(("u", 3)), 3),
    ]);
    assert_eq!(
        porcupine_kv(&h).unwrap(),
        [
            r#"{:process 1, :type :invoke, :f :put, :key "k", :value "u"}"#,
            r#"{:process 0, :type :invoke, :f :put, :key "k", :value "a"}"#,
            r#"{:process 0, :type :ok, :f :put, :key "k", :value "a"}"#,
            r#"{:process 2, :type :invoke, :f :get, :key "k", :value nil}"#,
            r#"{:process 2, :type :ok, :f :get, :key "k", :value "a"}"#,
            r#"{:process 0, :type :invoke, :f :get, :key "k", :value nil}"#,
            r#"{:process 0, :type :ok, :f :get, :key "k", :value "u"}"#,
            "",
        ]
        .join("\n")
    );
    // Unread, the write of unknown outcome is left out: nothing could tell
    // whether it took effect.
    let unread = history(&[unknown, &put(0, (10, 20), "k", "a", 2)]);
    assert_eq!(porcupine_kv(&unread).unwrap().lines().count(), 2);
}

#[test]
fn what_porcupines_model_cannot_say_is_refused_by_name() {
    let serializable = r#"{"client":0,"call_ns":1,"return_ns":2,"request":{"op":"get","key":"k","serializable":true},"outcome":{"status":"ok","detail":{"op":"get","kv":null,"revision":1}}}"#;
    let range = r#"{"client":0,"call_ns":1,"return_ns":2,"request":{"op":"range","prefix":"k","serializable":false},"outcome":{"status":"ok","detail":{"op":"range","kvs":[],"revision":1}}}"#;
    for (line, says) in [
        (serializable.to_string(), "serializable get"),
        (range.to_string(), "a range"),
        (put(0, (1, 2), "k", "", 3), "would read as a delete"),
        (put(0, (1, 2), "k", "a\\\"b", 3), "quote"),
    ] {
        let h = history(&[&put(3, (0, 1), "k", "x", 2), &line]);
        let err = porcupine_kv(&h).unwrap_err();
        assert_eq!(err.operation, 1, "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
}
