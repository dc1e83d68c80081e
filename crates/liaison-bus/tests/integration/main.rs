//! The bus's integration tests, in one binary: the contract suite on the
//! embedded bus and on NATS JetStream, the relay and the consumer runner, and
//! faults around NATS.

mod embedded_contract;
mod nats_contract;
mod nats_faults;
mod relay_and_runner;
