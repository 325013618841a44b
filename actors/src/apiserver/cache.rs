//! The watch cache: per resource, the current objects and a window of recent changes,
//! kept in memory and fed by the store's watch, so that lists and watches are served
//! without reading the store's data through Raft each time.
//!
//! Each resource's cache starts on first use: it lists the store, then long-polls the
//! store's watch from the list's revision, applying changes in revision order. A list
//! that must be consistent asks the store only for the current revision (a Raft read
//! index, no data) and catches the cache up to it with one more poll; a list with
//! `resourceVersion=0` is served as the cache stands; `resourceVersion=N` waits until
//! the cache has reached N. Watches are served from the window of recent changes; a
//! watch from before the window falls back to the store's history (and its 410).
//!
//! The cache is rebuilt from the store after a restart or when the store's history no
//! longer covers it (a relist): nothing lives only here.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rudder_protocol::messages::store::{
    Consistency, EventKind, StoreError, StoreReply, StoreRequest, WatchBatch,
};
use rudder_protocol::ActorRef;
use serde_json::Value;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::encryption::Encryption;
use crate::bus::Bus;
use crate::retry::{LogLimiter, Retry};
use rudder_protocol::messages::BusError;

/// Most changes kept per resource for watches.
const WINDOW: usize = 20_000;
/// Changes older than this leave the window (as Kubernetes' watch cache sizes its window
/// to its `eventFreshDuration`, 75 s), down to [`WINDOW_MIN`]: after a burst the window,
/// which holds whole objects, does not keep them for good. A watch or an exact-revision
/// list from before the window is served by the store's history instead.
const WINDOW_FRESH: Duration = Duration::from_secs(75);
/// Changes kept per resource whatever their age (Kubernetes' lower bound is 100).
const WINDOW_MIN: usize = 100;
/// Keys per page when the cache lists the store.
const LIST_PAGE: u32 = 1_000;
/// How long the feed's watch poll waits for changes.
const FEED_WAIT_MS: u32 = 30_000;
/// Longest wait for a cache to become ready or reach a revision before the caller
/// falls back to reading the store.
pub const READY_WAIT: Duration = Duration::from_secs(5);
const STORE_TIMEOUT: Duration = Duration::from_secs(10);

/// An object with its store key.
pub type Keyed = (String, Arc<Value>);

/// A page of a list: (key, object) pairs, the revision, and whether more follow.
pub type Page = (Vec<Keyed>, u64, bool);

/// Why the cache cannot show a collection at an exact revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtRevision {
    /// It has not listed the store yet.
    NotReady,
    /// The revision is older than the window of changes it keeps.
    TooOld {
        /// The oldest revision it can show.
        oldest: u64,
    },
    /// The cache has not reached the revision (yet).
    TooNew {
        /// The revision it has reached.
        current: u64,
    },
}

/// One object in the cache: its JSON (with `metadata.resourceVersion` set) and revision.
#[derive(Clone)]
pub struct Entry {
    /// The object.
    pub object: Arc<Value>,
    /// Its mod revision.
    pub revision: u64,
}

/// One change in the window.
#[derive(Clone)]
pub struct Change {
    /// The store revision of the change.
    pub revision: u64,
    /// The store key.
    pub key: String,
    /// The object after the change (for a deletion: its last state at the deletion's
    /// revision).
    pub object: Arc<Value>,
    /// The object before the change, if it existed.
    pub prev: Option<Arc<Value>>,
    /// True for a deletion.
    pub deleted: bool,
    /// When the cache applied it (what [`WINDOW_FRESH`] is measured from).
    pub applied_at: Instant,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Entry>,
    window: VecDeque<Change>,
    /// Watches may start after this revision (the window covers everything later).
    oldest: u64,
    /// Everything up to this revision is applied.
    revision: u64,
    ready: bool,
    /// Bumped by every change of content (a relist, an applied event), never by a
    /// revision that only moved: what derived indexes (RBAC's rules) compare.
    generation: u64,
}

/// The cache of one resource (all namespaces).
pub struct ResourceCache {
    prefix: String,
    state: RwLock<State>,
    revision: watch::Sender<u64>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

/// All resources' caches of one API server.
pub struct WatchCache {
    link: Arc<StoreLink>,
    resources: Arc<ResourceMap>,
}

/// The caches by prefix; counted for `apiserver_storage_objects` when scraped.
struct ResourceMap(Mutex<HashMap<String, Arc<ResourceCache>>>);

impl crate::telemetry::api::StorageSource for ResourceMap {
    fn counts(&self) -> Vec<(String, u64)> {
        let caches: Vec<Arc<ResourceCache>> = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        caches
            .iter()
            .filter_map(|c| {
                let st = c.state.read().unwrap_or_else(|p| p.into_inner());
                let plural = c.prefix.strip_prefix("/registry/")?.trim_end_matches('/');
                st.ready
                    .then(|| (plural.to_owned(), st.objects.len() as u64))
            })
            .collect()
    }
}

impl Drop for WatchCache {
    fn drop(&mut self) {
        for c in self.lock().values() {
            c.stop();
        }
    }
}

fn decode(key: &str, value: &[u8], revision: u64) -> Option<Value> {
    match serde_json::from_slice::<Value>(value) {
        Ok(mut obj) => {
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert(
                    "resourceVersion".into(),
                    Value::String(revision.to_string()),
                );
            }
            Some(obj)
        }
        Err(e) => {
            warn!(key, error = %e, "stored object unreadable; left out of the watch cache");
            None
        }
    }
}

impl WatchCache {
    /// Caches over `store`, reached through `bus`.
    /// `encryption` opens the Secrets it reads.
    pub fn new(bus: Bus, store: ActorRef, encryption: Arc<Encryption>) -> Self {
        WatchCache {
            link: Arc::new(StoreLink {
                bus,
                store,
                encryption,
            }),
            resources: {
                let map = Arc::new(ResourceMap(Mutex::new(HashMap::new())));
                let source: std::sync::Weak<dyn crate::telemetry::api::StorageSource> =
                    Arc::downgrade(&map)
                        as std::sync::Weak<dyn crate::telemetry::api::StorageSource>;
                crate::telemetry::metrics().api.add_storage_source(source);
                map
            },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ResourceCache>>> {
        // Entries are inserted whole; a poisoned map is still consistent.
        self.resources
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cache of the collection under `prefix` (`/registry/<plural>/`), started on
    /// first use.
    pub fn resource(&self, prefix: &str) -> Arc<ResourceCache> {
        let mut map = self.lock();
        if let Some(c) = map.get(prefix) {
            return c.clone();
        }
        let cache = Arc::new(ResourceCache {
            prefix: prefix.to_owned(),
            state: RwLock::new(State::default()),
            revision: watch::channel(0).0,
            task: Mutex::new(None),
        });
        let feed =
            crate::supervisor::component_runtime().spawn(feed(self.link.clone(), cache.clone()));
        *cache.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(feed.abort_handle());
        map.insert(prefix.to_owned(), cache.clone());
        cache
    }

    /// Brings `cache` up to at least `revision` by polling the store once more, without
    /// waiting for the feed's long poll. False when the store could not be asked.
    pub async fn catch_up(&self, cache: &ResourceCache, revision: u64) -> bool {
        for _ in 0..4 {
            let (from, ready) = {
                let st = cache.read();
                (st.revision, st.ready)
            };
            if !ready {
                return false;
            }
            if from >= revision {
                return true;
            }
            let req = StoreRequest::WatchPoll {
                prefix: cache.prefix.clone(),
                after: from,
                max_events: 10_000,
                wait_ms: 0,
            };
            match self.link.call(req, STORE_TIMEOUT).await {
                Ok(StoreReply::Watch(batch)) => cache.apply(&batch),
                _ => return false,
            }
        }
        cache.read().revision >= revision
    }
}

impl ResourceCache {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // Every writer leaves the state whole (it applies a batch under one guard).
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn stop(&self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
    }

    /// One object as the cache holds it (`None` also while the cache is not ready).
    pub fn get(&self, key: &str) -> Option<Arc<Value>> {
        self.read().objects.get(key).map(|e| e.object.clone())
    }

    /// A number that changes whenever the content changes (0 before the first list);
    /// unchanged when only the revision moved.
    pub fn generation(&self) -> u64 {
        self.read().generation
    }

    /// Every object (key and JSON), or `None` while the cache is not ready.
    pub fn objects(&self) -> Option<Vec<Keyed>> {
        let st = self.read();
        st.ready.then(|| {
            st.objects
                .iter()
                .map(|(k, e)| (k.clone(), e.object.clone()))
                .collect()
        })
    }

    /// The revision everything is applied up to (0 before the first list).
    pub fn revision(&self) -> u64 {
        self.read().revision
    }

    /// Waits until the cache is ready and has applied `revision`; false on timeout.
    pub async fn wait_for(&self, revision: u64, timeout: Duration) -> bool {
        let mut rx = self.revision.subscribe();
        let reached = async {
            loop {
                {
                    let st = self.read();
                    if st.ready && st.revision >= revision {
                        return;
                    }
                }
                if rx.changed().await.is_err() {
                    // The sender lives in `self`; it cannot close while we are here.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, reached).await.is_ok()
    }

    /// Waits until something after `after` is applied, up to `wait`.
    pub async fn wait_after(&self, after: u64, wait: Duration) {
        let _ = self.wait_for(after.saturating_add(1), wait).await;
    }

    /// The objects under `prefix` with keys after `start_after`, in key order, passing
    /// `keep`, at most `limit` (0: all); the revision they are at, and whether more
    /// objects follow. `None` while the cache is not ready.
    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        keep: impl Fn(&Value) -> bool,
    ) -> Option<Page> {
        let st = self.read();
        if !st.ready {
            return None;
        }
        let lower = match start_after {
            Some(k) => Bound::Excluded(k.to_owned()),
            None => Bound::Included(prefix.to_owned()),
        };
        let mut out = Vec::new();
        let mut more = false;
        for (key, entry) in st.objects.range((lower, Bound::Unbounded)) {
            if !key.starts_with(prefix) {
                break;
            }
            if !keep(&entry.object) {
                continue;
            }
            if limit > 0 && out.len() == limit {
                more = true;
                break;
            }
            out.push((key.clone(), entry.object.clone()));
        }
        Some((out, st.revision, more))
    }

    /// The objects under `prefix` (after the key `start_after`, when given) as they were
    /// at exactly `revision` (a list with `resourceVersionMatch=Exact`, or the next page
    /// of a paged list), passing `keep`, in key order, at most `limit` (0: all), with
    /// their keys, and whether more follow: the current objects with the window's later
    /// changes undone, newest first.
    pub fn list_at(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        revision: u64,
        limit: usize,
        keep: impl Fn(&Value) -> bool,
    ) -> Result<(Vec<Keyed>, bool), AtRevision> {
        let st = self.read();
        if !st.ready {
            return Err(AtRevision::NotReady);
        }
        if revision < st.oldest {
            return Err(AtRevision::TooOld { oldest: st.oldest });
        }
        if revision > st.revision {
            return Err(AtRevision::TooNew {
                current: st.revision,
            });
        }
        let mut objects: BTreeMap<&str, Arc<Value>> = st
            .objects
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, e)| (k.as_str(), e.object.clone()))
            .collect();
        for c in st.window.iter().rev().take_while(|c| c.revision > revision) {
            if !c.key.starts_with(prefix) {
                continue;
            }
            match &c.prev {
                Some(p) => objects.insert(c.key.as_str(), p.clone()),
                None => objects.remove(c.key.as_str()),
            };
        }
        let mut out = Vec::new();
        let after = |k: &&str| start_after.is_none_or(|s| *k > s);
        for (key, obj) in objects.into_iter().filter(|(k, o)| after(k) && keep(o)) {
            if limit > 0 && out.len() == limit {
                return Ok((out, true));
            }
            out.push((key.to_owned(), obj));
        }
        Ok((out, false))
    }

    /// The changes after `after` under `prefix` (at most `max`), and the revision to
    /// continue from. `None` when the window no longer reaches back to `after` (or the
    /// cache is not ready): the caller asks the store.
    pub fn changes(&self, prefix: &str, after: u64, max: usize) -> Option<(Vec<Change>, u64)> {
        let st = self.read();
        if !st.ready || after < st.oldest {
            return None;
        }
        let start = st.window.partition_point(|c| c.revision <= after);
        let mut out = Vec::new();
        for c in st.window.range(start..) {
            if !c.key.starts_with(prefix) {
                continue;
            }
            if out.len() == max {
                let last = out.last().map_or(after, |c: &Change| c.revision);
                return Some((out, last));
            }
            out.push(c.clone());
        }
        Some((out, st.revision.max(after)))
    }

    /// Replaces the content with a fresh list at `revision`.
    fn reset(&self, objects: BTreeMap<String, Entry>, revision: u64) {
        let mut st = self.write();
        st.objects = objects;
        st.window.clear();
        st.oldest = revision;
        st.revision = revision;
        st.ready = true;
        st.generation += 1;
        drop(st);
        self.revision.send_replace(revision);
    }

    /// Applies one batch of the store's watch. Batches are contiguous from where they
    /// start, which is never after the cache's revision, so applying the events newer
    /// than the cache in order is exact, whoever polled them.
    fn apply(&self, batch: &WatchBatch) {
        self.apply_at(batch, Instant::now());
    }

    /// [`Self::apply`] at `now`.
    fn apply_at(&self, batch: &WatchBatch, now: Instant) {
        let mut st = self.write();
        if !st.ready {
            return;
        }
        for e in &batch.events {
            let rev = e.kv.mod_revision;
            if rev <= st.revision {
                continue;
            }
            let key = e.kv.key.clone();
            let prev = st.objects.get(&key).map(|p| p.object.clone());
            // After a paged list, an entry can be newer than the replayed change.
            let newer = st.objects.get(&key).is_some_and(|p| p.revision > rev);
            match e.kind {
                EventKind::Put => {
                    let Some(obj) = decode(&key, &e.kv.value, rev) else {
                        continue;
                    };
                    let obj = Arc::new(obj);
                    if !newer {
                        st.objects.insert(
                            key.clone(),
                            Entry {
                                object: obj.clone(),
                                revision: rev,
                            },
                        );
                    }
                    st.window.push_back(Change {
                        revision: rev,
                        key,
                        object: obj,
                        prev,
                        deleted: false,
                        applied_at: now,
                    });
                }
                EventKind::Delete => {
                    if !newer {
                        st.objects.remove(&key);
                    }
                    let last = match (&e.prev, &prev) {
                        (Some(p), _) => decode(&key, &p.value, rev).map(Arc::new),
                        (None, Some(p)) => Some(p.clone()),
                        (None, None) => None,
                    };
                    if let Some(obj) = last {
                        st.window.push_back(Change {
                            revision: rev,
                            key,
                            object: obj,
                            prev,
                            deleted: true,
                            applied_at: now,
                        });
                    }
                }
            }
            st.revision = rev;
            st.generation += 1;
        }
        // Every poll of the feed ends here, with or without events (at least every
        // FEED_WAIT_MS), so stale changes leave even when nothing is written.
        let stale = |c: &Change| now.saturating_duration_since(c.applied_at) > WINDOW_FRESH;
        while st.window.len() > WINDOW
            || (st.window.len() > WINDOW_MIN && st.window.front().is_some_and(stale))
        {
            if let Some(c) = st.window.pop_front() {
                st.oldest = c.revision;
            }
        }
        let revision = st.revision.max(batch.revision);
        st.revision = revision;
        drop(st);
        self.revision.send_replace(revision);
    }
}

/// The cache's way to the store: every reply comes back with its Secrets opened.
struct StoreLink {
    bus: Bus,
    store: ActorRef,
    encryption: Arc<Encryption>,
}

impl StoreLink {
    async fn call(&self, req: StoreRequest, timeout: Duration) -> Result<StoreReply, BusError> {
        let reply = self.bus.call(self.store.clone(), req, timeout).await?;
        Ok(self.encryption.open_reply(reply))
    }
}

/// Lists the store into `cache`, then follows its watch; relists when the store's
/// history no longer reaches back to the cache. Failures and relists back off (100 ms
/// doubling to 5 s, reset by a successful poll) and log once per
/// [`crate::retry::LOG_EVERY`].
async fn feed(link: Arc<StoreLink>, cache: Arc<ResourceCache>) {
    let mut retry = FEED_RETRY;
    let mut log: LogLimiter<&'static str> = LogLimiter::default();
    loop {
        match list(&link, &cache.prefix).await {
            Ok((objects, revision)) => {
                debug!(prefix = %cache.prefix, objects = objects.len(), revision, "watch cache listed");
                cache.reset(objects, revision);
                log.clear(&"list");
            }
            Err(e) => {
                let pause = retry.failed();
                if let Some(suppressed) = log.admit(&"list", tokio::time::Instant::now()) {
                    warn!(prefix = %cache.prefix, error = %e, retry_in = ?pause, suppressed, "watch cache list failed");
                }
                tokio::time::sleep(pause).await;
                continue;
            }
        }
        loop {
            let req = StoreRequest::WatchPoll {
                prefix: cache.prefix.clone(),
                after: cache.revision(),
                max_events: 10_000,
                wait_ms: FEED_WAIT_MS,
            };
            let timeout = STORE_TIMEOUT + Duration::from_millis(u64::from(FEED_WAIT_MS));
            match link.call(req, timeout).await {
                Ok(StoreReply::Watch(batch)) => {
                    cache.apply(&batch);
                    retry.succeeded();
                    log.clear(&"poll");
                }
                Ok(StoreReply::Error(StoreError::Compacted { .. })) => {
                    // A history that keeps moving past every fresh list backs off too.
                    let pause = retry.failed();
                    debug!(prefix = %cache.prefix, retry_in = ?pause, "store history moved past the watch cache; relisting");
                    tokio::time::sleep(pause).await;
                    break;
                }
                other => {
                    let error = match other {
                        Ok(StoreReply::Error(e)) => e.to_string(),
                        Ok(_) => "unexpected reply".to_owned(),
                        Err(e) => e.to_string(),
                    };
                    let pause = retry.failed();
                    if let Some(suppressed) = log.admit(&"poll", tokio::time::Instant::now()) {
                        warn!(prefix = %cache.prefix, error, retry_in = ?pause, suppressed, "watch cache poll failed");
                    }
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

/// The watch cache's retries (see [`feed`]).
const FEED_RETRY: Retry = Retry::new(Duration::from_millis(100), Duration::from_secs(5));

async fn list(link: &StoreLink, prefix: &str) -> Result<(BTreeMap<String, Entry>, u64), String> {
    let mut objects = BTreeMap::new();
    let mut after: Option<String> = None;
    let mut first = None;
    loop {
        let req = StoreRequest::Range {
            prefix: prefix.to_owned(),
            start_after: after.clone(),
            limit: LIST_PAGE,
            consistency: Consistency::Linearizable,
        };
        let (kvs, more, revision) = match link.call(req, STORE_TIMEOUT).await {
            Ok(StoreReply::Range {
                kvs,
                more,
                revision,
            }) => (kvs, more, revision),
            Ok(StoreReply::Error(e)) => return Err(e.to_string()),
            Ok(_) => return Err("unexpected reply".into()),
            Err(e) => return Err(e.to_string()),
        };
        // Later pages may be newer than the first: the watch from the first page's
        // revision replays what changed meanwhile, and `apply` never lets a replayed
        // change overwrite a newer entry.
        first.get_or_insert(revision);
        after = kvs.last().map(|kv| kv.key.clone());
        for kv in kvs {
            if let Some(obj) = decode(&kv.key, &kv.value, kv.mod_revision) {
                objects.insert(
                    kv.key,
                    Entry {
                        object: Arc::new(obj),
                        revision: kv.mod_revision,
                    },
                );
            }
        }
        if !more {
            return Ok((objects, first.unwrap_or(0)));
        }
    }
}

#[cfg(test)]
mod tests {
    use rudder_protocol::messages::store::{KeyValue, WatchEvent};
    use serde_json::json;

    use super::*;

    fn cache() -> ResourceCache {
        ResourceCache {
            prefix: "/registry/pods/".into(),
            state: RwLock::new(State::default()),
            revision: watch::channel(0).0,
            task: Mutex::new(None),
        }
    }

    fn kv(key: &str, value: &str, rev: u64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: serde_json::to_vec(&json!({"metadata": {"name": value}})).unwrap_or_default(),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
        }
    }

    fn put(key: &str, value: &str, rev: u64, prev: Option<KeyValue>) -> WatchEvent {
        WatchEvent {
            kind: EventKind::Put,
            kv: kv(key, value, rev),
            prev,
        }
    }

    /// The objects listed (`name@resourceVersion`), or why not.
    type Want = Result<Vec<&'static str>, AtRevision>;

    fn names(objs: &[(String, Arc<Value>)]) -> Vec<String> {
        objs.iter()
            .map(|(_, o)| {
                format!(
                    "{}@{}",
                    o["metadata"]["name"].as_str().unwrap_or("?"),
                    o["metadata"]["resourceVersion"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }

    #[test]
    fn lists_at_an_exact_revision() {
        let c = cache();
        assert_eq!(
            c.list_at("/registry/pods/", None, 1, 0, |_| true).err(),
            Some(AtRevision::NotReady)
        );
        // Listed at 10: a@5. Then b created at 11, a changed at 12, b deleted at 13, and a
        // service-like key outside the prefix at 14.
        let mut objects = BTreeMap::new();
        objects.insert(
            "/registry/pods/d/a".to_owned(),
            Entry {
                object: Arc::new(
                    decode("/registry/pods/d/a", br#"{"metadata":{"name":"a"}}"#, 5)
                        .unwrap_or_default(),
                ),
                revision: 5,
            },
        );
        c.reset(objects, 10);
        let b11 = kv("/registry/pods/d/b", "b", 11);
        let a5 = kv("/registry/pods/d/a", "a", 5);
        let mut deleted_b = kv("/registry/pods/d/b", "", 13);
        deleted_b.value.clear();
        c.apply(&WatchBatch {
            events: vec![
                put("/registry/pods/d/b", "b", 11, None),
                put("/registry/pods/d/a", "a2", 12, Some(a5)),
                WatchEvent {
                    kind: EventKind::Delete,
                    kv: deleted_b,
                    prev: Some(b11),
                },
                put("/registry/podsx/d/z", "z", 14, None),
            ],
            revision: 14,
            compact_revision: 0,
        });
        let cases: [(&str, u64, usize, Want); 7] = [
            (
                "before the window",
                9,
                0,
                Err(AtRevision::TooOld { oldest: 10 }),
            ),
            ("at the list", 10, 0, Ok(vec!["a@5"])),
            ("after the create", 11, 0, Ok(vec!["a@5", "b@11"])),
            ("after the update", 12, 0, Ok(vec!["a2@12", "b@11"])),
            ("after the delete", 13, 0, Ok(vec!["a2@12"])),
            ("limited", 11, 1, Ok(vec!["a@5"])),
            (
                "not reached yet",
                15,
                0,
                Err(AtRevision::TooNew { current: 14 }),
            ),
        ];
        for (name, rev, limit, want) in cases {
            let got = c
                .list_at("/registry/pods/", None, rev, limit, |_| true)
                .map(|(objs, _)| names(&objs));
            let want = want.map(|w| w.into_iter().map(str::to_owned).collect::<Vec<_>>());
            assert_eq!(got, want, "{name}");
        }
        let (_, more) = c
            .list_at("/registry/pods/", None, 11, 1, |_| true)
            .unwrap_or_default();
        assert!(more, "a limited exact list says more follow");
        let (only_b, _) = c
            .list_at("/registry/pods/", None, 11, 0, |o| {
                o["metadata"]["name"] == "b"
            })
            .unwrap_or_default();
        assert_eq!(names(&only_b), ["b@11"]);
        // The next page of a paged list: after a key, at the first page's revision.
        let (rest, more) = c
            .list_at("/registry/pods/", Some("/registry/pods/d/a"), 12, 0, |_| {
                true
            })
            .unwrap_or_default();
        assert_eq!((names(&rest), more), (vec!["b@11".to_owned()], false));
    }

    #[test]
    fn stale_changes_leave_the_window_down_to_its_minimum() {
        let c = cache();
        c.reset(BTreeMap::new(), 10);
        let start = Instant::now();
        let burst = WINDOW_MIN as u64 + 50;
        let events = (0..burst)
            .map(|i| put(&format!("/registry/pods/d/p{i}"), "p", 11 + i, None))
            .collect();
        let last = 10 + burst;
        c.apply_at(
            &WatchBatch {
                events,
                revision: last,
                compact_revision: 0,
            },
            start,
        );
        let quiet = |c: &ResourceCache, at: Instant| {
            c.apply_at(
                &WatchBatch {
                    events: Vec::new(),
                    revision: last,
                    compact_revision: 0,
                },
                at,
            )
        };
        // Fresh: the whole burst is there for a watch from before it.
        quiet(&c, start + WINDOW_FRESH / 2);
        let (all, _) = c
            .changes("/registry/pods/", 10, usize::MAX)
            .unwrap_or_default();
        assert_eq!(all.len(), burst as usize);
        // Stale: the oldest go (an empty poll is enough), the newest WINDOW_MIN stay, and
        // a watch from before them is sent to the store.
        quiet(&c, start + WINDOW_FRESH + Duration::from_secs(1));
        assert!(c.changes("/registry/pods/", 10, usize::MAX).is_none());
        let oldest = last - WINDOW_MIN as u64;
        let (kept, _) = c
            .changes("/registry/pods/", oldest, usize::MAX)
            .unwrap_or_default();
        assert_eq!(kept.len(), WINDOW_MIN);
        assert_eq!(
            c.list_at("/registry/pods/", None, oldest - 1, 0, |_| true)
                .err(),
            Some(AtRevision::TooOld { oldest })
        );
        // The objects themselves stay.
        let (objects, _) = c
            .list_at("/registry/pods/", None, last, 0, |_| true)
            .unwrap_or_default();
        assert_eq!(objects.len(), burst as usize);
    }
}
