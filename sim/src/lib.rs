//! The etcd-sim harness: it runs the real etcd-sim stack on madsim and
//! judges what clients saw.
//!
//! What is simulated: the network (madsim's), time and task scheduling
//! (madsim's runtime, from one seed), process kills and restarts (madsim
//! nodes re-run their init from durable state only), and the disk
//! ([`etcd_sim::storage::SimDisk`], ours). What is not: nothing inside a
//! member knows it runs in a simulation.
//!
//! A run of one seed ([`run_seed`]) builds a cluster ([`cluster`]), drives
//! concurrent clients ([`workload`]) while the nemesis ([`nemesis`]) injects
//! faults, records every operation ([`recorder`]), and checks the history for
//! linearizability with `etcd_sim_checker`.

#![deny(missing_docs)]

pub mod availability;
#[cfg(madsim)]
pub mod campaign;
#[cfg(madsim)]
pub mod cluster;
#[cfg(madsim)]
mod consistency;
#[cfg(madsim)]
pub mod details;
pub mod faults;
#[cfg(madsim)]
pub mod kubernetes;
pub mod lease_check;
#[cfg(madsim)]
pub mod lease_workload;
#[cfg(madsim)]
pub mod liveness;
pub mod load;
pub mod member_events;
#[cfg(madsim)]
pub mod nemesis;
#[cfg(madsim)]
pub mod observer;
pub mod op_mix;
pub mod persisted;
pub mod recorder;
#[cfg(madsim)]
mod run;
pub mod schedule;
#[cfg(madsim)]
pub mod shrink;
pub mod stderr_filter;
pub mod swarm;
pub mod trace;
pub mod traffic;
#[cfg(madsim)]
pub mod watchers;
#[cfg(madsim)]
pub mod workload;

#[cfg(madsim)]
pub use run::{run_seed, simulate, RunConfig, SeedOutcome, SeedVerdict};
