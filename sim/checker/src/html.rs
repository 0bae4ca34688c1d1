//! A history as one self-contained HTML page: no scripts from elsewhere,
//! no fonts, no network — it opens offline from a CI artifact.
//!
//! One lane per client; each operation is a bar from call to return (to
//! the right edge if it never returned), coloured by outcome; the run's
//! faults are bands across all lanes; the operations of the minimal failing
//! sub-history are outlined in red. Hovering a bar shows the request and
//! the response. Every bar has `class="op"` (plus `failing` when it is
//! evidence), so tools can count them.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::check::CheckReport;
use crate::history::{History, Outcome};

const LANE: f64 = 28.0;
const LEFT: f64 = 80.0;
const WIDTH: f64 = 1400.0;

/// Renders `history` with `report`'s evidence highlighted.
pub fn render_html(history: &History, report: &CheckReport, title: &str) -> String {
    let failing: BTreeSet<usize> = report.failing_operations().into_iter().collect();
    let clients: BTreeSet<u32> = history.operations.iter().map(|op| op.client).collect();
    let lane_of = |client: u32| clients.iter().position(|&c| c == client).unwrap_or(0);
    let end = history
        .operations
        .iter()
        .flat_map(|op| [op.call_ns, op.return_ns])
        .chain(
            history
                .faults
                .iter()
                .flat_map(|f| [f.start_ns, f.end_ns.unwrap_or(0)]),
        )
        .filter(|&t| t != u64::MAX)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let x = |t: u64| LEFT + (t.min(end as u64) as f64 / end) * (WIDTH - LEFT - 10.0);
    let height = 40.0 + LANE * clients.len() as f64;

    let mut svg = String::new();
    for fault in &history.faults {
        let (a, b) = (x(fault.start_ns), x(fault.end_ns.unwrap_or(end as u64)));
        let _ = write!(
            svg,
            r#"<rect class="fault" x="{a:.1}" y="20" width="{:.1}" height="{:.1}"><title>{}: {} ({:.3}s to {})</title></rect>"#,
            (b - a).max(1.0),
            height - 20.0,
            escape(&fault.name),
            escape(&fault.detail),
            fault.start_ns as f64 / 1e9,
            fault
                .end_ns
                .map_or("the end".to_string(), |t| format!("{:.3}s", t as f64 / 1e9)),
        );
    }
    for (lane, client) in clients.iter().enumerate() {
        let y = 30.0 + LANE * lane as f64;
        let _ = write!(
            svg,
            r#"<text x="4" y="{:.1}">client {client}</text>"#,
            y + 14.0
        );
    }
    for (i, op) in history.operations.iter().enumerate() {
        let y = 30.0 + LANE * lane_of(op.client) as f64;
        let (a, b) = (x(op.call_ns), x(op.return_ns));
        let outcome = match op.outcome {
            Outcome::Ok(_) => "ok",
            Outcome::Fail(_) => "fail",
            Outcome::Unknown(_) => "unknown",
        };
        let class = if failing.contains(&i) {
            format!("op {outcome} failing")
        } else {
            format!("op {outcome}")
        };
        let _ = write!(
            svg,
            r#"<rect class="{class}" data-index="{i}" x="{a:.1}" y="{y:.1}" width="{:.1}" height="18"><title>#{i} client {} [{:.6}s, {}]
{}
-> {}</title></rect>"#,
            (b - a).max(2.0),
            op.client,
            op.call_ns as f64 / 1e9,
            if op.return_ns == u64::MAX {
                "never".to_string()
            } else {
                format!("{:.6}s", op.return_ns as f64 / 1e9)
            },
            escape(&format!("{:?}", op.request)),
            escape(&format!("{:?}", op.outcome)),
        );
    }
    let verdict = escape(&report.to_string());
    format!(
        r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 13px sans-serif; margin: 16px; }}
.op.ok {{ fill: #4a9; }} .op.fail {{ fill: #bbb; }} .op.unknown {{ fill: #e9b949; }}
.op.failing {{ stroke: #d00; stroke-width: 3; }}
.fault {{ fill: #f3c6c6; opacity: 0.5; }}
pre {{ background: #f6f6f6; padding: 8px; white-space: pre-wrap; }}
</style></head>
<body>
<h1>{title}</h1>
<p>{ops} operations by {clients} clients, {faults} faults. Green: ok; grey: failed (never happened); yellow: unknown outcome; red outline: the minimal failing sub-history; pink bands: faults. Hover a bar for its request and response.</p>
<svg width="{WIDTH}" height="{height:.0}">{svg}</svg>
<h2>Verdict</h2>
<pre id="verdict">{verdict}</pre>
</body></html>
"#,
        title = escape(title),
        ops = history.operations.len(),
        clients = clients.len(),
        faults = history.faults.len(),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check_kv, CheckOptions, Operation, Request, Response};

    fn op(client: u32, call: u64, ret: u64, request: Request, response: Response) -> Operation {
        Operation {
            client,
            call_ns: call,
            return_ns: ret,
            request,
            outcome: Outcome::Ok(response),
        }
    }

    #[test]
    fn every_operation_is_a_bar_and_the_evidence_is_marked() {
        let put = |v: &str, _rev: i64| Request::Put {
            key: "k".into(),
            value: v.into(),
        };
        let history = History {
            operations: vec![
                op(0, 0, 10, put("a", 2), Response::Put { revision: 2 }),
                op(0, 20, 30, put("b", 3), Response::Put { revision: 3 }),
                op(
                    1,
                    40,
                    50,
                    Request::Get {
                        key: "k".into(),
                        serializable: false,
                    },
                    Response::Get {
                        kv: Some(crate::KeyValue {
                            value: "a".into(),
                            create_revision: 2,
                            mod_revision: 2,
                            version: 1,
                        }),
                        revision: 3,
                    },
                ),
            ],
            faults: vec![crate::FaultBand {
                name: "partition".into(),
                start_ns: 5,
                end_ns: Some(25),
                detail: "n1 | n2,n3".into(),
            }],
        };
        let report = check_kv(&history, &CheckOptions::default());
        let html = render_html(&history, &report, "stale <read>");
        assert_eq!(html.matches(r#"class="op "#).count(), 3);
        assert_eq!(
            html.matches("failing\"").count(),
            report.failing_operations().len()
        );
        assert!(!report.failing_operations().is_empty());
        assert_eq!(html.matches(r#"class="fault""#).count(), 1);
        assert!(html.contains("stale &lt;read&gt;"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "self-contained"
        );
        let _ = put;
    }
}
