//! The watchers of one gRPC watch stream, as a synchronous core: requests
//! and the store in, responses out (etcd's `watchStream` with its
//! `watchableStore`, folded into one).
//!
//! Every watcher is a position in the store's history: `next` is the first
//! revision it has not been sent yet. Catching up is one read of the store's
//! retained revisions (see [`KvStore::events`]); a watcher that is caught up
//! and one that is far behind (just created from a past revision, or on a
//! stream whose client reads slowly) are served the same way, so there is
//! no separate "unsynced" group and no buffer that can overflow. The store
//! is the buffer; compaction is what ends it: a watcher whose next revision
//! has been compacted is cancelled with `compact_revision` set, as etcd
//! cancels a watcher it can no longer serve.
//!
//! A pass may be given the room the stream has left for responses (etcd's
//! bounded `w.ch` of a stream whose client reads slowly): it stops queueing
//! once that is used, and the watchers it did not get to keep their
//! positions for the next pass, which starts with the first of them so that
//! none waits forever. A compaction notice needs room like any response.
//!
//! Guarantees, per watcher: events in revision order, each exactly once;
//! all events of one revision in one response; a progress notification at
//! revision `R` only once every event up to `R` has been sent.

use std::collections::BTreeMap;

use crate::bugs::{Bug, BugSet};
use crate::mvcc::{Event, EventKind, KvStore};
use crate::proto::etcdserverpb::watch_create_request::FilterType;
use crate::proto::etcdserverpb::{ResponseHeader, WatchCreateRequest, WatchResponse};
use crate::proto::mvccpb;

/// At most this many revisions go into one response (etcd's
/// `watchBatchMaxRevs`), so a watcher far behind catches up in steps.
pub const MAX_REVISIONS_PER_RESPONSE: i64 = 1000;

/// The `watch_id` of a response to a progress request: it concerns every
/// watcher of the stream (etcd 3.4's answer to `WatchProgressRequest`).
pub const PROGRESS_WATCH_ID: i64 = -1;

/// Why a create request was refused; the text is etcd's `cancel_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateError {
    /// `range_end` is set but not above `key`.
    EmptyRange,
    /// The client chose a `watch_id` that is taken on this stream.
    DuplicateId,
}

impl CreateError {
    /// etcd's message.
    pub fn message(self) -> &'static str {
        match self {
            CreateError::EmptyRange => "mvcc: watcher range is empty",
            CreateError::DuplicateId => "mvcc: duplicate watch ID provided on the WatchStream",
        }
    }
}

/// One watcher.
#[derive(Debug, Clone)]
struct Watcher {
    key: Vec<u8>,
    range_end: Vec<u8>,
    /// The first revision not sent yet.
    next: i64,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
    progress_notify: bool,
    /// Whether events were sent since the last periodic progress tick.
    sent_since_tick: bool,
    /// Where a resync after a snapshot restore starts (etcd's `minRev`):
    /// always `next`, except under the `etcd-15271` bug, which leaves it
    /// where the watcher last caught up from history.
    resync_from: i64,
    /// Whether a snapshot restore moved the watcher to resync (etcd's
    /// unsynced group) and the next catch-up is that resync.
    resyncing: bool,
}

/// The watchers of one stream, by id.
#[derive(Debug, Default)]
pub struct Watchers {
    watchers: BTreeMap<i64, Watcher>,
    /// The next id to hand out when the client does not choose one.
    next_id: i64,
    /// The store's revision at the last catch-up: a watcher whose `next`
    /// is above it had everything then, so what it gets now is news.
    seen: i64,
    /// How many snapshot restores of the member the stream has seen.
    restores: u64,
    /// The watcher the next catch-up pass starts with: the first one the
    /// last pass left behind for want of room.
    first: i64,
    /// Injected bugs (`etcd-15271`, `etcd-20221` and `etcd-17529` live
    /// here).
    bugs: BugSet,
}

/// What one catch-up pass queued.
#[derive(Debug, Default)]
pub struct CatchUp {
    /// The responses, in the order to send them.
    pub responses: Vec<WatchResponse>,
    /// Whether every watcher was sent everything up to the store's current
    /// revision; `false` if room ran out first.
    pub complete: bool,
}

impl Watchers {
    /// The watchers of a new stream on a member with `bugs` switched on.
    pub fn new(bugs: BugSet) -> Self {
        Self {
            bugs,
            ..Self::default()
        }
    }

    /// Tells the watchers that the member has now restored `restores`
    /// snapshots in all. After a new one the store was replaced wholesale,
    /// so every watcher resyncs from its position at the next catch-up, as
    /// etcd's `watchableStore.Restore` moves every watcher to the unsynced
    /// group. Done right, that changes nothing a watcher is sent.
    pub fn restored(&mut self, restores: u64) {
        if std::mem::replace(&mut self.restores, restores) == restores {
            return;
        }
        for w in self.watchers.values_mut() {
            // The bug: the position resync starts from is stale for every
            // watcher that was caught up, so it is sent old events again.
            w.next = w.resync_from;
            w.resyncing = true;
        }
    }
    /// Creates a watcher as `request` asks, on a store at revision
    /// `current`; answers with the `created` response (cancelled at once,
    /// with a reason, if the request is refused).
    ///
    /// As etcd 3.4: an empty key means `"\0"`; start revision 0 means
    /// "from the next revision"; a `watch_id` of 0 means "choose one".
    pub fn create(&mut self, request: &WatchCreateRequest, current: i64) -> WatchResponse {
        let mut response = WatchResponse {
            header: header(current),
            created: true,
            ..Default::default()
        };
        match self.add(request, current) {
            Ok(id) => response.watch_id = id,
            Err(e) => {
                response.watch_id = -1;
                response.canceled = true;
                response.cancel_reason = e.message().to_string();
            }
        }
        response
    }

    fn add(&mut self, request: &WatchCreateRequest, current: i64) -> Result<i64, CreateError> {
        let key = if request.key.is_empty() {
            vec![0]
        } else {
            request.key.clone()
        };
        let range_end = request.range_end.clone();
        if !matches!(range_end.as_slice(), [] | [0]) && range_end <= key {
            return Err(CreateError::EmptyRange);
        }
        let id = if request.watch_id == 0 {
            while self.watchers.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            self.next_id
        } else if self.watchers.contains_key(&request.watch_id) {
            return Err(CreateError::DuplicateId);
        } else {
            request.watch_id
        };
        let filtered = |f: FilterType| request.filters.contains(&(f as i32));
        // A negative start revision is kept as it is: the first catch-up
        // decides between compacted and "from now" (see `catch_up`).
        let next = if request.start_revision == 0 {
            current + 1
        } else {
            request.start_revision
        };
        self.watchers.insert(
            id,
            Watcher {
                key,
                range_end,
                next,
                prev_kv: request.prev_kv,
                no_put: filtered(FilterType::Noput),
                no_delete: filtered(FilterType::Nodelete),
                progress_notify: request.progress_notify,
                sent_since_tick: false,
                resync_from: next,
                resyncing: false,
            },
        );
        Ok(id)
    }

    /// Removes watcher `id`; the `canceled` response, or `None` if there
    /// is no such watcher (etcd answers nothing then).
    pub fn cancel(&mut self, id: i64, current: i64) -> Option<WatchResponse> {
        self.watchers.remove(&id)?;
        Some(WatchResponse {
            header: header(current),
            watch_id: id,
            canceled: true,
            ..Default::default()
        })
    }

    /// Sends every watcher what the store holds for it beyond its position:
    /// one response per watcher and step of at most
    /// [`MAX_REVISIONS_PER_RESPONSE`] revisions that has events left after
    /// the filters. A watcher whose position was compacted gets a
    /// cancellation with `compact_revision` and is removed.
    ///
    /// A watcher created with a negative start revision is compacted if it
    /// is below etcd's compaction revision (-1 if there was none), so -1
    /// on a store never compacted watches from now and anything lower is
    /// cancelled, as etcd 3.4's unsynced watchers behave.
    pub fn catch_up(&mut self, store: &KvStore) -> Vec<WatchResponse> {
        self.catch_up_within(store, usize::MAX).responses
    }

    /// [`Watchers::catch_up`] with room for at most `room` responses (see
    /// the module docs): the watchers it has no room for keep their
    /// positions, and the next pass starts with the first of them.
    pub fn catch_up_within(&mut self, store: &KvStore, mut room: usize) -> CatchUp {
        let current = store.current_revision();
        let compact_main = store.last_compaction().unwrap_or(-1);
        let mut responses = Vec::new();
        let mut compacted = Vec::new();
        let bugs = self.bugs;
        let seen = std::mem::replace(&mut self.seen, current);
        let order: Vec<i64> = (self.watchers.range(self.first..))
            .chain(self.watchers.range(..self.first))
            .map(|(&id, _)| id)
            .collect();
        let mut left_behind = None;
        for id in order {
            let w = self.watchers.get_mut(&id).expect("listed above");
            if w.next < 0 && w.next >= compact_main {
                w.next = current + 1;
            }
            if w.owed(current) && room == 0 {
                let is_compacted = w.next < 0 || w.next < store.compacted_revision();
                if is_compacted {
                    crate::coverage::bug_site(Bug::Etcd17529);
                }
                if is_compacted && bugs.has(Bug::Etcd17529) {
                    // The bug: the compaction notice found no room, yet the
                    // watcher moves on with the others read up to now
                    // (etcd's `minRev = curRev + 1`): it never hears of the
                    // compaction and its next pass starts past the events
                    // it was never sent.
                    w.next = current + 1;
                    w.resync_from = w.next;
                } else {
                    left_behind.get_or_insert(id);
                }
                continue;
            }
            // Caught up at the last catch-up: what comes now is news, which
            // etcd sends synced watchers without moving their `minRev`.
            let news = w.next > seen && !w.resyncing;
            let resync = std::mem::take(&mut w.resyncing);
            if resync {
                // Where both museum bugs live: a watcher resynced after its
                // member restored a snapshot.
                crate::coverage::bug_site(Bug::Etcd15271);
                crate::coverage::bug_site(Bug::Etcd20221);
            }
            while w.owed(current) && room > 0 {
                let to = current.min(w.next + MAX_REVISIONS_PER_RESPONSE - 1);
                let events = match w.next {
                    next if next < 0 => Err(()),
                    next => store
                        .events(&w.key, &w.range_end, next, to, w.prev_kv)
                        .map_err(|_| ()),
                };
                let Ok(events) = events else {
                    crate::coverage::hit(crate::coverage::Site::WatchCancelledByCompaction);
                    compacted.push(id);
                    // etcd's compaction notice carries no revision.
                    responses.push(WatchResponse {
                        header: header(0),
                        watch_id: id,
                        canceled: true,
                        compact_revision: compact_main,
                        ..Default::default()
                    });
                    room -= 1;
                    break;
                };
                w.next = to + 1;
                let events: Vec<mvccpb::Event> = events
                    .into_iter()
                    .filter(|e| w.wants(e))
                    .map(to_proto)
                    .collect();
                if !events.is_empty() {
                    w.sent_since_tick = true;
                    responses.push(WatchResponse {
                        header: header(to),
                        watch_id: id,
                        events,
                        ..Default::default()
                    });
                    room -= 1;
                }
            }
            if w.owed(current) && !compacted.contains(&id) {
                left_behind.get_or_insert(id);
            }
            if resync && bugs.has(Bug::Etcd20221) {
                // The bug: resync assumes the watcher was behind, and puts
                // it just after the current revision even if it watches a
                // future one.
                w.next = current + 1;
            }
            if !(news && bugs.has(Bug::Etcd15271)) {
                w.resync_from = w.next;
            }
        }
        for id in compacted {
            self.watchers.remove(&id);
        }
        if let Some(id) = left_behind {
            self.first = id;
        }
        CatchUp {
            responses,
            complete: left_behind.is_none(),
        }
    }

    /// The answer to a progress request, once [`Watchers::catch_up`] has
    /// run on a store at `current`: every watcher has been sent everything
    /// up to `current`.
    pub fn progress(&self, current: i64) -> WatchResponse {
        WatchResponse {
            header: header(current),
            watch_id: PROGRESS_WATCH_ID,
            ..Default::default()
        }
    }

    /// The periodic progress notifications, once [`Watchers::catch_up`] has
    /// run on a store at `current`: one for each watcher that asked for
    /// them and was sent no events since the last tick.
    pub fn tick(&mut self, current: i64) -> Vec<WatchResponse> {
        let mut responses = Vec::new();
        for (&id, w) in &mut self.watchers {
            if w.progress_notify && !w.sent_since_tick && w.next > current {
                responses.push(WatchResponse {
                    header: header(current),
                    watch_id: id,
                    ..Default::default()
                });
            }
            w.sent_since_tick = false;
        }
        responses
    }

    /// How many watchers the stream has.
    pub fn len(&self) -> usize {
        self.watchers.len()
    }

    /// Whether the stream has no watcher.
    pub fn is_empty(&self) -> bool {
        self.watchers.is_empty()
    }
}

impl Watcher {
    /// Whether a store at `current` holds something for the watcher: a
    /// revision it has not been sent, or the verdict on a negative start.
    fn owed(&self, current: i64) -> bool {
        self.next <= current || self.next < 0
    }

    fn wants(&self, event: &Event) -> bool {
        match event.kind {
            EventKind::Put => !self.no_put,
            EventKind::Delete => !self.no_delete,
        }
    }
}

fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

fn to_proto(event: Event) -> mvccpb::Event {
    let kind = match event.kind {
        EventKind::Put => mvccpb::event::EventType::Put,
        EventKind::Delete => mvccpb::event::EventType::Delete,
    };
    mvccpb::Event {
        r#type: kind as i32,
        kv: Some(event.kv.into()),
        prev_kv: event.prev_kv.map(Into::into),
    }
}

#[cfg(test)]
mod tests;
