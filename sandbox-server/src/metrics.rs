//! Prometheus metrics (`GET /metrics`, text format).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of finished jobs.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `run` or `submission`.
    pub kind: String,
    /// The run's outcome kind or the submission's verdict.
    pub outcome: String,
}

/// Labels of callback deliveries.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallbackLabels {
    /// `delivered`, `retried` or `failed`.
    pub result: String,
}

/// Labels of answered requests.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// The HTTP status code.
    pub status: String,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    /// Jobs finished, by kind and outcome.
    pub finished: Family<OutcomeLabels, Counter>,
    /// Jobs accepted.
    pub accepted: Counter,
    /// Jobs waiting for a worker.
    pub queue_depth: Gauge,
    /// Workers running a job.
    pub workers_busy: Gauge,
    /// Workers in all.
    pub workers: Gauge,
    /// Seconds from acceptance to a worker taking the job.
    pub queue_seconds: Histogram,
    /// Seconds a worker spent on a job.
    pub run_seconds: Histogram,
    /// Callback deliveries.
    pub callbacks: Family<CallbackLabels, Counter>,
    /// Requests refused by status (4xx, 5xx).
    pub refused: Family<StatusLabels, Counter>,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sandbox");
        let finished = Family::<OutcomeLabels, Counter>::default();
        let accepted = Counter::default();
        let queue_depth = Gauge::default();
        let workers_busy = Gauge::default();
        let workers = Gauge::default();
        // 100 µs to ~100 s.
        let queue_seconds = Histogram::new(exponential_buckets(0.0001, 2.5, 16));
        let run_seconds = Histogram::new(exponential_buckets(0.0001, 2.5, 16));
        let callbacks = Family::<CallbackLabels, Counter>::default();
        let refused = Family::<StatusLabels, Counter>::default();
        registry.register(
            "jobs_finished",
            "Jobs finished, by kind and outcome (or verdict)",
            finished.clone(),
        );
        registry.register(
            "jobs_accepted",
            "Jobs accepted (committed)",
            accepted.clone(),
        );
        registry.register(
            "queue_depth",
            "Jobs waiting for a worker",
            queue_depth.clone(),
        );
        registry.register(
            "workers_busy",
            "Workers running a job",
            workers_busy.clone(),
        );
        registry.register("workers", "Worker threads", workers.clone());
        registry.register(
            "queue_latency_seconds",
            "Time from acceptance to a worker taking the job",
            queue_seconds.clone(),
        );
        registry.register(
            "run_latency_seconds",
            "Time a worker spent on a job",
            run_seconds.clone(),
        );
        registry.register(
            "callbacks",
            "Callback deliveries, by result",
            callbacks.clone(),
        );
        registry.register(
            "requests_refused",
            "Requests answered with an error, by status",
            refused.clone(),
        );
        Metrics {
            registry,
            finished,
            accepted,
            queue_depth,
            workers_busy,
            workers,
            queue_seconds,
            run_seconds,
            callbacks,
            refused,
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
