//! Histories: what clients asked, what they got back, and when.

use serde::{Deserialize, Serialize};

/// A key's value as a read saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The value.
    pub value: String,
    /// The revision that created the key.
    pub create_revision: i64,
    /// The revision of its last change.
    pub mod_revision: i64,
    /// Its number of changes since creation.
    pub version: i64,
}

/// What a client asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: String,
        /// The value; unique per write in etcd-sim's workloads.
        value: String,
    },
    /// Read `key`.
    Get {
        /// The key.
        key: String,
        /// A local read that may be stale.
        serializable: bool,
    },
    /// Delete `key`.
    Delete {
        /// The key.
        key: String,
    },
    /// Read every key that starts with `prefix`, at one instant.
    Range {
        /// The prefix.
        prefix: String,
        /// A local read that may be stale.
        serializable: bool,
    },
    /// If `key`'s value is `expected` (`None`: the key is absent), set it to `value`.
    Cas {
        /// The key.
        key: String,
        /// The value the key must have.
        expected: Option<String>,
        /// The new value.
        value: String,
    },
}

/// What a client got back when its request succeeded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Response {
    /// A put, at `revision`.
    Put {
        /// The store revision after the put.
        revision: i64,
    },
    /// A read.
    Get {
        /// The key's value, `None` if absent.
        kv: Option<KeyValue>,
        /// The store revision the read saw.
        revision: i64,
    },
    /// A delete.
    Delete {
        /// How many keys it deleted (0 or 1).
        deleted: i64,
        /// The store revision after the delete.
        revision: i64,
    },
    /// A range read.
    Range {
        /// The keys and values found, in key order.
        kvs: Vec<(String, KeyValue)>,
        /// The store revision the read saw.
        revision: i64,
    },
    /// A compare-and-set.
    Cas {
        /// Whether the compare held and the put happened.
        succeeded: bool,
        /// The store revision after the txn.
        revision: i64,
    },
}

impl Response {
    /// The store revision the response's header carries.
    pub fn revision(&self) -> i64 {
        match self {
            Response::Put { revision }
            | Response::Get { revision, .. }
            | Response::Delete { revision, .. }
            | Response::Range { revision, .. }
            | Response::Cas { revision, .. } => *revision,
        }
    }
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    /// It succeeded with this response.
    Ok(Response),
    /// It certainly did not take effect (e.g. a validation error).
    Fail(String),
    /// It may or may not have taken effect, at any time after its call
    /// (a timeout, a lost connection).
    Unknown(String),
}

/// One client operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// The client that issued it; a client has one operation at a time.
    pub client: u32,
    /// When it was invoked, in nanoseconds of (simulated) time.
    pub call_ns: u64,
    /// When it completed; `u64::MAX` if it never did.
    pub return_ns: u64,
    /// What was asked.
    pub request: Request,
    /// How it ended.
    pub outcome: Outcome,
    /// Who answered, from the response header: for the report, not the
    /// checker. Absent in histories written before it was recorded, and for
    /// operations without a response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<ServedBy>,
}

/// The member that answered an operation, as its response header says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedBy {
    /// The member's name (`n2`), or its id in hex if the name is unknown.
    pub member: String,
    /// The raft term the member was in when it answered.
    pub term: u64,
}

/// A fault of the run, for the report's time axis.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultBand {
    /// The fault's name, e.g. `partition`.
    pub name: String,
    /// When it began.
    pub start_ns: u64,
    /// When it was healed, if it was.
    pub end_ns: Option<u64>,
    /// Who or what it hit.
    pub detail: String,
}

/// A run's operations and faults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Every client operation, in invocation order.
    pub operations: Vec<Operation>,
    /// The faults injected during the run.
    pub faults: Vec<FaultBand>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_answered_is_optional_in_the_json() {
        // A line written before the field existed still reads.
        let old = r#"{"client":1,"call_ns":5,"return_ns":9,"request":{"op":"delete","key":"k"},"outcome":{"status":"fail","detail":"no"}}"#;
        let op: Operation = serde_json::from_str(old).unwrap();
        assert_eq!(op.served_by, None);
        assert_eq!(
            serde_json::to_string(&op).unwrap(),
            old,
            "and writes the same"
        );
        let served = Operation {
            served_by: Some(ServedBy {
                member: "n2".into(),
                term: 3,
            }),
            ..op
        };
        let line = serde_json::to_string(&served).unwrap();
        assert!(
            line.ends_with(r#","served_by":{"member":"n2","term":3}}"#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<Operation>(&line).unwrap(), served);
    }
}
