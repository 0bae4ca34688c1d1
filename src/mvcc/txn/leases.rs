//! Which leases exist, as far as the request layer asks (etcd's
//! `lessor.Lookup` in `applierV3backend`).
//!
//! etcd refuses a put that names a lease its lessor does not know with
//! `lease not found`, *when the request is applied*: for a single put before
//! anything else, for a txn while it checks the puts of the branches taken,
//! op by op, right after the op's `ignore_value`/`ignore_lease` check. The
//! store keeps the check where etcd has it and asks this seam.

/// Answers whether a lease exists.
pub trait Leases {
    /// Whether the lease `id` (never 0, which means "no lease") exists.
    fn exists(&self, id: i64) -> bool;
}

/// No lease exists: every put that names one fails as etcd's does with an
/// unknown id (the server asks its lessor, `server::lease::Lessor`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLeases;

impl Leases for NoLeases {
    fn exists(&self, _: i64) -> bool {
        false
    }
}

/// Every lease exists: for driving the store with arbitrary lease ids.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyLease;

impl Leases for AnyLease {
    fn exists(&self, _: i64) -> bool {
        true
    }
}
