//! The namespace controller: empties a namespace that is being deleted, then lets the
//! API server remove it, as Kubernetes' namespace controller does.
//!
//! The API server does the first step itself: deleting a namespace that still has
//! content sets its `deletionTimestamp` and phase `Terminating`, and from then on it
//! refuses new objects in it (403 Forbidden). This controller then, for every namespace
//! with a `deletionTimestamp` and the `kubernetes` finalizer in `spec.finalizers`:
//! deletes every namespaced object in it (background propagation, so the garbage
//! collector takes care of dependents), keeps the status conditions Kubernetes keeps
//! (`NamespaceContentRemaining`, `NamespaceFinalizersRemaining`, ...) up to date, and once
//! nothing is left removes the `kubernetes` finalizer; the API server deletes a
//! terminating namespace whose finalizers are all gone.
//!
//! "Every namespaced object" means every kind the API server's registry serves as
//! namespaced, listable and deletable ([`discovery::namespaced_deletable`]), read through
//! the dynamic API (`Api<DynamicObject>`), as Kubernetes' deleter loops over discovery
//! with the metadata client: there is no per-kind table here, and a new kind is emptied
//! from deleted namespaces as soon as it is registered.
//!
//! What it does not own: objects' own finalizers (their controllers remove them) and
//! other parties' namespace finalizers. [`plan`] decides from the namespace and a live
//! listing of its content; the apply step lists, deletes and writes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::{ApiError, ApiResource};
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::{
    ConditionStatus, Namespace, NamespaceCondition, NamespacePhase, NamespaceStatus, Time,
};
use serde_json::json;
use tracing::info;

use super::support::{discovery, Controller, Wiring};
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, WorkQueue};
use crate::supervisor::ComponentSpec;

/// The component's name.
pub const NAME: &str = "controller/namespace";

/// The finalizer this controller owns in `spec.finalizers`.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";
/// How soon to look again while content remains.
pub const CONTENT_RECHECK: Duration = Duration::from_secs(2);

/// One object found in the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentItem {
    /// API group of its resource ("" for core).
    pub group: String,
    /// Plural resource name.
    pub plural: String,
    /// Object name.
    pub name: String,
    /// Its `metadata.finalizers`.
    pub finalizers: Vec<String>,
    /// Whether it already has a `deletionTimestamp`.
    pub deleting: bool,
}

/// What to do about one namespace.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NamespacePlan {
    /// The status to write (only when it differs from the current one).
    pub status: Option<NamespaceStatus>,
    /// Objects to delete: indexes into the content given to [`plan`].
    pub delete: Vec<usize>,
    /// Remove the `kubernetes` finalizer: the namespace is empty.
    pub finalize: bool,
    /// Look again after this long.
    pub requeue: Option<Duration>,
}

/// Decides the next step of a namespace's deletion from `content`, the objects still in
/// it. A namespace that is not being deleted needs nothing.
pub fn plan(ns: &Namespace, content: &[ContentItem], now: Time) -> NamespacePlan {
    let mut out = NamespacePlan::default();
    if ns.metadata.deletion_timestamp.is_none() {
        return out;
    }
    let ours = ns.spec.finalizers.iter().any(|f| f == KUBERNETES_FINALIZER);
    let status = desired_status(ns, content, now);
    if status != ns.status {
        out.status = Some(status);
    }
    if !ours {
        return out;
    }
    out.delete = content
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.deleting)
        .map(|(i, _)| i)
        .collect();
    if content.is_empty() {
        out.finalize = true;
    } else {
        out.requeue = Some(CONTENT_RECHECK);
    }
    out
}

fn resource_name(c: &ContentItem) -> String {
    format!("{}.{}", c.plural, c.group)
}

/// The status of a terminating namespace, conditions as Kubernetes words them.
fn desired_status(ns: &Namespace, content: &[ContentItem], now: Time) -> NamespaceStatus {
    let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
    let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
    for c in content {
        *remaining.entry(resource_name(c)).or_default() += 1;
        for f in &c.finalizers {
            *finalizers.entry(f.clone()).or_default() += 1;
        }
    }
    let content_cond = if remaining.is_empty() {
        (
            ConditionStatus::False,
            "ContentDeleted",
            "All content successfully removed".to_owned(),
        )
    } else {
        let list: Vec<String> = remaining
            .iter()
            .map(|(r, n)| format!("{r} has {n} resource instances"))
            .collect();
        (
            ConditionStatus::True,
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", list.join(", ")),
        )
    };
    let finalizer_cond = if finalizers.is_empty() {
        (
            ConditionStatus::False,
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished".to_owned(),
        )
    } else {
        let list: Vec<String> = finalizers
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        (
            ConditionStatus::True,
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                list.join(", ")
            ),
        )
    };
    let wanted = [
        (
            "NamespaceDeletionDiscoveryFailure",
            (
                ConditionStatus::False,
                "ResourcesDiscovered",
                "All resources successfully discovered".to_owned(),
            ),
        ),
        (
            "NamespaceDeletionGroupVersionParsingFailure",
            (
                ConditionStatus::False,
                "ParsedGroupVersions",
                "All legacy kube types successfully parsed".to_owned(),
            ),
        ),
        (
            "NamespaceDeletionContentFailure",
            (
                ConditionStatus::False,
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization".to_owned(),
            ),
        ),
        ("NamespaceContentRemaining", content_cond),
        ("NamespaceFinalizersRemaining", finalizer_cond),
    ];
    let conditions = wanted
        .into_iter()
        .map(|(ty, (status, reason, message))| {
            let old = ns.status.conditions.iter().find(|c| c.type_ == ty);
            let transition = match old {
                Some(o) if o.status == status => o.last_transition_time.or(Some(now)),
                _ => Some(now),
            };
            NamespaceCondition {
                type_: ty.to_owned(),
                status,
                last_transition_time: transition,
                reason: reason.to_owned(),
                message,
            }
        })
        .collect();
    NamespaceStatus {
        phase: Some(NamespacePhase::Terminating),
        conditions,
    }
}

/// The namespace without the `kubernetes` finalizer (what the finalize step writes).
pub fn finalized(ns: &Namespace) -> Namespace {
    let mut out = ns.clone();
    out.spec.finalizers.retain(|f| f != KUBERNETES_FINALIZER);
    out
}

/// The supervised component: Namespaces with a `deletionTimestamp`, by name.
pub fn component() -> ComponentSpec {
    Controller::<Namespace>::new(NAME)
        .workers(2)
        .component(wire, |ctx: Arc<Ctx>, key: ObjectKey| async move {
            reconcile(&ctx.api, &ctx.namespaces, key).await
        })
}

struct Ctx {
    api: ApiHandle,
    namespaces: Cache<Namespace>,
}

fn wire(w: &mut Wiring<Namespace>) -> Ctx {
    let namespaces = w.primary_with(|c: &Change<Namespace>, q: &WorkQueue<ObjectKey>| {
        if c.object().metadata.deletion_timestamp.is_some() {
            q.add(c.key());
        }
    });
    Ctx {
        api: w.api().clone(),
        namespaces,
    }
}

/// Lists what is left in `ns`, live (the cache of every kind is not needed), over every
/// namespaced resource the API serves; each item comes with its resource.
async fn list_content(
    api: &ApiHandle,
    ns: &str,
) -> Result<(Vec<ApiResource>, Vec<ContentItem>), ApiError> {
    let mut resources = Vec::new();
    let mut content = Vec::new();
    for r in discovery::namespaced_deletable() {
        let list = api
            .dynamic(&r, Some(ns))
            .list(&ListParams::default())
            .await?;
        for o in list.items {
            content.push(ContentItem {
                group: r.group.clone(),
                plural: r.plural.clone(),
                name: o.metadata.name.clone(),
                finalizers: o.metadata.finalizers.clone(),
                deleting: o.is_deleting(),
            });
            resources.push(r.clone());
        }
    }
    Ok((resources, content))
}

/// Deletes one object in `ns` (background propagation: the garbage collector takes care
/// of its dependents).
async fn delete_item(
    api: &ApiHandle,
    resource: &ApiResource,
    ns: &str,
    item: &ContentItem,
) -> Result<(), ApiError> {
    match api
        .dynamic(resource, Some(ns))
        .delete_with(&item.name, &json!({"propagationPolicy": "Background"}))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

async fn reconcile(
    api: &ApiHandle,
    namespaces: &Cache<Namespace>,
    key: ObjectKey,
) -> Result<Option<Duration>, ApiError> {
    let Some(ns) = namespaces.get(&key) else {
        return Ok(None);
    };
    if ns.metadata.deletion_timestamp.is_none() {
        return Ok(None);
    }
    let name = ns.metadata.name.clone();
    let (resources, content) = list_content(api, &name).await?;
    let p = plan(&ns, &content, Time::now());
    let nsapi = api.api::<Namespace>(None);
    let mut latest = (*ns).clone();
    if let Some(status) = p.status {
        latest.status = status;
        latest = nsapi.update_status(&latest).await?;
    }
    for i in &p.delete {
        if let (Some(item), Some(resource)) = (content.get(*i), resources.get(*i)) {
            delete_item(api, resource, &name, item).await?;
        }
    }
    if p.finalize {
        info!(namespace = %name, "namespace empty; removing the kubernetes finalizer");
        match nsapi.update(&finalized(&latest)).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(p.requeue)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(deleting: bool, finalizers: &[&str]) -> Namespace {
        let mut n = Namespace::new("team");
        n.spec.finalizers = finalizers.iter().map(|f| (*f).to_owned()).collect();
        n.status.phase = Some(NamespacePhase::Active);
        if deleting {
            n.metadata.deletion_timestamp = Some(Time::from_unix(100));
        }
        n
    }

    fn item(plural: &'static str, name: &str, deleting: bool, finalizers: &[&str]) -> ContentItem {
        ContentItem {
            group: if plural == "deployments" { "apps" } else { "" }.into(),
            plural: plural.into(),
            name: name.into(),
            finalizers: finalizers.iter().map(|f| (*f).to_owned()).collect(),
            deleting,
        }
    }

    #[test]
    fn deletion_steps() {
        // (name, namespace, content, want delete, want finalize, want status written, want requeue)
        type Case = (
            &'static str,
            Namespace,
            Vec<ContentItem>,
            Vec<usize>,
            bool,
            bool,
            bool,
        );
        let cases: Vec<Case> = vec![
            (
                "active namespace: nothing",
                ns(false, &["kubernetes"]),
                vec![item("pods", "p", false, &[])],
                vec![],
                false,
                false,
                false,
            ),
            (
                "terminating with content: delete all, wait",
                ns(true, &["kubernetes"]),
                vec![
                    item("pods", "p", false, &[]),
                    item("deployments", "d", false, &[]),
                ],
                vec![0, 1],
                false,
                true,
                true,
            ),
            (
                "objects already being deleted are not deleted again",
                ns(true, &["kubernetes"]),
                vec![
                    item("pods", "p", true, &[]),
                    item("services", "s", false, &[]),
                ],
                vec![1],
                false,
                true,
                true,
            ),
            (
                "empty: finalize",
                ns(true, &["kubernetes"]),
                vec![],
                vec![],
                true,
                true,
                false,
            ),
            (
                "someone else's finalizer only: status but hands off",
                ns(true, &["example.com/x"]),
                vec![item("pods", "p", false, &[])],
                vec![],
                false,
                true,
                false,
            ),
        ];
        for (name, n, content, delete, finalize, status, requeue) in cases {
            let p = plan(&n, &content, Time::from_unix(200));
            assert_eq!(p.delete, delete, "case {name}: delete");
            assert_eq!(p.finalize, finalize, "case {name}: finalize");
            assert_eq!(p.status.is_some(), status, "case {name}: status");
            assert_eq!(p.requeue.is_some(), requeue, "case {name}: requeue");
        }
    }

    #[test]
    fn conditions_say_what_remains_and_settle() {
        let n = ns(true, &["kubernetes"]);
        let content = vec![
            item("pods", "a", true, &["foregroundDeletion"]),
            item("pods", "b", false, &[]),
            item("deployments", "d", false, &[]),
        ];
        let p = plan(&n, &content, Time::from_unix(200));
        let status = p.status.expect("status written");
        assert_eq!(status.phase, Some(NamespacePhase::Terminating));
        let cond = |ty: &str| {
            status
                .conditions
                .iter()
                .find(|c| c.type_ == ty)
                .cloned()
                .expect("condition present")
        };
        let remaining = cond("NamespaceContentRemaining");
        assert_eq!(remaining.status, ConditionStatus::True);
        assert_eq!(
            remaining.message,
            "Some resources are remaining: deployments.apps has 1 resource instances, pods. has 2 resource instances"
        );
        let fin = cond("NamespaceFinalizersRemaining");
        assert_eq!(fin.reason, "SomeFinalizersRemain");
        assert!(fin
            .message
            .ends_with("foregroundDeletion in 1 resource instances"));
        // Written once, the same status is not written again (later clock or not).
        let mut written = n.clone();
        written.status = status;
        let again = plan(&written, &content, Time::from_unix(300));
        assert_eq!(again.status, None);
    }

    #[test]
    fn finalized_drops_only_our_finalizer() {
        let n = ns(true, &["kubernetes", "example.com/x"]);
        assert_eq!(
            finalized(&n).spec.finalizers,
            vec!["example.com/x".to_owned()]
        );
    }

    #[test]
    fn every_namespaced_resource_is_emptied() {
        let served: Vec<(&str, &str)> = crate::apiserver::registry::RESOURCES
            .iter()
            .filter(|r| r.namespaced)
            .map(|r| (r.group, r.plural))
            .collect();
        let mut want = served.clone();
        want.sort_unstable();
        let emptied = discovery::namespaced_deletable();
        let mut got: Vec<(&str, &str)> = emptied
            .iter()
            .map(|r| (r.group.as_str(), r.plural.as_str()))
            .collect();
        got.sort_unstable();
        assert_eq!(got, want);
    }
}
