//! `liaison`: the one binary. It runs every service in one process
//! (`--target all`, the default) or any subset, and carries the admin tools.

use clap::Parser;
use liaison::cli;

// Requests allocate many small strings across threads (rows, protobuf,
// JSON); glibc's allocator spent a fifth of a list request's time there.
// jemalloc halves that for a few MiB of idle memory (mimalloc, tried too,
// kept twice the idle memory of glibc).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
