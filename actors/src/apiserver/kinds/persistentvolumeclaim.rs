//! PersistentVolumeClaims (core/v1): Kubernetes' `DefaultStorageClass` admission (a claim
//! that names no class gets the default one: the newest class annotated
//! `storageclass.kubernetes.io/is-default-class: "true"`), the
//! `kubernetes.io/pvc-protection` finalizer added at create (the PV controller removes it
//! once no pod uses the deleted claim), defaults (volume mode Filesystem, phase Pending),
//! `ValidatePersistentVolumeClaim` for the fields Rudder reads, a spec that is immutable
//! but for `resources.requests`, a `volumeName` set once and a class set where none was,
//! and Kubernetes' printer (STATUS, VOLUME, CAPACITY, ACCESS MODES, STORAGECLASS,
//! VOLUMEATTRIBUTESCLASS, AGE; VOLUMEMODE wide).

use futures::future::BoxFuture;
use rudder_protocol::registry::ResourceInfo;
use rudder_protocol::resources::{
    PersistentVolumeClaim, PersistentVolumeClaimPhase, PersistentVolumeMode, StorageClass, Time,
    PVC_PROTECTION_FINALIZER,
};
use serde_json::{json, Value};

use super::super::core::{fail, ApiCore, ApiResult, ListOptions};
use super::super::defaults::Defaults;
use super::super::registry;
use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::super::validation::{
    validate_label_selector, validate_object_meta, validate_object_meta_update, FieldCause,
    FieldPath, NameRule, Validate,
};
use super::persistentvolume::{
    access_modes_string, add_finalizer, validate_access_modes, validate_class_name,
    volume_mode_string,
};
use super::{admission, Admission, Strategy};

impl Strategy for PersistentVolumeClaim {
    /// Kubernetes' claim evaluator: the claim and the storage it requests.
    fn quota_usage(&self, usage: &mut rudder_protocol::resources::ResourceList) {
        use rudder_protocol::resources::quota;
        usage.insert(quota::PERSISTENT_VOLUME_CLAIMS.into(), super::one());
        if let Some(storage) = self.spec.resources.requests.get("storage") {
            usage.insert(quota::REQUESTS_STORAGE.into(), storage.clone());
        }
    }

    fn quota_matches(name: &str) -> bool {
        use rudder_protocol::resources::quota;
        name == quota::PERSISTENT_VOLUME_CLAIMS || name == quota::REQUESTS_STORAGE
    }

    const COLUMNS: &'static [Column] = &[
        NAME,
        col("Status", "string", "The phase of the claim."),
        col("Volume", "string", "The volume bound to the claim."),
        col("Capacity", "string", "The size of the bound volume."),
        col(
            "Access Modes",
            "string",
            "How the bound volume may be mounted.",
        ),
        col("StorageClass", "string", "The class of the claim."),
        col(
            "VolumeAttributesClass",
            "string",
            "The VolumeAttributesClass of the claim.",
        ),
        AGE,
        col("VolumeMode", "string", "Filesystem or Block.").wide(),
    ];

    const ADMISSION: &'static [admission::Plugin] =
        &[default_storage_class, super::super::limitranger::claim];

    fn example(_namespace: &str) -> Value {
        json!({"spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        }})
    }

    fn cells(&self, now: Time) -> Row {
        let spec = &self.spec;
        let phase = if self.metadata.deletion_timestamp.is_some() {
            "Terminating".to_owned()
        } else {
            self.status
                .phase
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default()
        };
        let (capacity, modes) = if spec.volume_name.is_empty() {
            (String::new(), String::new())
        } else {
            (
                super::persistentvolume::storage_string(&self.status.capacity),
                access_modes_string(&self.status.access_modes),
            )
        };
        Row::new(vec![
            json!(self.metadata.name),
            json!(phase),
            json!(spec.volume_name),
            json!(capacity),
            json!(modes),
            json!(self.class_name()),
            json!(spec
                .volume_attributes_class_name
                .as_deref()
                .unwrap_or("<unset>")),
            json!(since(self.metadata.creation_timestamp, now)),
            json!(volume_mode_string(spec.volume_mode)),
        ])
    }

    /// Kubernetes' `PrepareForCreate` (a new claim is Pending) and the
    /// StorageObjectInUseProtection admission (the pvc-protection finalizer).
    fn prepare_create(pvc: &mut PersistentVolumeClaim, _admission: &Admission) {
        pvc.status = Default::default();
        pvc.status.phase = Some(PersistentVolumeClaimPhase::Pending);
        add_finalizer(&mut pvc.metadata.finalizers, PVC_PROTECTION_FINALIZER);
    }
}

/// The default class among `classes`: of several marked default, the newest (then the
/// first by name), as Kubernetes' `GetDefaultClass` picks it since 1.28.
pub fn default_class(classes: &[StorageClass]) -> Option<&StorageClass> {
    classes
        .iter()
        .filter(|c| c.is_default_class())
        .max_by(|a, b| {
            a.metadata
                .creation_timestamp
                .cmp(&b.metadata.creation_timestamp)
                .then_with(|| b.metadata.name.cmp(&a.metadata.name))
        })
}

fn storage_classes() -> ApiResult<&'static ResourceInfo> {
    registry::resource("storage.k8s.io", "v1", "storageclasses")
        .ok_or_else(|| fail(500, "InternalError", "storageclasses not registered"))
}

/// DefaultStorageClass admission: a claim with no `storageClassName` at all (not an
/// empty one, which asks for no class) gets the default class, when there is one.
pub fn default_storage_class<'a>(
    core: &'a ApiCore,
    _info: &'static ResourceInfo,
    pvc: &'a mut Value,
) -> BoxFuture<'a, ApiResult<()>> {
    Box::pin(async move {
        let named = pvc
            .pointer("/spec/storageClassName")
            .is_some_and(|v| !v.is_null());
        if named {
            return Ok(());
        }
        let opts = ListOptions {
            resource_version: Some("0".into()),
            ..ListOptions::default()
        };
        let classes: Vec<StorageClass> = core
            .list(storage_classes()?, None, &opts)
            .await?
            .0
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect();
        if let Some(class) = default_class(&classes) {
            if let Some(spec) = pvc.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("storageClassName".into(), json!(class.metadata.name));
            }
        }
        Ok(())
    })
}

impl Defaults for PersistentVolumeClaim {
    fn apply_defaults(&mut self) {
        self.spec
            .volume_mode
            .get_or_insert(PersistentVolumeMode::Filesystem);
        self.status
            .phase
            .get_or_insert(PersistentVolumeClaimPhase::Pending);
    }
}

fn validate_spec(pvc: &PersistentVolumeClaim) -> Vec<FieldCause> {
    let spec = &pvc.spec;
    let path = FieldPath::new("spec");
    let mut errs = Vec::new();
    validate_access_modes(
        &spec.access_modes,
        &path.child("accessModes"),
        "at least 1 access mode is required",
        &mut errs,
    );
    if let Some(selector) = &spec.selector {
        errs.extend(validate_label_selector(selector, &path.child("selector")));
    }
    let rpath = path.child("resources").key("storage");
    match pvc.requested_storage() {
        None => errs.push(FieldCause::required(&rpath, "")),
        Some(q) if q.is_zero() || q.is_negative() => errs.push(FieldCause::invalid(
            &rpath,
            q.as_str(),
            "must be greater than zero",
        )),
        Some(_) => {}
    }
    validate_class_name(pvc.class_name(), &path.child("storageClassName"), &mut errs);
    errs
}

impl Validate for PersistentVolumeClaim {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        errs.extend(validate_spec(self));
        errs
    }

    /// Kubernetes' `ValidatePersistentVolumeClaimUpdate`: the spec is immutable except
    /// `resources.requests`; `volumeName` may be set once (the binder does) and a class
    /// where there was none (the retroactive default class).
    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        let mut new = self.spec.clone();
        let mut was = old.spec.clone();
        if was.volume_name.is_empty() {
            was.volume_name = new.volume_name.clone();
        }
        if was.storage_class_name.is_none() {
            was.storage_class_name = new.storage_class_name.clone();
        }
        new.resources.requests = was.resources.requests.clone();
        if new != was {
            errs.push(FieldCause::forbidden(
                &FieldPath::new("spec"),
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::for_kind;
    use super::*;

    fn admission() -> Admission {
        Admission {
            default_toleration_seconds: 300,
        }
    }

    fn class(name: &str, default: bool, created: &str) -> StorageClass {
        let mut sc: StorageClass = serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": created},
            "provisioner": "p",
        }))
        .expect("class");
        if default {
            sc.metadata.annotations.insert(
                rudder_protocol::resources::IS_DEFAULT_CLASS_ANNOTATION.into(),
                "true".into(),
            );
        }
        sc
    }

    #[test]
    fn the_newest_default_class_wins() {
        let table: &[(&str, Vec<StorageClass>, Option<&str>)] = &[
            ("none", vec![], None),
            (
                "no default",
                vec![class("a", false, "2026-01-01T00:00:00Z")],
                None,
            ),
            (
                "one default",
                vec![
                    class("a", false, "2026-01-01T00:00:00Z"),
                    class("b", true, "2026-01-01T00:00:00Z"),
                ],
                Some("b"),
            ),
            (
                "two defaults: the newest",
                vec![
                    class("old", true, "2026-01-01T00:00:00Z"),
                    class("new", true, "2026-02-01T00:00:00Z"),
                ],
                Some("new"),
            ),
        ];
        for (name, classes, want) in table {
            let got = default_class(classes).map(|c| c.metadata.name.as_str());
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn defaults_finalizer_validation_and_immutable_spec() {
        let kind = for_kind("PersistentVolumeClaim").expect("served");
        let out = kind
            .admit(kind.example("data", "default"), &admission())
            .expect("valid");
        assert_eq!(out["status"]["phase"], "Pending");
        assert_eq!(out["spec"]["volumeMode"], "Filesystem");
        assert_eq!(
            out["metadata"]["finalizers"],
            json!(["kubernetes.io/pvc-protection"])
        );
        let table: &[(&str, Value, &str)] = &[
            (
                "no access modes",
                json!({"resources": {"requests": {"storage": "1Gi"}}}),
                "spec.accessModes: Required value: at least 1 access mode is required",
            ),
            (
                "no storage request",
                json!({"accessModes": ["ReadWriteOnce"]}),
                "spec.resources[storage]: Required value",
            ),
            (
                "zero storage",
                json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "0"}}}),
                "must be greater than zero",
            ),
        ];
        for (name, spec, want) in table {
            let obj = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "c", "namespace": "default"}, "spec": spec});
            let e = kind.typed(obj, None).expect_err(name);
            assert!(e.message.contains(want), "{name}: {}", e.message);
        }
        // The binder may set volumeName once and the class may be filled in; the rest
        // of the spec is fixed.
        let mut bound = out.clone();
        bound["spec"]["volumeName"] = json!("pv-1");
        bound["spec"]["storageClassName"] = json!("local-path");
        bound["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        let bound = kind.typed(bound, Some(&out)).expect("volumeName set once");
        let mut rebound = bound.clone();
        rebound["spec"]["volumeName"] = json!("pv-2");
        let e = kind
            .typed(rebound, Some(&bound))
            .expect_err("volumeName changed");
        assert!(
            e.message
                .contains("spec: Forbidden: spec is immutable after creation"),
            "{}",
            e.message
        );
    }

    #[test]
    fn prints_kubernetes_columns() {
        let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "data", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"accessModes": ["ReadWriteOnce"], "volumeName": "pvc-1",
                     "storageClassName": "local-path", "volumeMode": "Filesystem",
                     "resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}},
        }))
        .expect("pvc");
        let now = pvc.metadata.creation_timestamp.expect("set");
        assert_eq!(
            pvc.cells(Time(now.0 + 5)).cells,
            vec![
                json!("data"),
                json!("Bound"),
                json!("pvc-1"),
                json!("1Gi"),
                json!("RWO"),
                json!("local-path"),
                json!("<unset>"),
                json!("5s"),
                json!("Filesystem"),
            ]
        );
        let pending = PersistentVolumeClaim {
            status: Default::default(),
            ..pvc.clone()
        };
        let mut pending = pending;
        pending.spec.volume_name.clear();
        let cells = pending.cells(Time(now.0 + 5)).cells;
        assert_eq!((&cells[3], &cells[4]), (&json!(""), &json!("")));
    }
}
