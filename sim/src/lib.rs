//! The etcd-sim harness: it runs the real etcd-sim stack on madsim and
//! judges what clients saw.
//!
//! What is simulated: the network (madsim's), time and task scheduling
//! (madsim's runtime, from one seed), process kills and restarts (madsim
//! nodes re-run their init from durable state only), and the disk
//! ([`etcd_sim::storage::SimDisk`], ours). What is not: nothing inside a
//! member knows it runs in a simulation.
//!
//! ## A run, step by step
//!
//! A run of one seed ([`run_seed`], in the simulation build) goes through
//! these parts in order, each a folder:
//!
//! 1. [`cluster`]: the members, each a madsim node running the real
//!    [`etcd_sim::server::run`] on a `SimDisk` the harness keeps across
//!    restarts. The run's shape (cluster size, load, fault kinds, ticks,
//!    disk and network) is fixed or drawn per seed ([`shape::swarm`]).
//! 2. [`cluster::nemesis`]: faults ([`faults`]), each drawn whole, applied,
//!    held and undone, and written down as a plan ([`shape::schedule`])
//!    that a run can replay.
//! 3. [`actors`]: the clients: KV clients driving etcd or Kubernetes
//!    traffic ([`shape::traffic`], [`shape::op_mix`],
//!    [`actors::workload`], [`actors::kubernetes`]), watchers
//!    ([`actors::watchers`]) and lease clients ([`actors::lease_clients`]).
//! 4. [`record`]: every operation, at its call and its return, as a
//!    checkable history ([`record::recorder`]), and the run's trace
//!    ([`record::trace`]), whose hash two runs of one seed must share.
//!    After the chaos the liveness phase ([`verdict::liveness`]) asks the
//!    healed cluster to serve again, and the members' logs tell the
//!    outcome of writes nobody learned ([`record::persisted`]).
//! 5. the checker (the `etcd_sim_checker` crate): the history must be
//!    linearizable and keep etcd's revision guarantees; the watch logs
//!    (`etcd_sim_checker::watch`), the lease log (`etcd_sim_checker::lease`)
//!    and the members' stores (they must agree once settled,
//!    [`verdict::consistency`]) are judged beside it.
//! 6. the report: a failing run becomes one HTML page
//!    (`etcd_sim_checker::report`), with the members' own events
//!    ([`record::member_events`], [`cluster::details`]) on its time axis,
//!    and can be shrunk to a smaller run that fails the same way
//!    ([`campaign::shrink`]).
//! 7. [`campaign`]: many seeds, each in its own runtime, with one summary:
//!    verdicts, availability ([`record::availability`]), coverage.
//!
//! ## An example
//!
//! The last two steps without a cluster: a history recorded by hand and
//! checked. A read that returns an older value than a write acknowledged
//! before it was asked is not linearizable:
//!
//! ```
//! use etcd_sim_checker::{check_kv, CheckOptions, KeyValue, Outcome, Request, Response, Verdict};
//! use etcd_sim_harness::Recorder;
//!
//! let recorder = Recorder::default();
//! let put = |value: &str| Request::Put { key: "k".into(), value: value.into(), lease: 0 };
//! let a = recorder.invoke(0, 0, put("a"));
//! recorder.complete(a, 10, Outcome::Ok(Response::Put { revision: 2 }), None);
//! let b = recorder.invoke(0, 20, put("b"));
//! recorder.complete(b, 30, Outcome::Ok(Response::Put { revision: 3 }), None);
//! let read = recorder.invoke(1, 40, Request::Get { key: "k".into(), serializable: false });
//! let stale = KeyValue { value: "a".into(), create_revision: 2, mod_revision: 2, version: 1 };
//! recorder.complete(read, 50, Outcome::Ok(Response::Get { kv: Some(stale), revision: 3, count: Some(1), more: false }), None);
//!
//! let (history, _trace) = recorder.snapshot();
//! let report = check_kv(&history, &CheckOptions::default());
//! assert_eq!(report.verdict, Verdict::NotLinearizable);
//! ```

#![deny(missing_docs)]

// One folder a part of the harness; the parts that only make sense on
// madsim are gated as a whole, the rest (faults, shapes, records: parsed,
// printed and checked in the real build too) are not.
#[cfg(madsim)]
pub mod actors;
#[cfg(madsim)]
pub mod campaign;
#[cfg(madsim)]
pub mod cluster;
pub mod faults;
pub mod load;
pub mod record;
pub mod shape;
pub mod stderr_filter;
#[cfg(madsim)]
pub mod verdict;

// What a user needs first: one seed's run and its outcome, a campaign of
// many, the shapes and plans a run is made of, and the recorder.
#[cfg(madsim)]
pub use campaign::{run_seed, simulate, Campaign, RunConfig, Summary};
pub use record::Recorder;
pub use shape::schedule::Schedule;
pub use shape::swarm::Shape;
#[cfg(madsim)]
pub use verdict::{SeedOutcome, SeedVerdict};
