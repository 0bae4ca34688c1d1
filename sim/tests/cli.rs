//! The `etcd-sim` command as a user meets it: what a campaign prints (and
//! keeps off stderr), and how the tool behaves when its reader goes away.
#![cfg(madsim)]

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};

use etcd_sim_checker::bench::PORCUPINE_DATA;

fn etcd_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_etcd-sim"))
        .args(args)
        .output()
        .unwrap()
}

/// Every crash point makes a member panic, and madsim notes each panic it
/// catches on stderr; the campaign keeps those expected notes off it.
#[test]
fn a_clean_campaign_with_crashes_writes_nothing_to_stderr() {
    let out = etcd_sim(&[
        "run",
        "--seeds",
        "0..12",
        "--faults",
        "crash-point",
        "--jobs",
        "2",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("faults: crash-point "),
        "crash points fired: {stdout}"
    );
    assert_eq!(stderr, "", "stderr of a clean campaign");
    assert!(stdout.contains("failing seeds: none"), "{stdout}");
    assert!(stdout.contains("slowest seed: "), "{stdout}");
}

/// A campaign that finds failures ends with a summary listing each failing
/// seed with the command that replays it, and says where the JSON went.
#[test]
fn a_failing_campaign_lists_its_seeds_and_how_to_replay_them() {
    let dir = tempdir("summary");
    let json = dir.join("results.json");
    let out = etcd_sim(&[
        "run",
        "--seeds",
        "0..10",
        "--bug",
        "stale-read",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let summary = &stdout[stdout.find("failing seeds (").expect("a failing list")..];
    let listed = summary
        .lines()
        .filter(|l| l.trim_start().starts_with("seed "))
        .collect::<Vec<_>>();
    assert!(!listed.is_empty(), "{summary}");
    for line in &listed {
        assert!(
            line.contains("— reproduce: etcd-sim reproduce --seed ")
                && line.ends_with("--bug stale-read"),
            "{line}"
        );
    }
    assert!(
        summary.contains(&format!("results: {}", json.display())),
        "{summary}"
    );
    let report = std::fs::read_to_string(&json).unwrap();
    assert_eq!(
        report
            .matches("\"reproduce\": \"etcd-sim reproduce --seed")
            .count(),
        listed.len(),
        "the JSON report carries the same commands"
    );
    // The campaign's page, from the report, against a clean campaign.
    let clean = dir.join("clean.json");
    let out = etcd_sim(&["run", "--seeds", "0..10", "--json", clean.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let page = dir.join("campaign.html");
    let (json, clean, page_path) = (
        json.to_str().unwrap(),
        clean.to_str().unwrap(),
        page.to_str().unwrap(),
    );
    let out = etcd_sim(&["merge", json, "--html", page_path, "--previous", clean]);
    assert_eq!(out.status.code(), Some(1), "the merged campaign failed");
    let page = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        page.matches("<a href=\"reports/seed-").count(),
        listed.len(),
        "a report link per failing seed"
    );
    assert!(
        page.contains("<td>not-linearizable</td><td class=\"n\">")
            && page.contains("<td class=\"n worse\">0</td>"),
        "the previous campaign had none"
    );
}

/// The summary measures availability and names the paths no seed reached;
/// the JSON carries the counts; `--require-coverage` fails a campaign that
/// left a required path unreached (a campaign without faults reaches none
/// of the fault kinds).
#[test]
fn a_campaign_reports_availability_and_the_paths_it_never_reached() {
    let dir = tempdir("coverage");
    let json = dir.join("results.json");
    let out = etcd_sim(&[
        "run",
        "--seeds",
        "0..3",
        "--faults",
        "kill",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 stuck, 0 quiet"), "{stdout}");
    // 5 clients x 30 turns; a turn may issue more than one operation (a
    // paginated list, a compaction and the reads racing it).
    let chaos_ops: usize = stdout
        .split("% of ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an availability line: {stdout}"));
    assert!(
        stdout.contains("chaos operations succeeded") && chaos_ops >= 450,
        "{stdout}"
    );
    assert!(
        stdout.contains("recovery after the last fault median"),
        "{stdout}"
    );
    assert!(
        stdout.contains("availability by fault (ops succeeded while it was on): kill "),
        "{stdout}"
    );
    let coverage = stdout
        .lines()
        .find(|l| l.contains("coverage: "))
        .expect("a coverage line");
    assert!(
        coverage.contains("fault:partition"),
        "only kill was injected: {coverage}"
    );
    assert!(
        !coverage.contains("fault:kill,"),
        "kill was injected: {coverage}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["coverage"]["fault:kill"].as_u64().unwrap() > 0);
    assert!(report["coverage"]["site:client-failover"].as_u64().unwrap() > 0);
    let never: Vec<&str> = report["never_fired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(never.contains(&"fault:partition") && !never.contains(&"fault:kill"));
    // Coincidences: only kill was injected, so no pair with a partition;
    // the JSON's counted pairs and never_coincided are disjoint.
    assert!(
        stdout.contains("coincidences (two events within 1 s): "),
        "{stdout}"
    );
    let apart: Vec<&str> = report["never_coincided"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(apart.contains(&"pair:fault:kill+fault:partition"));
    let together: Vec<&String> = report["coverage"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("pair:"))
        .collect();
    assert!(!together.is_empty(), "kills meet elections");
    assert!(together.iter().all(|k| !apart.contains(&k.as_str())));
    assert!(report["results"][0]["availability"]["operations"].as_u64() >= Some(150));

    let gated = etcd_sim(&[
        "run",
        "--seeds",
        "0..1",
        "--faults",
        "none",
        "--require-coverage",
    ]);
    let stdout = String::from_utf8_lossy(&gated.stdout);
    assert_eq!(gated.status.code(), Some(4), "{stdout}");
    assert!(
        stdout.contains("required paths never reached: fault:kill-leader"),
        "{stdout}"
    );
}

/// An unwritable `--json` path is refused before any seed runs, so no
/// campaign's results are lost to it.
#[test]
fn an_unwritable_report_path_is_refused_up_front() {
    let out = etcd_sim(&[
        "run",
        "--seeds",
        "0..1000000",
        "--json",
        "/nonexistent/dir/r.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: cannot write /nonexistent/dir/r.json"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no seed ran");
    let out = etcd_sim(&[
        "run",
        "--seeds",
        "0..1000000",
        "--html-summary",
        "/nonexistent/dir/c.html",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no seed ran");
    // merge: a report that is not one, named.
    let not_a_report = tempdir("merge").join("not-a-report.json");
    std::fs::write(&not_a_report, "{}").unwrap();
    let out = etcd_sim(&["merge", not_a_report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: {}: not an etcd-sim campaign report",
            not_a_report.display()
        )),
        "{stderr}"
    );
}

/// `etcd-sim check FILE | head -1`: when the reader is gone the tool ends
/// as `cat` would (SIGPIPE), without a panic.
#[test]
fn check_ends_quietly_when_its_reader_goes_away() {
    let file = format!("{PORCUPINE_DATA}/kv/c50-bad.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_etcd-sim"))
        .args(["check", "--format", "porcupine-kv", &file])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?} {stderr}",
        out.status
    );
}

/// `bench load --sim` drives a simulated cluster with the same load
/// generator that measures real endpoints, and prints etcd benchmark's
/// summary; bad numbers are refused as usage errors.
#[test]
fn bench_load_measures_a_simulated_cluster_and_refuses_bad_input() {
    let out = etcd_sim(&[
        "bench",
        "load",
        "--sim",
        "--total",
        "300",
        "--clients",
        "4",
        "--conns",
        "2",
        "--key-space",
        "50",
        "--op",
        "txn-put",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("300 x txn-put, 4 clients over 2 connections"),
        "{stdout}"
    );
    let requests: f64 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .expect("a throughput line")
        .trim()
        .parse()
        .unwrap();
    assert!(requests > 0.0, "{stdout}");
    assert!(stdout.contains("99% in "), "{stdout}");
    assert!(
        !stdout.contains("Errors"),
        "no request failed on a healthy cluster: {stdout}"
    );

    for bad in [
        &["bench", "load", "--sim", "--clients", "0"][..],
        &["bench", "load", "--sim", "--key-size", "4"],
        &["bench", "load", "--sim", "--op", "get"],
        &["bench", "load"],
        &["bench", "load", "--endpoints", "127.0.0.1:2379"],
    ] {
        let out = etcd_sim(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(!out.stderr.is_empty(), "{bad:?} says why");
    }
}

/// A run saved by `reproduce --history` carries what its watchers and lease
/// clients saw, and `check` judges it as `reproduce` did: a lease or watch
/// guarantee broken in a linearizable history fails the check (exit 1) with
/// the same evidence, and the same history without those log lines passes.
#[test]
fn check_judges_a_saved_runs_watch_and_lease_logs() {
    let dir = tempdir("saved-run");
    for (bug, check) in [
        ("lease-expires-on-follower-clock", "lease"),
        ("etcd-18089", "watch"),
    ] {
        let saved = dir.join(format!("{bug}.jsonl"));
        let broke = format!("linearizable history, but a check broke: {check}: ");
        let evidence = (0..100)
            .find_map(|seed| {
                let out = etcd_sim(&[
                    "reproduce",
                    "--seed",
                    &seed.to_string(),
                    "--bug",
                    bug,
                    "--history",
                    saved.to_str().unwrap(),
                ]);
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                let verdict = stdout.lines().find_map(|l| l.strip_prefix("verdict: "))?;
                verdict.strip_prefix(&broke).map(str::to_string)
            })
            .unwrap_or_else(|| panic!("{bug}: no seed of 0..100 broke the {check} check"));

        let out = etcd_sim(&["check", saved.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{bug}: {stdout}");
        assert!(
            stdout.starts_with(&format!("{broke}{evidence}")),
            "{bug}: check must find what reproduce found ({evidence}), said {stdout}"
        );

        let text = std::fs::read_to_string(&saved).unwrap();
        let log_line =
            |l: &&str| l.starts_with(r#"{"watch_log":"#) || l.starts_with(r#"{"lease_event":"#);
        assert!(
            text.lines().any(|l| log_line(&l)),
            "{bug}: the run's logs are saved"
        );
        let bare: String = text
            .lines()
            .filter(|l| !log_line(l))
            .map(|l| format!("{l}\n"))
            .collect();
        let history = dir.join(format!("{bug}-history-only.jsonl"));
        std::fs::write(&history, bare).unwrap();
        let out = etcd_sim(&["check", history.to_str().unwrap()]);
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).trim()
            ),
            (Some(0), "linearizable"),
            "{bug}: without its logs the history itself is linearizable"
        );
    }
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("etcd-sim-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
