//! What etcd's `/health` and `/metrics` say about a member, computed here
//! so that simulation tests can ask the same questions the HTTP endpoints
//! (real mode) answer.

use std::time::Duration;

use super::EtcdServer;
use crate::metrics::{Metrics, Snapshot};
use crate::proto::etcdserverpb::AlarmType;

/// How long the health check's read through raft may take (etcd: 1 s).
const HEALTH_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a member is not healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unhealthy {
    /// An alarm not excluded by the caller is raised.
    Alarm,
    /// The member knows no leader.
    NoLeader,
    /// A linearizable read did not complete in time.
    ReadFailed,
}

impl EtcdServer {
    /// etcd 3.4's health check: no alarm raised (but those in `excluded`),
    /// a known leader, and a read confirmed by a quorum within a second.
    /// Counts the verdict in `etcd_server_health_success|failures`.
    pub async fn health(&self, excluded: &[AlarmType]) -> Result<(), Unhealthy> {
        let verdict = self.check_health(excluded).await;
        self.inner.metrics.health_checked(verdict.is_ok());
        verdict
    }

    async fn check_health(&self, excluded: &[AlarmType]) -> Result<(), Unhealthy> {
        if self
            .inner
            .state
            .read(|state| state.alarms.any_except(excluded))
        {
            return Err(Unhealthy::Alarm);
        }
        if self.inner.raft.status().leader == 0 {
            return Err(Unhealthy::NoLeader);
        }
        self.read_barrier_within(HEALTH_READ_TIMEOUT)
            .await
            .map_err(|_| Unhealthy::ReadFailed)
    }

    /// This member's metrics, for counting.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// This member's metrics with their state gauges (leader, indexes,
    /// sizes) set from where it stands now, for reading.
    pub fn current_metrics(&self) -> &Metrics {
        let status = self.status();
        self.inner.metrics.set(&Snapshot {
            leader: status.leader,
            is_leader: status.leader != 0 && status.leader == self.member_id(),
            committed: status.commit,
            applied: status.applied,
            db_size: status.db_size,
            db_size_in_use: status.db_size_in_use,
        });
        &self.inner.metrics
    }
}
