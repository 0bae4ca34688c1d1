//! Response headers: who answered, at which revision and term.

use crate::proto::etcdserverpb::ResponseHeader;
use crate::server::etcdserver::EtcdServer;

/// Fills `header` as etcd's `header.fill` does: the revision the applier
/// set is kept, and an absent one means "the store's revision now".
pub fn fill(server: &EtcdServer, header: &mut Option<ResponseHeader>) {
    fill_without_revision(server, header);
    let header = header.get_or_insert_with(Default::default);
    if header.revision == 0 {
        header.revision = server.status().revision;
    }
}

/// Fills `header` as etcd's cluster service does: ids and term, no
/// revision (membership is not part of the key-value history).
pub fn fill_without_revision(server: &EtcdServer, header: &mut Option<ResponseHeader>) {
    let header = header.get_or_insert_with(Default::default);
    header.cluster_id = server.cluster_id();
    header.member_id = server.member_id();
    header.raft_term = server.status().term;
}
