//! The HTML report as a browser sees it: headless Chromium (Debian package
//! `chromium`) loads the page `reproduce --html` wrote, and the rendered
//! DOM has one bar per operation, with the failing ones marked.
//!
//! Skipped when chromium is missing, unless `ETCD_SIM_REQUIRE_CHROMIUM=1`
//! (set by CI), where it fails.
#![cfg(madsim)]

use std::process::Command;

fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok());
    if found.is_none() && std::env::var("ETCD_SIM_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1") {
        panic!("chromium is not installed (apt-get install chromium) but CI requires it");
    }
    found
}

#[test]
fn the_rendered_report_shows_every_operation_and_marks_the_failure() {
    let Some(browser) = chromium() else {
        eprintln!("skipped: chromium not on PATH");
        return;
    };
    let dir = std::env::temp_dir().join(format!("etcd-sim-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (html, history) = (dir.join("report.html"), dir.join("history.jsonl"));
    // Find a seed where the stale-read bug shows, then render that run.
    let campaign = Command::new(env!("CARGO_BIN_EXE_etcd-sim"))
        .args([
            "run",
            "--seeds",
            "0..20",
            "--faults",
            "all",
            "--bug",
            "stale-read",
        ])
        .output()
        .unwrap();
    let campaign = String::from_utf8_lossy(&campaign.stdout);
    let seed = campaign
        .lines()
        .find_map(|l| l.strip_prefix("seed ")?.split(':').next())
        .expect("stale-read is caught within 20 seeds")
        .to_string();
    let status = Command::new(env!("CARGO_BIN_EXE_etcd-sim"))
        .args([
            "reproduce",
            "--seed",
            &seed,
            "--faults",
            "all",
            "--bug",
            "stale-read",
        ])
        .arg("--html")
        .arg(&html)
        .arg("--history")
        .arg(&history)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "the stale-read seed is a violation");
    let operations = std::fs::read_to_string(&history).unwrap().lines().count() - 1;

    let dom = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("<svg"),
        "chromium rendered the page: {dom:.200}"
    );
    let bars = dom.matches(r#"class="op "#).count();
    assert_eq!(bars, operations, "one bar per operation");
    assert!(
        dom.matches(" failing\"").count() >= 1,
        "the evidence is marked"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
