//! The event store's integration tests, in one binary: the conformance suite
//! on SQLite and on PostgreSQL (a real server, a schema per test).

mod postgres_conformance;
mod sqlite_conformance;
mod support;
