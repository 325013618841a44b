//! Ingress (`networking.k8s.io/v1`): an [`Ingress`] routes HTTP(S) requests to Services
//! by host and path; an [`IngressClass`] names the controller that carries out Ingresses
//! of its class. Rudder's built-in controller (`rudder.io/ingress`, class `rudder`, the
//! default) serves them on every worker node.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{is_default, null_as_default, TypedLocalObjectReference};

/// The IngressClass every cluster has, the default: Rudder's built-in controller.
pub const RUDDER_INGRESS_CLASS: &str = "rudder";
/// The controller name of [`RUDDER_INGRESS_CLASS`].
pub const RUDDER_INGRESS_CONTROLLER: &str = "rudder.io/ingress";

/// The annotation that named an Ingress's class before `spec.ingressClassName` existed.
pub const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// The annotation that makes an IngressClass the default one.
pub const IS_DEFAULT_INGRESS_CLASS: &str = "ingressclass.kubernetes.io/is-default-class";

kind! {
    /// A collection of rules that route inbound HTTP(S) traffic to Services by host and
    /// path.
    #[schema(name = "io.k8s.api.networking.v1.Ingress")]
    pub struct Ingress: "networking.k8s.io/v1", "Ingress", "ingresses", namespaced = true {
        /// The desired routing.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: IngressSpec,
        /// Where the Ingress is served; written by its controller.
        #[serde(skip_serializing_if = "is_default")]
        pub status: IngressStatus,
    }
}

kind! {
    /// A class of Ingresses and the controller that implements them.
    #[schema(name = "io.k8s.api.networking.v1.IngressClass")]
    pub struct IngressClass: "networking.k8s.io/v1", "IngressClass", "ingressclasses",
        namespaced = false {
        /// The controller and its parameters.
        #[serde(skip_serializing_if = "is_default")]
        pub spec: IngressClassSpec,
    }
}

impl IngressClass {
    /// Whether the class carries the default-class annotation set to `true`.
    pub fn is_default_class(&self) -> bool {
        self.metadata
            .annotations
            .get(IS_DEFAULT_INGRESS_CLASS)
            .is_some_and(|v| v == "true")
    }
}

/// The controller of an IngressClass.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.IngressClassSpec")]
pub struct IngressClassSpec {
    /// The name of the controller that implements the class, a domain-prefixed path
    /// such as `rudder.io/ingress`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub controller: String,
    /// A resource with the controller's configuration for the class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<IngressClassParametersReference>,
}

/// A reference to the configuration of an IngressClass.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.IngressClassParametersReference")]
pub struct IngressClassParametersReference {
    /// The group of the resource (empty: core).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// The kind of the resource.
    #[schema(required)]
    pub kind: String,
    /// The name of the resource.
    #[schema(required)]
    pub name: String,
    /// `Cluster` or `Namespace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The namespace of a namespaced resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// How an Ingress routes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.IngressSpec")]
pub struct IngressSpec {
    /// The IngressClass of this Ingress; the default class when empty at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress_class_name: Option<String>,
    /// Where requests that match no rule go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_backend: Option<IngressBackend>,
    /// TLS: the hosts served over HTTPS and the Secrets with their certificates.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub tls: Vec<IngressTls>,
    /// The host rules, in order.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub rules: Vec<IngressRule>,
}

/// TLS for a set of hosts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.IngressTLS")]
pub struct IngressTls {
    /// The hosts the certificate covers (default: the controller's default host).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub hosts: Vec<String>,
    /// A Secret of type `kubernetes.io/tls` in the Ingress's namespace.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub secret_name: String,
}

/// The paths of one host.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.IngressRule")]
pub struct IngressRule {
    /// A fully qualified domain name, or a wildcard (`*.example.com`) matching one
    /// label; empty matches every host.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// The HTTP paths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpIngressRuleValue>,
}

/// A list of HTTP paths.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.HTTPIngressRuleValue")]
pub struct HttpIngressRuleValue {
    /// The paths and their backends.
    #[serde(deserialize_with = "null_as_default")]
    #[schema(required, atomic)]
    pub paths: Vec<HttpIngressPath>,
}

string_enum! {
    /// How a path is matched.
    pub enum PathType {
        /// The request path equals the path.
        Exact = "Exact",
        /// The request path begins with the path, element by element (split on `/`).
        Prefix = "Prefix",
        /// Up to the controller: Rudder matches these as `Prefix`.
        ImplementationSpecific = "ImplementationSpecific",
    }
}

/// One path and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.HTTPIngressPath")]
pub struct HttpIngressPath {
    /// The path, beginning with `/` for `Exact` and `Prefix`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// How `path` is matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required)]
    pub path_type: Option<PathType>,
    /// Where matching requests go.
    #[schema(required)]
    pub backend: IngressBackend,
}

/// A backend: a Service port, or another resource.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.IngressBackend")]
pub struct IngressBackend {
    /// A Service in the Ingress's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<IngressServiceBackend>,
    /// Another resource in the Ingress's namespace (exclusive with `service`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<TypedLocalObjectReference>,
}

/// A Service and one of its ports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.IngressServiceBackend")]
pub struct IngressServiceBackend {
    /// The Service's name.
    #[schema(required)]
    pub name: String,
    /// The Service port, by name or number.
    #[serde(skip_serializing_if = "is_default")]
    pub port: ServiceBackendPort,
}

/// A Service port by name or by number.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.ServiceBackendPort")]
pub struct ServiceBackendPort {
    /// The port's name (exclusive with `number`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The port's number (exclusive with `name`).
    #[serde(skip_serializing_if = "is_default")]
    pub number: i32,
}

/// Where an Ingress is served.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.IngressStatus")]
pub struct IngressStatus {
    /// The addresses that serve it.
    #[serde(skip_serializing_if = "is_default")]
    pub load_balancer: IngressLoadBalancerStatus,
}

/// The addresses of an Ingress.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.IngressLoadBalancerStatus")]
pub struct IngressLoadBalancerStatus {
    /// One entry per address.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub ingress: Vec<IngressLoadBalancerIngress>,
}

/// One address of an Ingress.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.IngressLoadBalancerIngress")]
pub struct IngressLoadBalancerIngress {
    /// An IP address.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// A DNS name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// The ports served there.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub ports: Vec<IngressPortStatus>,
}

/// A port an Ingress is served on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.networking.v1.IngressPortStatus")]
pub struct IngressPortStatus {
    /// The port number.
    #[schema(required)]
    pub port: i32,
    /// `TCP`, `UDP` or `SCTP`.
    #[schema(required)]
    pub protocol: String,
    /// Why the port cannot be served, if it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
