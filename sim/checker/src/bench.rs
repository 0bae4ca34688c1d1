//! Timing the checker on porcupine's peer data (`etcd-sim bench check`):
//! per file, fastest of N runs, with the verdict checked against
//! `EXPECTED.tsv`, and totals per group to set beside porcupine's figures.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::porcupine::{check_kv_log, read_jepsen_etcd, read_kv, Register};
use crate::search::{search, Search};

/// How one file fared.
#[derive(Debug, Clone)]
pub struct FileTime {
    /// The file, relative to the peer-data folder, and how it was checked.
    pub name: String,
    /// The fastest run.
    pub best: Duration,
    /// The verdict of the last run.
    pub result: Search,
    /// Whether the verdict is the expected one.
    pub agrees: bool,
}

/// Every file's time, in `EXPECTED.tsv`'s order.
#[derive(Debug, Clone, Default)]
pub struct BenchReport {
    /// One row per file and way of checking it.
    pub files: Vec<FileTime>,
    /// Runs per file.
    pub runs: usize,
}

/// The groups whose totals the report sums: name, file prefix, suffix.
const GROUPS: [(&str, &str, &str); 3] = [
    ("jepsen etcd logs", "jepsen/", ""),
    ("kv logs, split by key", "kv/", " split"),
    ("kv logs, unsplit", "kv/", " unsplit"),
];

impl BenchReport {
    /// The summed best time of the rows whose name starts with `prefix`
    /// and ends with `suffix`.
    pub fn total(&self, prefix: &str, suffix: &str) -> Duration {
        self.files
            .iter()
            .filter(|f| f.name.starts_with(prefix) && f.name.ends_with(suffix))
            .map(|f| f.best)
            .sum()
    }

    /// Whether every verdict agreed with `EXPECTED.tsv`.
    pub fn all_agree(&self) -> bool {
        self.files.iter().all(|f| f.agrees)
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            let verdict = match file.result {
                Search::Linearizable => "linearizable",
                Search::NotLinearizable { .. } => "not linearizable",
                Search::TimedOut | Search::OutOfSteps => "unknown (gave up)",
            };
            let mark = if file.agrees { "" } else { "  <-- DISAGREES" };
            writeln!(
                f,
                "{:<32} {:>10.3} ms  {verdict}{mark}",
                file.name,
                file.best.as_secs_f64() * 1e3
            )?;
        }
        for (name, prefix, suffix) in GROUPS {
            writeln!(
                f,
                "total {name:<24} {:>10.1} ms (fastest of {})",
                self.total(prefix, suffix).as_secs_f64() * 1e3,
                self.runs
            )?;
        }
        Ok(())
    }
}

/// Checks every file of `dir/EXPECTED.tsv` `runs` times (kv logs both
/// split and unsplit), giving each check `timeout`.
pub fn peer_bench(dir: &Path, runs: usize, timeout: Duration) -> Result<BenchReport, String> {
    let table = dir.join("EXPECTED.tsv");
    let expected =
        std::fs::read_to_string(&table).map_err(|e| format!("{}: {e}", table.display()))?;
    let mut report = BenchReport {
        files: Vec::new(),
        runs,
    };
    for line in expected.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [path, model, verdict, ..] = cols[..] else {
            return Err(format!("{}: bad row {line:?}", table.display()));
        };
        let file = dir.join(path);
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let linearizable = verdict == "ok";
        let ways: &[Option<bool>] = if model == "kv" {
            &[Some(true), Some(false)]
        } else {
            &[None]
        };
        for &split in ways {
            let name = match split {
                None => path.to_string(),
                Some(true) => format!("{path} split"),
                Some(false) => format!("{path} unsplit"),
            };
            let mut best = Duration::MAX;
            let mut result = Search::TimedOut;
            for _ in 0..runs {
                let start = Instant::now();
                let deadline = Some(start + timeout);
                result = match split {
                    None => search(
                        &Register,
                        &read_jepsen_etcd(&text).map_err(|e| e.to_string())?,
                        deadline,
                    ),
                    Some(by_key) => {
                        let (keys, ops) = read_kv(&text).map_err(|e| e.to_string())?;
                        check_kv_log(&keys, ops, by_key, deadline)
                    }
                };
                best = best.min(start.elapsed());
                if result == Search::TimedOut {
                    break;
                }
            }
            let agrees = match result {
                Search::Linearizable => linearizable,
                Search::NotLinearizable { .. } => !linearizable,
                Search::TimedOut | Search::OutOfSteps => false,
            };
            report.files.push(FileTime {
                name,
                best,
                result,
                agrees,
            });
        }
    }
    Ok(report)
}

/// The process's peak resident memory in KiB (Linux's `VmHWM`), if known.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
