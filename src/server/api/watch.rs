//! The Watch service (etcd's `v3rpc/watch.go`): one task per stream runs the
//! stream's [`Watchers`] against this member's applied store.
//!
//! The task wakes on four things — a request from the client, the applier
//! having moved the store, the progress ticker, room freed in the stream —
//! and after each queues what the watchers produced, in order, in a small
//! channel (etcd's `w.ch`) that the stream's sending drains onto the wire
//! at the client's pace. A catch-up pass queues only what the channel has
//! room for; the watchers it leaves behind catch up from the store's
//! history when room frees. Only this stream waits on a slow client; the
//! applier never does (it just wakes the streams, see
//! `EtcdServer::applied_signal`).

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use madsim::rand::{thread_rng, Rng};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use super::gate::admit;
use super::header::fill_without_revision;
use crate::bugs::Bug;
use crate::coverage;
use crate::mvcc::KvStore;
use crate::perturb::Perturbation;
use crate::proto::etcdserverpb::watch_request::RequestUnion;
use crate::proto::etcdserverpb::watch_server::Watch;
use crate::proto::etcdserverpb::{WatchRequest, WatchResponse};
use crate::server::etcdserver::EtcdServer;
use crate::server::watch::{CatchUp, Watchers};

/// How often idle watchers that asked for it get a progress notification
/// (etcd's default `--experimental-watch-progress-notify-interval`).
pub const PROGRESS_NOTIFY_INTERVAL: Duration = Duration::from_secs(600);

/// Responses a stream may have queued for its client before its task waits.
const STREAM_BUFFER: usize = 16;

/// Serves `etcdserverpb.Watch`.
pub struct WatchService {
    server: EtcdServer,
    progress_interval: Duration,
}

impl WatchService {
    /// The watch service of `server`.
    pub fn new(server: EtcdServer) -> Self {
        Self {
            server,
            progress_interval: PROGRESS_NOTIFY_INTERVAL,
        }
    }

    /// Sends periodic progress notifications every `interval` instead.
    pub fn with_progress_interval(mut self, interval: Duration) -> Self {
        self.progress_interval = interval;
        self
    }
}

/// The stream of responses of one watch RPC.
pub type WatchResponses = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = WatchResponses;

    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        admit(&self.server, false)?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let serve = serve_stream(
            self.server.clone(),
            request.into_inner(),
            Outlets {
                queue: tx,
                control: control_tx,
            },
            self.progress_interval,
        );
        tokio::spawn(serve);
        let server = self.server.clone();
        let state = (rx, control_rx, server);
        let responses =
            futures::stream::unfold(state, |(mut rx, mut control, server)| async move {
                let response = match next_to_send(&mut rx, &mut control).await? {
                    Ok(response) => Ok(on_the_wire(&server, response).await),
                    Err(status) => Err(status),
                };
                Some((response, (rx, control, server)))
            });
        Ok(Response::new(Box::pin(responses)))
    }
}

/// Where a stream's task puts what it has to send.
struct Outlets {
    /// The stream's queue (etcd's `w.ch`): everything, in the order the
    /// watchers produced it.
    queue: mpsc::Sender<Result<WatchResponse, Status>>,
    /// A path that may overtake the queue (etcd 3.4's `ctrlStream`, which
    /// its send loop serves beside the events): only progress answers
    /// under the `etcd-15220` bug take it.
    control: mpsc::UnboundedSender<Result<WatchResponse, Status>>,
}

/// The response the stream sends next. When both paths hold one, either
/// may go first, as etcd's send loop selects between its two channels (Go
/// picks a ready case at random); the coin is drawn only then, so only
/// under the bug.
async fn next_to_send(
    queue: &mut mpsc::Receiver<Result<WatchResponse, Status>>,
    control: &mut mpsc::UnboundedReceiver<Result<WatchResponse, Status>>,
) -> Option<Result<WatchResponse, Status>> {
    if !control.is_empty() && (queue.is_empty() || thread_rng().gen_bool(0.5)) {
        return control.recv().await;
    }
    if !queue.is_empty() {
        return queue.recv().await;
    }
    // Nothing to send yet: whichever comes first.
    tokio::select! {
        biased;
        Some(response) = control.recv() => Some(response),
        response = queue.recv() => response,
    }
}

/// Runs one stream until the client goes away or fails.
async fn serve_stream(
    server: EtcdServer,
    mut requests: Streaming<WatchRequest>,
    outlets: Outlets,
    progress_interval: Duration,
) {
    let tx = &outlets.queue;
    let mut watchers = Watchers::new(server.bugs());
    // Whether the client may still send requests: a client that half-closes
    // its side still reads, and etcd keeps serving its watchers.
    let mut reading = true;
    // Whether the client asked for progress and has not had it: it is
    // answered by the first pass that leaves no watcher behind.
    let mut progress_owed = false;
    let mut gauge = server.metrics().watch_stream();
    let signal = server.applied_signal();
    let mut ticker = crate::clock::ticker(progress_interval);
    loop {
        // Register for the next apply first, then catch up: an apply in
        // between is either seen by the read or wakes the wait.
        let applied = signal.notified();
        tokio::pin!(applied);
        applied.as_mut().enable();
        let room = tx.capacity();
        let (mut out, complete) = server.read_store(|store| {
            let pass = catch_up(&server, &mut watchers, store, room);
            let mut out = pass.responses;
            if pass.complete && std::mem::take(&mut progress_owed) {
                out.push(watchers.progress(store.current_revision()));
            }
            (out, pass.complete)
        });
        tokio::select! {
            biased;
            request = requests.message(), if reading && out.is_empty() => match request {
                Ok(Some(request)) => {
                    let answer = handle(&server, &mut watchers, request, &mut progress_owed);
                    match answer {
                        Some(Answer::Queued(response)) => out.push(response),
                        Some(Answer::Control(response)) => {
                            // The client is gone if the sending is.
                            let sent = outlets.control.send(Ok(response));
                            if sent.is_err() {
                                return;
                            }
                        }
                        None => {}
                    }
                    gauge.set_watchers(watchers.len());
                }
                Ok(None) => reading = false,
                Err(status) => {
                    // Behind what is queued; a client that is gone misses nothing.
                    let _ = tx.send(Err(unreadable_request(status))).await;
                    return;
                }
            },
            // The client is gone (the response stream was dropped).
            () = tx.closed(), if out.is_empty() => return,
            // The client read a response: the watchers left behind go on.
            permit = tx.reserve(), if out.is_empty() && !complete => {
                if permit.is_err() {
                    return;
                }
            }
            () = &mut applied, if out.is_empty() => {}
            _ = ticker.tick(), if out.is_empty() => server.read_store(|store| {
                let room = tx.capacity();
                out.extend(catch_up(&server, &mut watchers, store, room).responses);
                out.extend(watchers.tick(store.current_revision()));
            }),
            else => {}
        }
        for response in out {
            if tx.send(Ok(response)).await.is_err() {
                return;
            }
        }
    }
}

/// What a stream whose request could not be read ends with: grpc-go's
/// INTERNAL, "grpc: failed to unmarshal the received message ...", which
/// etcd's clients surface. Ending it with OK and no message made the
/// client's watches on it vanish without a word.
fn unreadable_request(status: Status) -> Status {
    if status.code() != tonic::Code::Internal {
        return status;
    }
    let detail = status.message();
    let detail = detail
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(detail);
    Status::internal(format!(
        "grpc: failed to unmarshal the received message {detail}"
    ))
}

/// What the stream's sending does to a queued response as it goes onto the
/// wire, after the responses queued before it: waits if the stream is slow
/// (a client reading slowly, a congested link), then fills the header.
async fn on_the_wire(server: &EtcdServer, mut response: WatchResponse) -> WatchResponse {
    server
        .perturbations()
        .pause(Perturbation::WatchStall, 200)
        .await;
    // Every response carries the revision its watcher set (0 in a
    // compaction notice, as etcd's).
    fill_without_revision(server, &mut response.header);
    coverage::bug_site(Bug::ProgressRevisionAtSend);
    if server.bugs().has(Bug::ProgressRevisionAtSend) && is_progress(&response) {
        // The bug: the stamp is taken now, not when the notification was
        // computed with the events before it.
        let now = server.read_store(|store| store.current_revision());
        response
            .header
            .get_or_insert_with(Default::default)
            .revision = now;
    }
    response
}

/// An answer to a request, and the path it takes.
enum Answer {
    /// Behind everything queued.
    Queued(WatchResponse),
    /// On the control path, which may overtake the queue.
    Control(WatchResponse),
}

/// One request from the client: its answer, if it has one now. A new
/// watcher's history (or its compaction) and the answer to a progress
/// request come from the next catch-up pass.
fn handle(
    server: &EtcdServer,
    watchers: &mut Watchers,
    request: WatchRequest,
    progress_owed: &mut bool,
) -> Option<Answer> {
    let current = server.read_store(|store| store.current_revision());
    match request.request_union {
        Some(RequestUnion::CreateRequest(create)) => {
            Some(Answer::Queued(watchers.create(&create, current)))
        }
        Some(RequestUnion::CancelRequest(cancel)) => watchers
            .cancel(cancel.watch_id, current)
            .map(Answer::Queued),
        Some(RequestUnion::ProgressRequest(_)) => {
            coverage::bug_site(Bug::Etcd15220);
            if server.bugs().has(Bug::Etcd15220) {
                // The bug (etcd 3.4's receive loop): answered at once,
                // stamped with the store's revision, on a path that may
                // overtake the events queued before it, and with no regard
                // for the watchers still catching up.
                return Some(Answer::Control(watchers.progress(current)));
            }
            *progress_owed = true;
            None
        }
        None => None,
    }
}

/// Queues what `store` holds for the watchers beyond their positions, as
/// far as `room` allows, after telling them of any snapshot the member
/// restored since the last time.
fn catch_up(server: &EtcdServer, watchers: &mut Watchers, store: &KvStore, room: usize) -> CatchUp {
    watchers.restored(server.snapshot_restores());
    watchers.catch_up_within(store, room)
}

/// Whether `response` is a progress notification: no events, and neither a
/// creation, a cancellation nor a compaction notice.
fn is_progress(response: &WatchResponse) -> bool {
    response.events.is_empty()
        && !response.created
        && !response.canceled
        && response.compact_revision == 0
}
