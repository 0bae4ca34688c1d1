//! Timing the checker on porcupine's peer data (vendored under
//! `sim/checker/tests/data/porcupine`, see its `FORMAT.md`), so that its
//! speed can be compared with porcupine's on the same histories and tracked
//! over time.
//!
//! Each file is read, parsed and checked `runs` times and the fastest run
//! counts: the others measure the machine's noise, not the checker. Parsing
//! is timed too, as porcupine's tests do. The kv logs are checked twice:
//! split by key, and as one history over the whole map.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::porcupine::{check_kv_log, read_jepsen_etcd, read_kv, Register};
use crate::search::{search, Search};

/// Where the repository keeps porcupine's test data (its logs, `EXPECTED.tsv`,
/// `FORMAT.md` and porcupine's MIT licence), as copied from porcupine's
/// `test_data/` at the commit `FORMAT.md` names.
pub const PORCUPINE_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/porcupine");

/// Which model a peer-data file is checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerModel {
    /// A Jepsen etcd log, one register.
    Etcd,
    /// A kv log, a map of strings.
    Kv,
}

/// A row of `EXPECTED.tsv`: a file and the verdict porcupine's tests expect.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// The path, relative to the peer-data folder.
    pub path: String,
    /// The model.
    pub model: PeerModel,
    /// Whether the history is linearizable.
    pub linearizable: bool,
}

/// Reads `EXPECTED.tsv` in `dir`.
pub fn expectations(dir: &Path) -> Result<Vec<Expectation>, String> {
    let path = dir.join("EXPECTED.tsv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .skip(1)
        .enumerate()
        .map(|(n, line)| {
            let bad = || format!("{}: line {}: {line:?}", path.display(), n + 2);
            let cols: Vec<&str> = line.split('\t').collect();
            let [path, model, verdict, ..] = cols[..] else {
                return Err(bad());
            };
            Ok(Expectation {
                path: path.to_string(),
                model: match model {
                    "etcd" => PeerModel::Etcd,
                    "kv" => PeerModel::Kv,
                    _ => return Err(bad()),
                },
                linearizable: match verdict {
                    "ok" => true,
                    "illegal" => false,
                    _ => return Err(bad()),
                },
            })
        })
        .collect()
}

/// Parses and checks one peer-data history; `split` checks a kv log key
/// by key (an etcd log has one key).
pub fn check_peer_text(
    model: PeerModel,
    text: &str,
    split: bool,
    deadline: Option<Instant>,
) -> Result<Search, String> {
    match model {
        PeerModel::Etcd => {
            let ops = read_jepsen_etcd(text).map_err(|e| e.to_string())?;
            Ok(search(&Register, &ops, deadline))
        }
        PeerModel::Kv => {
            let (model, ops) = read_kv(text).map_err(|e| e.to_string())?;
            Ok(check_kv_log(&model, &ops, split, deadline))
        }
    }
}

/// One file's result.
#[derive(Debug, Clone)]
pub struct FileTime {
    /// The file and its expected verdict.
    pub expected: Expectation,
    /// What the checker said (on the last run).
    pub found: Search,
    /// The fastest run.
    pub fastest: Duration,
}

impl FileTime {
    /// Whether the checker's verdict is the expected one.
    pub fn agrees(&self) -> bool {
        match self.found {
            Search::Linearizable => self.expected.linearizable,
            Search::NotLinearizable { .. } => !self.expected.linearizable,
            Search::TimedOut | Search::OutOfSteps => false,
        }
    }
}

/// A named group of files, timed the same way.
#[derive(Debug, Clone)]
pub struct Group {
    /// What was timed, e.g. "kv split".
    pub name: &'static str,
    /// Each file.
    pub files: Vec<FileTime>,
}

impl Group {
    /// The sum of the files' fastest runs.
    pub fn total(&self) -> Duration {
        self.files.iter().map(|f| f.fastest).sum()
    }
}

/// The timings of every group.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// How many runs each file had.
    pub runs: usize,
    /// etcd logs, kv split by key, kv as one history.
    pub groups: Vec<Group>,
}

impl BenchReport {
    /// The files whose verdict is not the expected one.
    pub fn disagreements(&self) -> Vec<&FileTime> {
        self.groups
            .iter()
            .flat_map(|g| &g.files)
            .filter(|f| !f.agrees())
            .collect()
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        for group in &self.groups {
            for file in &group.files {
                writeln!(
                    f,
                    "{:<11} {:<22} {:>10.3} ms  expected {:<7} {}{:?}",
                    group.name,
                    file.expected.path,
                    ms(file.fastest),
                    if file.expected.linearizable {
                        "ok"
                    } else {
                        "illegal"
                    },
                    if file.agrees() { "" } else { "DISAGREES: " },
                    file.found,
                )?;
            }
        }
        for group in &self.groups {
            writeln!(
                f,
                "total {:<11} {:>9.3} ms over {} files (fastest of {})",
                group.name,
                ms(group.total()),
                group.files.len(),
                self.runs
            )?;
        }
        Ok(())
    }
}

/// Times every file of `EXPECTED.tsv` in `dir`: the etcd logs, the kv logs
/// split by key, and the kv logs unsplit. Each check gets `timeout`.
pub fn peer_bench(dir: &Path, runs: usize, timeout: Duration) -> Result<BenchReport, String> {
    let rows = expectations(dir)?;
    let of = |model: PeerModel| rows.iter().filter(move |r| r.model == model);
    let groups = vec![
        time_group("etcd", of(PeerModel::Etcd), dir, runs, true, timeout)?,
        time_group("kv split", of(PeerModel::Kv), dir, runs, true, timeout)?,
        time_group("kv unsplit", of(PeerModel::Kv), dir, runs, false, timeout)?,
    ];
    Ok(BenchReport { runs, groups })
}

fn time_group<'a>(
    name: &'static str,
    rows: impl Iterator<Item = &'a Expectation>,
    dir: &Path,
    runs: usize,
    split: bool,
    timeout: Duration,
) -> Result<Group, String> {
    let files = rows
        .map(|row| time_file(row, &dir.join(&row.path), runs, split, timeout))
        .collect::<Result<_, _>>()?;
    Ok(Group { name, files })
}

fn time_file(
    row: &Expectation,
    path: &PathBuf,
    runs: usize,
    split: bool,
    timeout: Duration,
) -> Result<FileTime, String> {
    let located = |e: &dyn fmt::Display| format!("{}: {e}", path.display());
    let mut fastest = Duration::MAX;
    let mut found = Search::TimedOut;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let text = std::fs::read_to_string(path).map_err(|e| located(&e))?;
        found = check_peer_text(row.model, &text, split, Some(start + timeout))
            .map_err(|e| located(&e))?;
        fastest = fastest.min(start.elapsed());
    }
    Ok(FileTime {
        expected: row.clone(),
        found,
        fastest,
    })
}

/// The process's peak resident memory in KiB (Linux's `VmHWM`), if known.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
