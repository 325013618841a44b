//! [`Informer`]: list + watch of one kind into a local read-only [`Cache`].
//!
//! It lists (in pages), then long-polls changes from the list's resourceVersion. A
//! broken poll resumes from the last resourceVersion seen; 410 Gone (history no longer
//! kept) relists and reports the difference as changes, so a handler sees every object
//! that changed, even across a relist. Failed lists and polls, and relists, back off
//! (100 ms doubling to 5 s) and log once per [`crate::retry::LOG_EVERY`]. Events carry only what changed; handlers are
//! meant to enqueue keys and let a reconciler read the cache (level-triggered).
//!
//! The loop hands each list and each batch of events to a delivery function, which
//! applies it to the cache (`ingest`) and passes the changes on: [`Informer::spawn`]
//! to its one handler, the node's shared informers ([`super::shared`]) to every
//! subscriber, under the lock a late subscriber takes for its replay.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use rudder_protocol::api::{Api, Object, WatchEvent};
use rudder_protocol::messages::api::ListParams;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::retry::{LogLimiter, Retry};

/// How long one watch poll waits for changes.
const POLL_WAIT: Duration = Duration::from_secs(30);
/// Objects per list page.
const PAGE: u32 = 500;

/// Names one object: namespace (for namespaced kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// The key of a namespaced object.
    pub fn namespaced(namespace: &str, name: &str) -> Self {
        ObjectKey {
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }

    /// The key of a cluster-scoped object.
    pub fn cluster(name: &str) -> Self {
        ObjectKey {
            namespace: None,
            name: name.to_owned(),
        }
    }

    /// The key of `obj` (cluster-scoped objects have no namespace).
    pub fn of<K: Object>(obj: &K) -> Self {
        let m = obj.meta();
        ObjectKey {
            namespace: (!m.namespace.is_empty()).then(|| m.namespace.clone()),
            name: m.name.clone(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A change to the cache, as handed to an informer's handler.
#[derive(Debug, Clone)]
pub enum Change<K> {
    /// A new object (or one that started to match the selectors).
    Added(Arc<K>),
    /// An object changed.
    Modified {
        /// The state before.
        old: Arc<K>,
        /// The state now.
        new: Arc<K>,
    },
    /// An object is gone (or stopped matching); its last state.
    Deleted(Arc<K>),
}

impl<K: Object> Change<K> {
    /// The object as it is now (the last state for a deletion).
    pub fn object(&self) -> &Arc<K> {
        match self {
            Change::Added(o) | Change::Deleted(o) => o,
            Change::Modified { new, .. } => new,
        }
    }

    /// The changed object's key.
    pub fn key(&self) -> ObjectKey {
        ObjectKey::of(self.object().as_ref())
    }
}

/// The local copy of one kind's objects kept by an [`Informer`]. Cheap to clone.
pub struct Cache<K> {
    inner: Arc<Shared<K>>,
}

impl<K> Clone for Cache<K> {
    fn clone(&self) -> Self {
        Cache {
            inner: self.inner.clone(),
        }
    }
}

struct Shared<K> {
    objects: RwLock<HashMap<ObjectKey, Arc<K>>>,
    synced: watch::Sender<bool>,
}

impl<K: Object> Default for Cache<K> {
    fn default() -> Self {
        Cache {
            inner: Arc::new(Shared {
                objects: RwLock::new(HashMap::new()),
                synced: watch::channel(false).0,
            }),
        }
    }
}

impl<K: Object> Cache<K> {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<ObjectKey, Arc<K>>> {
        // Writers replace whole entries, so a poisoned map is still consistent.
        self.inner
            .objects
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<ObjectKey, Arc<K>>> {
        self.inner
            .objects
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One object.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.read().get(key).cloned()
    }

    /// Every object.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().values().cloned().collect()
    }

    /// Every object in `namespace`.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.read()
            .iter()
            .filter(|(k, _)| k.namespace.as_deref() == Some(namespace))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Objects passing `pred`.
    pub fn filter(&self, pred: impl Fn(&K) -> bool) -> Vec<Arc<K>> {
        self.read().values().filter(|o| pred(o)).cloned().collect()
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the first list has been loaded.
    pub fn has_synced(&self) -> bool {
        *self.inner.synced.borrow()
    }

    /// Waits until the first list has been loaded.
    pub async fn wait_synced(&self) {
        let mut rx = self.inner.synced.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Applies one watch event; returns the change it made, if any.
    fn apply(&self, event: WatchEvent<K>) -> Option<Change<K>> {
        let (obj, deleted) = match event {
            WatchEvent::Added(o) | WatchEvent::Modified(o) => (o, false),
            WatchEvent::Deleted(o) => (o, true),
        };
        let key = ObjectKey::of(&obj);
        let mut map = self.write();
        if deleted {
            return map.remove(&key).map(|_| Change::Deleted(Arc::new(obj)));
        }
        let new = Arc::new(obj);
        match map.get(&key) {
            Some(old) if rv(old.as_ref()) > rv(new.as_ref()) => None,
            Some(old) if old == &new => None,
            Some(old) => {
                let old = old.clone();
                map.insert(key, new.clone());
                Some(Change::Modified { old, new })
            }
            None => {
                map.insert(key, new.clone());
                Some(Change::Added(new))
            }
        }
    }

    /// Replaces the whole content with a fresh list; returns the differences.
    fn replace(&self, objects: Vec<K>) -> Vec<Change<K>> {
        let fresh: HashMap<ObjectKey, Arc<K>> = objects
            .into_iter()
            .map(|o| (ObjectKey::of(&o), Arc::new(o)))
            .collect();
        let mut map = self.write();
        let old = std::mem::replace(&mut *map, fresh);
        let mut changes = Vec::new();
        for (key, new) in map.iter() {
            match old.get(key) {
                None => changes.push(Change::Added(new.clone())),
                Some(o) if o != new => changes.push(Change::Modified {
                    old: o.clone(),
                    new: new.clone(),
                }),
                Some(_) => {}
            }
        }
        for (key, o) in old {
            if !map.contains_key(&key) {
                changes.push(Change::Deleted(o));
            }
        }
        changes
    }

    pub(crate) fn set_synced(&self) {
        self.inner.synced.send_replace(true);
    }
}

fn rv<K: Object>(obj: &K) -> u64 {
    obj.meta().resource_version.parse().unwrap_or(0)
}

/// Aborts the informer's task when dropped.
pub struct InformerHandle(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for InformerHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps a [`Cache`] of one kind in step with the API server.
pub struct Informer;

impl Informer {
    /// Starts list + watch of `api` (narrowed by `params`' selectors) on the current tokio
    /// runtime. `handler` sees every change after it is in the cache. The task ends when
    /// the returned handle is dropped.
    pub fn spawn<K, H>(
        api: Api<K>,
        params: ListParams,
        mut handler: H,
    ) -> (Cache<K>, InformerHandle)
    where
        K: Object,
        H: FnMut(&Change<K>) + Send + 'static,
    {
        let cache = Cache::default();
        let target = cache.clone();
        let deliver = move |d: Delivery<K>| ingest(&target, d, &mut handler);
        let task = tokio::spawn(run(api, params, cache.clone(), deliver));
        (cache, InformerHandle(task))
    }

    /// Starts list + watch of `api` into `cache` on `runtime`, handing every list and
    /// every batch of watch events to `deliver`, which applies it to `cache` (with
    /// [`ingest`]) and passes the changes on. The shared informers use this to apply
    /// and distribute under one lock, so a late subscriber neither misses nor doubles
    /// a change.
    pub(crate) fn spawn_on<K, D>(
        runtime: &tokio::runtime::Handle,
        api: Api<K>,
        params: ListParams,
        cache: Cache<K>,
        deliver: D,
    ) -> InformerHandle
    where
        K: Object,
        D: FnMut(Delivery<K>) + Send + 'static,
    {
        InformerHandle(runtime.spawn(run(api, params, cache, deliver)))
    }
}

/// What the list + watch loop hands on, in order: a complete fresh list, or a batch of
/// watch events.
pub(crate) enum Delivery<K> {
    /// The whole collection, from a (re)list.
    Listed(Vec<K>),
    /// Watch events, in revision order.
    Events(Vec<WatchEvent<K>>),
}

/// Applies `delivery` to `cache`, handing each change to `handler` right after it is in
/// the cache (a relist reports its difference from what was cached).
pub(crate) fn ingest<K: Object>(
    cache: &Cache<K>,
    delivery: Delivery<K>,
    handler: &mut dyn FnMut(&Change<K>),
) {
    match delivery {
        Delivery::Listed(items) => {
            for change in cache.replace(items) {
                trace_change("relisted", &change);
                handler(&change);
            }
        }
        Delivery::Events(events) => {
            for event in events {
                if let Some(change) = cache.apply(event) {
                    trace_change("watched", &change);
                    handler(&change);
                }
            }
        }
    }
}

fn trace_change<K: Object>(how: &'static str, change: &Change<K>) {
    let kind = match change {
        Change::Added(_) => "added",
        Change::Modified { .. } => "modified",
        Change::Deleted(_) => "deleted",
    };
    let meta = change.object().meta();
    tracing::trace!(how, kind, key = %change.key(), rv = %meta.resource_version,
        terminating = meta.deletion_timestamp.is_some(), "informer change");
}

async fn run<K: Object, D: FnMut(Delivery<K>)>(
    api: Api<K>,
    params: ListParams,
    cache: Cache<K>,
    mut deliver: D,
) {
    let mut retry = RETRY;
    let mut log: LogLimiter<&'static str> = LogLimiter::default();
    loop {
        let mut rv = match list_all(&api, &params).await {
            Ok((items, rv)) => {
                log.clear(&"list");
                deliver(Delivery::Listed(items));
                cache.set_synced();
                rv
            }
            Err(e) => {
                let pause = retry.failed();
                if let Some(suppressed) = log.admit(&"list", Instant::now()) {
                    warn!(resource = %api.resource().plural, error = %e, retry_in = ?pause, suppressed, "list failed");
                }
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        loop {
            match api.watch_poll(&params, rv, POLL_WAIT).await {
                Ok((events, next)) => {
                    retry.succeeded();
                    log.clear(&"watch");
                    if !events.is_empty() {
                        deliver(Delivery::Events(events));
                    }
                    rv = rv.max(next);
                }
                Err(e) if e.is_gone() => {
                    // A relist is the answer to a Gone; a history that keeps moving past
                    // every fresh list is a failure like any other, so relists back off
                    // too (a successful poll resets it).
                    let pause = retry.failed();
                    debug!(resource = %api.resource().plural, rv, retry_in = ?pause, "watch history gone; relisting");
                    tokio::time::sleep(pause).await;
                    break;
                }
                Err(e) => {
                    let pause = retry.failed();
                    if let Some(suppressed) = log.admit(&"watch", Instant::now()) {
                        warn!(resource = %api.resource().plural, rv, error = %e, retry_in = ?pause, suppressed, "watch failed; resuming");
                    }
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

/// Failed lists and polls, and relists after a Gone: 100 ms doubling to 5 s, quick to
/// recover from a restarted apiserver, gentle when the control plane is down.
const RETRY: Retry = Retry::new(Duration::from_millis(100), Duration::from_secs(5));

async fn list_all<K: Object>(
    api: &Api<K>,
    params: &ListParams,
) -> Result<(Vec<K>, u64), rudder_protocol::api::ApiError> {
    let mut page = ListParams {
        limit: PAGE,
        continue_token: None,
        ..params.clone()
    };
    let mut items = Vec::new();
    let mut first_rv = None;
    loop {
        let list = api.list(&page).await?;
        let rv: u64 = list.metadata.resource_version.parse().unwrap_or(0);
        // Later pages are read at the first page's revision or later; watching from the
        // first page's revision replays whatever changed meanwhile.
        first_rv.get_or_insert(rv);
        items.extend(list.items);
        if list.metadata.continue_.is_empty() {
            break;
        }
        page.continue_token = Some(list.metadata.continue_);
    }
    Ok((items, first_rv.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::type_complexity)]
    use super::*;
    use rudder_protocol::resources::{ObjectMeta, Pod};

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

    fn names(changes: &[Change<Pod>]) -> Vec<String> {
        let mut v: Vec<String> = changes
            .iter()
            .map(|c| {
                let kind = match c {
                    Change::Added(_) => "added",
                    Change::Modified { .. } => "modified",
                    Change::Deleted(_) => "deleted",
                };
                format!("{kind} {}", c.key())
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn relist_reports_the_difference() {
        let cache = Cache::<Pod>::default();
        cache.replace(vec![pod("a", 1), pod("b", 2), pod("c", 3)]);
        let changes = cache.replace(vec![pod("a", 1), pod("b", 5), pod("d", 6)]);
        assert_eq!(
            names(&changes),
            ["added default/d", "deleted default/c", "modified default/b"]
        );
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn events_apply_in_order_and_stale_ones_are_ignored() {
        let cache = Cache::<Pod>::default();
        let cases: Vec<(&str, WatchEvent<Pod>, Option<&str>)> = vec![
            (
                "add",
                WatchEvent::Added(pod("a", 2)),
                Some("added default/a"),
            ),
            (
                "newer",
                WatchEvent::Modified(pod("a", 4)),
                Some("modified default/a"),
            ),
            ("older is stale", WatchEvent::Modified(pod("a", 3)), None),
            ("same again", WatchEvent::Modified(pod("a", 4)), None),
            (
                "delete",
                WatchEvent::Deleted(pod("a", 5)),
                Some("deleted default/a"),
            ),
            ("delete unknown", WatchEvent::Deleted(pod("zz", 6)), None),
        ];
        for (name, event, want) in cases {
            let got = cache.apply(event).map(|c| names(&[c]).remove(0));
            assert_eq!(got.as_deref(), want, "{name}");
        }
        assert!(cache.is_empty());
    }

    /// Serves lists from `lists` in turn and polls from `polls` in turn; then blocks.
    struct Scripted {
        lists: std::sync::Mutex<std::collections::VecDeque<(Vec<Pod>, u64)>>,
        polls: std::sync::Mutex<
            std::collections::VecDeque<Result<(Vec<(&'static str, Pod)>, u64), i32>>,
        >,
        asked_from: std::sync::Mutex<Vec<u64>>,
    }

    impl rudder_protocol::api::ApiTransport for Scripted {
        fn call(
            &self,
            req: rudder_protocol::messages::api::ApiRequest,
        ) -> rudder_protocol::api::BoxFuture<
            '_,
            Result<rudder_protocol::messages::api::ApiReply, rudder_protocol::api::ApiError>,
        > {
            use rudder_protocol::messages::api::{ApiEvent, ApiReply, ApiRequest};
            Box::pin(async move {
                match req {
                    ApiRequest::List { .. } => {
                        let next = self.lists.lock().unwrap().pop_front();
                        let Some((items, rv)) = next else {
                            return std::future::pending().await;
                        };
                        let list = serde_json::json!({
                            "kind": "PodList", "apiVersion": "v1",
                            "metadata": {"resourceVersion": rv.to_string()},
                            "items": items,
                        });
                        Ok(ApiReply::Json(serde_json::to_vec(&list).unwrap()))
                    }
                    ApiRequest::WatchPoll {
                        resource_version, ..
                    } => {
                        self.asked_from.lock().unwrap().push(resource_version);
                        let next = self.polls.lock().unwrap().pop_front();
                        match next {
                            None => std::future::pending().await,
                            Some(Err(code)) => Ok(ApiReply::Error(Box::new(
                                rudder_protocol::resources::Status::failure(
                                    code, "Expired", "too old",
                                ),
                            ))),
                            Some(Ok((events, rv))) => Ok(ApiReply::Events {
                                events: events
                                    .into_iter()
                                    .map(|(kind, p)| ApiEvent {
                                        kind: kind.into(),
                                        object: serde_json::to_vec(&p).unwrap(),
                                    })
                                    .collect(),
                                resource_version: rv,
                            }),
                        }
                    }
                    other => panic!("unexpected request {other:?}"),
                }
            })
        }
    }

    #[tokio::test]
    async fn watches_resume_and_410_relists_reporting_every_change() {
        let script = Arc::new(Scripted {
            lists: std::sync::Mutex::new(
                [
                    (vec![pod("a", 1), pod("b", 2)], 2),
                    // After the 410: "a" changed, "b" vanished, "d" appeared.
                    (vec![pod("a", 9), pod("c", 3), pod("d", 8)], 9),
                ]
                .into(),
            ),
            polls: std::sync::Mutex::new(
                [
                    Ok((vec![("ADDED", pod("c", 3))], 3)),
                    Err(503),
                    Ok((vec![], 4)),
                    Err(410),
                ]
                .into(),
            ),
            asked_from: std::sync::Mutex::new(Vec::new()),
        });
        let api = Api::<Pod>::new(script.clone(), None);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let (cache, _handle) = Informer::spawn(api, ListParams::default(), move |c| {
            log.lock()
                .unwrap()
                .push(names(std::slice::from_ref(c)).remove(0));
        });
        tokio::time::timeout(Duration::from_secs(5), async {
            while cache.get(&ObjectKey::namespaced("default", "d")).is_none()
                || script.asked_from.lock().unwrap().len() < 5
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the informer relists after 410");
        assert!(cache.has_synced());
        let mut now: Vec<String> = cache
            .list()
            .iter()
            .map(|p| p.metadata.name.clone())
            .collect();
        now.sort();
        assert_eq!(now, ["a", "c", "d"]);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 6, "{seen:?}");
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        assert_eq!(sorted(&seen[..2]), ["added default/a", "added default/b"]);
        assert_eq!(seen[2], "added default/c");
        assert_eq!(
            sorted(&seen[3..]),
            ["added default/d", "deleted default/b", "modified default/a"]
        );
        // Resumed from 3 after the failed poll, then 4 (where 410 came), then the relist's 9.
        assert_eq!(*script.asked_from.lock().unwrap(), [2, 3, 3, 4, 9]);
    }

    #[tokio::test(start_paused = true)]
    async fn repeated_gone_relists_back_off() {
        // Every poll answers 410: each relist waits longer (100 ms doubling).
        let script = Arc::new(Scripted {
            lists: std::sync::Mutex::new((0..20).map(|_| (vec![pod("a", 1)], 1)).collect()),
            polls: std::sync::Mutex::new((0..20).map(|_| Err(410)).collect()),
            asked_from: std::sync::Mutex::new(Vec::new()),
        });
        let api = Api::<Pod>::new(script.clone(), None);
        let begin = tokio::time::Instant::now();
        let (_cache, _handle) = Informer::spawn(api, ListParams::default(), |_| {});
        let lists = |s: &Scripted| 20 - s.lists.lock().unwrap().len();
        // Lists at 0, 0.1, 0.3, 0.7, 1.5 and 3.1 s.
        for (ms, want) in [(50, 1), (250, 2), (1_000, 4), (3_000, 5), (3_200, 6)] {
            tokio::time::sleep_until(begin + Duration::from_millis(ms)).await;
            assert_eq!(lists(&script), want, "lists by {ms} ms");
        }
    }

    #[test]
    fn keys_name_namespace_and_object() {
        assert_eq!(ObjectKey::of(&pod("x", 1)).to_string(), "default/x");
        assert_eq!(ObjectKey::cluster("n1").to_string(), "n1");
    }
}
