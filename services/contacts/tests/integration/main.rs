//! The contacts service's integration tests, in one binary: its gRPC API on
//! an ephemeral port, on SQLite and on PostgreSQL; and the event fixtures of
//! past versions.

mod event_fixtures;
mod grpc_contacts;
mod grpc_lists_history_erasure;
mod support;
