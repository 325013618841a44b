//! The watches being served right now, per resource, namespace and whether selectors
//! narrow them (what Kubernetes exports as `apiserver_registered_watchers`), read at
//! `GET /debug/watchers`.
//!
//! Watches are long polls here: an informer holds one poll open nearly all the time and
//! opens the next as soon as one returns, so the count of open polls is the count of
//! watchers, give or take the instant between two polls.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

/// What a watch is counted under.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct WatchKey {
    /// `<group>/<plural>`, or the plural alone for the core group.
    pub resource: String,
    /// The namespace watched; empty for all namespaces.
    pub namespace: String,
    /// Whether label or field selectors narrow it.
    pub selective: bool,
}

/// The counts of open watches. Cheap to clone; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct Watchers(Arc<Mutex<BTreeMap<WatchKey, usize>>>);

/// One open watch; dropping it (the poll answered or abandoned) closes it.
#[derive(Debug)]
pub struct OpenWatch {
    watchers: Watchers,
    key: WatchKey,
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        let mut open = self.watchers.lock();
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl Watchers {
    /// The counts are plain numbers changed in one step: a poisoned lock is still right.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<WatchKey, usize>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a watch until the returned guard is dropped.
    pub fn open(&self, key: WatchKey) -> OpenWatch {
        *self.lock().entry(key.clone()).or_default() += 1;
        OpenWatch {
            watchers: self.clone(),
            key,
        }
    }

    /// Every key with its count of open watches.
    pub fn snapshot(&self) -> Vec<(WatchKey, usize)> {
        self.lock().iter().map(|(k, n)| (k.clone(), *n)).collect()
    }

    /// The `/debug/watchers` document: `{"watchers": [{resource, namespace, selective,
    /// count}, ...]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self
            .snapshot()
            .into_iter()
            .map(|(k, count)| {
                serde_json::json!({
                    "resource": k.resource,
                    "namespace": k.namespace,
                    "selective": k.selective,
                    "count": count,
                })
            })
            .collect();
        serde_json::json!({ "watchers": rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(resource: &str, selective: bool) -> WatchKey {
        WatchKey {
            resource: resource.into(),
            namespace: String::new(),
            selective,
        }
    }

    #[test]
    fn open_watches_are_counted_until_dropped() {
        let w = Watchers::default();
        let a = w.open(key("pods", false));
        let b = w.open(key("pods", false));
        let c = w.open(key("pods", true));
        assert_eq!(
            w.snapshot(),
            [(key("pods", false), 2), (key("pods", true), 1)]
        );
        drop(a);
        drop(c);
        assert_eq!(w.snapshot(), [(key("pods", false), 1)]);
        drop(b);
        assert!(w.snapshot().is_empty());
        assert_eq!(w.to_json(), serde_json::json!({"watchers": []}));
    }
}
