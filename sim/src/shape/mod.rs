//! What a run is made of besides its seed's randomness: the shape the swarm
//! draws per seed ([`swarm`]: cluster size, load, fault kinds, knobs), the
//! traffic its KV clients drive ([`traffic`], [`op_mix`]), and all of it
//! written down as a schedule file that replays and shrinks ([`schedule`]).
//! Parsed and printed in both builds.

pub mod op_mix;
pub mod schedule;
pub mod swarm;
pub mod traffic;
