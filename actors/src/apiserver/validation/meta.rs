//! Metadata rules every kind shares: the name (by the kind's [`NameRule`]),
//! `generateName`, labels, annotations, owner references and finalizers on create; the
//! fields that never change on update; and the syntax of a [`LabelSelector`].

use std::collections::BTreeMap;

use rudder_protocol::resources::{
    LabelSelector, LabelSelectorOperator, ObjectMeta, OwnerReference, Time,
};

use super::names::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_label_value, is_qualified_name,
};
use super::{BadValue, FieldCause, FieldPath, IMMUTABLE};

/// The most bytes all annotations of an object may hold together (keys and values).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Finalizers without a `/` that Kubernetes itself defines (the last one the API server
/// puts on every CustomResourceDefinition, to remove its custom resources first).
const STANDARD_FINALIZERS: &[&str] = &[
    "kubernetes",
    "orphan",
    "foregroundDeletion",
    "customresourcecleanup.apiextensions.k8s.io",
];

/// Which format a kind's names must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// `example.com`: most kinds.
    Dns1123Subdomain,
    /// `my-name`: namespaces.
    Dns1123Label,
    /// `my-name`, starting with a letter: services.
    Dns1035Label,
    /// Any name that fits in a URL path segment (`system:kube-scheduler`): RBAC roles
    /// and bindings (Kubernetes' `ValidatePathSegmentName`).
    PathSegment,
}

/// Kubernetes' `IsValidPathSegmentName`: not `.` or `..`, no `/` or `%`.
fn is_path_segment_name(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|bad| name.contains(*bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

impl NameRule {
    /// The problems with `name`; with `prefix`, `name` is a `generateName`, whose
    /// trailing dash is allowed because random characters follow it.
    pub fn check(&self, name: &str, prefix: bool) -> Vec<String> {
        // Kubernetes' maskTrailingDash: check `web-` as if it were `weba`.
        let masked;
        let name = match name.strip_suffix('-') {
            Some(stem) if prefix && !stem.is_empty() => {
                masked = format!("{stem}a");
                masked.as_str()
            }
            _ => name,
        };
        match self {
            NameRule::Dns1123Subdomain => is_dns1123_subdomain(name),
            NameRule::Dns1123Label => is_dns1123_label(name),
            NameRule::Dns1035Label => is_dns1035_label(name),
            NameRule::PathSegment => is_path_segment_name(name),
        }
    }
}

/// The create rules of `metadata` for a kind whose names follow `rule`. Namespace
/// presence is the apiserver's concern and is not checked here.
pub fn validate_object_meta(meta: &ObjectMeta, rule: NameRule) -> Vec<FieldCause> {
    let path = FieldPath::new("metadata");
    let mut errs = Vec::new();
    if !meta.generate_name.is_empty() {
        for msg in rule.check(&meta.generate_name, true) {
            errs.push(FieldCause::invalid(
                &path.child("generateName"),
                &meta.generate_name,
                &msg,
            ));
        }
    }
    if meta.name.is_empty() {
        if meta.generate_name.is_empty() {
            errs.push(FieldCause::required(
                &path.child("name"),
                "name or generateName is required",
            ));
        }
    } else {
        for msg in rule.check(&meta.name, false) {
            errs.push(FieldCause::invalid(&path.child("name"), &meta.name, &msg));
        }
    }
    errs.extend(validate_labels(&meta.labels, &path.child("labels")));
    errs.extend(validate_annotations(
        &meta.annotations,
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        &meta.owner_references,
        &path.child("ownerReferences"),
    ));
    errs.extend(validate_finalizers(
        &meta.finalizers,
        &path.child("finalizers"),
    ));
    errs
}

/// Label keys must be qualified names and values label values; every problem is
/// reported at `path` itself, as Kubernetes does.
pub fn validate_labels(labels: &BTreeMap<String, String>, path: &FieldPath) -> Vec<FieldCause> {
    let mut errs = Vec::new();
    for (key, value) in labels {
        for msg in is_qualified_name(key) {
            errs.push(FieldCause::invalid(path, key, &msg));
        }
        for msg in is_label_value(value) {
            errs.push(FieldCause::invalid(path, value, &msg));
        }
    }
    errs
}

/// Annotation keys must be qualified names (in any case), and all annotations together
/// may hold at most [`TOTAL_ANNOTATION_SIZE_LIMIT`] bytes.
pub fn validate_annotations(
    annotations: &BTreeMap<String, String>,
    path: &FieldPath,
) -> Vec<FieldCause> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (key, value) in annotations {
        for msg in is_qualified_name(&key.to_lowercase()) {
            errs.push(FieldCause::invalid(path, key, &msg));
        }
        total = total.saturating_add(key.len()).saturating_add(value.len());
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldCause::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

fn validate_owner_references(refs: &[OwnerReference], path: &FieldPath) -> Vec<FieldCause> {
    let mut errs = Vec::new();
    let mut controller: Option<String> = None;
    for r in refs {
        // The version is what follows the last '/' (or the whole string for core).
        let version = r.api_version.rsplit('/').next().unwrap_or_default();
        if version.is_empty() {
            errs.push(FieldCause::invalid(
                &path.child("apiVersion"),
                &r.api_version,
                "version must not be empty",
            ));
        }
        for (field, value) in [("kind", &r.kind), ("name", &r.name), ("uid", &r.uid)] {
            if value.is_empty() {
                errs.push(FieldCause::invalid(
                    &path.child(field),
                    value,
                    "must not be empty",
                ));
            }
        }
        if r.api_version == "v1" && r.kind == "Event" {
            errs.push(FieldCause::invalid(
                path,
                BadValue::Raw(format!("{}/{}", r.kind, r.name)),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.controller == Some(true) {
            let this = format!("{}/{}", r.kind, r.name);
            match &controller {
                Some(first) => errs.push(FieldCause::invalid(
                    path,
                    BadValue::Raw(format!("{} references", refs.len())),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {this}"
                    ),
                )),
                None => controller = Some(this),
            }
        }
    }
    errs
}

fn validate_finalizers(finalizers: &[String], path: &FieldPath) -> Vec<FieldCause> {
    let mut errs = Vec::new();
    for f in finalizers {
        let msgs = is_qualified_name(f);
        let qualified_ok = msgs.is_empty();
        for msg in msgs {
            errs.push(FieldCause::invalid(path, f, &msg));
        }
        if qualified_ok && !f.contains('/') && !STANDARD_FINALIZERS.contains(&f.as_str()) {
            errs.push(FieldCause::invalid(
                path,
                f,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    let has = |name: &str| finalizers.iter().any(|f| f == name);
    if has("orphan") && has("foregroundDeletion") {
        errs.push(FieldCause::invalid(
            path,
            BadValue::Raw(format!("{finalizers:?}")),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

fn time_value(t: Option<Time>) -> BadValue {
    t.map_or(BadValue::Null, |t| BadValue::Raw(t.to_string()))
}

/// The update rules of `metadata`: name, namespace, uid, creation and deletion stamps
/// never change, and no finalizer may be added once deletion has begun. The new
/// metadata's create rules are checked by [`validate_object_meta`].
pub fn validate_object_meta_update(new: &ObjectMeta, old: &ObjectMeta) -> Vec<FieldCause> {
    let path = FieldPath::new("metadata");
    let mut errs = Vec::new();
    if old.deletion_timestamp.is_some() {
        let added: Vec<&String> = new
            .finalizers
            .iter()
            .filter(|f| !old.finalizers.contains(f))
            .collect();
        if !added.is_empty() {
            errs.push(FieldCause::forbidden(
                &path.child("finalizers"),
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                ),
            ));
        }
    }
    for (field, new_value, old_value) in [
        ("name", &new.name, &old.name),
        ("namespace", &new.namespace, &old.namespace),
        ("uid", &new.uid, &old.uid),
    ] {
        if new_value != old_value {
            errs.push(FieldCause::invalid(
                &path.child(field),
                new_value,
                IMMUTABLE,
            ));
        }
    }
    if new.creation_timestamp != old.creation_timestamp {
        errs.push(FieldCause::invalid(
            &path.child("creationTimestamp"),
            time_value(new.creation_timestamp),
            IMMUTABLE,
        ));
    }
    if new.deletion_timestamp != old.deletion_timestamp {
        errs.push(FieldCause::invalid(
            &path.child("deletionTimestamp"),
            time_value(new.deletion_timestamp),
            IMMUTABLE,
        ));
    }
    if new.deletion_grace_period_seconds != old.deletion_grace_period_seconds {
        errs.push(FieldCause::invalid(
            &path.child("deletionGracePeriodSeconds"),
            new.deletion_grace_period_seconds,
            IMMUTABLE,
        ));
    }
    errs
}

/// The syntax of a label selector at `path`: valid keys and values, values present
/// exactly for `In` and `NotIn`. Whether an empty selector is acceptable is the caller's
/// decision.
pub fn validate_label_selector(selector: &LabelSelector, path: &FieldPath) -> Vec<FieldCause> {
    let mut errs = validate_labels(&selector.match_labels, &path.child("matchLabels"));
    for (i, req) in selector.match_expressions.iter().enumerate() {
        let rpath = path.child("matchExpressions").index(i);
        match req.operator {
            LabelSelectorOperator::In | LabelSelectorOperator::NotIn => {
                if req.values.is_empty() {
                    errs.push(FieldCause::required(
                        &rpath.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            LabelSelectorOperator::Exists | LabelSelectorOperator::DoesNotExist => {
                if !req.values.is_empty() {
                    errs.push(FieldCause::forbidden(
                        &rpath.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
        }
        for msg in is_qualified_name(&req.key) {
            errs.push(FieldCause::invalid(&rpath.child("key"), &req.key, &msg));
        }
        for (j, value) in req.values.iter().enumerate() {
            for msg in is_label_value(value) {
                errs.push(FieldCause::invalid(
                    &rpath.child("values").index(j),
                    value,
                    &msg,
                ));
            }
        }
    }
    errs
}

/// A map printed as Go prints `map[string]string` with `%#v`, for messages.
pub(crate) fn go_map(map: &BTreeMap<String, String>) -> BadValue {
    let entries: Vec<String> = map.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    BadValue::Raw(format!("map[string]string{{{}}}", entries.join(", ")))
}

#[cfg(test)]
mod tests {
    use rudder_protocol::resources::LabelSelectorRequirement;

    use super::super::testutil::assert_causes;
    use super::super::CauseReason::{self, *};
    use super::*;

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta {
            name: name.to_owned(),
            namespace: "default".to_owned(),
            ..ObjectMeta::default()
        }
    }

    type MetaCase = (
        &'static str,
        NameRule,
        fn(&mut ObjectMeta),
        &'static [(&'static str, CauseReason)],
    );

    #[test]
    fn object_meta_table() {
        let table: &[MetaCase] = &[
            ("valid", NameRule::Dns1123Subdomain, |_| {}, &[]),
            (
                "dotted subdomain",
                NameRule::Dns1123Subdomain,
                |m| m.name = "a.b".into(),
                &[],
            ),
            (
                "bad subdomain",
                NameRule::Dns1123Subdomain,
                |m| m.name = "Foo_Bar".into(),
                &[("metadata.name", Invalid)],
            ),
            (
                "dots in a label name",
                NameRule::Dns1123Label,
                |m| m.name = "a.b".into(),
                &[("metadata.name", Invalid)],
            ),
            (
                "digit first in a DNS-1035 name",
                NameRule::Dns1035Label,
                |m| m.name = "1web".into(),
                &[("metadata.name", Invalid)],
            ),
            (
                "no name",
                NameRule::Dns1123Subdomain,
                |m| m.name.clear(),
                &[("metadata.name", Required)],
            ),
            (
                "generateName only",
                NameRule::Dns1123Subdomain,
                |m| {
                    m.name.clear();
                    m.generate_name = "web-".into();
                },
                &[],
            ),
            (
                "bad generateName",
                NameRule::Dns1123Subdomain,
                |m| m.generate_name = "Web-".into(),
                &[("metadata.generateName", Invalid)],
            ),
            (
                "generateName of a single dash",
                NameRule::Dns1123Label,
                |m| m.generate_name = "-".into(),
                &[("metadata.generateName", Invalid)],
            ),
            (
                "good labels",
                NameRule::Dns1123Subdomain,
                |m| {
                    m.labels
                        .insert("app.kubernetes.io/name".into(), "web".into());
                    m.labels.insert("empty".into(), String::new());
                },
                &[],
            ),
            (
                "bad label key",
                NameRule::Dns1123Subdomain,
                |m| {
                    m.labels.insert("bad key".into(), "v".into());
                },
                &[("metadata.labels", Invalid)],
            ),
            (
                "bad label value",
                NameRule::Dns1123Subdomain,
                |m| {
                    m.labels.insert("k".into(), "a/b".into());
                },
                &[("metadata.labels", Invalid)],
            ),
            (
                "long label value",
                NameRule::Dns1123Subdomain,
                |m| {
                    m.labels.insert("k".into(), "a".repeat(64));
                },
                &[("metadata.labels", Invalid)],
            ),
            (
                "upper-case annotation key is fine",
                NameRule::Dns1123Subdomain,
                |m| {
                    m.annotations
                        .insert("Example.COM/Note".into(), "anything at all / ok".into());
                },
                &[],
            ),
            (
                "bad annotation key",
                NameRule::Dns1123Subdomain,
                |m| {
                    m.annotations.insert("a/b/c".into(), String::new());
                },
                &[("metadata.annotations", Invalid)],
            ),
            (
                "annotations too large",
                NameRule::Dns1123Subdomain,
                |m| {
                    m.annotations
                        .insert("big".into(), "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT));
                },
                &[("metadata.annotations", TooLong)],
            ),
            (
                "owner reference without uid",
                NameRule::Dns1123Subdomain,
                |m| {
                    m.owner_references.push(OwnerReference {
                        api_version: "apps/v1".into(),
                        kind: "ReplicaSet".into(),
                        name: "web".into(),
                        ..OwnerReference::default()
                    });
                },
                &[("metadata.ownerReferences.uid", Invalid)],
            ),
            (
                "two controllers",
                NameRule::Dns1123Subdomain,
                |m| {
                    for name in ["a", "b"] {
                        m.owner_references.push(OwnerReference {
                            api_version: "apps/v1".into(),
                            kind: "ReplicaSet".into(),
                            name: name.into(),
                            uid: name.into(),
                            controller: Some(true),
                            block_owner_deletion: None,
                        });
                    }
                },
                &[("metadata.ownerReferences", Invalid)],
            ),
            (
                "standard and qualified finalizers",
                NameRule::Dns1123Subdomain,
                |m| m.finalizers = vec!["kubernetes".into(), "example.com/cleanup".into()],
                &[],
            ),
            (
                "unqualified finalizer",
                NameRule::Dns1123Subdomain,
                |m| m.finalizers = vec!["cleanup".into()],
                &[("metadata.finalizers", Invalid)],
            ),
            (
                "orphan and foreground",
                NameRule::Dns1123Subdomain,
                |m| m.finalizers = vec!["orphan".into(), "foregroundDeletion".into()],
                &[("metadata.finalizers", Invalid)],
            ),
        ];
        for (name, rule, mutate, want) in table {
            let mut m = meta("web");
            mutate(&mut m);
            assert_causes(name, &validate_object_meta(&m, *rule), want);
        }
    }

    #[test]
    fn name_message_is_kubernetes_wording() {
        let causes = validate_object_meta(&meta("Foo_Bar"), NameRule::Dns1123Subdomain);
        assert_eq!(causes.len(), 1);
        assert!(
            causes[0].message.starts_with(
                "Invalid value: \"Foo_Bar\": a lowercase RFC 1123 subdomain must consist of"
            ),
            "{}",
            causes[0].message
        );
        let causes = validate_object_meta(&meta(""), NameRule::Dns1123Subdomain);
        assert_eq!(
            causes[0].message,
            "Required value: name or generateName is required"
        );
    }

    #[test]
    fn object_meta_update_table() {
        type UpdateCase = (
            &'static str,
            fn(&mut ObjectMeta, &mut ObjectMeta),
            &'static [(&'static str, CauseReason)],
        );
        let table: &[UpdateCase] = &[
            ("unchanged", |_, _| {}, &[]),
            (
                "labels may change",
                |new, _| {
                    new.labels.insert("a".into(), "b".into());
                },
                &[],
            ),
            (
                "name",
                |new, _| new.name = "other".into(),
                &[("metadata.name", Invalid)],
            ),
            (
                "namespace",
                |new, _| new.namespace = "other".into(),
                &[("metadata.namespace", Invalid)],
            ),
            (
                "uid",
                |new, _| new.uid = "u-2".into(),
                &[("metadata.uid", Invalid)],
            ),
            (
                "creationTimestamp",
                |new, _| new.creation_timestamp = Some(Time(5)),
                &[("metadata.creationTimestamp", Invalid)],
            ),
            (
                "deletionTimestamp",
                |new, _| new.deletion_timestamp = Some(Time(5)),
                &[("metadata.deletionTimestamp", Invalid)],
            ),
            (
                "finalizer added while deleting",
                |new, old| {
                    old.deletion_timestamp = Some(Time(9));
                    new.deletion_timestamp = Some(Time(9));
                    new.finalizers.push("example.com/x".into());
                },
                &[("metadata.finalizers", Forbidden)],
            ),
            (
                "finalizer removed while deleting",
                |new, old| {
                    old.deletion_timestamp = Some(Time(9));
                    new.deletion_timestamp = Some(Time(9));
                    old.finalizers.push("example.com/x".into());
                },
                &[],
            ),
        ];
        for (name, mutate, want) in table {
            let mut old = meta("web");
            old.uid = "u-1".into();
            old.creation_timestamp = Some(Time(1));
            let mut new = old.clone();
            mutate(&mut new, &mut old);
            assert_causes(name, &validate_object_meta_update(&new, &old), want);
        }
        let causes = validate_object_meta_update(
            &ObjectMeta {
                name: "b".into(),
                ..ObjectMeta::default()
            },
            &meta("a"),
        );
        assert!(causes
            .iter()
            .any(|c| c.message == "Invalid value: \"b\": field is immutable"));
    }

    #[test]
    fn label_selector_table() {
        let req = |key: &str, operator, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        };
        use LabelSelectorOperator as Op;
        type SelectorCase<'a> = (&'a str, LabelSelector, &'a [(&'a str, CauseReason)]);
        let table: Vec<SelectorCase> = vec![
            ("empty", LabelSelector::default(), &[]),
            (
                "match labels",
                LabelSelector {
                    match_labels: [("app".to_owned(), "web".to_owned())].into(),
                    ..LabelSelector::default()
                },
                &[],
            ),
            (
                "bad match label",
                LabelSelector {
                    match_labels: [("app".to_owned(), "-web".to_owned())].into(),
                    ..LabelSelector::default()
                },
                &[("spec.selector.matchLabels", Invalid)],
            ),
            (
                "in without values",
                LabelSelector {
                    match_expressions: vec![req("tier", Op::In, &[])],
                    ..LabelSelector::default()
                },
                &[("spec.selector.matchExpressions[0].values", Required)],
            ),
            (
                "exists with values",
                LabelSelector {
                    match_expressions: vec![req("tier", Op::Exists, &["x"])],
                    ..LabelSelector::default()
                },
                &[("spec.selector.matchExpressions[0].values", Forbidden)],
            ),
            (
                "bad key and value",
                LabelSelector {
                    match_expressions: vec![req("a b", Op::NotIn, &["ok", "not ok"])],
                    ..LabelSelector::default()
                },
                &[
                    ("spec.selector.matchExpressions[0].key", Invalid),
                    ("spec.selector.matchExpressions[0].values[1]", Invalid),
                ],
            ),
        ];
        let path = FieldPath::new("spec").child("selector");
        for (name, selector, want) in table {
            assert_causes(name, &validate_label_selector(&selector, &path), want);
        }
    }

    #[test]
    fn go_map_rendering() {
        let m: BTreeMap<String, String> = [
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ]
        .into();
        assert_eq!(
            go_map(&m),
            BadValue::Raw("map[string]string{\"a\":\"1\", \"b\":\"2\"}".into())
        );
    }
}
