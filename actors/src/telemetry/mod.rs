//! Telemetry: the node's metrics in Prometheus' text formats (OpenMetrics, or 0.0.4 for
//! clients that do not ask for it), under the names and labels Kubernetes' components
//! use, so existing dashboards and alerts work.
//!
//! One process is one node, so there is one registry per process ([`metrics`]); every
//! metric is registered once, when the registry is first used, with the official
//! `prometheus-client` crate (nothing here writes the exposition format by hand; the
//! 0.0.4 format is a rewrite of its output, [`classic`]). The
//! registry is served as `/metrics` on the API port (authorized as a non-resource URL,
//! as Kubernetes does, see [`crate::apiserver::rbac`]'s `system:monitoring`) and, when
//! `[metrics] listen` is set, in plain HTTP on that address ([`serve`]).
//!
//! Rules the code keeps:
//! - Hot paths (a bus message, a frame, an API request) only touch atomics behind
//!   handles resolved once: a label set is looked up when an actor registers or a link
//!   opens, never per message, and no label value is allocated per event.
//! - Values that already live elsewhere (Raft's term and indexes, a link's frame
//!   counters, the process's memory) are read when scraped, not copied on every change.
//! - [`enabled`] off (`[metrics] enabled = false`) skips every recording, so the
//!   benchmarks can measure what metrics cost.
//!
//! Modules: [`api`] (API server and storage), [`actors`] (per actor and per bus link),
//! [`classic`] (the 0.0.4 text format, for clients that do not ask for OpenMetrics),
//! [`components`] (scheduler, work queues, kubelet, bus client), [`process`]
//! (`process_*`), [`serve`] (the metrics address), [`trace`] (traces across the bus).

pub mod actors;
pub mod api;
pub mod classic;
pub mod components;
pub mod process;
pub mod serve;
pub mod trace;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Registry;

/// The media type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns recording on or off for the whole process (the node's `[metrics] enabled`).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether events are recorded.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Every metric of this process.
pub struct Metrics {
    registry: Registry,
    /// The API server and its storage.
    pub api: api::ApiMetrics,
    /// Actors and bus links.
    pub actors: actors::ActorMetrics,
    /// Scheduler, work queues, kubelet and the bus client.
    pub components: components::ComponentMetrics,
}

/// The process's metrics, registered on first use.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::default();
        let api = api::ApiMetrics::register(&mut registry);
        let actors = actors::ActorMetrics::register(&mut registry);
        let components = components::ComponentMetrics::register(&mut registry);
        process::register(&mut registry);
        Metrics {
            registry,
            api,
            actors,
            components,
        }
    })
}

/// The whole exposition, in the OpenMetrics text format ([`CONTENT_TYPE`]).
pub fn encode() -> String {
    let mut out = String::with_capacity(64 * 1024);
    // Writing into a String cannot fail; an encoder error would be a bug in a
    // collector, and half an exposition is still better than none.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &metrics().registry) {
        tracing::warn!(error = %e, "metrics exposition incomplete");
    }
    out
}

/// The exposition in the format a request's `Accept` header asks for: OpenMetrics
/// ([`CONTENT_TYPE`]) when it prefers it, else the 0.0.4 text format
/// ([`classic::CONTENT_TYPE`]), as Kubernetes' components negotiate it.
pub fn exposition(accept: Option<&str>) -> (&'static str, String) {
    if classic::wants_openmetrics(accept) {
        (CONTENT_TYPE, encode())
    } else {
        (classic::CONTENT_TYPE, classic::from_openmetrics(&encode()))
    }
}

/// An HTTP status code as a label value (without allocating for the usual ones).
pub fn code_label(code: i32) -> &'static str {
    match code {
        200 => "200",
        201 => "201",
        400 => "400",
        403 => "403",
        404 => "404",
        409 => "409",
        410 => "410",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        504 => "504",
        other => api::intern(&other.to_string()),
    }
}

/// Latency buckets in seconds from 1 ms to about 60 s (Kubernetes' request buckets
/// span the same range).
pub(crate) fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0,
        5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
    ]
    .into_iter()
}

/// Fine buckets in seconds from 10 µs to about 5 s, for handlers and round trips.
pub(crate) fn fine_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.00001, 4.0, 10)
}
