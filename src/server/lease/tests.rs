use super::*;

const ET: Duration = Duration::from_secs(1);

fn at(start: Instant, secs: u64) -> Instant {
    start + Duration::from_secs(secs)
}

#[test]
fn the_minimum_ttl_is_one_and_a_half_election_timeouts_rounded_up() {
    // etcd's defaults: 100 ms ticks, 10-tick elections: 1.5 s -> 2 s.
    assert_eq!(Lessor::min_ttl_for(Duration::from_millis(100), 10), 2);
    assert_eq!(Lessor::min_ttl_for(Duration::from_millis(100), 20), 3);
    assert_eq!(Lessor::min_ttl_for(Duration::from_millis(500), 4), 3);
}

#[tokio::test]
async fn grants_raise_short_ttls_and_refuse_taken_ids_huge_ttls_and_id_zero() {
    let t0 = Instant::now();
    let mut lessor = Lessor::new(2);
    assert_eq!(lessor.grant(7, 1, t0), Ok(2));
    assert_eq!(lessor.grant(7, 60, t0), Err(LeaseError::Exists));
    assert_eq!(
        lessor.grant(8, MAX_LEASE_TTL + 1, t0),
        Err(LeaseError::TtlTooLarge)
    );
    assert_eq!(lessor.grant(0, 60, t0), Err(LeaseError::NotFound));
    assert!(lessor.contains(7) && !lessor.contains(8));
    assert_eq!(lessor.revoke(7), Ok(()));
    assert_eq!(lessor.revoke(7), Err(LeaseError::NotFound));
}

#[tokio::test]
async fn only_the_primary_keeps_deadlines_renews_and_reports_expiries() {
    let t0 = Instant::now();
    let mut follower = Lessor::new(2);
    follower.grant(1, 10, t0).unwrap();
    assert_eq!(follower.renew(1, t0), Err(LeaseError::NotPrimary));
    assert!(follower.expired(at(t0, 1000)).is_empty());
    let ttl = follower.time_to_live(1, t0).unwrap();
    assert_eq!((ttl.remaining, ttl.granted), (None, 10));

    follower.promote(3, t0, ET);
    assert_eq!(follower.primary_term(), Some(3));
    // Promotion gives a full TTL plus the election timeout.
    assert!(follower.expired(at(t0, 10)).is_empty());
    assert_eq!(follower.expired(at(t0, 11)), vec![1]);
    assert_eq!(follower.renew(1, at(t0, 5)), Ok(10));
    assert_eq!(
        follower.time_to_live(1, at(t0, 6)).unwrap().remaining,
        Some(9)
    );
    assert_eq!(follower.renew(1, at(t0, 15)), Err(LeaseError::Expired));
    assert_eq!(follower.renew(2, at(t0, 5)), Err(LeaseError::NotFound));

    follower.demote();
    assert!(follower.expired(at(t0, 1000)).is_empty());
    assert_eq!(follower.time_to_live(1, t0).unwrap().remaining, None);
}

#[tokio::test]
async fn with_the_bug_a_follower_expires_leases_by_its_own_clock() {
    let t0 = Instant::now();
    let mut buggy = Lessor::new(2).with_follower_expiry();
    buggy.grant(1, 5, t0).unwrap();
    assert_eq!(buggy.renew(1, t0), Err(LeaseError::NotPrimary));
    assert_eq!(buggy.expired(at(t0, 5)), vec![1]);
}

#[tokio::test]
async fn leases_list_soonest_deadline_first_and_survive_a_snapshot() {
    let t0 = Instant::now();
    let mut lessor = Lessor::new(2);
    lessor.promote(1, t0, Duration::ZERO);
    lessor.grant(5, 30, t0).unwrap();
    lessor.grant(9, 10, t0).unwrap();
    lessor.grant(2, 20, t0).unwrap();
    assert_eq!(lessor.leases(), vec![9, 2, 5]);

    let mut bytes = lessor.encode();
    bytes.extend_from_slice(b"rest");
    let mut restored = Lessor::new(2);
    assert_eq!(restored.restore(&bytes, t0), Some(&b"rest"[..]));
    assert_eq!(restored.leases(), vec![2, 5, 9]);
    assert_eq!(restored.time_to_live(9, t0).unwrap().granted, 10);
    assert_eq!(restored.restore(&bytes[..10], t0), None);
}
