//! StatefulSets (`apps/v1`), as Kubernetes' `ValidateStatefulSet` and
//! `ValidateStatefulSetUpdate` check them: the controller rules every `apps/v1` workload
//! shares (selector, template), the pod management and update strategies, the claim
//! templates, and the short list of spec fields an update may change.

use std::collections::BTreeSet;

use rudder_protocol::resources::{
    IntOrString, PersistentVolumeClaimVolumeSource, PodManagementPolicyType, StatefulSet,
    StatefulSetSpec, StatefulSetUpdateStrategyType, Volume,
};

use super::meta::{validate_object_meta, validate_object_meta_update, NameRule};
use super::names::{is_dns1123_label, is_dns1123_subdomain, is_valid_percent};
use super::workloads::{
    budget_value, non_negative, selector_immutable, validate_apps_selector, validate_budget,
    validate_controller_template,
};
use super::{FieldCause, FieldPath, Validate};

/// Kubernetes' message for an update that touches a spec field it may not.
pub const FORBIDDEN_UPDATE: &str = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

impl Validate for StatefulSet {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        validate_spec(&self.spec, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        selector_immutable(&self.spec.selector, &old.spec.selector, &mut errs);
        if immutable_part(&self.spec) != immutable_part(&old.spec) {
            errs.push(FieldCause::forbidden(
                &FieldPath::new("spec"),
                FORBIDDEN_UPDATE,
            ));
        }
        errs
    }
}

/// The spec without the fields an update may change (and without the selector, which
/// has its own message).
fn immutable_part(spec: &StatefulSetSpec) -> StatefulSetSpec {
    StatefulSetSpec {
        replicas: None,
        ordinals: None,
        template: Default::default(),
        update_strategy: Default::default(),
        revision_history_limit: None,
        persistent_volume_claim_retention_policy: None,
        min_ready_seconds: 0,
        selector: Default::default(),
        ..spec.clone()
    }
}

fn validate_spec(spec: &StatefulSetSpec, errs: &mut Vec<FieldCause>) {
    let path = FieldPath::new("spec");
    match spec.pod_management_policy {
        None => errs.push(FieldCause::required(&path.child("podManagementPolicy"), "")),
        Some(PodManagementPolicyType::OrderedReady | PodManagementPolicyType::Parallel) => {}
    }
    let spath = path.child("updateStrategy");
    match spec.update_strategy.type_ {
        None => errs.push(FieldCause::required(&spath.child("type"), "")),
        Some(StatefulSetUpdateStrategyType::OnDelete) => {
            if spec.update_strategy.rolling_update.is_some() {
                errs.push(FieldCause::invalid(
                    &spath.child("rollingUpdate"),
                    "",
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        Some(StatefulSetUpdateStrategyType::RollingUpdate) => {
            if let Some(ru) = &spec.update_strategy.rolling_update {
                let rpath = spath.child("rollingUpdate");
                non_negative(ru.partition, &rpath.child("partition"), errs);
                if let Some(u) = &ru.max_unavailable {
                    let upath = rpath.child("maxUnavailable");
                    validate_budget(u, &upath, errs);
                    let zero = match u {
                        IntOrString::Int(n) => *n == 0,
                        IntOrString::String(s) => is_valid_percent(s) && budget_value(u) == 0,
                    };
                    if zero {
                        errs.push(FieldCause::invalid(
                            &upath,
                            u.to_string(),
                            "must be greater than 0",
                        ));
                    }
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
            }
        }
    }
    non_negative(spec.replicas, &path.child("replicas"), errs);
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
    if let Some(o) = &spec.ordinals {
        non_negative(Some(o.start), &path.child("ordinals").child("start"), errs);
    }
    if !spec.service_name.is_empty() {
        for msg in is_dns1123_label(&spec.service_name) {
            errs.push(FieldCause::invalid(
                &path.child("serviceName"),
                &spec.service_name,
                &msg,
            ));
        }
    }
    let matches = validate_apps_selector(
        &spec.selector,
        &spec.template.metadata.labels,
        &path.child("selector"),
        errs,
    );
    // Mounts may name claim templates: the pods get a volume for each (Kubernetes
    // checks the template with the union of both in mind).
    let mut template = spec.template.clone();
    for claim in &spec.volume_claim_templates {
        let name = &claim.metadata.name;
        if !name.is_empty() && !template.spec.volumes.iter().any(|v| &v.name == name) {
            template.spec.volumes.push(Volume {
                name: name.clone(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: name.clone(),
                    read_only: false,
                }),
                ..Volume::default()
            });
        }
    }
    validate_controller_template(&template, &path.child("template"), matches, errs);
    let vpath = path.child("volumeClaimTemplates");
    let mut names = BTreeSet::new();
    for (i, t) in spec.volume_claim_templates.iter().enumerate() {
        let npath = vpath.index(i).child("metadata").child("name");
        if t.metadata.name.is_empty() {
            errs.push(FieldCause::required(
                &npath,
                "name or generateName is required",
            ));
            continue;
        }
        for msg in is_dns1123_subdomain(&t.metadata.name) {
            errs.push(FieldCause::invalid(&npath, &t.metadata.name, &msg));
        }
        if !names.insert(t.metadata.name.as_str()) {
            errs.push(FieldCause::duplicate(&npath, &t.metadata.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rudder_protocol::resources::{
        Container, PersistentVolumeClaim, RestartPolicy, RollingUpdateStatefulSetStrategy,
    };

    use super::super::testutil::assert_causes;
    use super::super::CauseReason::{self, *};
    use super::*;
    use crate::apiserver::defaults::Defaults;

    fn valid() -> StatefulSet {
        let mut s = StatefulSet::new("web");
        s.metadata.namespace = "default".into();
        let labels: BTreeMap<String, String> = [("app".to_owned(), "web".to_owned())].into();
        s.spec.selector.match_labels = labels.clone();
        s.spec.service_name = "web".into();
        s.spec.template.metadata.labels = labels;
        s.spec.template.spec.containers.push(Container {
            name: "web".into(),
            image: "nginx:1.25".into(),
            ..Container::default()
        });
        s.spec
            .volume_claim_templates
            .push(PersistentVolumeClaim::new("data"));
        s.apply_defaults();
        s
    }

    type Case = (
        &'static str,
        fn(&mut StatefulSet),
        &'static [(&'static str, CauseReason)],
    );

    #[test]
    fn create_table() {
        let table: &[Case] = &[
            ("valid", |_| {}, &[]),
            ("no service name", |s| s.spec.service_name.clear(), &[]),
            (
                "negative replicas",
                |s| s.spec.replicas = Some(-1),
                &[("spec.replicas", Invalid)],
            ),
            (
                "bad service name",
                |s| s.spec.service_name = "Web_1".into(),
                &[("spec.serviceName", Invalid)],
            ),
            (
                "selector does not match",
                |s| {
                    s.spec
                        .selector
                        .match_labels
                        .insert("app".into(), "db".into());
                },
                &[("spec.template.metadata.labels", Invalid)],
            ),
            (
                "restart policy Never",
                |s| s.spec.template.spec.restart_policy = Some(RestartPolicy::Never),
                &[("spec.template.spec.restartPolicy", NotSupported)],
            ),
            (
                "negative partition",
                |s| {
                    s.spec.update_strategy.rolling_update = Some(RollingUpdateStatefulSetStrategy {
                        partition: Some(-1),
                        max_unavailable: None,
                    })
                },
                &[("spec.updateStrategy.rollingUpdate.partition", Invalid)],
            ),
            (
                "zero maxUnavailable",
                |s| {
                    s.spec.update_strategy.rolling_update = Some(RollingUpdateStatefulSetStrategy {
                        partition: None,
                        max_unavailable: Some(IntOrString::Int(0)),
                    })
                },
                &[("spec.updateStrategy.rollingUpdate.maxUnavailable", Invalid)],
            ),
            (
                "OnDelete with rollingUpdate",
                |s| {
                    s.spec.update_strategy.type_ = Some(StatefulSetUpdateStrategyType::OnDelete);
                    s.spec.update_strategy.rolling_update =
                        Some(RollingUpdateStatefulSetStrategy::default());
                },
                &[("spec.updateStrategy.rollingUpdate", Invalid)],
            ),
            (
                "duplicate claim template",
                |s| {
                    s.spec
                        .volume_claim_templates
                        .push(PersistentVolumeClaim::new("data"))
                },
                &[("spec.volumeClaimTemplates[1].metadata.name", Duplicate)],
            ),
            (
                "a mount of a claim template",
                |s| {
                    s.spec.template.spec.containers[0].volume_mounts.push(
                        rudder_protocol::resources::VolumeMount {
                            name: "data".into(),
                            mount_path: "/data".into(),
                            ..Default::default()
                        },
                    )
                },
                &[],
            ),
            (
                "a mount of nothing",
                |s| {
                    s.spec.template.spec.containers[0].volume_mounts.push(
                        rudder_protocol::resources::VolumeMount {
                            name: "nope".into(),
                            mount_path: "/nope".into(),
                            ..Default::default()
                        },
                    )
                },
                &[(
                    "spec.template.spec.containers[0].volumeMounts[0].name",
                    NotFound,
                )],
            ),
            (
                "negative ordinal start",
                |s| {
                    s.spec.ordinals =
                        Some(rudder_protocol::resources::StatefulSetOrdinals { start: -2 })
                },
                &[("spec.ordinals.start", Invalid)],
            ),
        ];
        for (name, change, want) in table {
            let mut s = valid();
            change(&mut s);
            assert_causes(name, &s.validate(), want);
        }
    }

    #[test]
    fn update_table() {
        let table: &[Case] = &[
            ("replicas", |s| s.spec.replicas = Some(5), &[]),
            (
                "template",
                |s| s.spec.template.spec.containers[0].image = "nginx:1.26".into(),
                &[],
            ),
            (
                "partition",
                |s| {
                    s.spec
                        .update_strategy
                        .rolling_update
                        .get_or_insert_with(Default::default)
                        .partition = Some(2)
                },
                &[],
            ),
            ("min ready", |s| s.spec.min_ready_seconds = 3, &[]),
            (
                "service name",
                |s| s.spec.service_name = "other".into(),
                &[("spec", Forbidden)],
            ),
            (
                "pod management",
                |s| s.spec.pod_management_policy = Some(PodManagementPolicyType::Parallel),
                &[("spec", Forbidden)],
            ),
            (
                "claim templates",
                |s| s.spec.volume_claim_templates.clear(),
                &[("spec", Forbidden)],
            ),
        ];
        for (name, change, want) in table {
            let old = valid();
            let mut new = old.clone();
            change(&mut new);
            assert_causes(name, &new.validate_update(&old), want);
        }
    }
}
