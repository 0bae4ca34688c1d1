//! The checks of a run besides the checker's: after the heal the cluster
//! must serve again ([`liveness`]), and once settled its members must hold
//! the same history ([`consistency`]).

pub mod consistency;
pub mod liveness;
