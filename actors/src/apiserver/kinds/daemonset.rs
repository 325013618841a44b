//! DaemonSets (`apps/v1`): Kubernetes' defaults (RollingUpdate with maxUnavailable 1
//! and maxSurge 0, revisionHistoryLimit 10, the pod template's defaults), the
//! validation of `pkg/apis/apps/validation` (a non-empty selector that matches the
//! template, a template that restarts `Always` without `activeDeadlineSeconds`, exactly
//! one of maxUnavailable and maxSurge non-zero, the selector fixed after creation), the
//! template generation kept in the `deprecated.daemonset.template.generation`
//! annotation (1 on create, one more whenever the template changes), and Kubernetes'
//! daemon set printer.

use std::collections::BTreeMap;

use rudder_protocol::resources::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategyType, IntOrString, RestartPolicy,
    RollingUpdateDaemonSet, Time, DAEMONSET_TEMPLATE_GENERATION_ANNOTATION,
};
use serde_json::{json, Value};

use super::super::defaults::{default_template, Defaults};
use super::super::table::{
    col, containers_and_images, format_labels, selector_string, since, Column, Row, AGE,
    CONTAINERS, IMAGES, NAME,
};
use super::super::validation::{
    is_valid_percent, validate_annotations, validate_label_selector, validate_labels,
    validate_object_meta, validate_object_meta_update, validate_pod_spec, BadValue, FieldCause,
    FieldPath, NameRule, PodSpecContext, Validate, IMMUTABLE,
};
use super::{Admission, Strategy};

impl Strategy for DaemonSet {
    const VALIDATION: &'static [super::super::admission::Validator] =
        &[super::super::podsecurity::workload];
    const COLUMNS: &'static [Column] = DAEMONSET_COLUMNS;

    fn example(_namespace: &str) -> Value {
        json!({"spec": {
            "selector": {"matchLabels": {"app": "example"}},
            "template": {
                "metadata": {"labels": {"app": "example"}},
                "spec": super::example_pod_spec(),
            },
        }})
    }

    fn cells(&self, now: Time) -> Row {
        Row::new(daemonset_cells(self, now))
    }

    /// Kubernetes' `PrepareForCreate`: no status, template generation 1.
    fn prepare_create(ds: &mut DaemonSet, _admission: &Admission) {
        ds.status = Default::default();
        ds.metadata.annotations.insert(
            DAEMONSET_TEMPLATE_GENERATION_ANNOTATION.to_owned(),
            "1".to_owned(),
        );
    }

    /// Kubernetes' `PrepareForUpdate`: a changed template (compared once both are
    /// defaulted) counts one more template generation; the annotation cannot be set by
    /// hand.
    fn prepare_update(new: &mut Value, old: &Value) {
        let old_generation = template_generation(old);
        let changed = match (
            serde_json::from_value::<DaemonSet>(new.clone()),
            serde_json::from_value::<DaemonSet>(old.clone()),
        ) {
            (Ok(mut n), Ok(mut o)) => {
                n.apply_defaults();
                o.apply_defaults();
                n.spec.template != o.spec.template
            }
            // An unreadable object fails validation anyway.
            _ => false,
        };
        let generation = if changed {
            old_generation + 1
        } else {
            old_generation
        };
        if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
            if !annotations.is_object() {
                *annotations = json!({});
            }
            annotations[DAEMONSET_TEMPLATE_GENERATION_ANNOTATION] = json!(generation.to_string());
        }
    }
}

/// The template generation of a stored DaemonSet (1 when unreadable).
fn template_generation(ds: &Value) -> i64 {
    ds.pointer("/metadata/annotations")
        .and_then(|a| a.get(DAEMONSET_TEMPLATE_GENERATION_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(1)
}

const DAEMONSET_COLUMNS: &[Column] = &[
    NAME,
    col("Desired", "integer", "DesiredNumberScheduled: The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod)."),
    col("Current", "integer", "CurrentNumberScheduled: The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
    col("Ready", "integer", "NumberReady: The number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition."),
    col("Up-to-date", "integer", "UpdatedNumberScheduled: The total number of nodes that are running updated daemon pod."),
    col("Available", "integer", "NumberAvailable: The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)."),
    col("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node."),
    AGE,
    CONTAINERS,
    IMAGES,
    col("Selector", "string", "A label query over pods that are managed by the daemon set.").wide(),
];

fn daemonset_cells(ds: &DaemonSet, now: Time) -> Vec<Value> {
    let s = &ds.status;
    let (names, images) = containers_and_images(&ds.spec.template.spec);
    vec![
        json!(ds.metadata.name),
        json!(s.desired_number_scheduled),
        json!(s.current_number_scheduled),
        json!(s.number_ready),
        json!(s.updated_number_scheduled),
        json!(s.number_available),
        json!(format_labels(&ds.spec.template.spec.node_selector)),
        json!(since(ds.metadata.creation_timestamp, now)),
        json!(names),
        json!(images),
        json!(selector_string(&ds.spec.selector)),
    ]
}

impl Defaults for DaemonSet {
    /// Kubernetes' `SetDefaults_DaemonSet`.
    fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        let strategy = &mut spec.update_strategy;
        let ty = *strategy
            .type_
            .get_or_insert(DaemonSetUpdateStrategyType::RollingUpdate);
        if ty == DaemonSetUpdateStrategyType::RollingUpdate {
            let ru = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateDaemonSet::default);
            ru.max_unavailable.get_or_insert(IntOrString::Int(1));
            ru.max_surge.get_or_insert(IntOrString::Int(0));
        }
        spec.revision_history_limit.get_or_insert(10);
        default_template(&mut spec.template);
    }
}

const NON_NEGATIVE: &str = "must be greater than or equal to 0";

fn non_negative(value: i64, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if value < 0 {
        errs.push(FieldCause::invalid(path, value, NON_NEGATIVE));
    }
}

fn int_or_percent_value(v: Option<&IntOrString>) -> i64 {
    match v {
        None => 0,
        Some(IntOrString::Int(n)) => i64::from(*n),
        Some(IntOrString::String(s)) => s
            .strip_suffix('%')
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0),
    }
}

fn bad(v: &IntOrString) -> BadValue {
    match v {
        IntOrString::Int(n) => BadValue::from(*n),
        IntOrString::String(s) => BadValue::from(s),
    }
}

/// Kubernetes' `ValidatePositiveIntOrPercent` and `IsNotMoreThan100Percent`.
fn validate_budget(v: Option<&IntOrString>, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    match v {
        None => {}
        Some(IntOrString::Int(n)) => non_negative(i64::from(*n), path, errs),
        Some(IntOrString::String(s)) => {
            if !is_valid_percent(s) {
                errs.push(FieldCause::invalid(
                    path,
                    s,
                    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                ));
            } else if int_or_percent_value(v) > 100 {
                errs.push(FieldCause::invalid(
                    path,
                    s,
                    "must not be greater than 100%",
                ));
            }
        }
    }
}

fn validate_update_strategy(spec: &DaemonSetSpec, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    let strategy = &spec.update_strategy;
    match strategy.type_ {
        Some(DaemonSetUpdateStrategyType::OnDelete) => {}
        Some(DaemonSetUpdateStrategyType::RollingUpdate) => {
            let Some(ru) = &strategy.rolling_update else {
                errs.push(FieldCause::required(&path.child("rollingUpdate"), ""));
                return;
            };
            let rpath = path.child("rollingUpdate");
            let (u, s) = (ru.max_unavailable.as_ref(), ru.max_surge.as_ref());
            validate_budget(u, &rpath.child("maxUnavailable"), errs);
            validate_budget(s, &rpath.child("maxSurge"), errs);
            let has_unavailable = int_or_percent_value(u) != 0;
            let has_surge = int_or_percent_value(s) != 0;
            match (has_unavailable, has_surge) {
                (true, true) => errs.push(FieldCause::invalid(
                    &rpath.child("maxSurge"),
                    s.map_or(BadValue::Null, bad),
                    "may not be set when maxUnavailable is non-zero",
                )),
                (false, false) => errs.push(FieldCause::required(
                    &rpath.child("maxUnavailable"),
                    "cannot be 0 when maxSurge is 0",
                )),
                _ => {}
            }
        }
        None => errs.push(FieldCause::not_supported(
            path,
            "",
            DaemonSetUpdateStrategyType::NAMES,
        )),
    }
}

fn go_map(map: &BTreeMap<String, String>) -> BadValue {
    let entries: Vec<String> = map.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    BadValue::Raw(format!("map[string]string{{{}}}", entries.join(", ")))
}

/// Kubernetes' `ValidateDaemonSetSpec`.
fn validate_spec(spec: &DaemonSetSpec, errs: &mut Vec<FieldCause>) {
    let path = FieldPath::new("spec");
    let spath = path.child("selector");
    let selector = &spec.selector;
    let problems = validate_label_selector(selector, &spath);
    let valid = problems.is_empty();
    errs.extend(problems);
    let tpath = path.child("template");
    let mpath = tpath.child("metadata");
    let labels = &spec.template.metadata.labels;
    if valid && !selector.matches(labels) {
        errs.push(FieldCause::invalid(
            &mpath.child("labels"),
            go_map(labels),
            "`selector` does not match template `labels`",
        ));
    }
    if selector.match_labels.is_empty() && selector.match_expressions.is_empty() {
        errs.push(FieldCause::invalid(
            &spath,
            BadValue::Raw("{}".into()),
            "empty selector is invalid for daemonset",
        ));
    }
    errs.extend(validate_labels(labels, &mpath.child("labels")));
    errs.extend(validate_annotations(
        &spec.template.metadata.annotations,
        &mpath.child("annotations"),
    ));
    let pspath = tpath.child("spec");
    let pod = &spec.template.spec;
    errs.extend(validate_pod_spec(pod, &pspath, PodSpecContext::Template));
    if let Some(policy) = pod.restart_policy.filter(|p| *p != RestartPolicy::Always) {
        errs.push(FieldCause::not_supported(
            &pspath.child("restartPolicy"),
            policy.as_str(),
            &["Always"],
        ));
    }
    if let Some(d) = pod.active_deadline_seconds {
        errs.push(FieldCause::invalid(
            &pspath.child("activeDeadlineSeconds"),
            d,
            "activeDeadlineSeconds in DaemonSet is not Supported",
        ));
    }
    non_negative(
        i64::from(spec.min_ready_seconds),
        &path.child("minReadySeconds"),
        errs,
    );
    validate_update_strategy(spec, &path.child("updateStrategy"), errs);
    if let Some(limit) = spec.revision_history_limit {
        non_negative(i64::from(limit), &path.child("revisionHistoryLimit"), errs);
    }
}

impl Validate for DaemonSet {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        validate_spec(&self.spec, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        if self.spec.selector != old.spec.selector {
            errs.push(FieldCause::invalid(
                &FieldPath::new("spec").child("selector"),
                BadValue::Raw(serde_json::to_string(&self.spec.selector).unwrap_or_default()),
                IMMUTABLE,
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rudder_protocol::resources::{Container, LabelSelector};

    use super::*;

    fn ds() -> DaemonSet {
        let mut d = DaemonSet::new("agent");
        d.metadata.namespace = "default".into();
        d.spec.selector = LabelSelector {
            match_labels: [("app".to_owned(), "agent".to_owned())].into(),
            ..Default::default()
        };
        d.spec.template.metadata.labels = d.spec.selector.match_labels.clone();
        d.spec.template.spec.containers = vec![Container {
            name: "c".into(),
            image: "demo:1".into(),
            ..Default::default()
        }];
        d
    }

    #[test]
    fn defaults() {
        let mut d = ds();
        d.apply_defaults();
        let s = &d.spec;
        assert_eq!(
            s.update_strategy.type_,
            Some(DaemonSetUpdateStrategyType::RollingUpdate)
        );
        let ru = s.update_strategy.rolling_update.as_ref().unwrap();
        assert_eq!(ru.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(ru.max_surge, Some(IntOrString::Int(0)));
        assert_eq!(s.revision_history_limit, Some(10));
        assert_eq!(s.template.spec.restart_policy, Some(RestartPolicy::Always));

        let mut on_delete = ds();
        on_delete.spec.update_strategy.type_ = Some(DaemonSetUpdateStrategyType::OnDelete);
        on_delete.apply_defaults();
        assert!(on_delete.spec.update_strategy.rolling_update.is_none());
    }

    #[test]
    fn validation_table() {
        type Change = fn(&mut DaemonSet);
        let table: Vec<(&str, Change, Vec<&str>)> = vec![
            ("valid", |_| {}, vec![]),
            (
                "selector does not match the template",
                |d| {
                    d.spec.template.metadata.labels =
                        [("app".to_owned(), "other".to_owned())].into();
                },
                vec!["spec.template.metadata.labels"],
            ),
            (
                "empty selector",
                |d| d.spec.selector = LabelSelector::default(),
                vec!["spec.selector"],
            ),
            (
                "restartPolicy Never",
                |d| d.spec.template.spec.restart_policy = Some(RestartPolicy::Never),
                vec!["spec.template.spec.restartPolicy"],
            ),
            (
                "activeDeadlineSeconds",
                |d| d.spec.template.spec.active_deadline_seconds = Some(5),
                vec!["spec.template.spec.activeDeadlineSeconds"],
            ),
            (
                "both budgets non-zero",
                |d| {
                    d.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
                        max_unavailable: Some(IntOrString::Int(1)),
                        max_surge: Some(IntOrString::Int(1)),
                    });
                },
                vec!["spec.updateStrategy.rollingUpdate.maxSurge"],
            ),
            (
                "both budgets zero",
                |d| {
                    d.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
                        max_unavailable: Some(IntOrString::Int(0)),
                        max_surge: Some(IntOrString::Int(0)),
                    });
                },
                vec!["spec.updateStrategy.rollingUpdate.maxUnavailable"],
            ),
            (
                "surge alone is fine",
                |d| {
                    d.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
                        max_unavailable: Some(IntOrString::Int(0)),
                        max_surge: Some(IntOrString::String("20%".into())),
                    });
                },
                vec![],
            ),
            (
                "over 100%",
                |d| {
                    d.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
                        max_unavailable: Some(IntOrString::String("150%".into())),
                        max_surge: Some(IntOrString::Int(0)),
                    });
                },
                vec!["spec.updateStrategy.rollingUpdate.maxUnavailable"],
            ),
            (
                "negative history limit",
                |d| d.spec.revision_history_limit = Some(-1),
                vec!["spec.revisionHistoryLimit"],
            ),
        ];
        for (name, change, want) in table {
            let mut d = ds();
            change(&mut d);
            d.apply_defaults();
            let got: Vec<String> = d.validate().iter().map(|c| c.field.clone()).collect();
            assert_eq!(got, want, "{name}");
        }
        let mut old = ds();
        old.apply_defaults();
        let mut new = old.clone();
        new.spec
            .selector
            .match_labels
            .insert("x".into(), "y".into());
        new.spec
            .template
            .metadata
            .labels
            .insert("x".into(), "y".into());
        let fields: Vec<String> = new
            .validate_update(&old)
            .iter()
            .map(|c| c.field.clone())
            .collect();
        assert_eq!(fields, ["spec.selector"]);
    }

    #[test]
    fn template_generation_counts_template_changes() {
        let mut created = ds();
        DaemonSet::prepare_create(
            &mut created,
            &Admission {
                default_toleration_seconds: 300,
            },
        );
        created.apply_defaults();
        let old = serde_json::to_value(&created).unwrap();
        assert_eq!(template_generation(&old), 1);
        let table = [
            ("no change", None, 1),
            ("history limit only", Some(("limit", "")), 1),
            ("image change", Some(("image", "demo:2")), 2),
        ];
        for (name, change, want) in table {
            let mut new = created.clone();
            match change {
                Some(("limit", _)) => new.spec.revision_history_limit = Some(3),
                Some((_, image)) => new.spec.template.spec.containers[0].image = image.into(),
                None => {}
            }
            // A client may send the annotation changed: the server's count wins.
            new.metadata
                .annotations
                .insert(DAEMONSET_TEMPLATE_GENERATION_ANNOTATION.into(), "77".into());
            let mut v = serde_json::to_value(&new).unwrap();
            DaemonSet::prepare_update(&mut v, &old);
            assert_eq!(template_generation(&v), want, "{name}");
        }
    }

    #[test]
    fn printer_row() {
        let mut d = ds();
        d.spec.template.spec.node_selector = [("disk".to_owned(), "ssd".to_owned())].into();
        d.status.desired_number_scheduled = 3;
        d.status.current_number_scheduled = 3;
        d.status.number_ready = 2;
        d.status.updated_number_scheduled = 1;
        d.status.number_available = 2;
        let row = d.cells(Time(0));
        assert_eq!(
            row.cells[..7],
            [
                json!("agent"),
                json!(3),
                json!(3),
                json!(2),
                json!(1),
                json!(2),
                json!("disk=ssd")
            ]
        );
        assert_eq!(row.cells[10], json!("app=agent"));
        assert_eq!(DAEMONSET_COLUMNS.len(), row.cells.len());
    }
}
