//! The served resources, as generic controllers see them: Kubernetes' namespace deleter
//! and garbage collector loop over discovery; Rudder's loop over the API server's one
//! registry ([`crate::apiserver::registry::all_resources`]: the static table and the
//! resources CRDs define, as this node's API server has learned them), which is what
//! discovery serves. A kind added there is emptied from deleted namespaces and followed
//! along owner references without any change to those controllers.

use rudder_protocol::api::ApiResource;
use rudder_protocol::dynamic::split_api_version;

use crate::apiserver::registry::{all_resources, ResourceInfo};

fn supports(info: &ResourceInfo, verbs: &[&str]) -> bool {
    verbs.iter().all(|v| info.verbs.contains(v))
}

/// Every served resource supporting all of `verbs`, in registry order.
pub fn served_with(verbs: &[&str]) -> Vec<ApiResource> {
    all_resources()
        .into_iter()
        .filter(|r| supports(r, verbs))
        .map(ApiResource::from)
        .collect()
}

/// The namespaced resources a namespace's deletion empties: those that can be listed
/// and deleted (Kubernetes' "deletable" resources).
pub fn namespaced_deletable() -> Vec<ApiResource> {
    served_with(&["list", "delete"])
        .into_iter()
        .filter(|r| r.namespaced)
        .collect()
}

/// The resources the garbage collector follows: those it can list, watch, get, update
/// and delete, as Kubernetes' GC keeps to resources with those verbs.
pub fn collectable() -> Vec<ApiResource> {
    served_with(&["list", "watch", "get", "update", "delete"])
}

/// The served resource of objects with `api_version` and `kind`, if any.
pub fn resource_for(api_version: &str, kind: &str) -> Option<ApiResource> {
    all_resources()
        .into_iter()
        .find(|r| r.kind == kind && split_api_version(api_version).0 == r.group)
        .map(ApiResource::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::registry::RESOURCES;

    #[test]
    fn every_namespaced_registry_entry_is_emptied_and_every_entry_collected() {
        let namespaced: Vec<&str> = RESOURCES
            .iter()
            .filter(|r| r.namespaced)
            .map(|r| r.plural)
            .collect();
        let emptied: Vec<String> = namespaced_deletable()
            .into_iter()
            .map(|r| r.plural)
            .collect();
        assert_eq!(emptied, namespaced);
        assert_eq!(collectable().len(), all_resources().len());
    }

    #[test]
    fn finds_resources_by_api_version_and_kind() {
        let rs = resource_for("apps/v1", "ReplicaSet").expect("served");
        assert_eq!((rs.plural.as_str(), rs.namespaced), ("replicasets", true));
        let node = resource_for("v1", "Node").expect("served");
        assert!(!node.namespaced);
        assert_eq!(resource_for("v1", "ReplicaSet"), None);
        assert_eq!(resource_for("example.com/v1", "Widget"), None);
    }
}
