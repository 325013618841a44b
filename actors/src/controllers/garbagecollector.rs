//! The garbage collector: cascading deletion along owner references, as Kubernetes'
//! garbage collector does it.
//!
//! The API server does the first half of every cascade: deleting an object with
//! `propagationPolicy: Foreground` adds the `foregroundDeletion` finalizer and sets the
//! `deletionTimestamp`; `Orphan` adds the `orphan` finalizer; `Background` (the default)
//! removes the owner at once. An object whose `deletionTimestamp` is set is removed by
//! the API server when its last finalizer goes. This collector does the rest:
//!
//! - **background**: an object whose owners are all gone is deleted (an owner that
//!   still exists keeps it alive; references to owners that are gone are removed);
//! - **foreground**: the dependents of an owner carrying `foregroundDeletion` are
//!   deleted (foreground themselves when they have dependents, so the wait propagates);
//!   once no dependent with `blockOwnerDeletion` is left, the finalizer is removed;
//! - **orphan**: the owner's reference is removed from each of its dependents, then the
//!   `orphan` finalizer.
//!
//! Owners are matched by uid; an owner in another namespace than its dependent counts
//! as absent. The collector's view is its informers' caches, which may lag: before it
//! deletes an object (or drops a reference) because an owner is absent, the apply step
//! confirms the absence with a live read, as Kubernetes does.
//!
//! The collector follows every kind the API server's registry serves (with the verbs it
//! needs: [`discovery::collectable`]), as Kubernetes' collector follows discovery: it
//! reads them through the node's shared informers as `DynamicObject`s (sharing the watch
//! of any typed informer of the same kind) and acts through the dynamic API, finding an
//! owner's resource from its reference's `apiVersion` and `kind`. There is no per-kind
//! table: a registered kind is collected, and can own, at once.
//!
//! [`Graph`] is the owner/dependent index the informer handlers maintain; [`Graph::plan`]
//! decides purely for one object.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::api::{ApiResource, DynamicObject};
use rudder_protocol::messages::api::Component;
use rudder_protocol::resources::{ObjectMeta, OwnerReference};
use serde_json::json;
use tracing::{debug, info};

use super::support::{discovery, run_workers, while_leading};
use crate::informer::{ApiHandle, Change, Scope, SharedInformers, Subscription, WorkQueue};
use crate::supervisor::{ComponentSpec, StartContext, Started};

/// The component's name.
pub const NAME: &str = "controller/garbagecollector";
/// How soon to look again when the cache and a live read disagree.
const CACHE_LAG_RETRY: Duration = Duration::from_secs(1);

/// The finalizer of an object waiting for its dependents to go (foreground deletion).
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// The finalizer of an object whose dependents are to be orphaned.
pub const ORPHAN_FINALIZER: &str = "orphan";

/// Which object: enough to address it through the API.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemRef {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Namespace (`None` for cluster-scoped objects).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Uid.
    pub uid: String,
}

/// One object as the collector sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Which object.
    pub id: ItemRef,
    /// Its owner references.
    pub owners: Vec<OwnerReference>,
    /// Its finalizers.
    pub finalizers: Vec<String>,
    /// Whether it has a `deletionTimestamp`.
    pub deleting: bool,
}

impl Item {
    /// The collector's view of an object of `kind`.
    pub fn from_meta(api_version: &str, kind: &str, namespaced: bool, meta: &ObjectMeta) -> Item {
        Item {
            id: ItemRef {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                namespace: namespaced.then(|| meta.namespace.clone()),
                name: meta.name.clone(),
                uid: meta.uid.clone(),
            },
            owners: meta.owner_references.clone(),
            finalizers: meta.finalizers.clone(),
            deleting: meta.deletion_timestamp.is_some(),
        }
    }

    fn has(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }

    /// Whether it waits for its dependents to be deleted first.
    pub fn deleting_dependents(&self) -> bool {
        self.deleting && self.has(FOREGROUND_FINALIZER)
    }
}

/// How a deletion propagates to the deleted object's dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// The object goes at once; its dependents are collected afterwards.
    Background,
    /// The object waits for its blocking dependents.
    Foreground,
    /// The dependents lose their reference and stay.
    Orphan,
}

impl Propagation {
    /// The `propagationPolicy` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Background => "Background",
            Propagation::Foreground => "Foreground",
            Propagation::Orphan => "Orphan",
        }
    }
}

/// One step of the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcAction {
    /// Delete `item` (with a uid precondition), once every owner in `confirm_absent` is
    /// confirmed gone by a live read.
    Delete {
        /// The object.
        item: ItemRef,
        /// The propagation policy of the deletion.
        policy: Propagation,
        /// Owners the cache says are gone.
        confirm_absent: Vec<OwnerReference>,
    },
    /// Remove the references to `uids` from `item`'s owner references (those in
    /// `confirm_absent` only once confirmed gone).
    RemoveOwnerRefs {
        /// The object.
        item: ItemRef,
        /// The owner uids to drop.
        uids: Vec<String>,
        /// Owners the cache says are gone.
        confirm_absent: Vec<OwnerReference>,
    },
    /// Remove `finalizer` from `item`.
    RemoveFinalizer {
        /// The object.
        item: ItemRef,
        /// The finalizer.
        finalizer: &'static str,
    },
}

/// The owner/dependent graph of every object the collector watches.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    items: BTreeMap<String, Item>,
    /// Owner uid -> uids of the objects that reference it (the owner may be unknown).
    dependents: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Graph::default()
    }

    /// The object of `uid`.
    pub fn get(&self, uid: &str) -> Option<&Item> {
        self.items.get(uid)
    }

    /// How many objects the graph holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The uids of the objects that may need the collector: those with owners or being
    /// deleted (what a fresh collector looks at once).
    pub fn candidates(&self) -> Vec<String> {
        self.items
            .values()
            .filter(|i| !i.owners.is_empty() || i.deleting)
            .map(|i| i.id.uid.clone())
            .collect()
    }

    /// The uids of the objects referencing `uid` as an owner.
    pub fn dependents_of(&self, uid: &str) -> impl Iterator<Item = &str> {
        self.dependents
            .get(uid)
            .into_iter()
            .flat_map(|s| s.iter().map(String::as_str))
    }

    fn unlink(&mut self, item: &Item) {
        for o in &item.owners {
            if let Some(set) = self.dependents.get_mut(&o.uid) {
                set.remove(&item.id.uid);
                if set.is_empty() {
                    self.dependents.remove(&o.uid);
                }
            }
        }
    }

    /// Records an added or changed object; returns the uids to look at again (itself,
    /// its owners and, when its deletion state changed, its dependents). A change that
    /// cannot matter to the collector (a status update) returns nothing.
    pub fn upsert(&mut self, item: Item) -> Vec<String> {
        let uid = item.id.uid.clone();
        let old = self.items.get(&uid).cloned();
        if old.as_ref() == Some(&item) {
            return Vec::new();
        }
        let mut affected = BTreeSet::from([uid.clone()]);
        if let Some(old) = &old {
            self.unlink(old);
            affected.extend(old.owners.iter().map(|o| o.uid.clone()));
        }
        affected.extend(item.owners.iter().map(|o| o.uid.clone()));
        let deletion_changed = old
            .as_ref()
            .is_none_or(|o| o.deleting != item.deleting || o.finalizers != item.finalizers);
        if deletion_changed {
            affected.extend(self.dependents_of(&uid).map(str::to_owned));
        }
        for o in &item.owners {
            self.dependents
                .entry(o.uid.clone())
                .or_default()
                .insert(uid.clone());
        }
        self.items.insert(uid, item);
        affected
            .into_iter()
            .filter(|u| self.items.contains_key(u))
            .collect()
    }

    /// Records a deleted object; returns the uids to look at again (its owners and its
    /// dependents).
    pub fn remove(&mut self, uid: &str) -> Vec<String> {
        let Some(old) = self.items.remove(uid) else {
            return Vec::new();
        };
        self.unlink(&old);
        let mut affected: BTreeSet<String> = old.owners.iter().map(|o| o.uid.clone()).collect();
        affected.extend(self.dependents_of(uid).map(str::to_owned));
        affected
            .into_iter()
            .filter(|u| self.items.contains_key(u))
            .collect()
    }

    /// The owner `r` of `item` if it is present where it may be (same namespace for a
    /// namespaced owner of a namespaced object; cluster-scoped objects cannot have
    /// namespaced owners).
    fn owner(&self, item: &Item, r: &OwnerReference) -> Option<&Item> {
        let owner = self.items.get(&r.uid)?;
        match (&owner.id.namespace, &item.id.namespace) {
            (None, _) => Some(owner),
            (Some(o), Some(d)) if o == d => Some(owner),
            _ => None,
        }
    }

    /// What to do about the object `uid`.
    pub fn plan(&self, uid: &str) -> Vec<GcAction> {
        let Some(item) = self.items.get(uid) else {
            return Vec::new();
        };
        if item.deleting {
            return self.plan_deleting(item);
        }
        if item.owners.is_empty() {
            return Vec::new();
        }
        let mut solid = Vec::new();
        let mut dangling = Vec::new();
        let mut waiting = Vec::new();
        for r in &item.owners {
            match self.owner(item, r) {
                None => dangling.push(r.clone()),
                Some(o) if o.deleting_dependents() => waiting.push(r.clone()),
                Some(_) => solid.push(r.clone()),
            }
        }
        if !solid.is_empty() {
            if dangling.is_empty() && waiting.is_empty() {
                return Vec::new();
            }
            // Still owned: only the references to owners that are going away are dropped.
            let uids = dangling
                .iter()
                .chain(waiting.iter())
                .map(|r| r.uid.clone())
                .collect();
            return vec![GcAction::RemoveOwnerRefs {
                item: item.id.clone(),
                uids,
                confirm_absent: dangling,
            }];
        }
        let has_dependents = self.dependents_of(uid).next().is_some();
        let policy = if !waiting.is_empty() && has_dependents {
            // An owner waits on us: make our own dependents go first too.
            Propagation::Foreground
        } else if item.has(ORPHAN_FINALIZER) {
            Propagation::Orphan
        } else if item.has(FOREGROUND_FINALIZER) {
            Propagation::Foreground
        } else {
            Propagation::Background
        };
        vec![GcAction::Delete {
            item: item.id.clone(),
            policy,
            confirm_absent: dangling,
        }]
    }

    fn plan_deleting(&self, item: &Item) -> Vec<GcAction> {
        let uid = &item.id.uid;
        let deps: Vec<&Item> = self
            .dependents_of(uid)
            .filter_map(|d| self.items.get(d))
            .filter(|d| {
                self.owner(
                    d,
                    &OwnerReference {
                        uid: uid.clone(),
                        ..OwnerReference::default()
                    },
                )
                .is_some()
            })
            .collect();
        if item.has(ORPHAN_FINALIZER) {
            if deps.is_empty() {
                return vec![GcAction::RemoveFinalizer {
                    item: item.id.clone(),
                    finalizer: ORPHAN_FINALIZER,
                }];
            }
            return deps
                .iter()
                .map(|d| GcAction::RemoveOwnerRefs {
                    item: d.id.clone(),
                    uids: vec![uid.clone()],
                    confirm_absent: Vec::new(),
                })
                .collect();
        }
        if item.has(FOREGROUND_FINALIZER) {
            let blocking = deps.iter().any(|d| {
                d.owners
                    .iter()
                    .any(|r| &r.uid == uid && r.block_owner_deletion == Some(true))
            });
            if !blocking {
                return vec![GcAction::RemoveFinalizer {
                    item: item.id.clone(),
                    finalizer: FOREGROUND_FINALIZER,
                }];
            }
            // The dependents are deleted by their own plans (their owner waits on them).
        }
        Vec::new()
    }
}

/// The supervised component. It has no primary kind (its keys are uids across every
/// kind), so it uses the kit's parts rather than its typed builder: the leader gate,
/// the node's shared informers and the worker loop.
pub fn component() -> ComponentSpec {
    ComponentSpec::new(NAME, |ctx: &StartContext| {
        Started::task(run(
            ApiHandle::as_component(ctx.bus.clone(), Component::ControllerManager),
            ctx.informers.clone(),
        ))
    })
}

fn lock(g: &Mutex<Graph>) -> MutexGuard<'_, Graph> {
    // Each graph operation leaves it consistent; a panic inside one leaves it usable.
    g.lock().unwrap_or_else(|p| p.into_inner())
}

/// The collector's subscriptions (dropping one unsubscribes) and a future per informer
/// that resolves once it has synced.
#[derive(Default)]
struct Informers {
    subscriptions: Vec<Subscription>,
    synced: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

impl Informers {
    /// Subscribes to the node's informer of `resource` (as dynamic objects; it shares
    /// the watch of the node's typed informer of the same kind), feeding the graph and
    /// the queue.
    fn watch(
        &mut self,
        informers: &SharedInformers,
        resource: &ApiResource,
        graph: &Arc<Mutex<Graph>>,
        queue: &WorkQueue<String>,
    ) {
        let graph = graph.clone();
        let queue = queue.clone();
        let informer = informers.dynamic(resource, Scope::all());
        let (api_version, kind, namespaced) = (
            resource.api_version(),
            resource.kind.clone(),
            resource.namespaced,
        );
        self.subscriptions
            .push(informer.subscribe(move |c: &Change<DynamicObject>| {
                let affected = match c {
                    Change::Added(o) | Change::Modified { new: o, .. } => lock(&graph).upsert(
                        Item::from_meta(&api_version, &kind, namespaced, &o.metadata),
                    ),
                    Change::Deleted(o) => lock(&graph).remove(o.uid()),
                };
                for uid in affected {
                    queue.add(uid);
                }
            }));
        let cache = informer.cache();
        self.synced
            .push(Box::pin(async move { cache.wait_synced().await }));
    }
}

async fn run(api: ApiHandle, shared: SharedInformers) {
    let body = async {
        loop {
            if !collect(&api, &shared).await {
                return;
            }
        }
    };
    while_leading(&api, NAME, body).await;
}

/// How often the collector looks for resources that CRDs added or removed.
const RESOURCES_RECHECK: Duration = Duration::from_secs(5);

/// Resolves when the collectable resources are no longer `known`.
async fn resources_changed(known: Vec<ApiResource>) {
    loop {
        tokio::time::sleep(RESOURCES_RECHECK).await;
        if discovery::collectable() != known {
            return;
        }
    }
}

/// One run of the collector over the resources served now. True when it should run
/// again because the served resources changed (a CRD came or went).
async fn collect(api: &ApiHandle, shared: &SharedInformers) -> bool {
    {
        let graph = Arc::new(Mutex::new(Graph::new()));
        let queue: WorkQueue<String> = WorkQueue::named("garbagecollector");
        // Every served kind that can own or be owned, from the API server's registry
        // (as Kubernetes' collector follows discovery): a kind added there (a CRD's
        // resource included) is followed with no change here.
        let mut informers = Informers::default();
        let known = discovery::collectable();
        for resource in &known {
            informers.watch(shared, resource, &graph, &queue);
        }
        futures::future::join_all(std::mem::take(&mut informers.synced)).await;
        let candidates = lock(&graph).candidates();
        info!(
            objects = lock(&graph).len(),
            candidates = candidates.len(),
            "garbage collector synced"
        );
        for uid in candidates {
            queue.add(uid);
        }
        let again = tokio::select! {
            () = run_workers(NAME, queue, 2, |uid| reconcile(api, &graph, uid)) => false,
            () = crate::informer::shared::any_lost(&informers.subscriptions) => {
                // A handler panicked and its graph is no longer fed: restart.
                tracing::error!("an informer subscription was lost; restarting the collector");
                false
            }
            () = resources_changed(known) => {
                info!("served resources changed; following them");
                true
            }
        };
        drop(informers);
        again
    }
}

async fn reconcile(
    api: &ApiHandle,
    graph: &Mutex<Graph>,
    uid: String,
) -> Result<Option<Duration>, ApiError> {
    let actions = lock(graph).plan(&uid);
    for action in actions {
        let (item, confirm) = match &action {
            GcAction::Delete {
                item,
                confirm_absent,
                ..
            }
            | GcAction::RemoveOwnerRefs {
                item,
                confirm_absent,
                ..
            } => (item, confirm_absent.as_slice()),
            GcAction::RemoveFinalizer { item, .. } => (item, &[][..]),
        };
        for owner in confirm {
            match owner_present(api, item, owner).await? {
                Presence::Absent => {}
                Presence::Present => return Ok(Some(CACHE_LAG_RETRY)),
                Presence::Unknown => {
                    debug!(object = %item.name, owner_kind = %owner.kind, "owner kind not served; left alone");
                    return Ok(None);
                }
            }
        }
        match apply(api, item, &action).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Whether an owner exists, by a live read.
enum Presence {
    Present,
    Absent,
    /// Its kind is not one the API serves: it cannot be checked.
    Unknown,
}

/// Whether `owner` exists, by a live read of its kind (found in the registry by its
/// `apiVersion` and `kind`).
async fn owner_present(
    api: &ApiHandle,
    dependent: &ItemRef,
    owner: &OwnerReference,
) -> Result<Presence, ApiError> {
    let Some(resource) = discovery::resource_for(&owner.api_version, &owner.kind) else {
        return Ok(Presence::Unknown);
    };
    let ns = if resource.namespaced {
        match &dependent.namespace {
            Some(ns) => Some(ns.as_str()),
            // A cluster-scoped object cannot have a namespaced owner.
            None => return Ok(Presence::Absent),
        }
    } else {
        None
    };
    match api.dynamic(&resource, ns).get_opt(&owner.name).await? {
        Some(o) if o.uid() == owner.uid => Ok(Presence::Present),
        _ => Ok(Presence::Absent),
    }
}

/// Carries out one action on an object of any served kind; changes are compare-and-swap
/// on the live object and checked against its uid (a new object of the same name is
/// never touched).
async fn apply(api: &ApiHandle, item: &ItemRef, action: &GcAction) -> Result<(), ApiError> {
    let Some(resource) = discovery::resource_for(&item.api_version, &item.kind) else {
        debug!(kind = %item.kind, object = %item.name, "kind not served; left alone");
        return Ok(());
    };
    let objects = api.dynamic(&resource, item.namespace.as_deref());
    match action {
        GcAction::Delete { policy, .. } => {
            info!(kind = %item.kind, object = %item.name, policy = policy.as_str(), "collecting object whose owners are gone");
            let opts = json!({
                "propagationPolicy": policy.as_str(),
                "preconditions": {"uid": item.uid},
            });
            match objects.delete_with(&item.name, &opts).await {
                Err(e) if e.is_conflict() => Ok(()),
                other => other.map(drop),
            }
        }
        GcAction::RemoveOwnerRefs { uids, .. } => {
            let Some(mut live) = objects.get_opt(&item.name).await? else {
                return Ok(());
            };
            if live.uid() != item.uid {
                return Ok(());
            }
            let refs = &mut live.metadata.owner_references;
            let before = refs.len();
            refs.retain(|r| !uids.contains(&r.uid));
            if refs.len() != before {
                debug!(kind = %item.kind, object = %item.name, ?uids, "dropping owner references");
                objects.update(&live).await?;
            }
            Ok(())
        }
        GcAction::RemoveFinalizer { finalizer, .. } => {
            let Some(mut live) = objects.get_opt(&item.name).await? else {
                return Ok(());
            };
            if live.uid() != item.uid {
                return Ok(());
            }
            let fins = &mut live.metadata.finalizers;
            let before = fins.len();
            fins.retain(|f| f != finalizer);
            if fins.len() != before {
                info!(kind = %item.kind, object = %item.name, finalizer, "removing finalizer");
                objects.update(&live).await?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner_ref(uid: &str, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: format!("rs-{uid}"),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: block.then_some(true),
        }
    }

    fn item(uid: &str, owners: &[(&str, bool)]) -> Item {
        Item {
            id: ItemRef {
                api_version: "v1".into(),
                kind: "Pod".into(),
                namespace: Some("default".into()),
                name: format!("obj-{uid}"),
                uid: uid.into(),
            },
            owners: owners.iter().map(|(u, b)| owner_ref(u, *b)).collect(),
            finalizers: Vec::new(),
            deleting: false,
        }
    }

    fn deleting(mut i: Item, finalizer: &str) -> Item {
        i.deleting = true;
        if !finalizer.is_empty() {
            i.finalizers.push(finalizer.into());
        }
        i
    }

    fn in_ns(mut i: Item, ns: Option<&str>) -> Item {
        i.id.namespace = ns.map(str::to_owned);
        i
    }

    /// A compact view of actions for comparison: "delete:<uid>:<policy>[?confirm]",
    /// "unref:<uid>:<owner uids>[?confirm]", "unfinalize:<uid>:<finalizer>".
    fn show(actions: &[GcAction]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                GcAction::Delete {
                    item,
                    policy,
                    confirm_absent,
                } => format!(
                    "delete:{}:{}{}",
                    item.uid,
                    policy.as_str(),
                    if confirm_absent.is_empty() {
                        ""
                    } else {
                        "?confirm"
                    }
                ),
                GcAction::RemoveOwnerRefs {
                    item,
                    uids,
                    confirm_absent,
                } => format!(
                    "unref:{}:{}{}",
                    item.uid,
                    uids.join(","),
                    if confirm_absent.is_empty() {
                        ""
                    } else {
                        "?confirm"
                    }
                ),
                GcAction::RemoveFinalizer { item, finalizer } => {
                    format!("unfinalize:{}:{finalizer}", item.uid)
                }
            })
            .collect()
    }

    #[test]
    fn plans() {
        // (name, graph contents, object to plan, expected actions)
        let cases: Vec<(&str, Vec<Item>, &str, Vec<&str>)> = vec![
            ("no owners: kept", vec![item("a", &[])], "a", vec![]),
            (
                "owner present: kept",
                vec![item("o", &[]), item("d", &[("o", false)])],
                "d",
                vec![],
            ),
            (
                "owner gone: background delete",
                vec![item("d", &[("o", false)])],
                "d",
                vec!["delete:d:Background?confirm"],
            ),
            (
                "one of two owners gone: reference dropped",
                vec![item("o1", &[]), item("d", &[("o1", false), ("o2", false)])],
                "d",
                vec!["unref:d:o2?confirm"],
            ),
            (
                "owner in another namespace counts as gone",
                vec![
                    in_ns(item("o", &[]), Some("other")),
                    item("d", &[("o", false)]),
                ],
                "d",
                vec!["delete:d:Background?confirm"],
            ),
            (
                "cluster-scoped owner of a namespaced object is fine",
                vec![in_ns(item("o", &[]), None), item("d", &[("o", false)])],
                "d",
                vec![],
            ),
            (
                "owner deleting in background (no finalizer) still owns",
                vec![deleting(item("o", &[]), ""), item("d", &[("o", false)])],
                "d",
                vec![],
            ),
            (
                "foreground owner: dependent deleted",
                vec![
                    deleting(item("o", &[]), FOREGROUND_FINALIZER),
                    item("d", &[("o", true)]),
                ],
                "d",
                vec!["delete:d:Background"],
            ),
            (
                "foreground owner: dependent with dependents deleted in foreground",
                vec![
                    deleting(item("o", &[]), FOREGROUND_FINALIZER),
                    item("d", &[("o", true)]),
                    item("g", &[("d", true)]),
                ],
                "d",
                vec!["delete:d:Foreground"],
            ),
            (
                "foreground owner with a blocking dependent waits",
                vec![
                    deleting(item("o", &[]), FOREGROUND_FINALIZER),
                    item("d", &[("o", true)]),
                ],
                "o",
                vec![],
            ),
            (
                "foreground owner waits for a terminating blocking dependent too",
                vec![
                    deleting(item("o", &[]), FOREGROUND_FINALIZER),
                    deleting(item("d", &[("o", true)]), ""),
                ],
                "o",
                vec![],
            ),
            (
                "foreground owner with only non-blocking dependents: finalizer removed",
                vec![
                    deleting(item("o", &[]), FOREGROUND_FINALIZER),
                    item("d", &[("o", false)]),
                ],
                "o",
                vec!["unfinalize:o:foregroundDeletion"],
            ),
            (
                "foreground owner without dependents: finalizer removed",
                vec![deleting(item("o", &[]), FOREGROUND_FINALIZER)],
                "o",
                vec!["unfinalize:o:foregroundDeletion"],
            ),
            (
                "still owned elsewhere: reference to the foreground owner dropped",
                vec![
                    item("o1", &[]),
                    deleting(item("o2", &[]), FOREGROUND_FINALIZER),
                    item("d", &[("o1", false), ("o2", true)]),
                ],
                "d",
                vec!["unref:d:o2"],
            ),
            (
                "orphan owner: references removed from dependents",
                vec![
                    deleting(item("o", &[]), ORPHAN_FINALIZER),
                    item("d1", &[("o", true)]),
                    item("d2", &[("o", false)]),
                ],
                "o",
                vec!["unref:d1:o", "unref:d2:o"],
            ),
            (
                "orphan owner: dependents are not deleted",
                vec![
                    deleting(item("o", &[]), ORPHAN_FINALIZER),
                    item("d", &[("o", true)]),
                ],
                "d",
                vec![],
            ),
            (
                "orphan owner without dependents: finalizer removed",
                vec![deleting(item("o", &[]), ORPHAN_FINALIZER)],
                "o",
                vec!["unfinalize:o:orphan"],
            ),
            (
                "object already being deleted is left alone",
                vec![deleting(item("d", &[("o", false)]), "")],
                "d",
                vec![],
            ),
            (
                "orphaned object with an orphan finalizer of its own keeps its policy",
                vec![{
                    let mut d = item("d", &[("o", false)]);
                    d.finalizers.push(ORPHAN_FINALIZER.into());
                    d
                }],
                "d",
                vec!["delete:d:Orphan?confirm"],
            ),
            ("unknown object: nothing", vec![], "x", vec![]),
        ];
        for (name, items, uid, want) in cases {
            let mut g = Graph::new();
            for i in items {
                g.upsert(i);
            }
            assert_eq!(show(&g.plan(uid)), want, "case {name}");
        }
    }

    #[test]
    fn changes_name_what_to_look_at_again() {
        let mut g = Graph::new();
        assert_eq!(g.upsert(item("o", &[])), vec!["o"]);
        assert_eq!(g.upsert(item("d", &[("o", true)])), vec!["d", "o"]);
        // A change that does not touch owners, finalizers or deletion is ignored.
        assert!(g.upsert(item("d", &[("o", true)])).is_empty());
        // The owner starts a foreground deletion: its dependents are looked at.
        assert_eq!(
            g.upsert(deleting(item("o", &[]), FOREGROUND_FINALIZER)),
            vec!["d", "o"]
        );
        // The dependent goes: its owner is looked at again.
        assert_eq!(g.remove("d"), vec!["o"]);
        assert_eq!(g.plan("o").len(), 1);
        // The owner goes: nothing left to look at.
        assert!(g.remove("o").is_empty());
        assert!(g.is_empty());
        assert!(g.remove("o").is_empty(), "removing twice is harmless");
    }

    #[test]
    fn dropping_a_reference_unlinks_it() {
        let mut g = Graph::new();
        g.upsert(item("o", &[]));
        g.upsert(item("d", &[("o", true)]));
        assert_eq!(g.dependents_of("o").count(), 1);
        g.upsert(item("d", &[]));
        assert_eq!(g.dependents_of("o").count(), 0);
    }
}
