//! The state machine as a whole: transactions, history, ranges, snapshots, reopening
//! and the checks of [`open`].

use std::io::Cursor;
use std::path::Path;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::{
    BasicNode, CommittedLeaderId, EntryPayload, Membership, RaftLogReader, RaftSnapshotBuilder,
    SnapshotMeta,
};
use rocksdb::{IteratorMode, Options, DB};
use rudder_protocol::messages::store::{
    CmpOp, Compare, CompareTarget, EventKind, KeyValue, OpResult, StoreError, Txn, TxnOp,
    TxnResponse, WatchEvent,
};

use crate::store::log::LogStore;
use crate::store::types::{log_id_to_wire, Entry, LogId, TypeConfig};

use tempfile::TempDir;

use super::read::*;
use super::*;

fn put(key: &str, value: &str) -> TxnOp {
    TxnOp::Put {
        key: key.into(),
        value: value.as_bytes().to_vec(),
    }
}

fn del(key: &str) -> TxnOp {
    TxnOp::Delete { key: key.into() }
}

fn get(key: &str) -> TxnOp {
    TxnOp::Get { key: key.into() }
}

fn ops(success: Vec<TxnOp>) -> Txn {
    Txn {
        compares: vec![],
        success,
        failure: vec![],
    }
}

fn cmp(key: &str, op: CmpOp, target: CompareTarget) -> Compare {
    Compare {
        key: key.into(),
        op,
        target,
    }
}

fn kv(key: &str, value: &str, create: u64, modified: u64, version: u64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.as_bytes().to_vec(),
        create_revision: create,
        mod_revision: modified,
        version,
    }
}

fn log_id(index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(1, 1), index)
}

/// A fresh store in a temporary directory, and the next log index to apply.
struct Harness {
    dir: TempDir,
    log: LogStore,
    sm: StateMachine,
    reader: StateReader,
    index: u64,
}

impl Harness {
    fn new(history_limit: u64) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, sm, reader) = open(dir.path(), history_limit).expect("open");
        Harness {
            dir,
            log,
            sm,
            reader,
            index: 0,
        }
    }

    fn entry(&mut self, payload: EntryPayload<TypeConfig>) -> Entry {
        self.index += 1;
        Entry {
            log_id: log_id(self.index),
            payload,
        }
    }

    /// Applies all `txns` in one call.
    async fn apply(&mut self, txns: Vec<Txn>) -> Vec<TxnResponse> {
        let entries: Vec<Entry> = txns
            .into_iter()
            .map(|t| self.entry(EntryPayload::Normal(vec![t])))
            .collect();
        self.sm
            .apply(entries)
            .await
            .expect("apply")
            .into_iter()
            .flatten()
            .collect()
    }

    /// Applies `txns` one call each.
    async fn apply_each(&mut self, txns: Vec<Txn>) -> Vec<TxnResponse> {
        let mut out = Vec::new();
        for t in txns {
            out.extend(self.apply(vec![t]).await);
        }
        out
    }

    fn history_len(&self) -> usize {
        let history = cf(&self.sm.db, CF_HISTORY).expect("history cf");
        self.sm.db.iterator_cf(history, IteratorMode::Start).count()
    }
}

#[tokio::test]
async fn txn_semantics() {
    struct Case {
        name: &'static str,
        before: Vec<Txn>,
        txn: Txn,
        succeeded: bool,
        revision: u64,
        results: Vec<OpResult>,
        after: Vec<(&'static str, Option<KeyValue>)>,
    }
    let cases = vec![
        Case {
            name: "create-only on an absent key",
            before: vec![],
            txn: Txn {
                compares: vec![cmp("k", CmpOp::Equal, CompareTarget::Version(0))],
                success: vec![put("k", "v1")],
                failure: vec![],
            },
            succeeded: true,
            revision: 1,
            results: vec![OpResult::Put { prev: None }],
            after: vec![("k", Some(kv("k", "v1", 1, 1, 1)))],
        },
        Case {
            name: "create-only on a present key runs the failure branch",
            before: vec![ops(vec![put("k", "v1")])],
            txn: Txn {
                compares: vec![cmp("k", CmpOp::Equal, CompareTarget::Version(0))],
                success: vec![put("k", "v2")],
                failure: vec![get("k")],
            },
            succeeded: false,
            revision: 1,
            results: vec![OpResult::Get {
                kv: Some(kv("k", "v1", 1, 1, 1)),
            }],
            after: vec![("k", Some(kv("k", "v1", 1, 1, 1)))],
        },
        Case {
            name: "CAS on the current mod revision",
            before: vec![
                ops(vec![put("k", "v1")]),
                ops(vec![put("other", "x")]),
                ops(vec![put("k", "v2")]),
            ],
            txn: Txn {
                compares: vec![cmp("k", CmpOp::Equal, CompareTarget::ModRevision(3))],
                success: vec![put("k", "v3")],
                failure: vec![],
            },
            succeeded: true,
            revision: 4,
            results: vec![OpResult::Put {
                prev: Some(kv("k", "v2", 1, 3, 2)),
            }],
            after: vec![("k", Some(kv("k", "v3", 1, 4, 3)))],
        },
        Case {
            name: "CAS on a stale mod revision writes nothing",
            before: vec![ops(vec![put("k", "v1")]), ops(vec![put("k", "v2")])],
            txn: Txn {
                compares: vec![cmp("k", CmpOp::Equal, CompareTarget::ModRevision(1))],
                success: vec![put("k", "v3")],
                failure: vec![],
            },
            succeeded: false,
            revision: 2,
            results: vec![],
            after: vec![("k", Some(kv("k", "v2", 1, 2, 2)))],
        },
        Case {
            name: "one revision for a txn writing several keys",
            before: vec![],
            txn: ops(vec![put("a", "1"), put("b", "2"), get("a")]),
            succeeded: true,
            revision: 1,
            results: vec![
                OpResult::Put { prev: None },
                OpResult::Put { prev: None },
                OpResult::Get {
                    kv: Some(kv("a", "1", 1, 1, 1)),
                },
            ],
            after: vec![
                ("a", Some(kv("a", "1", 1, 1, 1))),
                ("b", Some(kv("b", "2", 1, 1, 1))),
            ],
        },
        Case {
            name: "version counts every put, two in one txn included",
            before: vec![ops(vec![put("k", "v1")])],
            txn: ops(vec![put("k", "v2"), put("k", "v3")]),
            succeeded: true,
            revision: 2,
            results: vec![
                OpResult::Put {
                    prev: Some(kv("k", "v1", 1, 1, 1)),
                },
                OpResult::Put {
                    prev: Some(kv("k", "v2", 1, 2, 2)),
                },
            ],
            after: vec![("k", Some(kv("k", "v3", 1, 2, 3)))],
        },
        Case {
            name: "delete of a missing key writes nothing",
            before: vec![ops(vec![put("other", "x")])],
            txn: ops(vec![del("k")]),
            succeeded: true,
            revision: 1,
            results: vec![OpResult::Delete { prev: None }],
            after: vec![("k", None), ("other", Some(kv("other", "x", 1, 1, 1)))],
        },
        Case {
            name: "delete then put in one txn recreates the key",
            before: vec![ops(vec![put("k", "v1")])],
            txn: ops(vec![del("k"), put("k", "v2"), get("k")]),
            succeeded: true,
            revision: 2,
            results: vec![
                OpResult::Delete {
                    prev: Some(kv("k", "v1", 1, 1, 1)),
                },
                OpResult::Put { prev: None },
                OpResult::Get {
                    kv: Some(kv("k", "v2", 2, 2, 1)),
                },
            ],
            after: vec![("k", Some(kv("k", "v2", 2, 2, 1)))],
        },
        Case {
            name: "a missing key is unequal to any value",
            before: vec![],
            txn: Txn {
                compares: vec![cmp(
                    "k",
                    CmpOp::NotEqual,
                    CompareTarget::Value(b"x".to_vec()),
                )],
                success: vec![put("k", "x")],
                failure: vec![],
            },
            succeeded: true,
            revision: 1,
            results: vec![OpResult::Put { prev: None }],
            after: vec![("k", Some(kv("k", "x", 1, 1, 1)))],
        },
        Case {
            name: "a missing key is not less than any value",
            before: vec![],
            txn: Txn {
                compares: vec![cmp("k", CmpOp::Less, CompareTarget::Value(b"x".to_vec()))],
                success: vec![put("k", "x")],
                failure: vec![get("k")],
            },
            succeeded: false,
            revision: 0,
            results: vec![OpResult::Get { kv: None }],
            after: vec![("k", None)],
        },
        Case {
            name: "value compares order bytes",
            before: vec![ops(vec![put("k", "b")])],
            txn: Txn {
                compares: vec![
                    cmp("k", CmpOp::Less, CompareTarget::Value(b"c".to_vec())),
                    cmp("k", CmpOp::Greater, CompareTarget::Value(b"a".to_vec())),
                    cmp("k", CmpOp::Equal, CompareTarget::Value(b"b".to_vec())),
                ],
                success: vec![put("k", "c")],
                failure: vec![],
            },
            succeeded: true,
            revision: 2,
            results: vec![OpResult::Put {
                prev: Some(kv("k", "b", 1, 1, 1)),
            }],
            after: vec![("k", Some(kv("k", "c", 1, 2, 2)))],
        },
        Case {
            name: "every compare must hold",
            before: vec![ops(vec![put("a", "1")]), ops(vec![put("b", "1")])],
            txn: Txn {
                compares: vec![
                    cmp("a", CmpOp::Equal, CompareTarget::CreateRevision(1)),
                    cmp("b", CmpOp::Greater, CompareTarget::CreateRevision(2)),
                ],
                success: vec![put("a", "2")],
                failure: vec![del("b")],
            },
            succeeded: false,
            revision: 3,
            results: vec![OpResult::Delete {
                prev: Some(kv("b", "1", 2, 2, 1)),
            }],
            after: vec![("a", Some(kv("a", "1", 1, 1, 1))), ("b", None)],
        },
        Case {
            name: "compares see the state before the ops",
            before: vec![ops(vec![put("a", "1")])],
            txn: Txn {
                compares: vec![
                    cmp("a", CmpOp::Equal, CompareTarget::Version(1)),
                    cmp("b", CmpOp::Less, CompareTarget::ModRevision(1)),
                ],
                success: vec![put("b", "1"), put("a", "2")],
                failure: vec![],
            },
            succeeded: true,
            revision: 2,
            results: vec![
                OpResult::Put { prev: None },
                OpResult::Put {
                    prev: Some(kv("a", "1", 1, 1, 1)),
                },
            ],
            after: vec![
                ("a", Some(kv("a", "2", 1, 2, 2))),
                ("b", Some(kv("b", "1", 2, 2, 1))),
            ],
        },
    ];
    for case in cases {
        // Once with the setup in its own apply calls, once all in the same batch as
        // the txn: the outcome must not depend on batching.
        for batched in [false, true] {
            let mut h = Harness::new(DEFAULT_HISTORY_LIMIT);
            let resp = if batched {
                let mut all = case.before.clone();
                all.push(case.txn.clone());
                h.apply(all).await.pop().expect("a response")
            } else {
                h.apply_each(case.before.clone()).await;
                h.apply(vec![case.txn.clone()])
                    .await
                    .pop()
                    .expect("a response")
            };
            let name = format!("{} (batched: {batched})", case.name);
            assert_eq!(resp.succeeded, case.succeeded, "{name}: succeeded");
            assert_eq!(resp.revision, case.revision, "{name}: revision");
            assert_eq!(resp.results, case.results, "{name}: results");
            assert_eq!(
                h.reader.revision().expect("revision"),
                case.revision,
                "{name}"
            );
            for (key, want) in &case.after {
                let (got, rev) = h.reader.get(key).expect("get");
                assert_eq!(&got, want, "{name}: key {key}");
                assert_eq!(rev, case.revision, "{name}: read revision");
            }
        }
    }
}

#[tokio::test]
async fn history_records_events_with_prev_values() {
    let mut h = Harness::new(DEFAULT_HISTORY_LIMIT);
    h.apply_each(vec![
        ops(vec![put("a", "v1")]),
        ops(vec![put("a", "v2")]),
        ops(vec![del("a")]),
        ops(vec![del("a")]),
        ops(vec![get("a")]),
    ])
    .await;
    let batch = h.reader.events_after("", 0, 0).expect("events");
    let want = vec![
        WatchEvent {
            kind: EventKind::Put,
            kv: kv("a", "v1", 1, 1, 1),
            prev: None,
        },
        WatchEvent {
            kind: EventKind::Put,
            kv: kv("a", "v2", 1, 2, 2),
            prev: Some(kv("a", "v1", 1, 1, 1)),
        },
        WatchEvent {
            kind: EventKind::Delete,
            kv: kv("a", "", 0, 3, 0),
            prev: Some(kv("a", "v2", 1, 2, 2)),
        },
    ];
    assert_eq!(batch.events, want);
    assert_eq!(batch.revision, 3);
    assert_eq!(batch.compact_revision, 0);
}

#[tokio::test]
async fn events_after() {
    let mut h = Harness::new(DEFAULT_HISTORY_LIMIT);
    h.apply_each(vec![
        ops(vec![put("/a/1", "x")]),                   // 1
        ops(vec![put("/b/1", "x")]),                   // 2
        ops(vec![put("/a/2", "x"), put("/a/3", "x")]), // 3
        ops(vec![get("/a/2")]),                        // no revision
        ops(vec![del("/a/1")]),                        // 4
        ops(vec![put("/b/2", "x")]),                   // 5
    ])
    .await;
    /// (key, revision) of each event, and the batch's revision.
    type Events = (Vec<(&'static str, u64)>, u64);
    struct Case {
        name: &'static str,
        prefix: &'static str,
        after: u64,
        max_events: u32,
        want: Result<Events, StoreError>,
    }
    let cases = vec![
        Case {
            name: "every event under a prefix",
            prefix: "/a/",
            after: 0,
            max_events: 0,
            want: Ok((vec![("/a/1", 1), ("/a/2", 3), ("/a/3", 3), ("/a/1", 4)], 4)),
        },
        Case {
            name: "another prefix",
            prefix: "/b/",
            after: 0,
            max_events: 0,
            want: Ok((vec![("/b/1", 2), ("/b/2", 5)], 5)),
        },
        Case {
            name: "the empty prefix matches everything",
            prefix: "",
            after: 0,
            max_events: 0,
            want: Ok((
                vec![
                    ("/a/1", 1),
                    ("/b/1", 2),
                    ("/a/2", 3),
                    ("/a/3", 3),
                    ("/a/1", 4),
                    ("/b/2", 5),
                ],
                5,
            )),
        },
        Case {
            name: "a revision is never split across batches",
            prefix: "/a/",
            after: 0,
            max_events: 2,
            want: Ok((vec![("/a/1", 1), ("/a/2", 3), ("/a/3", 3)], 3)),
        },
        Case {
            name: "a bound of one still finishes the revision",
            prefix: "/a/",
            after: 1,
            max_events: 1,
            want: Ok((vec![("/a/2", 3), ("/a/3", 3)], 3)),
        },
        Case {
            name: "nothing matched: the current revision",
            prefix: "/a/",
            after: 4,
            max_events: 0,
            want: Ok((vec![], 5)),
        },
        Case {
            name: "caught up",
            prefix: "",
            after: 5,
            max_events: 0,
            want: Ok((vec![], 5)),
        },
        Case {
            name: "a future revision",
            prefix: "",
            after: 6,
            max_events: 0,
            want: Err(StoreError::FutureRevision {
                requested: 6,
                current: 5,
            }),
        },
    ];
    for case in cases {
        let name = case.name;
        let got = h
            .reader
            .events_after(case.prefix, case.after, case.max_events)
            .map(|b| {
                assert_eq!(b.compact_revision, 0, "{name}");
                let events: Vec<(String, u64)> = b
                    .events
                    .iter()
                    .map(|e| (e.kv.key.clone(), e.kv.mod_revision))
                    .collect();
                (events, b.revision)
            });
        let want = case.want.map(|(events, rev)| {
            let events: Vec<(String, u64)> =
                events.into_iter().map(|(k, r)| (k.to_owned(), r)).collect();
            (events, rev)
        });
        assert_eq!(got, want, "{name}");
    }
}

#[tokio::test]
async fn range_pages_in_key_order() {
    let mut h = Harness::new(DEFAULT_HISTORY_LIMIT);
    h.apply(
        ["/b/1", "/a/3", "/ab", "/a/1", "/a/2"]
            .into_iter()
            .map(|k| ops(vec![put(k, k)]))
            .collect(),
    )
    .await;
    struct Case {
        name: &'static str,
        prefix: &'static str,
        start_after: Option<&'static str>,
        limit: u32,
        keys: Vec<&'static str>,
        more: bool,
    }
    let case = |name, prefix, start_after, limit, keys, more| Case {
        name,
        prefix,
        start_after,
        limit,
        keys,
        more,
    };
    let all_a = vec!["/a/1", "/a/2", "/a/3"];
    let cases = vec![
        case("a prefix", "/a/", None, 0, all_a.clone(), false),
        case("a first page", "/a/", None, 2, vec!["/a/1", "/a/2"], true),
        case("the next page", "/a/", Some("/a/2"), 2, vec!["/a/3"], false),
        case("an exact page", "/a/", None, 3, all_a.clone(), false),
        case("after the last key", "/a/", Some("/a/3"), 0, vec![], false),
        case(
            "start before the prefix",
            "/a/",
            Some("/"),
            0,
            all_a.clone(),
            false,
        ),
        case("start past the prefix", "/a/", Some("/b"), 0, vec![], false),
        case(
            "a shorter prefix",
            "/a",
            None,
            0,
            vec!["/a/1", "/a/2", "/a/3", "/ab"],
            false,
        ),
        case(
            "everything",
            "",
            None,
            0,
            vec!["/a/1", "/a/2", "/a/3", "/ab", "/b/1"],
            false,
        ),
    ];
    for c in cases {
        let name = c.name;
        let (kvs, more, revision) = h
            .reader
            .range(c.prefix, c.start_after, c.limit)
            .expect("range");
        let keys: Vec<&str> = kvs.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, c.keys, "{name}");
        assert_eq!(more, c.more, "{name}: more");
        assert_eq!(revision, 5, "{name}: revision");
        assert!(
            kvs.iter().all(|kv| kv.value == kv.key.as_bytes()),
            "{name}: values"
        );
    }
}

#[tokio::test]
async fn history_window_is_compacted_deterministically() {
    let txns: Vec<Txn> = (1..=30)
        .map(|i| ops(vec![put("k", &i.to_string())]))
        .collect();

    // One apply call per txn, checking the window as it moves.
    let mut each = Harness::new(10);
    for (i, txn) in txns.iter().enumerate() {
        each.apply(vec![txn.clone()]).await;
        let revision = i as u64 + 1;
        let want = match revision {
            0..=11 => 0,
            // Exceeding limit + limit/10 = 11 compacts down to revision - limit.
            r => {
                let mut compact = 0;
                for r in 1..=r {
                    if r - compact > 11 {
                        compact = r - 10;
                    }
                }
                compact
            }
        };
        assert_eq!(
            each.reader.compact_revision().expect("compact"),
            want,
            "at {revision}"
        );
        if revision == 12 {
            assert_eq!(want, 2);
        }
    }
    assert_eq!(each.reader.compact_revision().expect("compact"), 20);
    assert_eq!(
        each.history_len(),
        10,
        "events up to the compact revision are gone"
    );
    assert_eq!(
        each.reader.events_after("", 19, 0),
        Err(StoreError::Compacted {
            requested: 19,
            compact_revision: 20
        })
    );
    let batch = each.reader.events_after("", 20, 0).expect("events");
    let revs: Vec<u64> = batch.events.iter().map(|e| e.kv.mod_revision).collect();
    assert_eq!(revs, (21..=30).collect::<Vec<_>>());

    // The same log in one apply call ends in the same state.
    let mut batched = Harness::new(10);
    batched.apply(txns).await;
    assert_eq!(batched.reader.compact_revision().expect("compact"), 20);
    assert_eq!(batched.history_len(), 10);
    assert_eq!(
        batched.reader.digest().expect("digest"),
        each.reader.digest().expect("digest")
    );
    assert_eq!(
        batched.reader.events_after("", 20, 0).expect("events"),
        batch
    );
}

async fn assert_same_reads(a: &StateReader, b: &StateReader) {
    assert_eq!(a.digest().expect("digest"), b.digest().expect("digest"));
    assert_eq!(a.revision().expect("rev"), b.revision().expect("rev"));
    assert_eq!(
        a.compact_revision().expect("compact"),
        b.compact_revision().expect("compact")
    );
    assert_eq!(
        a.applied_log_id().expect("applied"),
        b.applied_log_id().expect("applied")
    );
    assert_eq!(
        a.range("", None, 0).expect("range"),
        b.range("", None, 0).expect("range")
    );
    for key in ["/a/1", "/a/2", "/b/1", "/missing"] {
        assert_eq!(a.get(key).expect("get"), b.get(key).expect("get"), "{key}");
    }
    let compact = a.compact_revision().expect("compact");
    assert_eq!(
        a.events_after("", compact, 0).expect("events"),
        b.events_after("", compact, 0).expect("events")
    );
}

/// A store with keys, deletes, a membership and a compacted history.
async fn populated() -> Harness {
    let mut h = Harness::new(4);
    let members = Membership::new(vec![[1u64, 2, 3].into_iter().collect()], None);
    let entry = h.entry(EntryPayload::Membership(members));
    h.sm.apply([entry]).await.expect("apply membership");
    h.apply_each(vec![
        ops(vec![put("/a/1", "one"), put("/a/2", "two")]),
        ops(vec![put("/b/1", "three")]),
        ops(vec![del("/a/2")]),
        ops(vec![put("/a/2", "again")]),
        ops(vec![put("/a/1", "changed")]),
        ops(vec![put("/c/1", "x")]),
        ops(vec![del("/c/1")]),
    ])
    .await;
    assert!(
        h.reader.compact_revision().expect("compact") > 0,
        "history compacted"
    );
    h
}

#[tokio::test]
async fn snapshot_installs_into_a_fresh_or_a_used_store() {
    for used in [false, true] {
        let mut leader = populated().await;
        let snap = leader
            .sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build");
        assert_eq!(snap.meta.last_log_id, Some(log_id(leader.index)));
        let current = leader
            .sm
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("a snapshot");
        assert_eq!(current.meta, snap.meta);

        let mut follower = Harness::new(4);
        if used {
            follower
                .apply_each(vec![ops(vec![put("/stale", "x"), put("/a/1", "old")])])
                .await;
        }
        let rx = follower.reader.subscribe();
        let mut data = follower.sm.begin_receiving_snapshot().await.expect("begin");
        *data = Cursor::new(snap.snapshot.get_ref().clone());
        follower
            .sm
            .install_snapshot(&snap.meta, data)
            .await
            .expect("install");

        assert_same_reads(&leader.reader, &follower.reader).await;
        assert_eq!(follower.reader.get("/stale").expect("get").0, None);
        assert_eq!(
            follower.sm.applied_state().await.expect("applied"),
            leader.sm.applied_state().await.expect("applied")
        );
        let installed = follower
            .sm
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("a snapshot");
        assert_eq!(installed.meta, snap.meta);
        assert_eq!(installed.snapshot.get_ref(), snap.snapshot.get_ref());
        assert!(rx.has_changed().expect("sender alive"), "install notifies");

        // Both continue with the same entry and stay equal.
        follower.index = leader.index;
        let next = ops(vec![put("/a/3", "after")]);
        follower.apply(vec![next.clone()]).await;
        leader.apply(vec![next]).await;
        assert_same_reads(&leader.reader, &follower.reader).await;
    }
}

#[tokio::test]
async fn a_damaged_snapshot_is_refused_and_changes_nothing() {
    let mut leader = populated().await;
    let snap = leader
        .sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build");
    let bytes = snap.snapshot.get_ref().clone();
    let mut wrong_meta = snap.meta.clone();
    wrong_meta.last_log_id = Some(log_id(leader.index + 1));
    let cases: Vec<(&str, Vec<u8>, &SnapshotMeta<u64, BasicNode>)> = vec![
        ("truncated", bytes[..bytes.len() - 3].to_vec(), &snap.meta),
        (
            "no end record",
            bytes[..bytes.len() - 8].to_vec(),
            &snap.meta,
        ),
        ("not a snapshot", b"hello".to_vec(), &snap.meta),
        ("meta of another snapshot", bytes.clone(), &wrong_meta),
    ];
    for (name, data, meta) in cases {
        let mut follower = Harness::new(4);
        follower.apply(vec![ops(vec![put("/keep", "x")])]).await;
        let before = follower.reader.digest().expect("digest");
        let res = follower
            .sm
            .install_snapshot(meta, Box::new(Cursor::new(data)))
            .await;
        assert!(res.is_err(), "{name}: refused");
        assert_eq!(follower.reader.digest().expect("digest"), before, "{name}");
        assert!(
            follower
                .sm
                .get_current_snapshot()
                .await
                .expect("current")
                .is_none(),
            "{name}: not current"
        );
    }
}

#[tokio::test]
async fn reopening_keeps_everything() {
    let h = populated().await;
    let Harness {
        dir,
        mut log,
        mut sm,
        reader,
        index,
    } = h;
    let vote = openraft::Vote::new(3, 7);
    log.save_vote(&vote).await.expect("vote");
    let entries: Vec<Entry> = (1..=5)
        .map(|i| Entry {
            log_id: log_id(i),
            payload: EntryPayload::Blank,
        })
        .collect();
    log.blocking_append(entries.clone()).await.expect("append");
    log.purge(log_id(2)).await.expect("purge");
    log.save_committed(Some(log_id(4)))
        .await
        .expect("committed");
    let snap = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build");
    let applied = sm.applied_state().await.expect("applied");
    let digest = reader.digest().expect("digest");
    let events = reader.events_after("", 0, 0);
    let compact = reader.compact_revision().expect("compact");
    drop((log, sm, reader));

    let (mut log, mut sm, reader) = open(dir.path(), 4).expect("reopen");
    assert_eq!(reader.digest().expect("digest"), digest);
    assert_eq!(reader.compact_revision().expect("compact"), compact);
    assert_eq!(reader.events_after("", 0, 0), events);
    assert_eq!(
        reader.applied_log_id().expect("applied"),
        Some(log_id_to_wire(&log_id(index)))
    );
    assert_eq!(sm.applied_state().await.expect("applied"), applied);
    assert_eq!(sm.revision(), reader.revision().expect("revision"));
    assert_eq!(*reader.subscribe().borrow(), sm.revision());
    let current = sm
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("a snapshot");
    assert_eq!(current.meta, snap.meta);
    assert_eq!(log.read_vote().await.expect("vote"), Some(vote));
    assert_eq!(
        log.read_committed().await.expect("committed"),
        Some(log_id(4))
    );
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(log_id(2)));
    assert_eq!(state.last_log_id, Some(log_id(5)));
    assert_eq!(
        log.get_log_reader()
            .await
            .try_get_log_entries(0..)
            .await
            .expect("logs"),
        entries[2..].to_vec()
    );
}

#[tokio::test]
async fn subscribers_see_revisions_move() {
    let mut h = Harness::new(DEFAULT_HISTORY_LIMIT);
    let mut rx = h.reader.subscribe();
    assert!(!rx.has_changed().expect("alive"));
    h.apply(vec![ops(vec![put("k", "v")])]).await;
    assert!(rx.has_changed().expect("alive"));
    assert_eq!(*rx.borrow_and_update(), 1);
    h.apply(vec![ops(vec![get("k")]), ops(vec![del("missing")])])
        .await;
    let blank = h.entry(EntryPayload::Blank);
    h.sm.apply([blank]).await.expect("apply");
    assert!(
        !rx.has_changed().expect("alive"),
        "nothing written, no wake-up"
    );
    let late = h.sm.reader().subscribe();
    assert_eq!(*late.borrow(), 1);
}

#[tokio::test]
async fn digest_follows_the_data() {
    let mut a = Harness::new(DEFAULT_HISTORY_LIMIT);
    let mut b = Harness::new(DEFAULT_HISTORY_LIMIT);
    assert_eq!(a.reader.digest().expect("a"), b.reader.digest().expect("b"));
    a.apply(vec![ops(vec![put("k", "v")])]).await;
    assert_ne!(a.reader.digest().expect("a"), b.reader.digest().expect("b"));
    b.apply(vec![ops(vec![put("k", "w")])]).await;
    assert_ne!(a.reader.digest().expect("a"), b.reader.digest().expect("b"));
    // The same key and value at another version and mod revision.
    b.apply(vec![ops(vec![put("j", "x")])]).await;
    a.apply(vec![ops(vec![put("k", "w")])]).await;
    assert_eq!(
        a.reader.get("k").expect("a").0.map(|kv| kv.value),
        Some(b"w".to_vec())
    );
    assert_ne!(a.reader.digest().expect("a"), b.reader.digest().expect("b"));
    // The same writes give the same digest.
    let mut c = Harness::new(DEFAULT_HISTORY_LIMIT);
    c.apply(vec![ops(vec![put("k", "v")]), ops(vec![put("k", "w")])])
        .await;
    assert_eq!(a.reader.digest().expect("a"), c.reader.digest().expect("c"));
}

#[test]
fn open_refuses_what_is_not_a_rudder_store() {
    fn raw_db(dir: &Path, cfs: &[&str], marker: Option<&[u8]>) {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let db = DB::open_cf(&opts, dir, cfs).expect("raw rocksdb");
        db.put(b"someone-else", b"data").expect("put");
        if let Some(m) = marker {
            db.put(FORMAT_KEY, m).expect("marker");
        }
    }
    type Setup = fn(&Path);
    type Check = fn(&OpenError) -> bool;
    let cases: Vec<(&str, Setup, Check)> = vec![
        (
            "files that are not a RocksDB",
            |d| std::fs::write(d.join("notes.txt"), "mine").expect("write"),
            |e| matches!(e, OpenError::Foreign { .. }),
        ),
        (
            "a garbage CURRENT file",
            |d| std::fs::write(d.join("CURRENT"), "garbage").expect("write"),
            |e| matches!(e, OpenError::Unreadable { .. }),
        ),
        (
            "a RocksDB without our column families",
            |d| raw_db(d, &[], None),
            |e| matches!(e, OpenError::Foreign { .. }),
        ),
        (
            "a RocksDB with our column families but no marker",
            |d| raw_db(d, &ALL_CFS, None),
            |e| matches!(e, OpenError::Foreign { .. }),
        ),
        (
            "a store of another format",
            |d| raw_db(d, &ALL_CFS, Some(b"rudder-store-v0")),
            |e| matches!(e, OpenError::Foreign { .. }),
        ),
    ];
    for (name, setup, check) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        setup(dir.path());
        let err = open(dir.path(), DEFAULT_HISTORY_LIMIT).expect_err(name);
        assert!(check(&err), "{name}: got {err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(&dir.path().display().to_string()),
            "{name}: message names the path: {msg}"
        );
        // Whatever was there is still there.
        if dir.path().join("notes.txt").exists() {
            assert_eq!(
                std::fs::read_to_string(dir.path().join("notes.txt")).expect("read"),
                "mine"
            );
        }
        if name.starts_with("a garbage") {
            assert_eq!(
                std::fs::read_to_string(dir.path().join("CURRENT")).expect("read"),
                "garbage"
            );
        }
        if name.starts_with("a RocksDB") || name.starts_with("a store") {
            let mut opts = Options::default();
            opts.create_if_missing(false);
            let cfs = DB::list_cf(&opts, dir.path()).expect("list");
            let db = DB::open_cf(&opts, dir.path(), &cfs).expect("raw reopen");
            assert_eq!(
                db.get(b"someone-else").expect("get").as_deref(),
                Some(&b"data"[..]),
                "{name}: data kept"
            );
            assert_ne!(
                db.get(FORMAT_KEY).expect("get").as_deref(),
                Some(FORMAT_MARKER),
                "{name}: no marker written"
            );
        }
    }
}

#[test]
fn open_refuses_a_store_in_use() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = open(dir.path(), DEFAULT_HISTORY_LIMIT).expect("first open");
    let err = open(dir.path(), DEFAULT_HISTORY_LIMIT).expect_err("second open");
    assert!(matches!(err, OpenError::Open { .. }), "got {err:?}");
    drop(first);
    open(dir.path(), DEFAULT_HISTORY_LIMIT).expect("open after close");
}

#[test]
fn open_creates_a_missing_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested").join("store");
    let (_, _, reader) = open(&path, DEFAULT_HISTORY_LIMIT).expect("open");
    assert_eq!(reader.revision().expect("revision"), 0);
}
