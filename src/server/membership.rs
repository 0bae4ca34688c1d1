//! Who is in the cluster, and the ids etcd derives from that.

use sha1::{Digest, Sha1};

/// One member of the initial cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its `--name`.
    pub name: String,
    /// Its advertised peer URL.
    pub peer_url: String,
    /// Its id: the raft id and the `member_id` of response headers.
    pub id: u64,
}

/// The members `--initial-cluster` names: those a new cluster starts
/// with, or those a joining member asks about the running cluster. The
/// membership as the log changes it is the applier's
/// (`etcdserver::members`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// The members, ordered by name.
    pub members: Vec<Member>,
    /// The `cluster_id` of response headers.
    pub id: u64,
}

impl Cluster {
    /// The cluster of `(name, peer_url)` pairs under `token`.
    ///
    /// The ids are etcd 3.4's, so that `member list` and response headers
    /// show what etcd would for the same flags: a member's id is the first
    /// 8 bytes (big-endian) of the SHA-1 of its sorted peer URLs followed by
    /// the cluster token, and the cluster id the same of the sorted member
    /// ids, each as 8 big-endian bytes. Every member derives the same ids
    /// from the same flags.
    pub fn new(token: &str, members: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut members: Vec<Member> = members
            .into_iter()
            .map(|(name, peer_url)| {
                let id = member_id(std::slice::from_ref(&peer_url), token);
                Member { name, peer_url, id }
            })
            .collect();
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let mut ids: Vec<u64> = members.iter().map(|m| m.id).collect();
        ids.sort_unstable();
        let id = cluster_id(&ids);
        Cluster { members, id }
    }

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// etcd's id of a member with `peer_urls` in the cluster `token`.
fn member_id(peer_urls: &[String], token: &str) -> u64 {
    let mut sorted: Vec<&str> = peer_urls.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for url in sorted {
        hasher.update(url.as_bytes());
    }
    hasher.update(token.as_bytes());
    first_8_bytes(hasher)
}

/// etcd's id of the cluster of the members `sorted_ids`.
fn cluster_id(sorted_ids: &[u64]) -> u64 {
    let mut hasher = Sha1::new();
    for id in sorted_ids {
        hasher.update(id.to_be_bytes());
    }
    first_8_bytes(hasher)
}

fn first_8_bytes(hasher: Sha1) -> u64 {
    let digest = hasher.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("SHA-1 has 20 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three(token: &str) -> Cluster {
        Cluster::new(
            token,
            (1..=3).map(|i| (format!("n{i}"), format!("http://10.0.0.{i}:2380"))),
        )
    }

    #[test]
    fn ids_are_stable_distinct_and_depend_on_the_token() {
        let a = three("etcd-cluster");
        assert_eq!(a, three("etcd-cluster"));
        let ids: std::collections::BTreeSet<u64> = a.members.iter().map(|m| m.id).collect();
        assert_eq!(ids.len(), 3);
        assert!(!ids.contains(&0));
        assert_ne!(a.id, three("other").id);
        assert_eq!(a.member("n2").unwrap().peer_url, "http://10.0.0.2:2380");
    }

    /// Known answers: the ids etcd 3.4.23 prints (`etcdctl member list`,
    /// `endpoint status -w json`) for a three-member cluster on these peer
    /// URLs under the default token `etcd-cluster`.
    #[test]
    fn ids_are_etcds() {
        let c = Cluster::new(
            "etcd-cluster",
            [
                ("a".to_string(), "http://127.0.0.1:12380".to_string()),
                ("b".to_string(), "http://127.0.0.1:22380".to_string()),
                ("c".to_string(), "http://127.0.0.1:32380".to_string()),
            ],
        );
        let ids: Vec<String> = c.members.iter().map(|m| format!("{:x}", m.id)).collect();
        assert_eq!(
            ids,
            ["ddd67b312462fd7b", "9e737febb6b99eee", "628170c800dbcee"]
        );
        assert_eq!(c.id, 8323808018354915591);
    }
}
