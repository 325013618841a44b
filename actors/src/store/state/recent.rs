//! [`RecentChanges`]: the keys the latest applies changed, by revision, kept in memory.
//!
//! Every apply that writes wakes every watch long poll of the replica (they wait on the
//! applied revision), and there is one per watched prefix: the API server's watch cache
//! alone watches one prefix per resource. Most of them watch something the apply did not
//! touch. With this ring, a poll that is caught up sees that in memory and goes back to
//! waiting, instead of taking a RocksDB snapshot and reading the history; the store's
//! runtime, which also drives Raft, is not held up by dozens of reads after each write.

use std::collections::VecDeque;
use std::sync::Arc;

/// Changes kept; older ones are forgotten (a poll that far behind reads the database).
const KEPT: usize = 4096;

/// The keys changed after a revision, oldest first. See the module docs.
#[derive(Debug)]
pub(crate) struct RecentChanges {
    /// Every change at a revision above this one is in `changes`.
    covered_after: u64,
    changes: VecDeque<(u64, Arc<str>)>,
}

impl RecentChanges {
    /// Nothing known yet beyond `revision`, the applied revision.
    pub(crate) fn new(revision: u64) -> Self {
        RecentChanges {
            covered_after: revision,
            changes: VecDeque::new(),
        }
    }

    /// `key` changed at `revision` (revisions arrive in order).
    pub(crate) fn push(&mut self, revision: u64, key: &str) {
        while self.changes.len() >= KEPT {
            if let Some((forgotten, _)) = self.changes.pop_front() {
                self.covered_after = self.covered_after.max(forgotten);
            }
        }
        self.changes.push_back((revision, Arc::from(key)));
    }

    /// History up to `revision` was compacted: a watch from before it must read the
    /// database (and learn that it was compacted).
    pub(crate) fn forget_through(&mut self, revision: u64) {
        if revision > self.covered_after {
            self.covered_after = revision;
            while self.changes.front().is_some_and(|(r, _)| *r <= revision) {
                self.changes.pop_front();
            }
        }
    }

    /// The state was replaced wholesale (a snapshot installed) at `revision`: nothing
    /// before it is known.
    pub(crate) fn reset(&mut self, revision: u64) {
        self.covered_after = revision;
        self.changes.clear();
    }

    /// Whether a key under `prefix` changed after revision `after`: `None` when the
    /// ring does not reach back that far (ask the database).
    pub(crate) fn moved_under(&self, prefix: &str, after: u64) -> Option<bool> {
        if after < self.covered_after {
            return None;
        }
        Some(
            self.changes
                .iter()
                .rev()
                .take_while(|(revision, _)| *revision > after)
                .any(|(_, key)| key.starts_with(prefix)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_only_for_the_revisions_it_covers() {
        let mut r = RecentChanges::new(10);
        assert_eq!(r.moved_under("/a/", 9), None, "before the ring started");
        assert_eq!(r.moved_under("/a/", 10), Some(false));
        r.push(11, "/a/x");
        r.push(12, "/b/y");
        assert_eq!(r.moved_under("/a/", 10), Some(true));
        assert_eq!(
            r.moved_under("/a/", 11),
            Some(false),
            "only /b/ moved after 11"
        );
        assert_eq!(r.moved_under("/b/", 11), Some(true));
        assert_eq!(r.moved_under("/c/", 10), Some(false));
        r.forget_through(11);
        assert_eq!(r.moved_under("/a/", 10), None, "compacted history");
        assert_eq!(r.moved_under("/b/", 11), Some(true));
        r.reset(20);
        assert_eq!(
            r.moved_under("/a/", 12),
            None,
            "a snapshot replaced the state"
        );
        assert_eq!(r.moved_under("/a/", 20), Some(false));
    }

    #[test]
    fn forgetting_old_changes_narrows_what_it_covers() {
        let mut r = RecentChanges::new(0);
        for revision in 1..=(KEPT as u64 + 5) {
            r.push(revision, "/k");
        }
        assert_eq!(r.changes.len(), KEPT);
        assert_eq!(r.moved_under("/k", 4), None);
        assert_eq!(r.moved_under("/k", 5), Some(true));
        assert_eq!(r.moved_under("/k", KEPT as u64 + 5), Some(false));
    }
}
