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
    // Both from where this package is now, read when the script runs: the
    // compiled script is shared by every checkout using the same target dir
    // (CI clones afresh), so a path fixed when it was compiled (`env!`)
    // would read the first checkout's protos.
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
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
