//! Where every node of a run sits on the simulated network.
//!
//! One table instead of addresses spread over the run and the cluster:
//! members on 10.0.0.x, the run's clients on 10.0.1.x (KV clients first,
//! then the final reader, then the watchers), the nemesis on 10.0.2.1, the
//! lease clients on 10.0.3.x, and a test's operator on 10.0.9.1
//! ([`operator_node`]). No two
//! nodes share an address, and the clients' addresses say nothing to the
//! members: the plan only keeps them apart and stable, so that a seed's run
//! (whose node names show in its trace) stays the same.

use std::net::{IpAddr, Ipv4Addr};

use madsim::runtime::{Handle, NodeHandle};

/// The client port of every member.
pub const CLIENT_PORT: u16 = 2379;
/// The peer port of every member.
pub const PEER_PORT: u16 = 2380;

/// A node of a run other than a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// KV client `n` (etcd or Kubernetes traffic).
    KvClient(u32),
    /// The node that reads every key after the chaos, and probes liveness
    /// and compares the members' hashes.
    Reader,
    /// Watcher `n`.
    Watcher(u32),
    /// Lease client `n`.
    LeaseClient(u32),
    /// The nemesis, which injects the faults.
    Nemesis,
}

/// The addresses of one run's nodes: the clients' depend on how many KV
/// clients it has.
#[derive(Debug, Clone, Copy)]
pub struct AddressPlan {
    /// How many KV clients the run has.
    pub kv_clients: u32,
}

impl AddressPlan {
    /// The name of member `index` (0-based): `n1`, `n2`, …
    pub fn member_name(index: usize) -> String {
        format!("n{}", index + 1)
    }

    /// The IP of member `index` (0-based): 10.0.0.1, 10.0.0.2, …
    pub fn member_ip(index: usize) -> IpAddr {
        ip(0, index as u32 + 1)
    }

    /// The URL member `ip` serves clients on.
    pub fn client_url(ip: IpAddr) -> String {
        format!("http://{ip}:{CLIENT_PORT}")
    }

    /// The URL member `ip` serves its peers on.
    pub fn peer_url(ip: IpAddr) -> String {
        format!("http://{ip}:{PEER_PORT}")
    }

    /// The madsim name of `node`. The reader and the watchers are numbered
    /// on from the KV clients, as `client<n>`.
    pub fn name(&self, node: Node) -> String {
        match node {
            Node::KvClient(_) | Node::Reader | Node::Watcher(_) => {
                format!("client{}", self.client_number(node))
            }
            Node::LeaseClient(n) => format!("lease-client{n}"),
            Node::Nemesis => "nemesis".to_string(),
        }
    }

    /// The IP of `node`.
    pub fn ip(&self, node: Node) -> IpAddr {
        match node {
            Node::KvClient(_) | Node::Reader | Node::Watcher(_) => {
                ip(1, self.client_number(node) + 1)
            }
            Node::Nemesis => ip(2, 1),
            Node::LeaseClient(n) => ip(3, n + 1),
        }
    }

    /// Creates `node` in the current runtime.
    pub fn create(&self, node: Node) -> NodeHandle {
        Handle::current()
            .create_node()
            .name(self.name(node))
            .ip(self.ip(node))
            .build()
    }

    /// The number of a node on the clients' subnet: KV clients `0..n`,
    /// the reader `n`, watcher `w` at `n + 1 + w`.
    fn client_number(&self, node: Node) -> u32 {
        match node {
            Node::KvClient(c) => c,
            Node::Reader => self.kv_clients,
            Node::Watcher(w) => self.kv_clients + 1 + w,
            other => unreachable!("{other:?} is not on the clients' subnet"),
        }
    }
}

/// A node outside any run's plan for a test to drive a cluster from:
/// clients need a network address of their own, and this one (10.0.9.1) is
/// no member's and no run client's.
pub fn operator_node() -> NodeHandle {
    Handle::current()
        .create_node()
        .name("operator")
        .ip(ip(9, 1))
        .build()
}

/// 10.0.`subnet`.`host`.
fn ip(subnet: u8, host: u32) -> IpAddr {
    let host = u8::try_from(host).expect("at most 255 nodes on a subnet");
    IpAddr::V4(Ipv4Addr::new(10, 0, subnet, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_nodes_of_a_run_share_an_address() {
        let plan = AddressPlan { kv_clients: 5 };
        let mut nodes: Vec<Node> = (0..5).map(Node::KvClient).collect();
        nodes.push(Node::Reader);
        nodes.extend((0..2).map(Node::Watcher));
        nodes.extend((0..2).map(Node::LeaseClient));
        nodes.push(Node::Nemesis);
        let mut ips: Vec<IpAddr> = nodes.iter().map(|&n| plan.ip(n)).collect();
        ips.extend((0..5).map(AddressPlan::member_ip));
        ips.push(ip(9, 1));
        let distinct: std::collections::BTreeSet<_> = ips.iter().collect();
        assert_eq!(distinct.len(), ips.len(), "{ips:?}");
        let names: std::collections::BTreeSet<_> = nodes.iter().map(|&n| plan.name(n)).collect();
        assert_eq!(names.len(), nodes.len());
    }

    #[test]
    fn the_reader_and_watchers_follow_the_kv_clients() {
        let plan = AddressPlan { kv_clients: 3 };
        assert_eq!(plan.name(Node::KvClient(2)), "client2");
        assert_eq!(plan.name(Node::Reader), "client3");
        assert_eq!(plan.name(Node::Watcher(0)), "client4");
        assert_eq!(plan.ip(Node::Watcher(1)).to_string(), "10.0.1.6");
        assert_eq!(AddressPlan::member_ip(0).to_string(), "10.0.0.1");
        assert_eq!(
            AddressPlan::client_url(AddressPlan::member_ip(2)),
            "http://10.0.0.3:2379"
        );
    }
}
