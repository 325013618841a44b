//! PersistentVolumes (core/v1, cluster-scoped): Kubernetes' defaults (reclaim policy
//! Retain, volume mode Filesystem, phase Pending), the `kubernetes.io/pv-protection`
//! finalizer added at create (the PV controller removes it once no claim is bound), the
//! spec validation of `ValidatePersistentVolumeSpec` for the fields Rudder reads (one
//! source, access modes, a `storage` capacity, a `local` volume's node affinity), an
//! immutable source, and Kubernetes' printer (CAPACITY, ACCESS MODES, RECLAIM POLICY,
//! STATUS, CLAIM, STORAGECLASS, VOLUMEATTRIBUTESCLASS, REASON, AGE; VOLUMEMODE wide).

use rudder_protocol::resources::{
    PersistentVolume, PersistentVolumeAccessMode, PersistentVolumeMode, PersistentVolumePhase,
    PersistentVolumeReclaimPolicy, PersistentVolumeSpec, ResourceList, Time,
    PV_PROTECTION_FINALIZER,
};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::super::validation::{
    is_dns1123_subdomain, validate_node_selector, validate_object_meta,
    validate_object_meta_update, FieldCause, FieldPath, NameRule, Validate, IMMUTABLE,
};
use super::{Admission, SelectableField, Strategy};

impl Strategy for PersistentVolume {
    const COLUMNS: &'static [Column] = &[
        NAME,
        col("Capacity", "string", "The size of the volume."),
        col("Access Modes", "string", "How the volume may be mounted."),
        col(
            "Reclaim Policy",
            "string",
            "What happens to the volume when its claim is released.",
        ),
        col("Status", "string", "The phase of the volume."),
        col("Claim", "string", "The claim bound to the volume."),
        col("StorageClass", "string", "The class of the volume."),
        col(
            "VolumeAttributesClass",
            "string",
            "The VolumeAttributesClass of the volume.",
        ),
        col("Reason", "string", "Why the volume is in its phase."),
        AGE,
        col("VolumeMode", "string", "Filesystem or Block.").wide(),
    ];

    /// Kubernetes' PersistentVolume field selector supports the phase and class.
    const FIELDS: &'static [SelectableField] = &[
        super::field("status.phase"),
        super::field("spec.storageClassName"),
    ];

    fn example(_namespace: &str) -> Value {
        json!({"spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/tmp/example"},
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
        let claim = spec
            .claim_ref
            .as_ref()
            .map(|r| format!("{}/{}", r.namespace, r.name))
            .unwrap_or_default();
        Row::new(vec![
            json!(self.metadata.name),
            json!(storage_string(&spec.capacity)),
            json!(access_modes_string(&spec.access_modes)),
            json!(self
                .spec
                .persistent_volume_reclaim_policy
                .map(|p| p.as_str())
                .unwrap_or_default()),
            json!(phase),
            json!(claim),
            json!(spec.storage_class_name),
            json!(spec
                .volume_attributes_class_name
                .as_deref()
                .unwrap_or("<unset>")),
            json!(self.status.reason),
            json!(since(self.metadata.creation_timestamp, now)),
            json!(volume_mode_string(spec.volume_mode)),
        ])
    }

    /// Kubernetes' `PrepareForCreate`: a new volume is Pending (the PV controller makes
    /// it Available), and the pv-protection admission adds its finalizer.
    fn prepare_create(pv: &mut PersistentVolume, _admission: &Admission) {
        pv.status = Default::default();
        pv.status.phase = Some(PersistentVolumePhase::Pending);
        pv.status.last_phase_transition_time = Some(Time::now());
        add_finalizer(&mut pv.metadata.finalizers, PV_PROTECTION_FINALIZER);
    }
}

/// Adds `finalizer` unless it is there already.
pub(super) fn add_finalizer(finalizers: &mut Vec<String>, finalizer: &str) {
    if !finalizers.iter().any(|f| f == finalizer) {
        finalizers.push(finalizer.to_owned());
    }
}

/// The `storage` quantity as Kubernetes prints it (`0` when absent).
pub(super) fn storage_string(resources: &ResourceList) -> String {
    resources
        .get("storage")
        .map(|q| q.to_string())
        .unwrap_or_else(|| "0".into())
}

/// Kubernetes' `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP`, in that order, each once.
pub(super) fn access_modes_string(modes: &[PersistentVolumeAccessMode]) -> String {
    use PersistentVolumeAccessMode::*;
    [
        (ReadWriteOnce, "RWO"),
        (ReadOnlyMany, "ROX"),
        (ReadWriteMany, "RWX"),
        (ReadWriteOncePod, "RWOP"),
    ]
    .iter()
    .filter(|(m, _)| modes.contains(m))
    .map(|(_, s)| *s)
    .collect::<Vec<_>>()
    .join(",")
}

/// A volume mode as printed: `<unset>` when there is none.
pub(super) fn volume_mode_string(mode: Option<PersistentVolumeMode>) -> &'static str {
    mode.map(|m| m.as_str()).unwrap_or("<unset>")
}

impl Defaults for PersistentVolume {
    fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.persistent_volume_reclaim_policy
            .get_or_insert(PersistentVolumeReclaimPolicy::Retain);
        spec.volume_mode
            .get_or_insert(PersistentVolumeMode::Filesystem);
        if let Some(hp) = spec.host_path.as_mut() {
            hp.type_.get_or_insert_with(String::new);
        }
        self.status
            .phase
            .get_or_insert(PersistentVolumePhase::Pending);
    }
}

/// The sources set in `spec`, by their field names.
fn sources(spec: &PersistentVolumeSpec) -> Vec<&'static str> {
    [
        ("hostPath", spec.host_path.is_some()),
        ("local", spec.local.is_some()),
        ("nfs", spec.nfs.is_some()),
        ("csi", spec.csi.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(name, _)| name)
    .collect()
}

/// Access modes: at least one, ReadWriteOncePod alone (Kubernetes'
/// `ValidatePersistentVolumeSpec` and the claim's rules share this).
pub(super) fn validate_access_modes(
    modes: &[PersistentVolumeAccessMode],
    path: &FieldPath,
    required: &str,
    errs: &mut Vec<FieldCause>,
) {
    if modes.is_empty() {
        errs.push(FieldCause::required(path, required));
    }
    if modes.contains(&PersistentVolumeAccessMode::ReadWriteOncePod) && modes.len() > 1 {
        errs.push(FieldCause::forbidden(
            path,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
}

/// A storage class name, when set, is a DNS subdomain.
pub(super) fn validate_class_name(name: &str, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if name.is_empty() {
        return;
    }
    for msg in is_dns1123_subdomain(name) {
        errs.push(FieldCause::invalid(path, name, &msg));
    }
}

fn validate_spec(pv: &PersistentVolume) -> Vec<FieldCause> {
    let spec = &pv.spec;
    let path = FieldPath::new("spec");
    let mut errs = Vec::new();
    validate_access_modes(
        &spec.access_modes,
        &path.child("accessModes"),
        "",
        &mut errs,
    );
    let cpath = path.child("capacity");
    match spec.capacity.get("storage") {
        None if spec.capacity.is_empty() => errs.push(FieldCause::required(&cpath, "")),
        None => {}
        Some(q) if q.is_zero() || q.is_negative() => errs.push(FieldCause::invalid(
            &cpath.child("storage"),
            q.as_str(),
            "must be greater than zero",
        )),
        Some(_) => {}
    }
    for key in spec.capacity.keys().filter(|k| *k != "storage") {
        errs.push(FieldCause::not_supported(
            &cpath.key(key),
            key.as_str(),
            &["storage"],
        ));
    }
    let set = sources(spec);
    if set.is_empty() {
        errs.push(FieldCause::required(&path, "must specify a volume type"));
    }
    for field in set.iter().skip(1) {
        errs.push(FieldCause::forbidden(
            &path.child(field),
            "may not specify more than 1 volume type",
        ));
    }
    if let Some(hp) = &spec.host_path {
        if hp.path.is_empty() {
            errs.push(FieldCause::required(
                &path.child("hostPath").child("path"),
                "",
            ));
        }
    }
    if let Some(local) = &spec.local {
        let lpath = path.child("local").child("path");
        if local.path.is_empty() {
            errs.push(FieldCause::required(&lpath, ""));
        } else if !local.path.starts_with('/') {
            errs.push(FieldCause::invalid(
                &lpath,
                local.path.as_str(),
                "must be an absolute path",
            ));
        }
        if spec
            .node_affinity
            .as_ref()
            .and_then(|a| a.required.as_ref())
            .is_none()
        {
            errs.push(FieldCause::required(
                &path.child("nodeAffinity"),
                "Local volume requires node affinity",
            ));
        }
    }
    if let Some(affinity) = &spec.node_affinity {
        let apath = path.child("nodeAffinity").child("required");
        match &affinity.required {
            Some(required) => validate_node_selector(required, &apath, &mut errs),
            None => errs.push(FieldCause::required(
                &apath,
                "must specify required node constraints",
            )),
        }
    }
    validate_class_name(
        &spec.storage_class_name,
        &path.child("storageClassName"),
        &mut errs,
    );
    if spec.persistent_volume_reclaim_policy == Some(PersistentVolumeReclaimPolicy::Recycle)
        && spec.host_path.is_none()
        && spec.nfs.is_none()
    {
        errs.push(FieldCause::forbidden(
            &path.child("persistentVolumeReclaimPolicy"),
            "may not be 'recycle' for a volume other than hostPath or nfs",
        ));
    }
    errs
}

impl Validate for PersistentVolume {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        errs.extend(validate_spec(self));
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        let (new, was) = (&self.spec, &old.spec);
        let source = |s: &PersistentVolumeSpec| {
            (
                s.host_path.clone(),
                s.local.clone(),
                s.nfs.clone(),
                s.csi.clone(),
            )
        };
        let path = FieldPath::new("spec");
        if source(new) != source(was) {
            errs.push(FieldCause::forbidden(
                &path.child("persistentvolumesource"),
                "spec.persistentvolumesource is immutable after creation",
            ));
        }
        if new.volume_mode != was.volume_mode {
            errs.push(FieldCause::invalid(
                &path.child("volumeMode"),
                new.volume_mode.map(|m| m.as_str().to_owned()),
                IMMUTABLE,
            ));
        }
        if was.node_affinity.is_some() && new.node_affinity != was.node_affinity {
            errs.push(FieldCause::invalid(
                &path.child("nodeAffinity"),
                "",
                IMMUTABLE,
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

    #[test]
    fn defaults_finalizer_and_validation() {
        let kind = for_kind("PersistentVolume").expect("served");
        let out = kind
            .admit(kind.example("pv1", ""), &admission())
            .expect("valid");
        assert_eq!(out["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(out["spec"]["volumeMode"], "Filesystem");
        assert_eq!(out["status"]["phase"], "Pending");
        assert_eq!(
            out["metadata"]["finalizers"],
            json!(["kubernetes.io/pv-protection"])
        );
        let table: &[(&str, Value, &str)] = &[
            (
                "no access modes",
                json!({"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/x"}}),
                "spec.accessModes: Required value",
            ),
            (
                "no capacity",
                json!({"accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"}}),
                "spec.capacity: Required value",
            ),
            (
                "no source",
                json!({"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}),
                "spec: Required value: must specify a volume type",
            ),
            (
                "two sources",
                json!({"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                       "hostPath": {"path": "/x"}, "nfs": {"server": "s", "path": "/e"}}),
                "spec.nfs: Forbidden: may not specify more than 1 volume type",
            ),
            (
                "local without node affinity",
                json!({"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                       "local": {"path": "/x"}}),
                "spec.nodeAffinity: Required value: Local volume requires node affinity",
            ),
            (
                "RWOP with another mode",
                json!({"accessModes": ["ReadWriteOncePod", "ReadOnlyMany"],
                       "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/x"}}),
                "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes",
            ),
        ];
        for (name, spec, want) in table {
            let obj = json!({"apiVersion": "v1", "kind": "PersistentVolume",
                             "metadata": {"name": "pv"}, "spec": spec});
            let e = kind.typed(obj, None).expect_err(name);
            assert_eq!(e.code, 422, "{name}");
            assert!(e.message.contains(want), "{name}: {}", e.message);
        }
        let local = json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": "pv"},
            "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                "local": {"path": "/x"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}}}});
        let old = kind
            .typed(local.clone(), None)
            .expect("local with affinity");
        let mut moved = local;
        moved["spec"]["local"]["path"] = json!("/y");
        let e = kind.typed(moved, Some(&old)).expect_err("source changed");
        assert!(
            e.message
                .contains("spec.persistentvolumesource is immutable after creation"),
            "{}",
            e.message
        );
    }

    #[test]
    fn prints_kubernetes_columns() {
        let pv: PersistentVolume = serde_json::from_value(json!({
            "metadata": {"name": "pv1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "local-path",
                     "claimRef": {"namespace": "default", "name": "data"},
                     "hostPath": {"path": "/x"}, "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"},
        }))
        .expect("pv");
        let now = pv.metadata.creation_timestamp.expect("set");
        let row = pv.cells(Time(now.0 + 90));
        assert_eq!(
            row.cells,
            vec![
                json!("pv1"),
                json!("2Gi"),
                json!("RWO,RWX"),
                json!("Delete"),
                json!("Bound"),
                json!("default/data"),
                json!("local-path"),
                json!("<unset>"),
                json!(""),
                json!("90s"),
                json!("Filesystem"),
            ]
        );
    }
}
