//! Escalation prevention, as Kubernetes' RBAC storage does it: nobody grants what they do
//! not hold.
//!
//! - Writing a Role or ClusterRole needs every permission in it (in the role's
//!   namespace, or cluster-wide for a ClusterRole), or the `escalate` verb on
//!   `roles`/`clusterroles`.
//! - Writing a binding needs every permission of the role it names (in the binding's
//!   namespace, or cluster-wide for a ClusterRoleBinding), or the `bind` verb on that
//!   role (by name).
//!
//! The check runs on the object as it will be written: the body of a create or an
//! update, the result of a patch (computed by a dry run first).

use rudder_protocol::resources::{PolicyRule, RoleRef, RBAC_GROUP};
use serde_json::Value;

use super::super::cache::WatchCache;
use super::super::core::{fail_for, ApiResult};
use super::super::registry::ResourceInfo;
use super::super::request::UserInfo;
use super::rules::{covers, Check, Target};
use super::{is_superuser, AuthorizationMode, Authorizer, Decision};

/// Whether writes of `info` are checked here.
pub fn guards(info: &ResourceInfo) -> bool {
    info.group == RBAC_GROUP
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn quoted(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

/// A rule as Kubernetes' `CompactString` prints it.
fn compact(rule: &PolicyRule) -> String {
    let mut parts = Vec::new();
    if !rule.api_groups.is_empty() {
        parts.push(format!("APIGroups:{}", quoted(&rule.api_groups)));
    }
    if !rule.resources.is_empty() {
        parts.push(format!("Resources:{}", quoted(&rule.resources)));
    }
    if !rule.non_resource_urls.is_empty() {
        parts.push(format!(
            "NonResourceURLs:{}",
            quoted(&rule.non_resource_urls)
        ));
    }
    if !rule.resource_names.is_empty() {
        parts.push(format!("ResourceNames:{}", quoted(&rule.resource_names)));
    }
    parts.push(format!("Verbs:{}", quoted(&rule.verbs)));
    format!("{{{}}}", parts.join(", "))
}

impl Authorizer {
    /// Whether `user` may write `obj` (a role or binding of `info`, in `namespace`)
    /// without granting what it does not hold. 403 otherwise.
    pub async fn check_escalation(
        &self,
        cache: &WatchCache,
        user: &UserInfo,
        info: &ResourceInfo,
        namespace: Option<&str>,
        obj: &Value,
    ) -> ApiResult<()> {
        if !guards(info) || self.mode == AuthorizationMode::AlwaysAllow || is_superuser(user) {
            return Ok(());
        }
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let ns = namespace.filter(|_| info.namespaced);
        let index = self.index(cache).await?;
        let is_role = matches!(info.plural, "roles" | "clusterroles");
        let field = |f: &str| obj.get(f).cloned().unwrap_or(Value::Null);
        let role: RoleRef = if is_role {
            RoleRef::default()
        } else {
            serde_json::from_value(field("roleRef")).unwrap_or_default()
        };
        let (wanted, verb, resource, target): (Vec<PolicyRule>, _, _, &str) = if is_role {
            let rules = serde_json::from_value(field("rules")).unwrap_or_default();
            (rules, "escalate", info.plural, name)
        } else {
            let rules = index
                .role_rules(ns.unwrap_or_default(), &role)
                .map(|r| r.to_vec())
                .unwrap_or_default();
            let resource = if role.kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            (rules, "bind", resource, role.name.as_str())
        };
        let special = Check {
            user,
            verb,
            target: Target::Resource {
                group: RBAC_GROUP,
                resource,
                subresource: None,
                namespace: ns,
                name: Some(target),
            },
        };
        if self.decide(cache, &special).await? == Decision::Allow {
            return Ok(());
        }
        let held = index.rules_for(user, ns);
        let missing: Vec<String> = wanted
            .iter()
            .filter(|r| !covers(&held, r))
            .map(compact)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(fail_for(
            403,
            "Forbidden",
            info,
            name,
            format!(
                "{}.{} {name:?} is forbidden: user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
                info.plural,
                info.group,
                user.name,
                quoted(&user.groups),
                missing.join("\n")
            ),
        ))
    }
}

impl super::super::core::ApiCore {
    /// The escalation check of a write to a role or binding: on the body of a create
    /// or update, on the result of a patch (a dry run of it). Other requests pass.
    pub(in super::super) async fn escalation_gate(
        &self,
        req: &super::super::request::Request,
    ) -> ApiResult<()> {
        use super::super::core::{Part, WriteOptions};
        use super::super::request::Operation;
        if !guards(req.resource) || is_superuser(&req.user) || req.subresource.is_some() {
            return Ok(());
        }
        let ns = req.namespace.as_deref();
        let obj = match &req.op {
            Operation::Create { body, .. } | Operation::Update { body, .. } => body.clone(),
            Operation::Patch {
                content_type,
                patch,
                opts,
            } => {
                let Some(name) = req.name.as_deref() else {
                    return Ok(());
                };
                let dry = WriteOptions {
                    dry_run: true,
                    ..opts.clone()
                };
                self.patch(req.resource, ns, name, content_type, patch, Part::Main, dry)
                    .await?
                    .object
            }
            _ => return Ok(()),
        };
        self.check_escalation(&req.user, req.resource, ns, &obj)
            .await
    }
}
