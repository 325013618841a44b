//! NetworkPolicy (`networking.k8s.io/v1`): which traffic may reach the pods a policy
//! selects (ingress) and leave them (egress). A pod selected by no policy of a direction
//! is open in that direction; once one selects it, only what some rule of some such
//! policy allows passes (policies add up, they never subtract). Replies to allowed
//! connections always pass. The `netpol` actor of every worker enforces them for the
//! node's pods with the packet filter.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{is_default, null_as_default, IntOrString, LabelSelector, Protocol};

kind! {
    /// Which network traffic is allowed for a set of pods.
    #[schema(name = "io.k8s.api.networking.v1.NetworkPolicy")]
    pub struct NetworkPolicy: "networking.k8s.io/v1", "NetworkPolicy", "networkpolicies",
        namespaced = true {
        /// The desired behaviour.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: NetworkPolicySpec,
    }
}

string_enum! {
    /// A direction of traffic a policy governs.
    pub enum PolicyType {
        /// Traffic to the selected pods.
        Ingress = "Ingress",
        /// Traffic from the selected pods.
        Egress = "Egress",
    }
}

/// The desired behaviour of a NetworkPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.NetworkPolicySpec")]
pub struct NetworkPolicySpec {
    /// The pods of the policy's namespace it applies to; an empty selector selects
    /// every pod of the namespace (the default).
    // Always written, `{}` included, as Kubernetes does.
    pub pod_selector: LabelSelector,
    /// Allowed incoming traffic; a selected pod accepts what any rule of any policy
    /// allows. No rule (with `Ingress` in `policyTypes`): nothing is allowed in.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub ingress: Vec<NetworkPolicyIngressRule>,
    /// Allowed outgoing traffic; as `ingress`, for traffic the selected pods send.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub egress: Vec<NetworkPolicyEgressRule>,
    /// The directions the policy governs (`Ingress`, `Egress`). Defaulted at creation:
    /// `Ingress`, plus `Egress` when there are egress rules.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub policy_types: Vec<PolicyType>,
}

impl NetworkPolicySpec {
    /// Whether the policy governs `t`: as listed in `policyTypes`, or, when that is
    /// empty (an object written before defaulting), as Kubernetes' defaulting would list.
    pub fn governs(&self, t: PolicyType) -> bool {
        if self.policy_types.is_empty() {
            return match t {
                PolicyType::Ingress => true,
                PolicyType::Egress => !self.egress.is_empty(),
            };
        }
        self.policy_types.contains(&t)
    }
}

/// Traffic allowed to the selected pods: from any of `from`, to any of `ports`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.NetworkPolicyIngressRule")]
pub struct NetworkPolicyIngressRule {
    /// The destination ports; empty: every port.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub ports: Vec<NetworkPolicyPort>,
    /// The sources; empty: every source.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub from: Vec<NetworkPolicyPeer>,
}

/// Traffic allowed from the selected pods: to any of `to`, on any of `ports`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.NetworkPolicyEgressRule")]
pub struct NetworkPolicyEgressRule {
    /// The destination ports; empty: every port.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub ports: Vec<NetworkPolicyPort>,
    /// The destinations; empty: every destination.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub to: Vec<NetworkPolicyPeer>,
}

/// A port (or range of ports) and protocol.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.NetworkPolicyPort")]
pub struct NetworkPolicyPort {
    /// `TCP` (the default), `UDP` or `SCTP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// A port number or a named container port of the destination pod; absent: every
    /// port of the protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    /// With a numeric `port`, the last port of the range `port..=endPort`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i32>,
}

/// The other end of allowed traffic: pods by selector (in the policy's namespace, or in
/// the namespaces `namespaceSelector` picks), or an IP block. Exactly one of the
/// selectors (or both) or `ipBlock`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.NetworkPolicyPeer")]
pub struct NetworkPolicyPeer {
    /// Pods by label: in the policy's namespace, or with `namespaceSelector` in the
    /// namespaces it selects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// Namespaces by label; alone it means every pod of those namespaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// A CIDR, minus some of its sub-ranges.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
}

/// A range of addresses, except some of its sub-ranges.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.IPBlock")]
pub struct IpBlock {
    /// The range, such as `192.168.1.0/24`.
    #[schema(required)]
    pub cidr: String,
    /// Sub-ranges of `cidr` that are not included.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub except: Vec<String>,
}
