//! Faults: their kinds (what the command line names and the swarm draws
//! from) and their values (one fault with its victims and parameters, as
//! the nemesis injects it and a schedule file records it).

mod fault;
mod kind;

pub use fault::{ChangeFault, Fault, Member, MidChange};
pub use kind::{FaultKind, FaultSet, ParseFaultError};
