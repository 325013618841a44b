//! The scheduling fields of a pod spec that are about other pods and gates: pod affinity
//! and anti-affinity terms, topology spread constraints, scheduling and readiness
//! gates, and the fields Rudder refuses because nothing on its nodes honours them
//! (dynamic resource claims, pod-level resources).

use std::collections::BTreeSet;

use rudder_protocol::resources::{
    LabelSelector, PodAffinityTerm, PodSpec, TopologySpreadConstraint,
    UnsatisfiableConstraintAction, WeightedPodAffinityTerm,
};

use super::meta::validate_label_selector;
use super::names::{is_dns1123_label, is_dns1123_subdomain, is_qualified_name};
use super::{FieldCause, FieldPath};

/// Why Rudder refuses dynamic resource allocation.
const NO_DRA: &str =
    "dynamic resource allocation is not supported by Rudder (it serves no resource.k8s.io API)";

fn validate_match_label_keys(
    keys: &[String],
    other: &[String],
    other_field: &str,
    selector: Option<&LabelSelector>,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    if keys.is_empty() {
        return;
    }
    let Some(selector) = selector else {
        errs.push(FieldCause::forbidden(
            path,
            "must not be specified when labelSelector is not set",
        ));
        return;
    };
    let in_selector: BTreeSet<&str> = selector
        .match_labels
        .keys()
        .map(String::as_str)
        .chain(selector.match_expressions.iter().map(|r| r.key.as_str()))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        let kpath = path.index(i);
        for msg in is_qualified_name(key) {
            errs.push(FieldCause::invalid(&kpath, key.as_str(), &msg));
        }
        if other.contains(key) {
            errs.push(FieldCause::invalid(
                &kpath,
                key.as_str(),
                &format!("exists in both matchLabelKeys and {other_field}"),
            ));
        }
        if in_selector.contains(key.as_str()) {
            errs.push(FieldCause::invalid(
                &kpath,
                key.as_str(),
                "exists in both matchLabelKeys and labelSelector",
            ));
        }
    }
}

fn validate_topology_key(key: &str, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if key.is_empty() {
        errs.push(FieldCause::required(path, "can not be empty"));
    } else {
        for msg in is_qualified_name(key) {
            errs.push(FieldCause::invalid(path, key, &msg));
        }
    }
}

fn validate_affinity_term(term: &PodAffinityTerm, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if let Some(sel) = &term.label_selector {
        errs.extend(validate_label_selector(sel, &path.child("labelSelector")));
    }
    if let Some(sel) = &term.namespace_selector {
        errs.extend(validate_label_selector(
            sel,
            &path.child("namespaceSelector"),
        ));
    }
    for (i, ns) in term.namespaces.iter().enumerate() {
        for msg in is_dns1123_label(ns) {
            errs.push(FieldCause::invalid(
                &path.child("namespaces").index(i),
                ns.as_str(),
                &msg,
            ));
        }
    }
    validate_topology_key(&term.topology_key, &path.child("topologyKey"), errs);
    validate_match_label_keys(
        &term.match_label_keys,
        &term.mismatch_label_keys,
        "mismatchLabelKeys",
        term.label_selector.as_ref(),
        &path.child("matchLabelKeys"),
        errs,
    );
    validate_match_label_keys(
        &term.mismatch_label_keys,
        &[],
        "matchLabelKeys",
        term.label_selector.as_ref(),
        &path.child("mismatchLabelKeys"),
        errs,
    );
}

fn validate_affinity_terms(
    required: &[PodAffinityTerm],
    preferred: &[WeightedPodAffinityTerm],
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    let rpath = path.child("requiredDuringSchedulingIgnoredDuringExecution");
    for (i, term) in required.iter().enumerate() {
        validate_affinity_term(term, &rpath.index(i), errs);
    }
    let ppath = path.child("preferredDuringSchedulingIgnoredDuringExecution");
    for (i, w) in preferred.iter().enumerate() {
        let wpath = ppath.index(i);
        if !(1..=100).contains(&w.weight) {
            errs.push(FieldCause::invalid(
                &wpath.child("weight"),
                w.weight,
                "must be in the range 1-100",
            ));
        }
        validate_affinity_term(&w.pod_affinity_term, &wpath.child("podAffinityTerm"), errs);
    }
}

fn validate_spread(
    constraints: &[TopologySpreadConstraint],
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    let mut seen = BTreeSet::new();
    for (i, c) in constraints.iter().enumerate() {
        let cpath = path.index(i);
        if c.max_skew <= 0 {
            errs.push(FieldCause::invalid(
                &cpath.child("maxSkew"),
                c.max_skew,
                "must be greater than zero",
            ));
        }
        validate_topology_key(&c.topology_key, &cpath.child("topologyKey"), errs);
        if let Some(min) = c.min_domains {
            if min <= 0 {
                errs.push(FieldCause::invalid(
                    &cpath.child("minDomains"),
                    min,
                    "must be greater than zero",
                ));
            }
            if c.when_unsatisfiable != UnsatisfiableConstraintAction::DoNotSchedule {
                errs.push(FieldCause::invalid(
                    &cpath.child("minDomains"),
                    min,
                    &format!(
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {}",
                        c.when_unsatisfiable.as_str()
                    ),
                ));
            }
        }
        if !seen.insert((c.topology_key.as_str(), c.when_unsatisfiable)) {
            errs.push(FieldCause::duplicate(
                &cpath.child("{topologyKey, whenUnsatisfiable}"),
                format!("{{{}, {}}}", c.topology_key, c.when_unsatisfiable.as_str()).as_str(),
            ));
        }
        if let Some(sel) = &c.label_selector {
            errs.extend(validate_label_selector(sel, &cpath.child("labelSelector")));
        }
        validate_match_label_keys(
            &c.match_label_keys,
            &[],
            "labelSelector",
            c.label_selector.as_ref(),
            &cpath.child("matchLabelKeys"),
            errs,
        );
    }
}

/// The rules of the scheduling fields of `spec` at `path`.
pub(super) fn validate_pod_scheduling(
    spec: &PodSpec,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    if let Some(affinity) = &spec.affinity {
        let apath = path.child("affinity");
        if let Some(a) = &affinity.pod_affinity {
            validate_affinity_terms(
                &a.required_during_scheduling_ignored_during_execution,
                &a.preferred_during_scheduling_ignored_during_execution,
                &apath.child("podAffinity"),
                errs,
            );
        }
        if let Some(a) = &affinity.pod_anti_affinity {
            validate_affinity_terms(
                &a.required_during_scheduling_ignored_during_execution,
                &a.preferred_during_scheduling_ignored_during_execution,
                &apath.child("podAntiAffinity"),
                errs,
            );
        }
    }
    validate_spread(
        &spec.topology_spread_constraints,
        &path.child("topologySpreadConstraints"),
        errs,
    );
    let mut gates = BTreeSet::new();
    for (i, g) in spec.scheduling_gates.iter().enumerate() {
        let gpath = path.child("schedulingGates").index(i);
        for msg in is_qualified_name(&g.name) {
            errs.push(FieldCause::invalid(&gpath, g.name.as_str(), &msg));
        }
        if !gates.insert(g.name.as_str()) {
            errs.push(FieldCause::duplicate(&gpath, g.name.as_str()));
        }
    }
    for (i, g) in spec.readiness_gates.iter().enumerate() {
        let gpath = path.child("readinessGates").index(i).child("conditionType");
        for msg in is_qualified_name(&g.condition_type) {
            errs.push(FieldCause::invalid(&gpath, g.condition_type.as_str(), &msg));
        }
    }
    if let Some(rc) = spec.runtime_class_name.as_deref() {
        for msg in is_dns1123_subdomain(rc) {
            errs.push(FieldCause::invalid(
                &path.child("runtimeClassName"),
                rc,
                &msg,
            ));
        }
    }
    if !spec.resource_claims.is_empty() {
        errs.push(FieldCause::forbidden(&path.child("resourceClaims"), NO_DRA));
    }
    for (field, containers) in [
        ("containers", &spec.containers),
        ("initContainers", &spec.init_containers),
    ] {
        for (i, c) in containers.iter().enumerate() {
            if !c.resources.claims.is_empty() {
                errs.push(FieldCause::forbidden(
                    &path
                        .child(field)
                        .index(i)
                        .child("resources")
                        .child("claims"),
                    NO_DRA,
                ));
            }
        }
    }
    if spec.resources.is_some() {
        errs.push(FieldCause::forbidden(
            &path.child("resources"),
            "pod-level resources are not supported by Rudder's kubelet; set resources on each container",
        ));
    }
    if spec.hostname_override.is_some() {
        errs.push(FieldCause::forbidden(
            &path.child("hostnameOverride"),
            "the HostnameOverride feature (alpha in Kubernetes 1.34) is not supported",
        ));
    }
}

/// On update: scheduling gates may only be removed.
pub(super) fn validate_scheduling_gates_update(
    new: &PodSpec,
    old: &PodSpec,
    path: &FieldPath,
    errs: &mut Vec<FieldCause>,
) {
    for g in &new.scheduling_gates {
        if !old.scheduling_gates.iter().any(|o| o.name == g.name) {
            errs.push(FieldCause::forbidden(
                &path.child("schedulingGates"),
                &format!(
                    "only deletion is allowed, but found new scheduling gate '{}'",
                    g.name
                ),
            ));
        }
    }
}
