//! The API server's metrics, as kube-apiserver names them: `apiserver_request_total`,
//! `apiserver_request_duration_seconds`, `apiserver_current_inflight_requests`,
//! `apiserver_storage_objects`, and its store client's `etcd_request_duration_seconds`.
//!
//! Recorded at the one request path ([`crate::apiserver::core::ApiCore::handle`]), so a
//! request from HTTP and one from the bus count alike. Labels follow Kubernetes: `verb`
//! is what it reports (`GET`, `LIST`, `WATCH`, `POST`, `PUT`, `PATCH`, `APPLY`,
//! `DELETE`, `DELETECOLLECTION`, `CONNECT`), `scope` is `resource` (one object),
//! `namespace` or `cluster` (a collection), `code` the HTTP status. Every label value is
//! a `&'static str` (or a number): a request costs a hash lookup and atomics, no
//! allocation.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use rudder_protocol::messages::store::StoreRequest;

use crate::apiserver::core::ApiResult;
use crate::apiserver::request::{Operation, Outcome, Request, Verb};

/// Labels of `apiserver_request_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    verb: &'static str,
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    subresource: &'static str,
    scope: &'static str,
    component: &'static str,
    code: u16,
}

/// Labels of `apiserver_request_duration_seconds` (no code, as in Kubernetes).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DurationLabels {
    verb: &'static str,
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    subresource: &'static str,
    scope: &'static str,
    component: &'static str,
}

/// Labels of `apiserver_current_inflight_requests`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InflightLabels {
    request_kind: &'static str,
}

/// What holds the API server's objects (its watch cache): counted when scraped.
pub trait StorageSource: Send + Sync {
    /// `(resource plural, objects)` of every resource cached so far.
    fn counts(&self) -> Vec<(String, u64)>;
}

#[derive(Default)]
struct StorageObjects {
    sources: Mutex<Vec<Weak<dyn StorageSource>>>,
}

impl std::fmt::Debug for StorageObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageObjects").finish_non_exhaustive()
    }
}

impl Collector for StorageObjects {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let sources: Vec<Arc<dyn StorageSource>> = self
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let mut counts: Vec<(String, u64)> = sources.iter().flat_map(|s| s.counts()).collect();
        counts.sort();
        counts.dedup_by(|a, b| a.0 == b.0);
        let mut m = enc.encode_descriptor(
            "apiserver_storage_objects",
            "Number of stored objects at the time of last check split by kind.",
            None,
            MetricType::Gauge,
        )?;
        for (resource, n) in &counts {
            let n = i64::try_from(*n).unwrap_or(i64::MAX);
            m.encode_family(&[("resource", resource.as_str())])?
                .encode_gauge(&n)?;
        }
        Ok(())
    }
}

/// Labels of `etcd_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EtcdLabels {
    operation: &'static str,
    r#type: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The API server's metric handles.
pub struct ApiMetrics {
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily<DurationLabels>,
    inflight_read: Gauge,
    inflight_mutating: Gauge,
    storage: Arc<StorageObjects>,
    etcd: HistogramFamily<EtcdLabels>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(super::latency_buckets())
}

fn fine_histogram() -> Histogram {
    Histogram::new(super::fine_buckets())
}

impl ApiMetrics {
    pub(super) fn register(r: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        r.register(
            "apiserver_request",
            "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.",
            requests.clone(),
        );
        let durations: HistogramFamily<DurationLabels> =
            Family::new_with_constructor(latency_histogram);
        r.register(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, group, version, resource, subresource, scope and component.",
            durations.clone(),
        );
        let inflight = Family::<InflightLabels, Gauge>::default();
        r.register(
            "apiserver_current_inflight_requests",
            "Maximal number of currently used inflight request limit of this apiserver per request kind in last second.",
            inflight.clone(),
        );
        let storage = Arc::new(StorageObjects::default());
        r.register_collector(Box::new(storage.clone()));
        let etcd: HistogramFamily<EtcdLabels> = Family::new_with_constructor(fine_histogram);
        r.register(
            "etcd_request_duration_seconds",
            "Etcd request latency in seconds for each operation and object type.",
            etcd.clone(),
        );
        let inflight_read = inflight
            .get_or_create(&InflightLabels {
                request_kind: "readOnly",
            })
            .clone();
        let inflight_mutating = inflight
            .get_or_create(&InflightLabels {
                request_kind: "mutating",
            })
            .clone();
        ApiMetrics {
            requests,
            durations,
            inflight_read,
            inflight_mutating,
            storage,
            etcd,
        }
    }

    /// Counts `source`'s objects for `apiserver_storage_objects` from now on, while it
    /// lives.
    pub fn add_storage_source(&self, source: Weak<dyn StorageSource>) {
        let mut s = self
            .storage
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        s.retain(|w| w.strong_count() > 0);
        s.push(source);
    }

    /// Records one store request of `shape` that took `started.elapsed()`.
    pub fn store_request(&self, shape: &StoreShape, started: Instant) {
        self.etcd
            .get_or_create(&shape.0)
            .observe(started.elapsed().as_secs_f64());
    }
}

/// The labels of a store request, read before it is sent.
pub struct StoreShape(EtcdLabels);

impl StoreShape {
    /// The operation and key type of `req`.
    pub fn of(req: &StoreRequest) -> StoreShape {
        let (operation, key) = match req {
            StoreRequest::Get { key, .. } => ("get", key.as_str()),
            StoreRequest::Range { prefix, .. } => ("list", prefix.as_str()),
            StoreRequest::Put { key, .. } => ("update", key.as_str()),
            StoreRequest::Delete { key, .. } => ("delete", key.as_str()),
            StoreRequest::Txn(_) => ("txn", ""),
            StoreRequest::WatchPoll { prefix, .. } => ("watch", prefix.as_str()),
            _ => ("other", ""),
        };
        StoreShape(EtcdLabels {
            operation,
            r#type: intern(key_type(key)),
        })
    }
}

/// The type part of a store key: `/registry/pods/ns/name` → `/registry/pods`.
fn key_type(key: &str) -> &str {
    let Some(rest) = key.strip_prefix("/registry/") else {
        return "";
    };
    match rest.find('/') {
        Some(i) => &key[..("/registry/".len() + i)],
        None => key,
    }
}

/// A label value that lives as long as the process: the set of resources and store key
/// types is small and bounded (the kinds served), so each is kept once.
pub(crate) fn intern(s: &str) -> &'static str {
    static SEEN: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    let set = seen.get_or_insert_with(HashSet::new);
    if let Some(v) = set.get(s) {
        return v;
    }
    let v: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(v);
    v
}

/// The subresources Kubernetes defines, as static label values.
fn subresource_label(sub: Option<&str>) -> &'static str {
    match sub {
        None => "",
        Some(s) => match s {
            "status" => "status",
            "scale" => "scale",
            "binding" => "binding",
            "eviction" => "eviction",
            "log" => "log",
            "exec" => "exec",
            "attach" => "attach",
            "portforward" => "portforward",
            "proxy" => "proxy",
            "ephemeralcontainers" => "ephemeralcontainers",
            "resize" => "resize",
            "token" => "token",
            "approval" => "approval",
            "finalize" => "finalize",
            _ => "other",
        },
    }
}

/// The verb Kubernetes reports for a request.
fn reported_verb(req: &Request, sub: &'static str) -> &'static str {
    if matches!(sub, "exec" | "attach" | "portforward" | "proxy") {
        return "CONNECT";
    }
    match &req.op {
        Operation::Get => "GET",
        Operation::List(_) => "LIST",
        Operation::Create { .. } => "POST",
        Operation::Update { .. } => "PUT",
        Operation::Patch { content_type, .. } if content_type.contains("apply-patch") => "APPLY",
        Operation::Patch { .. } => "PATCH",
        Operation::Delete { .. } => "DELETE",
        Operation::DeleteCollection { .. } => "DELETECOLLECTION",
        Operation::WatchPoll { .. } => "WATCH",
        Operation::Stream(Verb::Watch) => "WATCH",
        Operation::Stream(Verb::List) => "LIST",
        Operation::Stream(_) => "GET",
    }
}

/// One request being served: counted in flight until [`RequestTimer::finish`] (or drop).
pub struct RequestTimer {
    labels: Option<DurationLabels>,
    inflight: Option<Gauge>,
    started: Instant,
}

impl RequestTimer {
    /// Starts timing `req`.
    pub fn start(req: &Request) -> RequestTimer {
        let started = Instant::now();
        if !super::enabled() {
            return RequestTimer {
                labels: None,
                inflight: None,
                started,
            };
        }
        let m = &super::metrics().api;
        let subresource = subresource_label(req.subresource.as_deref());
        let verb = reported_verb(req, subresource);
        let scope = if req.name.is_some() {
            "resource"
        } else if req.namespace.is_some() {
            "namespace"
        } else {
            "cluster"
        };
        // Long-running requests (watches, streams) are not in flight, as in Kubernetes.
        let inflight = match req.verb() {
            _ if matches!(req.op, Operation::WatchPoll { .. } | Operation::Stream(_)) => None,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection => {
                Some(m.inflight_mutating.clone())
            }
            _ => Some(m.inflight_read.clone()),
        };
        if let Some(g) = &inflight {
            g.inc();
        }
        RequestTimer {
            labels: Some(DurationLabels {
                verb,
                group: req.resource.group,
                version: req.resource.version,
                resource: req.resource.plural,
                subresource,
                scope,
                component: "apiserver",
            }),
            inflight,
            started,
        }
    }

    /// Records the request's outcome.
    pub fn finish(mut self, out: &ApiResult<Outcome>) {
        let Some(l) = self.labels.take() else {
            return;
        };
        let code = match out {
            Ok(Outcome::Created(_)) => 201,
            Ok(_) => 200,
            Err(e) => u16::try_from(e.code).unwrap_or(500),
        };
        let m = &super::metrics().api;
        m.durations
            .get_or_create(&l)
            .observe(self.started.elapsed().as_secs_f64());
        m.requests
            .get_or_create(&RequestLabels {
                verb: l.verb,
                group: l.group,
                version: l.version,
                resource: l.resource,
                subresource: l.subresource,
                scope: l.scope,
                component: l.component,
                code,
            })
            .inc();
    }
}

impl Drop for RequestTimer {
    fn drop(&mut self) {
        if let Some(g) = self.inflight.take() {
            g.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_types() {
        let cases = [
            ("object", "/registry/pods/default/web", "/registry/pods"),
            ("cluster object", "/registry/nodes/n1", "/registry/nodes"),
            ("prefix", "/registry/pods/", "/registry/pods"),
            ("bare", "/registry/leases", "/registry/leases"),
            ("other", "/meta/x", ""),
        ];
        for (name, key, want) in cases {
            assert_eq!(key_type(key), want, "{name}");
        }
    }

    #[test]
    fn interned_values_are_shared() {
        let a = intern("pods");
        let b = intern(&String::from("pods"));
        assert!(std::ptr::eq(a, b));
    }
}
