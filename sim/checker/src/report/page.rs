//! The report page: static HTML for the words (verdict, explanation,
//! evidence of other checks), and the timeline drawn by a script on a
//! `<canvas>` from the data embedded as compact JSON, so that the DOM stays
//! small however long the history: a 50,000-operation page opens in a few
//! seconds. Only what a person reads as text is in the DOM — the time
//! axis labels, the fault labels, the lane names — which also lets a test
//! read them from a headless browser's DOM.
//!
//! The data, all times in microseconds of simulated time, operations as
//! columns (`ops.lane[i]`, `ops.call[i]`, ...):
//! - `lanes`: client ids; `members`: member names;
//! - `ops`: lane, call, ret (-1: never), status (0 ok, 1 failed,
//!   2 unknown), member (index into `members`, -1: unknown), revision
//!   (-1: none), request and response as text;
//! - `failing`: the minimal failing sub-history and broken revision rules;
//!   `prefix`: the longest linearizable prefix, in order; `focus`: the
//!   first violation's operation (-1: none); `witnesses`: the operations
//!   the other checks' evidence names;
//! - `faults`: name, detail, start, end; `events`: member, time, kind,
//!   text (`role` events carry `role` and `term`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{explain, MemberChange, RunEvents};
use crate::check::{CheckReport, Verdict};
use crate::history::{History, Operation, Outcome, Request, Response, TxnStep};

const SCRIPT: &str = include_str!("page.js");
const STYLE: &str = include_str!("page.css");

/// Renders `history` with `report`'s verdict and `run`'s members and
/// broken checks as one self-contained page.
pub fn render_html(
    history: &History,
    report: &CheckReport,
    run: &RunEvents,
    title: &str,
) -> String {
    let explanation = explain(history, report);
    let members = member_names(history, run);
    let writes = writes_by_revision(history);
    // The other checks' evidence, and the operations it names: marked on
    // the timeline, and the place to jump to if the history itself is fine.
    let mut witnesses = Vec::new();
    let mut broken = String::new();
    for b in &run.broken {
        let _ = write!(
            broken,
            r#"<li class="broken"><b>{}</b>: {}</li>"#,
            escape(&b.check),
            linked(&b.evidence, &writes, &mut witnesses)
        );
    }
    witnesses.retain(|&i| i < history.operations.len());
    let focus = explanation.focus.or(witnesses.first().copied());
    let data = data(history, report, run, &members, focus, &witnesses);
    let verdict = match report.verdict {
        Verdict::Linearizable if run.broken.is_empty() => "linearizable",
        Verdict::Linearizable => "linearizable, but a check broke",
        Verdict::NotLinearizable => "not linearizable",
        Verdict::Unknown => "unknown (the checker gave up)",
    };
    let failing = report.verdict == Verdict::NotLinearizable || !run.broken.is_empty();

    let mut why = String::new();
    for sentence in &explanation.sentences {
        let _ = write!(
            why,
            "<li>{}</li>",
            linked(sentence, &writes, &mut Vec::new())
        );
    }
    if why.is_empty() {
        why =
            "<li>Every operation fits one order that respects real time: nothing to explain.</li>"
                .to_string();
    }
    let broken = if broken.is_empty() {
        "<p>None: the watch, lease and hashkv checks passed (or did not run).</p>".to_string()
    } else {
        format!(r#"<ul id="broken-list">{broken}</ul>"#)
    };
    let prefix = prefix_list(history, report);
    // `</` cannot end the script element from inside a JSON string.
    let data = data.to_string().replace("</", "<\\/");
    format!(
        r##"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>{STYLE}</style></head>
<body>
<header><h1>{title}</h1>
<p id="summary"><span class="verdict {verdict_class}">{verdict}</span> {ops} operations by {clients} clients on {members_count} members, {faults} faults, {sim:.3}s simulated.</p></header>
<div id="controls">
<button id="jump" {jump_disabled}>Jump to the first violation</button>
<button id="zoom-in" title="or the mouse wheel">Zoom in</button><button id="zoom-out">Zoom out</button><button id="fit">Whole run</button>
<label><input type="checkbox" id="show-prefix" checked> longest linearizable prefix</label>
<span class="hint">Wheel: zoom · drag: pan · hover: request and response · click: details</span>
</div>
<div id="timeline"><canvas id="canvas"></canvas><div id="overlay"></div><div id="tip" hidden></div></div>
<div id="legend"><span class="sw ok"></span>ok <span class="sw fail"></span>failed (never happened) <span class="sw unknown"></span>unknown outcome <span class="sw failing"></span>evidence <span class="sw witness"></span>named by a broken check <span class="sw prefix"></span>linearized prefix order <span class="sw fault"></span>fault ·
members: <span class="sw leader"></span>leader <span class="sw candidate"></span>candidate <span class="sw follower"></span>follower <span class="sw down"></span>down <span class="sw paused"></span>paused ◆ snapshot ▲ restart ✕ crash · a bar's underline is the colour of the member that answered it</div>
<div id="selected"><i>Click an operation for its details.</i></div>
<main>
<section id="why"><h2>{why_title}</h2><ol id="explanation">{why}</ol></section>
<section id="other-checks"><h2>Watch, lease and hashkv checks</h2>{broken}</section>
<section id="prefix"><h2>Longest linearizable prefix</h2>{prefix}</section>
<section><h2>Verdict and minimal sub-history</h2><pre id="verdict">{report_text}</pre></section>
</main>
<p id="status">rendering…</p>
<script id="data" type="application/json">{data}</script>
<script>{SCRIPT}</script>
</body></html>
"##,
        title = escape(title),
        verdict_class = if failing { "bad" } else { "good" },
        ops = history.operations.len(),
        clients = data_lanes(history).len(),
        members_count = members.len(),
        faults = history.faults.len(),
        sim = end_ns(history, run) as f64 / 1e9,
        jump_disabled = if focus.is_some() { "" } else { "disabled" },
        why_title = if report.verdict == Verdict::NotLinearizable {
            "Why no order works"
        } else {
            "Linearizability"
        },
        report_text = escape(&report.to_string()),
    )
}

/// The members' names: the run's, else those the history's responses name.
fn member_names(history: &History, run: &RunEvents) -> Vec<String> {
    let mut names = run.members.clone();
    for name in history
        .operations
        .iter()
        .filter_map(|op| op.served_by.as_ref().map(|s| &s.member))
        .chain(run.member_events.iter().map(|e| &e.member))
    {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

fn data_lanes(history: &History) -> Vec<u32> {
    let mut lanes: Vec<u32> = history.operations.iter().map(|op| op.client).collect();
    lanes.sort_unstable();
    lanes.dedup();
    lanes
}

fn end_ns(history: &History, run: &RunEvents) -> u64 {
    history
        .operations
        .iter()
        .flat_map(|op| [op.call_ns, op.return_ns])
        .chain(
            history
                .faults
                .iter()
                .flat_map(|f| [f.start_ns, f.end_ns.unwrap_or(0)]),
        )
        .chain(run.member_events.iter().map(|e| e.at_ns))
        .filter(|&t| t != u64::MAX)
        .max()
        .unwrap_or(0)
}

fn micros(ns: u64) -> Value {
    if ns == u64::MAX {
        json!(-1)
    } else {
        json!(ns / 1000)
    }
}

fn data(
    history: &History,
    report: &CheckReport,
    run: &RunEvents,
    members: &[String],
    focus: Option<usize>,
    witnesses: &[usize],
) -> Value {
    let lanes = data_lanes(history);
    let ops = &history.operations;
    let member_index = |name: &str| members.iter().position(|m| m == name);
    let column = |f: &dyn Fn(&Operation) -> Value| -> Vec<Value> { ops.iter().map(f).collect() };
    let events: Vec<Value> = run
        .member_events
        .iter()
        .map(|e| {
            let m = member_index(&e.member);
            let t = e.at_ns / 1000;
            match &e.change {
                MemberChange::Role { role, term, leader } => json!({
                    "m": m, "t": t, "kind": "role", "role": role, "term": term,
                    "text": format!("{role:?} at term {term}, leader {}",
                        leader.as_deref().unwrap_or("unknown")),
                }),
                MemberChange::Crashed { why } => {
                    json!({"m": m, "t": t, "kind": "crash", "text": format!("crashed ({why})")})
                }
                MemberChange::Restarted { detail } => {
                    json!({"m": m, "t": t, "kind": "restart", "text": format!("restarted: {detail}")})
                }
                MemberChange::Paused => json!({"m": m, "t": t, "kind": "pause", "text": "paused"}),
                MemberChange::Resumed => {
                    json!({"m": m, "t": t, "kind": "resume", "text": "resumed"})
                }
                MemberChange::Snapshot { detail } => {
                    json!({"m": m, "t": t, "kind": "snapshot", "text": format!("snapshot {detail}")})
                }
                MemberChange::TornWal { detail } => {
                    json!({"m": m, "t": t, "kind": "wal", "text": format!("WAL: {detail}")})
                }
            }
        })
        .collect();
    json!({
        "end": end_ns(history, run) / 1000,
        "lanes": lanes,
        "members": members,
        "ops": {
            "lane": column(&|op| json!(lanes.binary_search(&op.client).expect("every client has a lane"))),
            "call": column(&|op| micros(op.call_ns)),
            "ret": column(&|op| micros(op.return_ns)),
            "status": column(&|op| json!(match op.outcome {
                Outcome::Ok(_) => 0,
                Outcome::Fail(_) => 1,
                Outcome::Unknown(_) => 2,
            })),
            "member": column(&|op| json!(op
                .served_by
                .as_ref()
                .and_then(|s| member_index(&s.member))
                .map_or(-1, |m| m as i64))),
            "term": column(&|op| json!(op.served_by.as_ref().map_or(-1, |s| s.term as i64))),
            "rev": column(&|op| json!(match &op.outcome {
                Outcome::Ok(r) => r.revision(),
                _ => -1,
            })),
            "req": column(&|op| json!(request_text(&op.request))),
            "res": column(&|op| json!(outcome_text(&op.outcome))),
        },
        "failing": report.failing_operations(),
        "prefix": report.failure.as_ref().map(|f| f.longest_prefix.clone()).unwrap_or_default(),
        "focus": focus.map_or(-1, |f| f as i64),
        "witnesses": witnesses,
        "faults": history.faults.iter().map(|f| json!({
            "name": f.name,
            "detail": f.detail,
            "start": f.start_ns / 1000,
            "end": f.end_ns.map_or(-1, |t| (t / 1000) as i64),
        })).collect::<Vec<_>>(),
        "events": events,
    })
}

/// A request in a few words: `put k1=c1-2`.
fn request_text(request: &Request) -> String {
    match request {
        Request::Put {
            key,
            value,
            lease: 0,
        } => format!("put {key}={value}"),
        Request::Put { key, value, lease } => format!("put {key}={value} lease {lease}"),
        Request::LeaseGrant { id, ttl } => format!("grant lease {id} ttl {ttl}s"),
        Request::LeaseRevoke { id } => format!("revoke lease {id}"),
        Request::Get { key, serializable } => {
            format!(
                "get {key}{}",
                if *serializable { " (serializable)" } else { "" }
            )
        }
        Request::Delete { key } => format!("delete {key}"),
        Request::Range {
            prefix,
            serializable,
        } => format!(
            "range {prefix}*{}",
            if *serializable { " (serializable)" } else { "" }
        ),
        Request::Cas {
            key,
            expected,
            value,
        } => format!(
            "cas {key}: if {} then {value}",
            expected.as_deref().unwrap_or("absent")
        ),
        Request::List {
            start,
            end,
            revision,
            limit,
            keys_only,
            count_only,
            serializable,
            order,
        } => {
            let mut text = format!("list [{start}, {end})");
            if !order.is_plain() {
                text.push_str(&format!(
                    " sort {:?} {:?} mod [{}, {}] create [{}, {}]",
                    order.sort_target,
                    order.sort_order,
                    order.min_mod_revision,
                    order.max_mod_revision,
                    order.min_create_revision,
                    order.max_create_revision
                ));
            }
            for (on, word) in [
                (*revision != 0, format!(" @ rev {revision}")),
                (*limit != 0, format!(" limit {limit}")),
                (*keys_only, " keys-only".to_string()),
                (*count_only, " count-only".to_string()),
                (*serializable, " (serializable)".to_string()),
            ] {
                if on {
                    text.push_str(&word);
                }
            }
            text
        }
        Request::DeleteRange { start, end } => format!("delete [{start}, {end})"),
        Request::Txn {
            compares,
            success,
            failure,
        } => format!(
            "txn if {} then {} else {}",
            compares.len(),
            steps_text(success),
            steps_text(failure)
        ),
        Request::Compact { revision } => format!("compact {revision}"),
    }
}

fn steps_text(steps: &[TxnStep]) -> String {
    let steps: Vec<String> = steps
        .iter()
        .map(|step| match step {
            TxnStep::Put { key, value, .. } => format!("put {key}={value}"),
            TxnStep::Delete { key } => format!("delete {key}"),
            TxnStep::Get { key, revision: 0 } => format!("get {key}"),
            TxnStep::Get { key, revision } => format!("get {key}@{revision}"),
        })
        .collect();
    format!("[{}]", steps.join("; "))
}

/// An outcome in a few words: `k1=c1-2 (mod 40) @ rev 45`.
fn outcome_text(outcome: &Outcome) -> String {
    let response = match outcome {
        Outcome::Ok(response) => response,
        Outcome::Fail(why) => return format!("failed: {why}"),
        Outcome::Unknown(why) => return format!("unknown: {why}"),
    };
    let body = match response {
        Response::Put { .. } | Response::LeaseGrant { .. } | Response::LeaseRevoke { .. } => {
            "ok".to_string()
        }
        Response::Get { kv: Some(kv), .. } => {
            format!("{} (mod {})", kv.value, kv.mod_revision)
        }
        Response::Get { kv: None, .. } => "absent".to_string(),
        Response::Delete { deleted, .. } => format!("deleted {deleted}"),
        Response::Range { kvs, .. } => {
            let kvs: Vec<String> = kvs
                .iter()
                .map(|(k, kv)| format!("{k}={}", kv.value))
                .collect();
            format!("[{}]", kvs.join(" "))
        }
        Response::Cas { succeeded, .. } => if *succeeded {
            "succeeded"
        } else {
            "compare failed"
        }
        .to_string(),
        Response::List {
            kvs, count, more, ..
        } => {
            let kvs: Vec<String> = kvs
                .iter()
                .map(|(k, kv)| format!("{k}={} (mod {})", kv.value, kv.mod_revision))
                .collect();
            format!(
                "[{}] count {count}{}",
                kvs.join(" "),
                if *more { " more" } else { "" }
            )
        }
        Response::DeleteRange { prev_kvs, .. } => {
            let kvs: Vec<String> = prev_kvs.iter().map(|(k, _)| k.clone()).collect();
            format!("deleted [{}]", kvs.join(" "))
        }
        Response::Txn {
            succeeded, results, ..
        } => format!(
            "{} ({} results)",
            if *succeeded { "then" } else { "else" },
            results.len()
        ),
        Response::Compact { .. } => "ok".to_string(),
    };
    format!("{body} @ rev {}", response.revision())
}

/// The operation that wrote at each revision, to link evidence that
/// names revisions (a watch event's) to its write.
fn writes_by_revision(history: &History) -> BTreeMap<i64, usize> {
    let mut writes = BTreeMap::new();
    for (i, op) in history.operations.iter().enumerate() {
        let Some(&(_, _, revision)) = op.writes_at_revision().first() else {
            continue;
        };
        writes.entry(revision).or_insert(i);
    }
    writes
}

/// `text`, escaped, with `#N` made a link to operation N and `revision N`
/// (or `revision: N`) to the write at that revision; the operations
/// linked are added to `refs`.
fn linked(text: &str, writes: &BTreeMap<i64, usize>, refs: &mut Vec<usize>) -> String {
    let text = escape(text);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let hash = rest.find('#');
        let rev = rest.find("revision");
        let next = match (hash, rev) {
            (Some(h), Some(r)) => h.min(r),
            (Some(h), None) => h,
            (None, Some(r)) => r,
            (None, None) => break,
        };
        out.push_str(&rest[..next]);
        rest = &rest[next..];
        if rest.starts_with('#') {
            let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                let n = &rest[1..=digits];
                refs.extend(n.parse::<usize>());
                let _ = write!(out, r##"<a href="#" class="opref" data-op="{n}">#{n}</a>"##);
                rest = &rest[1 + digits..];
            } else {
                out.push('#');
                rest = &rest[1..];
            }
            continue;
        }
        let after = rest["revision".len()..].trim_start_matches([':', ' ']);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let skipped = rest.len() - after.len();
        let write = after[..digits]
            .parse::<i64>()
            .ok()
            .and_then(|r| writes.get(&r));
        match write {
            Some(&op) => {
                refs.push(op);
                let shown = &rest[..skipped + digits];
                let _ = write!(
                    out,
                    r##"<a href="#" class="opref" data-op="{op}" title="the write at this revision: #{op}">{shown}</a>"##
                );
                rest = &rest[skipped + digits..];
            }
            None => {
                out.push_str("revision");
                rest = &rest["revision".len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The longest linearizable prefix as a list, its last operations first
/// in view: where the search got stuck is what matters.
fn prefix_list(history: &History, report: &CheckReport) -> String {
    let Some(failure) = report
        .failure
        .as_ref()
        .filter(|f| !f.longest_prefix.is_empty())
    else {
        return "<p>None: the history is linearizable, or the checker found no order at all.</p>"
            .to_string();
    };
    const SHOWN: usize = 40;
    let prefix = &failure.longest_prefix;
    let skip = prefix.len().saturating_sub(SHOWN);
    let mut list = format!(
        "<p>The search placed {} of the {} operations on the failing keys in this order before \
         every continuation failed{}:</p><ol start=\"{}\" id=\"prefix-list\">",
        prefix.len(),
        failure.operations,
        if skip > 0 {
            format!(" (the last {SHOWN} shown)")
        } else {
            String::new()
        },
        skip + 1
    );
    for &i in &prefix[skip..] {
        let op = &history.operations[i];
        let _ = write!(
            list,
            r##"<li><a href="#" class="opref" data-op="{i}">#{i}</a> client {} {} → {}</li>"##,
            op.client,
            escape(&request_text(&op.request)),
            escape(&outcome_text(&op.outcome)),
        );
    }
    list + "</ol>"
}

/// `text` safe inside HTML text and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{BrokenEvidence, MemberEvent, Role};
    use crate::{check_kv, CheckOptions, Operation, Request, Response, ServedBy};

    fn op(client: u32, call: u64, ret: u64, request: Request, response: Response) -> Operation {
        Operation {
            client,
            call_ns: call,
            return_ns: ret,
            request,
            outcome: Outcome::Ok(response),
            served_by: Some(ServedBy {
                member: "n2".into(),
                term: 3,
            }),
            persisted: None,
        }
    }

    fn stale_read() -> History {
        let put = |v: &str| Request::Put {
            key: "k".into(),
            value: v.into(),
            lease: 0,
        };
        History {
            operations: vec![
                op(0, 0, 10, put("a"), Response::Put { revision: 2 }),
                op(0, 20, 30, put("b"), Response::Put { revision: 3 }),
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
                        count: Some(1),
                        more: false,
                    },
                ),
            ],
            faults: vec![crate::FaultBand {
                name: "partition".into(),
                start_ns: 5,
                end_ns: Some(25),
                detail: "n1 | n2,n3".into(),
            }],
        }
    }

    /// The page's embedded data, parsed back.
    fn embedded(html: &str) -> Value {
        let start = html
            .find(r#"<script id="data" type="application/json">"#)
            .unwrap();
        let json = &html[start..];
        let json = &json[json.find('>').unwrap() + 1..json.find("</script>").unwrap()];
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_data_holds_every_operation_and_the_evidence() {
        let history = stale_read();
        let report = check_kv(&history, &CheckOptions::default());
        let run = RunEvents {
            members: vec!["n1".into(), "n2".into(), "n3".into()],
            member_events: vec![MemberEvent {
                at_ns: 7,
                member: "n1".into(),
                change: MemberChange::Role {
                    role: Role::Leader,
                    term: 3,
                    leader: Some("n1".into()),
                },
            }],
            broken: vec![BrokenEvidence {
                check: "watch".into(),
                evidence: "Missing { expected: WatchEvent { revision: 3 } }".into(),
            }],
        };
        let html = render_html(&history, &report, &run, "stale <read>");
        let data = embedded(&html);
        assert_eq!(data["ops"]["call"].as_array().unwrap().len(), 3);
        assert_eq!(data["ops"]["member"][2], 1, "n2 answered");
        assert_eq!(data["ops"]["rev"][2], 3);
        assert_eq!(data["ops"]["req"][0], "put k=a");
        let failing: Vec<usize> = serde_json::from_value(data["failing"].clone()).unwrap();
        assert_eq!(failing, report.failing_operations());
        assert!(!failing.is_empty());
        assert_eq!(data["focus"], 2);
        assert_eq!(data["events"][0]["kind"], "role");
        assert_eq!(data["witnesses"], json!([1]), "the write at revision 3");
        assert_eq!(data["faults"][0]["name"], "partition");
        assert!(html.contains("stale &lt;read&gt;"));
        assert!(html.contains(r##"<a href="#" class="opref" data-op="2">#2</a>"##));
        assert!(
            html.contains(r#"data-op="1" title="the write at this revision: #1">revision: 3</a>"#),
            "the watch evidence links to the write at its revision"
        );
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "self-contained"
        );
    }

    #[test]
    fn no_string_in_the_data_can_end_the_script() {
        let mut history = stale_read();
        history.faults[0].detail = "</script><b>".into();
        let report = check_kv(&history, &CheckOptions::default());
        let html = render_html(&history, &report, &RunEvents::default(), "t");
        assert_eq!(html.matches("</script>").count(), 2);
        assert_eq!(embedded(&html)["faults"][0]["detail"], "</script><b>");
    }
}
