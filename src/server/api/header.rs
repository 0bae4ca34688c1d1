//! Response headers: who answered, at which revision and term.

use crate::proto::etcdserverpb::ResponseHeader;
use crate::server::etcdserver::EtcdServer;

/// Fills `header` as etcd's `header.fill` does: the revision the applier
/// set is kept, and an absent one means "the store's revision now".
pub fn fill(server: &EtcdServer, header: &mut Option<ResponseHeader>) {
    let status = server.status();
    let header = header.get_or_insert_with(Default::default);
    header.cluster_id = server.cluster_id();
    header.member_id = server.member_id();
    header.raft_term = status.term;
    if header.revision == 0 {
        header.revision = status.revision;
    }
}
