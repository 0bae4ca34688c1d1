//! The native history format: JSON lines.
//!
//! The first line is a header, `{"etcd_sim_history":1,"faults":[...]}`;
//! every further line is one [`Operation`](crate::Operation) as JSON, in
//! invocation order. Line-oriented, so a history can be streamed, diffed
//! and cut with ordinary tools.

use std::fmt;
use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::history::{FaultBand, History, Operation, Outcome};

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
        serde_json::to_writer(&mut *out, &header)?;
        out.write_all(b"\n")?;
        for op in &self.operations {
            serde_json::to_writer(&mut *out, op)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Reads a history written by [`History::write_jsonl`].
    pub fn read_jsonl(input: impl BufRead) -> Result<History, ParseError> {
        let mut history = History::default();
        for (n, line) in input.lines().enumerate() {
            let line = line.map_err(|e| ParseError {
                line: n + 1,
                reason: e.to_string(),
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |e: serde_json::Error| ParseError {
                line: n + 1,
                reason: e.to_string(),
            };
            if n == 0 {
                let header: Header = serde_json::from_str(&line).map_err(|e| ParseError {
                    line: 1,
                    reason: format!("not an etcd-sim history header: {e}"),
                })?;
                history.faults = header.faults;
                continue;
            }
            let op = serde_json::from_str::<Operation>(&line).map_err(bad)?;
            if let Outcome::Ok(response) = &op.outcome {
                if let Some(reason) = op.request.mismatch(response) {
                    return Err(ParseError {
                        line: n + 1,
                        reason,
                    });
                }
            }
            history.operations.push(op);
        }
        Ok(history)
    }
}
