//! The resources the API server serves: one static table (group, version, kind, names,
//! verbs, subresources) that the API server's discovery, dispatch and schema read, and
//! that clients such as `rudderctl` read to resolve `pods`, `po` or `Pod` to a resource
//! without linking the API server.
//!
//! Nothing here does I/O; everything is `'static` data plus lookups.

use crate::resources;

/// The standard verbs of a top-level resource, in the order Kubernetes lists them.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Namespaces cannot be deleted as a collection.
const NAMESPACE_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// Verbs of a `status` or `scale` subresource.
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

/// A subresource of a served resource, e.g. `pods/status` or `deployments/scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subresource {
    /// The path segment after the object name: `status`, `scale`, `log`, ...
    pub name: &'static str,
    /// The group of the kind it reads and writes (`autoscaling` for `scale`).
    pub group: &'static str,
    /// The version of that kind.
    pub version: &'static str,
    /// The kind it reads and writes (`Scale` for `scale`, the parent's kind for `status`).
    pub kind: &'static str,
    /// The verbs it supports.
    pub verbs: &'static [&'static str],
}

/// One resource the API server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    /// The API group; empty for core.
    pub group: &'static str,
    /// The version, e.g. `v1`.
    pub version: &'static str,
    /// The kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// The lower-case plural used in URLs, e.g. `deployments`.
    pub plural: &'static str,
    /// The lower-case singular, e.g. `deployment`.
    pub singular: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// The verbs of the resource itself.
    pub verbs: &'static [&'static str],
    /// Short names kubectl accepts, e.g. `deploy`.
    pub short_names: &'static [&'static str],
    /// Categories, e.g. `all`.
    pub categories: &'static [&'static str],
    /// Its subresources.
    pub subresources: &'static [Subresource],
    /// The name of its schema in the API server's schema model, e.g.
    /// `io.k8s.api.apps.v1.Deployment`.
    pub schema: &'static str,
}

impl ResourceInfo {
    /// `v1` for core, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        group_version(self.group, self.version)
    }

    /// The kind of a list of these objects, e.g. `DeploymentList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The subresource with the given name.
    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// The entry of `K`: group, version, kind, plural and scope from its [`Resource`]
    /// constants, every verb, no short names, categories or subresources (the
    /// builders below add them), and the name of its schema.
    ///
    /// [`Resource`]: crate::resources::Resource
    pub const fn of<K: crate::resources::Resource>(
        singular: &'static str,
        schema: &'static str,
    ) -> ResourceInfo {
        let (group, version) = split_api_version(K::API_VERSION);
        ResourceInfo {
            group,
            version,
            kind: K::KIND,
            plural: K::PLURAL,
            singular,
            namespaced: K::NAMESPACED,
            verbs: ALL_VERBS,
            short_names: &[],
            categories: &[],
            subresources: &[],
            schema,
        }
    }

    /// The same entry with these verbs.
    pub const fn verbs(self, verbs: &'static [&'static str]) -> ResourceInfo {
        ResourceInfo { verbs, ..self }
    }

    /// The same entry with these short names.
    pub const fn short_names(self, short_names: &'static [&'static str]) -> ResourceInfo {
        ResourceInfo {
            short_names,
            ..self
        }
    }

    /// The same entry in these categories.
    pub const fn categories(self, categories: &'static [&'static str]) -> ResourceInfo {
        ResourceInfo { categories, ..self }
    }

    /// The same entry with these subresources.
    pub const fn subresources(self, subresources: &'static [Subresource]) -> ResourceInfo {
        ResourceInfo {
            subresources,
            ..self
        }
    }
}

/// `("apps", "v1")` for `apps/v1`, `("", "v1")` for `v1`.
const fn split_api_version(api_version: &'static str) -> (&'static str, &'static str) {
    let bytes = api_version.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'/' {
            let (group, rest) = bytes.split_at(i);
            let (_, version) = rest.split_at(1);
            return (utf8(group), utf8(version));
        }
        i += 1;
    }
    ("", api_version)
}

/// Bytes cut from a `str` at an ASCII `/`: still UTF-8.
const fn utf8(bytes: &'static [u8]) -> &'static str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => panic!("an apiVersion split at '/' is UTF-8"),
    }
}

/// `v1` for the core group, `group/version` otherwise.
pub fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

const fn status_of(group: &'static str, kind: &'static str) -> Subresource {
    Subresource {
        name: "status",
        group,
        version: "v1",
        kind,
        verbs: GET_PATCH_UPDATE,
    }
}

const SCALE: Subresource = Subresource {
    name: "scale",
    group: "autoscaling",
    version: "v1",
    kind: "Scale",
    verbs: GET_PATCH_UPDATE,
};

/// A kind the API server serves, with its resource entry.
///
/// Implemented here for every served kind; [`served_kinds!`](crate::served_kinds) lists
/// them, and that one list is what the API server, its discovery and clients read.
pub trait Served: crate::resources::Resource {
    /// The resource entry: names, scope, verbs, subresources.
    const INFO: ResourceInfo;
}

/// Calls `$m!` with the path of every served kind (then any `extra` paths given after
/// `$m`), in the order discovery lists them
/// (grouped by API group, core first). This is the one list of served kinds: the
/// resource table here, the API server's kind modules and the tests expand it, so a
/// kind is added by one line here.
#[macro_export]
macro_rules! served_kinds {
    ($m:ident $(, $extra:path)*) => {
        $m! {
            $crate::resources::Namespace,
            $crate::resources::Node,
            $crate::resources::Pod,
            $crate::resources::Service,
            $crate::resources::Endpoints,
            $crate::resources::ServiceAccount,
            $crate::resources::ConfigMap,
            $crate::resources::Secret,
            $crate::resources::Event,
            $crate::resources::ReplicationController,
            $crate::resources::PersistentVolume,
            $crate::resources::PersistentVolumeClaim,
            $crate::resources::LimitRange,
            $crate::resources::ResourceQuota,
            $crate::resources::ReplicaSet,
            $crate::resources::Deployment,
            $crate::resources::StatefulSet,
            $crate::resources::ControllerRevision,
            $crate::resources::DaemonSet,
            $crate::resources::Job,
            $crate::resources::CronJob,
            $crate::resources::Lease,
            $crate::resources::PriorityClass,
            $crate::resources::StorageClass,
            $crate::resources::PodDisruptionBudget,
            $crate::resources::Ingress,
            $crate::resources::IngressClass,
            $crate::resources::NetworkPolicy,
            $crate::resources::HorizontalPodAutoscaler,
            $crate::resources::APIService,
            $crate::resources::ClusterRole,
            $crate::resources::ClusterRoleBinding,
            $crate::resources::Role,
            $crate::resources::RoleBinding,
            $crate::resources::CertificateSigningRequest,
            $($extra,)*
        }
    };
}

macro_rules! resource_table {
    ($($kind:path),* $(,)?) => {
        &[$(<$kind as Served>::INFO),*]
    };
}

/// Every served resource, in the order discovery lists groups.
pub static RESOURCES: &[ResourceInfo] = served_kinds!(resource_table);

impl Served for resources::Namespace {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("namespace", "io.k8s.api.core.v1.Namespace")
            .verbs(NAMESPACE_VERBS)
            .short_names(&["ns"])
            .subresources(&[
                Subresource {
                    name: "finalize",
                    group: "",
                    version: "v1",
                    kind: "Namespace",
                    verbs: &["update"],
                },
                status_of("", "Namespace"),
            ]);
}

impl Served for resources::Node {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>("node", "io.k8s.api.core.v1.Node")
        .short_names(&["no"])
        .subresources(&[status_of("", "Node")]);
}

impl Served for resources::Pod {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>("pod", "io.k8s.api.core.v1.Pod")
        .short_names(&["po"])
        .categories(&["all"])
        .subresources(&[
            Subresource {
                name: "attach",
                group: "",
                version: "v1",
                kind: "PodAttachOptions",
                verbs: &["create", "get"],
            },
            Subresource {
                name: "binding",
                group: "",
                version: "v1",
                kind: "Binding",
                verbs: &["create"],
            },
            Subresource {
                name: "ephemeralcontainers",
                group: "",
                version: "v1",
                kind: "Pod",
                verbs: &["get", "patch", "update"],
            },
            Subresource {
                name: "eviction",
                group: "policy",
                version: "v1",
                kind: "Eviction",
                verbs: &["create"],
            },
            Subresource {
                name: "exec",
                group: "",
                version: "v1",
                kind: "PodExecOptions",
                verbs: &["create", "get"],
            },
            Subresource {
                name: "log",
                group: "",
                version: "v1",
                kind: "Pod",
                verbs: &["get"],
            },
            Subresource {
                name: "portforward",
                group: "",
                version: "v1",
                kind: "PodPortForwardOptions",
                verbs: &["create", "get"],
            },
            status_of("", "Pod"),
        ]);
}

impl Served for resources::Service {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>("service", "io.k8s.api.core.v1.Service")
        .short_names(&["svc"])
        .categories(&["all"])
        .subresources(&[status_of("", "Service")]);
}

impl Served for resources::Endpoints {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("endpoints", "io.k8s.api.core.v1.Endpoints").short_names(&["ep"]);
}

impl Served for resources::ServiceAccount {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("serviceaccount", "io.k8s.api.core.v1.ServiceAccount")
            .short_names(&["sa"])
            .subresources(&[Subresource {
                name: "token",
                group: "authentication.k8s.io",
                version: "v1",
                kind: "TokenRequest",
                verbs: &["create"],
            }]);
}

impl Served for resources::ConfigMap {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("configmap", "io.k8s.api.core.v1.ConfigMap").short_names(&["cm"]);
}

impl Served for resources::Secret {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>("secret", "io.k8s.api.core.v1.Secret");
}

impl Served for resources::Event {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("event", "io.k8s.api.core.v1.Event").short_names(&["ev"]);
}

impl Served for resources::ReplicationController {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>(
        "replicationcontroller",
        "io.k8s.api.core.v1.ReplicationController",
    )
    .short_names(&["rc"])
    .categories(&["all"])
    .subresources(&[SCALE, status_of("", "ReplicationController")]);
}

impl Served for resources::PersistentVolume {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("persistentvolume", "io.k8s.api.core.v1.PersistentVolume")
            .short_names(&["pv"])
            .subresources(&[status_of("", "PersistentVolume")]);
}

impl Served for resources::PersistentVolumeClaim {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>(
        "persistentvolumeclaim",
        "io.k8s.api.core.v1.PersistentVolumeClaim",
    )
    .short_names(&["pvc"])
    .subresources(&[status_of("", "PersistentVolumeClaim")]);
}

impl Served for resources::LimitRange {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("limitrange", "io.k8s.api.core.v1.LimitRange")
            .short_names(&["limits"]);
}

impl Served for resources::ResourceQuota {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("resourcequota", "io.k8s.api.core.v1.ResourceQuota")
            .short_names(&["quota"])
            .subresources(&[status_of("", "ResourceQuota")]);
}

impl Served for resources::ReplicaSet {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("replicaset", "io.k8s.api.apps.v1.ReplicaSet")
            .short_names(&["rs"])
            .categories(&["all"])
            .subresources(&[SCALE, status_of("apps", "ReplicaSet")]);
}

impl Served for resources::Deployment {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("deployment", "io.k8s.api.apps.v1.Deployment")
            .short_names(&["deploy"])
            .categories(&["all"])
            .subresources(&[SCALE, status_of("apps", "Deployment")]);
}

impl Served for resources::StatefulSet {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("statefulset", "io.k8s.api.apps.v1.StatefulSet")
            .short_names(&["sts"])
            .categories(&["all"])
            .subresources(&[SCALE, status_of("apps", "StatefulSet")]);
}

impl Served for resources::ControllerRevision {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>(
        "controllerrevision",
        "io.k8s.api.apps.v1.ControllerRevision",
    );
}

impl Served for resources::DaemonSet {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("daemonset", "io.k8s.api.apps.v1.DaemonSet")
            .short_names(&["ds"])
            .categories(&["all"])
            .subresources(&[status_of("apps", "DaemonSet")]);
}

impl Served for resources::Job {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>("job", "io.k8s.api.batch.v1.Job")
        .categories(&["all"])
        .subresources(&[status_of("batch", "Job")]);
}

impl Served for resources::CronJob {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>("cronjob", "io.k8s.api.batch.v1.CronJob")
        .short_names(&["cj"])
        .categories(&["all"])
        .subresources(&[status_of("batch", "CronJob")]);
}

impl Served for resources::Lease {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("lease", "io.k8s.api.coordination.v1.Lease");
}

impl Served for resources::CertificateSigningRequest {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>(
        "certificatesigningrequest",
        "io.k8s.api.certificates.v1.CertificateSigningRequest",
    )
    .short_names(&["csr"])
    .subresources(&[
        Subresource {
            name: "approval",
            group: "certificates.k8s.io",
            version: "v1",
            kind: "CertificateSigningRequest",
            verbs: GET_PATCH_UPDATE,
        },
        status_of("certificates.k8s.io", "CertificateSigningRequest"),
    ]);
}

impl Served for resources::PriorityClass {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("priorityclass", "io.k8s.api.scheduling.v1.PriorityClass")
            .short_names(&["pc"]);
}

impl Served for resources::StorageClass {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("storageclass", "io.k8s.api.storage.v1.StorageClass")
            .short_names(&["sc"]);
}

impl Served for resources::PodDisruptionBudget {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>(
        "poddisruptionbudget",
        "io.k8s.api.policy.v1.PodDisruptionBudget",
    )
    .short_names(&["pdb"])
    .subresources(&[status_of("policy", "PodDisruptionBudget")]);
}

impl Served for resources::Ingress {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("ingress", "io.k8s.api.networking.v1.Ingress")
            .short_names(&["ing"])
            .subresources(&[status_of("networking.k8s.io", "Ingress")]);
}

impl Served for resources::IngressClass {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("ingressclass", "io.k8s.api.networking.v1.IngressClass");
}

impl Served for resources::NetworkPolicy {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("networkpolicy", "io.k8s.api.networking.v1.NetworkPolicy")
            .short_names(&["netpol"]);
}

impl Served for resources::APIService {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>(
        "apiservice",
        "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIService",
    )
    .categories(&["api-extensions"])
    .subresources(&[status_of("apiregistration.k8s.io", "APIService")]);
}

impl Served for resources::HorizontalPodAutoscaler {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>(
        "horizontalpodautoscaler",
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
    )
    .short_names(&["hpa"])
    .categories(&["all"])
    .subresources(&[Subresource {
        name: "status",
        group: "autoscaling",
        version: "v2",
        kind: "HorizontalPodAutoscaler",
        verbs: GET_PATCH_UPDATE,
    }]);
}

impl Served for resources::ClusterRole {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("clusterrole", "io.k8s.api.rbac.v1.ClusterRole");
}

impl Served for resources::ClusterRoleBinding {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>(
        "clusterrolebinding",
        "io.k8s.api.rbac.v1.ClusterRoleBinding",
    );
}

impl Served for resources::Role {
    const INFO: ResourceInfo = ResourceInfo::of::<Self>("role", "io.k8s.api.rbac.v1.Role");
}

impl Served for resources::RoleBinding {
    const INFO: ResourceInfo =
        ResourceInfo::of::<Self>("rolebinding", "io.k8s.api.rbac.v1.RoleBinding");
}

/// The served group-versions, `(group, version)`, in the order of [`RESOURCES`] (core
/// first), then those only [`OTHER_VERSIONS`] has.
pub static GROUP_VERSIONS: std::sync::LazyLock<Vec<(&'static str, &'static str)>> =
    std::sync::LazyLock::new(|| {
        let mut out: Vec<(&'static str, &'static str)> = Vec::new();
        for r in RESOURCES.iter().chain(OTHER_VERSIONS) {
            if !out.contains(&(r.group, r.version)) {
                out.push((r.group, r.version));
            }
        }
        out
    });

/// The resources of one group-version, in table order ([`OTHER_VERSIONS`] after
/// [`RESOURCES`]).
pub fn resources_in<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ResourceInfo> + 'a {
    RESOURCES
        .iter()
        .chain(OTHER_VERSIONS)
        .filter(move |r| r.group == group && r.version == version)
}

/// The resource served at `(group, version, plural)`.
pub fn resource(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource whose objects have this kind (kinds are unique among served resources).
pub fn resource_for_kind(kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES.iter().find(|r| r.kind == kind)
}

/// The resource metrics API (`metrics.k8s.io/v1beta1`): resources the API server
/// computes on each request from the kubelets' measurements instead of reading them from
/// the store (as kube-aggregator proxies them to metrics-server). Discovery lists them;
/// they are not in [`RESOURCES`], so no store-backed path (dispatch, the namespace
/// controller, the garbage collector) ever sees them.
pub static COMPUTED_RESOURCES: &[ResourceInfo] = &[
    ResourceInfo {
        group: "metrics.k8s.io",
        version: "v1beta1",
        kind: "NodeMetrics",
        plural: "nodes",
        singular: "",
        namespaced: false,
        verbs: &["get", "list"],
        short_names: &[],
        categories: &[],
        subresources: &[],
        schema: "io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics",
    },
    ResourceInfo {
        group: "metrics.k8s.io",
        version: "v1beta1",
        kind: "PodMetrics",
        plural: "pods",
        singular: "",
        namespaced: true,
        verbs: &["get", "list"],
        short_names: &[],
        categories: &[],
        subresources: &[],
        schema: "io.k8s.metrics.pkg.apis.metrics.v1beta1.PodMetrics",
    },
];

/// Resources served at a second version besides their entry in [`RESOURCES`]: the same
/// objects, stored once as the table's version and converted on the way in and out (as
/// Kubernetes serves `autoscaling/v1` HorizontalPodAutoscalers stored as v2). They are
/// not in [`RESOURCES`], so nothing that walks every stored kind (quota, the garbage
/// collector, namespace deletion) counts their objects twice.
pub static OTHER_VERSIONS: &[ResourceInfo] =
    &[ResourceInfo::of::<resources::HorizontalPodAutoscalerV1>(
        "horizontalpodautoscaler",
        "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler",
    )
    .short_names(&["hpa"])
    .categories(&["all"])
    .subresources(&[Subresource {
        name: "status",
        group: "autoscaling",
        version: "v1",
        kind: "HorizontalPodAutoscaler",
        verbs: GET_PATCH_UPDATE,
    }])];

/// The resource of [`OTHER_VERSIONS`] served at `(group, version, plural)`.
pub fn other_version(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    OTHER_VERSIONS
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The entry of [`RESOURCES`] whose objects `info` serves: `info` itself, or for one of
/// [`OTHER_VERSIONS`] the version its objects are stored as.
pub fn storage_of(info: &ResourceInfo) -> &ResourceInfo {
    if other_version(info.group, info.version, info.plural).is_none() {
        return info;
    }
    RESOURCES
        .iter()
        .find(|r| r.group == info.group && r.plural == info.plural)
        .unwrap_or(info)
}

/// The computed resource served at `(group, version, plural)`.
pub fn computed_resource(
    group: &str,
    version: &str,
    plural: &str,
) -> Option<&'static ResourceInfo> {
    COMPUTED_RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}
