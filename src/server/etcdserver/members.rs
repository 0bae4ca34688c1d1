//! What members published about themselves: names and client URLs.
//!
//! The initial cluster names every member's peer URL, which is all raft
//! needs; where a member serves clients only that member knows. As in
//! etcd, each member publishes its attributes through raft once it runs,
//! so every member can answer `MemberList` with every client URL, and the
//! answer survives restarts (the table is part of the snapshot).

use std::collections::BTreeMap;

use prost::Message as _;

use crate::proto::etcdserverpb::{Member as MemberInfo, MemberAttrSetRequest};
use crate::server::Cluster;

/// Published attributes by member id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published(BTreeMap<u64, MemberAttrSetRequest>);

impl Published {
    /// Records what `attributes.member_id` published, replacing what it
    /// published before (a member publishes again on every start).
    pub fn set(&mut self, attributes: MemberAttrSetRequest) {
        self.0.insert(attributes.member_id, attributes);
    }

    /// Every member of `cluster` as `MemberList` shows it, by id as etcd
    /// orders them: a member that has not published yet has no name and no
    /// client URLs, as etcd shows an unstarted member.
    pub fn list(&self, cluster: &Cluster) -> Vec<MemberInfo> {
        let mut members: Vec<MemberInfo> = cluster
            .members
            .iter()
            .map(|member| {
                let published = self.0.get(&member.id);
                MemberInfo {
                    id: member.id,
                    name: published.map(|p| p.name.clone()).unwrap_or_default(),
                    peer_ur_ls: vec![member.peer_url.clone()],
                    client_ur_ls: published.map(|p| p.client_urls.clone()).unwrap_or_default(),
                    is_learner: false,
                }
            })
            .collect();
        members.sort_by_key(|m| m.id);
        members
    }

    /// The table as bytes, for snapshots: a count, then each entry as a
    /// length-prefixed `MemberAttrSetRequest`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = (self.0.len() as u32).to_be_bytes().to_vec();
        for attributes in self.0.values() {
            let bytes = attributes.encode_to_vec();
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        out
    }

    /// A table encoded by [`Published::encode`] at the start of `bytes`,
    /// and the bytes after it; `None` if it is cut short or garbled.
    pub fn decode(bytes: &[u8]) -> Option<(Published, &[u8])> {
        let (count, mut rest) = bytes.split_first_chunk::<4>()?;
        let mut published = Published::default();
        for _ in 0..u32::from_be_bytes(*count) {
            let (len, after) = rest.split_first_chunk::<4>()?;
            let len = u32::from_be_bytes(*len) as usize;
            let entry = after.get(..len)?;
            published.set(MemberAttrSetRequest::decode(entry).ok()?);
            rest = &after[len..];
        }
        Some((published, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        Cluster::new(
            "t",
            (1..=2).map(|i| (format!("m{i}"), format!("http://10.0.0.{i}:2380"))),
        )
    }

    #[test]
    fn unpublished_members_are_listed_without_name_or_client_urls() {
        let cluster = cluster();
        let mut published = Published::default();
        published.set(MemberAttrSetRequest {
            member_id: cluster.members[1].id,
            name: "m2".into(),
            client_urls: vec!["http://10.0.0.2:2379".into()],
        });
        let list = published.list(&cluster);
        assert_eq!(list.len(), 2);
        assert!(list[0].id < list[1].id, "by id, as etcd lists them");
        let m1 = list.iter().find(|m| m.id == cluster.members[0].id).unwrap();
        let m2 = list.iter().find(|m| m.id == cluster.members[1].id).unwrap();
        assert_eq!((m1.name.as_str(), m1.client_ur_ls.len()), ("", 0));
        assert_eq!(m2.name, "m2");
        assert_eq!(m2.client_ur_ls, ["http://10.0.0.2:2379"]);
        assert_eq!(m2.peer_ur_ls, ["http://10.0.0.2:2380"]);
    }

    #[test]
    fn the_table_survives_encoding_and_refuses_a_cut() {
        let mut published = Published::default();
        for id in [7, 3] {
            published.set(MemberAttrSetRequest {
                member_id: id,
                name: format!("m{id}"),
                client_urls: vec![format!("http://h{id}:2379")],
            });
        }
        let bytes = [published.encode(), b"tail".to_vec()].concat();
        let (decoded, rest) = Published::decode(&bytes).unwrap();
        assert_eq!((decoded, rest), (published.clone(), &b"tail"[..]));
        let encoded = published.encode();
        assert!(Published::decode(&encoded[..encoded.len() - 1]).is_none());
    }
}
