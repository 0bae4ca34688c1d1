//! Short watches from a recent revision: each watcher client, again and
//! again, opens a watch from a revision at most a few below the newest it
//! has been told of, on a member it picks at random, follows it for a
//! moment and drops it — as a client resuming at the last revision it
//! processed (inclusive, to be safe) does, or a cache re-reading its tail.
//!
//! A watch's first pass reads the member's history from its start; the
//! other watchers, once caught up, read only what is new. So without these
//! the recent history a member serves is read back only by the few watches
//! far behind, and only when they are: a member that serves a revision
//! twice, or not at all, for a moment (between its backend's batch
//! commits, during a restore) goes unseen. With them it is read every few
//! hundred milliseconds, on every member, under every fault.
//!
//! Each watch logs into a log of its own for the watch check, numbered
//! from [`RECENT_LOGS`] `+ 100_000 * client` on.

use std::sync::Arc;
use std::time::Duration;

use etcd_sim::client::{Client, WatchOptions};
use madsim::rand::{thread_rng, Rng};
use tokio::sync::oneshot;

use crate::actors::watch_log::{follow, new_log, told, Followed, WatchLogs};
use crate::actors::workload::KEY_PREFIX;

/// The first log number of watcher client 0's recent watches.
pub const RECENT_LOGS: u32 = 1_000_000;

/// Runs watcher client `client_id`'s recent watches until `stop` fires (or
/// its sender is dropped). The newest revision it knows of is the highest
/// its main watch (log `client_id`) or its own short watches were told of.
pub async fn run_recent_watches(
    client: Arc<Client>,
    client_id: u32,
    members: usize,
    logs: WatchLogs,
    mut stop: oneshot::Receiver<()>,
) {
    let mut newest = 0;
    for number in (RECENT_LOGS + 100_000 * client_id).. {
        let pause = Duration::from_millis(thread_rng().gen_range(20..120));
        tokio::select! {
            biased;
            _ = &mut stop => return,
            () = tokio::time::sleep(pause) => {}
        }
        newest = logs
            .lock()
            .unwrap()
            .iter()
            .filter(|log| log.watcher == client_id)
            .map(told)
            .fold(newest, i64::max);
        if newest == 0 {
            // Nothing is known yet: "recent" means nothing.
            continue;
        }
        let start = (newest - thread_rng().gen_range(0..4)).max(1);
        let slot = new_log(&logs, number, start);
        client.prefer_endpoint(thread_rng().gen_range(0..members));
        let stream = client.watch(
            KEY_PREFIX,
            WatchOptions::new().prefix().from_revision(start),
        );
        let length = Duration::from_millis(thread_rng().gen_range(20..300));
        let closed = tokio::select! {
            biased;
            followed = follow(stream, &logs, slot, &mut stop) => match followed {
                Followed::Stopped => return,
                // It ended by itself: that is the watch check's to judge.
                Followed::Ended => false,
            },
            // Dropping the stream cancels the watch.
            () = tokio::time::sleep(length) => true,
        };
        let mut logs = logs.lock().unwrap();
        logs[slot].closed = closed;
        newest = newest.max(told(&logs[slot]));
    }
}
