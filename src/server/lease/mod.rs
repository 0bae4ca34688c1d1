//! The lessor: which leases exist, and — on the leader only — when each one
//! expires (etcd's `lease/lessor.go`).
//!
//! Leases are state-machine state: they are granted and revoked by applying
//! committed `LeaseGrant`/`LeaseRevoke` entries, so every member knows the
//! same leases with the same TTLs, and they travel in snapshots
//! ([`Lessor::encode`]). Which keys a lease holds is *not* kept here: the
//! store already records each key's lease (`KeyValue.lease`), and
//! [`attached_keys`] reads it there, so the two can never disagree.
//!
//! Expiry is not state-machine state. Only the *primary* lessor — the
//! leader's, once it has applied the first entry of its term — keeps
//! deadlines; it notices expired leases by its own clock, and the server
//! proposes their revocation through raft. A follower's lessor keeps no
//! deadlines at all, so it can never revoke on its own.
//!
//! A worked example, with TTL 10 s and an election timeout of 1 s:
//!
//! | when | event                                  | leader's deadline |
//! |------|----------------------------------------|-------------------|
//! | t=0  | grant applied on leader A              | A: 10             |
//! | t=4  | keep-alive at A ([`Lessor::renew`])    | A: 14             |
//! | t=6  | A dies; B leads and promotes           | B: 6 + 10 + 1 = 17|
//! | t=17 | B's lessor reports it expired          | B proposes revoke |
//!
//! A new leader cannot know when the old one last renewed a lease, so it
//! extends every lease by a full TTL (plus the election timeout, which
//! covers a deposed leader that still renews until it notices): leases
//! outlive a leader change, never the reverse.

mod keys;

pub use keys::attached_keys;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

/// etcd's `MaxLeaseTTL`: a grant asking for more fails.
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// Why a lease operation failed; etcd's `lease.Err*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseError {
    /// No lease has this id (or the id is 0).
    NotFound,
    /// A grant named an id that is taken.
    Exists,
    /// A grant asked for more than [`MAX_LEASE_TTL`] seconds.
    TtlTooLarge,
    /// Only the primary lessor (the leader's) renews leases.
    NotPrimary,
    /// The lease expired and its revocation is on its way: a renewal must
    /// wait for it rather than bring the lease back.
    Expired,
}

impl std::fmt::Display for LeaseError {
    /// etcd's messages for these errors inside the lease package.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LeaseError::NotFound => "lease not found",
            LeaseError::Exists => "lease already exists",
            LeaseError::TtlTooLarge => "too large lease TTL",
            LeaseError::NotPrimary => "not a primary lessor",
            LeaseError::Expired => "lease expired",
        })
    }
}

impl std::error::Error for LeaseError {}

/// One lease as the lessor keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lease {
    /// Seconds; at least the lessor's minimum.
    ttl: i64,
    /// When it expires; `None` while this lessor is not primary.
    expiry: Option<Instant>,
}

/// A lease as [`Lessor::time_to_live`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTtl {
    /// Whole seconds left (etcd truncates); `None` without a deadline.
    pub remaining: Option<i64>,
    /// The TTL it was granted with, after the minimum was applied.
    pub granted: i64,
}

/// The leases of one member.
#[derive(Debug)]
pub struct Lessor {
    leases: BTreeMap<i64, Lease>,
    /// Grants below this many seconds are raised to it.
    min_ttl: i64,
    /// The raft term in which this lessor was promoted; `None`: a follower.
    primary: Option<u64>,
    /// The `lease-expires-on-follower-clock` bug: every lessor keeps
    /// deadlines and reports expiries, primary or not.
    follower_expires: bool,
}

impl Lessor {
    /// An empty lessor that raises grants to `min_ttl` seconds.
    pub fn new(min_ttl: i64) -> Self {
        Self {
            leases: BTreeMap::new(),
            min_ttl,
            primary: None,
            follower_expires: false,
        }
    }

    /// Switches on the `lease-expires-on-follower-clock` bug.
    pub fn with_follower_expiry(mut self) -> Self {
        self.follower_expires = true;
        self
    }

    /// etcd's minimum TTL: one and a half election timeouts, rounded up to
    /// whole seconds, so a lease cannot expire during a leader election.
    pub fn min_ttl_for(tick: Duration, election_ticks: usize) -> i64 {
        let min = tick * (3 * election_ticks as u32 / 2);
        min.as_nanos().div_ceil(1_000_000_000) as i64
    }

    /// Whether lease `id` exists.
    pub fn contains(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    /// Grants lease `id` (applied from the log); returns its TTL.
    pub fn grant(&mut self, id: i64, ttl: i64, now: Instant) -> Result<i64, LeaseError> {
        if id == 0 {
            return Err(LeaseError::NotFound);
        }
        if ttl > MAX_LEASE_TTL {
            return Err(LeaseError::TtlTooLarge);
        }
        if self.leases.contains_key(&id) {
            return Err(LeaseError::Exists);
        }
        let ttl = ttl.max(self.min_ttl);
        let expiry = self.keeps_deadlines().then(|| now + secs(ttl));
        self.leases.insert(id, Lease { ttl, expiry });
        Ok(ttl)
    }

    /// Forgets lease `id` (applied from the log); the caller deletes its keys.
    pub fn revoke(&mut self, id: i64) -> Result<(), LeaseError> {
        self.leases
            .remove(&id)
            .map(|_| ())
            .ok_or(LeaseError::NotFound)
    }

    /// Renews lease `id` for another TTL from `now`; only the primary does.
    pub fn renew(&mut self, id: i64, now: Instant) -> Result<i64, LeaseError> {
        if self.primary.is_none() {
            return Err(LeaseError::NotPrimary);
        }
        let lease = self.leases.get_mut(&id).ok_or(LeaseError::NotFound)?;
        if lease.expiry.is_some_and(|at| at <= now) {
            return Err(LeaseError::Expired);
        }
        lease.expiry = Some(now + secs(lease.ttl));
        Ok(lease.ttl)
    }

    /// What is left of lease `id`.
    pub fn time_to_live(&self, id: i64, now: Instant) -> Option<LeaseTtl> {
        self.leases.get(&id).map(|lease| LeaseTtl {
            remaining: lease
                .expiry
                .map(|at| at.saturating_duration_since(now).as_secs() as i64),
            granted: lease.ttl,
        })
    }

    /// Every lease id, soonest deadline first (etcd's `Leases` sorts by
    /// expiry), then by id.
    pub fn leases(&self) -> Vec<i64> {
        let mut ids: Vec<(Option<Instant>, i64)> =
            self.leases.iter().map(|(&id, l)| (l.expiry, id)).collect();
        // No deadline sorts last, as etcd's "forever" does.
        ids.sort_by_key(|&(expiry, id)| (expiry.is_none(), expiry, id));
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// The leases whose deadline has passed, in id order.
    pub fn expired(&self, now: Instant) -> Vec<i64> {
        if !self.keeps_deadlines() {
            return Vec::new();
        }
        self.leases
            .iter()
            .filter(|(_, l)| l.expiry.is_some_and(|at| at <= now))
            .map(|(&id, _)| id)
            .collect()
    }

    /// The term this lessor is primary in, if it is.
    pub fn primary_term(&self) -> Option<u64> {
        self.primary
    }

    /// Makes this lessor primary for `term`: every lease gets a full TTL
    /// plus `extend` from `now` (etcd's `Promote(electionTimeout)`).
    pub fn promote(&mut self, term: u64, now: Instant, extend: Duration) {
        self.primary = Some(term);
        for lease in self.leases.values_mut() {
            lease.expiry = Some(now + secs(lease.ttl) + extend);
        }
    }

    /// Makes this lessor a follower's again: no deadlines (etcd's `Demote`).
    pub fn demote(&mut self) {
        crate::coverage::bug_site(crate::bugs::Bug::LeaseExpiresOnFollowerClock);
        self.primary = None;
        if self.follower_expires {
            return;
        }
        for lease in self.leases.values_mut() {
            lease.expiry = None;
        }
    }

    /// Whether this lessor tracks deadlines: the primary does; with the
    /// bug, every lessor does.
    fn keeps_deadlines(&self) -> bool {
        self.primary.is_some() || self.follower_expires
    }

    /// The leases (id and TTL) as bytes, for snapshots.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = (self.leases.len() as u32).to_be_bytes().to_vec();
        for (id, lease) in &self.leases {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&lease.ttl.to_be_bytes());
        }
        out
    }

    /// Replaces the leases with those [`Lessor::encode`]d at the start of
    /// `bytes`, and returns the bytes after them; `None` if they are cut
    /// short. The restored leases get deadlines as grants would.
    pub fn restore<'a>(&mut self, bytes: &'a [u8], now: Instant) -> Option<&'a [u8]> {
        let (count, mut rest) = bytes.split_first_chunk::<4>()?;
        let mut leases = BTreeMap::new();
        for _ in 0..u32::from_be_bytes(*count) {
            let (id, after) = rest.split_first_chunk::<8>()?;
            let (ttl, after) = after.split_first_chunk::<8>()?;
            let ttl = i64::from_be_bytes(*ttl);
            let expiry = self.keeps_deadlines().then(|| now + secs(ttl));
            leases.insert(i64::from_be_bytes(*id), Lease { ttl, expiry });
            rest = after;
        }
        self.leases = leases;
        Some(rest)
    }
}

impl crate::mvcc::txn::Leases for Lessor {
    fn exists(&self, id: i64) -> bool {
        self.contains(id)
    }
}

fn secs(s: i64) -> Duration {
    Duration::from_secs(s.max(0) as u64)
}

#[cfg(test)]
mod tests;
