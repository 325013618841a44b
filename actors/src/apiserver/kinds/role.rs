//! Roles (`rbac.authorization.k8s.io/v1`, namespaced): Kubernetes' validation of policy
//! rules (verbs required; resource rules name groups and resources; non-resource URLs
//! only in ClusterRoles and never mixed with resources) and its printer (NAME, CREATED
//! AT). The rule checks here serve [`super::clusterrole`] too.

use rudder_protocol::resources::{PolicyRule, Role, Time};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{col, Column, Row, NAME};
use super::super::validation::{
    validate_object_meta, validate_object_meta_update, FieldCause, FieldPath, NameRule, Validate,
};
use super::Strategy;

/// The printer columns of Roles and ClusterRoles.
pub(super) const ROLE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Created At",
        "date",
        "CreationTimestamp is the time the server created the object, in RFC 3339 form and UTC.",
    ),
];

/// The cells of a role: its name and creation time, as `kubectl get roles` prints them.
pub(super) fn role_cells(name: &str, created: Option<Time>) -> Row {
    Row::new(vec![
        json!(name),
        json!(created.map(|t| t.to_string()).unwrap_or_default()),
    ])
}

/// Kubernetes' `ValidatePolicyRule` for each of `rules`; `namespaced` rules (a Role's)
/// may not name non-resource URLs.
pub(super) fn validate_rules(rules: &[PolicyRule], namespaced: bool) -> Vec<FieldCause> {
    let mut errs = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let path = FieldPath::new("rules").index(i);
        if rule.verbs.is_empty() {
            errs.push(FieldCause::required(
                &path.child("verbs"),
                "verbs must contain at least one value",
            ));
        }
        if !rule.non_resource_urls.is_empty() {
            let urls = format!("{:?}", rule.non_resource_urls);
            if namespaced {
                errs.push(FieldCause::invalid(
                    &path.child("nonResourceURLs"),
                    urls.clone(),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if !rule.api_groups.is_empty() || !rule.resources.is_empty() {
                errs.push(FieldCause::invalid(
                    &path.child("nonResourceURLs"),
                    urls,
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if rule.api_groups.is_empty() {
            errs.push(FieldCause::required(
                &path.child("apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if rule.resources.is_empty() {
            errs.push(FieldCause::required(
                &path.child("resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
    errs
}

impl Strategy for Role {
    const COLUMNS: &'static [Column] = ROLE_COLUMNS;

    fn example(_namespace: &str) -> Value {
        json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    }

    fn cells(&self, _now: Time) -> Row {
        role_cells(&self.metadata.name, self.metadata.creation_timestamp)
    }
}

impl Defaults for Role {
    /// Nothing to default.
    fn apply_defaults(&mut self) {}
}

impl Validate for Role {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::PathSegment);
        errs.extend(validate_rules(&self.rules, true));
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
    use super::super::for_kind;
    use super::*;

    #[test]
    fn rules_are_checked_as_kubernetes_checks_them() {
        let kind = for_kind("Role").expect("served");
        let table: &[(&str, Value, Option<&str>)] = &[
            (
                "resource rule",
                json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]),
                None,
            ),
            (
                "no verbs",
                json!([{"apiGroups": [""], "resources": ["pods"], "verbs": []}]),
                Some("rules[0].verbs: Required value: verbs must contain at least one value"),
            ),
            (
                "no groups",
                json!([{"resources": ["pods"], "verbs": ["get"]}]),
                Some("rules[0].apiGroups: Required value: resource rules must supply at least one api group"),
            ),
            (
                "no resources",
                json!([{"apiGroups": [""], "verbs": ["get"]}]),
                Some("rules[0].resources: Required value"),
            ),
            (
                "non-resource URL in a Role",
                json!([{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]),
                Some("namespaced rules cannot apply to non-resource URLs"),
            ),
        ];
        for (name, rules, want) in table {
            let mut obj = kind.example("r", "ns");
            obj["rules"] = rules.clone();
            match (kind.typed(obj, None), want) {
                (Ok(_), None) => {}
                (Err(e), Some(want)) => {
                    assert_eq!(e.code, 422, "{name}");
                    assert!(e.message.contains(want), "{name}: {}", e.message);
                }
                (Ok(_), Some(_)) => panic!("{name}: accepted"),
                (Err(e), None) => panic!("{name}: {}", e.message),
            }
        }
    }

    #[test]
    fn names_may_hold_colons_but_no_slashes() {
        let kind = for_kind("Role").expect("served");
        assert!(kind.typed(kind.example("system:x", "ns"), None).is_ok());
        let e = kind
            .typed(kind.example("a/b", "ns"), None)
            .expect_err("slash");
        assert!(e.message.contains("may not contain '/'"), "{}", e.message);
    }
}
