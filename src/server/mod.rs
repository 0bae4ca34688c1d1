//! The server: etcd's layering, one job per layer.
//!
//! - [`api`]: the gRPC services. Check a request, call the layer below, map
//!   its error to etcd's status, fill the response header. Nothing else.
//! - [`etcdserver`]: turn requests into raft proposals and wait for them to
//!   be applied; serve linearizable reads through ReadIndex.
//! - [`crate::raft`] below it, and [`crate::mvcc`] at the bottom.
//!
//! [`run`] wires them up for one member and serves until the process ends
//! or the member cannot go on.

pub mod api;
pub mod config;
pub mod etcdserver;
pub mod http;
mod join;
pub mod lease;
mod membership;
pub mod watch;

pub use config::{ClusterState, ConfigError, ServerConfig};
pub use join::{Identity, JoinError};
pub use membership::{Cluster, Member};

use std::sync::Arc;
use std::task::Poll;

use crate::proto::etcdserverpb::cluster_server::ClusterServer;
use crate::proto::etcdserverpb::kv_server::KvServer;
use crate::proto::etcdserverpb::lease_server::LeaseServer;
use crate::proto::etcdserverpb::maintenance_server::MaintenanceServer;
use crate::proto::etcdserverpb::watch_server::WatchServer;
use crate::proto::etcdsimpb::cluster_peer_server::ClusterPeerServer;
use crate::proto::etcdsimpb::lease_peer_server::LeasePeerServer;
use crate::proto::etcdsimpb::raft_transport_server::RaftTransportServer;
use crate::storage::Disk;
use etcdserver::{EtcdServer, StartError, TaskEnded};

/// How long a member that applied its own removal lingers before it stops
/// (etcd's `stopWithDelay` after a removal).
const REMOVED_STOP_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a member stopped.
#[derive(Debug)]
pub enum ServeError {
    /// It could not tell who it is: a joining member's peers did not say.
    Join(JoinError),
    /// It could not restore its state from disk.
    Start(StartError),
    /// A listener failed.
    Transport(tonic::transport::Error),
    /// Its raft loop or applier ended: it can no longer serve.
    Died(TaskEnded),
    /// It applied its own removal from the cluster: it serves no more, and
    /// its data may not start it again.
    Removed,
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Join(e) => write!(f, "cannot join the cluster: {e}"),
            ServeError::Start(e) => write!(f, "cannot start: {e}"),
            ServeError::Transport(e) => write!(f, "listener failed: {e}"),
            ServeError::Died(e) => write!(f, "member stopped: {e}"),
            ServeError::Removed => f.write_str(
                "the member has been permanently removed from the cluster; \
                 the data-dir used by this member must be removed",
            ),
        }
    }
}

impl std::error::Error for ServeError {}

/// Runs one member on `disk` until a listener fails or the member cannot
/// go on (see [`ServeError`]).
pub async fn run(config: ServerConfig, disk: Arc<dyn Disk>) -> Result<(), ServeError> {
    run_and_announce(config, disk, |_| {}).await
}

/// [`run`], calling `ready` with who the member is once it has restored
/// its state from disk and both its listeners are bound: from then on it
/// serves.
pub async fn run_and_announce(
    config: ServerConfig,
    disk: Arc<dyn Disk>,
    ready: impl FnOnce(&Identity),
) -> Result<(), ServeError> {
    let identity = join::identity(&config, &disk)
        .await
        .map_err(ServeError::Join)?;
    let (server, essential) =
        EtcdServer::start(&config, identity.clone(), disk).map_err(ServeError::Start)?;
    let peer = tonic::transport::Server::builder()
        // Peers are members of the cluster, not clients: a batch of appends
        // or a snapshot is as large as the data, and tonic's default 4 MiB
        // limit refused every batch or snapshot above it, for good.
        .add_service(
            RaftTransportServer::new(server.raft_transport()).max_decoding_message_size(usize::MAX),
        )
        .add_service(LeasePeerServer::new(etcdserver::LeasePeerService::new(
            server.clone(),
        )))
        .add_service(ClusterPeerServer::new(etcdserver::ClusterPeerService::new(
            server.clone(),
        )))
        .serve(config.listen_peer);
    let receive_limit = api::grpc_receive_limit(config.max_request_bytes);
    // Real mode: etcd's HTTP endpoints share the client port with gRPC, on
    // HTTP/1.1, and have listeners of their own (`--listen-metrics-urls`).
    // madsim's simulated tonic carries gRPC only.
    // The client port takes grpc-go's header lists (16 MiB, where hyper's
    // default of 16 KiB dropped the whole connection on a larger one).
    let mut client = tonic::transport::Server::builder()
        .http2_max_header_list_size(api::MAX_HEADER_LIST_BYTES)
        .accept_http1(true)
        .layer(api::ClientPortLayer);
    #[cfg(not(madsim))]
    let client = client.add_routes(http::routes(server.clone(), http::Listener::Client));
    #[cfg(not(madsim))]
    let metrics = futures::future::try_join_all(config.listen_metrics.iter().map(|&addr| {
        tonic::transport::Server::builder()
            .accept_http1(true)
            .add_routes(http::routes(server.clone(), http::Listener::Metrics))
            .serve(addr)
    }));
    #[cfg(madsim)]
    let metrics = std::future::ready(Ok::<_, tonic::transport::Error>(Vec::<()>::new()));
    let client = client
        .add_service(
            KvServer::new(api::QuotaKvService::new(
                api::KvService::new(server.clone(), api::Limits::from(&config)),
                server.clone(),
            ))
            .max_decoding_message_size(receive_limit),
        )
        .add_service(
            WatchServer::new(api::WatchService::new(server.clone()))
                .max_decoding_message_size(receive_limit),
        )
        .add_service(
            LeaseServer::new(api::QuotaLeaseService::new(
                api::LeaseService::new(server.clone()),
                server.clone(),
            ))
            .max_decoding_message_size(receive_limit),
        )
        .add_service(
            MaintenanceServer::new(api::MaintenanceService::new(server.clone()))
                .max_decoding_message_size(receive_limit),
        )
        .add_service(
            ClusterServer::new(api::ClusterService::new(server.clone()))
                .max_decoding_message_size(receive_limit),
        )
        .serve(config.listen_client);
    let listeners = async { tokio::try_join!(peer, client, metrics).map(|_| ()) };
    let mut listeners = std::pin::pin!(listeners);
    // Both listeners bind when first polled: a port in use fails here,
    // before the member says it serves.
    if let Poll::Ready(ended) = futures::poll!(listeners.as_mut()) {
        return ended.map_err(ServeError::Transport);
    }
    ready(&identity);
    tokio::select! {
        biased;
        ended = listeners => ended.map_err(ServeError::Transport),
        died = essential.first_to_end() => Err(ServeError::Died(died)),
        () = server.removed() => {
            // As etcd, a moment for the answers under way (the removal's
            // own among them); the API refuses anything new meanwhile.
            tokio::time::sleep(REMOVED_STOP_DELAY).await;
            Err(ServeError::Removed)
        }
    }
}
