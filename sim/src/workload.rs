//! Concurrent clients issuing random operations, each one recorded.

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_sim::bugs::BugSet;
use etcd_sim::client::{Client, ClientError, Compare, CompareOp, GetOptions, Txn, TxnOp};
use etcd_sim::perturb::Perturbations;
use etcd_sim::proto::etcdserverpb::{RangeResponse, ResponseHeader};
use etcd_sim::proto::mvccpb;
use etcd_sim_checker::{KeyValue, Outcome, Request, Response};
use madsim::rand::{thread_rng, Rng};

use crate::recorder::Recorder;
use crate::run::Clock;

/// Every key the workload uses starts with this.
pub const KEY_PREFIX: &str = "k";

/// The shape of the client load.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Operations each client issues.
    pub ops_per_client: usize,
    /// Keys `k0`, `k1`, … the clients contend on.
    pub keys: usize,
    /// How long a client waits for an answer before giving up (the outcome
    /// is then unknown). Longer than the server's request timeout, so that
    /// the server's own, more precise, error usually arrives first.
    pub deadline: Duration,
    /// Perturbation sites of the clients (`slow-client-read`).
    pub perturbations: Perturbations,
}

/// Runs client `id` against `endpoints`, recording every operation.
///
/// Values are unique (`c<id>-<seq>`), so a read names the write it saw. The
/// mix: puts, linearizable and serializable gets, deletes, compare-and-set
/// txns (expecting the last value this client saw), and ranges over all keys.
/// Now and then a client also compacts a little below the newest revision
/// it saw, as an operator's auto-compaction would, or at the revision of a
/// delete it just made; no operation here reads history, so compaction
/// changes no answer the checker sees, and it is noted in the trace rather
/// than the history (the watchers see it).
pub async fn run_client(
    id: u32,
    endpoints: Vec<String>,
    workload: Workload,
    bugs: BugSet,
    recorder: Recorder,
    clock: Clock,
) {
    let client = Client::new(&endpoints, Duration::from_secs(1))
        .expect("valid endpoints")
        .with_bugs(bugs)
        .with_perturbations(workload.perturbations);
    client.prefer_endpoint(thread_rng().gen_range(0..endpoints.len()));
    let mut seen: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut newest_revision = 0;
    for seq in 0..workload.ops_per_client {
        if thread_rng().gen_range(0..100) < 3 {
            compact(&client, id, newest_revision - 5, &recorder, &clock).await;
        }
        let key = format!("{KEY_PREFIX}{}", thread_rng().gen_range(0..workload.keys));
        let value = format!("c{id}-{seq}");
        let request = match thread_rng().gen_range(0..100) {
            0..30 => Request::Put { key, value },
            30..50 => Request::Get {
                key,
                serializable: false,
            },
            50..55 => Request::Get {
                key,
                serializable: true,
            },
            55..65 => Request::Delete { key },
            65..85 => {
                let expected = seen.get(&key).cloned().flatten();
                Request::Cas {
                    key,
                    expected,
                    value,
                }
            }
            _ => Request::Range {
                prefix: KEY_PREFIX.to_string(),
                serializable: false,
            },
        };
        let outcome = recorded(&client, id, &request, &workload, &recorder, &clock).await;
        // Compaction racing deletes: now and then compact at the very
        // revision of a delete just made, so that the compacted revision's
        // event is a delete (what etcd #18089 lost).
        if let Outcome::Ok(Response::Delete {
            deleted: 1..,
            revision,
        }) = &outcome
        {
            if thread_rng().gen_range(0..100) < 30 {
                compact(&client, id, *revision, &recorder, &clock).await;
            }
        }
        remember(&mut seen, &request, &outcome);
        if let Outcome::Ok(response) = &outcome {
            newest_revision = newest_revision.max(response.revision());
        }
        // A refused operation is answered at once (no member reachable, no
        // leader): an application backs off before it tries again rather
        // than spend its whole load while the cluster is down, which would
        // leave nothing to check once it is back (a `quiet` seed).
        let pause = match outcome {
            Outcome::Fail(_) => thread_rng().gen_range(200..600),
            _ => thread_rng().gen_range(0..30),
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// Reads every key once, linearizably, as client `id`, retrying each read
/// until it succeeds or ten attempts fail.
pub async fn final_reads(
    id: u32,
    endpoints: Vec<String>,
    workload: Workload,
    recorder: Recorder,
    clock: Clock,
) {
    let client = Client::new(&endpoints, Duration::from_secs(1)).expect("valid endpoints");
    for key in (0..workload.keys).map(|k| format!("{KEY_PREFIX}{k}")) {
        let request = Request::Get {
            key,
            serializable: false,
        };
        for _attempt in 0..10 {
            let outcome = recorded(&client, id, &request, &workload, &recorder, &clock).await;
            if matches!(outcome, Outcome::Ok(_)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Issues `request` as client `id` within the workload's deadline, recording
/// its invocation and completion.
async fn recorded(
    client: &Client,
    id: u32,
    request: &Request,
    workload: &Workload,
    recorder: &Recorder,
    clock: &Clock,
) -> Outcome {
    let op = recorder.invoke(id, clock.now_ns(), request.clone());
    let (outcome, answered_by) =
        match tokio::time::timeout(workload.deadline, execute(client, request)).await {
            Ok(Ok((response, header))) => (Outcome::Ok(response), header),
            Ok(Err(e)) => (failed(&e), None),
            Err(_) => (failed(&ClientError::DeadlineExceeded), None),
        };
    recorder.complete(op, clock.now_ns(), outcome.clone(), answered_by);
    outcome
}

/// Compacts at `revision` (if there is any history below it) as client
/// `id`, within a second, and notes the answer in the trace.
async fn compact(client: &Client, id: u32, revision: i64, recorder: &Recorder, clock: &Clock) {
    if revision < 2 {
        return;
    }
    let answer = tokio::time::timeout(Duration::from_secs(1), client.compact(revision, false));
    let note = match answer.await {
        Ok(Ok(_)) => "ok".to_string(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer".to_string(),
    };
    recorder.note(
        clock.now_ns(),
        format_args!("client {id} compact {revision}: {note}"),
    );
}

/// Notes what `outcome` revealed about the keys' current values.
fn remember(seen: &mut BTreeMap<String, Option<String>>, request: &Request, outcome: &Outcome) {
    let Outcome::Ok(response) = outcome else {
        return;
    };
    match (request, response) {
        (Request::Put { key, value }, _) => {
            seen.insert(key.clone(), Some(value.clone()));
        }
        (Request::Get { key, .. }, Response::Get { kv, .. }) => {
            seen.insert(key.clone(), kv.as_ref().map(|kv| kv.value.clone()));
        }
        (Request::Delete { key }, _) => {
            seen.insert(key.clone(), None);
        }
        (
            Request::Cas { key, value, .. },
            Response::Cas {
                succeeded: true, ..
            },
        ) => {
            seen.insert(key.clone(), Some(value.clone()));
        }
        (Request::Range { .. }, Response::Range { kvs, .. }) => {
            for (key, kv) in kvs {
                seen.insert(key.clone(), Some(kv.value.clone()));
            }
        }
        _ => {}
    }
}

/// Runs `request`; on success, its response and the response header's
/// member id and raft term (who answered, for the report).
async fn execute(
    client: &Client,
    request: &Request,
) -> Result<(Response, Option<(u64, u64)>), ClientError> {
    let mut answered_by = None;
    let mut seen = |header: &Option<ResponseHeader>| {
        answered_by = header.as_ref().map(|h| (h.member_id, h.raft_term));
        revision(header)
    };
    let response = match request {
        Request::Put { key, value } => {
            client
                .put(key.as_str(), value.as_str())
                .await
                .map(|r| Response::Put {
                    revision: seen(&r.header),
                })
        }
        Request::Get { key, serializable } => {
            let options = GetOptions {
                serializable: *serializable,
                prefix: false,
            };
            client
                .get(key.as_str(), options)
                .await
                .map(|r| Response::Get {
                    kv: r.kvs.first().map(key_value),
                    revision: seen(&r.header),
                })
        }
        Request::Delete { key } => client.delete(key.as_str()).await.map(|r| Response::Delete {
            deleted: r.deleted,
            revision: seen(&r.header),
        }),
        Request::Cas {
            key,
            expected,
            value,
        } => {
            let condition = match expected {
                Some(old) => Compare::value(key.as_str(), CompareOp::Equal, old.as_str()),
                None => Compare::create_revision(key.as_str(), CompareOp::Equal, 0),
            };
            let txn = Txn::new()
                .when([condition])
                .and_then([TxnOp::put(key.as_str(), value.as_str())]);
            client.txn(txn).await.map(|r| Response::Cas {
                succeeded: r.succeeded,
                revision: seen(&r.header),
            })
        }
        Request::Range {
            prefix,
            serializable,
        } => {
            let options = GetOptions {
                serializable: *serializable,
                prefix: true,
            };
            client.get(prefix.as_str(), options).await.map(|r| {
                seen(&r.header);
                range_response(r)
            })
        }
    }?;
    Ok((response, answered_by))
}

fn revision(header: &Option<ResponseHeader>) -> i64 {
    header.as_ref().map_or(0, |h| h.revision)
}

fn key_value(kv: &mvccpb::KeyValue) -> KeyValue {
    KeyValue {
        value: String::from_utf8_lossy(&kv.value).into_owned(),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
    }
}

fn range_response(response: RangeResponse) -> Response {
    let kvs = response
        .kvs
        .iter()
        .map(|kv| (String::from_utf8_lossy(&kv.key).into_owned(), key_value(kv)))
        .collect();
    Response::Range {
        kvs,
        revision: revision(&response.header),
    }
}

/// The outcome of a failed call: `Fail` only when it certainly did not
/// apply, `Unknown` when it may have.
fn failed(error: &ClientError) -> Outcome {
    if error.may_have_taken_effect() {
        Outcome::Unknown(error.to_string())
    } else {
        Outcome::Fail(error.to_string())
    }
}
