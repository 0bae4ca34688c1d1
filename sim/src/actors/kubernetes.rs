//! Kubernetes-style traffic, as kube-apiserver drives etcd (etcd
//! robustness's Kubernetes traffic): paginated lists at one revision,
//! gets, optimistic updates (a txn that puts only if the key's mod
//! revision is still the one last read, and reads the key otherwise, to
//! retry once from what it read), creates (only if the key's create
//! revision is 0), deletes guarded by the mod revision, lists at a past
//! revision (a `resourceVersion`), and a compaction now and then. Every
//! operation is recorded in the same history as the etcd traffic's. Its
//! informer watches every key from just after its first list, with
//! progress notifications, for the whole run, judged by the watch check.

use etcd_sim::client::{Client, WatchOptions};
use etcd_sim_checker::{Compare, CompareTarget, Outcome, Relation, Request, Response, TxnStep};
use madsim::rand::{thread_rng, Rng};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::actors::context::ClientContext;
use crate::actors::watch_log::{follow, new_log, WatchLogs};
use crate::actors::workload::{Turn, Workload, KEY_PREFIX};

/// Runs Kubernetes-style client `ctx.id`; returns its informer's watch,
/// which goes on until the informer's stop fires.
pub async fn run_client(
    ctx: ClientContext,
    workload: Workload,
    informer: Informer,
) -> Option<JoinHandle<()>> {
    let id = ctx.id;
    let client = ctx.client();
    client.prefer_endpoint(thread_rng().gen_range(0..ctx.endpoints.len()));
    let mut c = Turn::new(&ctx, &client, &workload);
    // An informer lists, then watches from just after the list's revision
    // (a failed list is tried again, a few times).
    let mut watch = None;
    let mut informer = Some(informer);
    for _attempt in 0..3 {
        if let Some(listed) = c.paginated_list().await {
            let informer = informer.take().expect("watched once");
            watch = Some(informer.watch(&client, INFORMER_LOG + id, listed + 1));
            break;
        }
    }
    for seq in workload.turns(ctx.clock) {
        let key = c.key();
        let value = workload.value(id, seq);
        let outcome = match thread_rng().gen_range(0..100) {
            0..12 => {
                c.paginated_list().await;
                None
            }
            12..27 => Some(
                c.run(&Request::Get {
                    key,
                    serializable: false,
                })
                .await,
            ),
            27..57 => Some(c.optimistic_update(&key, &value).await),
            57..75 => Some(
                c.run(&guarded(
                    &key,
                    CompareTarget::CreateRevision(0),
                    put(&key, &value),
                ))
                .await,
            ),
            75..90 => {
                let modified = c.mod_revision(&key);
                let delete = TxnStep::Delete { key: key.clone() };
                Some(
                    c.run(&guarded(&key, CompareTarget::ModRevision(modified), delete))
                        .await,
                )
            }
            90..97 => {
                let request = Request::List {
                    start: KEY_PREFIX.to_string(),
                    end: crate::actors::workload::prefix_end(KEY_PREFIX),
                    revision: c.past_revision(),
                    limit: 0,
                    keys_only: false,
                    count_only: false,
                    serializable: false,
                    order: Default::default(),
                };
                Some(c.run(&request).await)
            }
            _ => c.compact(c.newest_revision() - 5).await,
        };
        c.pause(outcome.as_ref()).await;
    }
    watch
}

/// Informer watch logs are numbered from here, plus the client's id.
pub const INFORMER_LOG: u32 = 1000;

/// What a Kubernetes client needs to run its informer's watch: where to
/// log it, and the signal that the run is over.
pub struct Informer {
    /// The run's watch logs.
    pub logs: WatchLogs,
    /// Fires when the run is over.
    pub stop: oneshot::Receiver<()>,
}

impl Informer {
    /// Watches every workload key from `start` with progress notifications,
    /// as a Kubernetes informer does after its list at revision `start - 1`,
    /// into watch log `watcher` until the run is over; the watch check
    /// judges it like any other (a compaction that overtook the list
    /// cancels it).
    pub fn watch(self, client: &Client, watcher: u32, start: i64) -> JoinHandle<()> {
        let Informer { logs, mut stop } = self;
        let slot = new_log(&logs, watcher, start);
        let options = WatchOptions::new()
            .prefix()
            .from_revision(start)
            .progress_notify();
        let stream = client.watch(KEY_PREFIX, options);
        tokio::spawn(async move {
            follow(stream, &logs, slot, &mut stop).await;
        })
    }
}

fn put(key: &str, value: &str) -> TxnStep {
    TxnStep::Put {
        key: key.to_string(),
        value: value.to_string(),
        lease: 0,
    }
}

/// A txn that does `step` if `key`'s `target` is as given, and reads the
/// key otherwise (kube-apiserver's guarded update, create and delete).
fn guarded(key: &str, target: CompareTarget, step: TxnStep) -> Request {
    Request::Txn {
        compares: vec![Compare {
            key: key.to_string(),
            target,
            relation: Relation::Equal,
        }],
        success: vec![step],
        failure: vec![TxnStep::Get {
            key: key.to_string(),
            revision: 0,
        }],
    }
}

impl Turn<'_> {
    /// An optimistic update: read the key if this client never saw it,
    /// then put if its mod revision is still the one read; on a conflict
    /// the failure branch's read gives the new one, and it retries once.
    async fn optimistic_update(&mut self, key: &str, value: &str) -> Outcome {
        if !self.has_seen(key) {
            let read = self
                .run(&Request::Get {
                    key: key.to_string(),
                    serializable: false,
                })
                .await;
            if !matches!(read, Outcome::Ok(_)) {
                return read;
            }
        }
        let mut outcome = Outcome::Fail("not tried".into());
        for attempt in 0..2 {
            let value = format!("{value}-{attempt}");
            let modified = self.mod_revision(key);
            outcome = self
                .run(&guarded(
                    key,
                    CompareTarget::ModRevision(modified),
                    put(key, &value),
                ))
                .await;
            if !matches!(
                outcome,
                Outcome::Ok(Response::Txn {
                    succeeded: false,
                    ..
                })
            ) {
                break;
            }
        }
        outcome
    }
}
