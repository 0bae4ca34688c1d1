//! The native history format: JSON lines.
//!
//! The first line is a header, `{"etcd_sim_history":1,"faults":[...]}`;
//! every further line is one [`Operation`](crate::Operation) as JSON, in
//! invocation order. Line-oriented, so a history can be streamed, diffed
//! and cut with ordinary tools.
//!
//! A saved run ([`SavedRun`]) follows its operations with the logs judged
//! beside them, a line each: `{"watch_log":{...}}` for what one watcher
//! received and `{"lease_event":{...}}` for what a lease client saw. A
//! reader of the bare history ([`History::read_jsonl`]) skips them, so a
//! saved run is still a history file.

use std::fmt;
use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::history::{FaultBand, History, Operation, Outcome};
use crate::lease::{check_leases, LeaseEvent};
use crate::report::BrokenEvidence;
use crate::watch::{check_watches, WatcherLog};

#[derive(Serialize, Deserialize)]
struct Header {
    etcd_sim_history: u32,
    faults: Vec<FaultBand>,
}

/// A history file that does not parse.
#[derive(Debug)]
pub struct ParseError {
    /// The 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

impl History {
    /// Writes the history as JSON lines.
    pub fn write_jsonl(&self, out: &mut impl Write) -> io::Result<()> {
        let header = Header {
            etcd_sim_history: 1,
            faults: self.faults.clone(),
        };
        write_line(out, &header)?;
        for op in &self.operations {
            write_line(out, op)?;
        }
        Ok(())
    }

    /// Reads a history written by [`History::write_jsonl`], or the history
    /// of a run written by [`SavedRun::write_jsonl`] (its logs skipped).
    pub fn read_jsonl(input: impl BufRead) -> Result<History, ParseError> {
        SavedRun::read_jsonl(input).map(|run| run.history)
    }
}

/// One log line of a saved run, after its operations.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LogLine {
    WatchLog(WatcherLog),
    LeaseEvent(LeaseEvent),
}

/// A run as saved for `etcd-sim check`: its KV history and the logs the
/// watch and lease checks judge, which the history alone cannot show (what
/// a watcher was sent; which renewals a lease client saw succeed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SavedRun {
    /// The client operations and faults.
    pub history: History,
    /// Everything each watcher received.
    pub watch_logs: Vec<WatcherLog>,
    /// What the lease clients saw acknowledged.
    pub lease_events: Vec<LeaseEvent>,
}

impl SavedRun {
    /// Writes the history, then one line per watcher log and lease event.
    pub fn write_jsonl(&self, out: &mut impl Write) -> io::Result<()> {
        self.history.write_jsonl(out)?;
        for log in &self.watch_logs {
            write_line(out, &LogLine::WatchLog(log.clone()))?;
        }
        for event in &self.lease_events {
            write_line(out, &LogLine::LeaseEvent(event.clone()))?;
        }
        Ok(())
    }

    /// Reads a run written by [`SavedRun::write_jsonl`]; a bare history
    /// reads as a run without logs.
    pub fn read_jsonl(input: impl BufRead) -> Result<SavedRun, ParseError> {
        let mut run = SavedRun::default();
        for (n, line) in input.lines().enumerate() {
            let line = line.map_err(|e| ParseError {
                line: n + 1,
                reason: e.to_string(),
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |reason: String| ParseError {
                line: n + 1,
                reason,
            };
            if n == 0 {
                let header: Header = serde_json::from_str(&line)
                    .map_err(|e| bad(format!("not an etcd-sim history header: {e}")))?;
                run.history.faults = header.faults;
                continue;
            }
            let op = match serde_json::from_str::<Operation>(&line) {
                Ok(op) => op,
                Err(not_an_operation) => match serde_json::from_str::<LogLine>(&line) {
                    Ok(LogLine::WatchLog(log)) => {
                        run.watch_logs.push(log);
                        continue;
                    }
                    Ok(LogLine::LeaseEvent(event)) => {
                        run.lease_events.push(event);
                        continue;
                    }
                    Err(_) => return Err(bad(not_an_operation.to_string())),
                },
            };
            if let Outcome::Ok(response) = &op.outcome {
                if let Some(reason) = op.request.mismatch(response) {
                    return Err(bad(reason));
                }
            }
            run.history.operations.push(op);
        }
        Ok(run)
    }

    /// The watch and lease guarantees this run's logs break, with their
    /// evidence (empty if none, or if it has no logs).
    pub fn broken(&self) -> Vec<BrokenEvidence> {
        let watch = check_watches(&self.history, &self.watch_logs)
            .into_iter()
            .map(|v| ("watch", v.to_string()));
        let lease = check_leases(&self.lease_events)
            .into_iter()
            .map(|v| ("lease", v.to_string()));
        watch
            .chain(lease)
            .map(|(check, evidence)| BrokenEvidence {
                check: check.to_string(),
                evidence,
            })
            .collect()
    }
}

fn write_line(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}
