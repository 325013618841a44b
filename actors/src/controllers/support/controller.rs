//! [`Controller`]: a controller's wiring written once, in the spirit of kube-runtime's
//! `Controller::new(api).owns(pods).run(reconcile)`.
//!
//! ```text
//! Controller::<ReplicaSet>::new(NAME)          // bus name; Lease rudder-controller-replicaset
//!     .workers(2)
//!     .component(
//!         |w| {                                // when leading, on every (re)start:
//!             let sets = w.primary();          //   ReplicaSet changes -> their keys
//!             let pods = w.owns::<Pod>();      //   Pod changes -> their controller's key
//!             Ctx { sets, pods, .. }           //   the reconcile's context
//!         },
//!         |ctx, key| reconcile(ctx, key),      // level-triggered, returns when to requeue
//!     )
//! ```
//!
//! What the kit does with it, in order, each time the component starts:
//! 1. campaigns for the Lease [`super::lease_name`]`(name)` in `kube-system` and does
//!    nothing else until it leads (a standby holds no caches and no subscriptions);
//! 2. calls `setup` with a [`Wiring`]: each `primary` / `owns` / `watches` call
//!    subscribes to the node's shared informer of that kind and scope (started on first
//!    use, replayed to a late subscriber) with a handler that turns changes into keys on
//!    the work queue;
//! 3. waits until every cache it subscribed to has synced, runs the `after_sync` hooks;
//! 4. runs `workers` workers: each takes a key (one worker per key at a time), calls
//!    `reconcile`, and requeues the key after the delay it asks for, or with per-key
//!    back-off when it fails;
//! 5. returns when leadership is lost, dropping its subscriptions; the supervisor
//!    restarts it, and it campaigns again.
//!
//! Owner mapping ([`owner_keys`]) is client-go's `resolveControllerRef`: an owned object
//! names its controller by the owner reference with `controller: true`; it counts when
//! that reference's kind and API group are the primary kind's. An object whose
//! controller changed queues both the old and the new controller.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::messages::api::Component;
use rudder_protocol::resources::Resource;
use tracing::info;

use super::{run_workers, while_leading, ControllerExpectations};
use crate::informer::{
    ApiHandle, Cache, Change, ObjectKey, Scope, SharedInformers, Subscription, WorkQueue,
};
use crate::supervisor::{ComponentSpec, StartContext, Started};

/// The key of the controller of `obj` when that controller is a `K` (kind and API group
/// match), as client-go's `resolveControllerRef` reads the owner reference.
pub fn controller_key<K: Resource, X: Resource>(obj: &X) -> Option<ObjectKey> {
    let meta = obj.metadata();
    let r = meta.controller_ref()?;
    let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    if r.kind != K::KIND || group != K::group() {
        return None;
    }
    Some(if K::NAMESPACED {
        ObjectKey::namespaced(&meta.namespace, &r.name)
    } else {
        ObjectKey::cluster(&r.name)
    })
}

/// The keys of the `K` controllers a change of an owned `X` concerns: the controller of
/// the object, and on an update also its former controller when that changed.
pub fn owner_keys<K: Resource, X: Resource>(change: &Change<X>) -> Vec<ObjectKey> {
    match change {
        Change::Added(o) | Change::Deleted(o) => {
            controller_key::<K, X>(o.as_ref()).into_iter().collect()
        }
        Change::Modified { old, new } => {
            let mut keys: Vec<ObjectKey> =
                controller_key::<K, X>(new.as_ref()).into_iter().collect();
            if let Some(k) = controller_key::<K, X>(old.as_ref()) {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            keys
        }
    }
}

type SyncedFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Hook = Box<dyn FnOnce() + Send>;

/// What a controller's `setup` wires its informers with (see the module docs). Keys are
/// [`ObjectKey`]s of the primary kind `K`.
pub struct Wiring<K> {
    api: ApiHandle,
    informers: SharedInformers,
    queue: WorkQueue<ObjectKey>,
    subscriptions: Vec<Subscription>,
    synced: Vec<SyncedFuture>,
    after_sync: Vec<Hook>,
    _kind: PhantomData<fn() -> K>,
}

impl<K: Resource> Wiring<K> {
    /// A wiring over the node's `informers`, feeding a fresh work queue.
    pub fn new(api: ApiHandle, informers: SharedInformers) -> Self {
        Wiring {
            api,
            informers,
            queue: WorkQueue::default(),
            subscriptions: Vec::new(),
            synced: Vec::new(),
            after_sync: Vec::new(),
            _kind: PhantomData,
        }
    }

    /// Feeds a queue that reports `workqueue_*` metrics as `name` instead (call before
    /// wiring anything).
    pub fn named(mut self, name: &str) -> Self {
        self.queue = WorkQueue::named(name);
        self
    }

    /// API access for the controller's writes.
    pub fn api(&self) -> &ApiHandle {
        &self.api
    }

    /// The work queue (to add keys from elsewhere, e.g. an `after_sync` hook).
    pub fn queue(&self) -> &WorkQueue<ObjectKey> {
        &self.queue
    }

    /// The primary kind: every change queues the object's own key.
    pub fn primary(&mut self) -> Cache<K> {
        self.primary_with(|c, q| q.add(c.key()))
    }

    /// The primary kind, with its own mapping (e.g. only some changes matter).
    pub fn primary_with(
        &mut self,
        map: impl FnMut(&Change<K>, &WorkQueue<ObjectKey>) + Send + 'static,
    ) -> Cache<K> {
        self.watches(Scope::all(), map)
    }

    /// Objects of kind `X` controlled by `K`s: a change queues its controller's key
    /// ([`owner_keys`]).
    pub fn owns<X: Resource>(&mut self) -> Cache<X> {
        self.watches(Scope::all(), |c: &Change<X>, q: &WorkQueue<ObjectKey>| {
            for key in owner_keys::<K, X>(c) {
                q.add(key);
            }
        })
    }

    /// Objects of kind `X` controlled by `K`s that adopt matching orphans (StatefulSets,
    /// DaemonSets): a change queues its controller's key, observing it in
    /// `expectations`; a change of an orphan queues every `K` of its namespace that
    /// `selects` it.
    pub fn owns_adopting<X: Resource>(
        &mut self,
        owners: Cache<K>,
        expectations: ControllerExpectations,
        selects: impl Fn(&K, &X) -> bool + Send + 'static,
    ) -> Cache<X> {
        self.watches(
            Scope::all(),
            move |c: &Change<X>, q: &WorkQueue<ObjectKey>| {
                for key in owner_keys::<K, X>(c) {
                    expectations.observe(&key, c);
                    q.add(key);
                }
                if let Change::Added(o) | Change::Modified { new: o, .. } = c {
                    let meta = o.metadata();
                    if meta.controller_ref().is_none() {
                        for owner in owners.list_namespace(&meta.namespace) {
                            if selects(&owner, o) {
                                q.add(ObjectKey::of(owner.as_ref()));
                            }
                        }
                    }
                }
            },
        )
    }

    /// Objects of kind `X` in `scope`, turned into keys by `map`.
    pub fn watches<X: Resource>(
        &mut self,
        scope: Scope,
        mut map: impl FnMut(&Change<X>, &WorkQueue<ObjectKey>) + Send + 'static,
    ) -> Cache<X> {
        let informer = self.informers.informer::<X>(scope);
        let queue = self.queue.clone();
        self.subscriptions
            .push(informer.subscribe(move |c: &Change<X>| map(c, &queue)));
        let cache = informer.cache();
        let synced = cache.clone();
        self.synced
            .push(Box::pin(async move { synced.wait_synced().await }));
        cache
    }

    /// Runs `hook` once every cache has synced, before the first reconcile.
    pub fn after_sync(&mut self, hook: impl FnOnce() + Send + 'static) {
        self.after_sync.push(Box::new(hook));
    }

    /// Waits for every cache, runs the hooks; returns the queue and what keeps the
    /// subscriptions alive.
    async fn synced(self) -> (WorkQueue<ObjectKey>, Vec<Subscription>) {
        futures::future::join_all(self.synced).await;
        for hook in self.after_sync {
            hook();
        }
        (self.queue, self.subscriptions)
    }
}

/// A controller of primary kind `K` (see the module docs).
pub struct Controller<K> {
    name: &'static str,
    workers: usize,
    per_node: bool,
    _kind: PhantomData<fn() -> K>,
}

impl<K: Resource> Controller<K> {
    /// The controller named `name` on the bus (`controller/<loop>`), with one worker.
    pub fn new(name: &'static str) -> Self {
        Controller {
            name,
            workers: 1,
            per_node: false,
            _kind: PhantomData,
        }
    }

    /// Reconciles running at once (never two for one key).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Runs on every node that has it, without a Lease: for work that belongs to the
    /// node itself (a node's local volumes), where each node acts on its own objects.
    pub fn per_node(mut self) -> Self {
        self.per_node = true;
        self
    }

    /// The controller's bus name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The component the node's supervisor runs: on every start, [`Controller::run`]
    /// with a fresh API handle and the node's shared informers.
    pub fn component<C, S, R, Fut>(self, setup: S, reconcile: R) -> ComponentSpec
    where
        C: Send + Sync + 'static,
        S: Fn(&mut Wiring<K>) -> C + Send + Sync + 'static,
        R: Fn(Arc<C>, ObjectKey) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<Duration>, ApiError>> + Send + 'static,
    {
        let name = self.name;
        let parts = Arc::new((self, setup, reconcile));
        ComponentSpec::new(name, move |ctx: &StartContext| {
            let parts = parts.clone();
            let api = ApiHandle::as_component(ctx.bus.clone(), Component::ControllerManager);
            let informers = ctx.informers.clone();
            Started::task(async move {
                let (controller, setup, reconcile) = &*parts;
                controller.run(api, informers, setup, reconcile).await;
            })
        })
    }

    /// One life of the controller: lead, wire, sync, work; returns when leadership is
    /// lost (or the workers stop).
    pub async fn run<C, S, R, Fut>(
        &self,
        api: ApiHandle,
        informers: SharedInformers,
        setup: &S,
        reconcile: &R,
    ) where
        C: Send + Sync + 'static,
        S: Fn(&mut Wiring<K>) -> C,
        R: Fn(Arc<C>, ObjectKey) -> Fut,
        Fut: Future<Output = Result<Option<Duration>, ApiError>>,
    {
        let body = async {
            let mut wiring = Wiring::<K>::new(api.clone(), informers).named(self.name);
            let context = Arc::new(setup(&mut wiring));
            let (queue, subscriptions) = wiring.synced().await;
            info!(
                controller = self.name,
                queued = queue.len(),
                "caches synced"
            );
            let workers = run_workers(self.name, queue, self.workers, |key| {
                reconcile(context.clone(), key)
            });
            tokio::select! {
                () = workers => {}
                () = crate::informer::shared::any_lost(&subscriptions) => {
                    // A handler panicked and hears nothing more: stop, so the supervisor
                    // restarts the controller with fresh subscriptions.
                    tracing::error!(controller = self.name, "an informer subscription was lost; restarting");
                }
            }
            drop(subscriptions);
        };
        if self.per_node {
            body.await;
        } else {
            while_leading(&api, self.name, body).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rudder_protocol::resources::{
        Lease, Node, OwnerReference, Pod, ReplicaSet, ReplicationController,
    };

    fn owned_by(name: &str, refs: &[(&str, &str, &str, bool)]) -> Arc<Pod> {
        let mut p = Pod::new(name);
        p.metadata.namespace = "default".into();
        p.metadata.owner_references = refs
            .iter()
            .map(|(api_version, kind, owner, controller)| OwnerReference {
                api_version: (*api_version).into(),
                kind: (*kind).into(),
                name: (*owner).into(),
                uid: format!("uid-{owner}"),
                controller: controller.then_some(true),
                block_owner_deletion: None,
            })
            .collect();
        Arc::new(p)
    }

    fn keys(v: Vec<ObjectKey>) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn owner_mapping_table() {
        let rs = ("apps/v1", "ReplicaSet", "web", true);
        let rs2 = ("apps/v1", "ReplicaSet", "web-2", true);
        let table: Vec<(&str, Change<Pod>, Vec<&str>)> = vec![
            (
                "owned pod added",
                Change::Added(owned_by("p", &[rs])),
                vec!["default/web"],
            ),
            (
                "owned pod deleted",
                Change::Deleted(owned_by("p", &[rs])),
                vec!["default/web"],
            ),
            ("orphan", Change::Added(owned_by("p", &[])), vec![]),
            (
                "an owner that is not the controller",
                Change::Added(owned_by("p", &[("apps/v1", "ReplicaSet", "web", false)])),
                vec![],
            ),
            (
                "another kind controls it",
                Change::Added(owned_by(
                    "p",
                    &[("v1", "ReplicationController", "web", true)],
                )),
                vec![],
            ),
            (
                "the same kind name in another group",
                Change::Added(owned_by(
                    "p",
                    &[("example.com/v1", "ReplicaSet", "web", true)],
                )),
                vec![],
            ),
            (
                "another version of the same group",
                Change::Added(owned_by(
                    "p",
                    &[("apps/v1beta2", "ReplicaSet", "web", true)],
                )),
                vec!["default/web"],
            ),
            (
                "the controller among other owners",
                Change::Added(owned_by("p", &[("v1", "Service", "svc", false), rs])),
                vec!["default/web"],
            ),
            (
                "updated, same controller: once",
                Change::Modified {
                    old: owned_by("p", &[rs]),
                    new: owned_by("p", &[rs]),
                },
                vec!["default/web"],
            ),
            (
                "handed over: the new and the old controller",
                Change::Modified {
                    old: owned_by("p", &[rs]),
                    new: owned_by("p", &[rs2]),
                },
                vec!["default/web-2", "default/web"],
            ),
            (
                "released: the old controller hears of it",
                Change::Modified {
                    old: owned_by("p", &[rs]),
                    new: owned_by("p", &[]),
                },
                vec!["default/web"],
            ),
            (
                "adopted: the new controller",
                Change::Modified {
                    old: owned_by("p", &[]),
                    new: owned_by("p", &[rs]),
                },
                vec!["default/web"],
            ),
        ];
        for (name, change, want) in table {
            assert_eq!(keys(owner_keys::<ReplicaSet, Pod>(&change)), want, "{name}");
        }
        // The same pods seen by a ReplicationController controller.
        let rc = owned_by("p", &[("v1", "ReplicationController", "web", true)]);
        assert_eq!(
            keys(owner_keys::<ReplicationController, Pod>(&Change::Added(rc))),
            ["default/web"]
        );
        assert!(
            owner_keys::<ReplicationController, Pod>(&Change::Added(owned_by("p", &[rs])))
                .is_empty()
        );
    }

    #[test]
    fn cluster_scoped_controllers_have_cluster_keys() {
        let mut lease = Lease::default();
        lease.metadata.name = "n1".into();
        lease.metadata.namespace = "kube-node-lease".into();
        lease.metadata.owner_references = vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: "n1".into(),
            uid: "node-uid".into(),
            controller: Some(true),
            block_owner_deletion: None,
        }];
        let got = owner_keys::<Node, Lease>(&Change::Added(Arc::new(lease)));
        assert_eq!(got, [ObjectKey::cluster("n1")]);
    }

    /// Lists `listed` and then never answers a watch poll.
    struct Listing(Vec<serde_json::Value>);

    impl rudder_protocol::api::ApiTransport for Listing {
        fn call(
            &self,
            req: rudder_protocol::messages::api::ApiRequest,
        ) -> rudder_protocol::api::BoxFuture<
            '_,
            Result<rudder_protocol::messages::api::ApiReply, ApiError>,
        > {
            use rudder_protocol::messages::api::{ApiReply, ApiRequest};
            Box::pin(async move {
                match req {
                    ApiRequest::List { resource, .. } => {
                        let items: Vec<_> = self
                            .0
                            .iter()
                            .filter(|o| {
                                o["kind"].as_str().is_some_and(|k| {
                                    format!("{}s", k.to_lowercase()) == resource.plural
                                })
                            })
                            .cloned()
                            .collect();
                        let list = serde_json::json!({
                            "metadata": {"resourceVersion": "5"},
                            "items": items,
                        });
                        Ok(ApiReply::Json(serde_json::to_vec(&list).unwrap()))
                    }
                    _ => std::future::pending().await,
                }
            })
        }
    }

    #[test]
    fn wiring_routes_primary_and_owned_changes_to_keys() {
        let system = actix::System::new();
        system.block_on(async {
            let web = {
                let mut rs = ReplicaSet::new("web");
                rs.metadata.namespace = "default".into();
                rs
            };
            let mine = owned_by("p1", &[("apps/v1", "ReplicaSet", "web", true)]);
            let other = owned_by("p2", &[("apps/v1", "ReplicaSet", "gone", true)]);
            let orphan = owned_by("p3", &[]);
            let mut objects = vec![serde_json::to_value(&web).unwrap()];
            for p in [&mine, &other, &orphan] {
                let mut v = serde_json::to_value(p.as_ref()).unwrap();
                v["kind"] = "Pod".into();
                objects.push(v);
            }
            objects[0]["kind"] = "ReplicaSet".into();
            let informers = SharedInformers::new(
                Arc::new(Listing(objects)),
                tokio::runtime::Handle::current(),
            );
            let mut w = Wiring::<ReplicaSet>::new(test_api().await, informers.clone());
            let sets = w.primary();
            let pods = w.owns::<Pod>();
            let hooked = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let h = hooked.clone();
            let set_count = sets.clone();
            w.after_sync(move || {
                h.store(set_count.len() == 1, std::sync::atomic::Ordering::SeqCst);
            });
            let (queue, subs) = tokio::time::timeout(Duration::from_secs(5), w.synced())
                .await
                .expect("caches sync");
            assert!(
                hooked.load(std::sync::atomic::Ordering::SeqCst),
                "hook after sync"
            );
            assert_eq!(pods.len(), 3);
            assert_eq!(subs.len(), 2);
            let mut queued = Vec::new();
            while !queue.is_empty() {
                let k = queue.next().await.unwrap();
                queue.done(&k);
                queued.push(k.to_string());
            }
            queued.sort();
            assert_eq!(
                queued,
                ["default/gone", "default/web"],
                "the replica set itself, and the owners of its pods; orphans queue nothing"
            );
            // A second wiring on the same node shares the informers.
            let mut again = Wiring::<ReplicaSet>::new(test_api().await, informers.clone());
            again.owns::<Pod>();
            again.primary();
            assert_eq!(informers.running(), 2);
        });
    }

    async fn test_api() -> ApiHandle {
        use rudder_protocol::actor::Role;
        use rudder_protocol::frame::NodeIdentity;
        use rudder_protocol::net::Credentials;
        let (listener, addr) = crate::bus::bind("127.0.0.1:0").await.expect("bind");
        let bus = crate::bus::Bus::start(
            NodeIdentity {
                name: rudder_protocol::NodeName::new("t"),
                address: addr.to_string(),
                roles: vec![Role::ControlPlane],
                incarnation: 1,
            },
            Credentials::token("test", &b"token"[..]),
            listener,
            vec![],
            crate::bus::BusOptions::default(),
        );
        ApiHandle::new(bus)
    }
}
