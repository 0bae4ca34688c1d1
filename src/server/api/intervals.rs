//! The duplicate-key check of a txn (etcd 3.4's `checkIntervals` in
//! `v3rpc/key.go`).
//!
//! A txn may not put one key twice, nor put a key that it also deletes, in
//! the ops of one branch, nested txns included. The two branches of a txn
//! are exclusive, so a key put in both the `success` and the `failure` ops
//! of a nested txn is fine; the top-level branches are checked apart.
//!
//! etcd compares keys with deletes through an interval tree whose bounds
//! are "affine" strings: the empty string is +infinity. A single-key delete
//! is the point `[key, key + "\0")`; a range delete is `[key, range_end)`
//! taken literally, so a from-key delete (`range_end == "\0"`) covers no key
//! here and never conflicts — a quirk of etcd 3.4 that we keep, since the
//! differential test compares against it.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use super::error::RpcError;
use crate::proto::etcdserverpb::request_op::Request;
use crate::proto::etcdserverpb::RequestOp;

/// `[begin, end)` over affine strings.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Interval {
    begin: Vec<u8>,
    end: Vec<u8>,
}

impl Interval {
    /// The one key `key` (etcd's `NewStringAffinePoint`).
    fn point(key: &[u8]) -> Self {
        let mut end = key.to_vec();
        end.push(0);
        Interval {
            begin: key.to_vec(),
            end,
        }
    }

    /// Whether `self` overlaps `other`, exactly as etcd's `Interval.Compare`
    /// returns 0.
    fn overlaps(&self, other: &Interval) -> bool {
        let begin_begin = affine(&self.begin, &other.begin);
        let begin_end = affine(&self.begin, &other.end);
        let end_begin = affine(&self.end, &other.begin);
        let left_of = begin_begin == Ordering::Less && end_begin != Ordering::Greater;
        let right_of = begin_end != Ordering::Less;
        !left_of && !right_of
    }
}

/// etcd's `StringAffineComparable`: byte order, with "" above everything.
fn affine(a: &[u8], b: &[u8]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.cmp(b),
    }
}

/// The keys put and the ranges deleted by a list of ops, nested txns
/// included.
#[derive(Debug, Default)]
struct Writes {
    puts: BTreeSet<Vec<u8>>,
    deletes: Vec<Interval>,
}

impl Writes {
    fn deletes_key(&self, key: &[u8]) -> bool {
        let point = Interval::point(key);
        self.deletes.iter().any(|d| point.overlaps(d))
    }
}

/// Refuses `ops` (one branch of a txn) with [`RpcError::DuplicateKey`] if
/// they write a key twice.
pub fn check_duplicates(ops: &[RequestOp]) -> Result<(), RpcError> {
    writes(ops).map(|_| ())
}

fn writes(ops: &[RequestOp]) -> Result<Writes, RpcError> {
    let mut here = Writes::default();
    // This level's deletes first: nested puts are checked against them.
    for op in ops {
        if let Some(Request::RequestDeleteRange(d)) = &op.request {
            here.deletes.push(if d.range_end.is_empty() {
                Interval::point(&d.key)
            } else {
                Interval {
                    begin: d.key.clone(),
                    end: d.range_end.clone(),
                }
            });
        }
    }
    for op in ops {
        let Some(Request::RequestTxn(t)) = &op.request else {
            continue;
        };
        let then = writes(&t.success)?;
        let otherwise = writes(&t.failure)?;
        for key in &then.puts {
            if here.puts.contains(key) || here.deletes_key(key) {
                return Err(RpcError::DuplicateKey);
            }
            here.puts.insert(key.clone());
        }
        for key in &otherwise.puts {
            let in_both_branches = then.puts.contains(key);
            if (here.puts.contains(key) && !in_both_branches) || here.deletes_key(key) {
                return Err(RpcError::DuplicateKey);
            }
            here.puts.insert(key.clone());
        }
        here.deletes.extend(then.deletes);
        here.deletes.extend(otherwise.deletes);
    }
    for op in ops {
        let Some(Request::RequestPut(p)) = &op.request else {
            continue;
        };
        if here.puts.contains(&p.key) || here.deletes_key(&p.key) {
            return Err(RpcError::DuplicateKey);
        }
        here.puts.insert(p.key.clone());
    }
    Ok(here)
}

#[cfg(test)]
mod tests {
    use super::super::check::tests::put;
    use super::*;
    use crate::proto::etcdserverpb::{DeleteRangeRequest, TxnRequest};

    fn delete(key: &str, end: &[u8]) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestDeleteRange(DeleteRangeRequest {
                key: key.into(),
                range_end: end.to_vec(),
                ..Default::default()
            })),
        }
    }

    fn txn(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestTxn(TxnRequest {
                compare: vec![],
                success,
                failure,
            })),
        }
    }

    #[test]
    fn two_puts_of_one_key_are_duplicates_two_keys_are_not() {
        assert_eq!(check_duplicates(&[put("a"), put("b")]), Ok(()));
        assert_eq!(
            check_duplicates(&[put("a"), put("a")]),
            Err(RpcError::DuplicateKey)
        );
    }

    #[test]
    fn a_put_inside_a_deleted_range_is_a_duplicate_at_its_end_it_is_not() {
        assert_eq!(
            check_duplicates(&[delete("a", b"c"), put("b")]),
            Err(RpcError::DuplicateKey)
        );
        assert_eq!(check_duplicates(&[put("c"), delete("a", b"c")]), Ok(()));
        assert_eq!(
            check_duplicates(&[put("a"), delete("a", b"")]),
            Err(RpcError::DuplicateKey)
        );
        assert_eq!(
            check_duplicates(&[delete("a", b""), delete("a", b"")]),
            Ok(())
        );
    }

    #[test]
    fn a_from_key_delete_conflicts_with_no_put_as_in_etcd_3_4() {
        assert_eq!(check_duplicates(&[delete("a", b"\0"), put("b")]), Ok(()));
    }

    #[test]
    fn nested_branches_are_exclusive_but_clash_with_their_parent() {
        assert_eq!(
            check_duplicates(&[txn(vec![put("a")], vec![put("a")])]),
            Ok(())
        );
        assert_eq!(
            check_duplicates(&[txn(vec![put("a")], vec![]), put("a")]),
            Err(RpcError::DuplicateKey)
        );
        assert_eq!(
            check_duplicates(&[delete("a", b""), txn(vec![], vec![put("a")])]),
            Err(RpcError::DuplicateKey)
        );
        assert_eq!(
            check_duplicates(&[txn(vec![delete("a", b"z")], vec![]), put("b")]),
            Err(RpcError::DuplicateKey)
        );
        assert_eq!(
            check_duplicates(&[txn(vec![put("a")], vec![]), txn(vec![], vec![put("a")])]),
            Err(RpcError::DuplicateKey)
        );
    }
}
