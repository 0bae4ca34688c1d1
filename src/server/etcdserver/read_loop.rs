//! Linearizable reads in rounds (etcd's `linearizableReadLoop`).
//!
//! A linearizable read must not miss a write that completed before it
//! began. The leader's commit index, confirmed by a quorum after the read
//! began (raft's ReadIndex, thesis §6.4), bounds every such write; once
//! this member has applied that far, its store may answer the read.
//!
//! One confirmation serves every read that was waiting when it was asked
//! for, so reads share it: each read joins the round that is open
//! ([`ReadRounds::join`]); the loop ([`ReadRounds::run`]) closes it,
//! asks raft for one read index, waits for the answer and for the applier,
//! and answers the whole round at once. A read that joins while a round's
//! request is out waits for the next round: that confirmation may predate
//! a write that completed before the read began. Under load this turns
//! one ReadIndex per read into one per round, as in etcd 3.4.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::{oneshot, Notify};

use super::ServerError;

/// What a read that joined a round is answered with: `Ok` once its
/// round's read index was confirmed and applied here.
pub(super) type RoundResult = Result<(), ServerError>;

/// The reads waiting for the next round, and the loop's wake-up call.
#[derive(Default)]
pub(super) struct ReadRounds {
    /// Reads that joined since the last round closed, in arrival order.
    waiting: Mutex<Vec<oneshot::Sender<RoundResult>>>,
    /// Woken when a read joins. A wake-up while the loop is busy is kept
    /// (one permit), so the loop starts another round when it is done, as
    /// etcd's one-slot `readwaitc`.
    wake: Notify,
    /// Rounds run so far (each asked raft for a read index).
    rounds: AtomicU64,
    /// Reads answered by those rounds.
    served: AtomicU64,
}

impl ReadRounds {
    /// Joins the open round; the receiver gets the round's result. If it
    /// is dropped (the read gave up), the round goes on for the others.
    pub fn join(&self) -> oneshot::Receiver<RoundResult> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().unwrap().push(tx);
        self.wake.notify_one();
        rx
    }

    /// How many rounds ran and how many reads they answered.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.rounds.load(Ordering::Relaxed),
            self.served.load(Ordering::Relaxed),
        )
    }

    /// Runs rounds forever: whenever reads wait, closes the round, runs
    /// `confirm` for it (ask for a read index and wait until it is
    /// applied) and answers every read of the round with its result.
    pub async fn run<F, Fut>(&self, mut confirm: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = RoundResult>,
    {
        loop {
            self.wake.notified().await;
            // Closing the round before asking is what makes the answer
            // valid for it: every read in it began before the request.
            let round = std::mem::take(&mut *self.waiting.lock().unwrap());
            if round.is_empty() {
                continue;
            }
            self.rounds.fetch_add(1, Ordering::Relaxed);
            self.served.fetch_add(round.len() as u64, Ordering::Relaxed);
            let result = confirm().await;
            for read in round {
                let _ = read.send(result.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// A `confirm` that counts its calls and finishes each only when the
    /// test opens the gate once per call.
    struct Gate {
        calls: AtomicU64,
        open: Notify,
    }

    fn start(rounds: &Arc<ReadRounds>) -> Arc<Gate> {
        let gate = Arc::new(Gate {
            calls: AtomicU64::new(0),
            open: Notify::new(),
        });
        let (r, g) = (rounds.clone(), gate.clone());
        tokio::spawn(async move {
            r.run(|| {
                g.calls.fetch_add(1, Ordering::Relaxed);
                let g = g.clone();
                async move {
                    g.open.notified().await;
                    Ok(())
                }
            })
            .await
        });
        gate
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    #[cfg_attr(madsim, madsim::test)]
    #[cfg_attr(not(madsim), tokio::test)]
    async fn reads_waiting_together_share_one_round() {
        let rounds = Arc::new(ReadRounds::default());
        let reads: Vec<_> = (0..10).map(|_| rounds.join()).collect();
        let gate = start(&rounds);
        settle().await;
        assert_eq!(gate.calls.load(Ordering::Relaxed), 1);
        gate.open.notify_one();
        for read in reads {
            assert_eq!(read.await.unwrap(), Ok(()));
        }
        settle().await;
        assert_eq!(gate.calls.load(Ordering::Relaxed), 1, "no empty rounds");
        assert_eq!(rounds.counts(), (1, 10));
    }

    #[cfg_attr(madsim, madsim::test)]
    #[cfg_attr(not(madsim), tokio::test)]
    async fn a_read_that_joins_after_the_request_waits_for_the_next_round() {
        let rounds = Arc::new(ReadRounds::default());
        let gate = start(&rounds);
        let first = rounds.join();
        settle().await;
        assert_eq!(gate.calls.load(Ordering::Relaxed), 1);
        // The first round's request is out: a read now must not share it.
        let mut late = rounds.join();
        settle().await;
        gate.open.notify_one();
        assert_eq!(first.await.unwrap(), Ok(()));
        settle().await;
        assert!(late.try_recv().is_err(), "answered by the earlier round");
        assert_eq!(gate.calls.load(Ordering::Relaxed), 2);
        gate.open.notify_one();
        assert_eq!(late.await.unwrap(), Ok(()));
        assert_eq!(rounds.counts(), (2, 2));
    }

    #[cfg_attr(madsim, madsim::test)]
    #[cfg_attr(not(madsim), tokio::test)]
    async fn a_round_that_fails_fails_all_its_reads_and_the_next_round_runs() {
        let rounds = Arc::new(ReadRounds::default());
        let fail = Arc::new(AtomicU64::new(1));
        let r = rounds.clone();
        let f = fail.clone();
        tokio::spawn(async move {
            r.run(|| {
                let failing = f.swap(0, Ordering::Relaxed) == 1;
                async move {
                    if failing {
                        Err(ServerError::TimedOut)
                    } else {
                        Ok(())
                    }
                }
            })
            .await
        });
        let (a, b) = (rounds.join(), rounds.join());
        assert_eq!(a.await.unwrap(), Err(ServerError::TimedOut));
        assert_eq!(b.await.unwrap(), Err(ServerError::TimedOut));
        assert_eq!(rounds.join().await.unwrap(), Ok(()));
    }
}
