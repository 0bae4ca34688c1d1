use super::*;
use crate::history::Operation;

fn put(rev: i64, key: &str, value: &str) -> WatchEvent {
    WatchEvent {
        revision: rev,
        key: key.into(),
        kind: EventKind::Put,
        value: value.into(),
        create_revision: 0,
        version: 0,
    }
}

fn del(rev: i64, key: &str) -> WatchEvent {
    WatchEvent {
        revision: rev,
        key: key.into(),
        kind: EventKind::Delete,
        value: String::new(),
        create_revision: 0,
        version: 0,
    }
}

fn op(request: Request, outcome: Outcome) -> Operation {
    Operation {
        client: 0,
        call_ns: 0,
        return_ns: 1,
        request,
        outcome,
        served_by: None,
        persisted: None,
    }
}

/// k1=a at 2, k2=b at 3 (a CAS), k1 deleted at 4, k2=c at 5 (unknown outcome,
/// but applied), k2=d at 6, a compaction at 5 asked (its answer lost), and a
/// read of k2=d (created at 3, its version 3).
fn history() -> History {
    let put_req = |key: &str, value: &str| Request::Put {
        key: key.into(),
        value: value.into(),
        lease: 0,
    };
    History {
        operations: vec![
            op(
                put_req("k1", "a"),
                Outcome::Ok(Response::Put { revision: 2 }),
            ),
            op(
                Request::Cas {
                    key: "k2".into(),
                    expected: None,
                    value: "b".into(),
                },
                Outcome::Ok(Response::Cas {
                    succeeded: true,
                    revision: 3,
                }),
            ),
            op(
                Request::Delete { key: "k1".into() },
                Outcome::Ok(Response::Delete {
                    deleted: 1,
                    revision: 4,
                }),
            ),
            op(put_req("k2", "c"), Outcome::Unknown("timeout".into())),
            op(
                put_req("k2", "d"),
                Outcome::Ok(Response::Put { revision: 6 }),
            ),
            op(
                Request::Compact { revision: 5 },
                Outcome::Unknown("timeout".into()),
            ),
            op(
                Request::Get {
                    key: "k2".into(),
                    serializable: false,
                },
                Outcome::Ok(Response::Get {
                    kv: Some(crate::KeyValue {
                        value: "d".into(),
                        create_revision: 3,
                        mod_revision: 6,
                        version: 3,
                    }),
                    revision: 6,
                    count: Some(1),
                    more: false,
                }),
            ),
        ],
        faults: vec![],
    }
}

fn log(watcher: u32, start: i64, deliveries: Vec<Delivery>) -> WatcherLog {
    WatcherLog {
        watcher,
        prefix: "k".into(),
        start_revision: start,
        deliveries,
        closed: false,
    }
}

fn good() -> WatcherLog {
    log(
        0,
        1,
        vec![
            Delivery::Events(vec![put(2, "k1", "a"), put(3, "k2", "b")]),
            Delivery::Progress(3),
            Delivery::Events(vec![del(4, "k1")]),
            Delivery::Events(vec![put(5, "k2", "c"), put(6, "k2", "d")]),
        ],
    )
}

#[test]
fn a_complete_ordered_log_passes() {
    assert_eq!(check_watches(&history(), &[good()]), vec![]);
}

#[test]
fn a_log_from_a_later_start_or_cut_short_passes() {
    let late = log(1, 4, vec![Delivery::Events(vec![del(4, "k1")])]);
    let compacted = log(
        2,
        1,
        vec![
            Delivery::Events(vec![put(2, "k1", "a")]),
            Delivery::Compacted(5),
            Delivery::Events(vec![put(2, "k1", "a")]),
        ],
    );
    assert_eq!(
        check_watches(&history(), &[good(), late, compacted]),
        vec![]
    );
}

#[test]
fn events_out_of_order_fail() {
    let bad = log(
        0,
        1,
        vec![
            Delivery::Events(vec![put(3, "k2", "b")]),
            Delivery::Events(vec![put(2, "k1", "a")]),
        ],
    );
    assert_eq!(
        ordered_unique_atomic(&bad),
        vec![WatchViolation::OutOfOrder {
            watcher: 0,
            after: 3,
            revision: 2
        }]
    );
}

#[test]
fn a_repeated_event_fails() {
    let bad = log(
        0,
        1,
        vec![
            Delivery::Events(vec![put(2, "k1", "a")]),
            Delivery::Events(vec![put(2, "k1", "a"), put(3, "k2", "b")]),
        ],
    );
    assert_eq!(
        ordered_unique_atomic(&bad),
        vec![WatchViolation::Duplicate {
            watcher: 0,
            event: put(2, "k1", "a")
        }]
    );
}

#[test]
fn a_revision_split_across_responses_fails() {
    let bad = log(
        0,
        1,
        vec![
            Delivery::Events(vec![put(2, "a", "x")]),
            Delivery::Events(vec![put(2, "b", "y")]),
        ],
    );
    assert_eq!(
        ordered_unique_atomic(&bad),
        vec![WatchViolation::Split {
            watcher: 0,
            revision: 2
        }]
    );
}

#[test]
fn a_missing_or_wrong_acknowledged_write_fails_once_later_revisions_arrived() {
    let mut gap = good();
    gap.deliveries[2] = Delivery::Events(vec![]);
    let found = check_watches(&history(), &[gap]);
    assert_eq!(
        found,
        vec![WatchViolation::Missing {
            watcher: 0,
            expected: del(4, "k1"),
            got: None
        }]
    );
    // Not yet told of revision 4: nothing is missing yet.
    let early = log(0, 1, vec![Delivery::Events(vec![put(2, "k1", "a")])]);
    assert_eq!(reliable(&early, &acknowledged_writes(&history())), vec![]);
    // A progress notification past the gap tells it as much as an event.
    let told = log(
        0,
        1,
        vec![
            Delivery::Events(vec![put(2, "k1", "a")]),
            Delivery::Progress(3),
        ],
    );
    assert_eq!(reliable(&told, &acknowledged_writes(&history())).len(), 1);
    let wrong = log(
        0,
        1,
        vec![Delivery::Events(vec![
            put(2, "k1", "zzz"),
            put(3, "k2", "b"),
        ])],
    );
    assert!(matches!(
        reliable(&wrong, &acknowledged_writes(&history()))[..],
        [WatchViolation::Missing { got: Some(_), .. }]
    ));
}

#[test]
fn an_event_at_or_below_an_earlier_progress_notification_fails() {
    let bad = log(
        0,
        1,
        vec![
            Delivery::Progress(4),
            Delivery::Events(vec![put(2, "k1", "a"), put(5, "k2", "c")]),
        ],
    );
    assert_eq!(
        bookmarkable(&bad),
        vec![WatchViolation::ProgressAhead {
            watcher: 0,
            progress: 4,
            revision: 2
        }]
    );
}

#[test]
fn watchers_that_disagree_on_a_revision_fail() {
    let other = log(1, 1, vec![Delivery::Events(vec![put(3, "k2", "c")])]);
    assert_eq!(
        agree(&[good(), other]),
        vec![WatchViolation::Disagree {
            first: (0, put(3, "k2", "b")),
            second: (1, put(3, "k2", "c"))
        }]
    );
}

#[test]
fn a_value_nobody_wrote_fails() {
    let bad = log(0, 7, vec![Delivery::Events(vec![put(7, "k1", "ghost")])]);
    assert_eq!(
        check_watches(&history(), &[bad]),
        vec![WatchViolation::Unexplained {
            watcher: 0,
            event: put(7, "k1", "ghost")
        }]
    );
}

#[test]
fn an_event_older_than_the_start_fails() {
    // A watch on a future revision (5) that was sent the delete at 4.
    let early = log(
        3,
        5,
        vec![
            Delivery::Progress(3),
            Delivery::Events(vec![del(4, "k1")]),
            Delivery::Events(vec![put(5, "k2", "c"), put(6, "k2", "d")]),
        ],
    );
    assert_eq!(
        check_watches(&history(), &[early]),
        vec![WatchViolation::BeforeStart {
            watcher: 3,
            start: 5,
            revision: 4
        }]
    );
    let on_time = log(3, 5, vec![Delivery::Events(vec![put(5, "k2", "c")])]);
    assert_eq!(from_start(&on_time), vec![]);
}

#[test]
fn a_compaction_cancel_below_the_watchers_position_fails() {
    // Told up to 4: it needed 5 next, so a compaction at 3 is no cause.
    let events = || Delivery::Events(vec![put(2, "k1", "a"), put(3, "k2", "b"), del(4, "k1")]);
    let early = log(0, 1, vec![events(), Delivery::Compacted(3)]);
    assert_eq!(
        cancelled_for_cause(&early),
        vec![WatchViolation::CompactedAhead {
            watcher: 0,
            next: 5,
            compact_revision: 3
        }]
    );
    let due = log(0, 1, vec![events(), Delivery::Compacted(5)]);
    assert_eq!(cancelled_for_cause(&due), vec![]);
    let from_the_start = log(1, 4, vec![Delivery::Compacted(4)]);
    assert_eq!(cancelled_for_cause(&from_the_start), vec![]);
}

/// `good()` with each event's create revision and version recorded, as
/// etcd sends them.
fn good_with_key_values() -> WatcherLog {
    let mut log = good();
    for delivery in &mut log.deliveries {
        let Delivery::Events(events) = delivery else {
            continue;
        };
        for e in events.iter_mut().filter(|e| e.kind == EventKind::Put) {
            (e.create_revision, e.version) = match e.revision {
                2 => (2, 1),
                3 => (3, 1),
                5 => (3, 2),
                _ => (3, 3),
            };
        }
    }
    log
}

/// The event at `revision` of [`good_with_key_values`], to change one field.
fn event_at(log: &mut WatcherLog, revision: i64) -> &mut WatchEvent {
    log.deliveries
        .iter_mut()
        .flat_map(|d| match d {
            Delivery::Events(events) => events.iter_mut(),
            _ => [].iter_mut(),
        })
        .find(|e| e.revision == revision)
        .expect("an event at that revision")
}

fn wrong_key_values(log: &WatcherLog) -> Vec<String> {
    check_watches(&history(), std::slice::from_ref(log))
        .into_iter()
        .map(|v| match v {
            WatchViolation::WrongKeyValue { detail, .. } => detail,
            other => panic!("another violation: {other:?}"),
        })
        .collect()
}

#[test]
fn field_watch_put_event_version() {
    assert_eq!(check_watches(&history(), &[good_with_key_values()]), vec![]);
    let mut bad = good_with_key_values();
    event_at(&mut bad, 6).version = 4;
    assert_eq!(
        wrong_key_values(&bad),
        ["put event create_revision 3 version 4, but a read of the value showed 3 and 3"]
    );
}

#[test]
fn field_watch_put_event_create_revision() {
    let mut bad = good_with_key_values();
    event_at(&mut bad, 6).create_revision = 2;
    assert_eq!(
        wrong_key_values(&bad),
        ["put event create_revision 2 version 3, but a read of the value showed 3 and 3"]
    );
    // No read to compare with, but no store holds a key created after its
    // change, or at it with a version above 1.
    let mut impossible = good_with_key_values();
    event_at(&mut impossible, 5).create_revision = 5;
    assert_eq!(wrong_key_values(&impossible).len(), 1);
}

#[test]
fn field_watch_delete_event_key_value() {
    let mut bad = good_with_key_values();
    event_at(&mut bad, 4).version = 1;
    assert_eq!(
        wrong_key_values(&bad),
        ["delete event create_revision 0 version 1, but a deleted key has 0 and 0"]
    );
}

#[test]
fn field_watch_event_value() {
    let mut bad = good_with_key_values();
    event_at(&mut bad, 5).value = "b".into();
    assert_eq!(
        wrong_key_values(&bad),
        ["put event of k2=\"b\" at revision 5, but its write was acknowledged at 3"]
    );
    // An acknowledged write delivered with another value is missing.
    let mut bad = good_with_key_values();
    event_at(&mut bad, 6).value = "c".into();
    let found = check_watches(&history(), &[bad]);
    assert!(
        found
            .iter()
            .any(|v| matches!(v, WatchViolation::Missing { .. })),
        "{found:?}"
    );
}

#[test]
fn field_watch_cancel_compact_revision() {
    let cancelled = |at| log(1, 5, vec![Delivery::Compacted(at)]);
    assert_eq!(check_watches(&history(), &[cancelled(5)]), vec![]);
    assert_eq!(
        check_watches(&history(), &[cancelled(6)]),
        vec![WatchViolation::UnaskedCompaction {
            watcher: 1,
            compact_revision: 6
        }]
    );
}

#[test]
fn field_watch_progress_header_revision() {
    // A notification at 4 with the delete at 4 still to come.
    let mut bad = good();
    bad.deliveries[1] = Delivery::Progress(4);
    assert!(matches!(
        check_watches(&history(), &[bad])[..],
        [WatchViolation::ProgressAhead {
            progress: 4,
            revision: 4,
            ..
        }]
    ));
}
