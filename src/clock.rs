//! How fast a member's clock runs: a fault switch.
//!
//! Raft's safety does not depend on clocks, but its liveness and every
//! lease-like shortcut do. A test slows or speeds one member's ticks to
//! find code that silently assumes all clocks agree. At the default rate
//! of 100 % the member ticks at its configured interval.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

/// A member's clock rate in percent of true time; clones share it.
#[derive(Debug, Clone)]
pub struct ClockRate(Arc<AtomicU32>);

impl Default for ClockRate {
    fn default() -> Self {
        Self(Arc::new(AtomicU32::new(100)))
    }
}

impl ClockRate {
    /// Makes the member's clock run at `percent` of true time (200: twice
    /// as fast, its ticks come twice as often; 50: half as fast).
    ///
    /// # Panics
    /// If `percent` is 0: a stopped clock is a paused member, a fault of its own.
    pub fn set_percent(&self, percent: u32) {
        assert!(percent > 0, "a clock rate of 0% stops the member");
        self.0.store(percent, Ordering::Relaxed);
    }

    /// How long one `tick` of this member's clock takes in true time.
    pub fn scale(&self, tick: Duration) -> Duration {
        tick * 100 / self.0.load(Ordering::Relaxed)
    }
}

/// A ticker whose first tick comes one `period` from now and which drops
/// the ticks it missed, as Go's `time.Ticker` does (etcd's raft loop and
/// watch progress run on one). tokio's default fires every missed tick at
/// once: a member resumed after a pause (SIGSTOP, a VM freeze, a long
/// stall) would run out its election timeout in one burst and campaign
/// several times within milliseconds, deposing the leader elected while
/// it was away.
pub fn ticker(period: Duration) -> Interval {
    let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    ticker
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_clock_stretches_ticks_and_a_fast_one_shrinks_them() {
        let rate = ClockRate::default();
        let tick = Duration::from_millis(100);
        assert_eq!(rate.scale(tick), tick);
        rate.set_percent(50);
        assert_eq!(rate.scale(tick), Duration::from_millis(200));
        rate.clone().set_percent(200);
        assert_eq!(rate.scale(tick), Duration::from_millis(50));
    }
}
