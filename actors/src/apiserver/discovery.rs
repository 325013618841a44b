//! Discovery documents, shaped exactly as kube-apiserver serves them, built from
//! [`super::registry`].
//!
//! - `/version`: [`version`] (`version.Info`).
//! - `/api`: [`api_versions`] (`APIVersions`); `/apis`: [`api_group_list`]
//!   (`APIGroupList`); `/apis/<group>`: [`api_group`] (`APIGroup`).
//! - `/api/v1`, `/apis/<group>/<version>`: [`api_resource_list`] (`APIResourceList`, one
//!   entry per resource and one per subresource, `pods/status`, ...).
//! - Aggregated discovery, which kubectl 1.30+ asks `/api` and `/apis` for with
//!   `Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`:
//!   [`aggregated_discovery`] (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`). The
//!   HTTP layer must answer such a request with that same media type in `Content-Type`
//!   ([`AGGREGATED_DISCOVERY_CONTENT_TYPE`]), or client-go reads the body as the legacy
//!   document.
//!
//! `storageVersionHash` is left out: it is optional and only used by storage migrators.

use serde_json::{json, Value};

use super::registry::{self, group_version, ResourceInfo};

/// The Kubernetes release Rudder's API follows (major, minor, patch).
pub const KUBERNETES_VERSION: (u32, u32, u32) = (1, 37, 0);

/// The `Content-Type` of an aggregated discovery response.
pub const AGGREGATED_DISCOVERY_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `v1.37.0-rudder`: the `gitVersion` reported by `/version`.
pub fn git_version() -> String {
    let (major, minor, patch) = KUBERNETES_VERSION;
    format!("v{major}.{minor}.{patch}-rudder")
}

/// This machine's architecture under Go's name (`amd64`, `arm64`), as Kubernetes writes
/// it in `/version` and in the nodes' `kubernetes.io/arch` label.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// `linux/amd64`, with Go's architecture names.
fn platform() -> String {
    format!("{}/{}", std::env::consts::OS, go_arch())
}

/// The `/version` document. `git_commit` and `build_date` (RFC 3339) describe the
/// running binary; pass empty strings when unknown.
pub fn version(git_commit: &str, build_date: &str) -> Value {
    let (major, minor, _) = KUBERNETES_VERSION;
    json!({
        "major": major.to_string(),
        "minor": minor.to_string(),
        "gitVersion": git_version(),
        "gitCommit": git_commit,
        "gitTreeState": "clean",
        "buildDate": build_date,
        "goVersion": "rustc",
        "compiler": "rustc",
        "platform": platform(),
    })
}

/// The `/api` document (`APIVersions`). `server_address` is the `host:port` clients
/// reach the API server at.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    })
}

/// Every served group-version: the stored kinds', then the computed ones' (the resource
/// metrics API), which discovery lists like any other.
fn group_versions() -> impl Iterator<Item = (&'static str, &'static str)> {
    let computed = rudder_protocol::registry::COMPUTED_RESOURCES
        .iter()
        .map(|r| (r.group, r.version))
        .filter(|gv| !registry::GROUP_VERSIONS.contains(gv));
    let mut seen: Vec<(&'static str, &'static str)> = Vec::new();
    registry::group_versions()
        .into_iter()
        .chain(computed)
        .filter(move |gv| {
            let new = !seen.contains(gv);
            seen.push(*gv);
            new
        })
}

/// The named groups (everything but core), in the order discovery lists them.
fn named_groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for (group, _) in group_versions() {
        if !group.is_empty() && !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups
}

/// The versions served for `group`, preferred first.
fn versions_of(group: &str) -> Vec<&'static str> {
    group_versions()
        .filter(|(g, _)| *g == group)
        .map(|(_, v)| v)
        .collect()
}

fn group_document(group: &str) -> Value {
    let versions: Vec<Value> = versions_of(group)
        .into_iter()
        .map(|v| json!({"groupVersion": group_version(group, v), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// The `/apis/<group>` document (`APIGroup`), or `None` for a group not served.
pub fn api_group(group: &str) -> Option<Value> {
    if group.is_empty() || versions_of(group).is_empty() {
        return None;
    }
    let mut doc = group_document(group);
    if let Value::Object(map) = &mut doc {
        map.insert("kind".into(), json!("APIGroup"));
        map.insert("apiVersion".into(), json!("v1"));
    }
    Some(doc)
}

/// The `/apis` document (`APIGroupList`).
pub fn api_group_list() -> Value {
    let groups: Vec<Value> = named_groups().into_iter().map(group_document).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// The resources of a group-version, sorted by name as Kubernetes lists them.
fn sorted_resources(group: &str, version: &str) -> Vec<&'static ResourceInfo> {
    let computed = rudder_protocol::registry::COMPUTED_RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version);
    let mut resources: Vec<&'static ResourceInfo> =
        super::crd::registry::resources_in(group, version)
            .into_iter()
            .chain(computed)
            .collect();
    resources.sort_by_key(|r| r.plural);
    resources
}

/// The `/api/v1` or `/apis/<group>/<version>` document (`APIResourceList`), or `None` for
/// a group-version not served.
pub fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let resources = sorted_resources(group, version);
    if resources.is_empty() {
        return None;
    }
    let mut entries = Vec::new();
    for r in resources {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        entries.push(entry);
        let mut subs: Vec<_> = r.subresources.iter().collect();
        subs.sort_by_key(|s| s.name);
        for s in subs {
            let mut entry = json!({
                "name": format!("{}/{}", r.plural, s.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            });
            // Kubernetes names the group and version only where they differ from the
            // parent's (e.g. `deployments/scale` is `autoscaling/v1 Scale`).
            if s.group != r.group || s.version != r.version {
                entry["group"] = json!(s.group);
                entry["version"] = json!(s.version);
            }
            entries.push(entry);
        }
    }
    let mut doc = json!({
        "kind": "APIResourceList",
        "groupVersion": group_version(group, version),
        "resources": entries,
    });
    // The legacy core list carries no apiVersion; group lists do.
    if !group.is_empty() {
        doc["apiVersion"] = json!("v1");
    }
    Some(doc)
}

fn resource_discovery(r: &ResourceInfo) -> Value {
    let mut entry = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        entry["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        entry["categories"] = json!(r.categories);
    }
    if !r.subresources.is_empty() {
        let mut subs: Vec<_> = r.subresources.iter().collect();
        subs.sort_by_key(|s| s.name);
        let subs: Vec<Value> = subs
            .into_iter()
            .map(|s| {
                json!({
                    "subresource": s.name,
                    "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                    "verbs": s.verbs,
                })
            })
            .collect();
        entry["subresources"] = json!(subs);
    }
    entry
}

fn group_discovery(group: &str) -> Value {
    let versions: Vec<Value> = versions_of(group)
        .into_iter()
        .map(|v| {
            let resources: Vec<Value> = sorted_resources(group, v)
                .into_iter()
                .map(resource_discovery)
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let metadata = if group.is_empty() {
        json!({})
    } else {
        json!({"name": group})
    };
    json!({"metadata": metadata, "versions": versions})
}

/// The aggregated discovery document (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`):
/// for `/api` when `legacy` is true (the core group only), for `/apis` otherwise (every
/// named group).
pub fn aggregated_discovery(legacy: bool) -> Value {
    let items: Vec<Value> = if legacy {
        vec![group_discovery("")]
    } else {
        named_groups().into_iter().map(group_discovery).collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

/// Whether `resource` (a plural, or `plural/subresource`) of `(group, version)` supports
/// `verb`: the check behind 405 Method Not Allowed.
pub fn supports(group: &str, version: &str, resource: &str, verb: &str) -> bool {
    let (plural, sub) = match resource.split_once('/') {
        Some((p, s)) => (p, Some(s)),
        None => (resource, None),
    };
    registry::all_resources()
        .into_iter()
        .chain(rudder_protocol::registry::OTHER_VERSIONS)
        .filter(|r| r.group == group && r.version == version && r.plural == plural)
        .any(|r| match sub {
            None => r.verbs.contains(&verb),
            Some(s) => r.subresource(s).is_some_and(|s| s.verbs.contains(&verb)),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn find<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
        list.as_array()
            .unwrap()
            .iter()
            .find(|e| e[key] == name)
            .unwrap_or_else(|| panic!("no {key}={name} in {list}"))
    }

    #[test]
    fn version_document() {
        let v = version("abc123", "2024-05-01T12:00:00Z");
        let table = [
            ("gitVersion", json!("v1.37.0-rudder")),
            ("major", json!("1")),
            ("minor", json!("37")),
            ("gitCommit", json!("abc123")),
            ("buildDate", json!("2024-05-01T12:00:00Z")),
        ];
        for (key, want) in table {
            assert_eq!(v[key], want, "{key}");
        }
        assert!(v["platform"].as_str().unwrap().starts_with("linux/"));
    }

    #[test]
    fn legacy_documents() {
        let api = api_versions("127.0.0.1:6443");
        assert_eq!(api["kind"], "APIVersions");
        assert_eq!(api["versions"], json!(["v1"]));
        assert_eq!(
            api["serverAddressByClientCIDRs"][0]["serverAddress"],
            "127.0.0.1:6443"
        );

        let apis = api_group_list();
        assert_eq!(apis["kind"], "APIGroupList");
        let apps = find(&apis["groups"], "name", "apps");
        assert_eq!(
            apps["preferredVersion"],
            json!({"groupVersion": "apps/v1", "version": "v1"})
        );
        find(&apis["groups"], "name", "coordination.k8s.io");
        find(&apis["groups"], "name", "scheduling.k8s.io");
        let batch = find(&apis["groups"], "name", "batch");
        assert_eq!(
            batch["preferredVersion"],
            json!({"groupVersion": "batch/v1", "version": "v1"})
        );
        find(&apis["groups"], "name", "storage.k8s.io");
        find(&apis["groups"], "name", "policy");
        find(&apis["groups"], "name", "metrics.k8s.io");
        find(&apis["groups"], "name", "networking.k8s.io");
        find(&apis["groups"], "name", "rbac.authorization.k8s.io");
        find(&apis["groups"], "name", "apiextensions.k8s.io");
        find(&apis["groups"], "name", "certificates.k8s.io");
        assert_eq!(apis["groups"].as_array().unwrap().len(), 13);

        let group = api_group("apps").unwrap();
        assert_eq!(group["kind"], "APIGroup");
        assert!(api_group("batch").is_some());
        assert!(api_group("policy").is_some());
        assert!(api_group("example.com").is_none());
        assert!(api_group("").is_none());
    }

    #[test]
    fn resource_lists() {
        let core = api_resource_list("", "v1").unwrap();
        assert_eq!(core["kind"], "APIResourceList");
        assert_eq!(core["groupVersion"], "v1");
        assert!(core.get("apiVersion").is_none());
        let resources = &core["resources"];
        let table = [
            ("pods", "singularName", json!("pod")),
            ("pods", "namespaced", json!(true)),
            ("pods", "shortNames", json!(["po"])),
            ("pods", "categories", json!(["all"])),
            ("pods", "verbs", json!(registry::ALL_VERBS)),
            ("namespaces", "namespaced", json!(false)),
            ("namespaces", "shortNames", json!(["ns"])),
            ("nodes", "shortNames", json!(["no"])),
            ("services", "shortNames", json!(["svc"])),
            ("endpoints", "shortNames", json!(["ep"])),
            ("serviceaccounts", "shortNames", json!(["sa"])),
            ("events", "shortNames", json!(["ev"])),
            ("replicationcontrollers", "shortNames", json!(["rc"])),
            ("pods/status", "kind", json!("Pod")),
            ("pods/status", "singularName", json!("")),
            ("pods/status", "verbs", json!(["get", "patch", "update"])),
            ("pods/binding", "kind", json!("Binding")),
            ("pods/binding", "verbs", json!(["create"])),
            // kubectl drain evicts through the group and version named here.
            ("pods/eviction", "group", json!("policy")),
            ("pods/eviction", "version", json!("v1")),
            ("pods/eviction", "kind", json!("Eviction")),
            ("pods/eviction", "verbs", json!(["create"])),
            ("pods/log", "verbs", json!(["get"])),
            ("namespaces/finalize", "verbs", json!(["update"])),
            ("nodes/status", "kind", json!("Node")),
            (
                "replicationcontrollers/scale",
                "group",
                json!("autoscaling"),
            ),
            ("replicationcontrollers/scale", "kind", json!("Scale")),
        ];
        for (name, key, want) in table {
            assert_eq!(find(resources, "name", name)[key], want, "{name}.{key}");
        }
        assert!(find(resources, "name", "pods/status")
            .get("group")
            .is_none());
        let names: Vec<&str> = resources
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);

        let apps = api_resource_list("apps", "v1").unwrap();
        assert_eq!(apps["apiVersion"], "v1");
        assert_eq!(apps["groupVersion"], "apps/v1");
        let scale = find(&apps["resources"], "name", "deployments/scale");
        assert_eq!(
            (&scale["group"], &scale["version"], &scale["kind"]),
            (&json!("autoscaling"), &json!("v1"), &json!("Scale"))
        );
        assert_eq!(
            find(&apps["resources"], "name", "deployments")["shortNames"],
            json!(["deploy"])
        );
        assert_eq!(
            find(&apps["resources"], "name", "replicasets")["shortNames"],
            json!(["rs"])
        );
        let leases = api_resource_list("coordination.k8s.io", "v1").unwrap();
        let lease = find(&leases["resources"], "name", "leases");
        assert!(lease.get("shortNames").is_none());
        assert!(api_resource_list("batch", "v1").is_some());
        assert!(api_resource_list("policy", "v1").is_some());
        assert!(api_resource_list("example.com", "v1").is_none());
    }

    #[test]
    fn aggregated_documents() {
        let api = aggregated_discovery(true);
        assert_eq!(api["kind"], "APIGroupDiscoveryList");
        assert_eq!(api["apiVersion"], "apidiscovery.k8s.io/v2");
        let items = api["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert!(items[0]["metadata"].get("name").is_none());
        let v1 = &items[0]["versions"][0];
        assert_eq!(v1["version"], "v1");
        assert_eq!(v1["freshness"], "Current");
        let pods = find(&v1["resources"], "resource", "pods");
        assert_eq!(
            pods["responseKind"],
            json!({"group": "", "version": "v1", "kind": "Pod"})
        );
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["singularResource"], "pod");
        let status = find(&pods["subresources"], "subresource", "status");
        assert_eq!(status["verbs"], json!(["get", "patch", "update"]));
        let ns = find(&v1["resources"], "resource", "namespaces");
        assert_eq!(ns["scope"], "Cluster");

        let apis = aggregated_discovery(false);
        let groups: Vec<&str> = apis["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            groups,
            vec![
                "apps",
                "batch",
                "coordination.k8s.io",
                "scheduling.k8s.io",
                "storage.k8s.io",
                "policy",
                "networking.k8s.io",
                "autoscaling",
                "apiregistration.k8s.io",
                "rbac.authorization.k8s.io",
                "certificates.k8s.io",
                "apiextensions.k8s.io",
                "metrics.k8s.io"
            ]
        );
        let deploy = find(
            &apis["items"][0]["versions"][0]["resources"],
            "resource",
            "deployments",
        );
        assert_eq!(deploy["shortNames"], json!(["deploy"]));
        assert_eq!(deploy["categories"], json!(["all"]));
        let scale = find(&deploy["subresources"], "subresource", "scale");
        assert_eq!(
            scale["responseKind"],
            json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
        );
    }

    #[test]
    fn verb_support() {
        let table = [
            ("pods list", "", "pods", "list", true),
            ("pods/status patch", "", "pods/status", "patch", true),
            ("pods/status delete", "", "pods/status", "delete", false),
            (
                "ns deletecollection",
                "",
                "namespaces",
                "deletecollection",
                false,
            ),
            ("pods/exec", "", "pods/exec", "create", true),
            ("apps pods", "apps", "pods", "get", false),
        ];
        for (name, group, resource, verb, want) in table {
            assert_eq!(supports(group, "v1", resource, verb), want, "{name}");
        }
    }
}
