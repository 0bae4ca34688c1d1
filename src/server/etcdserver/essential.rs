//! The tasks a member cannot live without: its raft loop and its applier.
//!
//! Either one ending — a panic, or a loop that returned — leaves a member
//! that still answers on its ports but can no longer commit or apply: every
//! write and linearizable read would time out, and nothing outside would
//! notice. So the member stops instead (fail-stop, as a Go panic stops
//! etcd): [`crate::server::run`] waits on [`EssentialTasks::first_to_end`]
//! next to its listeners and returns the error, the process exits, and a
//! supervisor sees it. In simulation a panicking task already takes its
//! node down through madsim, which the harness reports.

use std::fmt;

use futures::future::select_all;
use futures::FutureExt as _;
use tokio::task::JoinHandle;

/// The essential tasks of one member.
pub struct EssentialTasks {
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

/// Which essential task ended, and how.
#[derive(Debug)]
pub struct TaskEnded {
    /// The task's name.
    pub task: &'static str,
    /// How it ended: its panic, or that it returned.
    pub how: String,
}

impl fmt::Display for TaskEnded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} stopped: {}", self.task, self.how)
    }
}

impl std::error::Error for TaskEnded {}

impl EssentialTasks {
    pub(super) fn new(tasks: Vec<(&'static str, JoinHandle<()>)>) -> Self {
        Self { tasks }
    }

    /// Waits until one of the tasks ends; never returns while all run.
    pub async fn first_to_end(self) -> TaskEnded {
        if self.tasks.is_empty() {
            return futures::future::pending().await;
        }
        let (names, handles): (Vec<_>, Vec<_>) = self.tasks.into_iter().unzip();
        let watched = handles.into_iter().map(|h| h.boxed());
        let (result, index, _) = select_all(watched).await;
        TaskEnded {
            task: names[index],
            how: match result {
                Ok(()) => "it returned".to_string(),
                Err(e) => e.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[cfg_attr(madsim, madsim::test)]
    #[cfg_attr(not(madsim), tokio::test)]
    async fn the_first_task_to_end_is_named() {
        let forever = tokio::spawn(futures::future::pending::<()>());
        let brief = tokio::spawn(tokio::time::sleep(Duration::from_millis(10)));
        let tasks = EssentialTasks::new(vec![("raft loop", forever), ("applier", brief)]);
        let ended = tasks.first_to_end().await;
        assert_eq!(ended.to_string(), "the applier stopped: it returned");
    }

    /// In simulation a panic takes the node down before anyone could join
    /// the task; with real tokio the join reports it.
    #[cfg(not(madsim))]
    #[tokio::test]
    async fn a_panicking_task_is_named_with_its_panic() {
        let dies = tokio::spawn(async { panic!("committed entry 7 does not decode") });
        let tasks = EssentialTasks::new(vec![("applier", dies)]);
        let ended = tasks.first_to_end().await.to_string();
        assert!(ended.starts_with("the applier stopped: "), "{ended}");
        assert!(
            ended.contains("committed entry 7 does not decode"),
            "{ended}"
        );
    }
}
