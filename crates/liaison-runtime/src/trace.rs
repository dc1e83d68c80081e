//! W3C trace context across process boundaries: a `traceparent` from gRPC
//! metadata or an event becomes the parent of a local span, and a span's
//! context becomes the `traceparent` written into the events it causes. When
//! no OpenTelemetry exporter is installed, spans carry no trace context; the
//! caller's `traceparent` is then passed on unchanged.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const TRACEPARENT: &str = "traceparent";

/// Makes the trace of `traceparent` the parent of `span`. Does nothing for
/// an empty or malformed value.
pub fn adopt_parent(span: &tracing::Span, traceparent: &str) {
    if traceparent.is_empty() {
        return;
    }
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// The `traceparent` naming `span`, when it is part of an exported trace.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// What to record as the cause of events made now: the current span when it
/// is traced, otherwise what the caller sent.
pub fn traceparent_for_events(incoming: &str) -> String {
    traceparent_of(&tracing::Span::current()).unwrap_or_else(|| incoming.to_owned())
}
