//! `etcd-sim run` and `etcd-sim reproduce`.

use std::io::IsTerminal;
use std::time::Instant;

use etcd_sim_checker::render_html;
use etcd_sim_checker::report::BrokenEvidence;
use etcd_sim_harness::campaign::regression::Regression;
use etcd_sim_harness::campaign::shrink::{shrink, ShrinkError};
use etcd_sim_harness::campaign::{page, required_coverage, Campaign, SeedResult, Summary};
use etcd_sim_harness::shape::schedule::Schedule;
use etcd_sim_harness::stderr_filter::StderrFilter;
use etcd_sim_harness::{run_seed, RunConfig, SeedVerdict};

use super::simulate_args::{MergeArgs, ReproduceArgs, RunArgs, ShapeArgs, ShapeKind};
use super::{EXIT_OK, EXIT_UNCOVERED, EXIT_UNDECIDED, EXIT_USAGE, EXIT_VIOLATION};

fn config(seed: u64, shape: &ShapeArgs) -> Result<RunConfig, String> {
    let mut config = match shape.shape {
        ShapeKind::Swarm => RunConfig::swarm(seed),
        ShapeKind::Fixed => RunConfig::new(seed),
    };
    config.nodes = shape.nodes.unwrap_or(config.nodes);
    config.clients = shape.clients.unwrap_or(config.clients);
    config.lease_clients = shape.lease_clients.unwrap_or(config.lease_clients);
    config.workload.ops_per_client = match (shape.ops, shape.duration) {
        (Some(ops), _) => ops,
        (None, Some(_)) => usize::MAX,
        (None, None) => config.workload.ops_per_client,
    };
    config.workload.duration = shape.duration;
    if let Some(mix) = &shape.mix {
        let mut knobs = config.knobs.clone();
        knobs.op_mix = mix.clone();
        config.set_knobs(knobs);
    }
    config.faults = shape.faults.clone().unwrap_or(config.faults);
    config.bugs = shape.bugs.iter().copied().collect();
    config.pre_vote = !shape.no_pre_vote;
    config.check_quorum = !shape.no_check_quorum;
    config.watchers = shape.watchers.unwrap_or(config.watchers);
    config.liveness = !shape.no_liveness;
    config.workload.traffic = shape.traffic.unwrap_or(config.workload.traffic);
    if config.nodes == 0 || config.nodes > 7 {
        return Err(format!("--nodes must be 1..=7, got {}", config.nodes));
    }
    if config.clients == 0 || config.clients > 200 {
        return Err(format!("--clients must be 1..=200, got {}", config.clients));
    }
    if config.lease_clients > 200 {
        let count = config.lease_clients;
        return Err(format!("--lease-clients must be 0..=200, got {count}"));
    }
    Ok(config)
}

/// The command line that replays `seed` with the same shape.
fn reproduce_command(seed: u64, shape: &ShapeArgs) -> String {
    let mut cmd = format!("etcd-sim reproduce --seed {seed}");
    if shape.shape == ShapeKind::Fixed {
        cmd += " --shape fixed";
    }
    if let Some(nodes) = shape.nodes {
        cmd += &format!(" --nodes {nodes}");
    }
    if let Some(clients) = shape.clients {
        cmd += &format!(" --clients {clients}");
    }
    if let Some(ops) = shape.ops {
        cmd += &format!(" --ops {ops}");
    }
    if let Some(duration) = shape.duration {
        cmd += &format!(" --duration {}", duration.as_secs());
    }
    if let Some(mix) = &shape.mix {
        cmd += &format!(" --mix {mix}");
    }
    if let Some(lease_clients) = shape.lease_clients {
        cmd += &format!(" --lease-clients {lease_clients}");
    }
    if let Some(faults) = &shape.faults {
        cmd += &format!(" --faults {faults}");
    }
    for bug in &shape.bugs {
        cmd += &format!(" --bug {bug}");
    }
    if shape.no_pre_vote {
        cmd += " --no-pre-vote";
    }
    if shape.no_check_quorum {
        cmd += " --no-check-quorum";
    }
    if let Some(watchers) = shape.watchers {
        cmd += &format!(" --watchers {watchers}");
    }
    if let Some(traffic) = shape.traffic {
        cmd += &format!(" --traffic {traffic}");
    }
    if shape.no_liveness {
        cmd += " --no-liveness";
    }
    cmd
}

/// Runs every seed of the range (or of this shard of it); prints failing
/// seeds as they are found, and a summary.
pub fn run(args: RunArgs) -> u8 {
    if let Err(e) = config(0, &args.shape) {
        eprintln!("error: {e}");
        return EXIT_USAGE;
    }
    // Found out now, not after the campaign: its results would be lost.
    for path in [&args.json, &args.html_summary].into_iter().flatten() {
        if let Err(e) = writable(path) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
    }
    let _quiet = StderrFilter::install();
    let (shard, shards) = args.shard;
    let seeds: Vec<u64> = args
        .seeds
        .clone()
        .filter(|seed| seed % shards == shard)
        .collect();
    let total = seeds.len();
    let progress = std::io::stderr().is_terminal();
    let started = Instant::now();
    let shape = args.shape.clone();
    let campaign = Campaign {
        seeds,
        jobs: args.jobs.max(1),
        check_determinism: args.check_determinism,
    };
    let mut failed = 0usize;
    let summary = campaign.run(
        |seed| config(seed, &shape).expect("checked above"),
        |done, result: &SeedResult| {
            if result.failed() {
                failed += 1;
                if progress {
                    eprint!("\r\x1b[K");
                }
                println!(
                    "seed {}: {} — reproduce: {}",
                    result.seed,
                    result.describe(),
                    reproduce_command(result.seed, &args.shape)
                );
            }
            if progress {
                let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
                let left = (total - done) as f64 / rate;
                eprint!(
                    "\r\x1b[K[{done}/{total}] failed {failed} | {rate:.1} seeds/s | ETA {}",
                    clock_time(left)
                );
            }
        },
    );
    if progress {
        eprint!("\r\x1b[K");
    }
    let mut summary = summary;
    for result in summary.results.iter_mut().filter(|r| r.failed()) {
        result.reproduce = Some(reproduce_command(result.seed, &args.shape));
    }
    println!("{summary}");
    if let Some(path) = &args.json {
        if let Err(e) = std::fs::write(path, summary.to_json()) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
        println!("  results: {}", path.display());
    }
    if let Some(path) = &args.html_summary {
        if let Err(e) = std::fs::write(path, page::render(&summary, None, "reports")) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
        println!("  campaign page: {}", path.display());
    }
    if let Some(dir) = &args.save_failures {
        let failing: Vec<u64> = summary.failures().map(|r| r.seed).collect();
        if let Err(e) = save_failures(dir, &failing, &args) {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    }
    if args.require_coverage {
        let missing = summary.never_fired(&required_coverage());
        if !missing.is_empty() {
            println!("required paths never reached: {}", missing.join(", "));
            let code = summary.exit_code();
            return if code == EXIT_OK {
                EXIT_UNCOVERED
            } else {
                code
            };
        }
    }
    summary.exit_code()
}

/// Shrinks each of the `failing` seeds and writes it to `dir` as a
/// regression file (`seed-N[-BUG...].json`) that expects the verdict it
/// gave.
fn save_failures(dir: &std::path::Path, failing: &[u64], args: &RunArgs) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for &seed in failing {
        let config = config(seed, &args.shape)?;
        let shrunk = match shrink(&config, args.shrink_runs, |_| {}) {
            Ok(shrunk) => shrunk,
            // A failure that does not replay (a nondeterministic seed) is
            // nothing to regress on.
            Err(e) => {
                println!("  seed {seed} not saved: {e}");
                continue;
            }
        };
        // What the saved (shrunk) schedule replays to, not the first run's
        // figures: a reader compares the file with its replay.
        let evidence = shrunk.verdict.evidence().map(|e| format!(": {e}"));
        let regression = Regression {
            expect: shrunk.verdict.class(),
            found: format!(
                "seed {seed}, shrunk in {} runs: {}{}",
                shrunk.runs,
                shrunk.verdict.class(),
                evidence.unwrap_or_default()
            ),
            schedule: shrunk.schedule,
        };
        let bugs: String = regression
            .schedule
            .bugs
            .iter()
            .map(|b| format!("-{b}"))
            .collect();
        let path = dir.join(format!("seed-{seed}{bugs}.json"));
        std::fs::write(&path, regression.to_json())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!(
            "  saved: {} (shrunk in {} runs; `cargo test --release --test suite regressions::` replays tests/regressions/)",
            path.display(),
            shrunk.runs
        );
    }
    Ok(())
}

/// `seconds` as a person reads a duration: `42s`, `3m05s`, `1h02m`.
fn clock_time(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// Joins campaign reports; prints the summary (failing seeds included).
pub fn merge(args: &MergeArgs) -> u8 {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| Summary::from_json(&text))
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let parts: Result<Vec<Summary>, String> = args.reports.iter().map(|p| read(p)).collect();
    let previous = args.previous.as_deref().map(read).transpose();
    let (parts, previous) = match (parts, previous) {
        (Ok(parts), Ok(previous)) => (parts, previous),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let summary = Summary::merge(parts);
    println!("{summary}");
    if let Some(path) = &args.html {
        let html = page::render(&summary, previous.as_ref(), &args.reports_dir);
        if let Err(e) = std::fs::write(path, html) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
        println!("  campaign page: {}", path.display());
    }
    summary.exit_code()
}

/// Whether `path` can be written (it is created if missing, never
/// truncated).
pub(super) fn writable(path: &std::path::Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(drop)
}

/// Replays one seed (or schedule file), shrinking it first if asked;
/// prints its trace hash and verdict and writes what was asked for.
pub fn reproduce(args: ReproduceArgs) -> u8 {
    let mut config = match reproduced_config(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let _quiet = StderrFilter::install();
    if args.shrink {
        match shrink_to_file(&config, &args) {
            Ok(shrunk) => config = shrunk,
            Err(code) => return code,
        }
    }
    let to_stdout = args.trace.as_deref() == Some(std::path::Path::new("-"));
    config.echo_trace = to_stdout;
    // The report's member lanes come from the members' own events.
    config.details = args.trace.is_some() || args.html.is_some();
    let outcome = run_seed(&config);
    let trace_file = args.trace.as_ref().filter(|_| !to_stdout);
    let written = trace_file
        .map(|path| (path, outcome.trace.lines().join("\n") + "\n"))
        .into_iter()
        .chain(args.history.as_ref().map(|path| {
            let mut jsonl = Vec::new();
            let run = outcome.saved_run();
            run.write_jsonl(&mut jsonl).expect("in memory");
            (path, String::from_utf8(jsonl).expect("JSON is UTF-8"))
        }))
        .chain(args.html.as_ref().map(|path| {
            let title = format!("etcd-sim seed {}", outcome.seed);
            let mut run = outcome.run_events.clone();
            run.broken = outcome
                .broken
                .iter()
                .map(|b| BrokenEvidence {
                    check: b.check.to_string(),
                    evidence: b.evidence.clone(),
                })
                .collect();
            let page = render_html(&outcome.history, &outcome.report, &run, &title);
            (path, page)
        }));
    for (path, text) in written {
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
    }
    println!("seed: {}", outcome.seed);
    println!("operations: {}", outcome.history.operations.len());
    println!("faults: {}", outcome.plan.len());
    println!("simulated: {:.3}s", outcome.simulated.as_secs_f64());
    println!("trace-hash: {:016x}", outcome.trace.hash());
    match outcome.verdict() {
        SeedVerdict::Linearizable => {
            println!("verdict: linearizable");
            EXIT_OK
        }
        SeedVerdict::NotLinearizable => {
            println!("verdict: not linearizable\n{}", outcome.report);
            EXIT_VIOLATION
        }
        SeedVerdict::Panicked(message) => {
            println!("verdict: the simulation panicked: {message}");
            EXIT_VIOLATION
        }
        SeedVerdict::Broken(evidence) => {
            println!("verdict: linearizable history, but a check broke: {evidence}");
            EXIT_VIOLATION
        }
        SeedVerdict::Stuck(evidence) => {
            println!("verdict: stuck: {evidence}");
            EXIT_VIOLATION
        }
        SeedVerdict::Quiet(figures) => {
            println!("verdict: quiet: {figures}");
            EXIT_VIOLATION
        }
        SeedVerdict::Undecided => {
            println!("verdict: unknown (the checker gave up: its time or memory bound)");
            EXIT_UNDECIDED
        }
    }
}

/// The run `reproduce` replays: a schedule file, or a seed and shape.
fn reproduced_config(args: &ReproduceArgs) -> Result<RunConfig, String> {
    let Some(path) = &args.schedule else {
        let seed = args.seed.expect("clap requires --seed without --schedule");
        return config(seed, &args.shape);
    };
    let shape = &args.shape;
    let shaped = shape.nodes.is_some()
        || shape.clients.is_some()
        || shape.ops.is_some()
        || shape.duration.is_some()
        || shape.mix.is_some()
        || shape.lease_clients.is_some()
        || shape.faults.is_some()
        || !shape.bugs.is_empty()
        || shape.no_pre_vote
        || shape.no_check_quorum
        || shape.watchers.is_some()
        || shape.traffic.is_some()
        || shape.shape == ShapeKind::Fixed;
    if shaped {
        return Err(
            "--schedule fixes the run's shape; drop --shape, --nodes, --clients, --ops, \
             --duration, --mix, --faults, --bug, --traffic and --no-*"
                .to_string(),
        );
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // A regression file holds a schedule too.
    let schedule = match Regression::from_json(&text) {
        Ok(regression) => Ok(regression.schedule),
        Err(_) => Schedule::from_json(&text),
    };
    schedule
        .and_then(|schedule| RunConfig::from_schedule(&schedule))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Shrinks `config`'s failing run, writes the schedule file, and returns
/// the shrunk run; or the exit code to stop with.
fn shrink_to_file(config: &RunConfig, args: &ReproduceArgs) -> Result<RunConfig, u8> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| format!("seed-{}.schedule.json", config.seed).into());
    eprintln!("shrink: replaying seed {}", config.seed);
    let shrunk = shrink(config, args.shrink_runs, |smaller| {
        eprintln!("shrink: still fails with {smaller}");
    });
    let shrunk = match shrunk {
        Ok(shrunk) => shrunk,
        Err(e @ ShrinkError::Passes(_)) => {
            eprintln!("shrink: {e}");
            return Err(EXIT_OK);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Err(EXIT_USAGE);
        }
    };
    println!("shrunk in {} runs ({:?})", shrunk.runs, shrunk.verdict);
    println!("  before: {}", shrunk.original);
    println!("  after:  {}", shrunk.schedule);
    for step in &shrunk.schedule.plan {
        println!("    {step}");
    }
    if let Err(e) = std::fs::write(&out, shrunk.schedule.to_json()) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return Err(EXIT_USAGE);
    }
    println!(
        "schedule: {} (replay: etcd-sim reproduce --schedule {})",
        out.display(),
        out.display()
    );
    RunConfig::from_schedule(&shrunk.schedule).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_USAGE
    })
}
