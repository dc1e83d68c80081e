//! Prometheus metrics of a process, served at `/metrics` on its HTTP port.
//!
//! gRPC calls are counted and timed per method by the server itself. The
//! stores, relays and consumers keep their own counters (atomics, no
//! dependency on this crate); they are read at each scrape through
//! [`Metrics::observe`], so a scrape always sees their current values.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

/// One value read at scrape time.
#[derive(Debug, Clone, Copy)]
pub enum Reading {
    /// Only ever grows (events appended, redeliveries).
    Counter(u64),
    /// Goes up and down (backlog, lag).
    Gauge(i64),
}

type ReadFn = Box<dyn Fn() -> Vec<(Vec<(&'static str, String)>, Reading)> + Send + Sync>;

struct Observed {
    name: &'static str,
    help: &'static str,
    read: ReadFn,
}

/// The registry of one process.
pub struct Metrics {
    registry: Mutex<Registry>,
    calls: Family<CallLabels, Counter>,
    latency: Family<MethodLabels, Histogram>,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("liaison");
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "grpc_requests",
            "gRPC calls handled, by method and status code",
            calls.clone(),
        );
        let latency = Family::<MethodLabels, Histogram>::new_with_constructor(|| {
            // 100 µs … ~3.3 s
            Histogram::new([
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5,
            ])
        });
        registry.register(
            "grpc_request_duration_seconds",
            "Time to answer a gRPC call, by method",
            latency.clone(),
        );
        Arc::new(Self {
            registry: Mutex::new(registry),
            calls,
            latency,
        })
    }

    /// Records one gRPC call (`code` is the gRPC status name, `OK` included).
    pub fn observe_call(&self, method: &str, code: &str, elapsed: Duration) {
        self.calls
            .get_or_create(&CallLabels {
                method: method.to_owned(),
                code: code.to_owned(),
            })
            .inc();
        self.latency
            .get_or_create(&MethodLabels {
                method: method.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Publishes a metric whose values `read` gives at each scrape, one per
    /// label set (e.g. per service).
    pub fn observe(
        &self,
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> Vec<(Vec<(&'static str, String)>, Reading)> + Send + Sync + 'static,
    ) {
        let observed = Observed {
            name,
            help,
            read: Box::new(read),
        };
        self.lock().register_collector(Box::new(observed));
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.lock()) {
            tracing::warn!(%error, "cannot encode metrics");
        }
        text
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed")
            .field("name", &self.name)
            .finish()
    }
}

impl Collector for Observed {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let readings = (self.read)();
        let Some((_, first)) = readings.first() else {
            return Ok(());
        };
        // The registry's `liaison` prefix applies to collectors too.
        let name = self.name;
        let metric_type = match first {
            Reading::Counter(_) => ConstCounter::new(0u64).metric_type(),
            Reading::Gauge(_) => ConstGauge::new(0i64).metric_type(),
        };
        let mut family = encoder.encode_descriptor(name, self.help, None, metric_type)?;
        for (labels, reading) in &readings {
            let labels: Vec<(&str, &str)> = labels
                .iter()
                .map(|(key, value)| (*key, value.as_str()))
                .collect();
            let metric = family.encode_family(&labels)?;
            match reading {
                Reading::Counter(value) => ConstCounter::new(*value).encode(metric)?,
                Reading::Gauge(value) => ConstGauge::new(*value).encode(metric)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_observed_values_appear_in_the_text() {
        let metrics = Metrics::new();
        metrics.observe_call(
            "/liaison.contacts.v1.ContactService/CreatePerson",
            "OK",
            Duration::from_millis(2),
        );
        metrics.observe_call(
            "/liaison.contacts.v1.ContactService/CreatePerson",
            "INVALID_ARGUMENT",
            Duration::from_millis(1),
        );
        metrics.observe("events_appended", "Events appended", || {
            vec![(
                vec![("service", "contacts".to_owned())],
                Reading::Counter(7),
            )]
        });
        metrics.observe("relay_backlog", "Events not yet published", || {
            vec![(vec![("service", "contacts".to_owned())], Reading::Gauge(3))]
        });
        let text = metrics.encode();
        let line = |start: &str| text.lines().any(|line| line.starts_with(start));
        assert!(
            text.contains("liaison_grpc_requests_total{method=\"/liaison.contacts.v1.ContactService/CreatePerson\",code=\"INVALID_ARGUMENT\"} 1"),
            "{text}"
        );
        assert!(text.contains("liaison_grpc_request_duration_seconds_count{method=\"/liaison.contacts.v1.ContactService/CreatePerson\"} 2"), "{text}");
        assert!(
            line("liaison_events_appended_total{service=\"contacts\"} 7"),
            "{text}"
        );
        assert!(
            line("liaison_relay_backlog{service=\"contacts\"} 3"),
            "{text}"
        );
    }
}
