//! Workload controllers: replica sets and deployments (`apps/v1`), replication
//! controllers (`core/v1`) and the `Scale` subresource.
//!
//! A controller's selector is required and must match its template's labels; the
//! template must be a valid pod spec that restarts `Always` and has no
//! `activeDeadlineSeconds`. In `apps/v1` the selector never changes after creation; a
//! replication controller's may.

use std::collections::BTreeMap;

use rudder_protocol::resources::{
    Deployment, DeploymentSpec, DeploymentStrategyType, IntOrString, LabelSelector,
    PodTemplateSpec, ReplicaSet, ReplicationController, RestartPolicy, RollingUpdateDeployment,
    Scale,
};

use super::meta::{
    go_map, validate_annotations, validate_label_selector, validate_labels, validate_object_meta,
    validate_object_meta_update, NameRule,
};
use super::names::is_valid_percent;
use super::pod::{validate_pod_spec, PodSpecContext};
use super::{BadValue, FieldCause, FieldPath, Validate, IMMUTABLE};

const NON_NEGATIVE: &str = "must be greater than or equal to 0";
const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

pub(super) fn non_negative(value: Option<i32>, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if let Some(v) = value {
        if v < 0 {
            errs.push(FieldCause::invalid(path, v, NON_NEGATIVE));
        }
    }
}

/// The template of a controller at `path` (`spec.template`). `selector_matches` is
/// `Some(false)` when a valid, non-empty selector does not select the template's labels.
pub(super) fn validate_controller_template(
    template: &PodTemplateSpec,
    path: &FieldPath,
    selector_matches: Option<bool>,
    errs: &mut Vec<FieldCause>,
) {
    let mpath = path.child("metadata");
    let lpath = mpath.child("labels");
    if selector_matches == Some(false) {
        errs.push(FieldCause::invalid(
            &lpath,
            go_map(&template.metadata.labels),
            "`selector` does not match template `labels`",
        ));
    }
    errs.extend(validate_labels(&template.metadata.labels, &lpath));
    errs.extend(validate_annotations(
        &template.metadata.annotations,
        &mpath.child("annotations"),
    ));
    let spath = path.child("spec");
    errs.extend(validate_pod_spec(
        &template.spec,
        &spath,
        PodSpecContext::Template,
    ));
    if let Some(policy) = template.spec.restart_policy {
        if policy != RestartPolicy::Always {
            errs.push(FieldCause::not_supported(
                &spath.child("restartPolicy"),
                policy.as_str(),
                &["Always"],
            ));
        }
    }
    if template.spec.active_deadline_seconds.is_some() {
        errs.push(FieldCause::forbidden(
            &spath.child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        ));
    }
}

fn is_empty_selector(s: &LabelSelector) -> bool {
    s.match_labels.is_empty() && s.match_expressions.is_empty()
}

/// Checks an `apps/v1` selector and returns whether it selects the template's labels
/// (`None` when it is empty or invalid, so that only one problem is reported).
pub(super) fn validate_apps_selector(
    selector: &LabelSelector,
    template_labels: &BTreeMap<String, String>,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) -> Option<bool> {
    if is_empty_selector(selector) {
        errs.push(FieldCause::required(path, ""));
        return None;
    }
    let problems = validate_label_selector(selector, path);
    let valid = problems.is_empty();
    errs.extend(problems);
    valid.then(|| selector.matches(template_labels))
}

/// A selector as a message value: its JSON, which says what it is unambiguously.
fn selector_value(selector: &LabelSelector) -> BadValue {
    BadValue::Raw(serde_json::to_string(selector).unwrap_or_else(|_| format!("{selector:?}")))
}

pub(super) fn selector_immutable(
    new: &LabelSelector,
    old: &LabelSelector,
    errs: &mut Vec<FieldCause>,
) {
    if new != old {
        errs.push(FieldCause::invalid(
            &FieldPath::new("spec").child("selector"),
            selector_value(new),
            IMMUTABLE,
        ));
    }
}

impl Validate for ReplicaSet {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        non_negative(spec.replicas, &path.child("replicas"), &mut errs);
        non_negative(
            Some(spec.min_ready_seconds),
            &path.child("minReadySeconds"),
            &mut errs,
        );
        let matches = validate_apps_selector(
            &spec.selector,
            &spec.template.metadata.labels,
            &path.child("selector"),
            &mut errs,
        );
        validate_controller_template(&spec.template, &path.child("template"), matches, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        selector_immutable(&self.spec.selector, &old.spec.selector, &mut errs);
        errs
    }
}

impl Validate for ReplicationController {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        non_negative(spec.replicas, &path.child("replicas"), &mut errs);
        non_negative(
            Some(spec.min_ready_seconds),
            &path.child("minReadySeconds"),
            &mut errs,
        );
        let spath = path.child("selector");
        if spec.selector.is_empty() {
            errs.push(FieldCause::required(&spath, ""));
        }
        errs.extend(validate_labels(&spec.selector, &spath));
        match &spec.template {
            None => errs.push(FieldCause::required(&path.child("template"), "")),
            Some(template) => {
                let matches = (!spec.selector.is_empty()).then(|| {
                    spec.selector
                        .iter()
                        .all(|(k, v)| template.metadata.labels.get(k) == Some(v))
                });
                validate_controller_template(template, &path.child("template"), matches, &mut errs);
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

/// The value of a budget for the "both zero" rule, as Kubernetes reads it: a percentage
/// or an integer; anything unreadable counts as 0.
pub(super) fn budget_value(v: &IntOrString) -> i64 {
    match v {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(s) => s.strip_suffix('%').unwrap_or(s).parse::<i64>().unwrap_or(0),
    }
}

pub(super) fn validate_budget(v: &IntOrString, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    match v {
        IntOrString::Int(n) => {
            if *n < 0 {
                errs.push(FieldCause::invalid(path, *n, NON_NEGATIVE));
            }
        }
        IntOrString::String(s) => {
            if !is_valid_percent(s) {
                errs.push(FieldCause::invalid(path, s, PERCENT_MSG));
            }
        }
    }
}

pub(super) fn budget_bad_value(v: &IntOrString) -> BadValue {
    match v {
        IntOrString::Int(n) => BadValue::from(*n),
        IntOrString::String(s) => BadValue::from(s),
    }
}

fn validate_rolling_update(
    ru: &RollingUpdateDeployment,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    let upath = path.child("maxUnavailable");
    let spath = path.child("maxSurge");
    if let Some(u) = &ru.max_unavailable {
        validate_budget(u, &upath, errs);
        if let IntOrString::String(s) = u {
            if is_valid_percent(s) && budget_value(u) > 100 {
                errs.push(FieldCause::invalid(
                    &upath,
                    s,
                    "must not be greater than 100%",
                ));
            }
        }
    }
    if let Some(s) = &ru.max_surge {
        validate_budget(s, &spath, errs);
    }
    if let (Some(u), Some(s)) = (&ru.max_unavailable, &ru.max_surge) {
        if budget_value(u) == 0 && budget_value(s) == 0 {
            errs.push(FieldCause::invalid(
                &upath,
                budget_bad_value(u),
                "may not be 0 when `maxSurge` is 0",
            ));
        }
    }
}

fn validate_deployment_spec(spec: &DeploymentSpec, errs: &mut Vec<FieldCause>) {
    let path = FieldPath::new("spec");
    non_negative(spec.replicas, &path.child("replicas"), errs);
    let matches = validate_apps_selector(
        &spec.selector,
        &spec.template.metadata.labels,
        &path.child("selector"),
        errs,
    );
    validate_controller_template(&spec.template, &path.child("template"), matches, errs);

    let spath = path.child("strategy");
    let strategy = &spec.strategy;
    match strategy.type_ {
        None => errs.push(FieldCause::not_supported(
            &spath.child("type"),
            "",
            DeploymentStrategyType::NAMES,
        )),
        Some(DeploymentStrategyType::Recreate) => {
            if strategy.rolling_update.is_some() {
                errs.push(FieldCause::forbidden(
                    &spath.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        Some(DeploymentStrategyType::RollingUpdate) => match &strategy.rolling_update {
            None => errs.push(FieldCause::required(
                &spath.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => validate_rolling_update(ru, &spath.child("rollingUpdate"), errs),
        },
    }

    non_negative(
        Some(spec.min_ready_seconds),
        &path.child("minReadySeconds"),
        errs,
    );
    non_negative(
        spec.revision_history_limit,
        &path.child("revisionHistoryLimit"),
        errs,
    );
    if let Some(p) = spec.progress_deadline_seconds {
        let ppath = path.child("progressDeadlineSeconds");
        non_negative(Some(p), &ppath, errs);
        if p <= spec.min_ready_seconds {
            errs.push(FieldCause::invalid(
                &ppath,
                p,
                "must be greater than minReadySeconds",
            ));
        }
    }
}

impl Validate for Deployment {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        validate_deployment_spec(&self.spec, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        selector_immutable(&self.spec.selector, &old.spec.selector, &mut errs);
        errs
    }
}

impl Validate for Scale {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        non_negative(
            Some(self.spec.replicas),
            &FieldPath::new("spec").child("replicas"),
            &mut errs,
        );
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
    use rudder_protocol::resources::{
        Container, DeploymentStrategy, LabelSelectorOperator, LabelSelectorRequirement,
    };

    use super::super::testutil::assert_causes;
    use super::super::CauseReason::{self, *};
    use super::*;
    use crate::apiserver::defaults::Defaults;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn template() -> PodTemplateSpec {
        let mut t = PodTemplateSpec::default();
        t.metadata.labels = labels(&[("app", "web")]);
        t.spec.containers.push(Container {
            name: "web".into(),
            image: "nginx:1.25".into(),
            ..Container::default()
        });
        t
    }

    fn valid_replica_set() -> ReplicaSet {
        let mut rs = ReplicaSet::new("web-abc");
        rs.metadata.namespace = "default".into();
        rs.spec.selector.match_labels = labels(&[("app", "web")]);
        rs.spec.template = template();
        rs.apply_defaults();
        rs
    }

    fn valid_deployment() -> Deployment {
        let mut d = Deployment::new("web");
        d.metadata.namespace = "default".into();
        d.spec.selector.match_labels = labels(&[("app", "web")]);
        d.spec.template = template();
        d.apply_defaults();
        d
    }

    fn valid_rc() -> ReplicationController {
        let mut rc = ReplicationController::new("web");
        rc.metadata.namespace = "default".into();
        rc.spec.template = Some(template());
        rc.apply_defaults();
        rc
    }

    const TEMPLATE_LABELS: &str = "spec.template.metadata.labels";

    type RsCase = (
        &'static str,
        fn(&mut ReplicaSet),
        &'static [(&'static str, CauseReason)],
    );

    #[test]
    fn replica_set_table() {
        let table: &[RsCase] = &[
            ("valid", |_| {}, &[]),
            ("zero replicas", |rs| rs.spec.replicas = Some(0), &[]),
            (
                "negative replicas",
                |rs| rs.spec.replicas = Some(-1),
                &[("spec.replicas", Invalid)],
            ),
            (
                "negative minReadySeconds",
                |rs| rs.spec.min_ready_seconds = -1,
                &[("spec.minReadySeconds", Invalid)],
            ),
            (
                "no selector",
                |rs| rs.spec.selector = LabelSelector::default(),
                &[("spec.selector", Required)],
            ),
            (
                "selector does not match",
                |rs| rs.spec.selector.match_labels = labels(&[("app", "db")]),
                &[(TEMPLATE_LABELS, Invalid)],
            ),
            (
                "expression selector matches",
                |rs| {
                    rs.spec.selector = LabelSelector {
                        match_labels: BTreeMap::new(),
                        match_expressions: vec![LabelSelectorRequirement {
                            key: "app".into(),
                            operator: LabelSelectorOperator::In,
                            values: vec!["web".into(), "api".into()],
                        }],
                    }
                },
                &[],
            ),
            (
                "invalid selector is reported once",
                |rs| {
                    rs.spec
                        .selector
                        .match_expressions
                        .push(LabelSelectorRequirement {
                            key: "tier".into(),
                            operator: LabelSelectorOperator::In,
                            values: vec![],
                        })
                },
                &[("spec.selector.matchExpressions[0].values", Required)],
            ),
            (
                "restart policy Never",
                |rs| rs.spec.template.spec.restart_policy = Some(RestartPolicy::Never),
                &[("spec.template.spec.restartPolicy", NotSupported)],
            ),
            (
                "active deadline",
                |rs| rs.spec.template.spec.active_deadline_seconds = Some(10),
                &[("spec.template.spec.activeDeadlineSeconds", Forbidden)],
            ),
            (
                "template without containers",
                |rs| rs.spec.template.spec.containers.clear(),
                &[("spec.template.spec.containers", Required)],
            ),
            (
                "template may omit image",
                |rs| rs.spec.template.spec.containers[0].image.clear(),
                &[],
            ),
            (
                "bad template label",
                |rs| {
                    rs.spec
                        .template
                        .metadata
                        .labels
                        .insert("x".into(), "a b".into());
                },
                &[(TEMPLATE_LABELS, Invalid)],
            ),
        ];
        for (name, mutate, want) in table {
            let mut rs = valid_replica_set();
            mutate(&mut rs);
            assert_causes(name, &rs.validate(), want);
        }
        let mut rs = valid_replica_set();
        rs.spec.selector.match_labels = labels(&[("app", "db")]);
        assert_eq!(
            rs.validate()[0].to_string(),
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"
        );
    }

    #[test]
    fn apps_selector_is_immutable() {
        let old = valid_replica_set();
        let mut new = old.clone();
        new.spec.replicas = Some(5);
        assert_causes("scale", &new.validate_update(&old), &[]);
        new.spec
            .selector
            .match_labels
            .insert("tier".into(), "front".into());
        new.spec
            .template
            .metadata
            .labels
            .insert("tier".into(), "front".into());
        assert_causes(
            "replica set",
            &new.validate_update(&old),
            &[("spec.selector", Invalid)],
        );

        let old = valid_deployment();
        let mut new = old.clone();
        new.spec.template.spec.containers[0].image = "nginx:1.26".into();
        assert_causes("rollout", &new.validate_update(&old), &[]);
        new.spec.selector.match_labels = labels(&[("app", "web"), ("v", "2")]);
        new.spec.template.metadata.labels = labels(&[("app", "web"), ("v", "2")]);
        let causes = new.validate_update(&old);
        assert_causes("deployment", &causes, &[("spec.selector", Invalid)]);
        assert_eq!(
            causes[0].message,
            "Invalid value: {\"matchLabels\":{\"app\":\"web\",\"v\":\"2\"}}: field is immutable"
        );
    }

    type DeployCase = (
        &'static str,
        fn(&mut Deployment),
        &'static [(&'static str, CauseReason)],
    );

    #[test]
    fn deployment_table() {
        let table: &[DeployCase] = &[
            ("valid", |_| {}, &[]),
            (
                "negative replicas",
                |d| d.spec.replicas = Some(-2),
                &[("spec.replicas", Invalid)],
            ),
            (
                "no selector",
                |d| d.spec.selector = LabelSelector::default(),
                &[("spec.selector", Required)],
            ),
            (
                "selector does not match",
                |d| d.spec.selector.match_labels = labels(&[("app", "db")]),
                &[(TEMPLATE_LABELS, Invalid)],
            ),
            (
                "restart policy OnFailure",
                |d| d.spec.template.spec.restart_policy = Some(RestartPolicy::OnFailure),
                &[("spec.template.spec.restartPolicy", NotSupported)],
            ),
            (
                "Recreate",
                |d| {
                    d.spec.strategy = DeploymentStrategy {
                        type_: Some(DeploymentStrategyType::Recreate),
                        rolling_update: None,
                    }
                },
                &[],
            ),
            (
                "Recreate with rollingUpdate",
                |d| d.spec.strategy.type_ = Some(DeploymentStrategyType::Recreate),
                &[("spec.strategy.rollingUpdate", Forbidden)],
            ),
            (
                "no strategy type",
                |d| d.spec.strategy.type_ = None,
                &[("spec.strategy.type", NotSupported)],
            ),
            (
                "RollingUpdate without parameters",
                |d| d.spec.strategy.rolling_update = None,
                &[("spec.strategy.rollingUpdate", Required)],
            ),
            (
                "both budgets zero",
                |d| {
                    d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
                        max_unavailable: Some(IntOrString::Int(0)),
                        max_surge: Some(IntOrString::String("0%".into())),
                    })
                },
                &[("spec.strategy.rollingUpdate.maxUnavailable", Invalid)],
            ),
            (
                "surge only",
                |d| {
                    d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
                        max_unavailable: Some(IntOrString::Int(0)),
                        max_surge: Some(IntOrString::Int(1)),
                    })
                },
                &[],
            ),
            (
                "bad percentages",
                |d| {
                    d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
                        max_unavailable: Some(IntOrString::String("25".into())),
                        max_surge: Some(IntOrString::String("x%".into())),
                    })
                },
                &[
                    ("spec.strategy.rollingUpdate.maxUnavailable", Invalid),
                    ("spec.strategy.rollingUpdate.maxSurge", Invalid),
                ],
            ),
            (
                "unavailable above 100%",
                |d| {
                    d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
                        max_unavailable: Some(IntOrString::String("150%".into())),
                        max_surge: Some(IntOrString::Int(1)),
                    })
                },
                &[("spec.strategy.rollingUpdate.maxUnavailable", Invalid)],
            ),
            (
                "negative surge",
                |d| {
                    d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
                        max_unavailable: Some(IntOrString::Int(1)),
                        max_surge: Some(IntOrString::Int(-1)),
                    })
                },
                &[("spec.strategy.rollingUpdate.maxSurge", Invalid)],
            ),
            (
                "negative revision history",
                |d| d.spec.revision_history_limit = Some(-1),
                &[("spec.revisionHistoryLimit", Invalid)],
            ),
            (
                "progress deadline not above minReadySeconds",
                |d| {
                    d.spec.min_ready_seconds = 600;
                    d.spec.progress_deadline_seconds = Some(600);
                },
                &[("spec.progressDeadlineSeconds", Invalid)],
            ),
        ];
        for (name, mutate, want) in table {
            let mut d = valid_deployment();
            mutate(&mut d);
            assert_causes(name, &d.validate(), want);
        }
    }

    type RcCase = (
        &'static str,
        fn(&mut ReplicationController),
        &'static [(&'static str, CauseReason)],
    );

    #[test]
    fn replication_controller_table() {
        let table: &[RcCase] = &[
            ("valid", |_| {}, &[]),
            (
                "no template",
                |rc| rc.spec.template = None,
                &[("spec.template", Required)],
            ),
            (
                "no selector",
                |rc| rc.spec.selector.clear(),
                &[("spec.selector", Required)],
            ),
            (
                "selector does not match",
                |rc| rc.spec.selector = labels(&[("app", "db")]),
                &[(TEMPLATE_LABELS, Invalid)],
            ),
            (
                "bad selector",
                |rc| rc.spec.selector = labels(&[("app", "-")]),
                &[("spec.selector", Invalid), (TEMPLATE_LABELS, Invalid)],
            ),
            (
                "negative replicas",
                |rc| rc.spec.replicas = Some(-1),
                &[("spec.replicas", Invalid)],
            ),
            (
                "restart policy Never",
                |rc| {
                    if let Some(t) = rc.spec.template.as_mut() {
                        t.spec.restart_policy = Some(RestartPolicy::Never);
                    }
                },
                &[("spec.template.spec.restartPolicy", NotSupported)],
            ),
        ];
        for (name, mutate, want) in table {
            let mut rc = valid_rc();
            mutate(&mut rc);
            assert_causes(name, &rc.validate(), want);
        }
        // A replication controller's selector may change.
        let old = valid_rc();
        let mut new = old.clone();
        new.spec.selector.insert("tier".into(), "front".into());
        if let Some(t) = new.spec.template.as_mut() {
            t.metadata.labels.insert("tier".into(), "front".into());
        }
        assert_causes("selector change", &new.validate_update(&old), &[]);
    }

    #[test]
    fn scale_table() {
        let mut s = Scale::new("web");
        s.spec.replicas = 3;
        assert_causes("valid", &s.validate(), &[]);
        s.spec.replicas = -1;
        assert_causes("negative", &s.validate(), &[("spec.replicas", Invalid)]);
    }
}
