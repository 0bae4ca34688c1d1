//! Generates the gRPC code for etcd's API and etcd-sim's peer transport.
//!
//! protox parses the protos in pure Rust (no protoc on the machine), and
//! madsim-tonic-build turns the descriptor set into two copies of the code:
//! one for the simulation build (`OUT_DIR/sim`) and one for real tonic.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/mvccpb/kv.proto",
    "proto/etcdserverpb/rpc.proto",
    "proto/etcdserverpb/raft_internal.proto",
    "proto/etcdsimpb/transport.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("descriptors.bin");
    std::fs::write(
        &descriptor_path,
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_build::configure()
        .file_descriptor_set_path(&descriptor_path)
        .skip_protoc_run()
        .compile_protos(PROTOS, &["proto"])?;
    Ok(())
}
