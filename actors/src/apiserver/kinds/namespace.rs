//! Namespaces (`core/v1`, cluster-scoped): the namespace controller's finalizer set on
//! create, `default`, `kube-system` and `kube-public` never deleted (NamespaceLifecycle
//! admission; its create half is `ApiCore::check_namespace`), termination (phase `Terminating` until the controller has emptied it and
//! cleared `spec.finalizers`), the `kubernetes.io/metadata.name` label, the `status.phase`
//! field selector and the printer.

use rudder_protocol::resources::{Namespace, Time};
use serde_json::{json, Value};

use super::super::defaults::NAMESPACE_FINALIZER;
use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::{field, Admission, Deletion, SelectableField, Strategy};

/// The label every namespace carries with its own name, so that selectors (a
/// NetworkPolicy's `namespaceSelector`, PodSecurity exemptions) can name namespaces.
pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";

impl Strategy for Namespace {
    const VALIDATION: &'static [super::super::admission::Validator] =
        &[super::super::podsecurity::namespace];
    const FIELDS: &'static [SelectableField] = &[field("status.phase")];
    const COLUMNS: &'static [Column] = NAMESPACE_COLUMNS;

    fn cells(&self, now: Time) -> Row {
        Row::new(namespace_cells(self, now))
    }

    /// The namespace controller's finalizer, set on create only (Kubernetes' namespace
    /// strategy), so that the controller can remove it later.
    fn prepare_create(ns: &mut Namespace, _admission: &Admission) {
        if ns.spec.finalizers.is_empty() {
            ns.spec.finalizers = vec![NAMESPACE_FINALIZER.to_owned()];
        }
        ns.metadata
            .labels
            .insert(NAME_LABEL.to_owned(), ns.metadata.name.clone());
    }

    /// The name label stays true whatever an update sends (Kubernetes' strategy sets
    /// it on every write).
    fn prepare_update(new: &mut Value, _old: &Value) {
        let name = new["metadata"]["name"].clone();
        if !new["metadata"]["labels"].is_object() {
            new["metadata"]["labels"] = json!({});
        }
        new["metadata"]["labels"][NAME_LABEL] = name;
    }

    /// NamespaceLifecycle admission: the namespaces every cluster relies on stay.
    fn delete_refused(name: &str) -> Option<&'static str> {
        use rudder_protocol::names::namespaces;
        [
            namespaces::DEFAULT,
            namespaces::KUBE_SYSTEM,
            namespaces::KUBE_PUBLIC,
        ]
        .contains(&name)
        .then_some("this namespace may not be deleted")
    }

    fn deletion(_old: &Namespace, _grace: i64) -> Deletion {
        Deletion::WhenEmpty
    }

    fn mark_terminating(obj: &mut Value) {
        obj["status"]["phase"] = json!("Terminating");
    }

    /// A namespace also waits for its own `spec.finalizers` (the namespace controller).
    fn finalizers_pending(obj: &Value) -> bool {
        obj.pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
    }

    fn example(_namespace: &str) -> Value {
        json!({})
    }
}

const NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the namespace"),
    AGE,
];

fn namespace_cells(ns: &Namespace, now: Time) -> Vec<Value> {
    vec![
        json!(ns.metadata.name),
        json!(ns.status.phase.map(|p| p.as_str()).unwrap_or("")),
        json!(since(ns.metadata.creation_timestamp, now)),
    ]
}
