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
    /// Set `key` to `value`, attached to `lease` (0: none, which detaches
    /// the key from any lease it had). A put naming a lease that does not
    /// exist fails when applied with [`LEASE_NOT_FOUND`] and changes
    /// nothing.
    Put {
        /// The key.
        key: String,
        /// The value; unique per write in etcd-sim's workloads.
        value: String,
        /// The lease to attach the key to; 0 for none.
        #[serde(default, skip_serializing_if = "is_zero")]
        lease: i64,
    },
    /// Grant lease `id` (chosen by the client, as etcd allows) for `ttl`
    /// seconds. The workload never keeps a lease alive: one with a short
    /// TTL may expire, which deletes its keys as a revoke would, at any
    /// time after the grant was asked (see [`may_expire`]).
    LeaseGrant {
        /// The lease id.
        id: i64,
        /// Its time to live, in seconds.
        ttl: i64,
    },
    /// Revoke lease `id`: forget it and delete every key attached to it,
    /// all in one revision (none if it had no keys). A lease that does not
    /// exist fails with [`LEASE_NOT_FOUND`].
    LeaseRevoke {
        /// The lease id.
        id: i64,
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
    /// A range read with options: the keys in `[start, end)` (`end` empty:
    /// only `start`), as of `revision` (0: the current one), at most
    /// `limit` of them (0: all), keys only or only their count. A page of a
    /// paginated list is one of these, starting after the last key of the
    /// page before, at that page's revision.
    List {
        /// The first key.
        start: String,
        /// The end of the range, exclusive; empty for `start` alone.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        end: String,
        /// The revision to read at; 0 is the current one.
        #[serde(default, skip_serializing_if = "is_zero")]
        revision: i64,
        /// At most this many keys; 0 is no limit.
        #[serde(default, skip_serializing_if = "is_zero")]
        limit: i64,
        /// Keys and their revisions, without values.
        #[serde(default, skip_serializing_if = "is_false")]
        keys_only: bool,
        /// Only the count of keys.
        #[serde(default, skip_serializing_if = "is_false")]
        count_only: bool,
        /// A local read that may be stale.
        #[serde(default, skip_serializing_if = "is_false")]
        serializable: bool,
        /// Sorting and revision filters; by default none (key order,
        /// every key).
        #[serde(default, skip_serializing_if = "ListOrder::is_plain")]
        order: ListOrder,
    },
    /// Delete every key in `[start, end)`, returning what it deleted.
    DeleteRange {
        /// The first key.
        start: String,
        /// The end of the range, exclusive.
        end: String,
    },
    /// A transaction: if every compare holds, the `success` steps, else
    /// the `failure` steps, all at one revision, each step seeing the ones
    /// before it.
    Txn {
        /// The conditions.
        compares: Vec<Compare>,
        /// The steps if they all hold.
        success: Vec<TxnStep>,
        /// The steps otherwise.
        failure: Vec<TxnStep>,
    },
    /// Compact the store's history below `revision`.
    Compact {
        /// The revision to compact at.
        revision: i64,
    },
}

/// etcd's error for a put or revoke naming a lease that does not exist,
/// as a failed operation's detail carries it. Unlike other failures it is
/// an answer the model checks: legal exactly when the lease is not live.
pub const LEASE_NOT_FOUND: &str = "etcdserver: requested lease not found";

/// The shortest TTL, in seconds, of a lease that is *not* let to expire in a
/// run: the workload grants long leases with TTLs of an hour, which no run
/// lasts, and short ones with a few seconds. The checker lets every lease
/// with a TTL below this expire at any time after its grant was asked
/// (clock faults make its leader's clock run ahead, and a lease may even
/// be revoked early by a lessor whose clock jumped), and never one at or
/// above it.
pub const EXPIRY_FREE_TTL: i64 = 600;

/// Whether the checker lets a lease granted with `ttl` expire during the
/// history (see [`EXPIRY_FREE_TTL`]).
pub fn may_expire(ttl: i64) -> bool {
    ttl < EXPIRY_FREE_TTL
}

/// Whether `outcome` is etcd's lease-not-found refusal.
pub fn lease_not_found(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Fail(why) if why.contains(LEASE_NOT_FOUND))
}

impl Request {
    /// Whether it is a read that may be served stale, from one member's
    /// state alone (the revision rules hold it to its header revision only,
    /// and a learner may serve it).
    pub fn is_serializable(&self) -> bool {
        matches!(
            self,
            Request::Get {
                serializable: true,
                ..
            } | Request::Range {
                serializable: true,
                ..
            } | Request::List {
                serializable: true,
                ..
            }
        )
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One condition of a [`Request::Txn`], on one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    /// The key.
    pub key: String,
    /// The key's field and the operand.
    pub target: CompareTarget,
    /// How the field relates to the operand.
    pub relation: Relation,
}

/// The field of a key a [`Compare`] looks at, with the operand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareTarget {
    /// The value (an absent key has none: a value compare on it fails).
    Value(String),
    /// The revision of its last change (0: absent).
    ModRevision(i64),
    /// The revision that created it (0: absent).
    CreateRevision(i64),
    /// Its number of changes since creation (0: absent).
    Version(i64),
    /// The lease it is attached to (0: none, or absent).
    Lease(i64),
}

/// How a [`Compare`]'s field relates to its operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
    /// `>`
    Greater,
    /// `<`
    Less,
}

/// What a range request sorts by ([`ListOrder`]), as etcd's
/// `RangeRequest.SortTarget`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortTarget {
    /// The key.
    #[default]
    Key,
    /// The version.
    Version,
    /// The create revision.
    Create,
    /// The mod revision.
    Mod,
    /// The value.
    Value,
}

/// Which way a range request sorts, as etcd's `RangeRequest.SortOrder`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// None asked: key order, unless the target is not the key, when etcd
    /// sorts ascending.
    #[default]
    None,
    /// Ascending.
    Ascend,
    /// Descending.
    Descend,
}

/// A [`Request::List`]'s sort and revision filters (etcd 3.4's
/// `RangeRequest` fields). etcd reads every key of the range, drops those
/// outside the filters, sorts, then cuts at the limit: `more` says the
/// filtered keys passed the limit, and `count` is every key of the range,
/// before the filters and the limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListOrder {
    /// What to sort by.
    #[serde(default, skip_serializing_if = "is_default")]
    pub sort_target: SortTarget,
    /// Which way.
    #[serde(default, skip_serializing_if = "is_default")]
    pub sort_order: SortOrder,
    /// Only keys last modified at or after this revision (0: no bound).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_mod_revision: i64,
    /// Only keys last modified at or before this revision (0: no bound).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_mod_revision: i64,
    /// Only keys created at or after this revision (0: no bound).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_create_revision: i64,
    /// Only keys created at or before this revision (0: no bound).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_create_revision: i64,
}

fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

impl ListOrder {
    /// Key order, no filters: a plain list.
    pub fn is_plain(&self) -> bool {
        *self == ListOrder::default()
    }

    /// Whether any revision filter is set.
    pub fn filtered(&self) -> bool {
        self.min_mod_revision != 0
            || self.max_mod_revision != 0
            || self.min_create_revision != 0
            || self.max_create_revision != 0
    }

    /// Whether `kv` passes the revision filters.
    pub fn passes(&self, kv: &KeyValue) -> bool {
        self.passes_revisions(kv.mod_revision, kv.create_revision)
    }

    /// Whether a key of this mod and create revision passes the filters.
    pub fn passes_revisions(&self, mod_revision: i64, create_revision: i64) -> bool {
        (self.min_mod_revision == 0 || mod_revision >= self.min_mod_revision)
            && (self.max_mod_revision == 0 || mod_revision <= self.max_mod_revision)
            && (self.min_create_revision == 0 || create_revision >= self.min_create_revision)
            && (self.max_create_revision == 0 || create_revision <= self.max_create_revision)
    }

    /// The order etcd sorts in: none asked with a target other than the
    /// key is ascending.
    pub fn effective_order(&self) -> SortOrder {
        match (self.sort_order, self.sort_target) {
            (SortOrder::None, SortTarget::Key) => SortOrder::None,
            (SortOrder::None, _) => SortOrder::Ascend,
            (order, _) => order,
        }
    }

    /// How `a` and `b` compare on the sort target alone (keys ties break
    /// as the server likes), in the direction sorted: `Less` if `a` must
    /// come first.
    pub fn rank(
        &self,
        (ka, a): (&str, &KeyValue),
        (kb, b): (&str, &KeyValue),
    ) -> std::cmp::Ordering {
        let by = match self.sort_target {
            SortTarget::Key => ka.cmp(kb),
            SortTarget::Version => a.version.cmp(&b.version),
            SortTarget::Create => a.create_revision.cmp(&b.create_revision),
            SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
            SortTarget::Value => a.value.cmp(&b.value),
        };
        match self.effective_order() {
            SortOrder::None => ka.cmp(kb),
            SortOrder::Ascend => by,
            SortOrder::Descend => by.reverse(),
        }
    }
}

/// One step of a [`Request::Txn`] branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TxnStep {
    /// Set `key` to `value`, attached to `lease` (0: none). If the branch
    /// that runs holds a put naming a lease that is not live, the whole
    /// txn is refused with [`LEASE_NOT_FOUND`] and changes nothing.
    Put {
        /// The key.
        key: String,
        /// The value, unique per write.
        value: String,
        /// The lease to attach the key to; 0 for none.
        #[serde(default, skip_serializing_if = "is_zero")]
        lease: i64,
    },
    /// Delete `key`.
    Delete {
        /// The key.
        key: String,
    },
    /// Read `key`, as of `revision` (0: as the txn sees it).
    Get {
        /// The key.
        key: String,
        /// The revision to read at; 0 is the txn's own.
        #[serde(default, skip_serializing_if = "is_zero")]
        revision: i64,
    },
}

impl TxnStep {
    /// The key the step touches.
    pub fn key(&self) -> &str {
        match self {
            TxnStep::Put { key, .. } | TxnStep::Delete { key } | TxnStep::Get { key, .. } => key,
        }
    }
}

/// What one [`TxnStep`] got back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum StepResult {
    /// A put.
    Put,
    /// A delete, and how many keys it deleted (0 or 1).
    Delete {
        /// How many keys it deleted.
        deleted: i64,
    },
    /// A read.
    Get {
        /// The key's value, `None` if absent.
        kv: Option<KeyValue>,
        /// How many keys the read's range holds (0 or 1 for one key).
        /// Absent in histories written before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<i64>,
        /// Whether keys beyond a limit remain (never, without a limit).
        #[serde(default, skip_serializing_if = "is_false")]
        more: bool,
    },
}

/// Whether `key` lies in `[start, end)`, `end` empty meaning `start` alone.
pub fn in_range(key: &str, start: &str, end: &str) -> bool {
    if end.is_empty() {
        key == start
    } else {
        key >= start && key < end
    }
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
        /// How many keys the read's range holds (0 or 1). Absent in
        /// histories written before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<i64>,
        /// Whether keys beyond a limit remain (never, without a limit).
        #[serde(default, skip_serializing_if = "is_false")]
        more: bool,
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
        /// How many keys the range holds. Absent in histories written
        /// before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<i64>,
        /// Whether keys beyond a limit remain (never, without a limit).
        #[serde(default, skip_serializing_if = "is_false")]
        more: bool,
    },
    /// A compare-and-set.
    Cas {
        /// Whether the compare held and the put happened.
        succeeded: bool,
        /// The store revision after the txn.
        revision: i64,
    },
    /// A [`Request::List`].
    List {
        /// The keys and values found, in key order (values empty for a
        /// keys-only list; none for a count-only one).
        kvs: Vec<(String, KeyValue)>,
        /// How many keys the range holds at the revision read, beyond the
        /// limit too.
        count: i64,
        /// Whether keys beyond the limit remain.
        more: bool,
        /// The store revision the header carries (the current one, also
        /// for a read at a past revision).
        revision: i64,
    },
    /// A [`Request::DeleteRange`].
    DeleteRange {
        /// The keys deleted with their values just before.
        prev_kvs: Vec<(String, KeyValue)>,
        /// The store revision after the delete.
        revision: i64,
        /// How many keys it deleted, as the answer counts them. Absent in
        /// histories written before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deleted: Option<i64>,
    },
    /// A [`Request::Txn`].
    Txn {
        /// Whether every compare held (the success branch ran).
        succeeded: bool,
        /// One result per step of the branch that ran.
        results: Vec<StepResult>,
        /// The store revision after the txn.
        revision: i64,
    },
    /// A [`Request::Compact`].
    Compact {
        /// The store revision when it was applied.
        revision: i64,
    },
    /// A [`Request::LeaseGrant`].
    LeaseGrant {
        /// The store revision when it was applied.
        revision: i64,
        /// The lease id the answer names. Absent in histories written
        /// before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<i64>,
        /// The TTL the answer grants, in seconds. Absent in histories
        /// written before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl: Option<i64>,
    },
    /// A [`Request::LeaseRevoke`].
    LeaseRevoke {
        /// The store revision after the revoke (its keys' deletion, if it
        /// had keys).
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
            | Response::Cas { revision, .. }
            | Response::List { revision, .. }
            | Response::DeleteRange { revision, .. }
            | Response::Txn { revision, .. }
            | Response::Compact { revision }
            | Response::LeaseGrant { revision, .. }
            | Response::LeaseRevoke { revision } => *revision,
        }
    }
}

impl Request {
    /// The steps of the branch a txn took, each with its result; empty
    /// unless this is a txn and `response` a txn's answer.
    pub fn taken_steps<'a>(
        &'a self,
        response: &'a Response,
    ) -> impl Iterator<Item = (&'a TxnStep, &'a StepResult)> {
        let (branch, results): (&[TxnStep], &[StepResult]) = match (self, response) {
            (
                Request::Txn {
                    success, failure, ..
                },
                Response::Txn {
                    succeeded, results, ..
                },
            ) => (if *succeeded { success } else { failure }, results),
            _ => (&[], &[]),
        };
        branch.iter().zip(results)
    }

    /// Why `response` cannot answer this request, if it cannot: a
    /// response of another kind, or a txn whose results do not match the
    /// steps of the branch it says ran.
    pub fn mismatch(&self, response: &Response) -> Option<String> {
        let fits = match (self, response) {
            (Request::Put { .. }, Response::Put { .. })
            | (Request::Get { .. }, Response::Get { .. })
            | (Request::Delete { .. }, Response::Delete { .. })
            | (Request::Range { .. }, Response::Range { .. })
            | (Request::Cas { .. }, Response::Cas { .. })
            | (Request::List { .. }, Response::List { .. })
            | (Request::DeleteRange { .. }, Response::DeleteRange { .. })
            | (Request::Compact { .. }, Response::Compact { .. })
            | (Request::LeaseGrant { .. }, Response::LeaseGrant { .. })
            | (Request::LeaseRevoke { .. }, Response::LeaseRevoke { .. }) => true,
            (
                Request::Txn {
                    success, failure, ..
                },
                Response::Txn {
                    succeeded, results, ..
                },
            ) => {
                let branch = if *succeeded { success } else { failure };
                if branch.len() != results.len() {
                    return Some(format!(
                        "a txn branch of {} steps answered with {} results",
                        branch.len(),
                        results.len()
                    ));
                }
                let step_fits = |(step, result): (&TxnStep, &StepResult)| {
                    matches!(
                        (step, result),
                        (TxnStep::Put { .. }, StepResult::Put)
                            | (TxnStep::Delete { .. }, StepResult::Delete { .. })
                            | (TxnStep::Get { .. }, StepResult::Get { .. })
                    )
                };
                if let Some(n) = branch.iter().zip(results).position(|p| !step_fits(p)) {
                    return Some(format!("txn step {n} answered by a result of another kind"));
                }
                true
            }
            _ => false,
        };
        (!fits).then(|| {
            format!(
                "a {} request answered by a {} response",
                self.kind(),
                response.kind()
            )
        })
    }

    /// A txn's steps, of both branches (the success branch first); none
    /// for any other request.
    pub fn txn_steps(&self) -> impl Iterator<Item = &TxnStep> {
        let (success, failure): (&[TxnStep], &[TxnStep]) = match self {
            Request::Txn {
                success, failure, ..
            } => (success, failure),
            _ => (&[], &[]),
        };
        success.iter().chain(failure)
    }

    /// Every (key, value) this request may write.
    pub fn written_values(&self) -> Vec<(&str, &str)> {
        match self {
            Request::Put { key, value, .. } | Request::Cas { key, value, .. } => {
                vec![(key.as_str(), value.as_str())]
            }
            Request::Txn { .. } => self
                .txn_steps()
                .filter_map(|step| match step {
                    TxnStep::Put { key, value, .. } => Some((key.as_str(), value.as_str())),
                    _ => None,
                })
                .collect(),
            _ => vec![],
        }
    }

    /// Every value the request carries, to rewrite in place (a trace
    /// shortens long ones).
    pub fn values_mut(&mut self) -> Vec<&mut String> {
        match self {
            Request::Put { value, .. } => vec![value],
            Request::Cas {
                expected, value, ..
            } => expected.iter_mut().chain([value]).collect(),
            Request::Txn {
                compares,
                success,
                failure,
            } => {
                compares
                    .iter_mut()
                    .filter_map(|c| match &mut c.target {
                        CompareTarget::Value(v) => Some(v),
                        _ => None,
                    })
                    .chain(success.iter_mut().chain(failure.iter_mut()).filter_map(
                        |step| match step {
                            TxnStep::Put { value, .. } => Some(value),
                            _ => None,
                        },
                    ))
                    .collect()
            }
            _ => vec![],
        }
    }

    /// The request's kind, as its JSON names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Put { .. } => "put",
            Request::Get { .. } => "get",
            Request::Delete { .. } => "delete",
            Request::Range { .. } => "range",
            Request::Cas { .. } => "cas",
            Request::List { .. } => "list",
            Request::DeleteRange { .. } => "delete_range",
            Request::Txn { .. } => "txn",
            Request::Compact { .. } => "compact",
            Request::LeaseGrant { .. } => "lease_grant",
            Request::LeaseRevoke { .. } => "lease_revoke",
        }
    }
}

impl Response {
    /// Every value the response shows, to rewrite in place (a trace
    /// shortens long ones).
    pub fn values_mut(&mut self) -> Vec<&mut String> {
        let kvs: Vec<&mut KeyValue> = match self {
            Response::Get { kv, .. } => kv.iter_mut().collect(),
            Response::Range { kvs, .. }
            | Response::List { kvs, .. }
            | Response::DeleteRange { prev_kvs: kvs, .. } => {
                kvs.iter_mut().map(|(_, kv)| kv).collect()
            }
            Response::Txn { results, .. } => results
                .iter_mut()
                .filter_map(|r| match r {
                    StepResult::Get { kv, .. } => kv.as_mut(),
                    _ => None,
                })
                .collect(),
            _ => vec![],
        };
        kvs.into_iter().map(|kv| &mut kv.value).collect()
    }

    /// The response's kind, as its JSON names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Response::Put { .. } => "put",
            Response::Get { .. } => "get",
            Response::Delete { .. } => "delete",
            Response::Range { .. } => "range",
            Response::Cas { .. } => "cas",
            Response::List { .. } => "list",
            Response::DeleteRange { .. } => "delete_range",
            Response::Txn { .. } => "txn",
            Response::Compact { .. } => "compact",
            Response::LeaseGrant { .. } => "lease_grant",
            Response::LeaseRevoke { .. } => "lease_revoke",
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
    /// For an operation of unknown outcome, what the members' write-ahead
    /// logs showed of it after the run, where they could tell. Absent
    /// otherwise, and in histories written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persisted: Option<Persisted>,
}

/// What the members' write-ahead logs, read after the run, say of a write
/// whose client never learned its outcome (etcd's robustness tests call
/// these "persisted requests"). Only a write that carries a value of its
/// own can be found: values are unique, so a logged value names its
/// request.
///
/// Evidence can only narrow what the checker allows (a write of unknown
/// outcome may take effect or not; settled, only one of the two), so it
/// never hides a violation; wrong evidence could raise a false alarm, which
/// is why it is taken only where raft guarantees it (see
/// `etcd_sim_harness::record::persisted`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Persisted {
    /// A member's log holds it at or below its commit index: it was
    /// committed, so it took effect (with whatever result the state it was
    /// applied to gave).
    Committed,
    /// No member's log holds it, although their committed entries cover
    /// every index it could have had: it never took effect.
    Absent,
}

impl Operation {
    /// Whether the operation may have changed the store: not if it failed,
    /// nor if it is of unknown outcome and the logs show it
    /// [`Persisted::Absent`].
    pub fn may_have_taken_effect(&self) -> bool {
        match self.outcome {
            Outcome::Fail(_) => false,
            Outcome::Unknown(_) => self.persisted != Some(Persisted::Absent),
            Outcome::Ok(_) => true,
        }
    }

    /// What a successful write left at its revision: each key it changed
    /// and the value it left (`None`: deleted). Empty for anything else,
    /// and for a write that changed nothing (no revision of its own). A
    /// revoke is left out too: its answer does not say which keys it
    /// deleted, so they are not *certain* changes.
    pub fn writes_at_revision(&self) -> Vec<(&str, Option<&str>, i64)> {
        let Outcome::Ok(response) = &self.outcome else {
            return vec![];
        };
        let revision = response.revision();
        let mut left: Vec<(&str, Option<&str>)> = match (&self.request, response) {
            (Request::Put { key, value, .. }, _) => vec![(key.as_str(), Some(value.as_str()))],
            (Request::Delete { key }, Response::Delete { deleted, .. }) if *deleted > 0 => {
                vec![(key.as_str(), None)]
            }
            (
                Request::Cas { key, value, .. },
                Response::Cas {
                    succeeded: true, ..
                },
            ) => vec![(key.as_str(), Some(value.as_str()))],
            (Request::DeleteRange { .. }, Response::DeleteRange { prev_kvs, .. }) => {
                prev_kvs.iter().map(|(k, _)| (k.as_str(), None)).collect()
            }
            (Request::Txn { .. }, Response::Txn { .. }) => {
                let mut left: Vec<(&str, Option<&str>)> = Vec::new();
                for (step, result) in self.request.taken_steps(response) {
                    let effect = match (step, result) {
                        (TxnStep::Put { key, value, .. }, _) => {
                            (key.as_str(), Some(value.as_str()))
                        }
                        (TxnStep::Delete { key }, StepResult::Delete { deleted })
                            if *deleted > 0 =>
                        {
                            (key.as_str(), None)
                        }
                        _ => continue,
                    };
                    // The last step on a key decides what it holds.
                    left.retain(|(k, _)| *k != effect.0);
                    left.push(effect);
                }
                left
            }
            _ => vec![],
        };
        left.sort_unstable();
        left.into_iter().map(|(k, v)| (k, v, revision)).collect()
    }

    /// Every key-value a successful operation's answer showed, with its
    /// value (keys-only and count-only answers show none).
    pub fn observed(&self) -> Vec<(&str, &KeyValue)> {
        let Outcome::Ok(response) = &self.outcome else {
            return vec![];
        };
        fn pairs(kvs: &[(String, KeyValue)]) -> Vec<(&str, &KeyValue)> {
            kvs.iter().map(|(k, kv)| (k.as_str(), kv)).collect()
        }
        match (&self.request, response) {
            (Request::Get { key, .. }, Response::Get { kv: Some(kv), .. }) => {
                vec![(key.as_str(), kv)]
            }
            (Request::Range { .. }, Response::Range { kvs, .. })
            | (Request::DeleteRange { .. }, Response::DeleteRange { prev_kvs: kvs, .. }) => {
                pairs(kvs)
            }
            (
                Request::List {
                    keys_only: false,
                    count_only: false,
                    ..
                },
                Response::List { kvs, .. },
            ) => pairs(kvs),
            (Request::Txn { .. }, Response::Txn { .. }) => self
                .request
                .taken_steps(response)
                .filter_map(|(step, result)| match (step, result) {
                    (TxnStep::Get { key, .. }, StepResult::Get { kv: Some(kv), .. }) => {
                        Some((key.as_str(), kv))
                    }
                    _ => None,
                })
                .collect(),
            _ => vec![],
        }
    }
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
