//! A linearizability checker for etcd-sim histories.
//!
//! [`check_kv`] decides whether a [`History`] of put / get / delete /
//! compare-and-set / range operations, multi-key txns (compares on values,
//! mod and create revisions and versions; puts, deletes and gets in both
//! branches), delete-ranges, lists (limits, pages, keys-only, count-only),
//! compactions and leases (grants, puts that attach a key to a lease or
//! detach it, revokes that delete a lease's keys in one revision, expiries
//! of short leases at any time after their grant, and etcd's "requested
//! lease not found" exactly when the lease is not live) could have come from one key-value
//! store that applied each operation atomically at some instant between its
//! call and its return (Herlihy & Wing). Operations with an unknown outcome
//! may take effect at any instant after their call, or never; one whose
//! value a read saw took effect before that read returned. The search is
//! Wing–Gong–Lowe's with memoization and exact reductions ([`search`]), run
//! per key where operations touch one key; keys that ranges join are first
//! checked apart (a quick refutation), then together. etcd's own revision guarantees
//! are checked on top ([`invariants`]): every number of an answer (header
//! revision, create and mod revision, version), reads at a past revision
//! and serializable reads against the order of revisions (a serializable
//! read is the state at its header revision, which may be older than the
//! newest but no newer than what was written before it returned), and
//! `ErrCompacted` / `ErrFutureRev` exactly when they are legal. [`bench`](mod@bench) times it on porcupine's
//! test histories.
//!
//! Beside the history, two logs are judged: what watchers received
//! ([`watch`]) and what lease clients saw ([`lease`]).

#![deny(missing_docs)]

mod answers;
pub mod bench;
#[cfg(test)]
mod brute_force;
mod check;
pub mod export;
mod hash;
mod history;
pub mod invariants;
mod jsonl;
mod kv;
pub mod lease;
pub mod porcupine;
pub mod report;
pub mod search;
pub mod watch;

pub use check::{check_kv, CheckOptions, CheckReport, Failure, Verdict};
pub use history::{
    in_range, lease_not_found, may_expire, Compare, CompareTarget, FaultBand, History, KeyValue,
    ListOrder, Operation, Outcome, Persisted, Relation, Request, Response, ServedBy, SortOrder,
    SortTarget, StepResult, TxnStep, EXPIRY_FREE_TTL, LEASE_NOT_FOUND,
};
pub use jsonl::{ParseError, SavedRun};
pub use report::{render_html, BrokenEvidence};

use std::path::Path;
use std::time::Duration;

/// History file formats `check_file` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// etcd-sim's JSON lines, checked with the KV model.
    Native,
    /// porcupine's Jepsen etcd logs, checked with the register model.
    PorcupineEtcd,
    /// porcupine's kv logs, checked with the get/put/append model per key.
    PorcupineKv,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "native" => Ok(Format::Native),
            "porcupine-etcd" => Ok(Format::PorcupineEtcd),
            "porcupine-kv" => Ok(Format::PorcupineKv),
            other => Err(format!(
                "unknown history format {other:?}; known: native, porcupine-etcd, porcupine-kv"
            )),
        }
    }
}

/// What `check_file` found: the KV history's verdict and, for a saved
/// run, the watch and lease guarantees its logs break.
#[derive(Debug)]
pub struct FileCheck {
    /// The linearizability verdict and its evidence.
    pub report: CheckReport,
    /// The broken watch and lease checks (only a native saved run has the
    /// logs they judge).
    pub broken: Vec<BrokenEvidence>,
}

/// Reads the history (or saved run) at `path` and checks it.
pub fn check_file(
    path: &Path,
    format: Format,
    html: Option<&Path>,
    timeout: Option<Duration>,
) -> Result<FileCheck, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let located = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    let bare = |report| FileCheck {
        report,
        broken: Vec::new(),
    };
    match format {
        Format::Native => {
            let run = SavedRun::read_jsonl(text.as_bytes()).map_err(|e| located(&e))?;
            let options = CheckOptions {
                timeout,
                ..CheckOptions::default()
            };
            let report = check_kv(&run.history, &options);
            let broken = run.broken();
            if let Some(out) = html {
                let title = path.display().to_string();
                let events = report::RunEvents {
                    broken: broken.clone(),
                    ..report::RunEvents::default()
                };
                let page = render_html(&run.history, &report, &events, &title);
                std::fs::write(out, page).map_err(|e| format!("{}: {e}", out.display()))?;
            }
            Ok(FileCheck { report, broken })
        }
        Format::PorcupineEtcd => {
            let ops = porcupine::read_jepsen_etcd(&text).map_err(|e| located(&e))?;
            let result = search::search(&porcupine::Register, &ops, deadline);
            Ok(bare(CheckReport::from_search(&result)))
        }
        Format::PorcupineKv => {
            let (model, ops) = porcupine::read_kv(&text).map_err(|e| located(&e))?;
            let result = porcupine::check_kv_log(&model, &ops, true, deadline);
            Ok(bare(CheckReport::from_search(&result)))
        }
    }
}
