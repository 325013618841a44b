//! StorageClasses (`storage.k8s.io/v1`, cluster-scoped): Kubernetes' defaults (reclaim
//! policy Delete, binding mode Immediate), `ValidateStorageClass` (a qualified
//! provisioner name, Delete or Retain, at most 512 parameters), the fields that never
//! change (provisioner, parameters, reclaim policy, binding mode), and Kubernetes'
//! printer (PROVISIONER, RECLAIMPOLICY, VOLUMEBINDINGMODE, ALLOWVOLUMEEXPANSION, AGE,
//! with `(default)` after the name of a default class).
//!
//! Every cluster has the `local-path` class, created at start-up
//! ([`super::super::core::ApiCore::bootstrap`]).

use rudder_protocol::resources::{
    PersistentVolumeReclaimPolicy, StorageClass, Time, VolumeBindingMode,
};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::super::validation::{
    is_qualified_name, validate_object_meta, validate_object_meta_update, FieldCause, FieldPath,
    NameRule, Validate,
};
use super::Strategy;

/// The beta spelling of the default-class annotation, which Kubernetes still honours.
const BETA_IS_DEFAULT_CLASS: &str = "storageclass.beta.kubernetes.io/is-default-class";

/// The most parameters a class may have.
const MAX_PARAMETERS: usize = 512;

impl Strategy for StorageClass {
    const COLUMNS: &'static [Column] = &[
        NAME,
        col(
            "Provisioner",
            "string",
            "The provisioner that makes volumes of this class.",
        ),
        col(
            "ReclaimPolicy",
            "string",
            "What happens to a provisioned volume when its claim goes.",
        ),
        col(
            "VolumeBindingMode",
            "string",
            "When claims of this class are bound.",
        ),
        col(
            "AllowVolumeExpansion",
            "string",
            "Whether claims of this class may grow.",
        ),
        AGE,
    ];

    fn example(_namespace: &str) -> Value {
        json!({"provisioner": "example.com/fast"})
    }

    fn cells(&self, now: Time) -> Row {
        let beta_default = self
            .metadata
            .annotations
            .get(BETA_IS_DEFAULT_CLASS)
            .is_some_and(|v| v == "true");
        let mut name = self.metadata.name.clone();
        if self.is_default_class() || beta_default {
            name.push_str(" (default)");
        }
        Row::new(vec![
            json!(name),
            json!(self.provisioner),
            json!(self
                .reclaim_policy
                .unwrap_or(PersistentVolumeReclaimPolicy::Delete)
                .as_str()),
            json!(self.binding_mode().as_str()),
            json!(self.allow_volume_expansion.unwrap_or(false)),
            json!(since(self.metadata.creation_timestamp, now)),
        ])
    }
}

impl Defaults for StorageClass {
    fn apply_defaults(&mut self) {
        self.reclaim_policy
            .get_or_insert(PersistentVolumeReclaimPolicy::Delete);
        self.volume_binding_mode
            .get_or_insert(VolumeBindingMode::Immediate);
    }
}

impl Validate for StorageClass {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let ppath = FieldPath::new("provisioner");
        if self.provisioner.is_empty() {
            errs.push(FieldCause::required(&ppath, ""));
        } else {
            for msg in is_qualified_name(&self.provisioner.to_lowercase()) {
                errs.push(FieldCause::invalid(&ppath, &self.provisioner, &msg));
            }
        }
        if self.parameters.len() > MAX_PARAMETERS {
            errs.push(FieldCause::too_long(
                &FieldPath::new("parameters"),
                MAX_PARAMETERS,
            ));
        }
        if let Some(policy) = self.reclaim_policy {
            if policy == PersistentVolumeReclaimPolicy::Recycle {
                errs.push(FieldCause::not_supported(
                    &FieldPath::new("reclaimPolicy"),
                    policy.as_str(),
                    &["Delete", "Retain"],
                ));
            }
        }
        for (i, term) in self.allowed_topologies.iter().enumerate() {
            let tpath = FieldPath::new("allowedTopologies").index(i);
            if term.match_label_expressions.is_empty() {
                errs.push(FieldCause::required(
                    &tpath.child("matchLabelExpressions"),
                    "must have at least one label selector requirement",
                ));
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        let fixed = [
            ("parameters", self.parameters != old.parameters),
            ("provisioner", self.provisioner != old.provisioner),
            ("reclaimPolicy", self.reclaim_policy != old.reclaim_policy),
            (
                "volumeBindingMode",
                self.volume_binding_mode != old.volume_binding_mode,
            ),
        ];
        for (field, changed) in fixed {
            if changed {
                errs.push(FieldCause::forbidden(
                    &FieldPath::new(field),
                    &format!("updates to {field} are forbidden."),
                ));
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::for_kind;
    use super::*;

    #[test]
    fn defaults_validation_and_fixed_fields() {
        let kind = for_kind("StorageClass").expect("served");
        let out = kind.typed(kind.example("fast", ""), None).expect("valid");
        assert_eq!(out["reclaimPolicy"], "Delete");
        assert_eq!(out["volumeBindingMode"], "Immediate");
        let mut recycle = kind.example("r", "");
        recycle["reclaimPolicy"] = json!("Recycle");
        let e = kind.typed(recycle, None).expect_err("recycle");
        assert!(
            e.message.contains(
                r#"reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", "Retain""#
            ),
            "{}",
            e.message
        );
        let mut no_provisioner = kind.example("n", "");
        no_provisioner["provisioner"] = json!("");
        let e = kind.typed(no_provisioner, None).expect_err("provisioner");
        assert!(
            e.message.contains("provisioner: Required value"),
            "{}",
            e.message
        );
        let mut changed = out.clone();
        changed["volumeBindingMode"] = json!("WaitForFirstConsumer");
        let e = kind.typed(changed, Some(&out)).expect_err("mode changed");
        assert!(
            e.message.contains(
                "volumeBindingMode: Forbidden: updates to volumeBindingMode are forbidden."
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn the_default_class_prints_with_its_mark() {
        let sc: StorageClass = serde_json::from_value(json!({
            "metadata": {"name": "local-path", "creationTimestamp": "2026-01-01T00:00:00Z",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rudder.io/local-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
        }))
        .expect("class");
        let now = sc.metadata.creation_timestamp.expect("set");
        assert_eq!(
            sc.cells(Time(now.0 + 60)).cells,
            vec![
                json!("local-path (default)"),
                json!("rudder.io/local-path"),
                json!("Delete"),
                json!("WaitForFirstConsumer"),
                json!(false),
                json!("60s"),
            ]
        );
    }
}
