//! The run's log collector: it reads the members' and clients' `tracing`
//! events as they happen, always, and keeps what the verdict needs:
//!
//! - coverage: how often each rare path ([`etcd_sim::coverage`]) and each
//!   bug switch's site was reached, plus torn WAL tails cut (from the
//!   members' own recovery log line);
//! - each member's last raft role and term and its newest snapshot, for the
//!   evidence of a `stuck` verdict (the Status API tells term, commit and
//!   applied index, not the role or the snapshot).
//!
//! With `details`, it also hands every event to the [`DetailSink`] for
//! `reproduce --trace`. Nothing here feeds back into the run.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use etcd_sim::coverage::TARGET;
use etcd_sim_checker::report::Role;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

use crate::cluster::clock::Clock;
use crate::cluster::details::DetailSink;
use crate::record::coincidences::Moment;
use crate::record::member_events::{parse, Logged};
use crate::record::membership_lines::{self, MembershipLine};

/// Counts of reached paths, by name (`site:…`, `bug-site:…`, …).
pub type Counts = BTreeMap<String, u64>;

/// What the logs told about one member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberLog {
    /// The last role change: role, term and leader (raft id, 0 for none).
    pub role: Option<(String, u64, u64)>,
    /// The index of its newest snapshot (taken or restored), 0 if none.
    pub snapshot: u64,
    /// While it led: each peer's replication state as it last changed
    /// ("Snapshot, match 20, next 21, pending snapshot 40"), by raft id.
    pub progress: BTreeMap<u64, String>,
}

#[derive(Default)]
struct State {
    counts: Counts,
    members: BTreeMap<u64, MemberLog>,
    /// Every line about who votes, in the order logged.
    membership: Vec<MembershipLine>,
    /// When each rare path was reached and each leader elected, for the
    /// coincidences ([`crate::record::coincidences`]).
    moments: Vec<Moment>,
}

/// The collected counts and member logs; clones share them.
#[derive(Clone, Default)]
pub struct Observations(Arc<Mutex<State>>);

impl Observations {
    /// Adds `n` to path `name`.
    pub fn count(&self, name: impl Into<String>, n: u64) {
        *self
            .0
            .lock()
            .unwrap()
            .counts
            .entry(name.into())
            .or_insert(0) += n;
    }

    /// Notes that the event `name` happened at `at_ns`.
    fn moment(&self, at_ns: u64, name: String) {
        self.0.lock().unwrap().moments.push((at_ns, name));
    }

    /// The moments so far, in the order noted.
    pub fn moments(&self) -> Vec<Moment> {
        self.0.lock().unwrap().moments.clone()
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.0.lock().unwrap().counts.clone()
    }

    /// What the logs told about member `id` (its raft id).
    pub fn member(&self, id: u64) -> MemberLog {
        let state = self.0.lock().unwrap();
        state.members.get(&id).cloned().unwrap_or_default()
    }

    /// The members' lines about who votes, in the order they logged them.
    pub fn membership(&self) -> Vec<MembershipLine> {
        self.0.lock().unwrap().membership.clone()
    }

    fn logged(&self, member: u64, at_ns: u64, message: &str) {
        let mut state = self.0.lock().unwrap();
        if let Some(fact) = membership_lines::parse(message) {
            state.membership.push(MembershipLine {
                member,
                at_ns,
                fact,
            });
        }
        if message.starts_with("wal: cut") {
            *state.counts.entry("torn-wal-cut".into()).or_insert(0) += 1;
        }
        if let Some(Logged::Role {
            role: Role::Leader, ..
        }) = parse(message)
        {
            state.moments.push((at_ns, "leader-elected".into()));
        }
        let log = state.members.entry(member).or_default();
        if let Some(index) = snapshot_index(message) {
            log.snapshot = log.snapshot.max(index);
        }
        if let Some(Logged::Role { role, term, leader }) = parse(message) {
            log.role = Some((format!("{role:?}"), term, leader));
            log.progress.clear();
        }
        if let Some((peer, progress)) = peer_progress(message) {
            log.progress.insert(peer, progress.to_string());
        }
    }
}

/// A leader's line on a peer's replication state: the peer and the state.
fn peer_progress(message: &str) -> Option<(u64, &str)> {
    let (peer, progress) = message.strip_prefix("progress of ")?.split_once(": ")?;
    Some((u64::from_str_radix(peer, 16).ok()?, progress))
}

/// The snapshot index a member's line names: a snapshot it took or one
/// it started from.
fn snapshot_index(message: &str) -> Option<u64> {
    let rest = message
        .strip_prefix("snapshot at index ")
        .or_else(|| message.strip_prefix("started from a snapshot at index "))?;
    rest.split(' ').next()?.parse().ok()
}

/// The subscriber: observations always, details when asked.
pub struct Observer {
    observations: Observations,
    /// The run's clock, which stamps the lines kept (none outside a run:
    /// they are stamped 0).
    clock: Option<Clock>,
    details: Option<DetailSink>,
}

impl Observer {
    /// Collects into `observations`, stamped by `clock`, and into
    /// `details` if given.
    pub fn new(
        observations: Observations,
        clock: Option<Clock>,
        details: Option<DetailSink>,
    ) -> Self {
        Self {
            observations,
            clock,
            details,
        }
    }
}

impl Observer {
    /// The run's simulated time (0 outside a run).
    fn now_ns(&self) -> u64 {
        self.clock.map_or(0, |clock| clock.now_ns())
    }
}

impl Subscriber for Observer {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // Other runs' subscribers may want what this one does not: ask
        // each time rather than let the first answer stick.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let ours = metadata.target().starts_with("etcd_sim");
        ours && (self.details.is_some()
            || metadata.target() == TARGET
            || *metadata.level() <= Level::INFO)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if event.metadata().target() == TARGET {
            let mut site = Site::default();
            event.record(&mut site);
            if let Some(name) = site.0 {
                if name.starts_with("site:") {
                    self.observations.moment(self.now_ns(), name.clone());
                }
                self.observations.count(name, 1);
            }
        } else if *event.metadata().level() <= Level::INFO {
            let mut line = Line::default();
            event.record(&mut line);
            if let Some(id) = line.member.and_then(|m| u64::from_str_radix(&m, 16).ok()) {
                self.observations.logged(id, self.now_ns(), &line.message);
            }
        }
        if let Some(details) = &self.details {
            details.event(event);
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// A coverage event's path name.
#[derive(Default)]
struct Site(Option<String>);

impl Visit for Site {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "site" => self.0 = Some(format!("site:{value}")),
            "bug" => self.0 = Some(format!("bug-site:{value}")),
            "perturbation" => self.0 = Some(format!("perturbed:{value}")),
            _ => {}
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

/// A member log line's message and member.
#[derive(Default)]
struct Line {
    message: String,
    member: Option<String>,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "member" => self.member = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_lines_name_their_index() {
        assert_eq!(snapshot_index("snapshot at index 50 term 2"), Some(50));
        assert_eq!(
            snapshot_index("started from a snapshot at index 25 and 3 WAL entries"),
            Some(25)
        );
        assert_eq!(snapshot_index("Leader at term 3, leader 2a"), None);
        assert_eq!(
            peer_progress("progress of 2a: Snapshot, match 3, next 4, pending snapshot 9"),
            Some((0x2a, "Snapshot, match 3, next 4, pending snapshot 9"))
        );
        assert_eq!(peer_progress("snapshot at index 9 term 1"), None);
    }

    #[test]
    fn coverage_events_are_counted_and_role_lines_remembered() {
        let observations = Observations::default();
        let observer = Observer::new(observations.clone(), None, None);
        tracing::subscriber::with_default(observer, || {
            etcd_sim::coverage::hit(etcd_sim::coverage::Site::ClientFailover);
            etcd_sim::coverage::hit(etcd_sim::coverage::Site::ClientFailover);
            etcd_sim::coverage::bug_site(etcd_sim::bugs::Bug::StaleRead);
            // As the members log them (src/raft/node.rs).
            let member = format_args!("{:x}", 0x2a);
            tracing::info!(target: "etcd_sim::raft", member, "Leader at term 3, leader 2a");
            let member = format_args!("{:x}", 0x2a);
            tracing::warn!(target: "etcd_sim::raft", member, "wal: cut a torn last record of 7 bytes");
            let member = format_args!("{:x}", 0x2a);
            tracing::debug!(target: "etcd_sim::raft", member, "snapshot at index 9 term 1");
        });
        let counts = observations.counts();
        assert_eq!(counts.get("site:client-failover"), Some(&2));
        assert_eq!(counts.get("bug-site:stale-read"), Some(&1));
        assert_eq!(counts.get("torn-wal-cut"), Some(&1));
        let member = observations.member(0x2a);
        assert_eq!(member.role, Some(("Leader".to_string(), 3, 0x2a)));
        assert_eq!(member.snapshot, 0, "debug lines are not read");
    }
}
