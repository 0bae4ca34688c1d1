//! The HTML report as a browser sees it: headless Chromium (Debian package
//! `chromium`) loads the page `reproduce --html` (or `check --html`) wrote
//! and runs its script; the tests read the rendered DOM — the time axis,
//! the fault labels, the member lanes, the explanation — and save
//! screenshots under `target/html-report/` for a person to look at.
//!
//! Skipped when chromium is missing, unless `ETCD_SIM_REQUIRE_CHROMIUM=1`
//! (set by CI), where it fails.
#![cfg(madsim)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use etcd_sim_checker::{
    FaultBand, History, KeyValue, Operation, Outcome, Request, Response, ServedBy,
};

fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok());
    if found.is_none() && std::env::var("ETCD_SIM_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1") {
        panic!("chromium is not installed (apt-get install chromium) but CI requires it");
    }
    found
}

/// A scratch directory of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("etcd-sim-html-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Where screenshots go: `target/html-report/`, kept after the test.
fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/html-report");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs headless chromium on `page` with `args`; returns its stdout and
/// how long it took.
fn browse(browser: &str, profile: &Path, page: &str, args: &[&str]) -> (String, Duration) {
    let started = Instant::now();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1600,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(page)
        .output()
        .unwrap();
    let took = started.elapsed();
    (String::from_utf8_lossy(&out.stdout).into_owned(), took)
}

/// The page's elements: the DOM before its scripts (whose source
/// mentions the same class names).
fn body(dom: &str) -> &str {
    &dom[..dom.find("<script").unwrap_or(dom.len())]
}

/// The text of every element with class `class` in `dom`.
fn texts(dom: &str, class: &str) -> Vec<String> {
    let dom = body(dom);
    let marker = format!("class=\"{class}\"");
    dom.match_indices(&marker)
        .filter_map(|(at, _)| {
            let rest = &dom[at..];
            let start = rest.find('>')? + 1;
            let end = rest[start..].find("</div>")? + start;
            Some(strip_tags(&rest[start..end]))
        })
        .collect()
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&gt;", ">")
        .replace("&lt;", "<")
}

/// The content of the element with id `id`, tags stripped.
fn element(dom: &str, id: &str) -> String {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let rest = &dom[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest.find("</section>").or(rest.find("</p>")).unwrap();
    strip_tags(&rest[start..end])
}

#[test]
fn the_report_of_a_stale_read_shows_the_run_and_explains_the_violation() {
    let Some(browser) = chromium() else {
        eprintln!("skipped: chromium not on PATH");
        return;
    };
    let dir = scratch("stale");
    let (html, history) = (dir.join("report.html"), dir.join("history.jsonl"));
    // Find a seed where the stale-read bug shows, then render that run;
    // three members, whatever size the swarm would draw for the seed.
    let campaign = Command::new(env!("CARGO_BIN_EXE_etcd-sim"))
        .args([
            "run",
            "--seeds",
            "0..20",
            "--nodes",
            "3",
            "--bug",
            "stale-read",
        ])
        .output()
        .unwrap();
    let campaign = String::from_utf8_lossy(&campaign.stdout);
    let seed = campaign
        .lines()
        .find(|l| l.contains("NOT LINEARIZABLE"))
        .and_then(|l| l.strip_prefix("seed ")?.split(':').next())
        .expect("stale-read is caught within 20 seeds")
        .to_string();
    let status = Command::new(env!("CARGO_BIN_EXE_etcd-sim"))
        .args([
            "reproduce",
            "--seed",
            &seed,
            "--nodes",
            "3",
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
    let recorded =
        History::read_jsonl(std::fs::read_to_string(&history).unwrap().as_bytes()).unwrap();
    let answered = recorded
        .operations
        .iter()
        .filter(|op| matches!(op.outcome, Outcome::Ok(_)));
    assert!(
        answered.clone().all(|op| op.served_by.is_some()),
        "every answered operation names the member that answered it"
    );

    let page = format!("file://{}", html.display());
    let (dom, _) = browse(browser, &dir.join("profile"), &page, &["--dump-dom"]);
    let operations = recorded.operations.len();
    assert!(
        dom.contains(&format!("rendered {operations} operations")),
        "the script ran to the end: {}",
        &dom[dom.len().saturating_sub(300)..]
    );
    // A time axis in simulated seconds.
    let ticks = texts(&dom, "tick");
    assert!(ticks.len() >= 3, "time axis labels: {ticks:?}");
    assert!(
        ticks
            .iter()
            .all(|t| t.ends_with('s') && t[..t.len() - 1].parse::<f64>().is_ok()),
        "{ticks:?}"
    );
    // Fault bands labelled with the fault and its victims.
    let faults = texts(&dom, "fault-label");
    assert!(!faults.is_empty(), "fault labels");
    for label in &faults {
        assert!(
            recorded
                .faults
                .iter()
                .any(|f| *label == format!("{}: {}", f.name, f.detail)),
            "{label:?} is one of the run's faults"
        );
    }
    // One lane per member: the three it started with, then any a
    // grow-shrink fault added in a spare slot, each by its name.
    let members = texts(&dom, "lane member");
    assert_eq!(members[..3], ["n1 member", "n2 member", "n3 member"]);
    assert!(
        members[3..]
            .iter()
            .all(|m| ["n4 member", "n5 member"].contains(&m.as_str())),
        "{members:?}"
    );
    // The violation in words, with links to its operations.
    // A stale read is refuted by the search (no order of the operations
    // explains it), or earlier by a revision rule (a read whose header
    // revision is below one already answered).
    let why = element(&dom, "explanation");
    let by_search = why.contains("should have returned") || why.contains("No order of these");
    let by_rule = why.contains("revision rules break");
    assert!(by_search || by_rule, "{why}");
    assert!(dom.contains(r#"class="opref""#), "operations are links");
    if by_search {
        assert!(!dom.contains("<button id=\"jump\" disabled"));
        assert!(element(&dom, "prefix").contains("The search placed"));
    }

    // Screenshots: the whole run, and the view the jump control opens.
    let shots = screenshots();
    for (name, url) in [
        ("stale-read.png", page.clone()),
        (
            "stale-read-violation.png",
            format!("{page}#first-violation"),
        ),
    ] {
        let png = shots.join(name);
        let _ = std::fs::remove_file(&png);
        let shot = format!("--screenshot={}", png.display());
        browse(browser, &dir.join("profile"), &url, &[&shot]);
        let size = std::fs::metadata(&png).map_or(0, |m| m.len());
        assert!(size > 10_000, "{} is a real screenshot", png.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A history of `clients` clients doing `per_client` operations each on
/// `keys` keys, one operation at a time across the whole history (so it is
/// linearizable), except one stale read at the end; with faults and the
/// members that answered.
fn big_history(clients: u32, per_client: u32, keys: u32) -> History {
    let mut operations = Vec::new();
    let mut values: Vec<Option<(String, i64)>> = vec![None; keys as usize];
    let mut revision = 1;
    let total = clients * per_client;
    for i in 0..total {
        let (client, key) = (i % clients, (i * 7) % keys);
        let name = format!("k{key}");
        let (call_ns, return_ns) = (i as u64 * 200_000, i as u64 * 200_000 + 150_000);
        let (request, response) = if i % 3 == 0 {
            let value = format!("c{client}-{i}");
            revision += 1;
            values[key as usize] = Some((value.clone(), revision));
            (
                Request::Put {
                    key: name,
                    value,
                    lease: 0,
                },
                Response::Put { revision },
            )
        } else {
            let kv = values[key as usize].as_ref().map(|(v, rev)| KeyValue {
                value: v.clone(),
                create_revision: *rev,
                mod_revision: *rev,
                version: 1,
            });
            (
                Request::Get {
                    key: name,
                    serializable: false,
                },
                Response::Get {
                    count: Some(i64::from(kv.is_some())),
                    kv,
                    revision,
                    more: false,
                },
            )
        };
        operations.push(Operation {
            client,
            call_ns,
            return_ns,
            request,
            outcome: Outcome::Ok(response),
            served_by: Some(ServedBy {
                member: format!("n{}", i % 3 + 1),
                term: 2,
            }),
            persisted: None,
        });
    }
    // The stale read: k0's first value, long after it was overwritten.
    let first = operations
        .iter()
        .find_map(|op| match &op.request {
            Request::Put {
                key,
                value,
                lease: 0,
            } if key == "k0" => Some(value.clone()),
            _ => None,
        })
        .unwrap();
    let end = total as u64 * 200_000;
    operations.push(Operation {
        client: 0,
        call_ns: end,
        return_ns: end + 100_000,
        request: Request::Get {
            key: "k0".into(),
            serializable: false,
        },
        outcome: Outcome::Ok(Response::Get {
            kv: Some(KeyValue {
                value: first,
                create_revision: 2,
                mod_revision: 2,
                version: 1,
            }),
            revision,
            count: Some(1),
            more: false,
        }),
        served_by: None,
        persisted: None,
    });
    let faults = (0..10)
        .map(|f| FaultBand {
            name: "partition".into(),
            start_ns: f * end / 10,
            end_ns: Some(f * end / 10 + end / 20),
            detail: format!("n{} | others", f % 3 + 1),
        })
        .collect();
    History { operations, faults }
}

/// A 50,000-operation report opens in headless chromium within a bound
/// generous enough never to flake; the time is printed for the record.
#[test]
fn a_50000_operation_report_opens_quickly() {
    let Some(browser) = chromium() else {
        eprintln!("skipped: chromium not on PATH");
        return;
    };
    let dir = scratch("big");
    let history = big_history(50, 1000, 500);
    assert_eq!(history.operations.len(), 50_001);
    let (file, html) = (dir.join("big.jsonl"), dir.join("big.html"));
    let mut jsonl = Vec::new();
    history.write_jsonl(&mut jsonl).unwrap();
    std::fs::write(&file, jsonl).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_etcd-sim"))
        .arg("check")
        .arg(&file)
        .arg("--html")
        .arg(&html)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "the stale read is found");
    let size = std::fs::metadata(&html).unwrap().len();

    // A blank page first, for the browser's own start-up time.
    let blank = dir.join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><p>blank</p>").unwrap();
    let profile = dir.join("profile");
    let (_, baseline) = browse(
        browser,
        &profile,
        &format!("file://{}", blank.display()),
        &["--dump-dom"],
    );
    let page = format!("file://{}", html.display());
    let (dom, took) = browse(browser, &profile, &page, &["--dump-dom"]);
    let rendered = element(&dom, "status");
    eprintln!(
        "50,001-operation report ({:.1} MB): chromium opened and rendered it in {:.2} s \
         (a blank page: {:.2} s); the page says: {rendered}",
        size as f64 / 1e6,
        took.as_secs_f64(),
        baseline.as_secs_f64()
    );
    assert!(
        rendered.starts_with("rendered 50001 operations in"),
        "{rendered}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(
        dom.len() < size as usize + 200_000,
        "the DOM stays bounded: no element per operation"
    );
    for (name, url) in [
        ("big-50k.png", page.clone()),
        ("big-50k-violation.png", format!("{page}#first-violation")),
    ] {
        let shot = format!("--screenshot={}", screenshots().join(name).display());
        browse(browser, &profile, &url, &[&shot]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
