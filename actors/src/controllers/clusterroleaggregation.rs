//! The ClusterRole aggregation controller: a ClusterRole with an `aggregationRule` has
//! as its `rules` the union of the rules of every other ClusterRole that one of its
//! `clusterRoleSelectors` matches, in name order, without duplicates (Kubernetes'
//! clusterrole-aggregation controller). This is how `admin`, `edit` and `view` take in
//! the `system:aggregate-to-*` roles, and any role a user labels
//! `rbac.authorization.k8s.io/aggregate-to-view: "true"`.
//!
//! What it owns: the `rules` of aggregated roles, nothing else. Every ClusterRole change
//! queues one key, and the pass re-plans every aggregated role from the cache (a
//! cluster has few), so a label added to any role is seen without an index of selectors.

use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::resources::{ClusterRole, PolicyRule};
use tracing::info;

use super::support::{Controller, Wiring};
use crate::informer::{ApiHandle, Cache, ObjectKey};
use crate::supervisor::ComponentSpec;

/// The component's name.
pub const NAME: &str = "controller/clusterrole-aggregation";

/// The one key every change queues: a pass over all aggregated roles.
const PASS: &str = "aggregated-clusterroles";

/// The rules `role` should have, if it is aggregated: those of the roles in `all` its
/// selectors match (itself excluded), in name order, each rule once.
pub fn plan(role: &ClusterRole, all: &[Arc<ClusterRole>]) -> Option<Vec<PolicyRule>> {
    let agg = role.aggregation_rule.as_ref()?;
    let mut sources: Vec<&Arc<ClusterRole>> = all
        .iter()
        .filter(|r| r.metadata.name != role.metadata.name)
        .filter(|r| {
            agg.cluster_role_selectors
                .iter()
                .any(|s| s.matches(&r.metadata.labels))
        })
        .collect();
    sources.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut rules: Vec<PolicyRule> = Vec::new();
    for r in sources {
        for rule in &r.rules {
            if !rules.contains(rule) {
                rules.push(rule.clone());
            }
        }
    }
    Some(rules)
}

/// The supervised component.
pub fn component() -> ComponentSpec {
    Controller::<ClusterRole>::new(NAME)
        .component(wire, |ctx: Arc<Ctx>, _key: ObjectKey| async move {
            reconcile(&ctx).await
        })
}

struct Ctx {
    api: ApiHandle,
    roles: Cache<ClusterRole>,
}

fn wire(w: &mut Wiring<ClusterRole>) -> Ctx {
    let roles = w.primary_with(|_, q| q.add(ObjectKey::cluster(PASS)));
    Ctx {
        api: w.api().clone(),
        roles,
    }
}

async fn reconcile(ctx: &Ctx) -> Result<Option<Duration>, ApiError> {
    let all = ctx.roles.list();
    for role in &all {
        let Some(rules) = plan(role, &all) else {
            continue;
        };
        if rules == role.rules {
            continue;
        }
        let mut updated = (**role).clone();
        updated.rules = rules;
        match ctx.api.api::<ClusterRole>(None).update(&updated).await {
            Ok(_) => {
                info!(clusterrole = %role.metadata.name, rules = updated.rules.len(), "aggregated rules")
            }
            // The cache lags a concurrent write: the next change queues another pass.
            Err(e) if e.code() == Some(409) || e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::resources::{AggregationRule, LabelSelector};

    fn labelled(name: &str, label: Option<&str>, verb: &str) -> Arc<ClusterRole> {
        let mut r = ClusterRole::new(name);
        if let Some(l) = label {
            r.metadata.labels.insert(l.into(), "true".into());
        }
        r.rules = vec![PolicyRule {
            verbs: vec![verb.into()],
            api_groups: vec!["".into()],
            resources: vec!["pods".into()],
            ..PolicyRule::default()
        }];
        Arc::new(r)
    }

    #[test]
    fn plan_table() {
        let mut view = ClusterRole::new("view");
        let mut sel = LabelSelector::default();
        sel.match_labels.insert("agg-view".into(), "true".into());
        view.aggregation_rule = Some(AggregationRule {
            cluster_role_selectors: vec![sel],
        });
        let all = vec![
            labelled("b-get", Some("agg-view"), "get"),
            labelled("a-list", Some("agg-view"), "list"),
            labelled("dup-get", Some("agg-view"), "get"),
            labelled("other", Some("agg-edit"), "delete"),
            labelled("plain", None, "watch"),
        ];
        let rules = plan(&view, &all).expect("aggregated");
        let verbs: Vec<&str> = rules.iter().map(|r| r.verbs[0].as_str()).collect();
        assert_eq!(
            verbs,
            vec!["list", "get"],
            "name order, each rule once, only matches"
        );
        assert!(
            plan(&ClusterRole::new("plain"), &all).is_none(),
            "not aggregated"
        );
    }
}
