//! Persistent storage: a [`PersistentVolume`] (core/v1, cluster-scoped) is a piece of
//! storage in the cluster; a [`PersistentVolumeClaim`] (core/v1, namespaced) asks for one
//! and binds to it one-to-one; a [`StorageClass`] (`storage.k8s.io/v1`, cluster-scoped)
//! names a provisioner that makes volumes for claims on demand, and when binding happens
//! (at once, or once a pod using the claim is scheduled).
//!
//! Pods use a claim through a `persistentVolumeClaim` volume
//! ([`PersistentVolumeClaimVolumeSource`]). The annotations and finalizers the binder,
//! the scheduler and the provisioner exchange are constants here, spelled as Kubernetes
//! spells them.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{
    is_default, null_as_default, ConditionStatus, HostPathVolumeSource, LabelSelector,
    NodeSelector, ObjectReference, ResourceList, Time,
};

/// The annotation marking a StorageClass as the default of claims that name none.
pub const IS_DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
/// The annotation the scheduler puts on a WaitForFirstConsumer claim: the node its
/// volume should be provisioned for.
pub const SELECTED_NODE_ANNOTATION: &str = "volume.kubernetes.io/selected-node";
/// The annotation on a claim whose binding the PV controller has completed.
pub const BIND_COMPLETED_ANNOTATION: &str = "pv.kubernetes.io/bind-completed";
/// The annotation on a claim or volume whose binding the PV controller made (rather than
/// a user pre-binding them).
pub const BOUND_BY_CONTROLLER_ANNOTATION: &str = "pv.kubernetes.io/bound-by-controller";
/// The annotation on a provisioned volume naming the provisioner that made it.
pub const PROVISIONED_BY_ANNOTATION: &str = "pv.kubernetes.io/provisioned-by";
/// The annotation on a claim naming the provisioner expected to provision it.
pub const STORAGE_PROVISIONER_ANNOTATION: &str = "volume.kubernetes.io/storage-provisioner";
/// The older (beta) spelling of [`STORAGE_PROVISIONER_ANNOTATION`], still written.
pub const BETA_STORAGE_PROVISIONER_ANNOTATION: &str =
    "volume.beta.kubernetes.io/storage-provisioner";
/// The finalizer that keeps a claim while a pod uses it.
pub const PVC_PROTECTION_FINALIZER: &str = "kubernetes.io/pvc-protection";
/// The finalizer that keeps a volume while a claim is bound to it.
pub const PV_PROTECTION_FINALIZER: &str = "kubernetes.io/pv-protection";
/// The StorageClass every Rudder cluster creates at start-up (the default class).
pub const LOCAL_PATH_CLASS: &str = "local-path";
/// The provisioner of [`LOCAL_PATH_CLASS`]: a directory per volume on the node the
/// consuming pod was scheduled to.
pub const LOCAL_PATH_PROVISIONER: &str = "rudder.io/local-path";

kind! {
    /// A piece of storage in the cluster, provisioned by an administrator or
    /// dynamically through a StorageClass.
    #[schema(name = "io.k8s.api.core.v1.PersistentVolume")]
    pub struct PersistentVolume: "v1", "PersistentVolume", "persistentvolumes", namespaced = false {
        /// What the volume is and how it may be used.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: PersistentVolumeSpec,
        /// The most recently observed status; read-only.
        #[serde(skip_serializing_if = "is_default")]
        pub status: PersistentVolumeStatus,
    }
}

kind! {
    /// A user's request for (and claim to) a persistent volume.
    #[schema(name = "io.k8s.api.core.v1.PersistentVolumeClaim")]
    pub struct PersistentVolumeClaim: "v1", "PersistentVolumeClaim", "persistentvolumeclaims", namespaced = true {
        /// The storage asked for.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: PersistentVolumeClaimSpec,
        /// The most recently observed status; read-only.
        #[serde(skip_serializing_if = "is_default")]
        pub status: PersistentVolumeClaimStatus,
    }
}

kind! {
    /// A class of storage: the provisioner that makes its volumes, with parameters, and
    /// when claims of the class are bound.
    #[schema(name = "io.k8s.api.storage.v1.StorageClass")]
    pub struct StorageClass: "storage.k8s.io/v1", "StorageClass", "storageclasses", namespaced = false {
        /// The provisioner that makes volumes of this class.
        #[schema(required)]
        pub provisioner: String,
        /// Parameters for the provisioner.
        #[serde(
            deserialize_with = "null_as_default",
            skip_serializing_if = "BTreeMap::is_empty"
        )]
        pub parameters: BTreeMap<String, String>,
        /// What happens to a provisioned volume when its claim goes: `Delete` (the
        /// default) or `Retain`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub reclaim_policy: Option<PersistentVolumeReclaimPolicy>,
        /// Mount options of the provisioned volumes.
        #[serde(
            deserialize_with = "null_as_default",
            skip_serializing_if = "Vec::is_empty"
        )]
        #[schema(atomic)]
        pub mount_options: Vec<String>,
        /// Whether claims of this class may grow.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub allow_volume_expansion: Option<bool>,
        /// When claims are bound and volumes provisioned: `Immediate` (the default) or
        /// `WaitForFirstConsumer` (once a pod using the claim is scheduled).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub volume_binding_mode: Option<VolumeBindingMode>,
        /// Where volumes of this class may be provisioned (empty: anywhere).
        #[serde(
            deserialize_with = "null_as_default",
            skip_serializing_if = "Vec::is_empty"
        )]
        #[schema(atomic)]
        pub allowed_topologies: Vec<TopologySelectorTerm>,
    }
}

string_enum! {
    /// How a volume may be mounted.
    pub enum PersistentVolumeAccessMode {
        /// Read-write by a single node.
        ReadWriteOnce = "ReadWriteOnce",
        /// Read-only by many nodes.
        ReadOnlyMany = "ReadOnlyMany",
        /// Read-write by many nodes.
        ReadWriteMany = "ReadWriteMany",
        /// Read-write by a single pod.
        ReadWriteOncePod = "ReadWriteOncePod",
    }
}

string_enum! {
    /// What happens to a volume when its claim is deleted.
    pub enum PersistentVolumeReclaimPolicy {
        /// The volume is kept, Released, with its data.
        Retain = "Retain",
        /// The volume and its storage are deleted.
        Delete = "Delete",
        /// The volume is scrubbed and made available again (deprecated).
        Recycle = "Recycle",
    }
}

string_enum! {
    /// Whether a volume is a file system or a raw block device.
    pub enum PersistentVolumeMode {
        /// A raw block device.
        Block = "Block",
        /// A file system (the default).
        Filesystem = "Filesystem",
    }
}

string_enum! {
    /// The phase of a volume.
    pub enum PersistentVolumePhase {
        /// Not yet available.
        Pending = "Pending",
        /// Free, not bound to a claim.
        Available = "Available",
        /// Bound to a claim.
        Bound = "Bound",
        /// Its claim was deleted; not yet reclaimed.
        Released = "Released",
        /// Reclaiming it failed.
        Failed = "Failed",
    }
}

string_enum! {
    /// The phase of a claim.
    pub enum PersistentVolumeClaimPhase {
        /// Not yet bound.
        Pending = "Pending",
        /// Bound to a volume.
        Bound = "Bound",
        /// Its volume is gone.
        Lost = "Lost",
    }
}

string_enum! {
    /// When claims of a StorageClass are bound.
    pub enum VolumeBindingMode {
        /// As soon as the claim is created.
        Immediate = "Immediate",
        /// Once a pod using the claim is scheduled, on that pod's node.
        WaitForFirstConsumer = "WaitForFirstConsumer",
    }
}

/// What a persistent volume is and how it may be used; exactly one source is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PersistentVolumeSpec")]
pub struct PersistentVolumeSpec {
    /// The volume's resources; `storage` is its size.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub capacity: ResourceList,
    /// A directory on a node (single-node testing only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathVolumeSource>,
    /// A local disk or directory of one node (needs `nodeAffinity`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalVolumeSource>,
    /// An NFS export.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nfs: Option<NfsVolumeSource>,
    /// A volume of an external CSI driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csi: Option<CsiPersistentVolumeSource>,
    /// How the volume may be mounted.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub access_modes: Vec<PersistentVolumeAccessMode>,
    /// The claim bound to this volume (or the one it is reserved for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_ref: Option<ObjectReference>,
    /// What happens when the claim is deleted: `Retain` (the default for volumes made
    /// by hand), `Delete` or `Recycle`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_volume_reclaim_policy: Option<PersistentVolumeReclaimPolicy>,
    /// The StorageClass of the volume (empty: no class).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub storage_class_name: String,
    /// Mount options.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub mount_options: Vec<String>,
    /// `Filesystem` (the default) or `Block`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_mode: Option<PersistentVolumeMode>,
    /// The nodes the volume can be used from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<VolumeNodeAffinity>,
    /// The VolumeAttributesClass of the volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_attributes_class_name: Option<String>,
}

/// A local disk or directory of one node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.LocalVolumeSource")]
pub struct LocalVolumeSource {
    /// The full path on the node.
    #[schema(required)]
    pub path: String,
    /// The file system type, for a block device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs_type: Option<String>,
}

/// An NFS export.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.NFSVolumeSource")]
pub struct NfsVolumeSource {
    /// The NFS server.
    #[schema(required)]
    pub server: String,
    /// The exported path.
    #[schema(required)]
    pub path: String,
    /// Mount it read-only.
    #[serde(skip_serializing_if = "is_default")]
    pub read_only: bool,
}

/// A volume of an external CSI driver.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.CSIPersistentVolumeSource")]
pub struct CsiPersistentVolumeSource {
    /// The driver's name.
    #[schema(required)]
    pub driver: String,
    /// The volume's id at the driver.
    #[schema(required)]
    pub volume_handle: String,
    /// Mount it read-only.
    #[serde(skip_serializing_if = "is_default")]
    pub read_only: bool,
    /// The file system type.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fs_type: String,
    /// The driver's attributes of the volume.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub volume_attributes: BTreeMap<String, String>,
}

/// The nodes a volume can be used from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.VolumeNodeAffinity")]
pub struct VolumeNodeAffinity {
    /// The nodes must match these terms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<NodeSelector>,
}

/// The observed state of a volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PersistentVolumeStatus")]
pub struct PersistentVolumeStatus {
    /// Pending, Available, Bound, Released or Failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<PersistentVolumePhase>,
    /// Why the volume is in this phase, for humans.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Why the volume is in this phase, in CamelCase.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// When the phase last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_phase_transition_time: Option<Time>,
}

/// The storage a claim asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PersistentVolumeClaimSpec")]
pub struct PersistentVolumeClaimSpec {
    /// The access modes the volume must support.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub access_modes: Vec<PersistentVolumeAccessMode>,
    /// Only volumes with matching labels may be bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The least (`requests.storage`) and most resources the volume must have.
    #[serde(skip_serializing_if = "is_default")]
    pub resources: VolumeResourceRequirements,
    /// The volume bound to this claim (or the one it asks for by name).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub volume_name: String,
    /// The StorageClass asked for (unset: the default class; empty: no class).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// `Filesystem` (the default) or `Block`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_mode: Option<PersistentVolumeMode>,
    /// An existing object to fill the new volume from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_source: Option<TypedLocalObjectReference>,
    /// An object to fill the new volume from, possibly in another namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_source_ref: Option<TypedObjectReference>,
    /// The VolumeAttributesClass asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_attributes_class_name: Option<String>,
}

/// The resources a claim asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.VolumeResourceRequirements")]
pub struct VolumeResourceRequirements {
    /// The most the volume may have.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub limits: ResourceList,
    /// The least the volume must have (`storage`).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub requests: ResourceList,
}

/// A typed reference to an object in the same namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.TypedLocalObjectReference")]
pub struct TypedLocalObjectReference {
    /// The referent's API group (empty for core).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// The referent's kind.
    #[schema(required)]
    pub kind: String,
    /// The referent's name.
    #[schema(required)]
    pub name: String,
}

/// A typed reference to an object, possibly in another namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.TypedObjectReference")]
pub struct TypedObjectReference {
    /// The referent's API group (empty for core).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// The referent's kind.
    #[schema(required)]
    pub kind: String,
    /// The referent's name.
    #[schema(required)]
    pub name: String,
    /// The referent's namespace (default: the claim's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The observed state of a claim.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PersistentVolumeClaimStatus")]
pub struct PersistentVolumeClaimStatus {
    /// Pending, Bound or Lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<PersistentVolumeClaimPhase>,
    /// The access modes of the bound volume.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub access_modes: Vec<PersistentVolumeAccessMode>,
    /// The resources of the bound volume.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub capacity: ResourceList,
    /// The claim's current conditions (e.g. `Resizing`).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "type")]
    pub conditions: Vec<PersistentVolumeClaimCondition>,
    /// The VolumeAttributesClass the volume has now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_volume_attributes_class_name: Option<String>,
}

/// One condition of a claim.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PersistentVolumeClaimCondition")]
pub struct PersistentVolumeClaimCondition {
    /// The condition's type.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// True, False or Unknown.
    #[schema(required)]
    pub status: ConditionStatus,
    /// When the condition was last probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// When the condition last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Why, in CamelCase.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Why, for humans.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// A claim as a pod's volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PersistentVolumeClaimVolumeSource")]
pub struct PersistentVolumeClaimVolumeSource {
    /// The claim's name, in the pod's namespace.
    #[schema(required)]
    pub claim_name: String,
    /// Mount the volume read-only.
    #[serde(skip_serializing_if = "is_default")]
    pub read_only: bool,
}

/// A set of topology terms (ORed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.TopologySelectorTerm")]
pub struct TopologySelectorTerm {
    /// Requirements on node labels (ANDed).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub match_label_expressions: Vec<TopologySelectorLabelRequirement>,
}

/// A node label and the values it may have.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.TopologySelectorLabelRequirement")]
pub struct TopologySelectorLabelRequirement {
    /// The label key.
    #[schema(required)]
    pub key: String,
    /// The values it may have.
    #[serde(deserialize_with = "null_as_default")]
    #[schema(required, atomic)]
    pub values: Vec<String>,
}

impl PersistentVolumeClaim {
    /// The storage class the claim asks for (empty when none, or not defaulted yet).
    pub fn class_name(&self) -> &str {
        self.spec.storage_class_name.as_deref().unwrap_or_default()
    }

    /// The `storage` the claim requests.
    pub fn requested_storage(&self) -> Option<&super::Quantity> {
        self.spec.resources.requests.get("storage")
    }

    /// Whether the claim is bound to a volume.
    pub fn is_bound(&self) -> bool {
        self.status.phase == Some(PersistentVolumeClaimPhase::Bound)
    }
}

impl PersistentVolume {
    /// The reclaim policy (Retain when unset, as Kubernetes defaults it).
    pub fn reclaim_policy(&self) -> PersistentVolumeReclaimPolicy {
        self.spec
            .persistent_volume_reclaim_policy
            .unwrap_or(PersistentVolumeReclaimPolicy::Retain)
    }

    /// The directory on the node that backs the volume, for the sources Rudder mounts
    /// (`local` and `hostPath`).
    pub fn node_path(&self) -> Option<&str> {
        self.spec
            .local
            .as_ref()
            .map(|l| l.path.as_str())
            .or_else(|| self.spec.host_path.as_ref().map(|h| h.path.as_str()))
    }
}

impl StorageClass {
    /// Whether the class is marked as the default.
    pub fn is_default_class(&self) -> bool {
        self.metadata
            .annotations
            .get(IS_DEFAULT_CLASS_ANNOTATION)
            .is_some_and(|v| v == "true")
    }

    /// The binding mode (Immediate when unset).
    pub fn binding_mode(&self) -> VolumeBindingMode {
        self.volume_binding_mode
            .unwrap_or(VolumeBindingMode::Immediate)
    }
}
