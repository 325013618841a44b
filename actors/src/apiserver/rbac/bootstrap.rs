//! The roles and bindings every cluster starts with, as Kubernetes' bootstrap policy
//! names them: `cluster-admin` (bound to `system:masters`); the user-facing `admin`,
//! `edit` and `view`, aggregated from the `system:aggregate-to-*` roles through the
//! `rbac.authorization.k8s.io/aggregate-to-*` labels (so a CRD's role joins them by
//! label); `system:basic-user`, `system:discovery` and `system:public-info-viewer` for
//! every authenticated caller; `system:monitoring` (`/metrics` and the health paths) for
//! the group of that name; and the components' roles (`system:kube-scheduler`,
//! `system:kube-controller-manager`, `system:node`, `system:node-proxier`), each bound
//! to its component's user; `system:certificates.k8s.io:kube-apiserver-client-approver`
//! (approving client certificates), bound to no one.
//!
//! Written at every start ([`ensure`]): a missing object is created; one whose
//! `rbac.authorization.kubernetes.io/autoupdate` annotation is not `"false"` gets its
//! rules (or its aggregation rule) and subjects put back; one set to `"false"` is the
//! operator's and is left alone.

use rudder_protocol::resources::{
    AggregationRule, ClusterRole, ClusterRoleBinding, LabelSelector, PolicyRule, RoleRef, Subject,
    AGGREGATE_TO_PREFIX, AUTOUPDATE_ANNOTATION, GROUP_KIND, KUBE_APISERVER_CLIENT_SIGNER,
    RBAC_GROUP, USER_KIND,
};
use serde_json::Value;

use super::super::core::{fail, ApiCore, ApiResult, Part, WriteOptions};
use super::super::registry;
use super::rules::{rule, url_rule};
use super::MASTERS_GROUP;

const READ: &[&str] = &["get", "list", "watch"];
const READ_WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "delete",
    "deletecollection",
    "patch",
    "update",
];

/// The user of the scheduler.
pub const SCHEDULER_USER: &str = "system:kube-scheduler";
/// The user of the controller manager.
pub const CONTROLLER_MANAGER_USER: &str = "system:kube-controller-manager";
/// The user of the service proxy.
pub const PROXY_USER: &str = "system:kube-proxy";
/// The user of a worker's agents other than its kubelet, followed by the node's name.
pub const NODE_AGENT_USER_PREFIX: &str = "system:rudder:node-agent:";
/// The group of every worker's agents, bound to the role [`NODE_AGENT_ROLE`].
pub const NODE_AGENTS_GROUP: &str = "system:rudder:node-agents";
/// What a worker's agents may do: read what they serve from, write what they own.
pub const NODE_AGENT_ROLE: &str = "system:rudder:node-agent";
/// Every authenticated caller's group.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// Every unauthenticated caller's group.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";

fn role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    let mut r = ClusterRole::new(name);
    r.metadata
        .annotations
        .insert(AUTOUPDATE_ANNOTATION.into(), "true".into());
    r.metadata
        .labels
        .insert("kubernetes.io/bootstrapping".into(), "rbac-defaults".into());
    r.rules = rules;
    r
}

/// A role whose rules join the aggregated role `to` (`admin`, `edit`, `view`).
fn joins(mut r: ClusterRole, to: &[&str]) -> ClusterRole {
    for t in to {
        r.metadata
            .labels
            .insert(format!("{AGGREGATE_TO_PREFIX}{t}"), "true".into());
    }
    r
}

/// An aggregated role taking the rules of roles labelled `aggregate-to-<from>`.
fn aggregated(name: &str, from: &str) -> ClusterRole {
    let mut r = role(name, Vec::new());
    let mut selector = LabelSelector::default();
    selector
        .match_labels
        .insert(format!("{AGGREGATE_TO_PREFIX}{from}"), "true".into());
    r.aggregation_rule = Some(AggregationRule {
        cluster_role_selectors: vec![selector],
    });
    r
}

/// The bootstrap ClusterRoles.
pub fn cluster_roles() -> Vec<ClusterRole> {
    let view_core = &[
        "pods",
        "pods/status",
        "pods/log",
        "replicationcontrollers",
        "replicationcontrollers/scale",
        "replicationcontrollers/status",
        "serviceaccounts",
        "services",
        "services/status",
        "endpoints",
        "persistentvolumeclaims",
        "persistentvolumeclaims/status",
        "configmaps",
        "events",
        "limitranges",
        "resourcequotas",
        "resourcequotas/status",
        "namespaces/status",
        "bindings",
    ];
    let view_apps = &[
        "controllerrevisions",
        "daemonsets",
        "daemonsets/status",
        "deployments",
        "deployments/scale",
        "deployments/status",
        "replicasets",
        "replicasets/scale",
        "replicasets/status",
        "statefulsets",
        "statefulsets/scale",
        "statefulsets/status",
    ];
    let edit_core = &[
        "pods",
        "pods/attach",
        "pods/exec",
        "pods/portforward",
        "pods/proxy",
        "replicationcontrollers",
        "replicationcontrollers/scale",
        "serviceaccounts",
        "services",
        "services/proxy",
        "persistentvolumeclaims",
        "configmaps",
        "secrets",
        "events",
    ];
    let edit_apps = &[
        "daemonsets",
        "deployments",
        "deployments/scale",
        "deployments/rollback",
        "replicasets",
        "replicasets/scale",
        "statefulsets",
        "statefulsets/scale",
    ];
    vec![
        role(
            "cluster-admin",
            vec![rule(&["*"], &["*"], &["*"]), url_rule(&["*"], &["*"])],
        ),
        aggregated("admin", "admin"),
        joins(aggregated("edit", "edit"), &["admin"]),
        joins(aggregated("view", "view"), &["edit"]),
        joins(
            role(
                "system:aggregate-to-admin",
                vec![
                    rule(READ_WRITE, &[RBAC_GROUP], &["roles", "rolebindings"]),
                    rule(
                        &["create"],
                        &["authorization.k8s.io"],
                        &["localsubjectaccessreviews"],
                    ),
                ],
            ),
            &["admin"],
        ),
        joins(
            role(
                "system:aggregate-to-edit",
                vec![
                    rule(READ_WRITE, &[""], edit_core),
                    rule(
                        &["create"],
                        &[""],
                        &["pods/eviction", "serviceaccounts/token"],
                    ),
                    rule(&["impersonate"], &[""], &["serviceaccounts"]),
                    rule(READ_WRITE, &["apps"], edit_apps),
                    rule(READ_WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
                    rule(READ_WRITE, &["batch"], &["jobs", "cronjobs"]),
                    rule(READ_WRITE, &["policy"], &["poddisruptionbudgets"]),
                    rule(
                        READ_WRITE,
                        &["networking.k8s.io"],
                        &["ingresses", "networkpolicies"],
                    ),
                ],
            ),
            &["edit"],
        ),
        joins(
            role(
                "system:aggregate-to-view",
                vec![
                    rule(READ, &[""], view_core),
                    rule(READ, &[""], &["namespaces"]),
                    rule(READ, &["apps"], view_apps),
                    rule(
                        READ,
                        &["autoscaling"],
                        &[
                            "horizontalpodautoscalers",
                            "horizontalpodautoscalers/status",
                        ],
                    ),
                    rule(
                        READ,
                        &["batch"],
                        &["jobs", "jobs/status", "cronjobs", "cronjobs/status"],
                    ),
                    rule(
                        READ,
                        &["policy"],
                        &["poddisruptionbudgets", "poddisruptionbudgets/status"],
                    ),
                    rule(
                        READ,
                        &["networking.k8s.io"],
                        &["ingresses", "ingresses/status", "networkpolicies"],
                    ),
                    rule(READ, &["coordination.k8s.io"], &["leases"]),
                    rule(READ, &["metrics.k8s.io"], &["pods", "nodes"]),
                ],
            ),
            &["view"],
        ),
        role(
            "system:basic-user",
            vec![
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                rule(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                ),
            ],
        ),
        role(
            "system:discovery",
            vec![url_rule(
                &["get"],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )],
        ),
        // Scrapers (Prometheus) in the `system:monitoring` group, as Kubernetes binds them.
        role(
            "system:monitoring",
            vec![url_rule(
                &["get"],
                &[
                    "/metrics",
                    "/metrics/slis",
                    "/healthz",
                    "/healthz/*",
                    "/livez",
                    "/livez/*",
                    "/readyz",
                    "/readyz/*",
                ],
            )],
        ),
        role(
            "system:public-info-viewer",
            vec![url_rule(
                &["get"],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
        ),
        // Service accounts may read the OpenID documents that verify their tokens.
        role(
            "system:service-account-issuer-discovery",
            vec![url_rule(
                &["get"],
                &[
                    "/.well-known/openid-configuration",
                    "/.well-known/openid-configuration/",
                    "/openid/v1/jwks",
                    "/openid/v1/jwks/",
                ],
            )],
        ),
        role(
            "system:kube-scheduler",
            vec![
                rule(
                    &["create", "patch", "update"],
                    &["", "events.k8s.io"],
                    &["events"],
                ),
                rule(&["create"], &["coordination.k8s.io"], &["leases"]),
                rule(&["get", "update"], &["coordination.k8s.io"], &["leases"]),
                rule(
                    READ,
                    &[""],
                    &[
                        "nodes",
                        "namespaces",
                        "services",
                        "replicationcontrollers",
                        "persistentvolumeclaims",
                        "persistentvolumes",
                        "configmaps",
                    ],
                ),
                rule(&["get", "list", "watch", "delete"], &[""], &["pods"]),
                rule(&["create"], &[""], &["pods/binding", "bindings"]),
                rule(&["patch", "update"], &[""], &["pods/status"]),
                rule(READ, &["apps"], &["replicasets", "statefulsets"]),
                rule(READ, &["policy"], &["poddisruptionbudgets"]),
                rule(
                    READ,
                    &["storage.k8s.io"],
                    &["storageclasses", "csinodes", "csidrivers"],
                ),
                rule(READ, &["scheduling.k8s.io"], &["priorityclasses"]),
                rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                ),
            ],
        ),
        // The controllers together: the namespace deleter and the garbage collector
        // walk discovery and delete every kind, and the workload controllers write
        // most of the rest, so the controller manager's role covers every resource
        // (Kubernetes gets the same reach from its per-controller service accounts).
        role(
            "system:kube-controller-manager",
            vec![rule(&["*"], &["*"], &["*"])],
        ),
        role(
            "system:node",
            vec![
                rule(
                    READ,
                    &[""],
                    &["nodes", "pods", "services", "endpoints", "namespaces"],
                ),
                rule(
                    &["create", "update", "patch", "delete"],
                    &[""],
                    &["nodes", "nodes/status"],
                ),
                rule(&["update", "patch"], &[""], &["pods/status"]),
                rule(&["delete"], &[""], &["pods"]),
                rule(
                    &["create", "update", "patch"],
                    &["", "events.k8s.io"],
                    &["events"],
                ),
                rule(
                    &["get"],
                    &[""],
                    &[
                        "secrets",
                        "configmaps",
                        "persistentvolumeclaims",
                        "persistentvolumes",
                    ],
                ),
                rule(
                    &["get", "create", "update", "patch", "delete"],
                    &["coordination.k8s.io"],
                    &["leases"],
                ),
            ],
        ),
        role(
            "system:node-proxier",
            vec![
                rule(READ, &[""], &["services", "endpoints", "nodes"]),
                rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
                rule(
                    &["create", "patch", "update"],
                    &["", "events.k8s.io"],
                    &["events"],
                ),
            ],
        ),
        // A worker's agents (Rudder's own; Kubernetes runs them as separate programs
        // with a user each): the service proxy and DNS read Services, Endpoints,
        // EndpointSlices and Pods; network policy reads policies, Pods and Namespaces;
        // routes read Nodes; the ingress controller reads Ingresses, their classes and
        // TLS Secrets and writes Ingress status; the local-path provisioner reads
        // claims and classes and creates and deletes PersistentVolumes; the API relay
        // reads the API servers' Leases; all write Events.
        role(
            NODE_AGENT_ROLE,
            vec![
                rule(
                    READ,
                    &[""],
                    &[
                        "services",
                        "endpoints",
                        "pods",
                        "namespaces",
                        "nodes",
                        "secrets",
                        "configmaps",
                        "persistentvolumeclaims",
                    ],
                ),
                rule(
                    &[
                        "get", "list", "watch", "create", "update", "patch", "delete",
                    ],
                    &[""],
                    &["persistentvolumes"],
                ),
                rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
                rule(
                    READ,
                    &["networking.k8s.io"],
                    &["networkpolicies", "ingresses", "ingressclasses"],
                ),
                rule(
                    &["update", "patch"],
                    &["networking.k8s.io"],
                    &["ingresses/status"],
                ),
                rule(READ, &["storage.k8s.io"], &["storageclasses"]),
                rule(READ, &["coordination.k8s.io"], &["leases"]),
                rule(
                    &["create", "patch", "update"],
                    &["", "events.k8s.io"],
                    &["events"],
                ),
            ],
        ),
        // Who may approve client certificates for the API server (bound by no one at
        // start, as in Kubernetes): `kubectl certificate approve` needs this and
        // `update` on `certificatesigningrequests/approval`.
        role(
            "system:certificates.k8s.io:kube-apiserver-client-approver",
            vec![PolicyRule {
                resource_names: vec![KUBE_APISERVER_CLIENT_SIGNER.to_owned()],
                ..rule(&["approve"], &["certificates.k8s.io"], &["signers"])
            }],
        ),
    ]
}

fn subject(kind: &str, name: &str) -> Subject {
    Subject {
        kind: kind.into(),
        api_group: RBAC_GROUP.into(),
        name: name.into(),
        namespace: String::new(),
    }
}

fn binding(name: &str, role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    let mut b = ClusterRoleBinding::new(name);
    b.metadata
        .annotations
        .insert(AUTOUPDATE_ANNOTATION.into(), "true".into());
    b.metadata
        .labels
        .insert("kubernetes.io/bootstrapping".into(), "rbac-defaults".into());
    b.role_ref = RoleRef {
        api_group: RBAC_GROUP.into(),
        kind: "ClusterRole".into(),
        name: role.into(),
    };
    b.subjects = subjects;
    b
}

/// The bootstrap ClusterRoleBindings. `system:node` is bound to no one, as in
/// Kubernetes: kubelets get their reach from the node authorizer.
pub fn cluster_role_bindings() -> Vec<ClusterRoleBinding> {
    vec![
        binding(
            "cluster-admin",
            "cluster-admin",
            vec![subject(GROUP_KIND, MASTERS_GROUP)],
        ),
        binding(
            "system:basic-user",
            "system:basic-user",
            vec![subject(GROUP_KIND, AUTHENTICATED_GROUP)],
        ),
        binding(
            "system:discovery",
            "system:discovery",
            vec![subject(GROUP_KIND, AUTHENTICATED_GROUP)],
        ),
        binding(
            "system:monitoring",
            "system:monitoring",
            vec![subject(GROUP_KIND, "system:monitoring")],
        ),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            vec![
                subject(GROUP_KIND, AUTHENTICATED_GROUP),
                subject(GROUP_KIND, UNAUTHENTICATED_GROUP),
            ],
        ),
        binding(
            "system:service-account-issuer-discovery",
            "system:service-account-issuer-discovery",
            vec![subject(GROUP_KIND, "system:serviceaccounts")],
        ),
        binding(
            "system:kube-scheduler",
            "system:kube-scheduler",
            vec![subject(USER_KIND, SCHEDULER_USER)],
        ),
        binding(
            "system:kube-controller-manager",
            "system:kube-controller-manager",
            vec![subject(USER_KIND, CONTROLLER_MANAGER_USER)],
        ),
        binding(
            "system:node-proxier",
            "system:node-proxier",
            vec![subject(USER_KIND, PROXY_USER)],
        ),
        binding("system:node", "system:node", Vec::new()),
        binding(
            NODE_AGENT_ROLE,
            NODE_AGENT_ROLE,
            vec![subject(GROUP_KIND, NODE_AGENTS_GROUP)],
        ),
    ]
}

/// Whether a stored bootstrap object may be put back (its autoupdate annotation is not
/// `"false"`).
fn autoupdate(stored: &Value) -> bool {
    stored
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(AUTOUPDATE_ANNOTATION))
        .and_then(Value::as_str)
        != Some("false")
}

/// Creates `want` at `plural`, or puts back the `fields` of a stored one that drifted.
async fn put(core: &ApiCore, plural: &str, want: Value, fields: &[&str]) -> ApiResult<()> {
    let Some(info) = registry::resource(RBAC_GROUP, "v1", plural) else {
        return Err(fail(
            500,
            "InternalError",
            format!("{plural} not registered"),
        ));
    };
    let name = want["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    match core
        .create(info, None, want.clone(), WriteOptions::default())
        .await
    {
        Ok(_) => {
            tracing::debug!(%name, plural, "created bootstrap RBAC object");
            return Ok(());
        }
        Err(e) if e.code == 409 => {}
        Err(e) => return Err(e),
    }
    let stored = core.get(info, None, &name).await?;
    if !autoupdate(&stored) || fields.iter().all(|f| stored.get(*f) == want.get(*f)) {
        return Ok(());
    }
    let mut fixed = stored.clone();
    for f in fields {
        match want.get(*f) {
            Some(v) => fixed[*f] = v.clone(),
            None => {
                if let Some(m) = fixed.as_object_mut() {
                    m.remove(*f);
                }
            }
        }
    }
    core.update(
        info,
        None,
        &name,
        fixed,
        Part::Main,
        WriteOptions::default(),
    )
    .await?;
    tracing::info!(%name, plural, "reconciled bootstrap RBAC object");
    Ok(())
}

/// Creates (or puts back) every bootstrap role and binding.
pub async fn ensure(core: &ApiCore) -> ApiResult<()> {
    let to_value = |v: Result<Value, serde_json::Error>| {
        v.map_err(|e| fail(500, "InternalError", e.to_string()))
    };
    for r in cluster_roles() {
        // An aggregated role's rules belong to the aggregation controller.
        let fields: &[&str] = if r.aggregation_rule.is_some() {
            &["aggregationRule"]
        } else {
            &["rules"]
        };
        put(
            core,
            "clusterroles",
            to_value(serde_json::to_value(&r))?,
            fields,
        )
        .await?;
    }
    for b in cluster_role_bindings() {
        put(
            core,
            "clusterrolebindings",
            to_value(serde_json::to_value(&b))?,
            &["subjects"],
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::super::kinds::for_kind;
    use super::*;

    #[test]
    fn bootstrap_objects_are_valid() {
        let roles = for_kind("ClusterRole").expect("served");
        for r in cluster_roles() {
            let v = serde_json::to_value(&r).expect("json");
            if let Err(e) = roles.typed(v, None) {
                panic!("{}: {}", r.metadata.name, e.message);
            }
        }
        let bindings = for_kind("ClusterRoleBinding").expect("served");
        for b in cluster_role_bindings() {
            let v = serde_json::to_value(&b).expect("json");
            if let Err(e) = bindings.typed(v, None) {
                panic!("{}: {}", b.metadata.name, e.message);
            }
        }
    }

    #[test]
    fn every_binding_names_a_bootstrap_role() {
        let names: Vec<String> = cluster_roles()
            .into_iter()
            .map(|r| r.metadata.name)
            .collect();
        for b in cluster_role_bindings() {
            assert!(names.contains(&b.role_ref.name), "{}", b.metadata.name);
        }
    }
}
