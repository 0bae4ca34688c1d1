//! The campaign page: one self-contained HTML page for a whole campaign
//! (`etcd-sim merge --html`, `etcd-sim run --html-summary`), for the person
//! who opens a nightly run's artifacts. It holds the verdict counts, every
//! failing seed with its replay command and a link to its report, the
//! faults and the availability by kind, the coverage (and coincidences)
//! reached and never reached, and, given an earlier campaign's JSON, how
//! each figure moved.
//! Static HTML only: it opens offline, and a test reads it as text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use etcd_sim_checker::report::escape;

use super::{coverage_universe, SeedResult, Summary};
use crate::record::coincidences;

/// The verdicts a seed can get, in the order the page lists them.
const VERDICTS: [&str; 7] = [
    "linearizable",
    "not-linearizable",
    "broken",
    "stuck",
    "panicked",
    "quiet",
    "undecided",
];

/// The page for `summary`; `previous`, if given, is the campaign to
/// compare with; `reports` is the folder (relative to the page) where a
/// failing seed's report is `seed-N.html`, as the nightly workflow saves it.
pub fn render(summary: &Summary, previous: Option<&Summary>, reports: &str) -> String {
    let mut body = String::new();
    verdicts(&mut body, summary, previous);
    failing_seeds(&mut body, summary, reports);
    faults(&mut body, summary, previous);
    coverage(&mut body, summary, previous);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>etcd-sim campaign: {} \
         seeds</title><style>{STYLE}</style></head><body>\n<h1>etcd-sim campaign: {} seeds, {} \
         failing</h1>\n{body}</body></html>\n",
        summary.results.len(),
        summary.results.len(),
        summary.failures().count()
    )
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:80em}\
    table{border-collapse:collapse;margin:0.5em 0 1.5em}\
    td,th{border:1px solid #ccc;padding:0.2em 0.6em;text-align:left}\
    td.n{text-align:right}.worse{color:#b00}.better{color:#070}\
    code{font-size:0.9em}";

/// The verdict counts, operations and speed, with the previous figures.
fn verdicts(page: &mut String, summary: &Summary, previous: Option<&Summary>) {
    page.push_str("<h2>Verdicts</h2>\n<table id=\"verdicts\"><tr><th>verdict</th><th>seeds</th>");
    if previous.is_some() {
        page.push_str("<th>previous</th>");
    }
    page.push_str("</tr>\n");
    for verdict in VERDICTS {
        let now = summary.count(verdict) as f64;
        let before = previous.map(|p| p.count(verdict) as f64);
        let lower_is_better = verdict != "linearizable";
        row(page, verdict, now, before, lower_is_better);
    }
    let figures = |s: &Summary| {
        let operations: usize = s.results.iter().map(|r| r.operations).sum();
        (
            operations as f64 / s.results.len().max(1) as f64,
            s.seeds_per_minute(),
        )
    };
    let (ops, speed) = figures(summary);
    let before = previous.map(figures);
    row(page, "operations per seed", ops, before.map(|b| b.0), false);
    row(page, "seeds per minute", speed, before.map(|b| b.1), false);
    page.push_str("</table>\n");
}

/// One figure row: the figure, and the previous one marked better or
/// worse (whole numbers: counts, operations, seeds per minute).
fn row(page: &mut String, name: &str, now: f64, before: Option<f64>, lower_is_better: bool) {
    let _ = write!(
        page,
        "<tr><td>{}</td><td class=\"n\">{now:.0}</td>",
        escape(name)
    );
    if let Some(before) = before {
        let class = match now.total_cmp(&before) {
            std::cmp::Ordering::Equal => "",
            std::cmp::Ordering::Less if lower_is_better => "better",
            std::cmp::Ordering::Greater if !lower_is_better => "better",
            _ => "worse",
        };
        let _ = write!(page, "<td class=\"n {class}\">{before:.0}</td>");
    }
    page.push_str("</tr>\n");
}

/// Every failing seed: what it found, the command that replays it, and a
/// link to its report.
fn failing_seeds(page: &mut String, summary: &Summary, reports: &str) {
    let failures: Vec<&SeedResult> = summary.failures().collect();
    let _ = writeln!(page, "<h2>Failing seeds ({})</h2>", failures.len());
    if failures.is_empty() {
        page.push_str("<p>none</p>\n");
        return;
    }
    page.push_str(
        "<table id=\"failing\"><tr><th>seed</th><th>found</th><th>reproduce</th><th>report</th>\
         </tr>\n",
    );
    for failure in failures {
        let link = format!("{reports}/seed-{}.html", failure.seed);
        let _ = writeln!(
            page,
            "<tr><td class=\"n\">{}</td><td>{}</td><td><code>{}</code></td><td><a \
             href=\"{}\">seed-{}.html</a></td></tr>",
            failure.seed,
            escape(&failure.describe()),
            escape(failure.reproduce.as_deref().unwrap_or("")),
            escape(&link),
            failure.seed
        );
    }
    page.push_str("</table>\n");
}

/// Faults injected by kind, the seeds that had them, and the share of
/// operations that succeeded while each was on.
fn faults(page: &mut String, summary: &Summary, previous: Option<&Summary>) {
    page.push_str(
        "<h2>Faults and availability</h2>\n<table id=\"faults\"><tr><th>fault</th>\
         <th>injected</th><th>seeds</th><th>ops succeeded while on</th>",
    );
    if previous.is_some() {
        page.push_str("<th>previous</th>");
    }
    page.push_str("</tr>\n");
    let now = fault_figures(summary);
    let before = previous.map(fault_figures);
    for (name, figures) in &now {
        let _ = write!(
            page,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td \
             class=\"n\">{}</td>",
            escape(name),
            figures.injected,
            figures.seeds,
            percent(figures.availability)
        );
        if let Some(before) = &before {
            let old = before.get(name).and_then(|f| f.availability);
            let _ = write!(page, "<td class=\"n\">{}</td>", percent(old));
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
}

/// A share as a percentage, or `-`.
fn percent(share: Option<f64>) -> String {
    share.map_or("-".to_string(), |s| format!("{:.1}%", 100.0 * s))
}

/// What the campaign did with one fault kind.
#[derive(Default)]
struct FaultFigures {
    injected: usize,
    seeds: usize,
    /// Operations succeeded while it was on, over those invoked.
    availability: Option<f64>,
}

fn fault_figures(summary: &Summary) -> BTreeMap<String, FaultFigures> {
    let mut figures: BTreeMap<String, FaultFigures> = BTreeMap::new();
    let mut ops: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for result in &summary.results {
        for (name, count) in &result.faults {
            let entry = figures.entry(name.clone()).or_default();
            entry.injected += count;
            entry.seeds += 1;
        }
        for (name, (invoked, ok)) in &result.availability.by_fault {
            let entry = ops.entry(name.clone()).or_default();
            entry.0 += invoked;
            entry.1 += ok;
        }
    }
    for (name, (invoked, ok)) in ops {
        if invoked > 0 {
            figures.entry(name).or_default().availability = Some(ok as f64 / invoked as f64);
        }
    }
    figures
}

/// Paths reached (with their counts) and never reached; with a previous
/// campaign, the paths it reached that this one did not, and the reverse.
fn coverage(page: &mut String, summary: &Summary, previous: Option<&Summary>) {
    let universe = coverage_universe();
    let never = summary.never_fired(&universe);
    let _ = writeln!(
        page,
        "<h2>Coverage: {} of {} paths reached</h2>",
        universe.len() - never.len(),
        universe.len()
    );
    list(page, "never-reached", "Never reached", &never);
    if let Some(previous) = previous {
        let before = previous.never_fired(&universe);
        let lost: Vec<String> = never
            .iter()
            .filter(|p| !before.contains(p))
            .cloned()
            .collect();
        let gained: Vec<String> = before
            .iter()
            .filter(|p| !never.contains(p))
            .cloned()
            .collect();
        list(page, "lost", "Reached before, not now", &lost);
        list(page, "gained", "Reached now, not before", &gained);
    }
    let pairs = coincidences::universe();
    let apart = summary.never_fired(&pairs);
    let _ = writeln!(
        page,
        "<h3>Coincidences (two events within {} s): {} of {} pairs reached</h3>",
        coincidences::WINDOW_NS / 1_000_000_000,
        pairs.len() - apart.len(),
        pairs.len()
    );
    list(page, "never-coincided", "Never together", &apart);
    page.push_str("<table id=\"coverage\"><tr><th>path</th><th>times reached</th></tr>\n");
    for (path, count) in summary.coverage() {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td class=\"n\">{count}</td></tr>",
            escape(&path)
        );
    }
    page.push_str("</table>\n");
}

/// A titled list of paths, or the title with "none".
fn list(page: &mut String, id: &str, title: &str, paths: &[String]) {
    let _ = write!(page, "<p id=\"{id}\"><b>{title}</b>: ");
    if paths.is_empty() {
        page.push_str("none");
    } else {
        let items: Vec<String> = paths
            .iter()
            .map(|p| format!("<code>{}</code>", escape(p)))
            .collect();
        page.push_str(&items.join(", "));
    }
    page.push_str("</p>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(seed: u64, verdict: &str, faults: &[(&str, usize)]) -> SeedResult {
        let mut result: SeedResult = serde_json::from_value(serde_json::json!({
            "seed": seed,
            "verdict": verdict,
            "panic": null,
            "trace_hash": 0,
            "second_trace_hash": null,
            "operations": 100,
            "simulated_secs": 10.0,
        }))
        .expect("a minimal result");
        result.faults = faults.iter().map(|(n, c)| (n.to_string(), *c)).collect();
        result.availability.by_fault = faults
            .iter()
            .map(|(n, _)| (n.to_string(), (10, 8)))
            .collect();
        if verdict != "linearizable" {
            result.reproduce = Some(format!("etcd-sim reproduce --seed {seed} --bug <x>"));
        }
        result
    }

    fn summary(results: Vec<SeedResult>) -> Summary {
        Summary {
            results,
            wall_secs: 60.0,
        }
    }

    #[test]
    fn the_page_lists_verdicts_failing_seeds_with_links_faults_and_coverage() {
        let now = summary(vec![
            seed(1, "linearizable", &[("kill", 2)]),
            seed(2, "not-linearizable", &[("kill", 1), ("pause", 1)]),
        ]);
        let page = render(&now, None, "reports");
        assert!(page.contains("2 seeds, 1 failing"), "{page}");
        assert!(page.contains("<td>not-linearizable</td><td class=\"n\">1</td>"));
        assert!(page.contains("href=\"reports/seed-2.html\""));
        assert!(
            page.contains("etcd-sim reproduce --seed 2 --bug &lt;x&gt;"),
            "escaped"
        );
        assert!(
            !page.contains("seed-1.html"),
            "a passing seed has no report"
        );
        assert!(page.contains("<td>kill</td><td class=\"n\">3</td><td class=\"n\">2</td>"));
        assert!(page.contains("<td class=\"n\">80.0%</td>"));
        assert!(page.contains(&format!("of {} paths reached", coverage_universe().len())));
        assert!(page.contains("<code>fault:kill</code>"), "never reached");
        assert!(page.contains(&format!(
            "within 1 s): 0 of {} pairs reached",
            coincidences::universe().len()
        )));
        assert!(
            !page.contains("previous"),
            "no trend without a previous campaign"
        );
    }

    #[test]
    fn a_previous_campaign_shows_how_each_figure_moved() {
        let before = summary(vec![
            seed(1, "linearizable", &[]),
            seed(2, "linearizable", &[]),
        ]);
        let mut now = summary(vec![seed(1, "linearizable", &[]), seed(2, "stuck", &[])]);
        now.results[0].coverage.insert("fault:kill".to_string(), 3);
        let page = render(&now, Some(&before), "r");
        assert!(
            page.contains("<td>stuck</td><td class=\"n\">1</td><td class=\"n worse\">0</td>"),
            "{page}"
        );
        assert!(page
            .contains("<td>linearizable</td><td class=\"n\">1</td><td class=\"n worse\">2</td>"));
        assert!(page.contains(
            "<p id=\"gained\"><b>Reached now, not before</b>: <code>fault:kill</code></p>"
        ));
        assert!(page.contains("<p id=\"lost\"><b>Reached before, not now</b>: none</p>"));
    }
}
