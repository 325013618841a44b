//! Nodes (`core/v1 Node`): what the kubelet registers and keeps up to date (capacity,
//! conditions with heartbeats, addresses, system info) and what the scheduler and the node
//! controllers read (taints, unschedulable, pod CIDR).

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{is_default, ConditionStatus, ResourceList, Time};

kind! {
    /// A machine that runs pods; cluster-scoped.
    #[schema(name = "io.k8s.api.core.v1.Node")]
    pub struct Node: "v1", "Node", "nodes", namespaced = false {
        /// How the node may be used.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: NodeSpec,
        /// The most recently observed status of the node; read-only.
        #[serde(skip_serializing_if = "is_default")]
        pub status: NodeStatus,
    }
}

string_enum! {
    /// What a taint does to pods that do not tolerate it.
    #[derive(Default)]
    pub enum TaintEffect {
        /// New pods are not scheduled onto the node.
        #[default]
        NoSchedule = "NoSchedule",
        /// The scheduler avoids the node when it can.
        PreferNoSchedule = "PreferNoSchedule",
        /// Running pods are evicted too.
        NoExecute = "NoExecute",
    }
}

string_enum! {
    /// The kind of a node address.
    #[derive(Default)]
    pub enum NodeAddressType {
        /// The node's host name.
        #[default]
        Hostname = "Hostname",
        /// An address reachable inside the cluster.
        InternalIp = "InternalIP",
        /// An address reachable from outside the cluster.
        ExternalIp = "ExternalIP",
        /// A DNS name resolvable inside the cluster.
        InternalDns = "InternalDNS",
        /// A DNS name resolvable from outside the cluster.
        ExternalDns = "ExternalDNS",
    }
}

/// How a node may be used.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.NodeSpec")]
pub struct NodeSpec {
    /// The pod IP range assigned to the node.
    #[serde(rename = "podCIDR", skip_serializing_if = "String::is_empty")]
    pub pod_cidr: String,
    /// The pod IP ranges (one per IP family); the first equals `podCIDR`.
    #[serde(rename = "podCIDRs", skip_serializing_if = "Vec::is_empty")]
    #[schema(set)]
    pub pod_cidrs: Vec<String>,
    /// The node's id at its provider.
    #[serde(rename = "providerID", skip_serializing_if = "String::is_empty")]
    pub provider_id: String,
    /// Cordoned: no new pods are scheduled here.
    #[serde(skip_serializing_if = "is_default")]
    pub unschedulable: bool,
    /// Taints repelling pods that do not tolerate them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub taints: Vec<Taint>,
}

/// A mark on a node that repels pods without a matching toleration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.Taint")]
pub struct Taint {
    /// The taint key.
    #[schema(required)]
    pub key: String,
    /// The taint value.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// NoSchedule, PreferNoSchedule or NoExecute.
    #[schema(required)]
    pub effect: TaintEffect,
    /// When it was added (for `NoExecute`).
    #[serde(rename = "timeAdded", skip_serializing_if = "Option::is_none")]
    pub time_added: Option<Time>,
}

/// What the kubelet reports about its node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.NodeStatus")]
pub struct NodeStatus {
    /// Total resources of the node.
    #[serde(skip_serializing_if = "ResourceList::is_empty")]
    pub capacity: ResourceList,
    /// Resources available for scheduling.
    #[serde(skip_serializing_if = "ResourceList::is_empty")]
    pub allocatable: ResourceList,
    /// `Ready`, `MemoryPressure`, `DiskPressure`, `PIDPressure`, ...
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(merge_key = "type")]
    pub conditions: Vec<NodeCondition>,
    /// Addresses reachable to the node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(merge_key = "type")]
    pub addresses: Vec<NodeAddress>,
    /// Ports the node's daemons listen on.
    #[serde(skip_serializing_if = "is_default")]
    pub daemon_endpoints: NodeDaemonEndpoints,
    /// Versions and ids of the node's software.
    #[serde(skip_serializing_if = "is_default")]
    pub node_info: NodeSystemInfo,
}

impl NodeCondition {
    /// The condition of type `type_` among `conditions` (see
    /// [`crate::names::conditions`]).
    pub fn find<'a>(conditions: &'a [NodeCondition], type_: &str) -> Option<&'a NodeCondition> {
        conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether `conditions` hold a `Ready` condition that is `True`.
    pub fn ready_in(conditions: &[NodeCondition]) -> bool {
        NodeCondition::find(conditions, crate::names::conditions::READY)
            .is_some_and(|c| c.status == ConditionStatus::True)
    }
}

impl Node {
    /// The node's condition of type `type_`, if reported.
    pub fn condition(&self, type_: &str) -> Option<&NodeCondition> {
        NodeCondition::find(&self.status.conditions, type_)
    }

    /// Whether the node's `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        NodeCondition::ready_in(&self.status.conditions)
    }
}

/// A condition of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.NodeCondition")]
pub struct NodeCondition {
    /// `Ready`, `MemoryPressure`, `DiskPressure`, `PIDPressure`, `NetworkUnavailable`.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: String,
    /// Status of the condition: True, False or Unknown.
    #[schema(required)]
    pub status: ConditionStatus,
    /// The kubelet's last report of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<Time>,
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

/// An address of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.NodeAddress")]
pub struct NodeAddress {
    /// Hostname, InternalIP, ExternalIP, InternalDNS or ExternalDNS.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: NodeAddressType,
    /// The address.
    #[schema(required)]
    pub address: String,
}

/// Ports of the node's daemons.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.NodeDaemonEndpoints")]
pub struct NodeDaemonEndpoints {
    /// The port the kubelet listens on.
    #[serde(skip_serializing_if = "is_default")]
    pub kubelet_endpoint: DaemonEndpoint,
}

/// A daemon's port.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(default)]
#[schema(name = "io.k8s.api.core.v1.DaemonEndpoint")]
pub struct DaemonEndpoint {
    /// Port number of the endpoint.
    // Capitalised in JSON, as Kubernetes writes it.
    #[serde(rename = "Port")]
    #[schema(required)]
    pub port: i32,
}

/// Versions and ids of a node's software and hardware.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.NodeSystemInfo")]
pub struct NodeSystemInfo {
    /// The machine id (/etc/machine-id).
    #[serde(rename = "machineID")]
    #[schema(required)]
    pub machine_id: String,
    /// The hardware UUID.
    #[serde(rename = "systemUUID")]
    #[schema(required)]
    pub system_uuid: String,
    /// Changes on every boot.
    #[serde(rename = "bootID")]
    #[schema(required)]
    pub boot_id: String,
    /// `uname -r`.
    #[schema(required)]
    pub kernel_version: String,
    /// The OS image, e.g. `Debian GNU/Linux 12 (bookworm)`.
    #[schema(required)]
    pub os_image: String,
    /// `<runtime>://<version>`.
    #[schema(required)]
    pub container_runtime_version: String,
    /// The kubelet's version.
    #[schema(required)]
    pub kubelet_version: String,
    /// The proxy's version.
    #[schema(required)]
    pub kube_proxy_version: String,
    /// The operating system, e.g. linux.
    #[schema(required)]
    pub operating_system: String,
    /// The architecture, e.g. amd64.
    #[schema(required)]
    pub architecture: String,
}
