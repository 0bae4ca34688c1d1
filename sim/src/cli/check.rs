//! `etcd-sim check FILE`: decide whether a recorded history is linearizable
//! and, for a run saved by `reproduce --history`, whether its watchers and
//! lease clients saw what etcd guarantees.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use etcd_sim_checker::export::porcupine_kv;
use etcd_sim_checker::{check_file, Format, History, Verdict};

use super::{EXIT_OK, EXIT_UNDECIDED, EXIT_USAGE, EXIT_VIOLATION};

/// `etcd-sim check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The history file (a run saved by `reproduce --history` also carries
    /// its watch and lease logs, which are judged too).
    file: PathBuf,
    /// Its format: native (etcd-sim JSON lines), porcupine-etcd or
    /// porcupine-kv. One difference from porcupine's own reader: a kv get
    /// that never returned is dropped (it observed nothing), where
    /// porcupine reads it as returning "" at the end of the history.
    #[arg(long, default_value = "native", value_parser = parse_format)]
    format: Format,
    /// Write an HTML view of the history (and of the failure, if any) here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Give up after this many seconds (verdict `unknown`, exit 3).
    #[arg(long)]
    timeout: Option<f64>,
    /// Also write the history in porcupine's kv log format here, to check
    /// or time the same history with porcupine (native histories of puts,
    /// deletes, linearizable gets and compactions only; see docs/checker.md).
    #[arg(long)]
    porcupine_out: Option<PathBuf>,
}

/// Writes the native history at `file` in porcupine's kv format to `out`.
fn export_porcupine(file: &Path, format: Format, out: &Path) -> Result<(), String> {
    if format != Format::Native {
        return Err("--porcupine-out needs a native history (--format native)".to_string());
    }
    let located = |e: &dyn std::fmt::Display| format!("{}: {e}", file.display());
    let text = std::fs::read(file).map_err(|e| located(&e))?;
    let history = History::read_jsonl(&text[..]).map_err(|e| located(&e))?;
    let log = porcupine_kv(&history).map_err(|e| located(&e))?;
    std::fs::write(out, log).map_err(|e| format!("{}: {e}", out.display()))
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse::<Format>().map_err(|e| e.to_string())
}

/// Prints `linearizable`, `not linearizable`, `unknown`, or, when the
/// history is linearizable but a watch or lease guarantee is not,
/// `linearizable history, but a check broke: …` (exit 1), as `reproduce`
/// says of the same run.
pub fn run(args: CheckArgs) -> u8 {
    let timeout = args.timeout.map(Duration::from_secs_f64);
    if let Some(out) = &args.porcupine_out {
        if let Err(e) = export_porcupine(&args.file, args.format, out) {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    }
    let checked = match check_file(&args.file, args.format, args.html.as_deref(), timeout) {
        Ok(checked) => checked,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let report = checked.report;
    match (report.verdict, checked.broken.first()) {
        (Verdict::NotLinearizable, _) => {
            println!("not linearizable\n{report}");
            EXIT_VIOLATION
        }
        (Verdict::Linearizable, Some(first)) => {
            println!(
                "linearizable history, but a check broke: {}: {}",
                first.check, first.evidence
            );
            for more in &checked.broken[1..] {
                println!("also broken: {}: {}", more.check, more.evidence);
            }
            EXIT_VIOLATION
        }
        (Verdict::Linearizable, None) => {
            println!("linearizable");
            EXIT_OK
        }
        (Verdict::Unknown, _) => {
            println!("unknown");
            EXIT_UNDECIDED
        }
    }
}
