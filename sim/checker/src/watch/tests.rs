use super::*;
use crate::history::Operation;

fn put(rev: i64, key: &str, value: &str) -> WatchEvent {
    WatchEvent {
        revision: rev,
        key: key.into(),
        kind: EventKind::Put,
        value: value.into(),
    }
}

fn del(rev: i64, key: &str) -> WatchEvent {
    WatchEvent {
        revision: rev,
        key: key.into(),
        kind: EventKind::Delete,
        value: String::new(),
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
/// but applied), k2=d at 6.
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
