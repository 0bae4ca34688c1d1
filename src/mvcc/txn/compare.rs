//! Txn conditions (etcd's `Compare`) and how they are judged.

use std::cmp::Ordering;

use crate::mvcc::{KeyValue, RangeOptions, ReadView};

/// `Compare.CompareResult`: the relation between the key's field and the
/// compare's operand that makes the compare hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompareResult {
    /// `EQUAL = 0`.
    #[default]
    Equal,
    /// `GREATER = 1`: the key's field is greater than the operand.
    Greater,
    /// `LESS = 2`.
    Less,
    /// `NOT_EQUAL = 3`.
    NotEqual,
}

/// `Compare.CompareTarget`: which field of the key is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompareTarget {
    /// `VERSION = 0`.
    #[default]
    Version,
    /// `CREATE = 1`: create revision.
    Create,
    /// `MOD = 2`: mod revision.
    Mod,
    /// `VALUE = 3`.
    Value,
    /// `LEASE = 4`.
    Lease,
}

/// `Compare.target_union`: the operand. etcd reads the operand only from
/// the variant that matches `target`; any other variant (or none) reads as
/// 0 or the empty value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetUnion {
    /// `version`.
    Version(i64),
    /// `create_revision`.
    CreateRevision(i64),
    /// `mod_revision`.
    ModRevision(i64),
    /// `value`.
    Value(Vec<u8>),
    /// `lease`.
    Lease(i64),
}

/// etcd's `Compare`: one condition of a txn.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Compare {
    /// The relation that must hold.
    pub result: CompareResult,
    /// The field compared.
    pub target: CompareTarget,
    /// The key (or first key of the range).
    pub key: Vec<u8>,
    /// End of the range, as in a range request: empty = `key` alone,
    /// `b"\0"` = every key `>= key`, otherwise exclusive end.
    pub range_end: Vec<u8>,
    /// The operand.
    pub target_union: Option<TargetUnion>,
}

impl Compare {
    /// Judges the compare at `view`'s revision, as etcd 3.4's
    /// `applyCompare`:
    ///
    /// - every key of the range must satisfy it;
    /// - if no key exists, a `Value` compare fails (whatever the relation:
    ///   a missing value cannot be told from an empty one), and every other
    ///   target compares a key-value of zeros: version, create, mod and
    ///   lease 0 — so `version == 0` holds exactly for missing keys.
    pub fn holds(&self, view: &(impl ReadView + ?Sized)) -> bool {
        let Ok(found) = view.range(&self.key, &self.range_end, RangeOptions::default()) else {
            return false;
        };
        if found.kvs.is_empty() {
            return self.target != CompareTarget::Value && self.holds_for(&KeyValue::default());
        }
        found.kvs.iter().all(|kv| self.holds_for(kv))
    }

    /// Judges the compare against one key-value.
    pub fn holds_for(&self, kv: &KeyValue) -> bool {
        let int = |field: i64, operand: Option<i64>| field.cmp(&operand.unwrap_or(0));
        let ord = match (self.target, &self.target_union) {
            (CompareTarget::Value, Some(TargetUnion::Value(v))) => kv.value.as_slice().cmp(v),
            (CompareTarget::Value, _) => kv.value.as_slice().cmp(&[][..]),
            (CompareTarget::Version, Some(TargetUnion::Version(v))) => int(kv.version, Some(*v)),
            (CompareTarget::Version, _) => int(kv.version, None),
            (CompareTarget::Create, Some(TargetUnion::CreateRevision(v))) => {
                int(kv.create_revision, Some(*v))
            }
            (CompareTarget::Create, _) => int(kv.create_revision, None),
            (CompareTarget::Mod, Some(TargetUnion::ModRevision(v))) => {
                int(kv.mod_revision, Some(*v))
            }
            (CompareTarget::Mod, _) => int(kv.mod_revision, None),
            (CompareTarget::Lease, Some(TargetUnion::Lease(v))) => int(kv.lease, Some(*v)),
            (CompareTarget::Lease, _) => int(kv.lease, None),
        };
        match self.result {
            CompareResult::Equal => ord == Ordering::Equal,
            CompareResult::NotEqual => ord != Ordering::Equal,
            CompareResult::Greater => ord == Ordering::Greater,
            CompareResult::Less => ord == Ordering::Less,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::KvStore;

    fn cmp(target: CompareTarget, result: CompareResult, operand: TargetUnion) -> Compare {
        Compare {
            result,
            target,
            key: b"a".to_vec(),
            range_end: vec![],
            target_union: Some(operand),
        }
    }

    fn store_with(keys: &[(&[u8], &[u8])]) -> KvStore {
        let mut store = KvStore::new();
        let mut t = store.write();
        for (k, v) in keys {
            t.put(k, v, 0);
        }
        t.end();
        store
    }

    #[test]
    fn a_missing_key_has_version_zero() {
        let store = KvStore::new();
        let c = cmp(
            CompareTarget::Version,
            CompareResult::Equal,
            TargetUnion::Version(0),
        );
        assert!(c.holds(&store));
        let c = cmp(
            CompareTarget::Create,
            CompareResult::Less,
            TargetUnion::CreateRevision(1),
        );
        assert!(c.holds(&store));
    }

    #[test]
    fn a_value_compare_on_a_missing_key_always_fails() {
        let store = KvStore::new();
        for result in [
            CompareResult::Equal,
            CompareResult::NotEqual,
            CompareResult::Less,
        ] {
            let c = cmp(
                CompareTarget::Value,
                result,
                TargetUnion::Value(b"x".to_vec()),
            );
            assert!(!c.holds(&store));
        }
    }

    #[test]
    fn a_range_compare_needs_every_key() {
        let store = store_with(&[(b"a", b"1"), (b"b", b"2")]);
        let mut c = cmp(
            CompareTarget::Value,
            CompareResult::Greater,
            TargetUnion::Value(b"0".to_vec()),
        );
        c.range_end = b"\0".to_vec();
        assert!(c.holds(&store));
        c.target_union = Some(TargetUnion::Value(b"1".to_vec()));
        assert!(!c.holds(&store));
    }

    #[test]
    fn an_operand_of_the_wrong_kind_reads_as_zero() {
        let store = store_with(&[(b"a", b"1")]);
        let c = cmp(
            CompareTarget::Mod,
            CompareResult::Greater,
            TargetUnion::Version(100),
        );
        assert!(c.holds(&store));
    }
}
