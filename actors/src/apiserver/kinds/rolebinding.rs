//! RoleBindings (`rbac.authorization.k8s.io/v1`, namespaced): Kubernetes' validation of
//! the role reference (a Role or ClusterRole of the RBAC group, never changed once set)
//! and of subjects, and its printer (NAME, ROLE as `Kind/name`, AGE; USERS, GROUPS and
//! SERVICEACCOUNTS with `-o wide`). The checks here serve [`super::clusterrolebinding`]
//! too.

use rudder_protocol::resources::{
    RoleBinding, RoleRef, Subject, Time, GROUP_KIND, RBAC_GROUP, SERVICE_ACCOUNT_KIND, USER_KIND,
};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::super::validation::{
    validate_object_meta, validate_object_meta_update, FieldCause, FieldPath, NameRule, Validate,
};
use super::Strategy;

/// The printer columns of RoleBindings and ClusterRoleBindings.
pub(super) const BINDING_COLUMNS: &[Column] = &[
    NAME,
    col("Role", "string", "RoleRef is the reference to the role."),
    AGE,
    col("Users", "string", "Users in the binding.").wide(),
    col("Groups", "string", "Groups in the binding.").wide(),
    col(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the binding.",
    )
    .wide(),
];

/// The cells of a binding, as `kubectl get rolebindings -o wide` prints them.
pub(super) fn binding_cells(
    name: &str,
    created: Option<Time>,
    role: &RoleRef,
    subjects: &[Subject],
    now: Time,
) -> Row {
    let of = |kind: &str| {
        subjects
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| match kind {
                SERVICE_ACCOUNT_KIND => format!("{}/{}", s.namespace, s.name),
                _ => s.name.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Row::new(vec![
        json!(name),
        json!(format!("{}/{}", role.kind, role.name)),
        json!(since(created, now)),
        json!(of(USER_KIND)),
        json!(of(GROUP_KIND)),
        json!(of(SERVICE_ACCOUNT_KIND)),
    ])
}

/// Kubernetes' checks of a binding's `roleRef` (`kinds`: what it may name) and
/// `subjects` (`namespaced`: whether a service account may leave out its namespace).
pub(super) fn validate_binding(
    role: &RoleRef,
    subjects: &[Subject],
    kinds: &[&str],
    namespaced: bool,
) -> Vec<FieldCause> {
    let mut errs = Vec::new();
    let path = FieldPath::new("roleRef");
    if role.api_group != RBAC_GROUP {
        errs.push(FieldCause::not_supported(
            &path.child("apiGroup"),
            &role.api_group,
            &[RBAC_GROUP],
        ));
    }
    if !kinds.contains(&role.kind.as_str()) {
        errs.push(FieldCause::not_supported(
            &path.child("kind"),
            &role.kind,
            kinds,
        ));
    }
    if role.name.is_empty() {
        errs.push(FieldCause::required(&path.child("name"), ""));
    }
    for (i, s) in subjects.iter().enumerate() {
        let path = FieldPath::new("subjects").index(i);
        if s.name.is_empty() {
            errs.push(FieldCause::required(&path.child("name"), ""));
        }
        match s.kind.as_str() {
            SERVICE_ACCOUNT_KIND => {
                if !s.api_group.is_empty() {
                    errs.push(FieldCause::not_supported(
                        &path.child("apiGroup"),
                        &s.api_group,
                        &[""],
                    ));
                }
                if !namespaced && s.namespace.is_empty() {
                    errs.push(FieldCause::required(&path.child("namespace"), ""));
                }
            }
            USER_KIND | GROUP_KIND => {
                if s.api_group != RBAC_GROUP {
                    errs.push(FieldCause::not_supported(
                        &path.child("apiGroup"),
                        &s.api_group,
                        &[RBAC_GROUP],
                    ));
                }
            }
            other => errs.push(FieldCause::not_supported(
                &path.child("kind"),
                other,
                &[SERVICE_ACCOUNT_KIND, USER_KIND, GROUP_KIND],
            )),
        }
    }
    errs
}

/// `roleRef` may not change: a binding to another role is a new binding.
pub(super) fn validate_role_ref_update(new: &RoleRef, old: &RoleRef) -> Vec<FieldCause> {
    if new == old {
        return Vec::new();
    }
    vec![FieldCause::invalid(
        &FieldPath::new("roleRef"),
        format!("{}/{}", new.kind, new.name),
        "cannot change roleRef",
    )]
}

impl Strategy for RoleBinding {
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

impl Defaults for RoleBinding {
    /// Kubernetes defaults a user's or group's `apiGroup`.
    fn apply_defaults(&mut self) {
        default_subjects(&mut self.subjects);
    }
}

/// Kubernetes' subject defaulting: users and groups belong to the RBAC group.
pub(super) fn default_subjects(subjects: &mut [Subject]) {
    for s in subjects {
        if s.api_group.is_empty() && (s.kind == USER_KIND || s.kind == GROUP_KIND) {
            s.api_group = RBAC_GROUP.to_owned();
        }
    }
}

impl Validate for RoleBinding {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::PathSegment);
        errs.extend(validate_binding(
            &self.role_ref,
            &self.subjects,
            &["Role", "ClusterRole"],
            true,
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

#[cfg(test)]
mod tests {
    use super::super::for_kind;
    use super::*;

    #[test]
    fn bindings_are_checked_as_kubernetes_checks_them() {
        let kind = for_kind("RoleBinding").expect("served");
        let ok = kind.typed(kind.example("b", "ns"), None).expect("valid");
        let mut bad = kind.example("b", "ns");
        bad["roleRef"]["kind"] = json!("Pod");
        let e = kind.typed(bad, None).expect_err("bad kind");
        assert!(
            e.message.contains("roleRef.kind: Unsupported value"),
            "{}",
            e.message
        );
        let mut moved = ok.clone();
        moved["roleRef"]["name"] = json!("edit");
        let e = kind.typed(moved, Some(&ok)).expect_err("roleRef changed");
        assert!(e.message.contains("cannot change roleRef"), "{}", e.message);
        let mut no_group = kind.example("b", "ns");
        no_group["subjects"][0]["apiGroup"] = json!("");
        let out = kind.typed(no_group, None).expect("defaulted");
        assert_eq!(out["subjects"][0]["apiGroup"], RBAC_GROUP);
    }

    #[test]
    fn wide_row_names_the_subjects() {
        let b: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": "b"},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "view"},
            "subjects": [
                {"kind": "User", "name": "alice"},
                {"kind": "ServiceAccount", "name": "sa", "namespace": "a"},
            ],
        }))
        .expect("binding");
        let row = b.cells(Time(0));
        assert_eq!(row.cells[1], "ClusterRole/view");
        assert_eq!(row.cells[3], "alice");
        assert_eq!(row.cells[5], "a/sa");
    }
}
