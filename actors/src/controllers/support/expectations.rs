//! Expectations (client-go's `UIDTrackingControllerExpectations`): the creations and
//! deletions a controller has issued for a key but not yet seen in its cache. While they
//! are unmet the controller does not create or delete again for that key, so a slow
//! watch cannot make it act twice; after [`EXPECTATIONS_TTL`] they are ignored, so a
//! lost event cannot block it forever.
//!
//! [`Expectations`] is the plain value a pure plan reads; [`ControllerExpectations`] is
//! the map a controller keeps per key and feeds from its informer handlers
//! ([`ControllerExpectations::observe`]) and its writers. Both are soft state: a
//! restarted controller starts with none, which only means it trusts its fresh cache.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rudder_protocol::resources::{Resource, Time};

use crate::informer::{Change, ObjectKey};

/// How long expectations may stay unmet before they are ignored (client-go's
/// `ExpectationsTimeout`).
pub const EXPECTATIONS_TTL: Duration = Duration::from_secs(5 * 60);

/// Creations and deletions a controller has issued for one key but not yet observed.
/// A plain value: the plan reads it, [`ControllerExpectations`] keeps one per key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    creates: i64,
    deletes: BTreeSet<String>,
    set_at: Option<Time>,
}

impl Expectations {
    /// Expects `creates` new objects and the deletion of the objects with these uids.
    pub fn expect(creates: usize, deletes: impl IntoIterator<Item = String>, now: Time) -> Self {
        Expectations {
            creates: i64::try_from(creates).unwrap_or(i64::MAX),
            deletes: deletes.into_iter().collect(),
            set_at: Some(now),
        }
    }

    /// An object of this owner appeared.
    pub fn observe_created(&mut self) {
        self.creates -= 1;
    }

    /// `n` creations will never be observed (they failed or were skipped).
    pub fn creations_failed(&mut self, n: usize) {
        self.creates -= i64::try_from(n).unwrap_or(i64::MAX);
    }

    /// The object with `uid` was deleted or started terminating (idempotent).
    pub fn observe_deleted(&mut self, uid: &str) {
        self.deletes.remove(uid);
    }

    /// Creations still awaited.
    pub fn pending_creates(&self) -> i64 {
        self.creates.max(0)
    }

    /// Deletions still awaited.
    pub fn pending_deletes(&self) -> usize {
        self.deletes.len()
    }

    /// Whether the controller may act: everything observed, or the expectations are
    /// older than [`EXPECTATIONS_TTL`] (a lost watch event must not block it forever).
    pub fn is_satisfied(&self, now: Time) -> bool {
        let met = self.creates <= 0 && self.deletes.is_empty();
        let expired = self.set_at.is_some_and(|t| {
            now.0.saturating_sub(t.0) >= i64::try_from(EXPECTATIONS_TTL.as_secs()).unwrap_or(0)
        });
        met || expired
    }
}

/// A controller's expectations, one [`Expectations`] per key. Cheap to clone; clones
/// share the map (the informer handlers observe, the workers expect).
#[derive(Debug, Clone, Default)]
pub struct ControllerExpectations {
    map: Arc<Mutex<HashMap<ObjectKey, Expectations>>>,
}

impl ControllerExpectations {
    /// Takes the lock even if a panicking holder poisoned it: every method changes the
    /// map in one step.
    fn lock(&self) -> MutexGuard<'_, HashMap<ObjectKey, Expectations>> {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The expectations of `key` (none: satisfied).
    pub fn get(&self, key: &ObjectKey) -> Expectations {
        self.lock().get(key).cloned().unwrap_or_default()
    }

    /// Replaces the expectations of `key` (before issuing the writes they expect).
    pub fn set(&self, key: ObjectKey, expectations: Expectations) {
        self.lock().insert(key, expectations);
    }

    /// Forgets `key` (its owner is gone).
    pub fn delete(&self, key: &ObjectKey) {
        self.lock().remove(key);
    }

    /// Changes the expectations of `key`, if it has any.
    pub fn update(&self, key: &ObjectKey, f: impl FnOnce(&mut Expectations)) {
        if let Some(e) = self.lock().get_mut(key) {
            f(e);
        }
    }

    /// Feeds a change of an object controlled by `key` into its expectations, as
    /// Kubernetes' replica set controller does: an object that appears counts as
    /// created (or, already terminating, as deleted); one that starts terminating or
    /// goes counts as deleted.
    pub fn observe<X: Resource>(&self, key: &ObjectKey, change: &Change<X>) {
        let terminating = |o: &X| o.metadata().deletion_timestamp.is_some();
        match change {
            Change::Added(o) if terminating(o) => {
                self.update(key, |e| e.observe_deleted(&o.metadata().uid));
            }
            Change::Added(_) => self.update(key, Expectations::observe_created),
            Change::Modified { old, new } if terminating(new) && !terminating(old) => {
                self.update(key, |e| e.observe_deleted(&new.metadata().uid));
            }
            Change::Modified { .. } => {}
            Change::Deleted(o) => self.update(key, |e| e.observe_deleted(&o.metadata().uid)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::resources::Pod;
    use std::sync::Arc;

    #[test]
    fn expectations_lifecycle() {
        let mut e = Expectations::expect(2, ["u1".to_owned()], Time(100));
        assert!(!e.is_satisfied(Time(100)));
        e.observe_created();
        e.observe_deleted("u1");
        e.observe_deleted("u1");
        assert!(!e.is_satisfied(Time(101)), "one creation still pending");
        e.creations_failed(1);
        assert!(e.is_satisfied(Time(101)));
        let stale = Expectations::expect(1, [], Time(100));
        assert!(!stale.is_satisfied(Time(399)));
        assert!(stale.is_satisfied(Time(400)), "expires after five minutes");
        assert!(Expectations::default().is_satisfied(Time(0)));
    }

    fn pod(uid: &str, terminating: bool) -> Arc<Pod> {
        let mut p = Pod::new(uid);
        p.metadata.uid = uid.into();
        if terminating {
            p.metadata.deletion_timestamp = Some(Time(1));
        }
        Arc::new(p)
    }

    #[test]
    fn observed_changes_table() {
        // (name, changes observed, pending creates, pending deletes) after expecting two
        // creations and the deletion of "x" and "y".
        let table: Vec<(&str, Vec<Change<Pod>>, i64, usize)> = vec![
            ("nothing seen", vec![], 2, 2),
            (
                "an added pod is a creation",
                vec![Change::Added(pod("n1", false))],
                1,
                2,
            ),
            (
                "more creations than expected stay at zero",
                vec![
                    Change::Added(pod("n1", false)),
                    Change::Added(pod("n2", false)),
                    Change::Added(pod("n3", false)),
                ],
                0,
                2,
            ),
            (
                "an added terminating pod is a deletion, not a creation",
                vec![Change::Added(pod("x", true))],
                2,
                1,
            ),
            (
                "starting to terminate is a deletion",
                vec![Change::Modified {
                    old: pod("x", false),
                    new: pod("x", true),
                }],
                2,
                1,
            ),
            (
                "an update of a terminating pod is nothing new",
                vec![Change::Modified {
                    old: pod("x", true),
                    new: pod("x", true),
                }],
                2,
                2,
            ),
            (
                "a plain update is nothing",
                vec![Change::Modified {
                    old: pod("n1", false),
                    new: pod("n1", false),
                }],
                2,
                2,
            ),
            (
                "deletions count once per uid",
                vec![
                    Change::Deleted(pod("x", false)),
                    Change::Deleted(pod("x", false)),
                    Change::Deleted(pod("y", true)),
                ],
                2,
                0,
            ),
            (
                "a pod we did not expect to delete changes nothing",
                vec![Change::Deleted(pod("z", false))],
                2,
                2,
            ),
        ];
        let key = ObjectKey::namespaced("default", "web");
        for (name, changes, creates, deletes) in table {
            let exp = ControllerExpectations::default();
            exp.set(
                key.clone(),
                Expectations::expect(2, ["x".to_owned(), "y".to_owned()], Time(10)),
            );
            for c in &changes {
                exp.observe(&key, c);
            }
            let got = exp.get(&key);
            assert_eq!(got.pending_creates(), creates, "{name}: creates");
            assert_eq!(got.pending_deletes(), deletes, "{name}: deletes");
            assert_eq!(
                got.is_satisfied(Time(10)),
                creates == 0 && deletes == 0,
                "{name}: satisfied"
            );
        }
    }

    #[test]
    fn keys_without_expectations_are_satisfied_and_observing_them_is_harmless() {
        let exp = ControllerExpectations::default();
        let key = ObjectKey::namespaced("default", "web");
        exp.observe(&key, &Change::Added(pod("n1", false)));
        assert_eq!(exp.get(&key), Expectations::default());
        assert!(exp.get(&key).is_satisfied(Time(0)));
        exp.set(key.clone(), Expectations::expect(1, [], Time(0)));
        exp.delete(&key);
        assert!(
            exp.get(&key).is_satisfied(Time(0)),
            "forgotten with its owner"
        );
    }
}
