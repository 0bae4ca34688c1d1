//! Who is in the cluster, and the ids etcd derives from that.

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

/// The static membership given by `--initial-cluster`.
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
    /// As in etcd, a member's id depends on its peer URL and the cluster
    /// token, and the cluster id on the member ids, so every member derives
    /// the same ids from the same flags.
    pub fn new(token: &str, members: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut members: Vec<Member> = members
            .into_iter()
            .map(|(name, peer_url)| {
                let id = fnv1a(&[peer_url.as_bytes(), token.as_bytes()]).max(1);
                Member { name, peer_url, id }
            })
            .collect();
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let mut ids: Vec<u64> = members.iter().map(|m| m.id).collect();
        ids.sort_unstable();
        let id_bytes: Vec<[u8; 8]> = ids.iter().map(|id| id.to_be_bytes()).collect();
        let id = fnv1a(&id_bytes.iter().map(|b| b.as_slice()).collect::<Vec<_>>());
        Cluster { members, id }
    }

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// FNV-1a over the concatenation of `parts`: stable across builds and
/// platforms, unlike `std`'s hasher.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    parts
        .iter()
        .flat_map(|p| p.iter())
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        })
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
}
