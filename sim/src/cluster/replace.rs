//! Changing the members as an operator does, with etcdctl's calls:
//! replacing a member (etcd robustness's MemberReplace: remove it, wipe its
//! data, add it back as a new member, a learner promoted once it caught up
//! or a voter at once, and start it again, joining the running cluster),
//! and growing the cluster by members in spare slots, then shrinking it
//! back.
//!
//! Each step is a call an operator makes, retried as an operator retries
//! it (a refusal for want of started members, a timeout across an
//! election), so the steps run against whatever else the cluster is going
//! through. A removed member is given a few seconds to stop by itself, as
//! etcd's does once it applies its removal, before the operator kills it:
//! a member that goes on serving meanwhile is what the membership check
//! looks for. Until a replaced member is added back the cluster is one
//! member short; adding it back is retried for a minute, far longer than a
//! healthy cluster takes, and a cluster that cannot add it back by then is
//! left without it: the liveness phase then finds the member missing.
//! (Retried for ever, a cluster that lost its quorum kept the nemesis, and
//! so the seed, from ever ending.)

use std::future::Future;
use std::time::Duration;

use etcd_sim::client::{Client, ClientError};
use etcd_sim::proto::etcdserverpb::Member;
use etcd_sim::rpc_error::RpcError;

use crate::cluster::SimCluster;

/// How long one call may take.
const CALL: Duration = Duration::from_secs(3);
/// How long an operator keeps asking before giving up on a removal.
const REMOVE_PATIENCE: Duration = Duration::from_secs(20);
/// How long an operator keeps asking to add a member.
const ADD_PATIENCE: Duration = Duration::from_secs(60);
/// How long an operator waits for a learner to catch up.
const PROMOTE_PATIENCE: Duration = Duration::from_secs(60);
/// How long a removed member has to stop by itself.
const STOP_PATIENCE: Duration = Duration::from_secs(3);
/// How long a removed member started with its old data has to learn from
/// its peers that it was removed, and stop: a few election timeouts.
const STALE_STOP_PATIENCE: Duration = Duration::from_secs(10);
/// Between two tries.
const RETRY: Duration = Duration::from_millis(300);
/// How long the operator lets the cluster settle before reading the
/// member list after a change.
const SETTLE: Duration = Duration::from_secs(1);

/// How a member is replaced.
#[derive(Debug, Clone, Copy)]
pub struct Replacement {
    /// Added back as a learner first, promoted once it caught up.
    pub learner: bool,
    /// Stopped before its removal, so that it never applies it, and then
    /// started once with its old data: it must learn from its peers that
    /// it was removed, and stop.
    pub down_first: bool,
}

/// What became of a replacement, for the trace.
pub enum Replaced {
    /// Removed while down, then started with its old data, it went on
    /// running: nobody told it it was removed (etcd #7512).
    StaleNotStopped(String),
    /// The cluster refused to remove the member (or never answered):
    /// nothing changed.
    NotRemoved(String),
    /// The member was removed and its data wiped, but the cluster did not
    /// take it back: it stays down.
    NotAdded(String),
    /// The member is back under a new id; as a voter unless `learner`
    /// (a promotion that never went through).
    Back {
        /// Its id now.
        id: u64,
        /// Whether it is still a learner.
        learner: bool,
    },
}

/// Replaces member `victim` of `cluster`, `how` says how.
pub async fn replace(cluster: &SimCluster, victim: usize, how: Replacement) -> Replaced {
    let client = operator(cluster, victim);
    if how.down_first {
        cluster.kill(victim);
    }
    if let Err(e) = remove(cluster, &client, victim).await {
        if how.down_first {
            cluster.restart(victim);
        }
        return Replaced::NotRemoved(e.to_string());
    }
    if how.down_first {
        cluster.restart(victim);
        if !stops_by_itself(cluster, victim, STALE_STOP_PATIENCE).await {
            cluster.kill(victim);
            return Replaced::StaleNotStopped(format!(
                "removed while down and started again with its old data, it was still running \
                 {}s later: no peer told it that it was removed",
                STALE_STOP_PATIENCE.as_secs()
            ));
        }
    }
    cluster.disk(victim).wipe();
    let learner = how.learner;
    let url = cluster.peer_url(victim);
    let old = cluster.slots()[victim].id();
    let id = match add(&client, &url, learner, old).await {
        Ok(id) => id,
        Err(e) => return Replaced::NotAdded(e.to_string()),
    };
    cluster.replaced(victim, id);
    cluster.restart(victim);
    if !learner {
        return Replaced::Back { id, learner };
    }
    // An operator who moved it states its peer URL again: a learner must
    // stay one (etcd #21694).
    let _ = retry(CALL, || client.member_update(id, vec![url.clone()])).await;
    let promoted = retry(PROMOTE_PATIENCE, || client.member_promote(id)).await;
    Replaced::Back {
        id,
        learner: promoted.is_err(),
    }
}

/// Adds a member (as a voter) in each of `spares` in turn, as long as the
/// cluster takes them; returns the slots grown into, and why it stopped
/// early if it did.
pub async fn grow(cluster: &SimCluster, spares: &[usize]) -> (Vec<usize>, Option<String>) {
    let client = operator(cluster, usize::MAX);
    let mut grown = Vec::new();
    for &spare in spares {
        let old = cluster.slots()[spare].id();
        match add(&client, &cluster.peer_url(spare), false, old).await {
            Ok(id) => {
                cluster.grow_into(spare, id);
                grown.push(spare);
            }
            Err(e) => return (grown, Some(e.to_string())),
        }
    }
    (grown, None)
}

/// Removes the members in spare slots `grown`, newest first, and frees
/// their slots; returns the slots whose member the cluster kept, with why.
pub async fn shrink(cluster: &SimCluster, grown: &[usize]) -> Vec<(usize, String)> {
    let mut kept = Vec::new();
    for &slot in grown.iter().rev() {
        let client = operator(cluster, slot);
        match remove(cluster, &client, slot).await {
            Ok(()) => cluster.shrink_from(slot),
            Err(e) => kept.push((slot, e.to_string())),
        }
    }
    kept
}

/// After a membership fault, the operator reads the member list (the
/// leader's, once the cluster had a moment to settle) and brings the
/// slots the fault touched in line with it: a change whose answer was lost
/// (a removal or an add that timed out while a member was paused) may
/// have gone through after all, long after the operator gave up. A slot
/// whose member the cluster added under an id the operator never learned
/// takes that id and starts afresh; one whose member was removed is
/// replaced (a member it started with) or freed (a spare). Returns what it
/// changed, for the trace, with the new ids.
pub async fn reconcile(cluster: &SimCluster, slots: &[usize]) -> Vec<(usize, Reconciled)> {
    let Some(list) = current_member_list(cluster, slots).await else {
        return Vec::new();
    };
    let mut changed = Vec::new();
    for &slot in slots {
        let (id, url) = (cluster.slots()[slot].id(), cluster.peer_url(slot));
        let in_cluster = cluster.in_cluster().contains(&slot);
        let listed = list.iter().find(|m| m.peer_ur_ls.contains(&url));
        match listed {
            Some(member) if member.id == id && in_cluster => {}
            // A spare's member: the cluster shrinks back without it.
            Some(member) if slot >= cluster.size() => {
                let operator = operator(cluster, slot);
                let removed = retry(REMOVE_PATIENCE, || operator.member_remove(member.id)).await;
                match removed {
                    Ok(_) => cluster.shrink_from(slot),
                    Err(_) => cluster.start_afresh(slot, member.id),
                }
                let kept = removed.is_err().then_some(member.id);
                changed.push((slot, Reconciled::AddedAfterAll(kept)));
            }
            Some(member) => {
                cluster.start_afresh(slot, member.id);
                changed.push((slot, Reconciled::AddedAfterAll(Some(member.id))));
            }
            None if !in_cluster => {}
            None if slot >= cluster.size() => {
                cluster.shrink_from(slot);
                changed.push((slot, Reconciled::RemovedAfterAll(None)));
            }
            None => {
                let operator = operator(cluster, slot);
                let back = add(&operator, &url, false, id).await.ok();
                match back {
                    Some(new) => cluster.start_afresh(slot, new),
                    None => cluster.kill(slot),
                }
                changed.push((slot, Reconciled::RemovedAfterAll(back)));
            }
        }
    }
    changed
}

/// The leader's member list, once it is no older than the slots' last
/// replacements: a leader that has not applied one yet still lists the
/// slot's removed incarnation under its old id, and acting on that list
/// would start a member afresh under a removed id (it could never join;
/// seed 2750) or add a member the cluster has. `None` if no list is.
async fn current_member_list(cluster: &SimCluster, slots: &[usize]) -> Option<Vec<Member>> {
    for _ in 0..10 {
        let list = leaders_member_list(cluster).await?;
        let stale = slots.iter().any(|&slot| {
            let slot = &cluster.slots()[slot];
            list.iter().any(|m| slot.retired(m.id))
        });
        if !stale {
            return Some(list);
        }
    }
    None
}

/// The member list of the leader, once there is one (tried for a while:
/// a change may have left the cluster electing).
async fn leaders_member_list(cluster: &SimCluster) -> Option<Vec<Member>> {
    for _ in 0..10 {
        tokio::time::sleep(SETTLE).await;
        let Some(leader) = cluster.leader().await else {
            continue;
        };
        let client = Client::new([cluster.endpoint(leader)], CALL).expect("a valid URL");
        if let Ok(Ok(list)) = tokio::time::timeout(CALL, client.member_list()).await {
            return Some(list.members);
        }
    }
    None
}

/// What [`reconcile`] changed in a slot.
pub enum Reconciled {
    /// The cluster had added a member there after all: it runs under this
    /// id (or, in a spare slot, was removed again).
    AddedAfterAll(Option<u64>),
    /// The cluster had removed its member after all: added back under this
    /// id (a member the cluster started with), or left out.
    RemovedAfterAll(Option<u64>),
}

/// A client of every member in the cluster but `but`.
fn operator(cluster: &SimCluster, but: usize) -> Client {
    let others: Vec<String> = (cluster.in_cluster().into_iter())
        .filter(|&i| i != but)
        .map(|i| cluster.endpoint(i))
        .collect();
    Client::new(others, CALL).expect("the members' URLs are valid")
}

/// Removes the member in slot `victim`, lets it stop by itself, and stops
/// it if it does not (it may never hear of its removal: cut off, paused).
async fn remove(cluster: &SimCluster, client: &Client, victim: usize) -> Result<(), ClientError> {
    let id = cluster.slots()[victim].id();
    retry(REMOVE_PATIENCE, || async {
        match client.member_remove(id).await {
            Ok(_) | Err(ClientError::Server(RpcError::MemberNotFound)) => Ok(()),
            Err(e) => Err(e),
        }
    })
    .await?;
    stops_by_itself(cluster, victim, STOP_PATIENCE).await;
    cluster.kill(victim);
    Ok(())
}

/// Waits up to `patience` for the member in slot `slot` to stop; whether
/// it did.
async fn stops_by_itself(cluster: &SimCluster, slot: usize, patience: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + patience;
    while !cluster.has_stopped(slot) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.has_stopped(slot)
}

/// Adds a member at peer URL `url`, which member `old` had; its id. A try whose answer was lost
/// may have gone through, and later tries are then refused (the URL is
/// taken, the new member has not started): after a refusal the operator
/// looks for the member in the member list.
async fn add(client: &Client, url: &str, learner: bool, old: u64) -> Result<u64, ClientError> {
    retry(ADD_PATIENCE, || async {
        let refused = match client.member_add(vec![url.to_string()], learner).await {
            Ok(added) => return Ok(added.member.expect("an added member is named").id),
            Err(e) => e,
        };
        let listed = client.member_list().await.map(|list| {
            let mut members = list.members.into_iter();
            // A member that has not applied the removal yet still lists
            // the one removed from the slot.
            members.find(|m| m.id != old && m.peer_ur_ls.iter().any(|u| u == url))
        });
        match listed {
            Ok(Some(added)) => Ok(added.id),
            _ => Err(refused),
        }
    })
    .await
}

/// Calls `call` until it succeeds or `patience` is over; the last error.
async fn retry<T, F, Fut>(patience: Duration, mut call: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let error = match tokio::time::timeout(CALL, call()).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(e)) => e,
            Err(_) => ClientError::Server(RpcError::Timeout),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(error);
        }
        tokio::time::sleep(RETRY).await;
    }
}
