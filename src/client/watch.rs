//! Watches (clientv3's `Watcher`): a stream of changes that survives the
//! loss of its member.
//!
//! ```no_run
//! # async fn demo(client: etcd_sim::client::Client) {
//! use etcd_sim::client::WatchOptions;
//! let mut watch = client.watch("k", WatchOptions::new().prefix().from_revision(1));
//! while let Some(response) = watch.next().await {
//!     for event in &response.events {
//!         println!("{:?} at {}", event.kv.as_ref().unwrap().key, event.kv.as_ref().unwrap().mod_revision);
//!     }
//!     if response.canceled {
//!         break; // compacted: response.compact_revision says up to where
//!     }
//! }
//! # }
//! ```
//!
//! Each watch runs in a task of its own with its own gRPC stream. It keeps
//! the revision after the last event it delivered; when the stream breaks,
//! or its member stops answering (a progress request gets no reply within
//! [`LIVENESS_TIMEOUT`]), it moves to the next endpoint and creates the
//! watch again from that revision, so the user's stream misses nothing and
//! repeats nothing. The repeated `created` response of a resumed watch is
//! not delivered; progress notifications are, whoever asked for them (the
//! user, the server's timer, or the liveness probe). A watch ends when the user cancels it (or drops the
//! stream), when the server cancels it — from a compacted revision, with
//! `compact_revision` set — or when its create request is refused.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tonic::transport::Endpoint;

use super::{Client, Pool, Slot};
use crate::bugs::{Bug, BugSet};
use crate::coverage::{self, Site};
use crate::proto::etcdserverpb::watch_client::WatchClient;
use crate::proto::etcdserverpb::watch_create_request::FilterType;
use crate::proto::etcdserverpb::watch_request::RequestUnion;
use crate::proto::etcdserverpb::{
    WatchCancelRequest, WatchCreateRequest, WatchProgressRequest, WatchRequest, WatchResponse,
};

/// How long a stream may stay silent before the watch asks for progress,
/// and then how long the answer may take before the watch deems its member
/// gone and moves on.
pub const LIVENESS_TIMEOUT: Duration = Duration::from_secs(1);

/// Options of [`Client::watch`]; clientv3's `OpOption`s for watches.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    range_end: RangeEnd,
    start_revision: i64,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
    progress_notify: bool,
}

/// What a watch covers besides its key.
#[derive(Debug, Clone, Default)]
enum RangeEnd {
    /// The key alone.
    #[default]
    Key,
    /// Every key that starts with the key.
    Prefix,
    /// `[key, end)`; `"\0"` for every key from the key on.
    End(Vec<u8>),
}

impl WatchOptions {
    /// The key alone, from the next revision, events as they are.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key with the key as prefix.
    pub fn prefix(mut self) -> Self {
        self.range_end = RangeEnd::Prefix;
        self
    }

    /// The keys in `[key, end)`.
    pub fn range_end(mut self, end: impl Into<Vec<u8>>) -> Self {
        self.range_end = RangeEnd::End(end.into());
        self
    }

    /// Starts at `revision` (history included) instead of the next one.
    pub fn from_revision(mut self, revision: i64) -> Self {
        self.start_revision = revision;
        self
    }

    /// Each event also carries the key-value from before it.
    pub fn prev_kv(mut self) -> Self {
        self.prev_kv = true;
        self
    }

    /// Leaves puts out.
    pub fn no_put(mut self) -> Self {
        self.no_put = true;
        self
    }

    /// Leaves deletes out.
    pub fn no_delete(mut self) -> Self {
        self.no_delete = true;
        self
    }

    /// Asks the server for periodic progress notifications when idle.
    pub fn progress_notify(mut self) -> Self {
        self.progress_notify = true;
        self
    }

    fn request(&self, key: &[u8], start_revision: i64) -> WatchCreateRequest {
        let range_end = match &self.range_end {
            RangeEnd::Key => Vec::new(),
            RangeEnd::Prefix => super::prefix_end(key),
            RangeEnd::End(end) => end.clone(),
        };
        let filters = [
            (self.no_put, FilterType::Noput),
            (self.no_delete, FilterType::Nodelete),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| f as i32)
        .collect();
        WatchCreateRequest {
            key: key.to_vec(),
            range_end,
            start_revision,
            progress_notify: self.progress_notify,
            filters,
            prev_kv: self.prev_kv,
            ..Default::default()
        }
    }
}

/// What the user asks of a running watch.
#[derive(Debug)]
enum Control {
    Progress,
    Cancel,
}

/// The responses of one watch, in order; see the module docs.
pub struct WatchStream {
    responses: mpsc::UnboundedReceiver<WatchResponse>,
    control: mpsc::UnboundedSender<Control>,
}

impl WatchStream {
    /// The next response: events, a progress notification (no events,
    /// neither created nor canceled), or the last one (`canceled`). `None`
    /// once the watch has ended.
    pub async fn next(&mut self) -> Option<WatchResponse> {
        self.responses.recv().await
    }

    /// Asks the member for a progress notification (etcd's
    /// `RequestProgress`): it arrives once every event up to its header
    /// revision has been delivered.
    pub fn request_progress(&self) {
        let _ = self.control.send(Control::Progress);
    }

    /// Cancels the watch; the stream ends after the server's `canceled`
    /// response (or at once if no member is reachable).
    pub fn cancel(&self) {
        let _ = self.control.send(Control::Cancel);
    }
}

impl Client {
    /// Watches `key` as `options` say; see the module docs of `watch.rs`
    /// for how the watch survives the loss of its member.
    pub fn watch(&self, key: impl Into<Vec<u8>>, options: WatchOptions) -> WatchStream {
        let (responses_tx, responses) = mpsc::unbounded_channel();
        let (control, control_rx) = mpsc::unbounded_channel();
        let watcher = Watcher {
            pool: self.pool.clone(),
            slot: {
                let pool = self.pool();
                pool.slot(pool.current)
            },
            dial_timeout: self.dial_timeout,
            bugs: self.bugs,
            key: key.into(),
            options,
            responses: responses_tx,
            control: control_rx,
        };
        tokio::spawn(watcher.run());
        WatchStream { responses, control }
    }
}

/// The task behind one [`WatchStream`].
struct Watcher {
    /// The client's endpoint list, which a sync may replace.
    pool: Arc<Mutex<Pool>>,
    /// The endpoint tried next.
    slot: Slot,
    dial_timeout: Duration,
    bugs: BugSet,
    key: Vec<u8>,
    options: WatchOptions,
    responses: mpsc::UnboundedSender<WatchResponse>,
    control: mpsc::UnboundedReceiver<Control>,
}

/// How one stream ended.
enum Ended {
    /// The watch is over.
    Done,
    /// The stream broke or went silent: resume elsewhere.
    Lost,
}

/// Where the watch stands across streams.
struct Position {
    /// The first revision not delivered yet; 0 until the first stream told
    /// us where "now" is.
    next: i64,
    /// Whether the user has had the `created` response.
    created: bool,
}

impl Watcher {
    async fn run(mut self) {
        let mut position = Position {
            next: self.options.start_revision.max(0),
            created: false,
        };
        loop {
            if position.created {
                coverage::hit(Site::WatchResumed);
                coverage::bug_site(Bug::WatchEndsWhenMemberUnreachable);
            }
            let endpoint = self.endpoint();
            let connected = tokio::time::timeout(self.dial_timeout, endpoint.connect()).await;
            if let Ok(Ok(channel)) = connected {
                if let Ended::Done = self.stream(WatchClient::new(channel), &mut position).await {
                    return;
                }
            } else if position.created && self.bugs.has(Bug::WatchEndsWhenMemberUnreachable) {
                // The bug: a member that cannot be dialled ends the watch
                // (dropping the sender closes the user's stream), as if
                // the dial error were the server's refusal.
                return;
            }
            if self.responses.is_closed() {
                return;
            }
            self.slot = {
                let pool = self.pool.lock().unwrap();
                pool.slot(pool.after(&self.slot))
            };
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The endpoint of `slot`, found again in the list if a sync replaced
    /// it; one a sync dropped gives way to the next one listed.
    fn endpoint(&mut self) -> Endpoint {
        let pool = self.pool.lock().unwrap();
        let index = match pool.find(&self.slot) {
            Some(index) => index,
            None => pool.after(&self.slot),
        };
        self.slot = pool.slot(index);
        self.slot.target().endpoint.clone()
    }

    /// The revision a (re-)created watch starts from.
    fn start(&self, position: &Position) -> i64 {
        // The bug: a resumed watch asks for one revision too many.
        coverage::bug_site(Bug::WatchDropsEventOnReconnect);
        if position.created && self.bugs.has(Bug::WatchDropsEventOnReconnect) {
            position.next + 1
        } else {
            position.next
        }
    }

    /// Runs the watch on one stream until it ends or must resume.
    async fn stream(
        &mut self,
        mut client: WatchClient<tonic::transport::Channel>,
        position: &mut Position,
    ) -> Ended {
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let create = self.options.request(&self.key, self.start(position));
        let _ = requests.send(WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(create)),
        });
        let outbound = futures::stream::unfold(requests_rx, |mut rx| async move {
            rx.recv().await.map(|request| (request, rx))
        });
        let Ok(response) = client.watch(outbound).await else {
            return Ended::Lost;
        };
        let mut inbound = response.into_inner();
        let mut watch_id = None;
        let mut probing = false;
        loop {
            tokio::select! {
                biased;
                control = self.control.recv() => {
                    let request = match (control, watch_id) {
                        (Some(Control::Progress), _) => {
                            RequestUnion::ProgressRequest(WatchProgressRequest {})
                        }
                        (Some(Control::Cancel), Some(watch_id)) => {
                            RequestUnion::CancelRequest(WatchCancelRequest { watch_id })
                        }
                        (Some(Control::Cancel) | None, _) => return Ended::Done,
                    };
                    let _ = requests.send(WatchRequest { request_union: Some(request) });
                }
                message = tokio::time::timeout(LIVENESS_TIMEOUT, inbound.message()) => {
                    let response = match message {
                        Ok(Ok(Some(response))) => response,
                        Ok(_) => return Ended::Lost,
                        Err(_) if probing => return Ended::Lost,
                        Err(_) => {
                            probing = true;
                            let probe = RequestUnion::ProgressRequest(WatchProgressRequest {});
                            let _ = requests.send(WatchRequest { request_union: Some(probe) });
                            continue;
                        }
                    };
                    probing = false;
                    if response.created {
                        watch_id = Some(response.watch_id);
                    }
                    if let Some(ended) = self.deliver(response, position) {
                        return ended;
                    }
                }
            }
        }
    }

    /// Hands `response` to the user, moving `position`; `Some` if the watch
    /// is over.
    fn deliver(&mut self, response: WatchResponse, position: &mut Position) -> Option<Ended> {
        if response.created && !response.canceled {
            if position.next == 0 {
                let now = response.header.as_ref().map_or(0, |h| h.revision);
                position.next = now + 1;
            }
            if std::mem::replace(&mut position.created, true) {
                return None;
            }
        }
        if let Some(last) = response.events.last().and_then(|e| e.kv.as_ref()) {
            position.next = last.mod_revision + 1;
        }
        let canceled = response.canceled;
        if self.responses.send(response).is_err() || canceled {
            return Some(Ended::Done);
        }
        None
    }
}
