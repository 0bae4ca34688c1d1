//! Fuzzing the client API: random and adversarial requests — txns nested
//! far past any limit, huge op counts, extreme numbers, enum values no
//! proto names, and random bytes decoded as requests — go over gRPC to a
//! member, through the API's checks, raft and the applier. Every request
//! must get a result or one of etcd's errors (never a timeout: that is a
//! wedged member), no member task may panic (a panic takes the whole
//! simulation down, so proptest sees it), and afterwards the member must
//! still serve writes and linearizable reads.
//!
//! Each case is one seeded simulation of a one-member cluster that takes a
//! batch of requests; a failing case prints its requests and seed.
#![cfg(madsim)]

use std::time::Duration;

use etcd_sim::proto::etcdserverpb::compare::TargetUnion;
use etcd_sim::proto::etcdserverpb::kv_client::KvClient;
use etcd_sim::proto::etcdserverpb::lease_client::LeaseClient;
use etcd_sim::proto::etcdserverpb::request_op::Request;
use etcd_sim::proto::etcdserverpb::{
    CompactionRequest, Compare, DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest,
    LeaseTimeToLiveRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use etcd_sim::server::api::{RpcError, MAX_REQUEST_BYTES, MAX_TXN_OPS};
use etcd_sim_harness::cluster::{operator_node, SimCluster};
use proptest::prelude::*;
use prost::Message as _;
use tonic::transport::{Channel, Endpoint};

/// One request to the member.
#[derive(Debug, Clone)]
enum Call {
    Range(RangeRequest),
    Put(PutRequest),
    Delete(DeleteRangeRequest),
    Txn(TxnRequest),
    Compact(CompactionRequest),
    Grant(LeaseGrantRequest),
    Revoke(LeaseRevokeRequest),
    TimeToLive(LeaseTimeToLiveRequest),
}

/// Numbers at the edges, and some in between.
fn number() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0i64),
        Just(1),
        Just(-1),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(i64::MAX - 1),
        Just(i32::MAX as i64 + 1),
        -5i64..20,
        any::<i64>(),
    ]
}

/// Enum fields hold any i32 on the wire, named or not.
fn enum_value() -> impl Strategy<Value = i32> {
    prop_oneof![
        0i32..6,
        Just(-1),
        Just(i32::MIN),
        Just(i32::MAX),
        any::<i32>()
    ]
}

/// A few keys collide (so compares and duplicates bite), a few are odd.
fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (0u8..4).prop_map(|k| vec![b'a' + k]),
        1 => Just(Vec::new()),
        1 => Just(vec![0]),
        1 => Just(vec![0xff; 3]),
        1 => proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        40 => proptest::collection::vec(any::<u8>(), 0..16),
        2 => Just(vec![b'x'; 64 * 1024]),
        // Just over the proposal limit: "request is too large".
        1 => Just(vec![b'x'; MAX_REQUEST_BYTES + 1]),
    ]
}

prop_compose! {
    fn range()(key in key(), range_end in key(), limit in number(), revision in number(),
               sort_order in enum_value(), sort_target in enum_value(),
               flags in any::<[bool; 3]>(), bounds in any::<[i64; 4]>())
        -> RangeRequest {
        RangeRequest {
            key, range_end, limit, revision, sort_order, sort_target,
            serializable: flags[0], keys_only: flags[1], count_only: flags[2],
            min_mod_revision: bounds[0] % 30, max_mod_revision: bounds[1],
            min_create_revision: bounds[2] % 30, max_create_revision: bounds[3],
        }
    }
}

prop_compose! {
    fn put()(key in key(), value in value(), lease in number(), flags in any::<[bool; 3]>())
        -> PutRequest {
        PutRequest {
            key, value, lease,
            prev_kv: flags[0], ignore_value: flags[1], ignore_lease: flags[2],
        }
    }
}

prop_compose! {
    fn delete()(key in key(), range_end in key(), prev_kv in any::<bool>())
        -> DeleteRangeRequest {
        DeleteRangeRequest { key, range_end, prev_kv }
    }
}

fn target_union() -> impl Strategy<Value = Option<TargetUnion>> {
    prop_oneof![
        Just(None),
        number().prop_map(|n| Some(TargetUnion::Version(n))),
        number().prop_map(|n| Some(TargetUnion::CreateRevision(n))),
        number().prop_map(|n| Some(TargetUnion::ModRevision(n))),
        value().prop_map(|v| Some(TargetUnion::Value(v))),
        number().prop_map(|n| Some(TargetUnion::Lease(n))),
    ]
}

prop_compose! {
    fn compare()(result in prop_oneof![(0i32..4), enum_value()],
                 target in prop_oneof![(0i32..5), enum_value()],
                 key in key(), range_end in key(), target_union in target_union())
        -> Compare {
        Compare { result, target, key, range_end, target_union }
    }
}

fn op(txn: BoxedStrategy<TxnRequest>) -> impl Strategy<Value = RequestOp> {
    prop_oneof![
        range().prop_map(|r| Some(Request::RequestRange(r))),
        put().prop_map(|r| Some(Request::RequestPut(r))),
        delete().prop_map(|r| Some(Request::RequestDeleteRange(r))),
        txn.prop_map(|t| Some(Request::RequestTxn(t))),
        Just(None),
    ]
    .prop_map(|request| RequestOp { request })
}

/// Txns of every shape: random trees, long chains (deeper than anything
/// decodes), and wide ones (more ops than `--max-txn-ops`).
fn txn() -> impl Strategy<Value = TxnRequest> {
    let leaf = proptest::collection::vec(compare(), 0..3).prop_map(|compare| TxnRequest {
        compare,
        ..Default::default()
    });
    let tree = leaf.prop_recursive(4, 24, 4, |inner| {
        let inner = inner.boxed();
        (
            proptest::collection::vec(compare(), 0..3),
            proptest::collection::vec(op(inner.clone()), 0..4),
            proptest::collection::vec(op(inner), 0..4),
        )
            .prop_map(|(compare, success, failure)| TxnRequest {
                compare,
                success,
                failure,
            })
    });
    prop_oneof![
        6 => tree,
        2 => (prop_oneof![45usize..56, 1usize..200], put())
            .prop_map(|(depth, leaf)| chain(depth, leaf)),
        1 => (MAX_TXN_OPS - 1..MAX_TXN_OPS + 3, put()).prop_map(|(n, p)| TxnRequest {
            success: (0..n)
                .map(|i| RequestOp {
                    request: Some(Request::RequestPut(PutRequest {
                        key: format!("w{i}").into_bytes(),
                        value: p.value.iter().copied().take(8).collect(),
                        lease: p.lease,
                        prev_kv: p.prev_kv,
                        ignore_value: p.ignore_value,
                        ignore_lease: p.ignore_lease,
                    })),
                })
                .collect(),
            ..Default::default()
        }),
    ]
}

/// A txn `depth` txns deep whose innermost txn puts `leaf`.
fn chain(depth: usize, leaf: PutRequest) -> TxnRequest {
    let mut txn = TxnRequest {
        success: vec![RequestOp {
            request: Some(Request::RequestPut(leaf)),
        }],
        ..Default::default()
    };
    for _ in 1..depth {
        txn = TxnRequest {
            success: vec![RequestOp {
                request: Some(Request::RequestTxn(txn)),
            }],
            ..Default::default()
        };
    }
    txn
}

/// Random bytes, decoded as the request a client might have sent; bytes
/// that do not decode are a client's problem, not the member's (they are
/// sent as the key of a range instead).
fn decoded() -> impl Strategy<Value = Call> {
    (0u8..4, proptest::collection::vec(any::<u8>(), 0..200)).prop_map(|(kind, bytes)| {
        let raw = bytes.as_slice();
        let call = match kind {
            0 => TxnRequest::decode(raw).ok().map(Call::Txn),
            1 => PutRequest::decode(raw).ok().map(Call::Put),
            2 => RangeRequest::decode(raw).ok().map(Call::Range),
            _ => DeleteRangeRequest::decode(raw).ok().map(Call::Delete),
        };
        call.unwrap_or(Call::Range(RangeRequest {
            key: bytes,
            ..Default::default()
        }))
    })
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        2 => range().prop_map(Call::Range),
        3 => put().prop_map(Call::Put),
        1 => delete().prop_map(Call::Delete),
        4 => txn().prop_map(Call::Txn),
        1 => (number(), any::<bool>())
            .prop_map(|(revision, physical)| Call::Compact(CompactionRequest { revision, physical })),
        1 => (number(), number()).prop_map(|(ttl, id)| Call::Grant(LeaseGrantRequest { ttl, id })),
        1 => number().prop_map(|id| Call::Revoke(LeaseRevokeRequest { id })),
        1 => (number(), any::<bool>())
            .prop_map(|(id, keys)| Call::TimeToLive(LeaseTimeToLiveRequest { id, keys })),
        2 => decoded(),
    ]
}

/// Sends `call`; `Err` with what is wrong if the answer is not a result or
/// one of etcd's errors.
async fn send(
    kv: &mut KvClient<Channel>,
    lease: &mut LeaseClient<Channel>,
    call: Call,
) -> Result<(), String> {
    let answer = match call {
        Call::Range(r) => kv.range(r).await.map(drop),
        Call::Put(r) => kv.put(r).await.map(drop),
        Call::Delete(r) => kv.delete_range(r).await.map(drop),
        Call::Txn(r) => kv.txn(r).await.map(drop),
        Call::Compact(r) => kv.compact(r).await.map(drop),
        Call::Grant(r) => lease.lease_grant(r).await.map(drop),
        Call::Revoke(r) => lease.lease_revoke(r).await.map(drop),
        Call::TimeToLive(r) => lease.lease_time_to_live(r).await.map(drop),
    };
    let Err(status) = answer else { return Ok(()) };
    match RpcError::from_message(status.message()) {
        Some(RpcError::Timeout | RpcError::Stopped | RpcError::NoLeader) | None => {
            Err(format!("{:?}: {}", status.code(), status.message()))
        }
        Some(_) => Ok(()),
    }
}

/// Runs `calls` against a fresh one-member cluster under `seed`.
fn run(seed: u64, calls: Vec<Call>) -> Result<(), String> {
    let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, Default::default());
    runtime.block_on(async move {
        let cluster = SimCluster::start(1, |_| {});
        let endpoint = cluster.endpoints().remove(0);
        operator_node()
            .spawn(async move {
                cluster.settle().await;
                let channel = Endpoint::from_shared(endpoint)
                    .unwrap()
                    .connect()
                    .await
                    .map_err(|e| e.to_string())?;
                let mut kv = KvClient::new(channel.clone());
                let mut lease = LeaseClient::new(channel);
                for (i, call) in calls.into_iter().enumerate() {
                    send(&mut kv, &mut lease, call)
                        .await
                        .map_err(|e| format!("call {i}: {e}"))?;
                }
                // Still serving: a write and a linearizable read of it.
                let key = b"fuzz/after".to_vec();
                let put = PutRequest {
                    key: key.clone(),
                    value: b"ok".to_vec(),
                    ..Default::default()
                };
                tokio::time::timeout(Duration::from_secs(10), kv.put(put))
                    .await
                    .map_err(|_| "the final put timed out".to_string())?
                    .map_err(|e| format!("the final put failed: {e}"))?;
                let got = kv
                    .range(RangeRequest {
                        key,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| format!("the final read failed: {e}"))?
                    .into_inner();
                match got.kvs.first() {
                    Some(kv) if kv.value == b"ok" => Ok(()),
                    other => Err(format!("the final read saw {other:?}")),
                }
            })
            .await
            .expect("operator task")
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 100,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_request_gets_a_result_or_an_etcd_error_and_the_member_serves_on(
        seed in any::<u64>(),
        calls in proptest::collection::vec(call(), 1..24),
    ) {
        let outcome = run(seed, calls);
        prop_assert!(outcome.is_ok(), "seed {}: {}", seed, outcome.unwrap_err());
    }
}

/// The poison pill of issue #14: a txn nested 49 deep was committed and then
/// stopped every applier. Now it is applied, and one too deep to decode is
/// refused before it is proposed.
#[test]
fn deep_txns_are_applied_or_refused_never_committed_and_stuck() {
    for depth in [49, 50, 51, 60, 129, 1000] {
        let outcome = run(
            depth as u64,
            vec![Call::Txn(chain(
                depth,
                PutRequest {
                    key: b"k".to_vec(),
                    value: b"v".to_vec(),
                    ..Default::default()
                },
            ))],
        );
        assert_eq!(outcome, Ok(()), "depth {depth}");
    }
}
