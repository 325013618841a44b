//! What the API server serves: one static table of resources (group, version, kind,
//! names, verbs, subresources) and one model of their object schemas.
//!
//! The schema model describes every object type once — its fields, their JSON types and,
//! for lists, how Kubernetes merges them (`x-kubernetes-patch-strategy`,
//! `x-kubernetes-patch-merge-key`, `x-kubernetes-list-type`). Two modules read it:
//! [`super::openapi`] renders it as OpenAPI v3, and [`super::patch`] walks it to apply
//! strategic merge patches, so the merge keys kubectl downloads are the ones the server
//! applies. [`unknown_fields`] walks it too, for `fieldValidation=Strict`.
//!
//! The model is derived from the `rudder-protocol` resource structs themselves
//! (`#[derive(Schema)]`, see [`rudder_protocol::schema`]): it has exactly their fields,
//! not every field Kubernetes has, so a field Rudder does not store is reported as
//! unknown rather than silently dropped. String enums take their values from the
//! protocol's enums.
//!
//! Nothing here does I/O; everything is `'static` data plus lookups.

/// The resource table lives in the protocol crate, where clients read it too.
pub use rudder_protocol::registry::{
    group_version, resource_for_kind, resources_in, ResourceInfo, Subresource, ALL_VERBS,
    GROUP_VERSIONS, RESOURCES,
};

/// Resources are looked up in the static table, then among those CRDs define.
pub use super::crd::registry::{all_resources, group_versions, resource};

/// The schema model lives in the protocol crate, derived from the resource structs.
pub use rudder_protocol::schema::{
    closure, drop_unknown_zeros, type_def, type_for_kind, types, Field, Gvk, Node, Shape, Ty,
    TypeDef, TypeRef, DELETE_OPTIONS, LIST_META, OBJECT_META, PATCH, STATUS, WATCH_EVENT,
};

/// The fields of `object` (of `kind`) that its schema does not know: the schema model for
/// built-in kinds, the CRD's structural schema for custom ones.
pub fn unknown_fields(kind: &str, object: &serde_json::Value) -> Vec<String> {
    if type_for_kind(kind).is_none() {
        if let Some(custom) = super::crd::registry::custom_for_kind(kind) {
            return custom.unknown_fields(object);
        }
    }
    rudder_protocol::schema::unknown_fields(kind, object)
}

/// [`unknown_fields`] of an object written at `info`'s version: the schema of that
/// version for a kind served at two.
pub fn unknown_fields_in(info: &ResourceInfo, object: &serde_json::Value) -> Vec<String> {
    match type_def(info.schema).filter(|_| super::versions::is_other_version(info)) {
        Some(def) => rudder_protocol::schema::unknown_fields_of(def, object),
        None => unknown_fields(info.kind, object),
    }
}

/// [`drop_unknown_zeros`] of an object written at `info`'s version.
pub fn drop_unknown_zeros_in(info: &ResourceInfo, object: &mut serde_json::Value) {
    match type_def(info.schema).filter(|_| super::versions::is_other_version(info)) {
        Some(def) => rudder_protocol::schema::drop_unknown_zeros_of(def, object),
        None => drop_unknown_zeros(info.kind, object),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rudder_protocol::resources::Resource;
    use serde_json::json;

    #[test]
    fn unknown_zeros_are_dropped_and_the_rest_kept() {
        let mut d = json!({
            "metadata": {"name": "web", "selfLink": "", "generation": 0},
            "spec": {
                "minReadySeconds": 0, "paused": false, "replicas": 0,
                "template": {"spec": {"containers": [{
                    "name": "c", "image": "i", "stdinOnce": false,
                    "futureFlag": false, "futureList": [], "madeUp": 3,
                }]}},
            },
            "status": {"terminatingReplicas": 0},
        });
        drop_unknown_zeros("Deployment", &mut d);
        assert!(d["metadata"].get("selfLink").is_none());
        assert_eq!(
            d["metadata"]["generation"], 0,
            "known fields stay, zero or not"
        );
        assert_eq!(d["spec"]["replicas"], 0);
        assert_eq!(d["spec"]["minReadySeconds"], 0);
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["stdinOnce"], false, "a known field stays");
        assert!(c.get("futureFlag").is_none() && c.get("futureList").is_none());
        assert_eq!(
            c["madeUp"], 3,
            "a set unknown field is left for validation to report"
        );
        assert_eq!(
            unknown_fields("Deployment", &d),
            ["spec.template.spec.containers[0].madeUp"]
        );
    }

    /// Every type a field refers to is in the model under its name, and every served
    /// resource's schema is a kind with the resource's group, version and kind.
    #[test]
    fn model_is_closed_and_matches_resources() {
        fn check(ty: &Ty, from: &str) {
            match ty {
                Ty::Object(r) => {
                    assert_eq!(type_def(r.name()).map(|d| d.name), Some(r.name()), "{from}")
                }
                Ty::Array(inner) | Ty::Map(inner) => check(inner, from),
                _ => {}
            }
        }
        for def in types() {
            for f in def.fields() {
                check(&f.ty, &format!("{}.{}", def.name, f.name));
                if !f.merge_key.is_empty() {
                    assert!(
                        f.merges(),
                        "{}.{}: merge key without merge",
                        def.name,
                        f.name
                    );
                }
            }
        }
        for r in RESOURCES {
            let def = type_def(r.schema).unwrap();
            let gvk = def.gvk.unwrap();
            assert_eq!(
                (gvk.group, gvk.version, gvk.kind),
                (r.group, r.version, r.kind)
            );
            assert_eq!(type_for_kind(r.kind).unwrap().name, r.schema);
        }
        for name in [
            STATUS,
            LIST_META,
            OBJECT_META,
            DELETE_OPTIONS,
            PATCH,
            WATCH_EVENT,
        ] {
            assert!(type_def(name).is_some(), "{name}");
        }
        assert_eq!(
            type_for_kind("Binding").unwrap().name,
            "io.k8s.api.core.v1.Binding"
        );
        assert_eq!(
            type_for_kind("Scale").unwrap().name,
            "io.k8s.api.autoscaling.v1.Scale"
        );
    }

    /// The list extensions kubectl's strategic merge patches depend on, pinned: every
    /// field with a patch strategy or list type, and nothing else.
    #[test]
    fn merge_keys_are_pinned() {
        type Row = (
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static [&'static str],
        );
        let want: &[Row] = &[
            (
                "apps.v1.DaemonSetStatus",
                "conditions",
                "merge",
                "type",
                "map",
                &["type"],
            ),
            (
                "apps.v1.DeploymentSpec",
                "strategy",
                "retainKeys",
                "",
                "",
                &[],
            ),
            (
                "apps.v1.DeploymentStatus",
                "conditions",
                "merge",
                "type",
                "map",
                &["type"],
            ),
            (
                "apps.v1.ReplicaSetStatus",
                "conditions",
                "merge",
                "type",
                "map",
                &["type"],
            ),
            (
                "apps.v1.StatefulSetSpec",
                "volumeClaimTemplates",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "apps.v1.StatefulSetStatus",
                "conditions",
                "merge",
                "type",
                "map",
                &["type"],
            ),
            (
                "autoscaling.v2.HorizontalPodAutoscalerStatus",
                "conditions",
                "merge",
                "type",
                "map",
                &["type"],
            ),
            ("batch.v1.CronJobStatus", "active", "", "", "atomic", &[]),
            (
                "batch.v1.JobStatus",
                "conditions",
                "merge",
                "type",
                "atomic",
                &[],
            ),
            ("batch.v1.PodFailurePolicy", "rules", "", "", "atomic", &[]),
            (
                "batch.v1.PodFailurePolicyOnExitCodesRequirement",
                "values",
                "",
                "",
                "set",
                &[],
            ),
            (
                "batch.v1.PodFailurePolicyRule",
                "onPodConditions",
                "",
                "",
                "atomic",
                &[],
            ),
            ("batch.v1.SuccessPolicy", "rules", "", "", "atomic", &[]),
            (
                "batch.v1.UncountedTerminatedPods",
                "failed",
                "",
                "",
                "set",
                &[],
            ),
            (
                "batch.v1.UncountedTerminatedPods",
                "succeeded",
                "",
                "",
                "set",
                &[],
            ),
            (
                "certificates.v1.CertificateSigningRequestSpec",
                "groups",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "certificates.v1.CertificateSigningRequestSpec",
                "usages",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "certificates.v1.CertificateSigningRequestStatus",
                "conditions",
                "merge",
                "type",
                "map",
                &["type"],
            ),
            (
                "core.v1.PersistentVolumeClaimSpec",
                "accessModes",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PersistentVolumeClaimStatus",
                "accessModes",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PersistentVolumeClaimStatus",
                "conditions",
                "merge",
                "type",
                "map",
                &["type"],
            ),
            (
                "core.v1.PersistentVolumeSpec",
                "accessModes",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PersistentVolumeSpec",
                "mountOptions",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.TopologySelectorLabelRequirement",
                "values",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.TopologySelectorTerm",
                "matchLabelExpressions",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "storage.v1.StorageClass",
                "allowedTopologies",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "storage.v1.StorageClass",
                "mountOptions",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.ConfigMapProjection",
                "items",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.ConfigMapVolumeSource",
                "items",
                "",
                "",
                "atomic",
                &[],
            ),
            ("core.v1.Container", "command", "", "", "atomic", &[]),
            ("core.v1.Container", "args", "", "", "atomic", &[]),
            ("core.v1.Container", "envFrom", "", "", "atomic", &[]),
            (
                "core.v1.Container",
                "ports",
                "merge",
                "containerPort",
                "map",
                &["containerPort", "protocol"],
            ),
            (
                "core.v1.Container",
                "env",
                "merge",
                "name",
                "map",
                &["name"],
            ),
            (
                "core.v1.Container",
                "volumeMounts",
                "merge",
                "mountPath",
                "map",
                &["mountPath"],
            ),
            (
                "core.v1.DownwardAPIProjection",
                "items",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.DownwardAPIVolumeSource",
                "items",
                "",
                "",
                "atomic",
                &[],
            ),
            ("core.v1.EndpointSubset", "addresses", "", "", "atomic", &[]),
            (
                "core.v1.EndpointSubset",
                "notReadyAddresses",
                "",
                "",
                "atomic",
                &[],
            ),
            ("core.v1.EndpointSubset", "ports", "", "", "atomic", &[]),
            ("core.v1.Endpoints", "subsets", "", "", "atomic", &[]),
            ("core.v1.ExecAction", "command", "", "", "atomic", &[]),
            (
                "core.v1.HTTPGetAction",
                "httpHeaders",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.LoadBalancerStatus",
                "ingress",
                "",
                "",
                "atomic",
                &[],
            ),
            ("core.v1.NamespaceSpec", "finalizers", "", "", "atomic", &[]),
            (
                "core.v1.NamespaceStatus",
                "conditions",
                "merge",
                "type",
                "map",
                &["type"],
            ),
            (
                "core.v1.NodeAffinity",
                "preferredDuringSchedulingIgnoredDuringExecution",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.NodeSelector",
                "nodeSelectorTerms",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.NodeSelectorRequirement",
                "values",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.NodeSelectorTerm",
                "matchExpressions",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.NodeSelectorTerm",
                "matchFields",
                "",
                "",
                "atomic",
                &[],
            ),
            ("core.v1.NodeSpec", "podCIDRs", "merge", "", "set", &[]),
            ("core.v1.NodeSpec", "taints", "", "", "atomic", &[]),
            (
                "core.v1.NodeStatus",
                "conditions",
                "merge",
                "type",
                "map",
                &["type"],
            ),
            (
                "core.v1.NodeStatus",
                "addresses",
                "merge",
                "type",
                "map",
                &["type"],
            ),
            (
                "core.v1.PodSpec",
                "volumes",
                "merge,retainKeys",
                "name",
                "map",
                &["name"],
            ),
            (
                "core.v1.PodSpec",
                "initContainers",
                "merge",
                "name",
                "map",
                &["name"],
            ),
            (
                "core.v1.PodSpec",
                "containers",
                "merge",
                "name",
                "map",
                &["name"],
            ),
            ("core.v1.PodSpec", "tolerations", "", "", "atomic", &[]),
            (
                "core.v1.PodStatus",
                "conditions",
                "merge",
                "type",
                "map",
                &["type"],
            ),
            ("core.v1.PodStatus", "hostIPs", "merge", "ip", "atomic", &[]),
            ("core.v1.PodStatus", "podIPs", "merge", "ip", "map", &["ip"]),
            (
                "core.v1.PodStatus",
                "initContainerStatuses",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PodStatus",
                "containerStatuses",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.ProjectedVolumeSource",
                "sources",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.ReplicationControllerStatus",
                "conditions",
                "merge",
                "type",
                "map",
                &["type"],
            ),
            ("core.v1.SecretProjection", "items", "", "", "atomic", &[]),
            ("core.v1.SecretVolumeSource", "items", "", "", "atomic", &[]),
            (
                "core.v1.ServiceAccount",
                "secrets",
                "merge",
                "name",
                "map",
                &["name"],
            ),
            (
                "core.v1.ServiceAccount",
                "imagePullSecrets",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.ServiceSpec",
                "ports",
                "merge",
                "port",
                "map",
                &["port", "protocol"],
            ),
            ("core.v1.ServiceSpec", "clusterIPs", "", "", "atomic", &[]),
            ("core.v1.ServiceSpec", "externalIPs", "", "", "atomic", &[]),
            ("core.v1.ServiceSpec", "ipFamilies", "", "", "atomic", &[]),
            (
                "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceStatus",
                "conditions",
                "merge",
                "type",
                "map",
                &["type"],
            ),
            ("meta.v1.DeleteOptions", "dryRun", "", "", "atomic", &[]),
            (
                "meta.v1.LabelSelector",
                "matchExpressions",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "meta.v1.LabelSelectorRequirement",
                "values",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "meta.v1.ObjectMeta",
                "ownerReferences",
                "merge",
                "uid",
                "map",
                &["uid"],
            ),
            ("meta.v1.ObjectMeta", "finalizers", "merge", "", "set", &[]),
            ("meta.v1.StatusDetails", "causes", "", "", "atomic", &[]),
            ("core.v1.Capabilities", "add", "", "", "atomic", &[]),
            ("core.v1.Capabilities", "drop", "", "", "atomic", &[]),
            ("core.v1.Container", "resizePolicy", "", "", "atomic", &[]),
            (
                "core.v1.Container",
                "restartPolicyRules",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.Container",
                "volumeDevices",
                "merge",
                "devicePath",
                "map",
                &["devicePath"],
            ),
            (
                "core.v1.ContainerRestartRuleOnExitCodes",
                "values",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.ContainerStatus",
                "allocatedResourcesStatus",
                "merge",
                "name",
                "map",
                &["name"],
            ),
            (
                "core.v1.ContainerStatus",
                "volumeMounts",
                "merge",
                "mountPath",
                "map",
                &["mountPath"],
            ),
            ("core.v1.EphemeralContainer", "args", "", "", "atomic", &[]),
            (
                "core.v1.EphemeralContainer",
                "command",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.EphemeralContainer",
                "env",
                "merge",
                "name",
                "map",
                &["name"],
            ),
            (
                "core.v1.EphemeralContainer",
                "envFrom",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.EphemeralContainer",
                "ports",
                "merge",
                "containerPort",
                "map",
                &["containerPort", "protocol"],
            ),
            (
                "core.v1.EphemeralContainer",
                "resizePolicy",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.EphemeralContainer",
                "restartPolicyRules",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.EphemeralContainer",
                "volumeDevices",
                "merge",
                "devicePath",
                "map",
                &["devicePath"],
            ),
            (
                "core.v1.EphemeralContainer",
                "volumeMounts",
                "merge",
                "mountPath",
                "map",
                &["mountPath"],
            ),
            ("core.v1.HostAlias", "hostnames", "", "", "atomic", &[]),
            ("core.v1.LimitRangeSpec", "limits", "", "", "atomic", &[]),
            ("core.v1.ResourceQuotaSpec", "scopes", "", "", "atomic", &[]),
            (
                "core.v1.ScopeSelector",
                "matchExpressions",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.ScopedResourceSelectorRequirement",
                "values",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.LinuxContainerUser",
                "supplementalGroups",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PodAffinity",
                "preferredDuringSchedulingIgnoredDuringExecution",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PodAffinity",
                "requiredDuringSchedulingIgnoredDuringExecution",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PodAffinityTerm",
                "matchLabelKeys",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PodAffinityTerm",
                "mismatchLabelKeys",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PodAffinityTerm",
                "namespaces",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PodAntiAffinity",
                "preferredDuringSchedulingIgnoredDuringExecution",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PodAntiAffinity",
                "requiredDuringSchedulingIgnoredDuringExecution",
                "",
                "",
                "atomic",
                &[],
            ),
            ("core.v1.PodDNSConfig", "nameservers", "", "", "atomic", &[]),
            ("core.v1.PodDNSConfig", "options", "", "", "atomic", &[]),
            ("core.v1.PodDNSConfig", "searches", "", "", "atomic", &[]),
            (
                "core.v1.PodExtendedResourceClaimStatus",
                "requestMappings",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PodSecurityContext",
                "supplementalGroups",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PodSecurityContext",
                "sysctls",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PodSpec",
                "ephemeralContainers",
                "merge",
                "name",
                "map",
                &["name"],
            ),
            (
                "core.v1.PodSpec",
                "hostAliases",
                "merge",
                "ip",
                "map",
                &["ip"],
            ),
            (
                "core.v1.PodSpec",
                "imagePullSecrets",
                "merge",
                "name",
                "map",
                &["name"],
            ),
            ("core.v1.PodSpec", "readinessGates", "", "", "atomic", &[]),
            (
                "core.v1.PodSpec",
                "resourceClaims",
                "merge,retainKeys",
                "name",
                "map",
                &["name"],
            ),
            (
                "core.v1.PodSpec",
                "schedulingGates",
                "merge",
                "name",
                "map",
                &["name"],
            ),
            (
                "core.v1.PodSpec",
                "topologySpreadConstraints",
                "merge",
                "topologyKey",
                "map",
                &["topologyKey", "whenUnsatisfiable"],
            ),
            (
                "core.v1.PodStatus",
                "ephemeralContainerStatuses",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "core.v1.PodStatus",
                "resourceClaimStatuses",
                "merge,retainKeys",
                "name",
                "map",
                &["name"],
            ),
            (
                "core.v1.ResourceRequirements",
                "claims",
                "",
                "",
                "atomic",
                &[],
            ),
            ("core.v1.ResourceStatus", "resources", "", "", "atomic", &[]),
            (
                "core.v1.TopologySpreadConstraint",
                "matchLabelKeys",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "policy.v1.PodDisruptionBudgetStatus",
                "conditions",
                "merge",
                "type",
                "map",
                &["type"],
            ),
            (
                "rbac.v1.AggregationRule",
                "clusterRoleSelectors",
                "",
                "",
                "atomic",
                &[],
            ),
            ("rbac.v1.ClusterRole", "rules", "", "", "atomic", &[]),
            (
                "rbac.v1.ClusterRoleBinding",
                "subjects",
                "",
                "",
                "atomic",
                &[],
            ),
            ("rbac.v1.PolicyRule", "apiGroups", "", "", "atomic", &[]),
            (
                "rbac.v1.PolicyRule",
                "nonResourceURLs",
                "",
                "",
                "atomic",
                &[],
            ),
            ("rbac.v1.PolicyRule", "resourceNames", "", "", "atomic", &[]),
            ("rbac.v1.PolicyRule", "resources", "", "", "atomic", &[]),
            ("rbac.v1.PolicyRule", "verbs", "", "", "atomic", &[]),
            ("rbac.v1.Role", "rules", "", "", "atomic", &[]),
            ("rbac.v1.RoleBinding", "subjects", "", "", "atomic", &[]),
            // Every list of networking/v1's Ingress is `+listType=atomic`.
            (
                "networking.v1.HTTPIngressRuleValue",
                "paths",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "networking.v1.IngressLoadBalancerIngress",
                "ports",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "networking.v1.IngressLoadBalancerStatus",
                "ingress",
                "",
                "",
                "atomic",
                &[],
            ),
            ("networking.v1.IngressSpec", "rules", "", "", "atomic", &[]),
            ("networking.v1.IngressSpec", "tls", "", "", "atomic", &[]),
            ("networking.v1.IngressTLS", "hosts", "", "", "atomic", &[]),
            // And every list of its NetworkPolicy.
            ("networking.v1.IPBlock", "except", "", "", "atomic", &[]),
            (
                "networking.v1.NetworkPolicyEgressRule",
                "ports",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "networking.v1.NetworkPolicyEgressRule",
                "to",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "networking.v1.NetworkPolicyIngressRule",
                "from",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "networking.v1.NetworkPolicyIngressRule",
                "ports",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "networking.v1.NetworkPolicySpec",
                "egress",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "networking.v1.NetworkPolicySpec",
                "ingress",
                "",
                "",
                "atomic",
                &[],
            ),
            (
                "networking.v1.NetworkPolicySpec",
                "policyTypes",
                "",
                "",
                "atomic",
                &[],
            ),
        ];
        let mut got = Vec::new();
        for def in types() {
            for f in def.fields() {
                if !f.patch_strategy.is_empty() || !f.list_type.is_empty() {
                    let short = def
                        .name
                        .trim_start_matches("io.k8s.api.")
                        .trim_start_matches("io.k8s.apimachinery.pkg.apis.");
                    got.push((
                        short,
                        f.name,
                        f.patch_strategy,
                        f.merge_key,
                        f.list_type,
                        f.list_map_keys,
                    ));
                }
            }
        }
        got.sort();
        let mut want = want.to_vec();
        want.sort();
        assert_eq!(got, want);
    }

    fn info<K: Resource>() -> (String, &'static str, &'static str, bool) {
        let r = resource_for_kind(K::KIND).unwrap();
        (r.api_version(), r.kind, r.plural, r.namespaced)
    }

    fn expect<K: Resource>() -> (String, &'static str, &'static str, bool) {
        (K::API_VERSION.to_owned(), K::KIND, K::PLURAL, K::NAMESPACED)
    }

    #[test]
    fn table_agrees_with_protocol_resources() {
        macro_rules! check {
            ($($kind:path),* $(,)?) => {{
                $(assert_eq!(info::<$kind>(), expect::<$kind>(), "{}", <$kind as Resource>::KIND);)*
                [$(<$kind as Resource>::KIND),*].len()
            }};
        }
        assert_eq!(rudder_protocol::served_kinds!(check), RESOURCES.len());
    }

    #[test]
    fn lookups() {
        let table: Vec<(&str, Option<&str>, Option<&str>)> = vec![
            (
                "core pods",
                resource("", "v1", "pods").map(|r| r.kind),
                Some("Pod"),
            ),
            (
                "apps deployments",
                resource("apps", "v1", "deployments").map(|r| r.kind),
                Some("Deployment"),
            ),
            (
                "wrong group",
                resource("apps", "v1", "pods").map(|r| r.kind),
                None,
            ),
            (
                "lease by kind",
                resource_for_kind("Lease").map(|r| r.group),
                Some("coordination.k8s.io"),
            ),
            (
                "deploy scale kind",
                resource_for_kind("Deployment")
                    .and_then(|r| r.subresource("scale"))
                    .map(|s| s.kind),
                Some("Scale"),
            ),
            (
                "short name",
                resource_for_kind("Deployment").map(|r| r.short_names[0]),
                Some("deploy"),
            ),
            (
                "unknown kind",
                resource_for_kind("NoSuchKind").map(|r| r.kind),
                None,
            ),
        ];
        for (name, got, want) in table {
            assert_eq!(got, want, "{name}");
        }
        assert!(!resource_for_kind("Namespace")
            .unwrap()
            .verbs
            .contains(&"deletecollection"));
        assert_eq!(resources_in("apps", "v1").count(), 5);
    }

    #[test]
    fn unknown_fields_are_named_like_kubernetes() {
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"any": "thing"}, "bogus": 1},
            "spec": {
                "replicas": 2,
                "template": {"spec": {"containers": [
                    {"name": "a", "image": "x"},
                    {"name": "b", "securityContext": {}, "securityContexts": {}}
                ]}}
            },
            "extra": true
        });
        let table = [
            (
                "deployment",
                unknown_fields("Deployment", &deployment),
                vec![
                    "extra",
                    "metadata.bogus",
                    "spec.template.spec.containers[1].securityContexts",
                ],
            ),
            (
                "clean pod",
                unknown_fields("Pod", &json!({"metadata": {"name": "p"}, "spec": {}})),
                vec![],
            ),
            (
                "unknown kind",
                unknown_fields("NoSuchKind", &json!({"x": 1})),
                vec![],
            ),
        ];
        for (name, mut got, want) in table {
            got.sort();
            assert_eq!(got, want, "{name}");
        }
    }
}
