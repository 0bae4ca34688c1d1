//! The client session: etcd-sim's own client against both servers, for
//! what etcdctl cannot send — count-only, the revision filters, lease and
//! range compares, nested txns (their headers, duplicate keys and op
//! budget), `ignore_value` with a value, `ignore_lease` with a lease, and a
//! txn op with no request in it.

use std::time::Duration;

use etcd_sim::client::{
    Client, ClientError, Compare, CompareOp, Op, OpResponse, SortOrder, SortTarget, Txn, TxnOp,
};
use etcd_sim::proto::etcdserverpb::kv_client::KvClient;
use etcd_sim::proto::etcdserverpb::{RequestOp, ResponseHeader, TxnRequest};

/// Every answer of the session, headers scrubbed, in order.
pub async fn run(endpoint: &str) -> Vec<String> {
    let client = Client::new([endpoint], Duration::from_secs(5)).unwrap();
    let mut seen = Vec::new();
    for op in ops() {
        let label = label(&op);
        let answer = client.execute(op).await.map(scrub);
        seen.push(format!("{label}\n  => {answer:?}"));
    }
    let compacted = client.compact(4, true).await.map(|mut r| {
        r.header = header(r.header);
        r
    });
    seen.push(format!("compact 4 physical\n  => {compacted:?}"));
    for op in after_compaction() {
        let label = label(&op);
        let answer = client.execute(op).await.map(scrub);
        seen.push(format!("{label}\n  => {answer:?}"));
    }
    // An op with no request in it, which no builder makes.
    let mut raw = KvClient::connect(format!("http://{endpoint}"))
        .await
        .unwrap();
    let empty = TxnRequest {
        success: vec![RequestOp { request: None }],
        ..Default::default()
    };
    let answer = raw.txn(empty).await.map_err(ClientError::from);
    seen.push(format!(
        "txn with an empty op\n  => {:?}",
        answer.map(|_| ())
    ));
    seen
}

/// The op, shortened: a 1.6 MB value would drown the report.
fn label(op: &Op) -> String {
    format!("{op:?}").chars().take(400).collect()
}

/// Keeps only a header's revision: ids and term differ between any two
/// clusters.
fn header(h: Option<ResponseHeader>) -> Option<ResponseHeader> {
    h.map(|h| ResponseHeader {
        revision: h.revision,
        ..Default::default()
    })
}

/// [`header`] on the top-level header; nested ones carry a revision only.
fn scrub(response: OpResponse) -> OpResponse {
    match response {
        OpResponse::Get(mut r) => {
            r.header = header(r.header);
            OpResponse::Get(r)
        }
        OpResponse::Put(mut r) => {
            r.header = header(r.header);
            OpResponse::Put(r)
        }
        OpResponse::Delete(mut r) => {
            r.header = header(r.header);
            OpResponse::Delete(r)
        }
        OpResponse::Txn(mut r) => {
            r.header = header(r.header);
            OpResponse::Txn(r)
        }
    }
}

/// The ops before the compaction, in order; each builds on the last.
fn ops() -> Vec<Op> {
    let nested = Txn::new()
        .when([Compare::value("a", CompareOp::Equal, "1")])
        .and_then([Op::put("n/1", "x"), Op::put("n/2", "y")])
        .or_else([Op::put("n/1", "z")]);
    let mut many_compares = Vec::new();
    for i in 0..129 {
        many_compares.push(Compare::version(format!("k{i}"), CompareOp::Equal, 0));
    }
    vec![
        Op::put("a", "1").into(),
        Op::put("b", "2").into(),
        Op::put("c", "3").into(),
        Op::put("a", "11").into(),
        Op::put("d", "4").into(),
        // count-only, keys-only and the revision filters.
        Op::get("").prefix().count_only().into(),
        Op::get("a").range_end("d").count_only().limit(1).into(),
        Op::get("").from_key().keys_only().count_only().into(),
        Op::get("").prefix().min_mod_revision(4).into(),
        Op::get("").prefix().max_mod_revision(3).limit(1).into(),
        Op::get("").prefix().min_create_revision(3).into(),
        Op::get("").prefix().max_create_revision(3).into(),
        Op::get("")
            .prefix()
            .sort(SortTarget::Value, SortOrder::Descend)
            .limit(2)
            .into(),
        Op::get("")
            .prefix()
            .sort(SortTarget::Create, SortOrder::None)
            .into(),
        Op::get("a").revision(2).into(),
        // ignore_value with a value, ignore_lease with a lease.
        Op::put("a", "v").ignore_value().into(),
        Op::put("a", "").lease(5).ignore_lease().into(),
        Op::put("a", "")
            .ignore_value()
            .ignore_lease()
            .prev_kv()
            .into(),
        Op::delete("").from_key().prev_kv().range_end("b").into(),
        // Compares over a range and on leases; nested txns.
        Txn::new()
            .when([Compare::version("b", CompareOp::Greater, 0).with_range_end("e")])
            .and_then([TxnOp::from(Op::get("c")), Op::put("e", "5").into()])
            .into(),
        Txn::new()
            .when([Compare::lease("a", CompareOp::Equal, 0).with_range_end("\0")])
            .and_then([Op::get("b").count_only()])
            .into(),
        Txn::new()
            .when([Compare::lease("b", CompareOp::Greater, 0).with_prefix()])
            .or_else([Op::get("a").from_key().keys_only()])
            .into(),
        Txn::new()
            .when([Compare::mod_revision("c", CompareOp::Less, 3)])
            .and_then([TxnOp::put("never", "x")])
            .or_else([
                TxnOp::txn(nested.clone()),
                Op::get("n/").prefix().into(),
                Op::delete("c").prev_kv().into(),
            ])
            .into(),
        Txn::new().and_then([nested.clone(), nested.clone()]).into(),
        Txn::new()
            .and_then([TxnOp::txn(nested.clone()), TxnOp::put("n/2", "dup")])
            .into(),
        Txn::new()
            .and_then([
                TxnOp::delete("n/"),
                TxnOp::txn(Txn::new().or_else([TxnOp::put("n/", "x")])),
            ])
            .into(),
        Txn::new().when(many_compares).into(),
        Txn::new()
            .and_then([TxnOp::txn(
                Txn::new().and_then((0..127).map(|i| TxnOp::put(format!("m{i}"), "v"))),
            )])
            .and_then([TxnOp::put("p", "1"), TxnOp::put("q", "1")])
            .into(),
        Txn::new()
            .and_then([TxnOp::txn(
                Txn::new().and_then((0..125).map(|i| TxnOp::put(format!("m{i}"), "v"))),
            )])
            .and_then([TxnOp::put("p", "1"), TxnOp::put("q", "1")])
            .into(),
        Txn::new()
            .when([Compare::value("a", CompareOp::Equal, "nope")])
            .and_then([Op::put("leased", "v").lease(7)])
            .or_else([Op::get("a")])
            .into(),
        Txn::new()
            .and_then([Op::put("leased", "v").lease(7)])
            .into(),
        Txn::new()
            .and_then([Op::put("big", vec![b'x'; 1_600_000])])
            .into(),
        Op::put("big", vec![b'x'; 1_600_000]).into(),
        Op::delete("").prefix().into(),
        Op::get("").from_key().into(),
    ]
}

/// Reads at and around the compacted revision, alone and in txns.
fn after_compaction() -> Vec<Op> {
    vec![
        Op::get("a").revision(3).into(),
        Op::get("a").revision(4).into(),
        Op::get("a").revision(1000).serializable().into(),
        Txn::new().and_then([Op::get("a").revision(2)]).into(),
        Txn::new()
            .and_then([
                TxnOp::from(Op::get("a").revision(1000)),
                Op::put("z", "z").into(),
            ])
            .into(),
    ]
}
