//! The rule index: who holds which rules where, built from the watch cache's Roles,
//! ClusterRoles, RoleBindings and ClusterRoleBindings and rebuilt only when one of them
//! changed (the caches' generations), so a request costs a few map lookups and rule
//! matches, never a store read.
//!
//! A binding to a role that does not exist grants nothing (as in Kubernetes, a binding
//! may be created before its role). A ServiceAccount subject is the user
//! `system:serviceaccount:<namespace>:<name>`; a RoleBinding's service account without
//! a namespace is in the binding's namespace.

use std::collections::HashMap;
use std::sync::Arc;

use rudder_protocol::resources::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject, GROUP_KIND,
    SERVICE_ACCOUNT_KIND, USER_KIND,
};
use serde_json::Value;

use super::super::request::UserInfo;
use super::rules::{any_allows, Check};

/// Rules granted to users and groups in one scope.
#[derive(Debug, Default)]
struct Grants {
    users: HashMap<String, Vec<Arc<[PolicyRule]>>>,
    groups: HashMap<String, Vec<Arc<[PolicyRule]>>>,
}

impl Grants {
    fn add(&mut self, subject: &Subject, default_ns: &str, rules: &Arc<[PolicyRule]>) {
        let (map, key) = match subject.kind.as_str() {
            USER_KIND => (&mut self.users, subject.name.clone()),
            GROUP_KIND => (&mut self.groups, subject.name.clone()),
            SERVICE_ACCOUNT_KIND => {
                let ns = if subject.namespace.is_empty() {
                    default_ns
                } else {
                    &subject.namespace
                };
                (
                    &mut self.users,
                    format!("system:serviceaccount:{ns}:{}", subject.name),
                )
            }
            _ => return,
        };
        map.entry(key).or_default().push(rules.clone());
    }

    /// Every rule set `user` holds here.
    fn of<'a>(&'a self, user: &'a UserInfo) -> impl Iterator<Item = &'a Arc<[PolicyRule]>> {
        self.users.get(&user.name).into_iter().flatten().chain(
            user.groups
                .iter()
                .filter_map(|g| self.groups.get(g))
                .flatten(),
        )
    }
}

/// Who holds which rules, cluster-wide and per namespace.
#[derive(Debug, Default)]
pub struct RuleIndex {
    cluster: Grants,
    namespaced: HashMap<String, Grants>,
    /// ClusterRoles by name (the aggregation controller and escalation checks read them).
    cluster_roles: HashMap<String, Arc<[PolicyRule]>>,
    /// Roles by `(namespace, name)`.
    roles: HashMap<(String, String), Arc<[PolicyRule]>>,
}

fn typed<T: serde::de::DeserializeOwned>(objects: &[Arc<Value>]) -> Vec<T> {
    // An object the typed model cannot read grants nothing (validation let it in, so
    // this is a stored object of an older shape at worst).
    objects
        .iter()
        .filter_map(|o| T::deserialize(o.as_ref()).ok())
        .collect()
}

impl RuleIndex {
    /// The index of these objects (as the watch cache holds them).
    pub fn build(
        cluster_roles: &[Arc<Value>],
        roles: &[Arc<Value>],
        cluster_bindings: &[Arc<Value>],
        bindings: &[Arc<Value>],
    ) -> RuleIndex {
        let mut index = RuleIndex::default();
        for r in typed::<ClusterRole>(cluster_roles) {
            index
                .cluster_roles
                .insert(r.metadata.name, Arc::from(r.rules));
        }
        for r in typed::<Role>(roles) {
            index
                .roles
                .insert((r.metadata.namespace, r.metadata.name), Arc::from(r.rules));
        }
        for b in typed::<ClusterRoleBinding>(cluster_bindings) {
            if b.role_ref.kind != "ClusterRole" {
                continue;
            }
            if let Some(rules) = index.cluster_roles.get(&b.role_ref.name).cloned() {
                for s in &b.subjects {
                    index.cluster.add(s, "", &rules);
                }
            }
        }
        for b in typed::<RoleBinding>(bindings) {
            let ns = b.metadata.namespace.clone();
            let Some(rules) = index.role_rules(&ns, &b.role_ref) else {
                continue;
            };
            let grants = index.namespaced.entry(ns.clone()).or_default();
            for s in &b.subjects {
                grants.add(s, &ns, &rules);
            }
        }
        index
    }

    /// The rules `role` (of a binding in `namespace`) names, if it exists.
    pub fn role_rules(&self, namespace: &str, role: &RoleRef) -> Option<Arc<[PolicyRule]>> {
        match role.kind.as_str() {
            "ClusterRole" => self.cluster_roles.get(&role.name).cloned(),
            "Role" => self
                .roles
                .get(&(namespace.to_owned(), role.name.clone()))
                .cloned(),
            _ => None,
        }
    }

    /// Whether some rule `check.user` holds allows `check` (cluster-wide rules, then
    /// those of the request's namespace).
    pub fn allows(&self, check: &Check<'_>) -> bool {
        if self
            .cluster
            .of(check.user)
            .any(|rules| any_allows(rules, check))
        {
            return true;
        }
        check
            .namespace()
            .and_then(|ns| self.namespaced.get(ns))
            .is_some_and(|g| g.of(check.user).any(|rules| any_allows(rules, check)))
    }

    /// Every rule `user` holds in `namespace` (cluster-wide ones included); cluster-wide
    /// only when `namespace` is `None`.
    pub fn rules_for(&self, user: &UserInfo, namespace: Option<&str>) -> Vec<PolicyRule> {
        let mut out: Vec<PolicyRule> = self
            .cluster
            .of(user)
            .flat_map(|r| r.iter().cloned())
            .collect();
        if let Some(g) = namespace.and_then(|ns| self.namespaced.get(ns)) {
            out.extend(g.of(user).flat_map(|r| r.iter().cloned()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::rules::Target;
    use super::*;
    use serde_json::json;

    fn arcs(v: Vec<Value>) -> Vec<Arc<Value>> {
        v.into_iter().map(Arc::new).collect()
    }

    #[test]
    fn bindings_grant_their_roles_in_their_scope() {
        let roles = arcs(vec![json!({"metadata": {"name": "view"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]})]);
        let ns_roles = arcs(vec![
            json!({"metadata": {"name": "deleter", "namespace": "b"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]}]}),
        ]);
        let bindings = arcs(vec![
            json!({"metadata": {"name": "v", "namespace": "a"},
                "roleRef": {"kind": "ClusterRole", "name": "view", "apiGroup": "rbac.authorization.k8s.io"},
                "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa"}]}),
            json!({"metadata": {"name": "d", "namespace": "b"},
                "roleRef": {"kind": "Role", "name": "deleter", "apiGroup": "rbac.authorization.k8s.io"},
                "subjects": [{"kind": "Group", "name": "team"}]}),
            json!({"metadata": {"name": "missing", "namespace": "a"},
                "roleRef": {"kind": "Role", "name": "nope", "apiGroup": "rbac.authorization.k8s.io"},
                "subjects": [{"kind": "User", "name": "bob"}]}),
        ]);
        let index = RuleIndex::build(&roles, &ns_roles, &[], &bindings);
        let user = |name: &str, groups: &[&str]| UserInfo {
            name: name.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            ..UserInfo::default()
        };
        let alice = user("alice", &[]);
        let sa = user("system:serviceaccount:a:sa", &[]);
        let carol = user("carol", &["team"]);
        let bob = user("bob", &[]);
        let check = |u: &'static UserInfo, verb: &'static str, ns: &'static str| Check {
            user: u,
            verb,
            target: Target::Resource {
                group: "",
                resource: "pods",
                subresource: None,
                namespace: Some(ns),
                name: None,
            },
        };
        let leak = |u: UserInfo| -> &'static UserInfo { Box::leak(Box::new(u)) };
        let (alice, sa, carol, bob) = (leak(alice), leak(sa), leak(carol), leak(bob));
        let table = [
            ("alice lists in a", check(alice, "list", "a"), true),
            ("alice lists not in b", check(alice, "list", "b"), false),
            ("alice deletes nothing", check(alice, "delete", "a"), false),
            (
                "service account in the binding's namespace",
                check(sa, "list", "a"),
                true,
            ),
            ("group role in b", check(carol, "delete", "b"), true),
            ("group role not in a", check(carol, "delete", "a"), false),
            (
                "missing role grants nothing",
                check(bob, "list", "a"),
                false,
            ),
        ];
        for (name, c, want) in table {
            assert_eq!(index.allows(&c), want, "{name}");
        }
        assert_eq!(index.rules_for(alice, Some("a")).len(), 1);
        assert!(index.rules_for(alice, Some("b")).is_empty());
    }
}
