//! The server: etcd's layering, one job per layer.
//!
//! - [`api`]: the gRPC services. Check a request, call the layer below, map
//!   its error to etcd's status, fill the response header. Nothing else.
//! - [`etcdserver`]: turn requests into raft proposals and wait for them to
//!   be applied; serve linearizable reads through ReadIndex.
//! - [`crate::raft`] below it, and [`crate::mvcc`] at the bottom.
//!
//! [`run`] wires them up for one member and serves until the process ends.

pub mod api;
pub mod config;
pub mod etcdserver;
pub mod http;
pub mod lease;
mod membership;
pub mod watch;

pub use config::{ConfigError, ServerConfig};
pub use membership::{Cluster, Member};

use std::sync::Arc;

use crate::proto::etcdserverpb::cluster_server::ClusterServer;
use crate::proto::etcdserverpb::kv_server::KvServer;
use crate::proto::etcdserverpb::lease_server::LeaseServer;
use crate::proto::etcdserverpb::maintenance_server::MaintenanceServer;
use crate::proto::etcdserverpb::watch_server::WatchServer;
use crate::proto::etcdsimpb::lease_peer_server::LeasePeerServer;
use crate::proto::etcdsimpb::raft_transport_server::RaftTransportServer;
use crate::raft::RaftTransportService;
use crate::storage::Disk;
use etcdserver::{EtcdServer, StartError};

/// Why a member stopped.
#[derive(Debug)]
pub enum ServeError {
    /// It could not restore its state from disk.
    Start(StartError),
    /// A listener failed.
    Transport(tonic::transport::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Start(e) => write!(f, "cannot start: {e}"),
            ServeError::Transport(e) => write!(f, "listener failed: {e}"),
        }
    }
}

impl std::error::Error for ServeError {}

/// Runs one member on `disk` until the process ends or a listener fails.
pub async fn run(config: ServerConfig, disk: Arc<dyn Disk>) -> Result<(), ServeError> {
    let server = EtcdServer::start(&config, disk).map_err(ServeError::Start)?;
    let peer = tonic::transport::Server::builder()
        .add_service(RaftTransportServer::new(RaftTransportService::new(
            server.raft().clone(),
        )))
        .add_service(LeasePeerServer::new(etcdserver::LeasePeerService::new(
            server.clone(),
        )))
        .serve(config.listen_peer);
    // Real mode: etcd's HTTP endpoints share the client port with gRPC,
    // on HTTP/1.1.
    #[cfg(not(madsim))]
    let client = tonic::transport::Server::builder()
        .accept_http1(true)
        .add_routes(http::routes(server.clone(), http::Listener::Client));
    #[cfg(madsim)]
    let mut client = tonic::transport::Server::builder();
    #[cfg(not(madsim))]
    let metrics = futures::future::try_join_all(config.listen_metrics.iter().map(|&addr| {
        tonic::transport::Server::builder()
            .accept_http1(true)
            .add_routes(http::routes(server.clone(), http::Listener::Metrics))
            .serve(addr)
    }));
    #[cfg(madsim)]
    let metrics = std::future::ready(Ok::<_, tonic::transport::Error>(()));
    let client = client
        .add_service(KvServer::new(api::KvService::new(
            server.clone(),
            api::Limits::from(&config),
        )))
        .add_service(WatchServer::new(api::WatchService::new(server.clone())))
        .add_service(LeaseServer::new(api::LeaseService::new(server.clone())))
        .add_service(MaintenanceServer::new(api::MaintenanceService::new(
            server.clone(),
        )))
        .add_service(ClusterServer::new(api::ClusterService::new(server)))
        .serve(config.listen_client);
    tokio::try_join!(peer, client, metrics).map_err(ServeError::Transport)?;
    Ok(())
}
