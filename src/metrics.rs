//! A member's Prometheus metrics, under etcd 3.4's names.
//!
//! Each member owns one [`Metrics`] with a registry of its own (no global
//! statics), so the members of one simulated cluster, which share a
//! process, count apart. The layers that see an event count it through
//! one call (raft: leader changes and WAL syncs; the applier: leases;
//! the server: proposals; the watch service: streams and watchers);
//! what is a state rather than an event (leader, indexes, sizes) is set
//! from the member's status when the metrics are read. The same code runs
//! in simulation, where tests read the counters; only the HTTP listener
//! that serves [`Metrics::encode`] is real-mode.
//!
//! Durations are measured on the runtime clock (simulated time under
//! madsim), never by the crate's own timers, which read the OS clock.

use std::sync::Arc;
use std::time::Duration;

use prometheus::proto::MetricType;
use prometheus::{
    exponential_buckets, Encoder as _, Histogram, HistogramOpts, IntCounter, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// What the Prometheus text format is served as (the content type etcd's
/// `/metrics` answers with).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One member's metrics. Cheap to clone; clones count together.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

struct Inner {
    registry: Registry,
    has_leader: IntGauge,
    is_leader: IntGauge,
    leader_changes: IntCounter,
    proposals_committed: IntGauge,
    proposals_applied: IntGauge,
    proposals_pending: IntGauge,
    proposals_failed: IntCounter,
    wal_fsync: Histogram,
    backend_commit: Histogram,
    db_total_size: IntGauge,
    db_total_size_in_use: IntGauge,
    watch_streams: IntGauge,
    watchers: IntGauge,
    lease_granted: IntCounter,
    lease_revoked: IntCounter,
    lease_renewed: IntCounter,
    health_success: IntCounter,
    health_failures: IntCounter,
}

/// What a member is when its metrics are read: the gauges etcd keeps up
/// to date as it goes, set here at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The leader this member follows (0: none known).
    pub leader: u64,
    /// Whether this member leads.
    pub is_leader: bool,
    /// The highest raft index known committed.
    pub committed: u64,
    /// The highest raft index applied.
    pub applied: u64,
    /// The backend's size, empty backend included.
    pub db_size: u64,
    /// What the retained records take.
    pub db_size_in_use: u64,
}

impl Metrics {
    /// The metrics of member `member_id`, with etcd's constant series (its
    /// id, the versions and the backend quota) set.
    pub fn new(member_id: u64, server_version: &str, quota_backend_bytes: u64) -> Self {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| register(&registry, IntGauge::new(name, help));
        let counter = |name: &str, help: &str| register(&registry, IntCounter::new(name, help));
        let labelled = |name: &str, help: &str, label: &str, value: &str| {
            let vec = register(&registry, IntGaugeVec::new(Opts::new(name, help), &[label]));
            vec.with_label_values(&[value]).set(1);
        };
        // etcd's buckets for disk latencies: 1 ms to about 8 s, doubling.
        let disk = |name: &str, help: &str| {
            let buckets = exponential_buckets(0.001, 2.0, 14).expect("valid buckets");
            register(
                &registry,
                Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)),
            )
        };
        labelled(
            "etcd_server_id",
            "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
            "server_id",
            &format!("{member_id:x}"),
        );
        labelled(
            "etcd_server_version",
            "Which version is running. 1 for 'server_version' label with current version.",
            "server_version",
            server_version,
        );
        let cluster_version = server_version.rsplitn(2, '.').last().unwrap_or("3.4");
        labelled(
            "etcd_cluster_version",
            "Which version is running. 1 for 'cluster_version' label with current cluster version",
            "cluster_version",
            cluster_version,
        );
        gauge(
            "etcd_server_quota_backend_bytes",
            "Current backend storage quota size in bytes.",
        )
        .set(gauge_value(quota_backend_bytes));
        let inner = Inner {
            has_leader: gauge(
                "etcd_server_has_leader",
                "Whether or not a leader exists. 1 is existence, 0 is not.",
            ),
            is_leader: gauge(
                "etcd_server_is_leader",
                "Whether or not this member is a leader. 1 if is, 0 otherwise.",
            ),
            leader_changes: counter(
                "etcd_server_leader_changes_seen_total",
                "The number of leader changes seen.",
            ),
            proposals_committed: gauge(
                "etcd_server_proposals_committed_total",
                "The total number of consensus proposals committed.",
            ),
            proposals_applied: gauge(
                "etcd_server_proposals_applied_total",
                "The total number of consensus proposals applied.",
            ),
            proposals_pending: gauge(
                "etcd_server_proposals_pending",
                "The current number of pending proposals to commit.",
            ),
            proposals_failed: counter(
                "etcd_server_proposals_failed_total",
                "The total number of failed proposals seen.",
            ),
            wal_fsync: disk(
                "etcd_disk_wal_fsync_duration_seconds",
                "The latency distributions of fsync called by WAL.",
            ),
            backend_commit: disk(
                "etcd_disk_backend_commit_duration_seconds",
                "The latency distributions of commit called by backend.",
            ),
            db_total_size: gauge(
                "etcd_mvcc_db_total_size_in_bytes",
                "Total size of the underlying database physically allocated in bytes.",
            ),
            db_total_size_in_use: gauge(
                "etcd_mvcc_db_total_size_in_use_in_bytes",
                "Total size of the underlying database logically in use in bytes.",
            ),
            watch_streams: gauge(
                "etcd_debugging_mvcc_watch_stream_total",
                "Total number of watch streams.",
            ),
            watchers: gauge(
                "etcd_debugging_mvcc_watcher_total",
                "Total number of watchers.",
            ),
            lease_granted: counter(
                "etcd_debugging_lease_granted_total",
                "The total number of granted leases.",
            ),
            lease_revoked: counter(
                "etcd_debugging_lease_revoked_total",
                "The total number of revoked leases.",
            ),
            lease_renewed: counter(
                "etcd_debugging_lease_renewed_total",
                "The number of renewed leases seen by the leader.",
            ),
            health_success: counter(
                "etcd_server_health_success",
                "The total number of successful health checks",
            ),
            health_failures: counter(
                "etcd_server_health_failures",
                "The total number of failed health checks",
            ),
            registry,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Metrics that belong to no member, for parts started alone (tests).
    pub fn detached() -> Self {
        Self::new(0, "3.4.0", 0)
    }

    /// Raft saw a leader it did not follow before (none is not one).
    pub fn leader_changed(&self) {
        self.inner.leader_changes.inc();
    }

    /// The WAL synced in `took`.
    pub fn observe_wal_fsync(&self, took: Duration) {
        self.inner.wal_fsync.observe(took.as_secs_f64());
    }

    /// A batch of committed entries was applied to the store in `took`.
    pub fn observe_backend_commit(&self, took: Duration) {
        self.inner.backend_commit.observe(took.as_secs_f64());
    }

    /// A proposal is in flight until the returned guard drops.
    pub fn proposal_pending(&self) -> PendingProposal {
        self.inner.proposals_pending.inc();
        PendingProposal(self.inner.proposals_pending.clone())
    }

    /// A proposal failed (dropped, timed out, or the member stopped).
    pub fn proposal_failed(&self) {
        self.inner.proposals_failed.inc();
    }

    /// A lease grant was applied.
    pub fn lease_granted(&self) {
        self.inner.lease_granted.inc();
    }

    /// A lease revocation was applied.
    pub fn lease_revoked(&self) {
        self.inner.lease_revoked.inc();
    }

    /// The leader renewed a lease.
    pub fn lease_renewed(&self) {
        self.inner.lease_renewed.inc();
    }

    /// A health check said `healthy`.
    pub fn health_checked(&self, healthy: bool) {
        if healthy {
            self.inner.health_success.inc();
        } else {
            self.inner.health_failures.inc();
        }
    }

    /// A watch stream is open until the returned guard drops; the guard
    /// also counts the stream's watchers.
    pub fn watch_stream(&self) -> WatchStreamGauge {
        self.inner.watch_streams.inc();
        WatchStreamGauge {
            metrics: self.clone(),
            watchers: 0,
        }
    }

    /// Sets the state gauges from `now`.
    pub fn set(&self, now: &Snapshot) {
        let inner = &self.inner;
        inner.has_leader.set(i64::from(now.leader != 0));
        inner.is_leader.set(i64::from(now.is_leader));
        inner.proposals_committed.set(gauge_value(now.committed));
        inner.proposals_applied.set(gauge_value(now.applied));
        inner.db_total_size.set(gauge_value(now.db_size));
        inner
            .db_total_size_in_use
            .set(gauge_value(now.db_size_in_use));
    }

    /// Every metric in Prometheus's text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.inner.registry.gather(), &mut out)
            .expect("the text encoder writes to memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }

    /// The value of the counter or gauge `name` (the sum of its series),
    /// or the sample count of the histogram `name`; `None` if there is no
    /// such metric. For tests and for reading one number without parsing
    /// [`Metrics::encode`].
    pub fn value(&self, name: &str) -> Option<f64> {
        let family = self
            .inner
            .registry
            .gather()
            .into_iter()
            .find(|f| f.name() == name)?;
        let kind = family.get_field_type();
        Some(
            family
                .get_metric()
                .iter()
                .map(|m| match kind {
                    MetricType::COUNTER => m.get_counter().get_value(),
                    MetricType::GAUGE => m.get_gauge().get_value(),
                    MetricType::HISTOGRAM => m.get_histogram().get_sample_count() as f64,
                    _ => 0.0,
                })
                .sum(),
        )
    }
}

/// Decrements `etcd_server_proposals_pending` when the proposal is done,
/// however it ends.
pub struct PendingProposal(IntGauge);

impl Drop for PendingProposal {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One open watch stream and its watchers in the gauges; both leave them
/// when the stream ends.
pub struct WatchStreamGauge {
    metrics: Metrics,
    watchers: usize,
}

impl WatchStreamGauge {
    /// The stream now has `watchers` watchers.
    pub fn set_watchers(&mut self, watchers: usize) {
        let gauge = &self.metrics.inner.watchers;
        gauge.add(watchers as i64 - self.watchers as i64);
        self.watchers = watchers;
    }
}

impl Drop for WatchStreamGauge {
    fn drop(&mut self) {
        self.set_watchers(0);
        self.metrics.inner.watch_streams.dec();
    }
}

fn register<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let metric = metric.expect("a valid metric definition");
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric is registered once");
    metric
}

fn gauge_value(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_encodes_under_etcds_names() {
        let m = Metrics::new(0xabc, "3.4.0", 2 << 30);
        m.leader_changed();
        {
            let _pending = m.proposal_pending();
            assert_eq!(m.value("etcd_server_proposals_pending"), Some(1.0));
        }
        assert_eq!(m.value("etcd_server_proposals_pending"), Some(0.0));
        let mut stream = m.watch_stream();
        stream.set_watchers(3);
        assert_eq!(m.value("etcd_debugging_mvcc_watcher_total"), Some(3.0));
        drop(stream);
        assert_eq!(m.value("etcd_debugging_mvcc_watcher_total"), Some(0.0));
        assert_eq!(m.value("etcd_debugging_mvcc_watch_stream_total"), Some(0.0));
        m.observe_wal_fsync(Duration::from_millis(3));
        m.set(&Snapshot {
            leader: 7,
            committed: 9,
            ..Snapshot::default()
        });
        let text = m.encode();
        for line in [
            "etcd_server_has_leader 1",
            "etcd_server_leader_changes_seen_total 1",
            "etcd_server_proposals_committed_total 9",
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.004\"} 1",
            "etcd_disk_wal_fsync_duration_seconds_count 1",
            "etcd_server_id{server_id=\"abc\"} 1",
            "etcd_cluster_version{cluster_version=\"3.4\"} 1",
            "# TYPE etcd_server_leader_changes_seen_total counter",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }

    #[test]
    fn members_count_apart() {
        let (a, b) = (Metrics::detached(), Metrics::detached());
        a.lease_granted();
        assert_eq!(a.value("etcd_debugging_lease_granted_total"), Some(1.0));
        assert_eq!(b.value("etcd_debugging_lease_granted_total"), Some(0.0));
    }
}
