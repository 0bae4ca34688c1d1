//! The simulation's integration tests, one module per subject, built as
//! one binary: a binary per file cost a compile and a link of the whole
//! stack each. Run one subject with `cargo test --test suite watch::`.
//! Every module but `build_mode` needs the simulation build (`--cfg
//! madsim`, set by `.cargo/config.toml`) and is empty without it.

mod api_fuzz;
mod bug_catalog;
mod build_mode;
mod client_sync;
mod determinism;
mod durability;
mod http_endpoints;
mod leader_transfer;
mod lease;
mod members;
mod quota;
mod recovery;
mod regressions;
mod shrink;
mod simulation;
mod watch;
