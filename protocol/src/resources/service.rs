//! Services and their Endpoints (`core/v1`): the stable virtual address in front of a set
//! of pods, and the list of pod addresses the endpoints controller keeps behind it, which
//! the proxy turns into forwarding rules.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{is_default, null_as_default, IntOrString, ObjectReference, Protocol};

kind! {
    /// A stable address and port set in front of the pods its selector matches.
    #[schema(name = "io.k8s.api.core.v1.Service")]
    pub struct Service: "v1", "Service", "services", namespaced = true {
        /// The desired behaviour of the service.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: ServiceSpec,
        /// The most recently observed status of the service; read-only.
        // Always written, as Kubernetes writes `status: {loadBalancer: {}}` for every
        // service.
        pub status: ServiceStatus,
    }
}

kind! {
    /// The addresses behind a service, maintained by the endpoints controller.
    #[schema(name = "io.k8s.api.core.v1.Endpoints")]
    pub struct Endpoints: "v1", "Endpoints", "endpoints", namespaced = true {
        /// Groups of addresses sharing the same ports.
        #[serde(deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
        #[schema(atomic)]
        pub subsets: Vec<EndpointSubset>,
    }
}

string_enum! {
    /// How a service is exposed.
    pub enum ServiceType {
        /// A cluster-internal virtual IP (the default).
        ClusterIp = "ClusterIP",
        /// A cluster IP plus a port on every node.
        NodePort = "NodePort",
        /// A node port plus an external load balancer.
        LoadBalancer = "LoadBalancer",
        /// A DNS alias for `externalName`; no proxying.
        ExternalName = "ExternalName",
    }
}

string_enum! {
    /// Whether a client sticks to one backend.
    pub enum SessionAffinity {
        /// No stickiness (the default).
        None = "None",
        /// Stick by client IP.
        ClientIp = "ClientIP",
    }
}

string_enum! {
    /// Which endpoints receive traffic: all of them or only the local node's.
    pub enum TrafficPolicy {
        /// Every ready endpoint in the cluster.
        Cluster = "Cluster",
        /// Only endpoints on the node that received the traffic.
        Local = "Local",
    }
}

string_enum! {
    /// An IP family.
    pub enum IpFamily {
        /// IPv4.
        Ipv4 = "IPv4",
        /// IPv6.
        Ipv6 = "IPv6",
    }
}

string_enum! {
    /// How many IP families a service gets.
    pub enum IpFamilyPolicy {
        /// One family.
        SingleStack = "SingleStack",
        /// Two families when the cluster has them, else one.
        PreferDualStack = "PreferDualStack",
        /// Two families, or fail.
        RequireDualStack = "RequireDualStack",
    }
}

/// The desired state of a service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ServiceSpec")]
pub struct ServiceSpec {
    /// The ports the service exposes.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(merge_key = "port", map_keys("port", "protocol"))]
    pub ports: Vec<ServicePort>,
    /// Labels of the pods behind the service; none means endpoints are managed by hand.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub selector: BTreeMap<String, String>,
    /// The virtual IP (`None` for a headless service); allocated when empty.
    #[serde(rename = "clusterIP", skip_serializing_if = "String::is_empty")]
    pub cluster_ip: String,
    /// The virtual IPs, one per family; the first equals `clusterIP`.
    #[serde(rename = "clusterIPs", skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub cluster_ips: Vec<String>,
    /// ClusterIP (default), NodePort, LoadBalancer or ExternalName.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<ServiceType>,
    /// Extra IPs the service accepts traffic on.
    #[serde(rename = "externalIPs", skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub external_ips: Vec<String>,
    /// None (default) or ClientIP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_affinity: Option<SessionAffinity>,
    /// The DNS name an `ExternalName` service aliases.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub external_name: String,
    /// Which endpoints serve traffic from outside the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_traffic_policy: Option<TrafficPolicy>,
    /// Publish addresses of pods that are not ready.
    #[serde(skip_serializing_if = "is_default")]
    pub publish_not_ready_addresses: bool,
    /// Settings of client stickiness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_affinity_config: Option<SessionAffinityConfig>,
    /// The IP families, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub ip_families: Vec<IpFamily>,
    /// SingleStack, PreferDualStack or RequireDualStack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_family_policy: Option<IpFamilyPolicy>,
    /// Which endpoints serve traffic from inside the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_traffic_policy: Option<TrafficPolicy>,
}

/// A port of a service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ServicePort")]
pub struct ServicePort {
    /// Required when there is more than one port.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// TCP (default), UDP or SCTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The application protocol, e.g. `http`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    /// The port on the cluster IP.
    #[schema(required)]
    pub port: i32,
    /// The pods' port, by number or name (defaults to `port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    /// The port on every node, for `NodePort` and `LoadBalancer` services.
    #[serde(skip_serializing_if = "is_default")]
    pub node_port: i32,
}

/// Settings of client stickiness.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.SessionAffinityConfig")]
pub struct SessionAffinityConfig {
    /// Settings of ClientIP affinity.
    #[serde(rename = "clientIP", skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<ClientIpConfig>,
}

/// Stickiness by client IP.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ClientIPConfig")]
pub struct ClientIpConfig {
    /// How long a client sticks (default 10800).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
}

/// The observed state of a service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.ServiceStatus")]
pub struct ServiceStatus {
    /// The external load balancer, if any.
    // Always written, `{}` when none.
    pub load_balancer: LoadBalancerStatus,
}

/// An external load balancer's addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.LoadBalancerStatus")]
pub struct LoadBalancerStatus {
    /// Where traffic enters the load balancer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub ingress: Vec<LoadBalancerIngress>,
}

/// An entry point of a load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.LoadBalancerIngress")]
pub struct LoadBalancerIngress {
    /// An IP address.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// A host name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
}

/// Addresses that share a set of ports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.EndpointSubset")]
pub struct EndpointSubset {
    /// Ready addresses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub addresses: Vec<EndpointAddress>,
    /// Addresses of pods that are not ready.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub not_ready_addresses: Vec<EndpointAddress>,
    /// The ports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(atomic)]
    pub ports: Vec<EndpointPort>,
}

/// One backend address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.EndpointAddress")]
pub struct EndpointAddress {
    /// The IP of the endpoint.
    #[schema(required)]
    pub ip: String,
    /// The hostname of the endpoint.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// The node the backend runs on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// The backend object (normally a pod).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<ObjectReference>,
}

/// A port of the backends.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.EndpointPort")]
pub struct EndpointPort {
    /// Matches the service port's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The port number.
    #[schema(required)]
    pub port: i32,
    /// TCP (default), UDP or SCTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The application protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}
