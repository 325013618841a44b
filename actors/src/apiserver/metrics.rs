//! The resource metrics API, `metrics.k8s.io/v1beta1`, served by the API server itself
//! (where Kubernetes' aggregator proxies it to metrics-server; the `APIService`
//! `v1beta1.metrics.k8s.io` says it is local).
//!
//! `nodes` (NodeMetrics, cluster-scoped) and `pods` (PodMetrics, namespaced) support
//! `get` and `list` only, with label selectors (matched against the node's or pod's
//! labels, which the objects carry, as metrics-server does) and, for pods, field
//! selectors (those of pods). Each request lists the nodes or pods from the watch cache,
//! then scrapes the kubelets that run them ([`crate::metrics_server::scrape`]): the
//! figures are the kubelets' measurements, never requests or limits, and nothing is
//! stored. A node or pod without a measurement yet is left out of a list, and a get of
//! it is a 404 as metrics-server answers it. Tables are Kubernetes' default (name and
//! creation time).

use std::collections::{BTreeMap, BTreeSet};

use rudder_protocol::registry::ResourceInfo;
use rudder_protocol::resources::{NodeMetrics, PodMetrics, METRICS_API_VERSION};
use serde_json::{json, Value};

use super::core::{fail, ApiCore, ApiResult, ListOptions};

/// What a request names: a list or one object of a computed resource.
pub struct MetricsQuery<'a> {
    /// `nodes` or `pods`.
    pub info: &'static ResourceInfo,
    /// The namespace (pods only; `None`: every namespace).
    pub namespace: Option<&'a str>,
    /// One object's name.
    pub name: Option<&'a str>,
}

/// Parses the path after `/apis/metrics.k8s.io/<version>/`.
pub fn parse<'a>(version: &str, rest: &[&'a str]) -> Option<MetricsQuery<'a>> {
    let lookup = |plural: &str| {
        rudder_protocol::registry::computed_resource("metrics.k8s.io", version, plural)
    };
    let q = |plural: &str, namespace: Option<&'a str>, name: Option<&'a str>| {
        let info = lookup(plural)?;
        if namespace.is_some() && !info.namespaced {
            return None;
        }
        if info.namespaced && name.is_some() && namespace.is_none() {
            return None;
        }
        Some(MetricsQuery {
            info,
            namespace,
            name,
        })
    };
    match rest {
        [plural] => q(plural, None, None),
        [plural, name] => q(plural, None, Some(*name)),
        ["namespaces", ns, plural] => q(plural, Some(*ns), None),
        ["namespaces", ns, plural, name] => q(plural, Some(*ns), Some(*name)),
        _ => None,
    }
}

fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default()
}

fn str_at<'v>(obj: &'v Value, ptr: &str) -> &'v str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn not_found(q: &MetricsQuery<'_>, name: &str) -> super::core::ApiError {
    let what = if q.info.plural == "nodes" {
        "nodemetrics"
    } else {
        "podmetrics"
    };
    let mut e = fail(
        404,
        "NotFound",
        format!("{what}.metrics.k8s.io \"{name}\" not found"),
    );
    e.details = Some(rudder_protocol::resources::StatusDetails {
        name: name.to_owned(),
        group: "metrics.k8s.io".into(),
        kind: q.info.plural.into(),
        ..Default::default()
    });
    e
}

/// Answers a get (one object) or a list (a `NodeMetricsList`/`PodMetricsList`).
pub async fn serve(core: &ApiCore, q: &MetricsQuery<'_>, opts: &ListOptions) -> ApiResult<Value> {
    let (source, field_selectable) = if q.info.plural == "nodes" {
        (super::registry::resource("", "v1", "nodes"), false)
    } else {
        (super::registry::resource("", "v1", "pods"), true)
    };
    let Some(source) = source else {
        return Err(fail(500, "InternalError", "nodes and pods are not served"));
    };
    let mut list_opts = ListOptions {
        label_selector: opts.label_selector.clone(),
        field_selector: opts.field_selector.clone().filter(|_| field_selectable),
        ..Default::default()
    };
    if let Some(name) = q.name {
        list_opts = ListOptions {
            field_selector: Some(format!("metadata.name={name}")),
            ..Default::default()
        };
    }
    let (objects, rv, _) = core.list(source, q.namespace, &list_opts).await?;
    let items: Vec<Value> = if q.info.plural == "nodes" {
        let names = objects
            .iter()
            .map(|n| str_at(n, "/metadata/name").to_owned());
        let scraped = crate::metrics_server::scrape(core.bus(), names).await;
        objects
            .iter()
            .filter_map(|n| {
                let name = str_at(n, "/metadata/name");
                let usage = scraped.get(name)?.node.as_ref()?;
                serde_json::to_value(NodeMetrics::from_usage(name, labels_of(n), usage)).ok()
            })
            .collect()
    } else {
        let nodes: BTreeSet<String> = objects
            .iter()
            .map(|p| str_at(p, "/spec/nodeName").to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        let scraped = crate::metrics_server::scrape(core.bus(), nodes).await;
        objects
            .iter()
            .filter_map(|p| {
                let node = scraped.get(str_at(p, "/spec/nodeName"))?;
                let (ns, name) = (
                    str_at(p, "/metadata/namespace"),
                    str_at(p, "/metadata/name"),
                );
                let usage = node
                    .pods
                    .iter()
                    .find(|u| u.namespace == ns && u.name == name)?;
                serde_json::to_value(PodMetrics::from_usage(labels_of(p), usage)).ok()
            })
            .collect()
    };
    match q.name {
        Some(name) => items.into_iter().next().ok_or_else(|| not_found(q, name)),
        None => Ok(json!({
            "kind": format!("{}List", q.info.kind),
            "apiVersion": METRICS_API_VERSION,
            "metadata": {"resourceVersion": rv.to_string()},
            "items": items,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        fn ok<'a>(rest: &[&'a str]) -> Option<(&'static str, Option<&'a str>, Option<&'a str>)> {
            parse("v1beta1", rest).map(|q| (q.info.kind, q.namespace, q.name))
        }
        assert_eq!(ok(&["nodes"]), Some(("NodeMetrics", None, None)));
        assert_eq!(
            ok(&["nodes", "n1"]),
            Some(("NodeMetrics", None, Some("n1")))
        );
        assert_eq!(ok(&["pods"]), Some(("PodMetrics", None, None)));
        assert_eq!(
            ok(&["namespaces", "ns", "pods", "p"]),
            Some(("PodMetrics", Some("ns"), Some("p")))
        );
        assert_eq!(ok(&["namespaces", "ns", "nodes"]), None);
        assert_eq!(ok(&["pods", "p"]), None);
        assert_eq!(ok(&["deployments"]), None);
        assert!(parse("v1", &["nodes"]).is_none());
    }
}
