//! Generated protobuf and gRPC code (see `build.rs`).
//!
//! In the simulation build the gRPC stubs run on madsim's network; in the
//! real build on tonic over TCP. The messages are the same prost types in both.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// etcd's `mvccpb` package: key-values and watch events.
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

/// etcd's `etcdserverpb` package: the client API and the raft entry payload.
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

/// etcd-sim's peer transport.
pub mod etcdsimpb {
    tonic::include_proto!("etcdsimpb");
}
