//! ClusterRoleBindings (`rbac.authorization.k8s.io/v1`, cluster-scoped): the checks and
//! printer of [`super::rolebinding`], with a ClusterRole as the only role kind and a
//! namespace required on service account subjects.

use rudder_protocol::resources::{ClusterRoleBinding, Time, RBAC_GROUP};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{Column, Row};
use super::super::validation::{
    validate_object_meta, validate_object_meta_update, FieldCause, NameRule, Validate,
};
use super::rolebinding::{
    binding_cells, default_subjects, validate_binding, validate_role_ref_update, BINDING_COLUMNS,
};
use super::Strategy;

impl Strategy for ClusterRoleBinding {
    const COLUMNS: &'static [Column] = BINDING_COLUMNS;

    fn example(_namespace: &str) -> Value {
        json!({
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "view"},
            "subjects": [{"apiGroup": RBAC_GROUP, "kind": "User", "name": "example"}],
        })
    }

    fn cells(&self, now: Time) -> Row {
        binding_cells(
            &self.metadata.name,
            self.metadata.creation_timestamp,
            &self.role_ref,
            &self.subjects,
            now,
        )
    }
}

impl Defaults for ClusterRoleBinding {
    /// Kubernetes defaults a user's or group's `apiGroup`.
    fn apply_defaults(&mut self) {
        default_subjects(&mut self.subjects);
    }
}

impl Validate for ClusterRoleBinding {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::PathSegment);
        errs.extend(validate_binding(
            &self.role_ref,
            &self.subjects,
            &["ClusterRole"],
            false,
        ));
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        errs.extend(validate_role_ref_update(&self.role_ref, &old.role_ref));
        errs
    }
}
