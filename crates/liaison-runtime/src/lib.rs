//! What every Liaison process shares: layered configuration, logging and
//! traces, metrics, the gRPC server (health, reflection, graceful shutdown,
//! per-call spans and metrics), the small HTTP server for probes and
//! metrics, and the one mapping from error codes to gRPC and HTTP.

pub mod context;
pub mod errors;
pub mod grpc;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod paging;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;

pub use context::{RequestContext, SYSTEM_ROLE};
pub use errors::{ErrorCode, ServiceError};
pub use settings::Settings;
