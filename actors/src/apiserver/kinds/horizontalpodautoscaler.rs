//! HorizontalPodAutoscalers (`autoscaling/v2`): Kubernetes' defaults (`minReplicas` 1,
//! a CPU target of 80% when no metric is given, a given `behavior` completed with the
//! default scale-up and scale-down rules), the validation of
//! `pkg/apis/autoscaling/validation` (replica bounds, the target reference, metric and
//! target types, behavior windows, policies and periods), the status reset on create,
//! and Kubernetes' printer (REFERENCE, TARGETS as `cpu: 12%/50%`, MINPODS, MAXPODS,
//! REPLICAS).

use rudder_protocol::resources::{
    HPAScalingRules, HorizontalPodAutoscaler, MetricSpec, MetricTarget, ResourceMetricSource, Time,
};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::super::validation::{
    validate_object_meta, validate_object_meta_update, FieldCause, FieldPath, NameRule, Validate,
};
use super::{Admission, Strategy};

impl Strategy for HorizontalPodAutoscaler {
    const COLUMNS: &'static [Column] = &[
        NAME,
        col(
            "Reference",
            "string",
            "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.",
        ),
        col(
            "Targets",
            "string",
            "metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).",
        ),
        col(
            "MinPods",
            "string",
            "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.",
        ),
        col(
            "MaxPods",
            "integer",
            "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up.",
        ),
        col(
            "Replicas",
            "integer",
            "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.",
        ),
        AGE,
    ];

    fn example(_namespace: &str) -> Value {
        json!({"spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "example"},
            "maxReplicas": 3,
        }})
    }

    fn cells(&self, now: Time) -> Row {
        let spec = &self.spec;
        Row::new(vec![
            json!(self.metadata.name),
            json!(format!(
                "{}/{}",
                spec.scale_target_ref.kind, spec.scale_target_ref.name
            )),
            json!(targets(self)),
            json!(spec
                .min_replicas
                .map_or("<unset>".to_owned(), |m| m.to_string())),
            json!(spec.max_replicas),
            json!(self.status.current_replicas),
            json!(since(self.metadata.creation_timestamp, now)),
        ])
    }

    /// The status is the controller's.
    fn prepare_create(hpa: &mut HorizontalPodAutoscaler, _admission: &Admission) {
        hpa.status = Default::default();
    }
}

/// Kubernetes' TARGETS cell: `<name>: <current>/<target>` per metric, the first two and
/// `+ N more...`.
fn targets(hpa: &HorizontalPodAutoscaler) -> String {
    let mut list = Vec::new();
    for (i, m) in hpa.spec.metrics.iter().enumerate() {
        let status = hpa.status.current_metrics.get(i);
        let (name, target, current) = match (&m.resource, &m.container_resource) {
            (Some(r), _) => (
                r.name.clone(),
                &r.target,
                status.and_then(|s| s.resource.as_ref()).map(|s| &s.current),
            ),
            (None, Some(c)) => (
                format!("{}({})", c.name, c.container),
                &c.target,
                status
                    .and_then(|s| s.container_resource.as_ref())
                    .map(|s| &s.current),
            ),
            _ => {
                list.push(format!("{}: <unknown>", m.type_.to_lowercase()));
                continue;
            }
        };
        let cell = if let Some(avg) = &target.average_value {
            let cur = current
                .and_then(|c| c.average_value.as_ref())
                .map_or("<unknown>".to_owned(), |q| q.to_string());
            format!("{name}: {cur}/{avg}")
        } else {
            let cur = current
                .and_then(|c| c.average_utilization)
                .map_or("<unknown>".to_owned(), |u| format!("{u}%"));
            let want = target
                .average_utilization
                .map_or("<auto>".to_owned(), |u| format!("{u}%"));
            format!("{name}: {cur}/{want}")
        };
        list.push(cell);
    }
    match list.len() {
        0 => "<none>".to_owned(),
        1 | 2 => list.join(", "),
        n => format!("{} + {} more...", list[..2].join(", "), n - 2),
    }
}

impl Defaults for HorizontalPodAutoscaler {
    fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.min_replicas.get_or_insert(1);
        if spec.metrics.is_empty() {
            spec.metrics.push(MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(80),
                        ..Default::default()
                    },
                }),
                ..Default::default()
            });
        }
        // Only a given behavior is completed, as Kubernetes does; the controller uses
        // the defaults for a missing one.
        if let Some(b) = &mut spec.behavior {
            b.scale_up = Some(HPAScalingRules::or_defaults(
                b.scale_up.as_ref(),
                HPAScalingRules::default_scale_up(),
            ));
            b.scale_down = Some(HPAScalingRules::or_defaults(
                b.scale_down.as_ref(),
                HPAScalingRules::default_scale_down(),
            ));
        }
    }
}

const METRIC_TYPES: &[&str] = &[
    "ContainerResource",
    "External",
    "Object",
    "Pods",
    "Resource",
];
const TARGET_TYPES: &[&str] = &["AverageValue", "Utilization", "Value"];
const SELECT_POLICIES: &[&str] = &["Disabled", "Max", "Min"];
const POLICY_TYPES: &[&str] = &["Percent", "Pods"];

fn validate_resource_target(
    name: &str,
    target: &MetricTarget,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    if name.is_empty() {
        errs.push(FieldCause::required(
            &path.child("name"),
            "must specify a resource name",
        ));
    }
    let tpath = path.child("target");
    match target.type_.as_str() {
        "Utilization" => match target.average_utilization {
            None => errs.push(FieldCause::required(
                &tpath.child("averageUtilization"),
                "must set either a target raw value or a target utilization",
            )),
            Some(u) if u <= 0 => errs.push(FieldCause::invalid(
                &tpath.child("averageUtilization"),
                u,
                "must be greater than 0",
            )),
            Some(_) => {}
        },
        "AverageValue" => match &target.average_value {
            None => errs.push(FieldCause::required(
                &tpath.child("averageValue"),
                "must set either a target raw value or a target utilization",
            )),
            Some(v) if v.is_zero() || v.is_negative() => errs.push(FieldCause::invalid(
                &tpath.child("averageValue"),
                v.to_string(),
                "must be positive",
            )),
            Some(_) => {}
        },
        "Value" => errs.push(FieldCause::invalid(
            &tpath.child("type"),
            "Value",
            "must be either Utilization or AverageValue",
        )),
        other => errs.push(FieldCause::not_supported(
            &tpath.child("type"),
            other,
            TARGET_TYPES,
        )),
    }
}

fn validate_rules(rules: &HPAScalingRules, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if let Some(w) = rules.stabilization_window_seconds {
        if !(0..=3600).contains(&w) {
            errs.push(FieldCause::invalid(
                &path.child("stabilizationWindowSeconds"),
                w,
                "must be less than or equal to 3600",
            ));
        }
    }
    if let Some(p) = &rules.select_policy {
        if !SELECT_POLICIES.contains(&p.as_str()) {
            errs.push(FieldCause::not_supported(
                &path.child("selectPolicy"),
                p.as_str(),
                SELECT_POLICIES,
            ));
        }
    }
    for (i, p) in rules.policies.iter().enumerate() {
        let pp = path.child("policies").index(i);
        if !POLICY_TYPES.contains(&p.type_.as_str()) {
            errs.push(FieldCause::not_supported(
                &pp.child("type"),
                p.type_.as_str(),
                POLICY_TYPES,
            ));
        }
        if p.value <= 0 {
            errs.push(FieldCause::invalid(
                &pp.child("value"),
                p.value,
                "must be greater than zero",
            ));
        }
        if !(1..=1800).contains(&p.period_seconds) {
            errs.push(FieldCause::invalid(
                &pp.child("periodSeconds"),
                p.period_seconds,
                "must be greater than zero and less than or equal to 1800",
            ));
        }
    }
}

impl Validate for HorizontalPodAutoscaler {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        let min = spec.min_replicas.unwrap_or(1);
        if min < 1 {
            errs.push(FieldCause::invalid(
                &path.child("minReplicas"),
                min,
                "must be greater than or equal to 1",
            ));
        }
        if spec.max_replicas < 1 {
            errs.push(FieldCause::invalid(
                &path.child("maxReplicas"),
                spec.max_replicas,
                "must be greater than 0",
            ));
        } else if spec.max_replicas < min {
            errs.push(FieldCause::invalid(
                &path.child("maxReplicas"),
                spec.max_replicas,
                "must be greater than or equal to `minReplicas`",
            ));
        }
        let rp = path.child("scaleTargetRef");
        if spec.scale_target_ref.kind.is_empty() {
            errs.push(FieldCause::required(&rp.child("kind"), ""));
        }
        if spec.scale_target_ref.name.is_empty() {
            errs.push(FieldCause::required(&rp.child("name"), ""));
        } else if spec.scale_target_ref.name.contains('/')
            || spec.scale_target_ref.name.contains('%')
        {
            errs.push(FieldCause::invalid(
                &rp.child("name"),
                spec.scale_target_ref.name.as_str(),
                "may not contain '/' or '%'",
            ));
        }
        for (i, m) in spec.metrics.iter().enumerate() {
            let mp = path.child("metrics").index(i);
            match m.type_.as_str() {
                "Resource" => match &m.resource {
                    Some(r) => validate_resource_target(
                        &r.name,
                        &r.target,
                        &mp.child("resource"),
                        &mut errs,
                    ),
                    None => errs.push(FieldCause::required(
                        &mp.child("resource"),
                        "must populate information for the given metric source",
                    )),
                },
                "ContainerResource" => match &m.container_resource {
                    Some(c) => {
                        let cp = mp.child("containerResource");
                        validate_resource_target(&c.name, &c.target, &cp, &mut errs);
                        if c.container.is_empty() {
                            errs.push(FieldCause::required(&cp.child("container"), ""));
                        }
                    }
                    None => errs.push(FieldCause::required(
                        &mp.child("containerResource"),
                        "must populate information for the given metric source",
                    )),
                },
                "Pods" | "Object" | "External" => {}
                other => errs.push(FieldCause::not_supported(
                    &mp.child("type"),
                    other,
                    METRIC_TYPES,
                )),
            }
        }
        if let Some(b) = &spec.behavior {
            let bp = path.child("behavior");
            if let Some(r) = &b.scale_up {
                validate_rules(r, &bp.child("scaleUp"), &mut errs);
            }
            if let Some(r) = &b.scale_down {
                validate_rules(r, &bp.child("scaleDown"), &mut errs);
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        errs
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::apiserver::validation::testutil::assert_causes;
    use crate::apiserver::validation::CauseReason;

    fn hpa(spec: Value) -> HorizontalPodAutoscaler {
        let mut h: HorizontalPodAutoscaler = serde_json::from_value(
            json!({"metadata": {"name": "web", "namespace": "d"}, "spec": spec}),
        )
        .unwrap();
        h.apply_defaults();
        h
    }

    fn target() -> Value {
        json!({"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"})
    }

    #[test]
    fn defaults() {
        let h = hpa(json!({"scaleTargetRef": target(), "maxReplicas": 5}));
        assert_eq!(h.spec.min_replicas, Some(1));
        assert_eq!(h.spec.metrics.len(), 1);
        let r = h.spec.metrics[0].resource.as_ref().unwrap();
        assert_eq!(
            (r.name.as_str(), r.target.average_utilization),
            ("cpu", Some(80))
        );
        assert_eq!(h.spec.behavior, None);
        let h = hpa(json!({"scaleTargetRef": target(), "maxReplicas": 5,
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 5}}}));
        let b = h.spec.behavior.unwrap();
        let down = b.scale_down.unwrap();
        assert_eq!(down.stabilization_window_seconds, Some(5));
        assert_eq!(
            down.policies,
            HPAScalingRules::default_scale_down().policies
        );
        assert_eq!(b.scale_up, Some(HPAScalingRules::default_scale_up()));
    }

    #[test]
    fn validation_table() {
        type Case = (&'static str, Value, Vec<(&'static str, CauseReason)>);
        let cpu = |u: i64| json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": u}}}]);
        let cases: Vec<Case> = vec![
            (
                "valid",
                json!({"scaleTargetRef": target(), "maxReplicas": 5, "metrics": cpu(50)}),
                vec![],
            ),
            (
                "max below min",
                json!({"scaleTargetRef": target(), "minReplicas": 3, "maxReplicas": 2}),
                vec![("spec.maxReplicas", CauseReason::Invalid)],
            ),
            (
                "min zero",
                json!({"scaleTargetRef": target(), "minReplicas": 0, "maxReplicas": 2}),
                vec![("spec.minReplicas", CauseReason::Invalid)],
            ),
            (
                "no target name, zero utilization",
                json!({"scaleTargetRef": {"kind": "Deployment"}, "maxReplicas": 2, "metrics": cpu(0)}),
                vec![
                    ("spec.scaleTargetRef.name", CauseReason::Required),
                    (
                        "spec.metrics[0].resource.target.averageUtilization",
                        CauseReason::Invalid,
                    ),
                ],
            ),
            (
                "unknown metric type",
                json!({"scaleTargetRef": target(), "maxReplicas": 2, "metrics": [{"type": "Magic"}]}),
                vec![("spec.metrics[0].type", CauseReason::NotSupported)],
            ),
            (
                "bad behavior",
                json!({"scaleTargetRef": target(), "maxReplicas": 2, "behavior": {"scaleUp": {
                    "stabilizationWindowSeconds": 4000, "selectPolicy": "Most",
                    "policies": [{"type": "Pods", "value": 0, "periodSeconds": 0}]}}}),
                vec![
                    (
                        "spec.behavior.scaleUp.stabilizationWindowSeconds",
                        CauseReason::Invalid,
                    ),
                    (
                        "spec.behavior.scaleUp.selectPolicy",
                        CauseReason::NotSupported,
                    ),
                    (
                        "spec.behavior.scaleUp.policies[0].value",
                        CauseReason::Invalid,
                    ),
                    (
                        "spec.behavior.scaleUp.policies[0].periodSeconds",
                        CauseReason::Invalid,
                    ),
                ],
            ),
        ];
        for (name, spec, want) in cases {
            assert_causes(name, &hpa(spec).validate(), &want);
        }
    }

    #[test]
    fn printer() {
        let mut h = hpa(
            json!({"scaleTargetRef": target(), "maxReplicas": 5, "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
            ]}),
        );
        assert_eq!(targets(&h), "cpu: <unknown>/50%, memory: <unknown>/100Mi");
        h.status.current_metrics = serde_json::from_value(json!([
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12, "averageValue": "12m"}}},
        ]))
        .unwrap();
        h.status.current_replicas = 2;
        let row = h.cells(Time(0));
        assert_eq!(row.cells[1], json!("Deployment/web"));
        assert_eq!(row.cells[2], json!("cpu: 12%/50%, memory: <unknown>/100Mi"));
        assert_eq!(row.cells[3], json!("1"));
        assert_eq!(row.cells[5], json!(2));
    }
}
