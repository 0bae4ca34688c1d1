//! Election timeouts drawn from the member's own seed, not from raft-rs.
//!
//! raft-rs redraws its randomized election timeout from `rand::thread_rng()`,
//! which the simulation cannot seed: the same seed would elect different
//! leaders. So after every tick and step the driver pins the timeout to a
//! value that depends only on a per-member salt (drawn once from the runtime's
//! seeded RNG), the current term and the role. In real mode the salt comes
//! from the OS, so members still spread their timeouts apart.

use raft::{Raft, StateRole, Storage};

/// Chooses each member's election timeout within `[min, max)` ticks.
#[derive(Debug, Clone, Copy)]
pub struct ElectionTimeouts {
    salt: u64,
    min: usize,
    max: usize,
}

impl ElectionTimeouts {
    /// Timeouts in `[min, max)` ticks, decided by `salt`.
    pub fn new(salt: u64, min: usize, max: usize) -> Self {
        assert!(min < max, "empty election timeout range {min}..{max}");
        Self { salt, min, max }
    }

    /// The timeout for a member in `term` playing `role`.
    pub fn timeout_for(&self, term: u64, role: StateRole) -> usize {
        let mixed = splitmix64(self.salt ^ splitmix64(term) ^ (role as u64) << 56);
        self.min + (mixed % (self.max - self.min) as u64) as usize
    }

    /// Overrides whatever raft-rs drew last.
    pub fn pin<S: Storage>(&self, raft: &mut Raft<S>) {
        let timeout = self.timeout_for(raft.term, raft.state);
        if raft.randomized_election_timeout() != timeout {
            raft.set_randomized_election_timeout(timeout);
        }
    }
}

/// A fixed bijective mixer (SplitMix64 finaliser).
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_stay_in_range_and_depend_on_salt_term_and_role() {
        let a = ElectionTimeouts::new(1, 10, 20);
        let b = ElectionTimeouts::new(2, 10, 20);
        let all: Vec<usize> = (0..100)
            .flat_map(|t| {
                [
                    a.timeout_for(t, StateRole::Follower),
                    b.timeout_for(t, StateRole::Candidate),
                ]
            })
            .collect();
        assert!(all.iter().all(|t| (10..20).contains(t)));
        assert!(all.iter().collect::<std::collections::BTreeSet<_>>().len() > 5);
        assert_eq!(
            a.timeout_for(7, StateRole::Follower),
            a.timeout_for(7, StateRole::Follower)
        );
    }
}
