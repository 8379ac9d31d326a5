//! Prometheus metrics. One registry per server instance (no globals), so tests can run many
//! servers in one process and each reports only its own traffic.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route pattern (`/api/v1/users/{id}`), never the raw path: bounded cardinality, no ids.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<HttpLabels, Histogram, fn() -> Histogram>,
    pub sign_ins: Family<OutcomeLabels, Counter>,
    pub connections_open: Gauge,
    pub tls_handshake_failures: Counter,
    /// Messages in the mail outbox not sent yet (refreshed by the dispatcher).
    pub mail_outbox_depth: Gauge,
    /// Messages the SMTP server accepted.
    pub mail_sent: Counter,
    /// Delivery attempts that failed (each is retried later).
    pub mail_send_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("assize");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration =
            Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram as fn() -> _,
            );
        let sign_ins = Family::<OutcomeLabels, Counter>::default();
        let connections_open = Gauge::default();
        let tls_handshake_failures = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests answered",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            http_duration.clone(),
        );
        registry.register("sign_ins", "Sign-in attempts by outcome", sign_ins.clone());
        registry.register(
            "connections_open",
            "TLS connections currently open",
            connections_open.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed or timed out",
            tls_handshake_failures.clone(),
        );
        let mail_outbox_depth = Gauge::default();
        let mail_sent = Counter::default();
        let mail_send_failures = Counter::default();
        registry.register(
            "mail_outbox_depth",
            "Messages in the mail outbox not sent yet",
            mail_outbox_depth.clone(),
        );
        registry.register(
            "mail_sent",
            "Messages the SMTP server accepted",
            mail_sent.clone(),
        );
        registry.register(
            "mail_send_failures",
            "Mail delivery attempts that failed and will be retried",
            mail_send_failures.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            sign_ins,
            connections_open,
            tls_handshake_failures,
            mail_outbox_depth,
            mail_sent,
            mail_send_failures,
        }
    }

    /// Adds metrics read at scrape time from elsewhere (the SFU's pipelines).
    pub fn register_collector(
        &mut self,
        collector: Box<dyn prometheus_client::collector::Collector>,
    ) {
        self.registry.register_collector(collector);
    }

    /// Counts one sign-in attempt.
    pub fn sign_in(&self, outcome: &str) {
        self.sign_ins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.into(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
