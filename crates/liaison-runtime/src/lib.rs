//! What every Liaison process shares: layered configuration, logging, the
//! gRPC server (health, reflection, graceful shutdown), the small HTTP
//! server for probes, and the one mapping from error codes to gRPC and HTTP.

pub mod errors;
pub mod grpc;
pub mod http;
pub mod settings;
pub mod shutdown;
pub mod telemetry;

pub use errors::{ErrorCode, ServiceError};
pub use settings::Settings;
