//! Pods (`core/v1 Pod`): the spec (containers, volumes, scheduling constraints, probes)
//! and the status the kubelet reports, plus `PodTemplateSpec` used by controllers.
//!
//! Go inlines a probe's handler and a volume's source; here they are plain optional fields
//! of [`Probe`] and [`Volume`], which gives the same JSON.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{
    is_default, null_as_default, ConditionStatus, IntOrString, LocalObjectReference, ObjectMeta,
    PreemptionPolicy, Protocol, Quantity, ResourceList, Taint, TaintEffect, Time,
};

mod dns;
mod lifecycle;
mod resources;
mod scheduling;
mod security;

pub use dns::*;
pub use lifecycle::*;
pub use resources::*;
pub use scheduling::*;
pub use security::*;

kind! {
    /// A group of containers sharing a network namespace, scheduled onto one node.
    #[schema(name = "io.k8s.api.core.v1.Pod")]
    pub struct Pod: "v1", "Pod", "pods", namespaced = true {
        /// The desired behaviour of the pod.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: PodSpec,
        /// The most recently observed status of the pod, written by the kubelet; read-only.
        #[serde(skip_serializing_if = "is_default")]
        pub status: PodStatus,
    }
}

string_enum! {
    /// Where a pod is in its lifecycle.
    pub enum PodPhase {
        /// Accepted, but not all containers are running yet.
        Pending = "Pending",
        /// Bound to a node and at least one container is running.
        Running = "Running",
        /// All containers terminated successfully and will not restart.
        Succeeded = "Succeeded",
        /// All containers terminated and at least one failed.
        Failed = "Failed",
        /// The state could not be obtained.
        Unknown = "Unknown",
    }
}

string_enum! {
    /// When the kubelet restarts a pod's containers.
    pub enum RestartPolicy {
        /// Always restart (the default).
        Always = "Always",
        /// Restart only after a failure.
        OnFailure = "OnFailure",
        /// Never restart.
        Never = "Never",
    }
}

string_enum! {
    /// How a pod's DNS is configured.
    pub enum DnsPolicy {
        /// Cluster DNS first, even with host networking.
        ClusterFirstWithHostNet = "ClusterFirstWithHostNet",
        /// Cluster DNS first (the default).
        ClusterFirst = "ClusterFirst",
        /// The node's DNS configuration.
        Default = "Default",
        /// Only what `dnsConfig` says.
        None = "None",
    }
}

string_enum! {
    /// When the kubelet pulls a container image.
    pub enum PullPolicy {
        /// Pull every time.
        Always = "Always",
        /// Never pull; the image must be present.
        Never = "Never",
        /// Pull only when the image is missing.
        IfNotPresent = "IfNotPresent",
    }
}

string_enum! {
    /// Where a container's termination message comes from.
    pub enum TerminationMessagePolicy {
        /// Only the termination message file.
        File = "File",
        /// The file, or the end of the log when the file is empty and the container failed.
        FallbackToLogsOnError = "FallbackToLogsOnError",
    }
}

string_enum! {
    /// The scheme of an HTTP probe.
    pub enum UriScheme {
        /// Plain HTTP.
        Http = "HTTP",
        /// HTTP over TLS.
        Https = "HTTPS",
    }
}

string_enum! {
    /// How a toleration matches a taint.
    pub enum TolerationOperator {
        /// Any value (and, with an empty key, any taint).
        Exists = "Exists",
        /// The values are equal.
        Equal = "Equal",
    }
}

string_enum! {
    /// How a node selector requirement compares a label or field with its values.
    #[derive(Default)]
    pub enum NodeSelectorOperator {
        /// The value is one of `values`.
        #[default]
        In = "In",
        /// The value is none of `values`.
        NotIn = "NotIn",
        /// The label is present.
        Exists = "Exists",
        /// The label is absent.
        DoesNotExist = "DoesNotExist",
        /// The value, as an integer, is greater than the single element of `values`.
        Gt = "Gt",
        /// The value, as an integer, is less than the single element of `values`.
        Lt = "Lt",
    }
}

string_enum! {
    /// A pod's quality-of-service class, derived from its requests and limits.
    pub enum PodQosClass {
        /// Requests equal limits for every container.
        Guaranteed = "Guaranteed",
        /// Some requests or limits are set.
        Burstable = "Burstable",
        /// No requests or limits at all.
        BestEffort = "BestEffort",
    }
}

/// The desired state of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodSpec")]
pub struct PodSpec {
    /// Volumes the containers can mount.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "name", retain_keys)]
    pub volumes: Vec<Volume>,
    /// Containers run to completion, in order, before the app containers start.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "name")]
    pub init_containers: Vec<Container>,
    /// The containers of the pod; at least one.
    #[serde(deserialize_with = "null_as_default")]
    #[schema(required, merge_key = "name")]
    pub containers: Vec<Container>,
    /// When containers are restarted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Time between the termination signal and the kill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// How long the pod may be active before it is failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    /// How the pod's DNS is set up (default ClusterFirst).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_policy: Option<DnsPolicy>,
    /// Labels a node must have for the pod to fit.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub node_selector: BTreeMap<String, String>,
    /// The service account the pod runs as.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// Whether the service account token is mounted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
    /// The node the pod is bound to; set by the scheduler's binding.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    /// Use the node's network namespace.
    #[serde(skip_serializing_if = "is_default")]
    pub host_network: bool,
    /// The pod's hostname (defaults to its name).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// Subdomain, giving `<hostname>.<subdomain>.<namespace>.svc.<cluster domain>`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subdomain: String,
    /// Scheduling constraints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Which scheduler places the pod.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scheduler_name: String,
    /// Taints the pod tolerates.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub tolerations: Vec<Toleration>,
    /// The priority class, resolved into `priority` at admission.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub priority_class_name: String,
    /// The pod's priority; higher schedules first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Containers added to a running pod for debugging (`kubectl debug`); stored, and
    /// only changed through the `ephemeralcontainers` subresource.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "name")]
    pub ephemeral_containers: Vec<EphemeralContainer>,
    /// Deprecated alias of `serviceAccountName`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_account: String,
    /// Use the node's PID namespace.
    #[serde(rename = "hostPID", skip_serializing_if = "is_default")]
    pub host_pid: bool,
    /// Use the node's IPC namespace.
    #[serde(rename = "hostIPC", skip_serializing_if = "is_default")]
    pub host_ipc: bool,
    /// One PID namespace for all containers of the pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_process_namespace: Option<bool>,
    /// Security settings for every container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    /// Secrets holding registry credentials for pulling the images.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "name")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// Entries added to the pod's /etc/hosts.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "ip", map_keys("ip"))]
    pub host_aliases: Vec<HostAlias>,
    /// DNS settings merged into (or, with dnsPolicy None, making up) the pod's
    /// resolv.conf.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_config: Option<PodDnsConfig>,
    /// Further pod conditions that must be True for the pod to be Ready.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub readiness_gates: Vec<PodReadinessGate>,
    /// The RuntimeClass the pod runs with (default: the node's default runtime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,
    /// Whether the services of the namespace are injected as environment variables
    /// (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_service_links: Option<bool>,
    /// Whether the pod may preempt lower-priority pods (default PreemptLowerPriority).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preemption_policy: Option<PreemptionPolicy>,
    /// Resources the pod's sandbox uses on top of its containers' requests.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub overhead: ResourceList,
    /// How the pod's replicas spread over topology domains.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(
        merge_key = "topologyKey",
        map_keys("topologyKey", "whenUnsatisfiable")
    )]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// Use the fully qualified name as the hostname.
    #[serde(rename = "setHostnameAsFQDN", skip_serializing_if = "Option::is_none")]
    pub set_hostname_as_fqdn: Option<bool>,
    /// The operating system the pod needs (`linux` or `windows`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<PodOs>,
    /// Use the host's user namespace (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_users: Option<bool>,
    /// While any gate is listed, the pod is not scheduled.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "name", map_keys("name"))]
    pub scheduling_gates: Vec<PodSchedulingGate>,
    /// Dynamic resource claims the pod uses.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "name", map_keys("name"), retain_keys)]
    pub resource_claims: Vec<PodResourceClaim>,
    /// Resources for the pod as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Overrides the hostname the pod sees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname_override: Option<String>,
}

/// A container in a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.Container")]
pub struct Container {
    /// Name of the container, unique within the pod (DNS label).
    #[schema(required)]
    pub name: String,
    /// The image reference.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// Replaces the image's entrypoint.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub command: Vec<String>,
    /// Replaces the image's command arguments.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub args: Vec<String>,
    /// The container's working directory.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// Ports the container exposes.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "containerPort", map_keys("containerPort", "protocol"))]
    pub ports: Vec<ContainerPort>,
    /// Environment variables to set in the container.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "name")]
    pub env: Vec<EnvVar>,
    /// Sources whose every key becomes an environment variable (`env` wins on a clash).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub env_from: Vec<EnvFromSource>,
    /// Compute resources the container needs.
    #[serde(skip_serializing_if = "is_default")]
    pub resources: ResourceRequirements,
    /// Volumes mounted into the container.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "mountPath")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Restarts the container when it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// Removes the pod from service endpoints while it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    /// Holds off the other probes until it succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    /// Where the container writes its termination message.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub termination_message_path: String,
    /// Where the termination message comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_message_policy: Option<TerminationMessagePolicy>,
    /// When the image is pulled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// Keep stdin open.
    #[serde(skip_serializing_if = "is_default")]
    pub stdin: bool,
    /// Allocate a TTY.
    #[serde(skip_serializing_if = "is_default")]
    pub tty: bool,
    /// Keep stdin open for the first attach only.
    #[serde(skip_serializing_if = "is_default")]
    pub stdin_once: bool,
    /// Hooks run after start and before stop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// Security settings (override the pod's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    /// How each resource is resized in place.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub resize_policy: Vec<ContainerResizePolicy>,
    /// For an init container, `Always` makes it a sidecar that runs alongside the app
    /// containers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<ContainerRestartPolicy>,
    /// Restart decisions by exit code, overriding the restart policy.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub restart_policy_rules: Vec<ContainerRestartRule>,
    /// Block devices mapped into the container.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "devicePath")]
    pub volume_devices: Vec<VolumeDevice>,
}

/// A debugging container added to a running pod; the same fields as a container
/// (ports, probes, lifecycle and resources are not allowed) plus the container whose
/// namespaces it joins.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.EphemeralContainer")]
pub struct EphemeralContainer {
    /// Name of the container, unique within the pod (DNS label).
    #[schema(required)]
    pub name: String,
    /// The image reference.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// Replaces the image's entrypoint.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub command: Vec<String>,
    /// Replaces the image's command arguments.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub args: Vec<String>,
    /// The container's working directory.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// Ports the container exposes.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "containerPort", map_keys("containerPort", "protocol"))]
    pub ports: Vec<ContainerPort>,
    /// Environment variables to set in the container.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "name")]
    pub env: Vec<EnvVar>,
    /// Sources whose every key becomes an environment variable (`env` wins on a clash).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub env_from: Vec<EnvFromSource>,
    /// Compute resources the container needs.
    #[serde(skip_serializing_if = "is_default")]
    pub resources: ResourceRequirements,
    /// Volumes mounted into the container.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "mountPath")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Restarts the container when it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// Removes the pod from service endpoints while it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    /// Holds off the other probes until it succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    /// Where the container writes its termination message.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub termination_message_path: String,
    /// Where the termination message comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_message_policy: Option<TerminationMessagePolicy>,
    /// When the image is pulled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// Keep stdin open.
    #[serde(skip_serializing_if = "is_default")]
    pub stdin: bool,
    /// Allocate a TTY.
    #[serde(skip_serializing_if = "is_default")]
    pub tty: bool,
    /// Keep stdin open for the first attach only.
    #[serde(skip_serializing_if = "is_default")]
    pub stdin_once: bool,
    /// Hooks run after start and before stop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// Security settings (override the pod's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    /// How each resource is resized in place.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub resize_policy: Vec<ContainerResizePolicy>,
    /// For an init container, `Always` makes it a sidecar that runs alongside the app
    /// containers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<ContainerRestartPolicy>,
    /// Restart decisions by exit code, overriding the restart policy.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub restart_policy_rules: Vec<ContainerRestartRule>,
    /// Block devices mapped into the container.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "devicePath")]
    pub volume_devices: Vec<VolumeDevice>,
    /// The container whose process namespace this one joins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_container_name: Option<String>,
}

/// A port a container exposes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ContainerPort")]
pub struct ContainerPort {
    /// A name services can refer to (IANA_SVC_NAME).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A port on the node forwarded to this one.
    #[serde(skip_serializing_if = "is_default")]
    pub host_port: i32,
    /// The port inside the pod's network namespace.
    #[schema(required)]
    pub container_port: i32,
    /// TCP (default), UDP or SCTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The node address `hostPort` binds to.
    #[serde(rename = "hostIP", skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

/// An environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.EnvVar")]
pub struct EnvVar {
    /// The variable's name.
    #[schema(required)]
    pub name: String,
    /// A literal value; `$(VAR)` references are expanded.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// Where the value comes from, instead of value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.EnvVarSource")]
pub struct EnvVarSource {
    /// A field of the pod, e.g. `metadata.name` or `status.podIP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<ObjectFieldSelector>,
    /// A resource limit or request of a container, e.g. `limits.cpu`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldSelector>,
    /// A key of a ConfigMap in the pod's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<ConfigMapKeySelector>,
    /// A key of a Secret in the pod's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeySelector>,
}

/// Selects a container's resource limit or request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ResourceFieldSelector")]
pub struct ResourceFieldSelector {
    /// The container (required for volumes, the own one for env).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub container_name: String,
    /// The resource: `limits.cpu`, `requests.memory`, ...
    #[schema(required)]
    pub resource: String,
    /// The unit the value is given in (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub divisor: Option<Quantity>,
}

/// Selects a key of a ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ConfigMapKeySelector")]
pub struct ConfigMapKeySelector {
    /// The ConfigMap's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The key to select.
    #[schema(required)]
    pub key: String,
    /// Whether the ConfigMap or its key may be missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Selects a key of a Secret.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.SecretKeySelector")]
pub struct SecretKeySelector {
    /// The Secret's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The key to select.
    #[schema(required)]
    pub key: String,
    /// Whether the Secret or its key may be missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A source of a set of environment variables.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.EnvFromSource")]
pub struct EnvFromSource {
    /// Prepended to every key.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// A ConfigMap whose keys become variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ConfigMapEnvSource>,
    /// A Secret whose keys become variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretEnvSource>,
}

/// A ConfigMap as environment variables.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ConfigMapEnvSource")]
pub struct ConfigMapEnvSource {
    /// The ConfigMap's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Whether the ConfigMap may be missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A Secret as environment variables.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.SecretEnvSource")]
pub struct SecretEnvSource {
    /// The Secret's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Whether the Secret may be missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Selects a field of an object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ObjectFieldSelector")]
pub struct ObjectFieldSelector {
    /// The schema version the path is written in (defaults to `v1`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The field's path, e.g. `metadata.namespace`.
    #[schema(required)]
    pub field_path: String,
}

/// A container's resource requests and limits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ResourceRequirements")]
pub struct ResourceRequirements {
    /// The most the container may use.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub limits: ResourceList,
    /// What the scheduler reserves for the container.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub requests: ResourceList,
    /// Dynamic resource claims (by name in the pod's `resourceClaims`) this container
    /// uses.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub claims: Vec<ResourceClaim>,
}

/// A volume mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.VolumeMount")]
pub struct VolumeMount {
    /// The volume's name.
    #[schema(required)]
    pub name: String,
    /// Mount read-only.
    #[serde(skip_serializing_if = "is_default")]
    pub read_only: bool,
    /// Path inside the container where the volume is mounted.
    #[schema(required)]
    pub mount_path: String,
    /// Whether a read-only mount is read-only recursively (needs `readOnly`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recursive_read_only: Option<RecursiveReadOnlyMode>,
    /// A path within the volume to mount instead of its root.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sub_path: String,
    /// How mounts propagate between host and container (default None).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_propagation: Option<MountPropagationMode>,
    /// Like `subPath`, with `$(VAR)` expanded from the container's environment.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sub_path_expr: String,
}

/// A health check the kubelet runs against a container. Exactly one handler
/// (`exec`, `httpGet`, `tcpSocket`) should be set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.Probe")]
pub struct Probe {
    /// Run a command; exit status 0 is healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// An HTTP GET; 200–399 is healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    /// A TCP connect; success is healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    /// A gRPC health check; SERVING is healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcAction>,
    /// Delay after the container starts.
    #[serde(skip_serializing_if = "is_default")]
    pub initial_delay_seconds: i32,
    /// Seconds after which a probe times out (default 1).
    #[serde(skip_serializing_if = "is_default")]
    pub timeout_seconds: i32,
    /// How often to probe, in seconds (default 10).
    #[serde(skip_serializing_if = "is_default")]
    pub period_seconds: i32,
    /// Consecutive successes to count as healthy again.
    #[serde(skip_serializing_if = "is_default")]
    pub success_threshold: i32,
    /// Consecutive failures to count as unhealthy.
    #[serde(skip_serializing_if = "is_default")]
    pub failure_threshold: i32,
    /// Overrides the pod's grace period when this probe kills the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
}

/// A command run inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ExecAction")]
pub struct ExecAction {
    /// The command line (not run in a shell).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub command: Vec<String>,
}

/// An HTTP GET request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.HTTPGetAction")]
pub struct HttpGetAction {
    /// Path to access on the HTTP server.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Port number or name to access on the container.
    #[schema(required)]
    pub port: IntOrString,
    /// The host (defaults to the pod IP).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// HTTP (default) or HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<UriScheme>,
    /// Extra request headers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub http_headers: Vec<HttpHeader>,
}

/// A request header.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.HTTPHeader")]
pub struct HttpHeader {
    /// The header field name.
    #[schema(required)]
    pub name: String,
    /// The header field value.
    #[schema(required)]
    pub value: String,
}

/// A TCP connection attempt.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.TCPSocketAction")]
pub struct TcpSocketAction {
    /// Port number or name to connect to.
    #[schema(required)]
    pub port: IntOrString,
    /// The host (defaults to the pod IP).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
}

/// A volume of a pod; exactly one source should be set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.Volume")]
pub struct Volume {
    /// Unique within the pod; mounts refer to it.
    #[schema(required)]
    pub name: String,
    /// A directory on the node's file system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathVolumeSource>,
    /// A scratch directory living as long as the pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolumeSource>,
    /// The keys of a Secret, as files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,
    /// The keys of a ConfigMap, as files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolumeSource>,
    /// Fields of the pod, as files.
    #[serde(rename = "downwardAPI", skip_serializing_if = "Option::is_none")]
    pub downward_api: Option<DownwardApiVolumeSource>,
    /// Secrets, ConfigMaps and pod fields together in one directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projected: Option<ProjectedVolumeSource>,
    /// The volume bound to a PersistentVolumeClaim in the pod's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<super::PersistentVolumeClaimVolumeSource>,
}

/// Fields of the pod as files.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.DownwardAPIVolumeSource")]
pub struct DownwardApiVolumeSource {
    /// The files.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub items: Vec<DownwardApiVolumeFile>,
    /// Mode bits of the files (default 0644).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
}

/// One file of a downward API volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.DownwardAPIVolumeFile")]
pub struct DownwardApiVolumeFile {
    /// The relative path of the file.
    #[schema(required)]
    pub path: String,
    /// A field of the pod: metadata.name, metadata.namespace, metadata.uid,
    /// metadata.labels, metadata.annotations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<ObjectFieldSelector>,
    /// A container's resource limit or request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldSelector>,
    /// The file's mode bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<i32>,
}

/// Several sources in one directory.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ProjectedVolumeSource")]
pub struct ProjectedVolumeSource {
    /// The sources, each exactly one of its kinds.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub sources: Vec<VolumeProjection>,
    /// Mode bits of the files (default 0644).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
}

/// One source of a projected volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.VolumeProjection")]
pub struct VolumeProjection {
    /// A Secret's keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretProjection>,
    /// Fields of the pod.
    #[serde(rename = "downwardAPI", skip_serializing_if = "Option::is_none")]
    pub downward_api: Option<DownwardApiProjection>,
    /// A ConfigMap's keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapProjection>,
    /// A token of the pod's service account, requested and refreshed by the kubelet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account_token: Option<ServiceAccountTokenProjection>,
}

/// A service-account token in a projected volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ServiceAccountTokenProjection")]
pub struct ServiceAccountTokenProjection {
    /// The audience the token is for (the API server's when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub audience: String,
    /// The requested lifetime (one hour when unset; at least ten minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<i64>,
    /// The file's path relative to the volume.
    pub path: String,
}

/// A Secret's keys in a projected volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.SecretProjection")]
pub struct SecretProjection {
    /// The Secret's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Which keys, under which paths (all keys when empty).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub items: Vec<KeyToPath>,
    /// Whether the Secret may be missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A ConfigMap's keys in a projected volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ConfigMapProjection")]
pub struct ConfigMapProjection {
    /// The ConfigMap's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Which keys, under which paths (all keys when empty).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub items: Vec<KeyToPath>,
    /// Whether the ConfigMap may be missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Pod fields in a projected volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.DownwardAPIProjection")]
pub struct DownwardApiProjection {
    /// The files.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub items: Vec<DownwardApiVolumeFile>,
}

/// A directory on the node's file system.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.HostPathVolumeSource")]
pub struct HostPathVolumeSource {
    /// Path of the directory on the node.
    #[schema(required)]
    pub path: String,
    /// What must be there: `Directory`, `DirectoryOrCreate`, `File`, ... or empty.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

/// A scratch directory.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.EmptyDirVolumeSource")]
pub struct EmptyDirVolumeSource {
    /// Empty for the node's disk, `Memory` for a tmpfs.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub medium: String,
    /// The most local storage the volume may use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<Quantity>,
}

/// A file to project from a Secret's or ConfigMap's key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.KeyToPath")]
pub struct KeyToPath {
    /// The key to project.
    #[schema(required)]
    pub key: String,
    /// The relative path of the file.
    #[schema(required)]
    pub path: String,
    /// The file mode bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<i32>,
}

/// A Secret's keys as files.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.SecretVolumeSource")]
pub struct SecretVolumeSource {
    /// Name of the secret in the pod's namespace.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub secret_name: String,
    /// Which keys, under which paths (all keys when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub items: Vec<KeyToPath>,
    /// Mode bits of the files (default 0644).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
    /// Whether the Secret may be missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A ConfigMap's keys as files.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ConfigMapVolumeSource")]
pub struct ConfigMapVolumeSource {
    /// The ConfigMap's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Which keys, under which paths (all keys when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub items: Vec<KeyToPath>,
    /// Mode bits of the files (default 0644).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
    /// Whether the ConfigMap may be missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

impl Pod {
    /// The pod's condition of type `type_` (see [`crate::names::conditions`]), if reported.
    pub fn condition(&self, type_: &str) -> Option<&PodCondition> {
        self.status.conditions.iter().find(|c| c.type_ == type_)
    }

    /// The pod's `Ready` condition, if reported.
    pub fn ready_condition(&self) -> Option<&PodCondition> {
        self.condition(crate::names::conditions::READY)
    }

    /// Whether the pod's `Ready` condition is `True` (Kubernetes' `IsPodReady`).
    pub fn is_ready(&self) -> bool {
        self.ready_condition()
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// The pod's quality-of-service class from its CPU and memory requests and limits
    /// (Kubernetes' `ComputePodQOS`): pod-level resources when set, else the sums over
    /// all containers. Guaranteed needs a CPU and a memory limit on every container (or
    /// the pod) and requests equal to limits; nothing at all is BestEffort.
    pub fn qos_class(&self) -> PodQosClass {
        const QOS_RESOURCES: [&str; 2] = ["cpu", "memory"];
        // Sums in milli-units (memory in milli-bytes still fits i64 up to 9 PB).
        let mut requests: BTreeMap<&str, i64> = BTreeMap::new();
        let mut limits: BTreeMap<&str, i64> = BTreeMap::new();
        let mut guaranteed = true;
        let pod_level = self.spec.resources.as_ref().filter(|r| {
            QOS_RESOURCES
                .iter()
                .any(|n| r.requests.contains_key(*n) || r.limits.contains_key(*n))
        });
        let sets: Vec<&ResourceRequirements> = match pod_level {
            Some(r) => vec![r],
            None => self
                .spec
                .containers
                .iter()
                .chain(&self.spec.init_containers)
                .map(|c| &c.resources)
                .collect(),
        };
        for r in sets {
            let mut found = 0;
            for name in QOS_RESOURCES {
                if let Some(q) = r.requests.get(name).filter(|q| q.milli_value() > 0) {
                    *requests.entry(name).or_default() += q.milli_value();
                }
                if let Some(q) = r.limits.get(name).filter(|q| q.milli_value() > 0) {
                    *limits.entry(name).or_default() += q.milli_value();
                    found += 1;
                }
            }
            if found < QOS_RESOURCES.len() {
                guaranteed = false;
            }
        }
        if requests.is_empty() && limits.is_empty() {
            return PodQosClass::BestEffort;
        }
        if guaranteed
            && requests.len() == limits.len()
            && requests.iter().all(|(n, v)| limits.get(n) == Some(v))
        {
            PodQosClass::Guaranteed
        } else {
            PodQosClass::Burstable
        }
    }
}

/// Lets a pod schedule onto nodes with matching taints.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.Toleration")]
pub struct Toleration {
    /// The taint key; empty with `Exists` tolerates everything.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// `Equal` (default) or `Exists`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<TolerationOperator>,
    /// The taint value the toleration matches with Equal.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// The taint effect; empty matches every effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect: Option<TaintEffect>,
    /// For `NoExecute`: how long the pod stays bound after the taint appears.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    /// Whether this toleration tolerates `taint` (Kubernetes' `ToleratesTaint`): the
    /// effect matches or is empty, the key matches or is empty, and with `Equal` (the
    /// default) the values are equal.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator {
            Some(TolerationOperator::Exists) => true,
            None | Some(TolerationOperator::Equal) => self.value == taint.value,
        }
    }
}

/// Scheduling constraints of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.Affinity")]
pub struct Affinity {
    /// Constraints on the node's labels and fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<NodeAffinity>,
    /// Pods to be co-located with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_affinity: Option<PodAffinity>,
    /// Pods not to be co-located with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_anti_affinity: Option<PodAntiAffinity>,
}

/// Node affinity: hard and soft constraints on the node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.NodeAffinity")]
pub struct NodeAffinity {
    /// The node must match for the pod to be scheduled there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelector>,
    /// Nodes matching these terms score higher, by weight.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub preferred_during_scheduling_ignored_during_execution: Vec<PreferredSchedulingTerm>,
}

/// A disjunction of node selector terms: a node matches if any term matches.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.NodeSelector")]
pub struct NodeSelector {
    /// The terms (ORed).
    #[schema(required, atomic)]
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

/// A conjunction of requirements on a node's labels and fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.NodeSelectorTerm")]
pub struct NodeSelectorTerm {
    /// Requirements on labels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub match_expressions: Vec<NodeSelectorRequirement>,
    /// Requirements on fields (`metadata.name`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

/// One requirement on a node label or field.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.NodeSelectorRequirement")]
pub struct NodeSelectorRequirement {
    /// The label key or field path.
    #[schema(required)]
    pub key: String,
    /// In, NotIn, Exists, DoesNotExist, Gt or Lt.
    #[schema(required)]
    pub operator: NodeSelectorOperator,
    /// The values compared against.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub values: Vec<String>,
}

/// A weighted soft node constraint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PreferredSchedulingTerm")]
pub struct PreferredSchedulingTerm {
    /// Weight, 1-100.
    #[schema(required)]
    pub weight: i32,
    /// The term a node should match.
    #[schema(required)]
    pub preference: NodeSelectorTerm,
}

/// The observed state of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodStatus")]
pub struct PodStatus {
    /// Where the pod is in its lifecycle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<PodPhase>,
    /// `PodScheduled`, `Initialized`, `ContainersReady`, `Ready`, ...
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "type")]
    pub conditions: Vec<PodCondition>,
    /// Why the pod is in this state, for humans.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Why the pod is in this state, in one word (e.g. `Evicted`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The primary IP of the pod's node.
    #[serde(rename = "hostIP", skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
    /// The IPs of the pod's node.
    #[serde(rename = "hostIPs", skip_serializing_if = "Vec::is_empty")]
    #[schema(merge_key = "ip", atomic)]
    pub host_ips: Vec<HostIp>,
    /// The pod's primary IP.
    #[serde(rename = "podIP", skip_serializing_if = "String::is_empty")]
    pub pod_ip: String,
    /// The pod's IPs, one per family.
    #[serde(rename = "podIPs", skip_serializing_if = "Vec::is_empty")]
    #[schema(merge_key = "ip")]
    pub pod_ips: Vec<PodIp>,
    /// When the kubelet accepted the pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// One per init container.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub init_container_statuses: Vec<ContainerStatus>,
    /// One per app container.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub container_statuses: Vec<ContainerStatus>,
    /// Guaranteed, Burstable or BestEffort.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos_class: Option<PodQosClass>,
    /// The `metadata.generation` this status was written for.
    #[serde(skip_serializing_if = "is_default")]
    pub observed_generation: i64,
    /// The node where preemption made room for this pod; it may still go elsewhere.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nominated_node_name: String,
    /// One per ephemeral container.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub ephemeral_container_statuses: Vec<ContainerStatus>,
    /// Deprecated: the state of an in-place resize.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resize: String,
    /// The ResourceClaims generated for the pod's claim templates.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "name", map_keys("name"), retain_keys)]
    pub resource_claim_statuses: Vec<PodResourceClaimStatus>,
    /// The claim backing the pod's extended resource requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_resource_claim_status: Option<PodExtendedResourceClaimStatus>,
}

/// An IP of the pod's node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.HostIP")]
pub struct HostIp {
    /// The address.
    #[schema(required)]
    pub ip: String,
}

/// An IP of the pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodIP")]
pub struct PodIp {
    /// The address.
    #[schema(required)]
    pub ip: String,
}

/// A condition of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodCondition")]
pub struct PodCondition {
    /// `PodScheduled`, `Initialized`, `ContainersReady`, `Ready`, ...
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// Status of the condition: True, False or Unknown.
    #[schema(required)]
    pub status: ConditionStatus,
    /// The `metadata.generation` the condition was set for.
    #[serde(skip_serializing_if = "is_default")]
    pub observed_generation: i64,
    /// Last time the condition was probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// Last time the condition changed from one status to another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A one-word, CamelCase reason for the condition's last transition.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable message with details about the last transition.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The observed state of one container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ContainerStatus")]
pub struct ContainerStatus {
    /// The container's name in the spec.
    #[schema(required)]
    pub name: String,
    /// What the container is doing now.
    #[serde(skip_serializing_if = "is_default")]
    pub state: ContainerState,
    /// How its previous run ended.
    #[serde(skip_serializing_if = "is_default")]
    pub last_state: ContainerState,
    /// Whether its readiness probe passes.
    #[schema(required)]
    pub ready: bool,
    /// How often it has been restarted.
    #[schema(required)]
    pub restart_count: i32,
    /// The image it runs.
    #[schema(required)]
    pub image: String,
    /// The resolved image id.
    #[serde(rename = "imageID")]
    #[schema(required)]
    pub image_id: String,
    /// `<runtime>://<id>`.
    #[serde(rename = "containerID", skip_serializing_if = "String::is_empty")]
    pub container_id: String,
    /// Whether its startup probe has passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
    /// What the node allocated to the container.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub allocated_resources: ResourceList,
    /// The requests and limits the container runs with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// The volumes mounted into it.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "mountPath")]
    pub volume_mounts: Vec<VolumeMountStatus>,
    /// The identity its first process runs as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<ContainerUser>,
    /// Health of the devices allocated to it.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "name")]
    pub allocated_resources_status: Vec<ResourceStatus>,
    /// The signal that stops it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// One of waiting, running or terminated.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ContainerState")]
pub struct ContainerState {
    /// Not running yet (e.g. `ContainerCreating`, `ImagePullBackOff`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<ContainerStateWaiting>,
    /// The container is running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<ContainerStateRunning>,
    /// The container has finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated: Option<ContainerStateTerminated>,
}

/// A container that is not running yet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ContainerStateWaiting")]
pub struct ContainerStateWaiting {
    /// Why, in one word, e.g. ContainerCreating or ImagePullBackOff.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Why, for humans.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// A running container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ContainerStateRunning")]
pub struct ContainerStateRunning {
    /// When the container was last (re)started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
}

/// A finished container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ContainerStateTerminated")]
pub struct ContainerStateTerminated {
    /// Exit status of the last termination.
    #[schema(required)]
    pub exit_code: i32,
    /// The signal that killed it, if any.
    #[serde(skip_serializing_if = "is_default")]
    pub signal: i32,
    /// Why, in one word (e.g. `Completed`, `OOMKilled`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Why, for humans.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When the container started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the container finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// `<runtime>://<id>`.
    #[serde(rename = "containerID", skip_serializing_if = "String::is_empty")]
    pub container_id: String,
}

string_enum! {
    /// The restart policy of one container: for an init container, `Always` makes it a
    /// sidecar.
    pub enum ContainerRestartPolicy {
        /// Restart whenever it exits (a sidecar when set on an init container).
        Always = "Always",
        /// Never restart.
        Never = "Never",
        /// Restart after a failure.
        OnFailure = "OnFailure",
    }
}

string_enum! {
    /// How a read-only mount treats the mounts below it.
    pub enum RecursiveReadOnlyMode {
        /// Only the top mount is read-only.
        Disabled = "Disabled",
        /// Recursively read-only where the runtime supports it.
        IfPossible = "IfPossible",
        /// Recursively read-only, or the container fails to start.
        Enabled = "Enabled",
    }
}

string_enum! {
    /// How mounts propagate between the host and a container.
    pub enum MountPropagationMode {
        /// No propagation (private).
        None = "None",
        /// Host mounts appear in the container (rslave).
        HostToContainer = "HostToContainer",
        /// Both ways (rshared); needs a privileged container.
        Bidirectional = "Bidirectional",
    }
}

string_enum! {
    /// An operating system a pod can ask for.
    #[derive(Default)]
    pub enum OsName {
        /// Linux.
        #[default]
        Linux = "linux",
        /// Windows.
        Windows = "windows",
    }
}

string_enum! {
    /// What a container restart rule does.
    #[derive(Default)]
    pub enum ContainerRestartRuleAction {
        /// Restart the container.
        #[default]
        Restart = "Restart",
    }
}

string_enum! {
    /// How a restart rule matches exit codes.
    #[derive(Default)]
    pub enum ContainerRestartRuleOnExitCodesOperator {
        /// The exit code is one of the values.
        #[default]
        In = "In",
        /// The exit code is none of the values.
        NotIn = "NotIn",
    }
}

/// A restart decision for some exit codes of a container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ContainerRestartRule")]
pub struct ContainerRestartRule {
    /// What to do when the rule matches.
    #[schema(required)]
    pub action: ContainerRestartRuleAction,
    /// The exit codes the rule matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_codes: Option<ContainerRestartRuleOnExitCodes>,
}

/// Exit codes a restart rule matches.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ContainerRestartRuleOnExitCodes")]
pub struct ContainerRestartRuleOnExitCodes {
    /// In or NotIn.
    #[schema(required)]
    pub operator: ContainerRestartRuleOnExitCodesOperator,
    /// The exit codes.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub values: Vec<i32>,
}

/// A raw block device of a volume, mapped into a container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.VolumeDevice")]
pub struct VolumeDevice {
    /// The volume (a persistentVolumeClaim in the pod).
    #[schema(required)]
    pub name: String,
    /// The device's path inside the container.
    #[schema(required)]
    pub device_path: String,
}

/// A pod condition that must be True for the pod to be Ready.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodReadinessGate")]
pub struct PodReadinessGate {
    /// The condition type.
    #[schema(required)]
    pub condition_type: String,
}

/// The operating system a pod needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodOS")]
pub struct PodOs {
    /// `linux` or `windows`.
    #[schema(required)]
    pub name: OsName,
}

/// A gate that keeps the pod from being scheduled while it is listed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodSchedulingGate")]
pub struct PodSchedulingGate {
    /// The gate's name.
    #[schema(required)]
    pub name: String,
}

/// The identity a container's first process runs as.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ContainerUser")]
pub struct ContainerUser {
    /// On Linux: the UID, GID and groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux: Option<LinuxContainerUser>,
}

/// The UID, GID and groups of a container's first process.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.LinuxContainerUser")]
pub struct LinuxContainerUser {
    /// The UID.
    #[schema(required)]
    pub uid: i64,
    /// The primary GID.
    #[schema(required)]
    pub gid: i64,
    /// The supplementary groups.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub supplemental_groups: Vec<i64>,
}

/// A volume mounted into a container, as the status reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.VolumeMountStatus")]
pub struct VolumeMountStatus {
    /// The volume.
    #[schema(required)]
    pub name: String,
    /// Where it is mounted.
    #[schema(required)]
    pub mount_path: String,
    /// Whether it is read-only.
    #[serde(skip_serializing_if = "is_default")]
    pub read_only: bool,
    /// The recursive read-only mode in effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recursive_read_only: Option<RecursiveReadOnlyMode>,
}

/// The pod a controller stamps out: metadata and spec, no status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodTemplateSpec")]
pub struct PodTemplateSpec {
    /// Labels and annotations the pods get.
    #[serde(skip_serializing_if = "is_default")]
    pub metadata: ObjectMeta,
    /// The pods' desired behaviour.
    #[serde(skip_serializing_if = "is_default")]
    pub spec: PodSpec,
}

#[cfg(test)]
mod helper_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::resources::{Node, NodeCondition};

    fn pod_condition(type_: &str, status: ConditionStatus) -> PodCondition {
        PodCondition {
            type_: type_.into(),
            status,
            ..Default::default()
        }
    }

    #[test]
    fn pod_readiness_reads_the_ready_condition() {
        let cases = [
            ("no conditions", vec![], false),
            (
                "ready true",
                vec![pod_condition("Ready", ConditionStatus::True)],
                true,
            ),
            (
                "ready false",
                vec![pod_condition("Ready", ConditionStatus::False)],
                false,
            ),
            (
                "only containers ready",
                vec![pod_condition("ContainersReady", ConditionStatus::True)],
                false,
            ),
        ];
        for (name, conditions, want) in cases {
            let mut p = Pod::new("web");
            p.status.conditions = conditions;
            assert_eq!(p.is_ready(), want, "case {name}");
        }
    }

    #[test]
    fn qos_class_follows_requests_and_limits() {
        let res = |req: &[(&str, &str)], lim: &[(&str, &str)]| ResourceRequirements {
            requests: req
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Quantity::parse(v).unwrap()))
                .collect(),
            limits: lim
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Quantity::parse(v).unwrap()))
                .collect(),
            ..Default::default()
        };
        let pod = |rs: Vec<ResourceRequirements>| {
            let mut p = Pod::new("p");
            p.spec.containers = rs
                .into_iter()
                .map(|resources| Container {
                    name: "c".into(),
                    resources,
                    ..Default::default()
                })
                .collect();
            p
        };
        let full = || {
            res(
                &[("cpu", "1"), ("memory", "1Gi")],
                &[("cpu", "1000m"), ("memory", "1Gi")],
            )
        };
        use PodQosClass::*;
        let cases = [
            ("nothing", pod(vec![res(&[], &[])]), BestEffort),
            (
                "zero requests",
                pod(vec![res(&[("cpu", "0")], &[])]),
                BestEffort,
            ),
            (
                "other resources only",
                pod(vec![res(&[("nvidia.com/gpu", "1")], &[])]),
                BestEffort,
            ),
            ("requests = limits", pod(vec![full()]), Guaranteed),
            (
                "two guaranteed containers",
                pod(vec![full(), full()]),
                Guaranteed,
            ),
            (
                "one best-effort container",
                pod(vec![full(), res(&[], &[])]),
                Burstable,
            ),
            (
                "only a memory limit",
                pod(vec![res(&[("memory", "1Gi")], &[("memory", "1Gi")])]),
                Burstable,
            ),
            (
                "requests below limits",
                pod(vec![res(
                    &[("cpu", "500m"), ("memory", "1Gi")],
                    &[("cpu", "1"), ("memory", "1Gi")],
                )]),
                Burstable,
            ),
            (
                "requests only",
                pod(vec![res(&[("cpu", "1")], &[])]),
                Burstable,
            ),
        ];
        for (name, p, want) in cases {
            assert_eq!(p.qos_class(), want, "case {name}");
        }
        let mut p = pod(vec![res(&[], &[])]);
        p.spec.resources = Some(full());
        assert_eq!(p.qos_class(), Guaranteed, "pod-level resources decide");
    }

    #[test]
    fn node_readiness_and_condition_lookup() {
        let mut n = Node::new("n1");
        assert!(!n.is_ready());
        n.status.conditions = vec![
            NodeCondition {
                type_: "MemoryPressure".into(),
                status: ConditionStatus::False,
                ..Default::default()
            },
            NodeCondition {
                type_: "Ready".into(),
                status: ConditionStatus::True,
                ..Default::default()
            },
        ];
        assert!(n.is_ready());
        assert_eq!(
            n.condition("MemoryPressure").map(|c| c.status),
            Some(ConditionStatus::False)
        );
        assert!(n.condition("DiskPressure").is_none());
    }

    #[test]
    fn tolerations_match_taints() {
        let taint = Taint {
            key: "k".into(),
            value: "v".into(),
            effect: TaintEffect::NoSchedule,
            ..Default::default()
        };
        let tol = |key: &str, op, value: &str, effect| Toleration {
            key: key.into(),
            operator: op,
            value: value.into(),
            effect,
            toleration_seconds: None,
        };
        use TolerationOperator::*;
        let cases = [
            ("exists, any key", tol("", Some(Exists), "", None), true),
            ("equal, same value", tol("k", None, "v", None), true),
            (
                "equal, other value",
                tol("k", Some(Equal), "w", None),
                false,
            ),
            ("other key", tol("j", Some(Exists), "", None), false),
            (
                "other effect",
                tol("k", Some(Exists), "", Some(TaintEffect::NoExecute)),
                false,
            ),
        ];
        for (name, t, want) in cases {
            assert_eq!(t.tolerates(&taint), want, "case {name}");
        }
    }
}
