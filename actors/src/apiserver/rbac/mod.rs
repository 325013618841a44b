//! Authorization: whether a caller may do what it asks, decided at the one place every
//! request passes ([`super::core::ApiCore::handle`] for resources, the HTTP front for
//! non-resource paths such as `/version` and `/apis`), so both fronts are held to the
//! same rules.
//!
//! The decision, in Kubernetes' order (`--authorization-mode=Node,RBAC`):
//! 1. `system:masters` may do anything, without looking at any rule (the bootstrap admin
//!    must work before a single role exists). So may [`BUS_COMPONENTS_GROUP`]: the
//!    control-plane components (scheduler, controllers), which share a process with the
//!    store, and a node's components that have no user of their own yet (its shared
//!    informers, proxy, DNS, ingress). Each kubelet has its own: `system:node:<name>`
//!    (see [`super::actor`]).
//! 2. The node authorizer ([`node`]) decides for kubelets (`system:node:<name>` in
//!    `system:nodes`): its own Node and Lease, the pods bound to it, and only the
//!    Secrets, ConfigMaps and claims those pods use.
//! 3. RBAC ([`index`]): the rules bound to the user, its groups, cluster-wide or in the
//!    request's namespace. No rule: `403 Forbidden` with Kubernetes' message.
//!
//! `[apiserver] authorization = "AlwaysAllow"` turns all of this off. Escalation
//! prevention on Role and binding writes is in [`escalation`]; the access reviews that
//! `kubectl auth can-i` sends are in [`review`]; the roles every cluster starts with are
//! in [`bootstrap`].

pub mod bootstrap;
pub mod escalation;
pub mod impersonation;
pub mod index;
pub mod node;
pub mod review;
pub mod rules;

use std::sync::{Arc, RwLock};

use rudder_protocol::resources::{Status, StatusDetails};
use serde::{Deserialize, Serialize};

use super::cache::{WatchCache, READY_WAIT};
use super::core::{fail, ApiCore, ApiError, ApiResult};
use super::request::UserInfo;
use index::RuleIndex;
use rules::{Check, Target};

/// Which authorizer the API server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AuthorizationMode {
    /// The node authorizer, then RBAC (the default).
    #[default]
    #[serde(rename = "RBAC")]
    Rbac,
    /// Every authenticated request is allowed.
    AlwaysAllow,
}

/// The group whose members may do anything.
pub const MASTERS_GROUP: &str = "system:masters";

/// The group of bus callers that are a node's components without a user of their own,
/// and of the control-plane components (see the module doc). Granted everything, like
/// [`MASTERS_GROUP`].
pub const BUS_COMPONENTS_GROUP: &str = "system:rudder:components";

/// The group of every kubelet.
pub const NODES_GROUP: &str = "system:nodes";

/// The user name prefix of a kubelet.
pub const NODE_USER_PREFIX: &str = "system:node:";

/// The four caches the rule index is built from.
const RBAC_PREFIXES: [&str; 4] = [
    "/registry/clusterroles/",
    "/registry/roles/",
    "/registry/clusterrolebindings/",
    "/registry/rolebindings/",
];

/// The rule index and the cache generations it was built at.
struct Indexed {
    generations: [u64; 4],
    index: Arc<RuleIndex>,
}

/// The authorizer of one API server: its mode and its rule index.
pub struct Authorizer {
    mode: AuthorizationMode,
    indexed: RwLock<Option<Indexed>>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("mode", &self.mode)
            .finish()
    }
}

/// What one authorizer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Refused, with a reason.
    Deny(String),
    /// Not this authorizer's call: the next one decides.
    NoOpinion,
}

impl Authorizer {
    /// An authorizer in `mode`.
    pub fn new(mode: AuthorizationMode) -> Authorizer {
        Authorizer {
            mode,
            indexed: RwLock::new(None),
        }
    }

    /// The mode.
    pub fn mode(&self) -> AuthorizationMode {
        self.mode
    }

    /// The rule index as of the caches now, rebuilt if any of them changed since.
    /// Waits (a bounded time) for the caches' first list.
    pub async fn index(&self, cache: &WatchCache) -> ApiResult<Arc<RuleIndex>> {
        let caches = RBAC_PREFIXES.map(|p| cache.resource(p));
        for c in &caches {
            if !c.wait_for(0, READY_WAIT).await {
                return Err(fail(
                    503,
                    "ServiceUnavailable",
                    "the authorizer's rules are not loaded yet",
                ));
            }
        }
        let generations = [0, 1, 2, 3].map(|i| caches[i].generation());
        {
            let held = self.indexed.read().unwrap_or_else(|p| p.into_inner());
            if let Some(i) = held.as_ref().filter(|i| i.generations == generations) {
                return Ok(i.index.clone());
            }
        }
        let lists = caches.each_ref().map(|c| {
            c.objects()
                .unwrap_or_default()
                .into_iter()
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
        });
        let index = Arc::new(RuleIndex::build(&lists[0], &lists[1], &lists[2], &lists[3]));
        // Generations read before the lists: a change in between makes the next
        // request rebuild again, never keeps a stale index.
        *self.indexed.write().unwrap_or_else(|p| p.into_inner()) = Some(Indexed {
            generations,
            index: index.clone(),
        });
        Ok(index)
    }

    /// The decision on `check`: `Ok` when allowed, otherwise Kubernetes' 403.
    pub async fn authorize(&self, cache: &WatchCache, check: &Check<'_>) -> ApiResult<()> {
        match self.decide(cache, check).await? {
            Decision::Allow => Ok(()),
            Decision::Deny(reason) => Err(forbidden(check, &reason)),
            Decision::NoOpinion => Err(forbidden(check, "")),
        }
    }

    /// The decision on `check` (node authorizer, then RBAC).
    pub async fn decide(&self, cache: &WatchCache, check: &Check<'_>) -> ApiResult<Decision> {
        if self.mode == AuthorizationMode::AlwaysAllow || is_superuser(check.user) {
            return Ok(Decision::Allow);
        }
        match node::decide(cache, check).await {
            Decision::NoOpinion => {}
            d => return Ok(d),
        }
        Ok(if self.index(cache).await?.allows(check) {
            Decision::Allow
        } else {
            Decision::NoOpinion
        })
    }
}

/// Whether `user` is in a group that may do anything.
pub fn is_superuser(user: &UserInfo) -> bool {
    user.groups
        .iter()
        .any(|g| g == MASTERS_GROUP || g == BUS_COMPONENTS_GROUP)
}

/// Kubernetes' forbidden message for `check` (`forbiddenMessage`), with `reason`.
pub fn forbidden_message(check: &Check<'_>, reason: &str) -> String {
    let user = &check.user.name;
    let verb = check.verb;
    let msg = match check.target {
        Target::NonResource { path } => format!("User {user:?} cannot {verb} path {path:?}"),
        Target::Resource {
            group,
            resource,
            subresource,
            namespace,
            ..
        } => {
            let resource = match subresource {
                Some(s) => format!("{resource}/{s}"),
                None => resource.to_owned(),
            };
            match namespace.filter(|n| !n.is_empty()) {
                Some(ns) => format!(
                    "User {user:?} cannot {verb} resource {resource:?} in API group {group:?} in the namespace {ns:?}"
                ),
                None => format!(
                    "User {user:?} cannot {verb} resource {resource:?} in API group {group:?} at the cluster scope"
                ),
            }
        }
    };
    if reason.is_empty() {
        msg
    } else {
        format!("{msg}: {reason}")
    }
}

/// Kubernetes' 403 for `check` (`NewForbidden`): `pods is forbidden: ...`,
/// `deployments.apps "web" is forbidden: ...`, `forbidden: ...` for a path; details
/// name the group, resource and object.
pub fn forbidden(check: &Check<'_>, reason: &str) -> ApiError {
    let err = forbidden_message(check, reason);
    let (group, resource, name) = match check.target {
        Target::Resource {
            group,
            resource,
            name,
            ..
        } => (group, resource, name.unwrap_or_default()),
        Target::NonResource { .. } => ("", "", ""),
    };
    let qualified = if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    };
    let message = if qualified.is_empty() {
        format!("forbidden: {err}")
    } else if name.is_empty() {
        format!("{qualified} is forbidden: {err}")
    } else {
        format!("{qualified} {name:?} is forbidden: {err}")
    };
    let mut s = Status::failure(403, "Forbidden", message);
    s.details = Some(StatusDetails {
        name: name.to_owned(),
        group: group.to_owned(),
        kind: resource.to_owned(),
        ..StatusDetails::default()
    });
    Box::new(s)
}

impl ApiCore {
    /// `Ok` when `check` is allowed, Kubernetes' 403 otherwise.
    pub async fn authorize(&self, check: &Check<'_>) -> ApiResult<()> {
        let (authz, cache) = self.authorizer();
        authz.authorize(cache, check).await
    }

    /// The decision on `check`, for access reviews.
    pub async fn decide(&self, check: &Check<'_>) -> ApiResult<Decision> {
        let (authz, cache) = self.authorizer();
        authz.decide(cache, check).await
    }

    /// The RBAC rule index as of now.
    pub async fn rule_index(&self) -> ApiResult<Arc<RuleIndex>> {
        let (authz, cache) = self.authorizer();
        authz.index(cache).await
    }

    /// Refuses a role or binding `obj` that would grant `user` more than it holds.
    pub async fn check_escalation(
        &self,
        user: &UserInfo,
        info: &super::registry::ResourceInfo,
        namespace: Option<&str>,
        obj: &serde_json::Value,
    ) -> ApiResult<()> {
        let (authz, cache) = self.authorizer();
        authz
            .check_escalation(cache, user, info, namespace, obj)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_messages_are_kubernetes_messages() {
        let alice = UserInfo {
            name: "alice".into(),
            ..UserInfo::default()
        };
        let check = |verb, group, resource, sub, ns, name| Check {
            user: &alice,
            verb,
            target: Target::Resource {
                group,
                resource,
                subresource: sub,
                namespace: ns,
                name,
            },
        };
        let table = [
            (
                check("list", "", "pods", None, Some("b"), None),
                r#"pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "b""#,
            ),
            (
                check(
                    "get",
                    "apps",
                    "deployments",
                    Some("scale"),
                    Some("a"),
                    Some("web"),
                ),
                r#"deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments/scale" in API group "apps" in the namespace "a""#,
            ),
            (
                check("list", "", "nodes", None, None, None),
                r#"nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope"#,
            ),
        ];
        for (c, want) in table {
            let e = forbidden(&c, "");
            assert_eq!(e.message, want);
            assert_eq!(e.code, 403);
            assert_eq!(e.reason, "Forbidden");
        }
        let path = Check {
            user: &alice,
            verb: "get",
            target: Target::NonResource { path: "/version" },
        };
        assert_eq!(
            forbidden(&path, "").message,
            r#"forbidden: User "alice" cannot get path "/version""#
        );
    }
}
