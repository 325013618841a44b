//! Linearizability of a history of reads and writes against a key-value register model.
//!
//! A history is a list of [`Op`]s, each with its invocation and completion times as the
//! client saw them. An operation whose outcome is unknown (it timed out, or its node
//! died) is *indeterminate*: give it `ret: None`; it may have taken effect at any time
//! after its invocation, or never (for a write, placing it after everything else is
//! always possible, so "never" needs no special case; an indeterminate read tells
//! nothing and is best left out).
//!
//! Linearizability is local (Herlihy & Wing): a history is linearizable iff each key's
//! sub-history is, so [`check`] splits by key and runs [`check_key`], the WGL search:
//! repeatedly pick an operation that may go next (invoked before every pending
//! operation's completion), apply it to the model, backtrack on a mismatch. Visited
//! (set of linearized operations, register value) pairs are memoised, which keeps the
//! search polynomial in practice for histories with little concurrency.

use std::collections::{BTreeMap, HashSet};

/// What an operation did.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// Set the key to this value.
    Write(String),
    /// Read the key and found this (None: absent).
    Read(Option<String>),
}

/// One client operation on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// Which client did it (for reports).
    pub client: usize,
    /// The key.
    pub key: String,
    /// The operation and its result.
    pub action: Action,
    /// Invocation time (any monotonic unit, e.g. microseconds since the test started).
    pub call: u64,
    /// Completion time; `None` for an indeterminate operation.
    pub ret: Option<u64>,
}

/// Why a history is not linearizable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The key whose sub-history fails.
    pub key: String,
    /// The most operations the search managed to linearize.
    pub linearized: usize,
    /// Operations of the key.
    pub ops: usize,
    /// Completed operations that could never be placed after the longest prefix found.
    pub stuck: Vec<Op>,
    /// True when the search gave up after [`MAX_STATES`] states (no verdict).
    pub inconclusive: bool,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "key {}: {} ({} of {} ops placed at best); next ops that fit nowhere: {:?}",
            self.key,
            if self.inconclusive {
                "search too large, inconclusive"
            } else {
                "not linearizable"
            },
            self.linearized,
            self.ops,
            self.stuck
        )
    }
}

/// Most search states visited per key before giving up as inconclusive.
pub const MAX_STATES: usize = 2_000_000;

/// Checks a whole history, key by key. Returns the number of operations checked.
///
/// Indeterminate writes whose value no read returned are left out first: nothing bounds
/// them, so they can always be placed after every other operation, where they change
/// nothing observed. (Kept in, each doubles the states the search may visit.)
pub fn check(history: &[Op]) -> Result<usize, Violation> {
    let observed: HashSet<(&str, &str)> = history
        .iter()
        .filter_map(|o| match &o.action {
            Action::Read(Some(v)) => Some((o.key.as_str(), v.as_str())),
            _ => None,
        })
        .collect();
    let mut by_key: BTreeMap<&str, Vec<Op>> = BTreeMap::new();
    for op in history {
        if let (Action::Write(v), None) = (&op.action, op.ret) {
            if !observed.contains(&(op.key.as_str(), v.as_str())) {
                continue;
            }
        }
        by_key.entry(&op.key).or_default().push(op.clone());
    }
    let mut n = 0;
    for ops in by_key.into_values() {
        n += ops.len();
        check_key(ops)?;
    }
    Ok(n)
}

/// A fixed-size bit set of linearized operations.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// The WGL search on the operations of one key (all with the same key).
pub fn check_key(mut ops: Vec<Op>) -> Result<(), Violation> {
    let key = ops.first().map(|o| o.key.clone()).unwrap_or_default();
    ops.sort_by_key(|o| (o.call, o.ret.unwrap_or(u64::MAX)));
    let n = ops.len();
    let ret: Vec<u64> = ops.iter().map(|o| o.ret.unwrap_or(u64::MAX)).collect();
    let required = ops.iter().filter(|o| o.ret.is_some()).count();

    let mut done = Bits::new(n);
    let mut done_required = 0usize;
    let mut value: Option<String> = None;
    let mut seen: HashSet<(Bits, Option<String>)> = HashSet::new();
    // The explicit stack of choices: (op index, value before it).
    let mut stack: Vec<(usize, Option<String>)> = Vec::new();
    let mut best = 0usize;
    let mut best_stuck: Vec<Op> = Vec::new();
    // Where to resume looking for the next candidate at the current depth.
    let mut from = 0usize;
    loop {
        if done_required == required {
            return Ok(());
        }
        // The earliest completion among pending ops bounds who may go next.
        let min_ret = (0..n)
            .filter(|&i| !done.get(i))
            .map(|i| ret[i])
            .min()
            .unwrap_or(u64::MAX);
        let mut advanced = false;
        let mut i = from;
        while i < n && ops[i].call <= min_ret {
            if !done.get(i) {
                let next = match &ops[i].action {
                    Action::Write(v) => Some(Some(v.clone())),
                    Action::Read(r) if *r == value => Some(value.clone()),
                    Action::Read(_) => None,
                };
                if let Some(next) = next {
                    let mut d = done.clone();
                    d.set(i);
                    if seen.insert((d.clone(), next.clone())) {
                        stack.push((i, value.clone()));
                        done = d;
                        if ops[i].ret.is_some() {
                            done_required += 1;
                        }
                        value = next;
                        advanced = true;
                        break;
                    }
                }
            }
            i += 1;
        }
        if seen.len() > MAX_STATES {
            return Err(Violation {
                key,
                linearized: best,
                ops: n,
                stuck: best_stuck,
                inconclusive: true,
            });
        }
        if advanced {
            if stack.len() > best {
                best = stack.len();
            }
            from = 0;
            continue;
        }
        if stack.len() >= best && best_stuck.is_empty() {
            best_stuck = (0..n)
                .filter(|&j| !done.get(j) && ops[j].ret.is_some() && ops[j].call <= min_ret)
                .map(|j| ops[j].clone())
                .take(4)
                .collect();
        }
        // Backtrack: undo the last choice and try the ones after it.
        let Some((last, before)) = stack.pop() else {
            return Err(Violation {
                key,
                linearized: best,
                ops: n,
                stuck: best_stuck,
                inconclusive: false,
            });
        };
        done.clear(last);
        if ops[last].ret.is_some() {
            done_required -= 1;
        }
        value = before;
        from = last + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(client: usize, v: &str, call: u64, ret: Option<u64>) -> Op {
        Op {
            client,
            key: "k".into(),
            action: Action::Write(v.into()),
            call,
            ret,
        }
    }

    fn r(client: usize, v: Option<&str>, call: u64, ret: u64) -> Op {
        Op {
            client,
            key: "k".into(),
            action: Action::Read(v.map(str::to_owned)),
            call,
            ret: Some(ret),
        }
    }

    #[test]
    fn known_histories() {
        let cases: Vec<(&str, Vec<Op>, bool)> = vec![
            ("empty", vec![], true),
            ("read of nothing", vec![r(0, None, 0, 1)], true),
            (
                "concurrent read sees the write",
                vec![w(0, "1", 0, Some(10)), r(1, Some("1"), 5, 15)],
                true,
            ),
            (
                "concurrent read misses the write",
                vec![w(0, "1", 0, Some(10)), r(1, None, 5, 15)],
                true,
            ),
            (
                "stale read after the write completed",
                vec![w(0, "1", 0, Some(10)), r(1, None, 20, 30)],
                false,
            ),
            (
                "lost update: older value after a newer write",
                vec![
                    w(0, "1", 0, Some(10)),
                    w(0, "2", 20, Some(30)),
                    r(1, Some("1"), 40, 50),
                ],
                false,
            ),
            (
                "two concurrent writes, reads agree on one order",
                vec![
                    w(0, "1", 0, Some(10)),
                    w(1, "2", 5, Some(30)),
                    r(2, Some("1"), 15, 20),
                    r(2, Some("2"), 35, 40),
                ],
                true,
            ),
            (
                "two concurrent writes, reads disagree on the order",
                vec![
                    w(0, "1", 0, Some(30)),
                    w(1, "2", 0, Some(30)),
                    r(2, Some("1"), 40, 50),
                    r(3, Some("2"), 60, 70),
                ],
                false,
            ),
            (
                "read from the future",
                vec![r(0, Some("2"), 0, 5), w(1, "2", 10, Some(20))],
                false,
            ),
            (
                "indeterminate write seen later",
                vec![w(0, "3", 0, None), r(1, Some("3"), 50, 60)],
                true,
            ),
            (
                "indeterminate write never seen",
                vec![w(0, "3", 0, None), r(1, None, 50, 60)],
                true,
            ),
            (
                "indeterminate write cannot go back in time",
                vec![
                    w(0, "1", 0, Some(5)),
                    w(1, "3", 10, None),
                    r(2, Some("3"), 20, 30),
                    r(2, Some("1"), 40, 50),
                ],
                false,
            ),
            (
                "new-old inversion between readers",
                vec![
                    w(0, "1", 0, Some(100)),
                    r(1, Some("1"), 10, 20),
                    r(2, None, 30, 40),
                ],
                false,
            ),
        ];
        for (name, ops, want) in cases {
            let got = check(&ops);
            assert_eq!(got.is_ok(), want, "{name}: {got:?}");
        }
    }

    #[test]
    fn many_unobserved_indeterminate_writes_are_cheap() {
        // 40 timed-out writes nobody read, then a stale read: still found quickly.
        let mut ops: Vec<Op> = (0..40)
            .map(|i| w(i, &format!("t{i}"), i as u64, None))
            .collect();
        ops.push(w(50, "1", 100, Some(110)));
        ops.push(r(51, Some("1"), 120, 130));
        assert_eq!(check(&ops), Ok(2));
        ops.push(r(51, None, 140, 150));
        assert!(check(&ops).is_err());
    }

    #[test]
    fn keys_are_independent() {
        let mut a = w(0, "1", 0, Some(10));
        a.key = "a".into();
        let mut b = r(1, Some("1"), 20, 30);
        b.key = "b".into();
        // Reading "1" from b is impossible: nothing wrote b.
        let err = check(&[a.clone(), b]).expect_err("b was never written");
        assert_eq!(err.key, "b");
        let mut b2 = r(1, None, 20, 30);
        b2.key = "b".into();
        assert_eq!(check(&[a, b2]), Ok(2));
    }

    #[test]
    fn a_long_concurrent_history_is_checked_quickly() {
        // 4 clients, 300 rounds each, overlapping in every round: writes then reads of
        // the round's winner (the last writer by call time).
        let mut ops = Vec::new();
        for round in 0..300u64 {
            let t = round * 100;
            for c in 0..4u64 {
                ops.push(w(
                    c as usize,
                    &format!("{round}-{c}"),
                    t + c,
                    Some(t + 40 + c),
                ));
            }
            for c in 0..4u64 {
                ops.push(r(
                    c as usize,
                    Some(&format!("{round}-3")),
                    t + 50 + c,
                    t + 90,
                ));
            }
        }
        let started = std::time::Instant::now();
        assert_eq!(check(&ops), Ok(2400));
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        // And one stale read at the end is found.
        ops.push(r(0, Some("0-3"), 1_000_000, 1_000_001));
        assert!(check(&ops).is_err());
    }
}
