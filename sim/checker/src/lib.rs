//! A linearizability checker for etcd-sim histories.
//!
//! [`check_kv`] decides whether a [`History`] of put / get / delete /
//! compare-and-set / range operations could have come from one key-value
//! store that applied each operation atomically at some instant between its
//! call and its return (Herlihy & Wing). Operations with an unknown outcome
//! may take effect at any instant after their call, or never. The search is
//! Wing–Gong–Lowe's with porcupine's memoization ([`search`]), run per key
//! where operations touch one key. etcd's own revision guarantees are
//! checked on top ([`invariants`]).

#![deny(missing_docs)]

mod check;
mod history;
pub mod invariants;
mod jsonl;
mod kv;
pub mod search;

pub use check::{check_kv, CheckOptions, CheckReport, Failure, Verdict};
pub use history::{FaultBand, History, KeyValue, Operation, Outcome, Request, Response};
pub use jsonl::ParseError;

use std::path::Path;
use std::time::Duration;

/// History file formats `check_file` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// etcd-sim's JSON lines.
    Native,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "native" => Ok(Format::Native),
            other => Err(format!("unknown history format {other:?}; known: native")),
        }
    }
}

/// Reads the history at `path` and checks it.
pub fn check_file(
    path: &Path,
    format: Format,
    _html: Option<&Path>,
    timeout: Option<Duration>,
) -> Result<CheckReport, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let history = match format {
        Format::Native => History::read_jsonl(std::io::BufReader::new(file))
            .map_err(|e| format!("{}: {e}", path.display()))?,
    };
    let options = CheckOptions {
        timeout,
        ..CheckOptions::default()
    };
    Ok(check_kv(&history, &options))
}
