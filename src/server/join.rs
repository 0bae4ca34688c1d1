//! Who this member is, and in which cluster: what a response header says
//! of it, and what its raft id is.
//!
//! A member of a new cluster derives both ids from the flags, as every
//! other initial member does. A member that joins a running cluster (after
//! `member add`) cannot: the id was drawn when it was added. It asks the
//! running members for the cluster (etcd's `GetClusterFromRemotePeers`),
//! finds itself there by its peer URL, and keeps both ids on its disk
//! (etcd keeps them in its WAL's metadata), so that it restarts as itself
//! even when no peer answers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::config::{ClusterState, ServerConfig};
use crate::proto::etcdserverpb::{Member, MemberListRequest, MemberListResponse};
use crate::proto::etcdsimpb::cluster_peer_client::ClusterPeerClient;
use crate::raft::Peer;
use crate::storage::{read_if_exists, sync, Disk};

/// The file holding a joined member's ids.
const IDENTITY_FILE: &str = "member";

/// How long each peer may take to tell the cluster.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a joining member keeps asking until a peer lists it: the peer
/// it asks may not have applied the `member add` yet.
const JOIN_PATIENCE: Duration = Duration::from_secs(30);

/// This member's ids, and whom it talks to first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Its raft id and `member_id`.
    pub member_id: u64,
    /// The `cluster_id`.
    pub cluster_id: u64,
    /// Whether an empty disk starts a new cluster's log (or waits for the
    /// leader's).
    pub new_cluster: bool,
    /// The members as a running member told them, if one was asked: a
    /// member that joins has nothing in its log to learn them from until
    /// the leader reaches it, and must answer the leader meanwhile (its
    /// flags name the members' URLs, not the ids a replaced member took).
    /// Empty for a member of a new cluster: its flags say all.
    pub peers: Vec<Peer>,
}

impl Identity {
    /// Who a member of a new cluster is: ids derived from the flags.
    pub fn of_new_cluster(config: &ServerConfig) -> Self {
        Identity {
            member_id: config.member().id,
            cluster_id: config.cluster.id,
            new_cluster: true,
            peers: Vec::new(),
        }
    }
}

/// Why a member could not tell who it is.
#[derive(Debug)]
pub enum JoinError {
    /// No member of `--initial-cluster` answered.
    NoPeerAnswered(Vec<String>),
    /// The running cluster has no member at this peer URL.
    NotAdded(String),
    /// The disk failed, or holds a garbled identity.
    Disk(std::io::Error),
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::NoPeerAnswered(urls) => write!(
                f,
                "cannot fetch cluster info from peer urls: could not retrieve cluster information from the given URLs ({})",
                urls.join(",")
            ),
            JoinError::NotAdded(url) => write!(
                f,
                "no member of the running cluster has peer URL {url}: add it first (etcdctl member add NAME --peer-urls={url})"
            ),
            JoinError::Disk(e) => write!(f, "cannot read or write the member's identity: {e}"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<std::io::Error> for JoinError {
    fn from(e: std::io::Error) -> Self {
        JoinError::Disk(e)
    }
}

/// Who the member `config` describes is, on `disk`.
pub async fn identity(config: &ServerConfig, disk: &Arc<dyn Disk>) -> Result<Identity, JoinError> {
    if let Some(bytes) = read_if_exists(disk.as_ref(), IDENTITY_FILE)? {
        let mut identity = decode(&bytes).ok_or_else(|| {
            JoinError::Disk(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{IDENTITY_FILE}: {} bytes, not 16", bytes.len()),
            ))
        })?;
        // A joined member restarts as itself even when no peer answers;
        // one that does says who the members are now.
        if let Ok(answers) = ask_peers(config, |_| true).await {
            identity.peers = peers(answers.last().expect("an answer"));
        }
        return Ok(identity);
    }
    if config.initial_cluster_state == ClusterState::New {
        return Ok(Identity::of_new_cluster(config));
    }
    let identity = join(config).await?;
    let temporary = format!("{IDENTITY_FILE}.tmp");
    disk.write(&temporary, &encode(&identity))?;
    sync(disk, &temporary).await?;
    disk.rename(&temporary, IDENTITY_FILE)?;
    Ok(identity)
}

/// Who this member is in the cluster the first member of
/// `config.cluster` to answer describes.
///
/// A peer that does not list this member yet may lag the `member add`:
/// the peers are asked again, for [`JOIN_PATIENCE`], where etcd exits and
/// leaves the retry to whoever restarts it.
async fn join(config: &ServerConfig) -> Result<Identity, JoinError> {
    let own = config.member().peer_url.clone();
    let deadline = tokio::time::Instant::now() + JOIN_PATIENCE;
    // A member joining with an empty disk was just added, and has not
    // published a name yet: a named member at this URL is an incarnation
    // removed before, that a lagging peer still lists.
    let added = |m: &&Member| m.peer_ur_ls.contains(&own) && m.name.is_empty();
    loop {
        let answers = ask_peers(config, |a| a.members.iter().any(|m| added(&m))).await;
        if let Ok(answers) = &answers {
            for answer in answers {
                let cluster_id = answer.header.as_ref().map_or(0, |h| h.cluster_id);
                if let Some(me) = answer.members.iter().find(added) {
                    return Ok(Identity {
                        member_id: me.id,
                        cluster_id,
                        new_cluster: false,
                        peers: peers(answer),
                    });
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(answers.err().unwrap_or(JoinError::NotAdded(own)));
        }
        tokio::time::sleep(ASK_TIMEOUT).await;
    }
}

/// The members an answer lists, each at its first peer URL.
fn peers(answer: &MemberListResponse) -> Vec<Peer> {
    (answer.members.iter())
        .filter_map(|m| {
            let url = m.peer_ur_ls.first()?.clone();
            Some(Peer { id: m.id, url })
        })
        .collect()
}

/// The cluster as the members of `config.cluster` that answer tell it, in
/// order, up to the first answer that is `enough`.
async fn ask_peers(
    config: &ServerConfig,
    enough: impl Fn(&MemberListResponse) -> bool,
) -> Result<Vec<MemberListResponse>, JoinError> {
    let own = config.member().peer_url.clone();
    let urls: Vec<String> = config
        .cluster
        .members
        .iter()
        .map(|m| m.peer_url.clone())
        .filter(|url| *url != own)
        .collect();
    let mut answers = Vec::new();
    for url in &urls {
        let ask = async {
            let mut peer = ClusterPeerClient::connect(url.clone()).await.ok()?;
            peer.members(MemberListRequest {}).await.ok()
        };
        if let Ok(Some(answer)) = tokio::time::timeout(ASK_TIMEOUT, ask).await {
            let answer = answer.into_inner();
            let done = enough(&answer);
            answers.push(answer);
            if done {
                break;
            }
        }
    }
    match answers.is_empty() {
        true => Err(JoinError::NoPeerAnswered(urls)),
        false => Ok(answers),
    }
}

fn encode(identity: &Identity) -> Vec<u8> {
    [
        identity.member_id.to_be_bytes(),
        identity.cluster_id.to_be_bytes(),
    ]
    .concat()
}

fn decode(bytes: &[u8]) -> Option<Identity> {
    let (member, cluster) = bytes.split_first_chunk::<8>()?;
    let cluster: [u8; 8] = cluster.try_into().ok()?;
    Some(Identity {
        member_id: u64::from_be_bytes(*member),
        cluster_id: u64::from_be_bytes(cluster),
        new_cluster: false,
        peers: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_survives_its_file_and_a_garbled_one_is_refused() {
        let identity = Identity {
            member_id: 7,
            cluster_id: 9,
            new_cluster: false,
            peers: Vec::new(),
        };
        assert_eq!(decode(&encode(&identity)), Some(identity.clone()));
        assert_eq!(decode(&encode(&identity)[..15]), None);
        assert_eq!(decode(&[encode(&identity), vec![0]].concat()), None);
    }
}
