//! The relations service's integration tests, in one binary: its gRPC API on
//! an ephemeral port, on SQLite and on PostgreSQL, fed by a fake contacts;
//! and the symmetry property.

mod event_fixtures;
mod grpc_deletes_and_candidates;
mod grpc_entities_and_paging;
mod grpc_internal_and_bulk;
mod grpc_relations;
mod grpc_types_and_lifecycle;
mod support;
mod symmetry_property;
