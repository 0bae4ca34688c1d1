//! The lease invariants, checked over what the lease clients saw.
//!
//! Two properties, each from etcd's lease contract (`lease/lessor.go`):
//!
//! - (a) **gone means gone.** Once a client learned that a lease is gone —
//!   its revocation was acknowledged, a keep-alive answered TTL 0, or a
//!   time-to-live query answered -1 — no linearizable read that starts
//!   later finds a key attached to it; and no read at or above the
//!   revision of an acknowledged revocation does either.
//! - (b) **a renewed lease lives a TTL.** A successful grant or renewal
//!   invoked at `t` with TTL `ttl` means the lease is not revoked before
//!   `t + ttl`: the leader renews only while it leads, and a new leader
//!   extends every lease by a full TTL. So a linearizable read that ends
//!   before the latest such `t + ttl` (and before the client revoked the
//!   lease itself) finds a key whose put was acknowledged before it began.
//!
//! And every answer names the lease's one TTL: a keep-alive answers the
//! TTL the lease was granted (etcd's `Renew` returns it; a new leader
//! extends a lease's expiry, never its TTL), and so does a time-to-live
//! query's `granted_ttl`.
//!
//! The check is a pure function of the log: it lives beside the KV and
//! watch checks, so that a saved run's lease log can be judged without
//! running anything. The harness's lease clients (its `actors::lease_clients`)
//! fill the log.

use std::fmt;

use serde::{Deserialize, Serialize};

/// When an operation was invoked and answered, in ns of simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Invoked.
    pub invoke: u64,
    /// Answered.
    pub response: u64,
}

/// One acknowledged lease operation, or one successful read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaseEvent {
    /// A grant or a renewal succeeded with `ttl` seconds.
    Renewed {
        /// The lease.
        lease: i64,
        /// The TTL it answered.
        ttl: i64,
        /// When.
        at: Span,
        /// The lease a renewal's answer named; `None` for a grant (whose
        /// answer names the lease), and in logs written before it was
        /// recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<i64>,
    },
    /// A put of `key` attached to `lease` was acknowledged.
    Put {
        /// The lease.
        lease: i64,
        /// The key, attached to nothing else ever.
        key: String,
        /// When.
        at: Span,
    },
    /// The client asked to revoke `lease` (whatever the answer).
    RevokeAsked {
        /// The lease.
        lease: i64,
        /// When it was sent.
        invoke: u64,
    },
    /// The client learned the lease is gone; `revision` if it was its own
    /// acknowledged revocation (the revision of the deletion or later).
    Gone {
        /// The lease.
        lease: i64,
        /// The acknowledged revocation's header revision.
        revision: Option<i64>,
        /// When.
        at: Span,
    },
    /// A time-to-live query found the lease, with `ttl` seconds left of
    /// the `granted_ttl` it was granted.
    TimeToLive {
        /// The lease.
        lease: i64,
        /// The lease the answer named.
        id: i64,
        /// The seconds left, as answered.
        ttl: i64,
        /// The TTL it was granted, as answered.
        granted_ttl: i64,
        /// When.
        at: Span,
    },
    /// A linearizable read of `key` succeeded.
    Read {
        /// The lease `key` was put with.
        lease: i64,
        /// The key.
        key: String,
        /// Whether the key was there.
        found: bool,
        /// The read's header revision.
        revision: i64,
        /// When.
        at: Span,
    },
}

/// A broken lease invariant, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseViolation {
    /// An answer about a lease named another lease.
    IdDiffers {
        /// The lease asked about.
        lease: i64,
        /// Which answer (`keep-alive`, `time-to-live`).
        answer: &'static str,
        /// The id it named.
        answered: i64,
    },
    /// An answer named another TTL than the one the lease was granted.
    TtlDiffers {
        /// The lease.
        lease: i64,
        /// Which answer and field (`keep-alive ttl`, `time-to-live granted_ttl`).
        field: &'static str,
        /// What it answered.
        answered: i64,
        /// What the grant answered.
        granted: i64,
    },
    /// (a): a read that began after the client learned the lease was gone
    /// found its key.
    ReadAfterGone {
        /// The lease.
        lease: i64,
        /// The key.
        key: String,
        /// The read.
        read: Span,
        /// When the client learned the lease was gone.
        gone: Span,
    },
    /// (a): a read at or above an acknowledged revocation's revision
    /// found the key.
    ReadAboveRevocation {
        /// The lease.
        lease: i64,
        /// The key.
        key: String,
        /// The read's revision.
        read_revision: i64,
        /// The revocation's revision.
        revoked_at: i64,
    },
    /// (b): a read that ended before the lease could expire did not find
    /// the key.
    MissingWhileAlive {
        /// The lease.
        lease: i64,
        /// The key.
        key: String,
        /// The read.
        read: Span,
        /// Until when a renewal guaranteed the lease (ns).
        alive_until: u64,
    },
}

impl fmt::Display for LeaseViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |ns: u64| ns as f64 / 1e6;
        match self {
            LeaseViolation::IdDiffers {
                lease,
                answer,
                answered,
            } => write!(f, "lease {lease:x}: {answer} answered ID {answered:x}"),
            LeaseViolation::TtlDiffers {
                lease,
                field,
                answered,
                granted,
            } => write!(
                f,
                "lease {lease:x}: {field} {answered}, but the grant answered ttl {granted}"
            ),
            LeaseViolation::ReadAfterGone {
                lease,
                key,
                read,
                gone,
            } => write!(
                f,
                "lease {lease:x}: {key} read at {:.1}..{:.1} ms, after the lease was known gone at {:.1} ms",
                ms(read.invoke),
                ms(read.response),
                ms(gone.response)
            ),
            LeaseViolation::ReadAboveRevocation {
                lease,
                key,
                read_revision,
                revoked_at,
            } => write!(
                f,
                "lease {lease:x}: {key} read at revision {read_revision}, at or above its revocation at {revoked_at}"
            ),
            LeaseViolation::MissingWhileAlive {
                lease,
                key,
                read,
                alive_until,
            } => write!(
                f,
                "lease {lease:x}: {key} missing from a read at {:.1}..{:.1} ms, while a renewal guaranteed the lease until {:.1} ms",
                ms(read.invoke),
                ms(read.response),
                ms(*alive_until)
            ),
        }
    }
}

/// Checks (a), (b) and the one TTL over `events`; empty if they hold.
pub fn check_leases(events: &[LeaseEvent]) -> Vec<LeaseViolation> {
    let mut violations = one_ttl(events);
    for event in events {
        let LeaseEvent::Read {
            lease,
            key,
            found,
            revision,
            at: read,
        } = event
        else {
            continue;
        };
        let facts = Facts::of(*lease, key, events);
        if *found {
            if let Some(gone) = facts.gone.filter(|g| g.response < read.invoke) {
                violations.push(LeaseViolation::ReadAfterGone {
                    lease: *lease,
                    key: key.clone(),
                    read: *read,
                    gone,
                });
            }
            if let Some(revoked_at) = facts.revoked_at.filter(|r| revision >= r) {
                violations.push(LeaseViolation::ReadAboveRevocation {
                    lease: *lease,
                    key: key.clone(),
                    read_revision: *revision,
                    revoked_at,
                });
            }
        } else {
            let put_before = facts.put_done.is_some_and(|p| p < read.invoke);
            let not_revoked_yet = facts.revoke_asked.is_none_or(|r| read.response < r);
            if put_before && not_revoked_yet && read.response < facts.alive_until {
                violations.push(LeaseViolation::MissingWhileAlive {
                    lease: *lease,
                    key: key.clone(),
                    read: *read,
                    alive_until: facts.alive_until,
                });
            }
        }
    }
    violations
}

/// Every answer about a lease names the lease, and the TTL its grant (its
/// first renewal in the log) answered.
fn one_ttl(events: &[LeaseEvent]) -> Vec<LeaseViolation> {
    let mut granted: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
    let mut violations = Vec::new();
    for event in events {
        let (lease, id, answer, field, answered) = match *event {
            LeaseEvent::Renewed { lease, ttl, id, .. } => {
                (lease, id, "keep-alive", "keep-alive ttl", ttl)
            }
            LeaseEvent::TimeToLive {
                lease,
                id,
                granted_ttl,
                ..
            } => (
                lease,
                Some(id),
                "time-to-live",
                "time-to-live granted_ttl",
                granted_ttl,
            ),
            _ => continue,
        };
        if let Some(answered) = id.filter(|&id| id != lease) {
            violations.push(LeaseViolation::IdDiffers {
                lease,
                answer,
                answered,
            });
        }
        let granted = *granted.entry(lease).or_insert(answered);
        if answered != granted {
            violations.push(LeaseViolation::TtlDiffers {
                lease,
                field,
                answered,
                granted,
            });
        }
    }
    violations
}

/// What the log says about one lease and key.
struct Facts {
    /// The first time the client learned the lease was gone.
    gone: Option<Span>,
    /// The lowest revision of an acknowledged revocation.
    revoked_at: Option<i64>,
    /// When the put of the key was acknowledged.
    put_done: Option<u64>,
    /// When the client first asked to revoke the lease.
    revoke_asked: Option<u64>,
    /// The latest `invoke + ttl` of a successful grant or renewal.
    alive_until: u64,
}

impl Facts {
    fn of(lease: i64, key: &str, events: &[LeaseEvent]) -> Self {
        let mut facts = Facts {
            gone: None,
            revoked_at: None,
            put_done: None,
            revoke_asked: None,
            alive_until: 0,
        };
        for event in events {
            match event {
                LeaseEvent::Renewed {
                    lease: l, ttl, at, ..
                } if *l == lease => {
                    let until = at.invoke + *ttl as u64 * 1_000_000_000;
                    facts.alive_until = facts.alive_until.max(until);
                }
                LeaseEvent::Put {
                    lease: l,
                    key: k,
                    at,
                } if *l == lease && k == key => {
                    facts.put_done =
                        Some(facts.put_done.map_or(at.response, |p| p.min(at.response)));
                }
                LeaseEvent::RevokeAsked { lease: l, invoke } if *l == lease => {
                    facts.revoke_asked =
                        Some(facts.revoke_asked.map_or(*invoke, |r| r.min(*invoke)));
                }
                LeaseEvent::Gone {
                    lease: l,
                    revision,
                    at,
                } if *l == lease => {
                    if facts.gone.is_none_or(|g| at.response < g.response) {
                        facts.gone = Some(*at);
                    }
                    if let Some(r) = revision {
                        facts.revoked_at = Some(facts.revoked_at.map_or(*r, |x| x.min(*r)));
                    }
                }
                _ => {}
            }
        }
        facts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn span(invoke: u64, response: u64) -> Span {
        Span { invoke, response }
    }

    fn read(found: bool, revision: i64, at: Span) -> LeaseEvent {
        LeaseEvent::Read {
            lease: 1,
            key: "k".into(),
            found,
            revision,
            at,
        }
    }

    fn base() -> Vec<LeaseEvent> {
        vec![
            LeaseEvent::Renewed {
                lease: 1,
                ttl: 3,
                at: span(0, S / 10),
                id: None,
            },
            LeaseEvent::Put {
                lease: 1,
                key: "k".into(),
                at: span(S / 10, S / 5),
            },
        ]
    }

    #[test]
    fn a_key_read_after_its_lease_was_known_gone_is_a_violation() {
        let mut events = base();
        events.push(LeaseEvent::Gone {
            lease: 1,
            revision: None,
            at: span(5 * S, 5 * S + 10),
        });
        events.push(read(true, 9, span(4 * S, 6 * S)));
        assert!(check_leases(&events).is_empty(), "concurrent with the news");
        events.push(read(true, 9, span(6 * S, 6 * S + 10)));
        let violations = check_leases(&events);
        assert!(matches!(
            violations[..],
            [LeaseViolation::ReadAfterGone { .. }]
        ));
        assert!(violations[0].to_string().contains("known gone"));
    }

    #[test]
    fn a_key_read_at_the_revocations_revision_is_a_violation() {
        let mut events = base();
        events.push(LeaseEvent::RevokeAsked {
            lease: 1,
            invoke: S,
        });
        events.push(LeaseEvent::Gone {
            lease: 1,
            revision: Some(7),
            at: span(S, 2 * S),
        });
        events.push(read(true, 6, span(S, 2 * S)));
        assert!(check_leases(&events).is_empty());
        events.push(read(true, 7, span(S, 2 * S)));
        assert!(matches!(
            check_leases(&events)[..],
            [LeaseViolation::ReadAboveRevocation { revoked_at: 7, .. }]
        ));
    }

    #[test]
    fn a_key_missing_while_a_renewal_holds_its_lease_is_a_violation() {
        let mut events = base();
        events.push(LeaseEvent::Renewed {
            lease: 1,
            ttl: 3,
            at: span(2 * S, 2 * S + 10),
            id: None,
        });
        // Past the renewal's guarantee (2 s + 3 s), a missing key is fine.
        events.push(read(false, 5, span(5 * S, 5 * S + 10)));
        // Before the put was acknowledged, too.
        events.push(read(false, 5, span(S / 10, S)));
        assert!(check_leases(&events).is_empty());
        events.push(read(false, 5, span(4 * S, 4 * S + 10)));
        assert!(matches!(
            check_leases(&events)[..],
            [LeaseViolation::MissingWhileAlive { alive_until, .. }] if alive_until == 5 * S
        ));
        // Once the client asked to revoke, the key may go at any time.
        events.push(LeaseEvent::RevokeAsked {
            lease: 1,
            invoke: 3 * S,
        });
        assert!(check_leases(&events).is_empty());
    }

    #[test]
    fn field_keep_alive_ttl() {
        let mut events = base();
        events.push(LeaseEvent::Renewed {
            lease: 1,
            ttl: 3,
            at: span(S, S + 10),
            id: None,
        });
        assert!(check_leases(&events).is_empty());
        events.push(LeaseEvent::Renewed {
            lease: 1,
            ttl: 2,
            at: span(2 * S, 2 * S + 10),
            id: None,
        });
        let violations = check_leases(&events);
        assert_eq!(
            violations,
            [LeaseViolation::TtlDiffers {
                lease: 1,
                field: "keep-alive ttl",
                answered: 2,
                granted: 3
            }]
        );
        assert!(violations[0].to_string().contains("keep-alive ttl 2"));
    }

    #[test]
    fn field_time_to_live_granted_ttl() {
        let asked = |granted_ttl| {
            let mut events = base();
            events.push(LeaseEvent::TimeToLive {
                lease: 1,
                id: 1,
                ttl: 2,
                granted_ttl,
                at: span(S, S + 10),
            });
            check_leases(&events)
        };
        assert!(asked(3).is_empty());
        assert!(matches!(
            asked(4)[..],
            [LeaseViolation::TtlDiffers {
                field: "time-to-live granted_ttl",
                answered: 4,
                ..
            }]
        ));
    }

    #[test]
    fn field_keep_alive_and_time_to_live_id() {
        let mut events = base();
        events.push(LeaseEvent::Renewed {
            lease: 1,
            ttl: 3,
            at: span(S, S + 10),
            id: Some(1),
        });
        assert!(check_leases(&events).is_empty());
        events.push(LeaseEvent::Renewed {
            lease: 1,
            ttl: 3,
            at: span(2 * S, 2 * S + 10),
            id: Some(2),
        });
        events.push(LeaseEvent::TimeToLive {
            lease: 1,
            id: 3,
            ttl: 1,
            granted_ttl: 3,
            at: span(2 * S, 2 * S + 10),
        });
        let answered: Vec<_> = check_leases(&events)
            .into_iter()
            .map(|v| match v {
                LeaseViolation::IdDiffers { answered, .. } => answered,
                other => panic!("another violation: {other:?}"),
            })
            .collect();
        assert_eq!(answered, [2, 3]);
    }
}
