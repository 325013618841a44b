//! [`SharedInformers`]: one informer per kind and scope per node, shared by every
//! component on that node (client-go's `SharedInformerFactory`).
//!
//! The rules it keeps:
//! - **One watch per (kind, scope) per node.** A scope is a namespace and label and
//!   field selectors ([`Scope`]); the replicaset, deployment, endpoints, node lifecycle
//!   and garbage-collector controllers and the scheduler all read the one all-namespace
//!   Pod informer, while the kubelet reads its own `spec.nodeName=<node>` one.
//! - **Typed or dynamic, one watch.** The garbage collector reads every kind as
//!   [`DynamicObject`]s ([`SharedInformers::dynamic`]); the others read typed objects.
//!   Informers are keyed by resource and scope: whichever of the two forms is asked for
//!   first lists and watches, and the other is a view fed from it (each change passed on
//!   as JSON and read into the view's type), so the view costs no watch of its own.
//! - **Informers outlive components.** A component holds a [`SharedInformer`] handle and
//!   [`Subscription`]s; killing it drops them, and its restart subscribes to the same
//!   running informer instead of listing and watching again. An informer nobody has held
//!   for [`IDLE_STOP`] (longer than any restart back-off) is stopped, so a node that
//!   stopped leading a controller stops watching for it.
//! - **A late subscriber sees everything once.** Subscribing replays the cached objects
//!   as `Added` (as client-go does for a handler added to a running informer), and
//!   later changes follow. Applying a change to the cache and handing it to the handlers
//!   happen under one lock that subscribing also takes, so no change is missed or
//!   doubled between the replay and the live stream.
//! - **Nothing lives only here.** The caches are soft state: each informer lists,
//!   watches from the list's resourceVersion, resumes a broken watch from the last one
//!   seen, and relists on 410 ([`super::informer`]); a relist reports its difference to
//!   every handler.
//!
//! Handlers run on the informer's task, under its lock: they must be quick (enqueue a
//! key, send on a channel) and must not subscribe or drop a subscription themselves. A
//! handler that panics is removed (and logged), so one faulty component cannot stop the
//! informer every other component reads; its [`Subscription::lost`] resolves, so the
//! component stops and its supervisor restarts it with a fresh subscription.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use rudder_protocol::api::{Api, ApiResource, ApiTransport, DynamicObject, Object, WatchEvent};
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::Resource;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, error};

use super::informer::{ingest, Delivery, Informer, InformerHandle};
use super::{Cache, Change};

/// How long an informer no component holds keeps running before it is stopped.
pub const IDLE_STOP: Duration = Duration::from_secs(60);
/// How often idle informers are looked for.
const REAP_EVERY: Duration = Duration::from_secs(5);

/// Which objects of a kind an informer keeps: a namespace (`None`: all) and selectors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    /// Only this namespace (`None`: every namespace, or a cluster-scoped kind).
    pub namespace: Option<String>,
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
}

impl Scope {
    /// Every object of the kind.
    pub fn all() -> Self {
        Scope::default()
    }

    /// The objects of one namespace.
    pub fn namespace(namespace: &str) -> Self {
        Scope {
            namespace: Some(namespace.to_owned()),
            ..Scope::default()
        }
    }

    /// The objects whose fields match `selector` (e.g. `spec.nodeName=worker-1`).
    pub fn fields(selector: impl Into<String>) -> Self {
        Scope {
            field_selector: Some(selector.into()),
            ..Scope::default()
        }
    }

    fn params(&self) -> ListParams {
        ListParams {
            label_selector: self.label_selector.clone(),
            field_selector: self.field_selector.clone(),
            ..ListParams::default()
        }
    }
}

/// Takes a lock even if a panicking holder poisoned it: every holder leaves the data
/// consistent between statements (handler panics are caught before they unwind here).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

type Handler<K> = Box<dyn FnMut(&Change<K>) + Send>;

/// The handlers of one informer.
struct Handlers<K> {
    next_id: u64,
    list: Vec<(u64, Handler<K>, Arc<Lost>)>,
}

/// Set when a subscription's handler panicked and was dropped, so its component learns
/// it no longer hears changes ([`Subscription::lost`]) and restarts.
#[derive(Default)]
struct Lost {
    flag: AtomicBool,
    notify: Notify,
}

impl<K: Object> Handlers<K> {
    /// Hands `change` to every handler; a handler that panics is dropped and its
    /// subscription told.
    fn dispatch(&mut self, change: &Change<K>) {
        self.list.retain_mut(|(id, handler, lost)| {
            let ok = std::panic::catch_unwind(AssertUnwindSafe(|| handler(change))).is_ok();
            if !ok {
                error!(
                    kind = std::any::type_name::<K>(),
                    subscription = *id,
                    "an informer handler panicked; it is unsubscribed"
                );
                lost.flag.store(true, Ordering::SeqCst);
                lost.notify.notify_waiters();
            }
            ok
        });
    }
}

/// One running informer: its cache and its handlers.
struct Hub<K> {
    cache: Cache<K>,
    handlers: Mutex<Handlers<K>>,
    /// Itself, for subscriptions made through [`Source`].
    self_ref: Weak<Hub<K>>,
}

impl<K: Object> Hub<K> {
    fn new() -> Arc<Self> {
        Arc::new_cyclic(|me| Hub {
            cache: Cache::default(),
            handlers: Mutex::new(Handlers {
                next_id: 0,
                list: Vec::new(),
            }),
            self_ref: me.clone(),
        })
    }
}

/// Removes a handler when its [`Subscription`] is dropped, whatever its kind.
trait Unsubscribe: Send + Sync {
    fn unsubscribe(&self, id: u64);
}

impl<K: Object> Unsubscribe for Hub<K> {
    fn unsubscribe(&self, id: u64) {
        lock(&self.handlers).list.retain(|(i, _, _)| *i != id);
    }
}

/// A component's handle on a shared informer: its cache, and subscriptions to its
/// changes. Cheap to clone; while any clone (or any [`Subscription`]) lives, the
/// informer keeps running.
pub struct SharedInformer<K> {
    hub: Arc<Hub<K>>,
    /// Counts holders: the factory stops the informer once only it holds this.
    user: Arc<()>,
}

impl<K> Clone for SharedInformer<K> {
    fn clone(&self) -> Self {
        SharedInformer {
            hub: self.hub.clone(),
            user: self.user.clone(),
        }
    }
}

impl<K: Object> SharedInformer<K> {
    /// The informer's cache (shared, read-only).
    pub fn cache(&self) -> Cache<K> {
        self.hub.cache.clone()
    }

    /// Calls `handler` with an `Added` for every object cached now, then with every
    /// later change, until the returned [`Subscription`] is dropped.
    pub fn subscribe<H>(&self, mut handler: H) -> Subscription
    where
        H: FnMut(&Change<K>) + Send + 'static,
    {
        let mut handlers = lock(&self.hub.handlers);
        for obj in self.hub.cache.list() {
            handler(&Change::Added(obj));
        }
        let id = handlers.next_id;
        handlers.next_id += 1;
        let lost = Arc::new(Lost::default());
        handlers.list.push((id, Box::new(handler), lost.clone()));
        let hub: Arc<dyn Unsubscribe> = self.hub.clone();
        Subscription {
            hub: Arc::downgrade(&hub),
            id,
            lost,
            _user: self.user.clone(),
        }
    }

    /// Number of subscribed handlers (for tests and diagnostics).
    pub fn subscribers(&self) -> usize {
        lock(&self.hub.handlers).list.len()
    }
}

/// A subscribed handler; dropping it unsubscribes.
pub struct Subscription {
    hub: Weak<dyn Unsubscribe>,
    id: u64,
    lost: Arc<Lost>,
    _user: Arc<()>,
}

impl Subscription {
    /// Whether this subscription's handler has panicked and been dropped.
    pub fn is_lost(&self) -> bool {
        self.lost.flag.load(Ordering::SeqCst)
    }

    /// Resolves once this subscription's handler has panicked and been dropped: the
    /// component hears nothing more and should stop, so that the supervisor restarts it
    /// with a fresh subscription (which replays the cache).
    pub async fn lost(&self) {
        loop {
            // Registered before the flag is read, so a panic in between still wakes it.
            let notified = self.lost.notify.notified();
            if self.lost.flag.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// Resolves once any of `subscriptions` is [`Subscription::lost`] (never, for none).
pub async fn any_lost(subscriptions: &[Subscription]) {
    if subscriptions.is_empty() {
        return std::future::pending().await;
    }
    futures::future::select_all(subscriptions.iter().map(|s| Box::pin(s.lost()))).await;
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.unsubscribe(self.id);
        }
    }
}

/// What identifies an informer: the resource (group and plural), the scope, and the
/// Rust type its cache holds (a typed kind, or [`DynamicObject`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    group: String,
    plural: String,
    scope: Scope,
    object: TypeId,
}

impl Key {
    /// Whether `self` and `other` watch the same objects (whatever type holds them).
    fn same_objects(&self, other: &Key) -> bool {
        self.group == other.group && self.plural == other.plural && self.scope == other.scope
    }
}

/// What keeps an informer's cache filled. Its parts are held for their `Drop` (which
/// stops the watch, or unsubscribes the view).
#[allow(dead_code)]
enum Feed {
    /// Its own list + watch; stopped when dropped.
    Watch(InformerHandle),
    /// A subscription to the informer of the same objects held as another type (see
    /// [`SharedInformers::dynamic`]), and the task that marks the view synced.
    View(Subscription, InformerHandle),
}

/// One running informer as the factory keeps it.
struct Entry {
    /// An `Arc<Hub<K>>` for the key's `K`.
    hub: Arc<dyn Any + Send + Sync>,
    /// The same hub, as a source of JSON changes for views of another type.
    source: Arc<dyn Source>,
    user: Arc<()>,
    _feed: Feed,
    /// Since when nobody but the factory holds it.
    idle_since: Option<Instant>,
    kind: String,
}

/// A change with its object as JSON: what passes from an informer to a view of it.
type JsonChange = Change<Value>;

/// A hub seen without its type: views subscribe to it as JSON.
trait Source: Send + Sync {
    /// Subscribes `handler` (replay, then live changes) on behalf of `user`.
    fn subscribe_json(
        &self,
        user: Arc<()>,
        handler: Box<dyn FnMut(&JsonChange) + Send>,
    ) -> Subscription;
    /// Resolves once the hub's cache has synced.
    fn synced(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
}

fn to_json<K: Object>(o: &Arc<K>) -> Option<Arc<Value>> {
    serde_json::to_value(o.as_ref()).ok().map(Arc::new)
}

impl<K: Object> Source for Hub<K> {
    fn subscribe_json(
        &self,
        user: Arc<()>,
        mut handler: Box<dyn FnMut(&JsonChange) + Send>,
    ) -> Subscription {
        let hub = self.self_ref.upgrade();
        let convert = move |c: &Change<K>| {
            let json = match c {
                Change::Added(o) => to_json(o).map(Change::Added),
                Change::Deleted(o) => to_json(o).map(Change::Deleted),
                Change::Modified { old, new } => to_json(old)
                    .zip(to_json(new))
                    .map(|(old, new)| Change::Modified { old, new }),
            };
            if let Some(j) = json {
                handler(&j);
            }
        };
        match hub {
            Some(hub) => SharedInformer { hub, user }.subscribe(convert),
            None => Subscription {
                hub: Weak::<Hub<K>>::new(),
                id: 0,
                lost: Arc::default(),
                _user: user,
            },
        }
    }

    fn synced(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        let cache = self.cache.clone();
        Box::pin(async move { cache.wait_synced().await })
    }
}

/// Reads a JSON change as one of `K`; `None` when the JSON is not a `K`.
fn from_json<K: Object>(c: &JsonChange) -> Option<WatchEvent<K>> {
    let read = |v: &Arc<Value>| serde_json::from_value::<K>(v.as_ref().clone()).ok();
    match c {
        Change::Added(o) => read(o).map(WatchEvent::Added),
        Change::Modified { new, .. } => read(new).map(WatchEvent::Modified),
        Change::Deleted(o) => read(o).map(WatchEvent::Deleted),
    }
}

struct Factory {
    api: Arc<dyn ApiTransport>,
    runtime: tokio::runtime::Handle,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    reaper: Option<tokio::task::JoinHandle<()>>,
    closed: bool,
}

impl Drop for Factory {
    fn drop(&mut self) {
        if let Some(r) = lock(&self.state).reaper.take() {
            r.abort();
        }
    }
}

/// The node's shared informers (see the module docs). Cheap to clone; the node's
/// supervisor creates one and hands it to every component it starts.
#[derive(Clone)]
pub struct SharedInformers {
    inner: Arc<Factory>,
}

impl SharedInformers {
    /// A factory whose informers reach the API through `api` (on a node, its
    /// [`super::ApiHandle`]) and run on `runtime`. Nothing starts until a component asks
    /// for an informer.
    pub fn new(api: Arc<dyn ApiTransport>, runtime: tokio::runtime::Handle) -> Self {
        SharedInformers {
            inner: Arc::new(Factory {
                api,
                runtime,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The informer of every `K`.
    pub fn all<K: Resource>(&self) -> SharedInformer<K> {
        self.informer(Scope::all())
    }

    /// The informer of the `K`s in `scope`, started on first use.
    pub fn informer<K: Resource>(&self, scope: Scope) -> SharedInformer<K> {
        let resource = ApiResource::of::<K>();
        self.get(&resource, scope, |api, ns| Api::<K>::new(api, ns))
    }

    /// The informer of the objects of `resource` in `scope` as [`DynamicObject`]s: what
    /// generic components (the garbage collector) use for kinds they do not name.
    ///
    /// It shares the watch of a typed informer of the same objects, and the other way
    /// round: whichever is asked for first lists and watches; the other is a view fed
    /// from it (its changes converted through JSON), so a node never watches the same
    /// objects twice.
    pub fn dynamic(&self, resource: &ApiResource, scope: Scope) -> SharedInformer<DynamicObject> {
        let r = resource.clone();
        self.get(resource, scope, move |api, ns| Api::dynamic(api, &r, ns))
    }

    fn get<K: Object>(
        &self,
        resource: &ApiResource,
        scope: Scope,
        make_api: impl FnOnce(Arc<dyn ApiTransport>, Option<&str>) -> Api<K>,
    ) -> SharedInformer<K> {
        let key = Key {
            group: resource.group.clone(),
            plural: resource.plural.clone(),
            scope,
            object: TypeId::of::<K>(),
        };
        let mut state = lock(&self.inner.state);
        if let Some(entry) = state.entries.get_mut(&key) {
            // The key holds the TypeId of `K`, so the downcast cannot fail.
            if let Ok(hub) = entry.hub.clone().downcast::<Hub<K>>() {
                entry.idle_since = None;
                return SharedInformer {
                    hub,
                    user: entry.user.clone(),
                };
            }
        }
        let hub = Hub::<K>::new();
        let user = Arc::new(());
        if state.closed {
            // The node is shutting down: a handle whose cache never fills.
            return SharedInformer { hub, user };
        }
        let source = state
            .entries
            .iter()
            .find(|(k, e)| k.same_objects(&key) && matches!(e._feed, Feed::Watch(_)))
            .map(|(_, e)| (e.source.clone(), e.user.clone()));
        let feed = match source {
            Some((source, source_user)) => {
                // A view of the running informer of the same objects.
                let target = hub.clone();
                let subscription = source.subscribe_json(
                    source_user,
                    Box::new(move |c: &JsonChange| {
                        let Some(event) = from_json::<K>(c) else {
                            return;
                        };
                        let mut handlers = lock(&target.handlers);
                        ingest(&target.cache, Delivery::Events(vec![event]), &mut |c| {
                            handlers.dispatch(c)
                        });
                    }),
                );
                let synced = source.synced();
                let cache = hub.cache.clone();
                let marker = self.inner.runtime.spawn(async move {
                    synced.await;
                    cache.set_synced();
                });
                debug!(resource = %resource.plural, scope = ?key.scope, "shared informer view started");
                Feed::View(subscription, InformerHandle(marker))
            }
            None => {
                let params = key.scope.params();
                let api = make_api(self.inner.api.clone(), key.scope.namespace.as_deref());
                let target = hub.clone();
                let deliver = move |d: Delivery<K>| {
                    let mut handlers = lock(&target.handlers);
                    ingest(&target.cache, d, &mut |c| handlers.dispatch(c));
                };
                let task = Informer::spawn_on(
                    &self.inner.runtime,
                    api,
                    params,
                    hub.cache.clone(),
                    deliver,
                );
                debug!(resource = %resource.plural, scope = ?key.scope, "shared informer started");
                Feed::Watch(task)
            }
        };
        state.entries.insert(
            key,
            Entry {
                hub: hub.clone(),
                source: hub.clone(),
                user: user.clone(),
                _feed: feed,
                idle_since: None,
                kind: resource.kind.clone(),
            },
        );
        if state.reaper.is_none() {
            let factory = Arc::downgrade(&self.inner);
            state.reaper = Some(self.inner.runtime.spawn(reap(factory)));
        }
        SharedInformer { hub, user }
    }

    /// Number of running informers (for tests and diagnostics).
    pub fn running(&self) -> usize {
        lock(&self.inner.state).entries.len()
    }

    /// Stops every informer for good (node shutdown); later requests get handles whose
    /// caches never fill.
    pub fn shutdown(&self) {
        let mut state = lock(&self.inner.state);
        state.closed = true;
        state.entries.clear();
        if let Some(r) = state.reaper.take() {
            r.abort();
        }
    }

    /// Stops informers no component has held for `idle_stop`.
    fn reap_idle(&self, idle_stop: Duration, now: Instant) {
        let mut state = lock(&self.inner.state);
        state.entries.retain(|key, entry| {
            if Arc::strong_count(&entry.user) > 1 {
                entry.idle_since = None;
                return true;
            }
            let since = *entry.idle_since.get_or_insert(now);
            let keep = now.duration_since(since) < idle_stop;
            if !keep {
                debug!(kind = %entry.kind, scope = ?key.scope, "idle shared informer stopped");
            }
            keep
        });
    }
}

async fn reap(factory: Weak<Factory>) {
    let mut tick = tokio::time::interval(REAP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = factory.upgrade() else {
            return;
        };
        SharedInformers { inner }.reap_idle(IDLE_STOP, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::informer::ObjectKey;
    use rudder_protocol::api::{ApiError, ApiTransport, BoxFuture};
    use rudder_protocol::messages::api::{ApiEvent, ApiReply, ApiRequest};
    use rudder_protocol::resources::{ObjectMeta, Pod};
    use std::collections::VecDeque;

    fn pod(name: &str, rv: u64) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: name.into(),
                namespace: "default".into(),
                resource_version: rv.to_string(),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    /// Lists `listed` once, then serves the events pushed to `events` one poll at a
    /// time; counts lists and polls per field selector.
    #[derive(Default)]
    struct Fake {
        listed: Mutex<Vec<Pod>>,
        events: tokio::sync::Mutex<VecDeque<(&'static str, Pod)>>,
        more: tokio::sync::Notify,
        lists: Mutex<Vec<Option<String>>>,
    }

    impl ApiTransport for Fake {
        fn call(&self, req: ApiRequest) -> BoxFuture<'_, Result<ApiReply, ApiError>> {
            Box::pin(async move {
                match req {
                    ApiRequest::List { params, .. } => {
                        lock(&self.lists).push(params.field_selector.clone());
                        let list = serde_json::json!({
                            "kind": "PodList", "apiVersion": "v1",
                            "metadata": {"resourceVersion": "1"},
                            "items": lock(&self.listed).clone(),
                        });
                        Ok(ApiReply::Json(serde_json::to_vec(&list).unwrap()))
                    }
                    ApiRequest::WatchPoll {
                        resource_version, ..
                    } => loop {
                        let next = self.events.lock().await.pop_front();
                        match next {
                            Some((kind, p)) => {
                                return Ok(ApiReply::Events {
                                    events: vec![ApiEvent {
                                        kind: kind.into(),
                                        object: serde_json::to_vec(&p).unwrap(),
                                    }],
                                    resource_version: resource_version + 1,
                                })
                            }
                            None => self.more.notified().await,
                        }
                    },
                    other => panic!("unexpected request {other:?}"),
                }
            })
        }
    }

    fn factory(fake: &Arc<Fake>) -> SharedInformers {
        SharedInformers::new(fake.clone(), tokio::runtime::Handle::current())
    }

    fn log_into(log: &Arc<Mutex<Vec<String>>>) -> impl FnMut(&Change<Pod>) + Send + 'static {
        let log = log.clone();
        move |c: &Change<Pod>| {
            let kind = match c {
                Change::Added(_) => "added",
                Change::Modified { .. } => "modified",
                Change::Deleted(_) => "deleted",
            };
            lock(&log).push(format!("{kind} {}", c.object().metadata.name));
        }
    }

    async fn until(what: &str, mut f: impl FnMut() -> bool) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while !f() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
    }

    #[tokio::test]
    async fn late_subscribers_get_a_replay_then_live_changes_and_unsubscribe_on_drop() {
        let fake = Arc::new(Fake::default());
        *lock(&fake.listed) = vec![pod("a", 1), pod("b", 1)];
        let f = factory(&fake);
        let informer = f.all::<Pod>();
        let early = Arc::new(Mutex::new(Vec::new()));
        let early_sub = informer.subscribe(log_into(&early));
        informer.cache().wait_synced().await;
        let mut seen = lock(&early).clone();
        seen.sort();
        assert_eq!(seen, ["added a", "added b"], "the first list");

        let late = Arc::new(Mutex::new(Vec::new()));
        let late_sub = informer.subscribe(log_into(&late));
        let mut replay = lock(&late).clone();
        replay.sort();
        assert_eq!(
            replay,
            ["added a", "added b"],
            "a late handler gets a replay"
        );
        assert_eq!(informer.subscribers(), 2);

        fake.events.lock().await.push_back(("ADDED", pod("c", 2)));
        fake.more.notify_one();
        until("c reaches both", || {
            lock(&early).len() == 3 && lock(&late).len() == 3
        })
        .await;
        assert_eq!(lock(&late)[2], "added c");

        drop(late_sub);
        assert_eq!(informer.subscribers(), 1, "dropping unsubscribes");
        fake.events.lock().await.push_back(("DELETED", pod("a", 3)));
        fake.more.notify_one();
        until("a's deletion", || lock(&early).len() == 4).await;
        assert_eq!(lock(&early)[3], "deleted a");
        assert_eq!(
            lock(&late).len(),
            3,
            "an unsubscribed handler hears nothing"
        );
        assert_eq!(lock(&fake.lists).len(), 1, "one list for every subscriber");
        drop(early_sub);
    }

    #[tokio::test]
    async fn a_panicking_handler_is_dropped_and_the_others_keep_hearing() {
        let fake = Arc::new(Fake::default());
        let f = factory(&fake);
        let informer = f.all::<Pod>();
        let bad = informer.subscribe(|c: &Change<Pod>| {
            if c.object().metadata.name == "boom" {
                panic!("handler bug");
            }
        });
        let good = Arc::new(Mutex::new(Vec::new()));
        let good_sub = informer.subscribe(log_into(&good));
        informer.cache().wait_synced().await;
        assert!(!bad.is_lost());
        // The component waiting on its subscriptions learns of the loss (and restarts).
        let subscriptions = vec![bad, good_sub];
        let noticed = async {
            any_lost(&subscriptions).await;
            true
        };
        let feed = async {
            for (kind, p) in [("ADDED", pod("boom", 2)), ("ADDED", pod("after", 3))] {
                fake.events.lock().await.push_back((kind, p));
                fake.more.notify_one();
            }
            until("both events", || lock(&good).len() == 2).await;
        };
        let (noticed, ()) = tokio::time::timeout(Duration::from_secs(5), async {
            tokio::join!(noticed, feed)
        })
        .await
        .expect("the loss is noticed");
        assert!(noticed && subscriptions[0].is_lost() && !subscriptions[1].is_lost());
        assert_eq!(*lock(&good), ["added boom", "added after"]);
        assert_eq!(informer.subscribers(), 1, "the panicking handler is gone");
    }

    #[tokio::test]
    async fn one_informer_per_kind_and_scope_and_idle_ones_stop() {
        let fake = Arc::new(Fake::default());
        let f = factory(&fake);
        let a = f.all::<Pod>();
        let b = f.all::<Pod>();
        assert!(Arc::ptr_eq(&a.hub, &b.hub), "the same informer twice");
        let mine = f.informer::<Pod>(Scope::fields("spec.nodeName=n1"));
        assert!(
            !Arc::ptr_eq(&a.hub, &mine.hub),
            "another scope, another informer"
        );
        let _nodes = f.all::<rudder_protocol::resources::Namespace>();
        assert_eq!(f.running(), 3);
        a.cache().wait_synced().await;
        mine.cache().wait_synced().await;
        let mut lists = lock(&fake.lists).clone();
        lists.sort();
        assert_eq!(
            lists,
            [None, None, Some("spec.nodeName=n1".to_owned())],
            "one list per informer: pods, namespaces, and the node's pods"
        );

        let t0 = Instant::now();
        drop(a);
        f.reap_idle(IDLE_STOP, t0);
        assert_eq!(f.running(), 3, "still held by b");
        let sub = b.subscribe(|_| {});
        drop(b);
        f.reap_idle(IDLE_STOP, t0 + IDLE_STOP * 2);
        assert_eq!(f.running(), 3, "a subscription holds it too");
        drop(sub);
        drop(mine);
        f.reap_idle(IDLE_STOP, t0);
        assert_eq!(f.running(), 3, "idle, but not for long");
        // A restart within the idle window gets the same informer back.
        let again = f.all::<Pod>();
        f.reap_idle(IDLE_STOP, t0 + IDLE_STOP);
        assert_eq!(f.running(), 2, "only the idle field-selected one stopped");
        drop(again);
        f.reap_idle(IDLE_STOP, t0 + IDLE_STOP);
        f.reap_idle(IDLE_STOP, t0 + IDLE_STOP * 3);
        assert_eq!(f.running(), 1, "only the held Namespace informer is left");
        f.shutdown();
        assert_eq!(f.running(), 0);
        let late = f.all::<Pod>();
        assert!(!late.cache().has_synced());
        assert_eq!(f.running(), 0, "nothing starts after shutdown");
    }

    #[tokio::test]
    async fn typed_and_dynamic_informers_of_one_kind_share_one_watch() {
        for typed_first in [true, false] {
            let fake = Arc::new(Fake::default());
            lock(&fake.listed).push(pod("a", 1));
            let f = factory(&fake);
            let pods = ApiResource::of::<Pod>();
            let (typed, dynamic) = if typed_first {
                let t = f.all::<Pod>();
                (t, f.dynamic(&pods, Scope::all()))
            } else {
                let d = f.dynamic(&pods, Scope::all());
                (f.all::<Pod>(), d)
            };
            typed.cache().wait_synced().await;
            dynamic.cache().wait_synced().await;
            let seen = Arc::new(Mutex::new(Vec::new()));
            let s = seen.clone();
            let _sub = dynamic.subscribe(move |c: &Change<DynamicObject>| {
                let kind = match c {
                    Change::Added(_) => "added",
                    Change::Modified { .. } => "modified",
                    Change::Deleted(_) => "deleted",
                };
                lock(&s).push(format!("{kind} {}", c.object().name()));
            });
            fake.events.lock().await.push_back(("ADDED", pod("b", 2)));
            fake.more.notify_one();
            until("b in both caches", || {
                typed.cache().len() == 2 && dynamic.cache().len() == 2
            })
            .await;
            fake.events.lock().await.push_back(("DELETED", pod("a", 3)));
            fake.more.notify_one();
            until("a gone from both", || {
                typed.cache().len() == 1 && dynamic.cache().len() == 1
            })
            .await;
            assert_eq!(
                *lock(&seen),
                ["added a", "added b", "deleted a"],
                "typed first: {typed_first}"
            );
            let b = dynamic
                .cache()
                .get(&ObjectKey::namespaced("default", "b"))
                .expect("cached");
            assert_eq!((b.kind(), b.api_version()), ("Pod", "v1"));
            assert_eq!(
                lock(&fake.lists).len(),
                1,
                "one list (typed first: {typed_first})"
            );
            assert_eq!(f.running(), 2, "the informer and its view");
            // The view holds the informer: neither stops while the view is used.
            drop(typed);
            f.reap_idle(IDLE_STOP, Instant::now() + IDLE_STOP * 2);
            assert!(f.running() >= 1);
        }
    }
}
