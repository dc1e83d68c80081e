//! Compiles `proto/` with a pure-Rust protobuf compiler, so no system `protoc` is needed.

use std::path::PathBuf;

use prost::Message;

const PROTO_FILES: &[&str] = &[
    "liaison/common/v1/entity_ref.proto",
    "liaison/events/v1/envelope.proto",
    "liaison/contacts/v1/contacts.proto",
    "liaison/contacts/v1/events.proto",
    "liaison/relations/v1/relations.proto",
    "liaison/relations/v1/events.proto",
    "liaison/gateway/v1/events.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    // Relative to this package, so that a checkout elsewhere sharing the
    // target dir (CI clones afresh) watches its own files, not the first's.
    println!("cargo:rerun-if-changed=../../proto");

    let descriptors = protox::compile(PROTO_FILES, [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("liaison_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
