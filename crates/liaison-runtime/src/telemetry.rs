//! Logs (text or JSON on stderr) and, when an OTLP endpoint is configured,
//! traces exported to it.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::{LogFormat, LogSettings, TelemetrySettings};

/// Keeps the trace exporter alive; dropping it flushes the spans in flight.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("liaison: cannot flush traces: {error}");
            }
        }
    }
}

/// Installs the global log subscriber. `RUST_LOG`, when set, overrides the
/// configured level. Safe to call twice (the second call does nothing).
pub fn init_logging(settings: &LogSettings) {
    let _ = tracing_subscriber::registry()
        .with(log_layer(settings))
        .try_init();
}

/// Logs, and traces exported over OTLP/gRPC when `telemetry.otlp_endpoint`
/// is set. Fails when the exporter cannot be built (a malformed endpoint).
pub fn init(
    log: &LogSettings,
    telemetry: &TelemetrySettings,
    service_name: &str,
) -> Result<TelemetryGuard, String> {
    if telemetry.otlp_endpoint.is_empty() {
        init_logging(log);
        return Ok(TelemetryGuard { provider: None });
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(&telemetry.otlp_endpoint)
        .build()
        .map_err(|error| {
            format!(
                "cannot export traces to {}: {error}",
                telemetry.otlp_endpoint
            )
        })?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        )
        .build();
    let tracer = provider.tracer("liaison");
    let _ = tracing_subscriber::registry()
        .with(log_layer(log))
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init();
    Ok(TelemetryGuard {
        provider: Some(provider),
    })
}

fn log_layer<S>(settings: &LogSettings) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: a file or a journal gets
    // the bytes as they are.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colours);
    match settings.format {
        LogFormat::Json => layer.json().flatten_event(true).with_filter(filter).boxed(),
        LogFormat::Text => layer.with_filter(filter).boxed(),
    }
}
