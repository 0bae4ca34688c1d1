//! Records what clients asked and what they got back, as a checkable history.
//!
//! An operation is recorded twice: when it is invoked and when it completes.
//! One that never completes (its client was cut off when the run ended)
//! stays `Unknown`, which the checker treats as "may take effect at any time
//! after its call, or never".

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use etcd_sim_checker::report::{MemberChange, MemberEvent, RunEvents};
use etcd_sim_checker::{FaultBand, History, Operation, Outcome, Request, ServedBy};

use crate::record::member_events::{parse, Logged};

use crate::record::trace::Trace;
use crate::shape::schedule::FaultStep;

/// The handle of an operation in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpId(usize);

/// The handle of a fault in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultId(usize);

/// A shared, cloneable recorder; every client and the nemesis write to it.
#[derive(Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    history: History,
    trace: Trace,
    plan: Vec<FaultStep>,
    broken: Vec<BrokenCheck>,
    /// The members' raft ids and names, in lane order.
    members: Vec<(u64, String)>,
    /// The ids members took later (a replaced member comes back under a
    /// new one), with the name of their lane.
    later_ids: Vec<(u64, String)>,
    /// What happened to the members, for the report (never hashed).
    member_events: Vec<MemberEvent>,
    /// Members whose process has started once: a later start is a restart.
    started: BTreeSet<String>,
    /// Which member (raft id) answered each answered operation, by index.
    answered: Vec<(usize, u64)>,
}

impl Inner {
    /// Member `id`'s name, or its id in hex if the run did not name it.
    fn name(&self, id: u64) -> String {
        self.members
            .iter()
            .chain(&self.later_ids)
            .find(|(member, _)| *member == id)
            .map_or_else(|| format!("{id:x}"), |(_, name)| name.clone())
    }
}

/// A guarantee other than linearizability that a run broke, such as
/// members holding different histories at the same revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenCheck {
    /// The check's short name, e.g. `hashkv`.
    pub check: &'static str,
    /// What was seen, for a person.
    pub evidence: String,
}

impl std::fmt::Display for BrokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.check, self.evidence)
    }
}

impl Recorder {
    /// A recorder whose trace prints every event as it happens.
    pub fn echoing() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                trace: Trace::echoing(),
                ..Inner::default()
            })),
        }
    }

    /// Records that `client` invoked `request` at `call_ns`.
    pub fn invoke(&self, client: u32, call_ns: u64, request: Request) -> OpId {
        let mut inner = self.inner.lock().unwrap();
        inner.trace.record(
            call_ns,
            format_args!("client {client} invoke {:?}", brief(&request)),
        );
        inner.history.operations.push(Operation {
            client,
            call_ns,
            return_ns: u64::MAX,
            request,
            outcome: Outcome::Unknown("never completed".to_string()),
            served_by: None,
            persisted: None,
        });
        OpId(inner.history.operations.len() - 1)
    }

    /// Records how operation `id` ended, at `return_ns`; `answered_by` is
    /// the response header's member id and raft term. Who answered stays
    /// out of the trace (and its hash): it is for the report.
    pub fn complete(
        &self,
        id: OpId,
        return_ns: u64,
        outcome: Outcome,
        answered_by: Option<(u64, u64)>,
    ) {
        let mut inner = self.inner.lock().unwrap();
        let client = inner.history.operations[id.0].client;
        inner.trace.record(
            return_ns,
            format_args!("client {client} complete {:?}", brief_outcome(&outcome)),
        );
        if let Some((member, _)) = answered_by {
            inner.answered.push((id.0, member));
        }
        let served_by = answered_by.map(|(member, term)| ServedBy {
            member: inner.name(member),
            term,
        });
        let op = &mut inner.history.operations[id.0];
        op.return_ns = return_ns;
        op.outcome = outcome;
        op.served_by = served_by;
    }

    /// Which member, by raft id, answered each operation that had an
    /// answer: (the operation's index in the history, the member).
    pub fn answered_by(&self) -> Vec<(usize, u64)> {
        self.inner.lock().unwrap().answered.clone()
    }

    /// Names the members by raft id, in the order of the report's lanes.
    pub fn set_members(&self, members: impl IntoIterator<Item = (u64, String)>) {
        self.inner.lock().unwrap().members = members.into_iter().collect();
    }

    /// Member `name` goes by `id` from now on, in the same lane.
    pub fn also_named(&self, id: u64, name: &str) {
        let mut inner = self.inner.lock().unwrap();
        inner.later_ids.push((id, name.to_string()));
    }

    /// Records that something happened to member `name` (a crash, a
    /// pause), for the report's member lanes.
    pub fn member_event(&self, at_ns: u64, name: &str, change: MemberChange) {
        self.inner.lock().unwrap().member_events.push(MemberEvent {
            at_ns,
            member: name.to_string(),
            change,
        });
    }

    /// Reads a line member `id` logged (see `member_events`) into the
    /// member lanes. A start after the first is a restart; one that no
    /// crash the nemesis caused precedes came after a panic at a crash point.
    pub fn member_logged(&self, at_ns: u64, id: u64, message: &str) {
        let Some(logged) = parse(message) else {
            return;
        };
        let mut inner = self.inner.lock().unwrap();
        let member = inner.name(id);
        let change = match logged {
            Logged::Role { role, term, leader } => MemberChange::Role {
                role,
                term,
                leader: (leader != 0).then(|| inner.name(leader)),
            },
            Logged::Change(change) => change,
            Logged::Started(detail) => {
                if inner.started.insert(member.clone()) {
                    return;
                }
                let crashed = inner
                    .member_events
                    .iter()
                    .rev()
                    .find(|e| e.member == member)
                    .is_some_and(|e| matches!(e.change, MemberChange::Crashed { .. }));
                if !crashed {
                    inner.member_events.push(MemberEvent {
                        at_ns,
                        member: member.clone(),
                        change: MemberChange::Crashed {
                            why: "panicked, e.g. at a crash point".to_string(),
                        },
                    });
                }
                MemberChange::Restarted { detail }
            }
        };
        inner.member_events.push(MemberEvent {
            at_ns,
            member,
            change,
        });
    }

    /// The members and what happened to them, for the report; `broken`
    /// checks are the caller's to add.
    pub fn run_events(&self) -> RunEvents {
        let inner = self.inner.lock().unwrap();
        RunEvents {
            members: inner.members.iter().map(|(_, name)| name.clone()).collect(),
            member_events: inner.member_events.clone(),
            broken: vec![],
        }
    }

    /// Records that fault `name` began at `start_ns`.
    pub fn fault_started(&self, name: &str, detail: String, start_ns: u64) -> FaultId {
        let mut inner = self.inner.lock().unwrap();
        inner
            .trace
            .record(start_ns, format_args!("fault {name} start: {detail}"));
        inner.history.faults.push(FaultBand {
            name: name.to_string(),
            start_ns,
            end_ns: None,
            detail,
        });
        FaultId(inner.history.faults.len() - 1)
    }

    /// Records that fault `id` ended at `end_ns`.
    pub fn fault_ended(&self, id: FaultId, end_ns: u64) {
        let mut inner = self.inner.lock().unwrap();
        let name = inner.history.faults[id.0].name.clone();
        inner.trace.record(end_ns, format_args!("fault {name} end"));
        inner.history.faults[id.0].end_ns = Some(end_ns);
    }

    /// Records a step the nemesis took, for replay as a plan.
    pub fn plan_step(&self, step: FaultStep) {
        self.inner.lock().unwrap().plan.push(step);
    }

    /// The nemesis's steps so far.
    pub fn plan(&self) -> Vec<FaultStep> {
        self.inner.lock().unwrap().plan.clone()
    }

    /// Adds a detail of the system's to the trace, outside its hash.
    pub fn detail(&self, at_ns: u64, event: impl std::fmt::Display) {
        self.inner.lock().unwrap().trace.record_detail(at_ns, event);
    }

    /// Adds a free-form event to the trace.
    pub fn note(&self, at_ns: u64, event: impl std::fmt::Display) {
        self.inner.lock().unwrap().trace.record(at_ns, event);
    }

    /// Records that the run broke `check`, with the evidence; the seed
    /// fails.
    pub fn broken(&self, at_ns: u64, check: &'static str, evidence: String) {
        let mut inner = self.inner.lock().unwrap();
        inner
            .trace
            .record(at_ns, format_args!("check {check} broken: {evidence}"));
        inner.broken.push(BrokenCheck { check, evidence });
    }

    /// The checks broken so far.
    pub fn broken_checks(&self) -> Vec<BrokenCheck> {
        self.inner.lock().unwrap().broken.clone()
    }

    /// The history and trace so far.
    pub fn snapshot(&self) -> (History, Trace) {
        let inner = self.inner.lock().unwrap();
        (inner.history.clone(), inner.trace.clone())
    }
}

/// The longest value a trace line shows whole.
const TRACE_VALUE_BYTES: usize = 48;

/// `value` as a trace shows it: whole if short, else its start (which holds
/// the workload's unique name) and its length. A trace stays readable, and
/// hashing it stays cheap, when a seed writes values of 100 KB.
fn shorten(value: &mut String) {
    if value.len() > TRACE_VALUE_BYTES {
        let mut end = TRACE_VALUE_BYTES;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        *value = format!("{}…({} bytes)", &value[..end], value.len());
    }
}

fn brief(request: &Request) -> Request {
    let mut brief = request.clone();
    brief.values_mut().into_iter().for_each(shorten);
    brief
}

fn brief_outcome(outcome: &Outcome) -> Outcome {
    let mut brief = outcome.clone();
    if let Outcome::Ok(response) = &mut brief {
        response.values_mut().into_iter().for_each(shorten);
    }
    brief
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_sim_checker::Response;

    #[test]
    fn an_operation_is_unknown_until_it_completes() {
        let recorder = Recorder::default();
        let put = Request::Put {
            key: "k".into(),
            value: "v".into(),
            lease: 0,
        };
        let a = recorder.invoke(1, 10, put.clone());
        let b = recorder.invoke(2, 20, put);
        recorder.set_members([(0x2a, "n2".to_string())]);
        recorder.complete(
            a,
            30,
            Outcome::Ok(Response::Put { revision: 2 }),
            Some((0x2a, 4)),
        );
        let (history, trace) = recorder.snapshot();
        assert_eq!(history.operations[0].return_ns, 30);
        let served = history.operations[0].served_by.as_ref().unwrap();
        assert_eq!((served.member.as_str(), served.term), ("n2", 4));
        assert!(matches!(history.operations[0].outcome, Outcome::Ok(_)));
        assert_eq!(history.operations[1].return_ns, u64::MAX);
        assert!(matches!(history.operations[1].outcome, Outcome::Unknown(_)));
        assert_eq!(trace.lines().len(), 3);
        let _ = b;
    }

    #[test]
    fn member_lines_become_lane_events_and_a_second_start_a_restart() {
        let recorder = Recorder::default();
        recorder.set_members([(2, "n1".to_string()), (1, "n2".to_string())]);
        let start = "started from a snapshot at index 0 and 0 WAL entries";
        recorder.member_logged(10, 2, start);
        recorder.member_logged(20, 2, "Leader at term 2, leader 2");
        recorder.member_logged(25, 2, "send MsgAppend to 1");
        recorder.member_logged(30, 2, start);
        let events = recorder.run_events();
        assert_eq!(events.members, ["n1", "n2"], "in the run's order");
        let changes: Vec<_> = events.member_events.iter().map(|e| &e.change).collect();
        assert!(matches!(
            changes[..],
            [
                MemberChange::Role { term: 2, leader: Some(ref l), .. },
                MemberChange::Crashed { .. },
                MemberChange::Restarted { .. },
            ] if l == "n1"
        ));
        let (_, trace) = recorder.snapshot();
        assert_eq!(
            trace.hash(),
            Trace::default().hash(),
            "none of it is hashed"
        );
    }
}
