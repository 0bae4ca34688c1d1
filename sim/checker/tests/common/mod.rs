//! What the KV-model tests share: an operation from its parts, and the
//! verdict on a history, checked both split by key and whole.

use etcd_sim_checker::{check_kv, CheckOptions, History, Operation, Outcome, Request, Verdict};

/// An operation of `client`, called at `call` and returned at `ret`.
pub fn op(client: u32, call: u64, ret: u64, request: Request, outcome: Outcome) -> Operation {
    Operation {
        client,
        call_ns: call,
        return_ns: ret,
        request,
        outcome,
        served_by: None,
        persisted: None,
    }
}

/// The checker's verdict on `operations`; checking the history whole must
/// give the same as checking it split by key.
pub fn verdict(operations: Vec<Operation>) -> Verdict {
    let history = History {
        operations,
        faults: vec![],
    };
    let split = check_kv(&history, &CheckOptions::default());
    let whole = check_kv(
        &history,
        &CheckOptions {
            partition_by_key: false,
            timeout: None,
        },
    );
    assert_eq!(
        split.verdict, whole.verdict,
        "partitioning must not change the verdict"
    );
    split.verdict
}
