//! Compiles the ceiling server's proto with the pure-Rust compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let descriptors = protox::compile(["ceiling.proto"], [&root])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
