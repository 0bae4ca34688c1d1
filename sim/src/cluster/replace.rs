//! Replacing a member as an operator does (etcd robustness's
//! MemberReplace): remove it, wipe its data, add it back as a new member
//! (a learner promoted once it caught up, or a voter at once) and start it
//! again, joining the running cluster.
//!
//! Each step is a call an operator makes with etcdctl, retried as an
//! operator retries it (a refusal for want of started members, a timeout
//! across an election), so the steps run against whatever else the cluster
//! is going through. Until the member is added back the cluster is one
//! member short; adding it back is retried for a minute, far longer than a
//! healthy cluster takes, and a cluster that cannot add it back by then
//! is left without it: the liveness phase then finds the member missing.
//! (Retried for ever, a cluster that lost its quorum kept the nemesis, and
//! so the seed, from ever ending.)

use std::future::Future;
use std::time::Duration;

use etcd_sim::client::{Client, ClientError};
use etcd_sim::rpc_error::RpcError;

use crate::cluster::SimCluster;

/// How long one call may take.
const CALL: Duration = Duration::from_secs(3);
/// How long an operator keeps asking before giving up on a removal.
const REMOVE_PATIENCE: Duration = Duration::from_secs(20);
/// How long an operator keeps asking to add the member back.
const ADD_PATIENCE: Duration = Duration::from_secs(60);
/// How long an operator waits for a learner to catch up.
const PROMOTE_PATIENCE: Duration = Duration::from_secs(60);
/// Between two tries.
const RETRY: Duration = Duration::from_millis(300);

/// What became of a replacement, for the trace.
pub enum Replaced {
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

/// Replaces member `victim` of `cluster`; `learner` adds it back as a
/// learner first.
pub async fn replace(cluster: &SimCluster, victim: usize, learner: bool) -> Replaced {
    let others: Vec<String> = (cluster.endpoints().into_iter().enumerate())
        .filter_map(|(i, endpoint)| (i != victim).then_some(endpoint))
        .collect();
    let client = Client::new(others, CALL).expect("the members' URLs are valid");
    let old = cluster.members()[victim].id();
    let removed = retry(REMOVE_PATIENCE, || async {
        match client.member_remove(old).await {
            Ok(_) | Err(ClientError::Server(RpcError::MemberNotFound)) => Ok(()),
            Err(e) => Err(e),
        }
    })
    .await;
    if let Err(e) = removed {
        return Replaced::NotRemoved(e.to_string());
    }
    // Its process stops by itself once it applies its removal, unless it
    // never hears of it (cut off, paused): an operator kills it.
    cluster.kill(victim);
    cluster.disk(victim).wipe();
    let url = cluster.peer_url(victim);
    let added = retry(ADD_PATIENCE, || {
        client.member_add(vec![url.clone()], learner)
    })
    .await;
    let id = match added {
        Ok(added) => added.member.expect("an added member is named").id,
        Err(e) => return Replaced::NotAdded(e.to_string()),
    };
    cluster.replaced(victim, id);
    cluster.restart(victim);
    if !learner {
        return Replaced::Back { id, learner };
    }
    let promoted = retry(PROMOTE_PATIENCE, || client.member_promote(id)).await;
    Replaced::Back {
        id,
        learner: promoted.is_err(),
    }
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
