//! The system's own events — raft messages, role and term changes, WAL
//! recovery, snapshots — brought into a run's trace for `reproduce --trace`.
//!
//! The system under test reports them through `tracing`, as it would in
//! production; this subscriber is the simulation's log collector. It stamps
//! each event with simulated time and the madsim node it happened on, and
//! records it as a trace detail (outside the trace hash).

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::cluster::clock::Clock;
use crate::record::recorder::Recorder;

/// Collects the system's events into a recorder's trace.
pub struct DetailSink {
    recorder: Recorder,
    clock: Clock,
}

impl DetailSink {
    /// A sink into `recorder`, timed by `clock`.
    pub fn new(recorder: Recorder, clock: Clock) -> Self {
        Self { recorder, clock }
    }
}

impl Subscriber for DetailSink {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("etcd_sim")
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // Spans carry nothing the trace shows; one id serves them all.
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line::default();
        event.record(&mut line);
        let node = madsim::plugin::node();
        let now = self.clock.now_ns();
        if let Some(id) = line.member.and_then(|m| u64::from_str_radix(&m, 16).ok()) {
            self.recorder.member_logged(now, id, &line.message);
        }
        self.recorder.detail(
            now,
            format_args!(
                "node {node} {} {}{}",
                event.metadata().level(),
                line.message,
                line.fields
            ),
        );
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// An event's message and other fields, as text.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
    /// The `member` field: the raft id, in hex, of the member it is about.
    member: Option<String>,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if field.name() == "member" {
                self.member = Some(format!("{value:?}"));
            }
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}
