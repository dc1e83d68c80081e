//! The whole of Liaison in-process, through the binary's own wiring: the
//! gateway's API rules against every service on SQLite, no server needed.

mod gateway_api;
mod gateway_relations_api;
mod gateway_security;
mod http_limits;
mod support;
