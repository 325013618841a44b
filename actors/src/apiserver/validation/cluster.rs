//! Nodes, namespaces, service accounts, leases and events: mostly names and a few field
//! rules, plus the update rules Kubernetes has for them (a node's pod CIDRs and provider
//! id are set once; an event's subject never changes).

use std::collections::BTreeSet;

use rudder_protocol::resources::{Event, Lease, Namespace, Node, ServiceAccount};

use super::meta::{validate_object_meta, validate_object_meta_update, NameRule};
use super::names::{is_label_value, is_qualified_name, is_valid_cidr};
use super::{BadValue, FieldCause, FieldPath, Validate, IMMUTABLE};

/// Finalizers of a namespace's spec that need no domain prefix.
const STANDARD_NAMESPACE_FINALIZERS: &[&str] = &["kubernetes"];

/// Event types.
const EVENT_TYPES: &[&str] = &["Normal", "Warning"];

impl Validate for Node {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let path = FieldPath::new("spec");
        let spec = &self.spec;
        if !spec.pod_cidr.is_empty() {
            for msg in is_valid_cidr(&spec.pod_cidr) {
                errs.push(FieldCause::invalid(
                    &path.child("podCIDR"),
                    &spec.pod_cidr,
                    &msg,
                ));
            }
        }
        let cpath = path.child("podCIDRs");
        for (i, cidr) in spec.pod_cidrs.iter().enumerate() {
            for msg in is_valid_cidr(cidr) {
                errs.push(FieldCause::invalid(&cpath.index(i), cidr, &msg));
            }
        }
        if spec.pod_cidrs.len() > 2 {
            errs.push(FieldCause::invalid(
                &cpath,
                BadValue::Raw(format!("{:?}", spec.pod_cidrs)),
                "may specify no more than one CIDR for each IP family",
            ));
        }
        if let Some(first) = spec.pod_cidrs.first() {
            if !spec.pod_cidr.is_empty() && *first != spec.pod_cidr {
                errs.push(FieldCause::invalid(
                    &cpath.index(0),
                    first,
                    "must match `podCIDR`",
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for (i, taint) in spec.taints.iter().enumerate() {
            let tpath = path.child("taints").index(i);
            for msg in is_qualified_name(&taint.key) {
                errs.push(FieldCause::invalid(&tpath.child("key"), &taint.key, &msg));
            }
            for msg in is_label_value(&taint.value) {
                errs.push(FieldCause::invalid(
                    &tpath.child("value"),
                    &taint.value,
                    &msg,
                ));
            }
            if !seen.insert((taint.key.as_str(), taint.effect)) {
                let mut dup = FieldCause::duplicate(
                    &tpath,
                    BadValue::Raw(format!("{}={}:{}", taint.key, taint.value, taint.effect)),
                );
                dup.message
                    .push_str(": taints must be unique by key and effect pair");
                errs.push(dup);
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        let path = FieldPath::new("spec");
        if !old.spec.pod_cidr.is_empty() && self.spec.pod_cidr != old.spec.pod_cidr {
            errs.push(FieldCause::forbidden(
                &path.child("podCIDR"),
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        if !old.spec.pod_cidrs.is_empty() && self.spec.pod_cidrs != old.spec.pod_cidrs {
            errs.push(FieldCause::forbidden(
                &path.child("podCIDRs"),
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        if !old.spec.provider_id.is_empty() && self.spec.provider_id != old.spec.provider_id {
            errs.push(FieldCause::forbidden(
                &path.child("providerID"),
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
        errs
    }
}

impl Validate for Namespace {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Label);
        let path = FieldPath::new("spec").child("finalizers");
        for f in &self.spec.finalizers {
            let msgs = is_qualified_name(f);
            let well_formed = msgs.is_empty();
            for msg in msgs {
                errs.push(FieldCause::invalid(&path, f, &msg));
            }
            if well_formed
                && !f.contains('/')
                && !STANDARD_NAMESPACE_FINALIZERS.contains(&f.as_str())
            {
                errs.push(FieldCause::invalid(
                    &path,
                    f,
                    "name is neither a standard finalizer name nor is it fully qualified",
                ));
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

impl Validate for ServiceAccount {
    fn validate(&self) -> Vec<FieldCause> {
        validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain)
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        errs
    }
}

impl Validate for Lease {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let path = FieldPath::new("spec");
        if let Some(d) = self.spec.lease_duration_seconds {
            if d <= 0 {
                errs.push(FieldCause::invalid(
                    &path.child("leaseDurationSeconds"),
                    d,
                    "must be greater than 0",
                ));
            }
        }
        if let Some(t) = self.spec.lease_transitions {
            if t < 0 {
                errs.push(FieldCause::invalid(
                    &path.child("leaseTransitions"),
                    t,
                    "must be greater than or equal to 0",
                ));
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

impl Validate for Event {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let path = FieldPath::new("involvedObject");
        let involved = &self.involved_object;
        if involved.kind.is_empty() {
            errs.push(FieldCause::required(&path.child("kind"), ""));
        }
        if involved.name.is_empty() {
            errs.push(FieldCause::required(&path.child("name"), ""));
        }
        // An event lives in its subject's namespace; events about cluster-scoped objects
        // live in `default` (or nowhere yet, before the apiserver sets it).
        let namespace = self.metadata.namespace.as_str();
        let consistent = if involved.namespace.is_empty() {
            namespace.is_empty() || namespace == "default"
        } else {
            namespace.is_empty() || namespace == involved.namespace
        };
        if !consistent {
            errs.push(FieldCause::invalid(
                &path.child("namespace"),
                &involved.namespace,
                "does not match event.namespace",
            ));
        }
        if !self.type_.is_empty() && !EVENT_TYPES.contains(&self.type_.as_str()) {
            errs.push(FieldCause::not_supported(
                &FieldPath::new("type"),
                &self.type_,
                EVENT_TYPES,
            ));
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        // Recorders bump count, lastTimestamp and message of an existing event; what it
        // is about, and why, never changes.
        if self.involved_object != old.involved_object {
            errs.push(FieldCause::invalid(
                &FieldPath::new("involvedObject"),
                BadValue::Raw(format!(
                    "{}/{}/{}",
                    self.involved_object.kind,
                    self.involved_object.namespace,
                    self.involved_object.name
                )),
                IMMUTABLE,
            ));
        }
        for (field, new, old) in [
            ("reason", &self.reason, &old.reason),
            ("type", &self.type_, &old.type_),
        ] {
            if new != old {
                errs.push(FieldCause::invalid(&FieldPath::new(field), new, IMMUTABLE));
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use rudder_protocol::resources::{NamespaceSpec, ObjectReference, Taint, TaintEffect};

    use super::super::testutil::assert_causes;
    use super::super::CauseReason::{self, *};
    use super::*;

    type NodeCase = (
        &'static str,
        fn(&mut Node),
        &'static [(&'static str, CauseReason)],
    );

    #[test]
    fn node_table() {
        let table: &[NodeCase] = &[
            ("valid", |_| {}, &[]),
            (
                "dotted name",
                |n| n.metadata.name = "node-1.example.com".into(),
                &[],
            ),
            (
                "bad name",
                |n| n.metadata.name = "Node_1".into(),
                &[("metadata.name", Invalid)],
            ),
            (
                "pod CIDRs",
                |n| {
                    n.spec.pod_cidr = "10.244.1.0/24".into();
                    n.spec.pod_cidrs = vec!["10.244.1.0/24".into()];
                },
                &[],
            ),
            (
                "bad pod CIDR",
                |n| n.spec.pod_cidr = "10.244.1.0".into(),
                &[("spec.podCIDR", Invalid)],
            ),
            (
                "pod CIDRs disagree",
                |n| {
                    n.spec.pod_cidr = "10.244.1.0/24".into();
                    n.spec.pod_cidrs = vec!["10.244.2.0/24".into()];
                },
                &[("spec.podCIDRs[0]", Invalid)],
            ),
            (
                "taints",
                |n| {
                    n.spec.taints = vec![
                        Taint {
                            key: "dedicated".into(),
                            value: "gpu".into(),
                            effect: TaintEffect::NoSchedule,
                            time_added: None,
                        },
                        Taint {
                            key: "dedicated".into(),
                            value: "gpu".into(),
                            effect: TaintEffect::NoExecute,
                            time_added: None,
                        },
                    ]
                },
                &[],
            ),
            (
                "duplicate taint",
                |n| {
                    let t = Taint {
                        key: "dedicated".into(),
                        value: "gpu".into(),
                        effect: TaintEffect::NoSchedule,
                        time_added: None,
                    };
                    n.spec.taints = vec![
                        t.clone(),
                        Taint {
                            value: "cpu".into(),
                            ..t
                        },
                    ];
                },
                &[("spec.taints[1]", Duplicate)],
            ),
            (
                "bad taint key and value",
                |n| {
                    n.spec.taints = vec![Taint {
                        key: String::new(),
                        value: "a b".into(),
                        effect: TaintEffect::NoSchedule,
                        time_added: None,
                    }]
                },
                &[
                    ("spec.taints[0].key", Invalid),
                    ("spec.taints[0].key", Invalid),
                    ("spec.taints[0].value", Invalid),
                ],
            ),
        ];
        for (name, mutate, want) in table {
            let mut n = Node::new("node-1");
            mutate(&mut n);
            assert_causes(name, &n.validate(), want);
        }
    }

    #[test]
    fn node_update_table() {
        type Case = (
            &'static str,
            fn(&mut Node, &mut Node),
            &'static [(&'static str, CauseReason)],
        );
        let table: &[Case] = &[
            ("unchanged", |_, _| {}, &[]),
            (
                "pod CIDR assigned",
                |new, _| {
                    new.spec.pod_cidr = "10.244.1.0/24".into();
                    new.spec.pod_cidrs = vec!["10.244.1.0/24".into()];
                },
                &[],
            ),
            (
                "pod CIDR changed",
                |new, old| {
                    old.spec.pod_cidr = "10.244.1.0/24".into();
                    old.spec.pod_cidrs = vec!["10.244.1.0/24".into()];
                    new.spec.pod_cidr = "10.244.2.0/24".into();
                    new.spec.pod_cidrs = vec!["10.244.2.0/24".into()];
                },
                &[("spec.podCIDR", Forbidden), ("spec.podCIDRs", Forbidden)],
            ),
            (
                "provider id changed",
                |new, old| {
                    old.spec.provider_id = "a".into();
                    new.spec.provider_id = "b".into();
                },
                &[("spec.providerID", Forbidden)],
            ),
            ("cordoned", |new, _| new.spec.unschedulable = true, &[]),
        ];
        for (name, mutate, want) in table {
            let mut old = Node::new("node-1");
            let mut new = old.clone();
            mutate(&mut new, &mut old);
            assert_causes(name, &new.validate_update(&old), want);
        }
    }

    #[test]
    fn namespace_table() {
        type Case = (
            &'static str,
            fn(&mut Namespace),
            &'static [(&'static str, CauseReason)],
        );
        let table: &[Case] = &[
            ("valid", |_| {}, &[]),
            (
                "dots are not allowed",
                |n| n.metadata.name = "team.a".into(),
                &[("metadata.name", Invalid)],
            ),
            (
                "finalizers",
                |n| {
                    n.spec = NamespaceSpec {
                        finalizers: vec!["kubernetes".into(), "example.com/x".into()],
                    }
                },
                &[],
            ),
            (
                "unqualified finalizer",
                |n| n.spec.finalizers = vec!["cleanup".into()],
                &[("spec.finalizers", Invalid)],
            ),
        ];
        for (name, mutate, want) in table {
            let mut n = Namespace::new("team-a");
            mutate(&mut n);
            assert_causes(name, &n.validate(), want);
        }
        let old = Namespace::new("team-a");
        let mut new = old.clone();
        new.metadata.labels.insert("env".into(), "prod".into());
        assert_causes("labels", &new.validate_update(&old), &[]);
    }

    #[test]
    fn service_account_and_lease() {
        let sa = ServiceAccount::new("default");
        assert_causes("service account", &sa.validate(), &[]);
        let sa = ServiceAccount::new("Default");
        assert_causes(
            "bad service account",
            &sa.validate(),
            &[("metadata.name", Invalid)],
        );

        type Case = (
            &'static str,
            fn(&mut Lease),
            &'static [(&'static str, CauseReason)],
        );
        let table: &[Case] = &[
            ("valid", |l| l.spec.lease_duration_seconds = Some(40), &[]),
            (
                "zero duration",
                |l| l.spec.lease_duration_seconds = Some(0),
                &[("spec.leaseDurationSeconds", Invalid)],
            ),
            (
                "negative transitions",
                |l| l.spec.lease_transitions = Some(-1),
                &[("spec.leaseTransitions", Invalid)],
            ),
        ];
        for (name, mutate, want) in table {
            let mut l = Lease::new("node-1");
            mutate(&mut l);
            assert_causes(name, &l.validate(), want);
        }
        let old = Lease::new("node-1");
        let mut new = old.clone();
        new.spec.holder_identity = Some("node-1".into());
        assert_causes("renew", &new.validate_update(&old), &[]);
    }

    fn valid_event() -> Event {
        let mut e = Event::new("web.17a");
        e.metadata.namespace = "default".into();
        e.involved_object = ObjectReference {
            kind: "Pod".into(),
            namespace: "default".into(),
            name: "web".into(),
            ..ObjectReference::default()
        };
        e.reason = "Scheduled".into();
        e.type_ = Event::NORMAL.into();
        e
    }

    #[test]
    fn event_table() {
        type Case = (
            &'static str,
            fn(&mut Event),
            &'static [(&'static str, CauseReason)],
        );
        let table: &[Case] = &[
            ("valid", |_| {}, &[]),
            (
                "no involved object",
                |e| e.involved_object = ObjectReference::default(),
                &[
                    ("involvedObject.kind", Required),
                    ("involvedObject.name", Required),
                ],
            ),
            (
                "namespace mismatch",
                |e| e.involved_object.namespace = "other".into(),
                &[("involvedObject.namespace", Invalid)],
            ),
            (
                "cluster-scoped subject in default",
                |e| {
                    e.involved_object.kind = "Node".into();
                    e.involved_object.namespace.clear();
                },
                &[],
            ),
            (
                "cluster-scoped subject elsewhere",
                |e| {
                    e.metadata.namespace = "team-a".into();
                    e.involved_object.namespace.clear();
                },
                &[("involvedObject.namespace", Invalid)],
            ),
            (
                "unknown type",
                |e| e.type_ = "Info".into(),
                &[("type", NotSupported)],
            ),
        ];
        for (name, mutate, want) in table {
            let mut e = valid_event();
            mutate(&mut e);
            assert_causes(name, &e.validate(), want);
        }

        type UpdateCase = (
            &'static str,
            fn(&mut Event),
            &'static [(&'static str, CauseReason)],
        );
        let updates: &[UpdateCase] = &[
            (
                "count and message",
                |e| {
                    e.count = 2;
                    e.message = "again".into();
                },
                &[],
            ),
            (
                "subject",
                |e| e.involved_object.name = "db".into(),
                &[("involvedObject", Invalid)],
            ),
            (
                "reason",
                |e| e.reason = "Pulled".into(),
                &[("reason", Invalid)],
            ),
        ];
        for (name, mutate, want) in updates {
            let old = valid_event();
            let mut new = old.clone();
            mutate(&mut new);
            assert_causes(name, &new.validate_update(&old), want);
        }
    }
}
