//! Work that takes a while — an fsync, encoding a snapshot, applying a large
//! batch — run where it may block, so that the async runtime's worker
//! threads stay free for gRPC, raft messages and timers.
//!
//! In the real build the work runs on tokio's blocking pool: a raft loop
//! waiting for its fsync, or an applier deleting 100,000 keys, no longer
//! holds up heartbeats on the same worker (which cost elections under
//! load). In simulation madsim runs the closure as a task of its own,
//! completing at the same simulated instant, with no OS thread: the same
//! code path, and still deterministic.

/// Runs `work` off the runtime's workers and waits for its result.
///
/// A panic in `work` (a failed fsync is one: the member stops) is a panic
/// of the caller.
pub async fn offload<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    // madsim marks its spawn_blocking deprecated because blocking is not
    // allowed in simulation; what runs here never blocks there.
    #[allow(deprecated)]
    let task = tokio::task::spawn_blocking(work);
    task.await
        .unwrap_or_else(|e| panic!("offloaded work stopped before it completed: {e}"))
}
