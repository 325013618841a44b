//! HorizontalPodAutoscalers between `autoscaling/v2` (stored) and `autoscaling/v1`, by
//! Kubernetes' rules (`pkg/apis/autoscaling/v1/conversion.go`): v1's
//! `targetCPUUtilizationPercentage` is a v2 `Resource` metric `cpu` with a `Utilization`
//! target; what v1 has no field for travels in annotations, so that a v1 client's
//! read-modify-write keeps it:
//!
//! - [`METRICS`]: the other metrics of the spec, in v1's metric shape;
//! - [`CURRENT_METRICS`]: every measured metric, in v1's status shape;
//! - [`CONDITIONS`]: the status conditions;
//! - [`BEHAVIOR`]: the spec's behavior, with Go's field names (`ScaleUp`,
//!   `StabilizationWindowSeconds`, ...) as Kubernetes writes its internal type.
//!
//! Going back to v2 the annotations are read (one that does not parse is ignored, as
//! Kubernetes ignores it rather than failing the read) and removed; the CPU target goes
//! after the other metrics, and a spec with no metric at all gets Kubernetes' default
//! (CPU at 80%).

use serde_json::{json, Map, Value};

/// The spec's metrics other than the CPU utilisation target, in v1's shape.
pub const METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
/// Every measured metric, in v1's shape.
pub const CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
/// The status conditions.
pub const CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
/// The spec's behavior.
pub const BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";

const ROUND_TRIP: [&str; 4] = [METRICS, CURRENT_METRICS, CONDITIONS, BEHAVIOR];

/// The CPU utilisation Kubernetes aims at when no metric is given.
const DEFAULT_CPU_UTILIZATION: i64 = 80;

/// Copies `from[key]` to `to[key]` unless absent or null.
fn copy(to: &mut Map<String, Value>, key: &str, from: &Value, from_key: &str) {
    if let Some(v) = from.get(from_key).filter(|v| !v.is_null()) {
        to.insert(key.to_owned(), v.clone());
    }
}

/// The object's annotations, less the round-trip ones (taken off the object).
fn take_annotations(obj: &mut Map<String, Value>) -> Map<String, Value> {
    obj.get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("annotations"))
        .and_then(|a| match a {
            Value::Object(a) => Some(a),
            _ => None,
        })
        .unwrap_or_default()
}

fn put_annotations(obj: &mut Map<String, Value>, annotations: Map<String, Value>) {
    if annotations.is_empty() {
        return;
    }
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
}

/// The percentage of a v2 metric that is a CPU utilisation target.
fn cpu_utilization(metric: &Value) -> Option<&Value> {
    (metric.get("type")? == "Resource" && metric.pointer("/resource/name")? == "cpu")
        .then(|| metric.pointer("/resource/target/averageUtilization"))
        .flatten()
        .filter(|v| !v.is_null())
}

fn cpu_metric(percent: &Value) -> Value {
    json!({
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}},
    })
}

/// A quantity Go writes even when unset (a non-pointer `resource.Quantity`).
fn quantity_or_zero(v: Option<&Value>) -> Value {
    v.filter(|v| !v.is_null()).cloned().unwrap_or(json!("0"))
}

// ---------------------------------------------------------------------------------------
// v2 → v1
// ---------------------------------------------------------------------------------------

/// A v2 HorizontalPodAutoscaler as v1 shows it, in place.
pub fn to_v1(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    let spec = o.remove("spec").unwrap_or(Value::Null);
    let status = o.remove("status").unwrap_or(Value::Null);
    o.insert("apiVersion".into(), json!("autoscaling/v1"));
    let mut annotations = take_annotations(o);
    for key in ROUND_TRIP {
        annotations.remove(key);
    }

    let mut v1_spec = Map::new();
    copy(&mut v1_spec, "scaleTargetRef", &spec, "scaleTargetRef");
    copy(&mut v1_spec, "minReplicas", &spec, "minReplicas");
    v1_spec.insert(
        "maxReplicas".into(),
        spec.get("maxReplicas").cloned().unwrap_or(json!(0)),
    );
    let metrics = spec.get("metrics").and_then(Value::as_array);
    let mut others = Vec::new();
    for m in metrics.into_iter().flatten() {
        match cpu_utilization(m) {
            Some(percent) => {
                v1_spec
                    .entry("targetCPUUtilizationPercentage")
                    .or_insert_with(|| percent.clone());
            }
            None => others.push(metric_to_v1(m, SPEC)),
        }
    }
    if !others.is_empty() {
        annotations.insert(METRICS.into(), json!(Value::Array(others).to_string()));
    }
    if let Some(b) = spec.get("behavior").filter(|b| !b.is_null()) {
        annotations.insert(BEHAVIOR.into(), json!(behavior_to_go(b).to_string()));
    }

    let mut v1_status = Map::new();
    copy(
        &mut v1_status,
        "observedGeneration",
        &status,
        "observedGeneration",
    );
    copy(&mut v1_status, "lastScaleTime", &status, "lastScaleTime");
    for key in ["currentReplicas", "desiredReplicas"] {
        v1_status.insert(key.into(), status.get(key).cloned().unwrap_or(json!(0)));
    }
    let current = status.get("currentMetrics").and_then(Value::as_array);
    let current: Vec<&Value> = current.into_iter().flatten().collect();
    for m in &current {
        if m.get("type").is_some_and(|t| t == "Resource")
            && m.pointer("/resource/name").is_some_and(|n| n == "cpu")
        {
            copy(
                &mut v1_status,
                "currentCPUUtilizationPercentage",
                &m["resource"]["current"],
                "averageUtilization",
            );
        }
    }
    if !current.is_empty() {
        let v1: Vec<Value> = current
            .into_iter()
            .map(|m| metric_to_v1(m, STATUS))
            .collect();
        annotations.insert(CURRENT_METRICS.into(), json!(Value::Array(v1).to_string()));
    }
    if let Some(c) = status
        .get("conditions")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
    {
        annotations.insert(
            CONDITIONS.into(),
            json!(Value::Array(c.clone()).to_string()),
        );
    }

    o.insert("spec".into(), Value::Object(v1_spec));
    o.insert("status".into(), Value::Object(v1_status));
    put_annotations(o, annotations);
}

/// Which half of a metric a conversion is about: the spec's target or the status's
/// measurement. v2 nests the values under `target` or `current`; v1 prefixes its field
/// names with the same word. On the status side some of v1's Go fields are not pointers,
/// so a missing quantity is written as `"0"` there.
#[derive(Clone, Copy)]
struct Side {
    /// `target` or `current`.
    word: &'static str,
    status: bool,
}

const SPEC: Side = Side {
    word: "target",
    status: false,
};
const STATUS: Side = Side {
    word: "current",
    status: true,
};

impl Side {
    /// v1's name of a field: `averageValue` → `targetAverageValue`.
    fn v1(self, field: &str) -> String {
        let mut chars = field.chars();
        let first = chars.next().map(|c| c.to_ascii_uppercase());
        format!(
            "{}{}{}",
            self.word,
            first.unwrap_or_default(),
            chars.as_str()
        )
    }
}

/// Copies a quantity: as it is on the spec side, `"0"` when missing on the status side.
fn copy_quantity(side: Side, to: &mut Map<String, Value>, key: &str, from: &Value, from_key: &str) {
    if side.status {
        to.insert(key.to_owned(), quantity_or_zero(from.get(from_key)));
    } else {
        copy(to, key, from, from_key);
    }
}

/// A v2 resource metric (or container resource metric) as v1's.
fn resource_to_v1(r: &Value, side: Side) -> Value {
    let mut out = Map::new();
    copy(&mut out, "name", r, "name");
    copy(&mut out, "container", r, "container");
    let at = &r[side.word];
    let utilization = side.v1("averageUtilization");
    copy(&mut out, &utilization, at, "averageUtilization");
    copy_quantity(side, &mut out, &side.v1("averageValue"), at, "averageValue");
    Value::Object(out)
}

/// A v2 metric (of the spec or of the status) in v1's shape.
fn metric_to_v1(m: &Value, side: Side) -> Value {
    let w = side.word;
    let ty = m.get("type").cloned().unwrap_or(json!(""));
    let mut out = json!({"type": ty});
    match ty.as_str().unwrap_or_default() {
        "Resource" => out["resource"] = resource_to_v1(&m["resource"], side),
        "ContainerResource" => {
            out["containerResource"] = resource_to_v1(&m["containerResource"], side)
        }
        "Pods" => {
            let p = &m["pods"];
            let mut v = Map::new();
            copy(&mut v, "metricName", &p["metric"], "name");
            v.insert(
                side.v1("averageValue"),
                quantity_or_zero(p[w].get("averageValue")),
            );
            copy(&mut v, "selector", &p["metric"], "selector");
            out["pods"] = Value::Object(v);
        }
        "Object" => {
            let ob = &m["object"];
            let mut v = Map::new();
            copy(&mut v, "target", ob, "describedObject");
            copy(&mut v, "metricName", &ob["metric"], "name");
            v.insert(side.v1("value"), quantity_or_zero(ob[w].get("value")));
            copy(&mut v, "selector", &ob["metric"], "selector");
            copy(&mut v, "averageValue", &ob[w], "averageValue");
            out["object"] = Value::Object(v);
        }
        "External" => {
            let e = &m["external"];
            let mut v = Map::new();
            copy(&mut v, "metricName", &e["metric"], "name");
            copy(&mut v, "metricSelector", &e["metric"], "selector");
            copy_quantity(side, &mut v, &side.v1("value"), &e[w], "value");
            copy(&mut v, &side.v1("averageValue"), &e[w], "averageValue");
            out["external"] = Value::Object(v);
        }
        _ => {}
    }
    out
}

/// The behavior as Kubernetes marshals its internal type: Go's field names, every
/// field written, `null` for what is unset.
fn behavior_to_go(b: &Value) -> Value {
    let rules = |r: Option<&Value>| match r.filter(|r| r.is_object()) {
        None => Value::Null,
        Some(r) => {
            let field = |k: &str| r.get(k).cloned().unwrap_or(Value::Null);
            let policies = r
                .get("policies")
                .and_then(Value::as_array)
                .filter(|p| !p.is_empty())
                .map_or(Value::Null, |p| {
                    p.iter()
                        .map(|p| {
                            json!({
                                "Type": p.get("type").cloned().unwrap_or(json!("")),
                                "Value": p.get("value").cloned().unwrap_or(json!(0)),
                                "PeriodSeconds": p.get("periodSeconds").cloned().unwrap_or(json!(0)),
                            })
                        })
                        .collect()
                });
            json!({
                "StabilizationWindowSeconds": field("stabilizationWindowSeconds"),
                "SelectPolicy": field("selectPolicy"),
                "Policies": policies,
                "Tolerance": field("tolerance"),
            })
        }
    };
    json!({"ScaleUp": rules(b.get("scaleUp")), "ScaleDown": rules(b.get("scaleDown"))})
}

// ---------------------------------------------------------------------------------------
// v1 → v2
// ---------------------------------------------------------------------------------------

/// A v1 HorizontalPodAutoscaler as stored (v2), in place. `whole` is false for an apply
/// configuration: only what it sets is converted, and no default metric is added.
pub fn to_v2(obj: &mut Value, whole: bool) {
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    o.insert("apiVersion".into(), json!("autoscaling/v2"));
    let spec = o.remove("spec");
    let status = o.remove("status");
    let mut annotations = take_annotations(o);
    let mut parsed = |key: &str| -> Option<Value> {
        let raw = annotations.remove(key)?;
        serde_json::from_str::<Value>(raw.as_str()?).ok()
    };
    let other_metrics = parsed(METRICS);
    let current_metrics = parsed(CURRENT_METRICS);
    let conditions = parsed(CONDITIONS);
    let behavior = parsed(BEHAVIOR).and_then(|b| behavior_from_go(&b));

    if whole || spec.is_some() {
        let spec = spec.unwrap_or(Value::Null);
        let mut v2_spec = Map::new();
        copy(&mut v2_spec, "scaleTargetRef", &spec, "scaleTargetRef");
        copy(&mut v2_spec, "minReplicas", &spec, "minReplicas");
        copy(&mut v2_spec, "maxReplicas", &spec, "maxReplicas");
        let mut metrics: Vec<Value> = other_metrics
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| metric_to_v2(m, SPEC))
            .collect();
        if let Some(p) = spec
            .get("targetCPUUtilizationPercentage")
            .filter(|p| !p.is_null())
        {
            metrics.push(cpu_metric(p));
        }
        if metrics.is_empty() && whole {
            metrics.push(cpu_metric(&json!(DEFAULT_CPU_UTILIZATION)));
        }
        if !metrics.is_empty() {
            v2_spec.insert("metrics".into(), Value::Array(metrics));
        }
        if let Some(b) = behavior {
            v2_spec.insert("behavior".into(), b);
        }
        o.insert("spec".into(), Value::Object(v2_spec));
    }

    if let Some(status) = status.filter(|s| !s.is_null()) {
        let mut v2_status = Map::new();
        for key in [
            "observedGeneration",
            "lastScaleTime",
            "currentReplicas",
            "desiredReplicas",
        ] {
            copy(&mut v2_status, key, &status, key);
        }
        let current: Option<Vec<Value>> = match current_metrics.as_ref().and_then(Value::as_array) {
            Some(ms) => Some(ms.iter().map(|m| metric_to_v2(m, STATUS)).collect()),
            None => status
                .get("currentCPUUtilizationPercentage")
                .filter(|p| !p.is_null())
                .map(|p| {
                    vec![json!({
                        "type": "Resource",
                        "resource": {"name": "cpu", "current": {"averageUtilization": p}},
                    })]
                }),
        };
        if let Some(current) = current.filter(|c| !c.is_empty()) {
            v2_status.insert("currentMetrics".into(), Value::Array(current));
        }
        if let Some(c) = conditions.filter(|c| c.as_array().is_some_and(|c| !c.is_empty())) {
            v2_status.insert("conditions".into(), c);
        }
        o.insert("status".into(), Value::Object(v2_status));
    }
    put_annotations(o, annotations);
}

/// A v1 resource metric (or container resource metric) as v2's.
fn resource_to_v2(r: &Value, side: Side) -> Value {
    let mut out = Map::new();
    copy(&mut out, "name", r, "name");
    copy(&mut out, "container", r, "container");
    let utilization = side.v1("averageUtilization");
    let mut at = Map::new();
    if !side.status {
        let given = r.get(&utilization).is_some_and(|v| !v.is_null());
        let ty = if given { "Utilization" } else { "AverageValue" };
        at.insert("type".into(), json!(ty));
    }
    copy(&mut at, "averageUtilization", r, &utilization);
    copy(&mut at, "averageValue", r, &side.v1("averageValue"));
    out.insert(side.word.into(), Value::Object(at));
    Value::Object(out)
}

/// A v2 `metric` identifier from v1's name and selector fields.
fn identifier(from: &Value, name_key: &str, selector_key: &str) -> Value {
    let mut id = Map::new();
    copy(&mut id, "name", from, name_key);
    copy(&mut id, "selector", from, selector_key);
    Value::Object(id)
}

/// A v1 metric (of the spec or of the status) in v2's shape.
fn metric_to_v2(m: &Value, side: Side) -> Value {
    let w = side.word;
    let ty = m.get("type").cloned().unwrap_or(json!(""));
    let mut out = json!({"type": ty});
    // A spec target says what kind of value it is.
    let typed = |ty: &str| {
        let mut at = Map::new();
        if !side.status {
            at.insert("type".into(), json!(ty));
        }
        at
    };
    match ty.as_str().unwrap_or_default() {
        "Resource" => out["resource"] = resource_to_v2(&m["resource"], side),
        "ContainerResource" => {
            out["containerResource"] = resource_to_v2(&m["containerResource"], side)
        }
        "Pods" => {
            let p = &m["pods"];
            let mut at = typed("AverageValue");
            at.insert(
                "averageValue".into(),
                quantity_or_zero(p.get(side.v1("averageValue"))),
            );
            out["pods"] = json!({
                "metric": identifier(p, "metricName", "selector"),
                w: Value::Object(at),
            });
        }
        "Object" => {
            let ob = &m["object"];
            let average = ob.get("averageValue").filter(|v| !v.is_null());
            let mut at = typed(if average.is_some() {
                "AverageValue"
            } else {
                "Value"
            });
            at.insert("value".into(), quantity_or_zero(ob.get(side.v1("value"))));
            copy(&mut at, "averageValue", ob, "averageValue");
            let mut v = Map::new();
            copy(&mut v, "describedObject", ob, "target");
            v.insert("metric".into(), identifier(ob, "metricName", "selector"));
            v.insert(w.into(), Value::Object(at));
            out["object"] = Value::Object(v);
        }
        "External" => {
            let e = &m["external"];
            let value = side.v1("value");
            let given = e.get(&value).is_some_and(|v| !v.is_null());
            let mut at = typed(if given { "Value" } else { "AverageValue" });
            copy_quantity(side, &mut at, "value", e, &value);
            copy(&mut at, "averageValue", e, &side.v1("averageValue"));
            out["external"] = json!({
                "metric": identifier(e, "metricName", "metricSelector"),
                w: Value::Object(at),
            });
        }
        _ => {}
    }
    out
}

/// The value under `key`, matched without regard to case (Go's JSON decoding does so).
fn get_fold<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

/// The behavior annotation (Go's field names) as v2's `behavior`; `None` when it sets
/// nothing.
fn behavior_from_go(b: &Value) -> Option<Value> {
    let rules = |r: &Value| {
        let mut out = Map::new();
        for (go, json) in [
            ("StabilizationWindowSeconds", "stabilizationWindowSeconds"),
            ("SelectPolicy", "selectPolicy"),
            ("Tolerance", "tolerance"),
        ] {
            if let Some(v) = get_fold(r, go) {
                out.insert(json.into(), v.clone());
            }
        }
        if let Some(ps) = get_fold(r, "Policies").and_then(Value::as_array) {
            let ps: Vec<Value> = ps
                .iter()
                .map(|p| {
                    let mut out = Map::new();
                    for (go, json) in [
                        ("Type", "type"),
                        ("Value", "value"),
                        ("PeriodSeconds", "periodSeconds"),
                    ] {
                        if let Some(v) = get_fold(p, go) {
                            out.insert(json.into(), v.clone());
                        }
                    }
                    Value::Object(out)
                })
                .collect();
            out.insert("policies".into(), Value::Array(ps));
        }
        Value::Object(out)
    };
    let mut out = Map::new();
    for (go, json) in [("ScaleUp", "scaleUp"), ("ScaleDown", "scaleDown")] {
        if let Some(r) = get_fold(b, go).filter(|r| r.is_object()) {
            out.insert(json.into(), rules(r));
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn v2() -> Value {
        json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "a", "annotations": {"team": "x"}},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 10,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
                    {"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50}}},
                    {"type": "Pods", "pods": {"metric": {"name": "qps"},
                        "target": {"type": "AverageValue", "averageValue": "10"}}},
                ],
                "behavior": {
                    "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                        "policies": [{"type": "Percent", "value": 50, "periodSeconds": 30}]},
                },
            },
            "status": {
                "observedGeneration": 3,
                "currentReplicas": 4,
                "desiredReplicas": 5,
                "currentMetrics": [
                    {"type": "Resource", "resource": {"name": "cpu",
                        "current": {"averageUtilization": 61, "averageValue": "305m"}}},
                ],
                "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"}],
            },
        })
    }

    fn annotation(obj: &Value, key: &str) -> Value {
        let raw = obj["metadata"]["annotations"][key].as_str().unwrap();
        serde_json::from_str(raw).unwrap()
    }

    #[test]
    fn v2_reads_as_v1_with_the_rest_in_annotations() {
        let mut obj = v2();
        to_v1(&mut obj);
        assert_eq!(obj["apiVersion"], "autoscaling/v1");
        assert_eq!(
            obj["spec"],
            json!({
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2, "maxReplicas": 10, "targetCPUUtilizationPercentage": 50,
            })
        );
        assert_eq!(
            obj["status"],
            json!({"observedGeneration": 3, "currentReplicas": 4, "desiredReplicas": 5,
                "currentCPUUtilizationPercentage": 61})
        );
        assert_eq!(obj["metadata"]["annotations"]["team"], "x");
        assert_eq!(
            annotation(&obj, METRICS),
            json!([
                {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "100Mi"}},
                {"type": "Pods", "pods": {"metricName": "qps", "targetAverageValue": "10"}},
            ])
        );
        assert_eq!(
            annotation(&obj, CURRENT_METRICS),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "currentAverageUtilization": 61, "currentAverageValue": "305m"}}])
        );
        assert_eq!(
            annotation(&obj, BEHAVIOR),
            json!({"ScaleUp": null, "ScaleDown": {"StabilizationWindowSeconds": 60,
                "SelectPolicy": "Max", "Tolerance": null,
                "Policies": [{"Type": "Percent", "Value": 50, "PeriodSeconds": 30}]}})
        );
        assert_eq!(
            annotation(&obj, CONDITIONS)[0]["reason"],
            "ReadyForNewScale"
        );
    }

    #[test]
    fn v1_round_trip_keeps_everything_and_puts_cpu_last() {
        let mut obj = v2();
        to_v1(&mut obj);
        to_v2(&mut obj, true);
        let mut want = v2();
        // The CPU target moves after the other metrics, as in Kubernetes.
        let metrics = want["spec"]["metrics"].as_array_mut().unwrap();
        let cpu = metrics.remove(1);
        metrics.push(cpu);
        assert_eq!(obj, want);
    }

    #[test]
    fn a_plain_v1_object_converts_and_gets_the_default_target() {
        let mut obj = json!({
            "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3,
                "targetCPUUtilizationPercentage": 70},
        });
        to_v2(&mut obj, true);
        assert_eq!(
            obj["spec"]["metrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70}}}])
        );
        assert!(obj.get("status").is_none());
        assert!(obj["metadata"].get("annotations").is_none());
        let mut none = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3}});
        let mut partial = none.clone();
        to_v2(&mut none, true);
        assert_eq!(
            none["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
        to_v2(&mut partial, false);
        assert!(
            partial["spec"].get("metrics").is_none(),
            "an apply configuration gets no default"
        );
    }

    #[test]
    fn bad_annotations_are_ignored_and_dropped() {
        let mut obj = json!({
            "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "annotations": {METRICS: "not json", BEHAVIOR: "{}"}},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3},
        });
        to_v2(&mut obj, true);
        assert!(obj["metadata"].get("annotations").is_none());
        assert!(obj["spec"].get("behavior").is_none());
        assert_eq!(obj["spec"]["metrics"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn object_and_external_metrics_convert_both_ways() {
        let metrics = json!([
            {"type": "Object", "object": {
                "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "s"},
                "metric": {"name": "rps", "selector": {"matchLabels": {"a": "b"}}},
                "target": {"type": "Value", "value": "5"}}},
            {"type": "External", "external": {"metric": {"name": "queue"},
                "target": {"type": "AverageValue", "averageValue": "30"}}},
            {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app",
                "target": {"type": "Utilization", "averageUtilization": 40}}},
        ]);
        let mut obj = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "w"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 3,
                "metrics": metrics.clone()}});
        to_v1(&mut obj);
        assert!(obj["spec"].get("targetCPUUtilizationPercentage").is_none());
        let v1 = annotation(&obj, METRICS);
        assert_eq!(v1[0]["object"]["target"]["kind"], "Service");
        assert_eq!(v1[0]["object"]["targetValue"], "5");
        assert_eq!(v1[1]["external"]["targetAverageValue"], "30");
        assert_eq!(v1[2]["containerResource"]["targetAverageUtilization"], 40);
        to_v2(&mut obj, true);
        assert_eq!(obj["spec"]["metrics"], metrics);
    }
}
