//! Simulated time since the start of a run, as every actor of the harness
//! stamps what it records.
//!
//! A leaf: the run starts one, and the nemesis, the clients, the member
//! comparison and the detail sink read it. It lives apart from the run so
//! that none of them has to import the module that drives them.

use madsim::time::Instant;

/// Simulated time since the start of a run.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock that reads 0 now.
    pub fn start() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    /// Nanoseconds since the start.
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}
