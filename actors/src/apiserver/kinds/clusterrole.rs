//! ClusterRoles (`rbac.authorization.k8s.io/v1`, cluster-scoped): the rule checks of
//! [`super::role`] with non-resource URLs allowed, the aggregation rule's selectors
//! checked, and the same printer (NAME, CREATED AT). An aggregated role's `rules` are
//! kept by the `clusterrole-aggregation` controller.

use rudder_protocol::resources::{ClusterRole, Time};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{Column, Row};
use super::super::validation::{
    validate_object_meta, validate_object_meta_update, FieldCause, FieldPath, NameRule, Validate,
};
use super::role::{role_cells, validate_rules, ROLE_COLUMNS};
use super::Strategy;

impl Strategy for ClusterRole {
    const COLUMNS: &'static [Column] = ROLE_COLUMNS;

    fn example(_namespace: &str) -> Value {
        json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    }

    fn cells(&self, _now: Time) -> Row {
        role_cells(&self.metadata.name, self.metadata.creation_timestamp)
    }
}

impl Defaults for ClusterRole {
    /// Nothing to default.
    fn apply_defaults(&mut self) {}
}

impl Validate for ClusterRole {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::PathSegment);
        errs.extend(validate_rules(&self.rules, false));
        if let Some(agg) = &self.aggregation_rule {
            let path = FieldPath::new("aggregationRule").child("clusterRoleSelectors");
            if agg.cluster_role_selectors.is_empty() {
                errs.push(FieldCause::required(
                    &path,
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
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
