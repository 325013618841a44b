//! LimitRanges (`core/v1`): defaults and validation of `pkg/apis/core` (a container
//! item's `default` falls back to its `max`, its `defaultRequest` to its `default`, then
//! to its `min`; one item per type; `min <= defaultRequest <= default <= max`;
//! `maxLimitRequestRatio` at least 1 and within `max/min`; no defaults for the `Pod`
//! type; a `PersistentVolumeClaim` item bounds storage), and Kubernetes' printer (NAME,
//! CREATED AT, the default one). What a LimitRange does to pods and claims is the
//! LimitRanger admission plugin's ([`super::super::limitranger`]).

use rudder_protocol::resources::{limit_types, LimitRange, LimitRangeItem, Quantity};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::validation::{
    is_qualified_name, validate_object_meta, validate_object_meta_update, FieldCause, FieldPath,
    NameRule, Validate,
};
use super::Strategy;

impl Strategy for LimitRange {
    fn example(_namespace: &str) -> Value {
        json!({"spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"}}]}})
    }
}

impl Defaults for LimitRange {
    /// Kubernetes' `SetDefaults_LimitRangeItem`, for container items.
    fn apply_defaults(&mut self) {
        for item in &mut self.spec.limits {
            if item.type_ != limit_types::CONTAINER {
                continue;
            }
            for (k, v) in &item.max {
                item.default.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for (k, v) in &item.default {
                item.default_request
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
            for (k, v) in &item.min {
                item.default_request
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
        }
    }
}

/// Container resources a LimitRange may name without a domain.
const STANDARD_CONTAINER_RESOURCES: &[&str] = &["cpu", "memory", "ephemeral-storage"];
/// Claim resources a LimitRange may name without a domain.
const STANDARD_CLAIM_RESOURCES: &[&str] = &["storage"];

fn validate_type(t: &str, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    let msgs = is_qualified_name(t);
    if !msgs.is_empty() {
        for msg in msgs {
            errs.push(FieldCause::invalid(path, t, &msg));
        }
        return;
    }
    if !t.contains('/') && !limit_types::ALL.contains(&t) {
        errs.push(FieldCause::invalid(
            path,
            t,
            "must be a standard limit type or fully qualified",
        ));
    }
}

fn validate_resource_name(type_: &str, name: &str, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    let msgs = is_qualified_name(name);
    if !msgs.is_empty() {
        for msg in msgs {
            errs.push(FieldCause::invalid(path, name, &msg));
        }
        return;
    }
    if name.contains('/') {
        return;
    }
    let (standard, what) = if type_ == limit_types::PERSISTENT_VOLUME_CLAIM {
        (
            STANDARD_CLAIM_RESOURCES,
            "must be a standard resource type or fully qualified",
        )
    } else {
        (
            STANDARD_CONTAINER_RESOURCES,
            "must be a standard resource for containers",
        )
    };
    if !standard.contains(&name) && !name.starts_with("hugepages-") {
        errs.push(FieldCause::invalid(path, name, what));
    }
}

fn q(v: &Quantity) -> &str {
    v.as_str()
}

/// `ValidateLimitRange`'s checks of one item.
fn validate_item(item: &LimitRangeItem, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    validate_type(&item.type_, &path.child("type"), errs);
    let pod = item.type_ == limit_types::POD;
    let mut lists = vec![("max", &item.max), ("min", &item.min)];
    if pod {
        if !item.default.is_empty() {
            errs.push(FieldCause::forbidden(
                &path.child("default"),
                "may not be specified when `type` is 'Pod'",
            ));
        }
        if !item.default_request.is_empty() {
            errs.push(FieldCause::forbidden(
                &path.child("defaultRequest"),
                "may not be specified when `type` is 'Pod'",
            ));
        }
    } else {
        lists.push(("default", &item.default));
        lists.push(("defaultRequest", &item.default_request));
    }
    if item.type_ == limit_types::PERSISTENT_VOLUME_CLAIM
        && !item.min.contains_key("storage")
        && !item.max.contains_key("storage")
    {
        errs.push(FieldCause::required(
            &path.child("limits"),
            "either minimum or maximum storage value is required, but neither was provided",
        ));
    }
    lists.push(("maxLimitRequestRatio", &item.max_limit_request_ratio));
    let mut keys: Vec<&String> = Vec::new();
    for (field, list) in lists {
        for k in list.keys() {
            validate_resource_name(&item.type_, k, &path.child(field).key(k), errs);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    for k in keys {
        let min = item.min.get(k);
        let max = item.max.get(k);
        let default = item.default.get(k).filter(|_| !pod);
        let default_request = item.default_request.get(k).filter(|_| !pod);
        let ratio = item.max_limit_request_ratio.get(k);
        let gt = |a: &Quantity, b: &Quantity| a.cmp_value(b).is_gt();
        if let (Some(min), Some(max)) = (min, max) {
            if gt(min, max) {
                errs.push(FieldCause::invalid(
                    &path.child("min").key(k),
                    q(min),
                    &format!("min value {min} is greater than max value {max}"),
                ));
            }
        }
        if let Some(dr) = default_request {
            let at = path.child("defaultRequest").key(k);
            if let Some(min) = min.filter(|min| gt(min, dr)) {
                errs.push(FieldCause::invalid(
                    &at,
                    q(dr),
                    &format!("min value {min} is greater than default request value {dr}"),
                ));
            }
            if let Some(max) = max.filter(|max| gt(dr, max)) {
                errs.push(FieldCause::invalid(
                    &at,
                    q(dr),
                    &format!("default request value {dr} is greater than max value {max}"),
                ));
            }
            if let Some(d) = default.filter(|d| gt(dr, d)) {
                errs.push(FieldCause::invalid(
                    &at,
                    q(dr),
                    &format!("default request value {dr} is greater than default limit value {d}"),
                ));
            }
        }
        if let Some(d) = default {
            let at = path.child("default").key(k);
            if let Some(min) = min.filter(|min| gt(min, d)) {
                errs.push(FieldCause::invalid(
                    &at,
                    q(min),
                    &format!("min value {min} is greater than default value {d}"),
                ));
            }
            if let Some(max) = max.filter(|max| gt(d, max)) {
                errs.push(FieldCause::invalid(
                    &at,
                    q(max),
                    &format!("default value {d} is greater than max value {max}"),
                ));
            }
        }
        if let Some(ratio) = ratio {
            let at = path.child("maxLimitRequestRatio").key(k);
            if ratio
                .cmp_value(&Quantity::new(1, Default::default()))
                .is_lt()
            {
                errs.push(FieldCause::invalid(
                    &at,
                    q(ratio),
                    &format!("ratio {ratio} is less than 1"),
                ));
            }
            if let (Some(min), Some(max)) = (min, max) {
                let (r, lo, hi) = ratio_values(ratio, min, max);
                let limit = hi / lo;
                if r > limit {
                    errs.push(FieldCause::invalid(
                        &at,
                        q(ratio),
                        &format!("ratio {ratio} is greater than max/min = {limit:.6}"),
                    ));
                }
            }
        }
    }
}

/// The ratio, the minimum and the maximum as Kubernetes compares them: in thousandths
/// when all three fit, else in units.
fn ratio_values(ratio: &Quantity, min: &Quantity, max: &Quantity) -> (f64, f64, f64) {
    const MAX_MILLI: i64 = i64::MAX / 1000;
    if ratio.value() < MAX_MILLI && min.value() < MAX_MILLI && max.value() < MAX_MILLI {
        (
            ratio.milli_value() as f64 / 1000.0,
            min.milli_value() as f64,
            max.milli_value() as f64,
        )
    } else {
        (ratio.value() as f64, min.value() as f64, max.value() as f64)
    }
}

impl Validate for LimitRange {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let path = FieldPath::new("spec").child("limits");
        let mut seen: Vec<&str> = Vec::new();
        for (i, item) in self.spec.limits.iter().enumerate() {
            let at = path.index(i);
            if seen.contains(&item.type_.as_str()) {
                errs.push(FieldCause::duplicate(
                    &at.child("type"),
                    item.type_.as_str(),
                ));
            }
            seen.push(&item.type_);
            validate_item(item, &at, &mut errs);
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

    /// A named case: the input and the causes (field, reason) it must give.
    type Case = (&'static str, Value, &'static [(&'static str, CauseReason)]);

    fn range(items: Value) -> LimitRange {
        serde_json::from_value(json!({"metadata": {"name": "lr", "namespace": "a"},
            "spec": {"limits": items}}))
        .unwrap()
    }

    #[test]
    fn container_items_default_from_max_default_and_min() {
        let mut lr = range(json!([
            {"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}},
            {"type": "Pod", "max": {"cpu": "4"}},
        ]));
        lr.apply_defaults();
        let c = &lr.spec.limits[0];
        assert_eq!(c.default["cpu"].as_str(), "2");
        assert_eq!(c.default_request["cpu"].as_str(), "2");
        assert_eq!(c.default_request["memory"].as_str(), "64Mi");
        assert!(lr.spec.limits[1].default.is_empty(), "pods get no defaults");
    }

    #[test]
    fn validation_table() {
        let table: &[Case] = &[
            (
                "valid",
                json!([{"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "1"},
                    "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "200m"},
                    "maxLimitRequestRatio": {"cpu": "4"}}]),
                &[],
            ),
            (
                "duplicate type",
                json!([{"type": "Container"}, {"type": "Container"}]),
                &[("spec.limits[1].type", CauseReason::Duplicate)],
            ),
            (
                "unknown type",
                json!([{"type": "Node"}]),
                &[("spec.limits[0].type", CauseReason::Invalid)],
            ),
            (
                "min above max",
                json!([{"type": "Pod", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]),
                &[("spec.limits[0].min[cpu]", CauseReason::Invalid)],
            ),
            (
                "defaults for pods",
                json!([{"type": "Pod", "default": {"cpu": "1"}}]),
                &[("spec.limits[0].default", CauseReason::Forbidden)],
            ),
            (
                "default request above default",
                json!([{"type": "Container", "default": {"cpu": "1"},
                    "defaultRequest": {"cpu": "2"}}]),
                &[("spec.limits[0].defaultRequest[cpu]", CauseReason::Invalid)],
            ),
            (
                "ratio below one and above max/min",
                json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "500m"}},
                    {"type": "Pod", "min": {"cpu": "1"}, "max": {"cpu": "2"},
                        "maxLimitRequestRatio": {"cpu": "3"}}]),
                &[
                    (
                        "spec.limits[0].maxLimitRequestRatio[cpu]",
                        CauseReason::Invalid,
                    ),
                    (
                        "spec.limits[1].maxLimitRequestRatio[cpu]",
                        CauseReason::Invalid,
                    ),
                ],
            ),
            (
                "claims need storage bounds",
                json!([{"type": "PersistentVolumeClaim", "max": {"cpu": "1"}}]),
                &[
                    ("spec.limits[0].max[cpu]", CauseReason::Invalid),
                    ("spec.limits[0].limits", CauseReason::Required),
                ],
            ),
            (
                "a non-standard resource",
                json!([{"type": "Container", "max": {"gpus": "1"}}]),
                &[("spec.limits[0].max[gpus]", CauseReason::Invalid)],
            ),
        ];
        for (name, items, want) in table {
            let lr = range(items.clone());
            assert_causes(name, &lr.validate(), want);
        }
    }
}
