//! The one binary's wiring, as a library: the table of targets, `serve`
//! (every target of a process on its listeners, its bus, its relays and
//! consumers) and the admin tools. The binary is `main.rs`; tests run the
//! same wiring in their own process.

pub mod admin;
pub mod cli;
mod peers;
pub mod serve;
pub mod services;
pub mod target;
