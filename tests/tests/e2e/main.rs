//! Liaison end to end, in one binary: the real `liaison` binary embedded and
//! distributed (separate processes, PostgreSQL, NATS), its faults, the
//! gateway's API and pages, the browser, and traces across services.

mod common;
mod distributed;
mod embedded;
mod gateway_api;
mod gateway_browser;
mod gateway_web;
mod gateway_web_accounts;
mod gateway_web_forms;
mod relations;
mod trace_propagation;
