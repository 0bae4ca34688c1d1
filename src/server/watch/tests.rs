use super::*;
use crate::mvcc::KvStore;

fn put(store: &mut KvStore, key: &str, value: &str) -> i64 {
    let mut txn = store.write();
    txn.put(key.as_bytes(), value.as_bytes(), 0);
    txn.end()
}

fn delete(store: &mut KvStore, key: &str) -> i64 {
    let mut txn = store.write();
    txn.delete_range(key.as_bytes(), b"");
    txn.end()
}

fn create(key: &str, range_end: &str, start: i64) -> WatchCreateRequest {
    WatchCreateRequest {
        key: key.into(),
        range_end: range_end.into(),
        start_revision: start,
        ..Default::default()
    }
}

/// An event as `(key, value, mod_revision)`.
type Ev = (String, String, i64);

/// `(watch_id, events)` of each response.
fn events(responses: &[WatchResponse]) -> Vec<(i64, Vec<Ev>)> {
    responses
        .iter()
        .map(|r| {
            let events = r
                .events
                .iter()
                .map(|e| {
                    let kv = e.kv.as_ref().unwrap();
                    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                    (text(&kv.key), text(&kv.value), kv.mod_revision)
                })
                .collect();
            (r.watch_id, events)
        })
        .collect()
}

fn ev(key: &str, value: &str, rev: i64) -> Ev {
    (key.into(), value.into(), rev)
}

#[test]
fn ids_are_chosen_from_zero_and_a_chosen_id_may_not_repeat() {
    let mut w = Watchers::default();
    assert_eq!(w.create(&create("a", "", 0), 1).watch_id, 0);
    assert_eq!(w.create(&create("a", "", 0), 1).watch_id, 1);
    let mut chosen = create("a", "", 0);
    chosen.watch_id = 7;
    assert_eq!(w.create(&chosen, 1).watch_id, 7);
    let again = w.create(&chosen, 1);
    assert!(again.created && again.canceled);
    assert_eq!(again.cancel_reason, CreateError::DuplicateId.message());
    let empty = w.create(&create("b", "a", 0), 1);
    assert_eq!(empty.cancel_reason, CreateError::EmptyRange.message());
    assert_eq!(w.len(), 3);
}

#[test]
fn a_watcher_from_now_sees_only_later_revisions_each_once() {
    let mut store = KvStore::new();
    put(&mut store, "a", "old");
    let mut w = Watchers::default();
    let created = w.create(&create("a", "", 0), store.current_revision());
    assert_eq!(created.header.unwrap().revision, 2);
    assert!(w.catch_up(&store).is_empty());
    put(&mut store, "a", "new"); // 3
    put(&mut store, "b", "other"); // 4
    assert_eq!(
        events(&w.catch_up(&store)),
        vec![(0, vec![ev("a", "new", 3)])]
    );
    assert!(w.catch_up(&store).is_empty(), "nothing is sent twice");
}

#[test]
fn history_prefix_and_filters() {
    let mut store = KvStore::new();
    put(&mut store, "k1", "1"); // 2
    delete(&mut store, "k1"); // 3
    put(&mut store, "k2", "2"); // 4
    put(&mut store, "x", "x"); // 5
    let mut w = Watchers::default();
    w.create(&create("k", "l", 2), 5);
    let mut no_delete = create("k", "l", 2);
    no_delete.filters = vec![FilterType::Nodelete as i32];
    w.create(&no_delete, 5);
    let got = w.catch_up(&store);
    assert_eq!(
        events(&got),
        vec![
            (0, vec![ev("k1", "1", 2), ev("k1", "", 3), ev("k2", "2", 4)]),
            (1, vec![ev("k1", "1", 2), ev("k2", "2", 4)]),
        ]
    );
    assert_eq!(
        got[0].events[1].r#type,
        mvccpb::event::EventType::Delete as i32
    );
}

#[test]
fn a_compacted_start_cancels_with_the_compact_revision() {
    let mut store = KvStore::new();
    for v in ["1", "2", "3"] {
        put(&mut store, "a", v);
    }
    store.compact(3).unwrap();
    let mut w = Watchers::default();
    assert!(w.create(&create("a", "", 2), 4).created);
    let got = w.catch_up(&store);
    assert_eq!(got.len(), 1);
    assert!(got[0].canceled && got[0].events.is_empty());
    assert_eq!(got[0].compact_revision, 3);
    assert!(w.is_empty());
}

#[test]
fn a_long_history_comes_in_steps_that_never_split_a_revision() {
    let mut store = KvStore::new();
    for i in 0..(MAX_REVISIONS_PER_RESPONSE + 10) {
        let mut txn = store.write();
        txn.put(b"a", i.to_string().as_bytes(), 0);
        txn.put(b"b", i.to_string().as_bytes(), 0);
        txn.end();
    }
    let mut w = Watchers::default();
    w.create(&create("a", "c", 1), store.current_revision());
    let got = w.catch_up(&store);
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].events.len() as i64,
        2 * (MAX_REVISIONS_PER_RESPONSE - 1)
    );
    let total: usize = got.iter().map(|r| r.events.len()).sum();
    assert_eq!(total as i64, 2 * (MAX_REVISIONS_PER_RESPONSE + 10));
}

#[test]
fn progress_notifications_go_to_idle_watchers_that_asked() {
    let mut store = KvStore::new();
    let mut w = Watchers::default();
    let mut notify = create("a", "", 0);
    notify.progress_notify = true;
    w.create(&notify, 1);
    w.create(&create("a", "", 0), 1);
    put(&mut store, "a", "1"); // 2
    w.catch_up(&store);
    assert!(w.tick(2).is_empty(), "events went out since the last tick");
    let idle = w.tick(2);
    assert_eq!(idle.len(), 1);
    assert_eq!(
        (idle[0].watch_id, idle[0].header.as_ref().unwrap().revision),
        (0, 2)
    );
    assert_eq!(w.progress(2).watch_id, PROGRESS_WATCH_ID);
}

#[test]
fn cancel_answers_only_for_a_known_watcher() {
    let mut w = Watchers::default();
    w.create(&create("a", "", 0), 1);
    assert!(w.cancel(0, 1).unwrap().canceled);
    assert_eq!(w.cancel(0, 1), None);
}

#[test]
fn negative_start_revisions_behave_as_etcds_against_a_compaction_revision_of_minus_one() {
    let mut store = KvStore::new();
    put(&mut store, "a", "1"); // 2
    let mut w = Watchers::default();
    // Never compacted: -1 is not below etcd's -1, so it watches from now...
    w.create(&create("a", "", -1), store.current_revision());
    // ...and -2 is below it: cancelled, with no revision in the header.
    w.create(&create("a", "", -2), store.current_revision());
    let got = w.catch_up(&store);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].watch_id, got[0].canceled), (1, true));
    assert_eq!(got[0].compact_revision, -1);
    assert_eq!(got[0].header.as_ref().unwrap().revision, 0);
    put(&mut store, "a", "2"); // 3
    assert_eq!(
        events(&w.catch_up(&store)),
        vec![(0, vec![ev("a", "2", 3)])]
    );

    // Once compacted, every negative start revision is below it.
    store.compact(3).unwrap();
    w.create(&create("a", "", -1), store.current_revision());
    let got = w.catch_up(&store);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].canceled);
    assert_eq!(got[0].compact_revision, 3);
    assert_eq!(w.len(), 1, "only the first watcher is left");
}

/// What a stream on `a` from now (watch 0) and on `a` from revision 10
/// (watch 1) is sent after the member restored a snapshot at revision 4,
/// having sent watch 0 the puts at 2 and 3 as they came.
fn after_restore(bugs: BugSet) -> Vec<(i64, Vec<Ev>)> {
    let mut store = KvStore::new();
    let mut w = Watchers::new(bugs);
    assert!(w.catch_up(&store).is_empty());
    w.create(&create("a", "", 0), store.current_revision());
    w.create(&create("a", "", 10), store.current_revision());
    put(&mut store, "a", "x"); // 2
    assert_eq!(
        events(&w.catch_up(&store)),
        vec![(0, vec![ev("a", "x", 2)])]
    );
    put(&mut store, "a", "y"); // 3
    assert_eq!(
        events(&w.catch_up(&store)),
        vec![(0, vec![ev("a", "y", 3)])]
    );
    put(&mut store, "a", "z"); // 4, arrives in the snapshot
    w.restored(1);
    let mut sent = w.catch_up(&store);
    put(&mut store, "a", "w"); // 5
    sent.extend(w.catch_up(&store));
    events(&sent)
}

#[test]
fn a_snapshot_restore_changes_nothing_a_watcher_is_sent() {
    assert_eq!(
        after_restore(BugSet::NONE),
        vec![(0, vec![ev("a", "z", 4)]), (0, vec![ev("a", "w", 5)])]
    );
}

#[test]
fn etcd_15271_resends_a_caught_up_watcher_what_it_had() {
    let sent = after_restore(BugSet::NONE.with(Bug::Etcd15271));
    assert_eq!(
        sent[0],
        (0, vec![ev("a", "x", 2), ev("a", "y", 3), ev("a", "z", 4)]),
        "back to where watch 0 was created"
    );
}

#[test]
fn etcd_20221_lowers_a_watch_on_a_future_revision() {
    let sent = after_restore(BugSet::NONE.with(Bug::Etcd20221));
    assert_eq!(
        sent,
        vec![
            (0, vec![ev("a", "z", 4)]),
            (0, vec![ev("a", "w", 5)]),
            (1, vec![ev("a", "w", 5)]),
        ],
        "watch 1 asked for revision 10 on"
    );
}

#[test]
fn a_pass_out_of_room_leaves_the_rest_where_they_are_and_starts_with_them_next() {
    let mut store = KvStore::new();
    let mut w = Watchers::default();
    for _ in 0..3 {
        w.create(&create("a", "", 0), store.current_revision());
    }
    put(&mut store, "a", "1"); // 2
    let first = w.catch_up_within(&store, 2);
    assert!(!first.complete);
    assert_eq!(
        events(&first.responses),
        vec![(0, vec![ev("a", "1", 2)]), (1, vec![ev("a", "1", 2)])]
    );
    assert!(w.catch_up_within(&store, 0).responses.is_empty());
    put(&mut store, "a", "2"); // 3
                               // The watcher left behind goes first, and gets both revisions at once.
    let second = w.catch_up_within(&store, 1);
    assert_eq!(
        events(&second.responses),
        vec![(2, vec![ev("a", "1", 2), ev("a", "2", 3)])]
    );
    let third = w.catch_up_within(&store, 16);
    assert!(third.complete);
    assert_eq!(
        events(&third.responses),
        vec![(0, vec![ev("a", "2", 3)]), (1, vec![ev("a", "2", 3)])]
    );
}

/// What a watcher on `a` from now is sent when its stream has no room
/// while the puts at 2 and 3 come and revision 3 is compacted, and then
/// room again after a put at 4.
fn compacted_without_room(bugs: BugSet) -> Vec<WatchResponse> {
    let mut store = KvStore::new();
    let mut w = Watchers::new(bugs);
    w.create(&create("a", "", 0), store.current_revision());
    put(&mut store, "a", "1"); // 2
    put(&mut store, "a", "2"); // 3
    store.compact(3).unwrap();
    let full = w.catch_up_within(&store, 0);
    assert!(full.responses.is_empty(), "nothing fits a full stream");
    put(&mut store, "a", "3"); // 4
    w.catch_up_within(&store, 16).responses
}

#[test]
fn a_compaction_notice_without_room_waits_for_room() {
    let sent = compacted_without_room(BugSet::NONE);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].canceled && sent[0].events.is_empty());
    assert_eq!(sent[0].compact_revision, 3);
}

#[test]
fn etcd_17529_skips_a_compacted_watcher_past_its_notice() {
    let sent = compacted_without_room(BugSet::NONE.with(Bug::Etcd17529));
    assert!(
        sent.iter().all(|r| !r.canceled),
        "the notice never comes: {sent:?}"
    );
    assert_eq!(
        events(&sent),
        vec![(0, vec![ev("a", "3", 4)])],
        "the puts at 2 and 3 are lost"
    );
}
