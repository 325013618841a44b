//! The replicated store over real `rudderd` processes with real RocksDB: etcd-style
//! operations and errors, replication to three replicas, leader loss during writes,
//! catch-up (also through a snapshot), watches across a leader change, and refusal of
//! corrupt or foreign data dirs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rudder_protocol::client::Client;
use rudder_protocol::messages::store::{
    Consistency, EventKind, Expect, StoreError, StoreReply, StoreRequest,
};
use rudder_tests::{eventually, store, store_status, Cluster, NodeProc};

fn put(key: &str, value: &str, expect: Expect) -> StoreRequest {
    StoreRequest::Put {
        key: key.into(),
        value: value.as_bytes().to_vec(),
        expect,
    }
}

fn get(key: &str, consistency: Consistency) -> StoreRequest {
    StoreRequest::Get {
        key: key.into(),
        consistency,
    }
}

fn store_error(r: anyhow::Result<StoreReply>) -> StoreError {
    match r {
        Err(e) => match e.downcast::<StoreError>() {
            Ok(se) => se,
            Err(other) => panic!("expected a store error, got {other:#}"),
        },
        Ok(reply) => panic!("expected a store error, got {reply:?}"),
    }
}

async fn written(client: &Client, node: &str, req: StoreRequest) -> anyhow::Result<u64> {
    match store(client, node, req).await? {
        StoreReply::Written { revision, .. } => Ok(revision),
        other => anyhow::bail!("unexpected reply {other:?}"),
    }
}

/// Waits until `node`'s store has a leader and `voters` voters.
async fn wait_for_group(client: &Client, node: &str, voters: usize) -> anyhow::Result<String> {
    let (leader, _) = eventually(Duration::from_secs(20), || {
        let c = client.clone();
        async move {
            let s = store_status(&c, node).await?;
            let n = s.members.iter().filter(|m| m.voter).count();
            Ok((n == voters)
                .then_some(())
                .and(s.leader.map(|l| l.to_string())))
        }
    })
    .await?;
    Ok(leader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_operations_and_distinct_errors() -> anyhow::Result<()> {
    let mut cluster = Cluster::new()?;
    let spec = cluster.spec("single-node.toml", "solo");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let c = cluster.nodes[0].client().await?;
    wait_for_group(&c, "solo", 1).await?;

    let r1 = written(&c, "solo", put("/a", "1", Expect::Absent)).await?;
    let r2 = written(&c, "solo", put("/a", "2", Expect::ModRevision(r1))).await?;
    assert!(r2 > r1, "revisions grow");
    match store(&c, "solo", get("/a", Consistency::Linearizable)).await? {
        StoreReply::Get {
            kv: Some(kv),
            revision,
        } => {
            assert_eq!(kv.value, b"2");
            assert_eq!(
                (kv.create_revision, kv.mod_revision, kv.version),
                (r1, r2, 2)
            );
            // Later writes (the API server's bootstrap namespaces) may already be in.
            assert!(
                revision >= r2,
                "read at {revision}, before the write at {r2}"
            );
        }
        other => anyhow::bail!("unexpected {other:?}"),
    }
    let e = store_error(store(&c, "solo", put("/a", "3", Expect::ModRevision(r1))).await);
    assert_eq!(
        e,
        StoreError::Conflict {
            key: "/a".into(),
            expected: r1,
            actual: r2
        }
    );
    let e = store_error(store(&c, "solo", put("/a", "3", Expect::Absent)).await);
    assert_eq!(e, StoreError::AlreadyExists { key: "/a".into() });
    let e = store_error(store(&c, "solo", put("/missing", "x", Expect::ModRevision(1))).await);
    assert_eq!(
        e,
        StoreError::NotFound {
            key: "/missing".into()
        }
    );
    let e = store_error(
        store(
            &c,
            "solo",
            StoreRequest::Delete {
                key: "/missing".into(),
                expect: Expect::Any,
            },
        )
        .await,
    );
    assert_eq!(
        e,
        StoreError::NotFound {
            key: "/missing".into()
        }
    );
    match store(&c, "solo", get("/missing", Consistency::Serializable)).await? {
        StoreReply::Get { kv: None, .. } => {}
        other => anyhow::bail!("unexpected {other:?}"),
    }

    // Range with paging.
    for i in 0..5 {
        written(&c, "solo", put(&format!("/p/{i}"), "x", Expect::Any)).await?;
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let req = StoreRequest::Range {
            prefix: "/p/".into(),
            start_after: after.clone(),
            limit: 2,
            consistency: Consistency::Linearizable,
        };
        let StoreReply::Range { kvs, more, .. } = store(&c, "solo", req).await? else {
            anyhow::bail!("bad reply")
        };
        after = kvs.last().map(|kv| kv.key.clone());
        seen.extend(kvs.into_iter().map(|kv| kv.key));
        if !more {
            break;
        }
    }
    assert_eq!(seen, (0..5).map(|i| format!("/p/{i}")).collect::<Vec<_>>());

    // A watch from the start sees every change in order; a delete carries the old value.
    let del = written(
        &c,
        "solo",
        StoreRequest::Delete {
            key: "/a".into(),
            expect: Expect::ModRevision(r2),
        },
    )
    .await?;
    let req = StoreRequest::WatchPoll {
        prefix: "/a".into(),
        after: 0,
        max_events: 100,
        wait_ms: 0,
    };
    let StoreReply::Watch(batch) = store(&c, "solo", req).await? else {
        anyhow::bail!("bad reply")
    };
    let kinds: Vec<(EventKind, u64)> = batch
        .events
        .iter()
        .map(|e| (e.kind, e.kv.mod_revision))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (EventKind::Put, r1),
            (EventKind::Put, r2),
            (EventKind::Delete, del)
        ]
    );
    assert_eq!(
        batch.events[2].prev.as_ref().map(|p| p.value.clone()),
        Some(b"2".to_vec())
    );
    // A long poll wakes up on a write.
    let c2 = c.clone();
    let waiter = tokio::spawn(async move {
        let req = StoreRequest::WatchPoll {
            prefix: "/late".into(),
            after: del,
            max_events: 10,
            wait_ms: 5000,
        };
        let started = Instant::now();
        (store(&c2, "solo", req).await, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let late = written(&c, "solo", put("/late", "x", Expect::Any)).await?;
    let (reply, took) = waiter.await?;
    let StoreReply::Watch(batch) = reply? else {
        anyhow::bail!("bad reply")
    };
    assert_eq!(batch.events.len(), 1);
    assert_eq!(batch.events[0].kv.mod_revision, late);
    assert!(
        took < Duration::from_secs(2),
        "long poll woke after {took:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_before_the_history_window_is_compacted() -> anyhow::Result<()> {
    let mut cluster = Cluster::new()?;
    // history_limit is small in this config file, so compaction happens quickly.
    let spec = cluster.spec("test/small-history.toml", "solo");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let c = cluster.nodes[0].client().await?;
    wait_for_group(&c, "solo", 1).await?;
    for i in 0..300 {
        written(&c, "solo", put(&format!("/k/{}", i % 7), "v", Expect::Any)).await?;
    }
    let s = store_status(&c, "solo").await?;
    assert!(s.compact_revision > 0, "history was compacted: {s:?}");
    let req = StoreRequest::WatchPoll {
        prefix: "/k/".into(),
        after: 0,
        max_events: 10,
        wait_ms: 0,
    };
    let e = store_error(store(&c, "solo", req).await);
    assert!(
        matches!(e, StoreError::Compacted { requested: 0, .. }),
        "{e:?}"
    );
    let req = StoreRequest::WatchPoll {
        prefix: "/k/".into(),
        after: s.compact_revision,
        max_events: 10,
        wait_ms: 0,
    };
    store(&c, "solo", req).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_or_foreign_data_dirs_fail_start_up_clearly() -> anyhow::Result<()> {
    let cluster = Cluster::new()?;
    // A store directory full of garbage.
    let mut spec = cluster.spec("single-node.toml", "solo");
    std::fs::create_dir_all(spec.data_dir.join("store"))?;
    std::fs::write(
        spec.data_dir.join("store/CURRENT"),
        b"\x00\x01 not a manifest",
    )?;
    let err = NodeProc::start(spec.clone())
        .await
        .err()
        .expect("start-up must fail");
    let msg = format!("{err:#}");
    assert!(msg.contains("store"), "{msg}");
    assert!(
        spec.data_dir.join("store/CURRENT").exists(),
        "never silently reset"
    );

    // A data dir written by another node.
    spec.data_dir = cluster.dir.path().join("other");
    let first = NodeProc::start(spec.clone()).await?;
    drop(first);
    spec.name = "someone-else".into();
    let err = NodeProc::start(spec)
        .await
        .err()
        .expect("start-up must fail");
    assert!(format!("{err:#}").contains("belongs to node"), "{err:#}");
    Ok(())
}

/// Writes keys `/w/<writer>/<n>` through random nodes; records every acknowledged write.
async fn writer(
    clients: Vec<(String, Client)>,
    writer: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
    acked: Arc<Mutex<BTreeMap<String, u64>>>,
) {
    let mut n = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let (node, client) = &clients[(writer + n as usize) % clients.len()];
        let key = format!("/w/{writer}/{n}");
        match store(client, node, put(&key, &format!("{n}"), Expect::Any)).await {
            Ok(StoreReply::Written { revision, .. }) => {
                acked.lock().expect("lock").insert(key, revision);
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
        n += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_survive_leader_loss_and_converge() -> anyhow::Result<()> {
    let mut cluster = Cluster::three_nodes().await?;
    let mut clients = Vec::new();
    for n in &cluster.nodes {
        clients.push((
            n.name().to_owned(),
            n.client().await?.with_timeout(Duration::from_secs(5)),
        ));
    }
    let old_leader = wait_for_group(&clients[0].1, "cp-1", 3).await?;

    // Writes on every node succeed (followers forward to the leader).
    for (node, c) in &clients {
        written(c, node, put(&format!("/via/{node}"), node, Expect::Any)).await?;
    }

    // A watcher on a follower, from revision 0, across the leader change.
    let follower = clients
        .iter()
        .find(|(n, _)| *n != old_leader)
        .map(|(n, c)| (n.clone(), c.clone()))
        .expect("a follower");
    let seen = Arc::new(Mutex::new(Vec::<(u64, String)>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The watcher runs until it has seen up to `watch_until` (set once writers stop).
    let watch_until = Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
    let watch = {
        let (seen, until, (node, c)) = (seen.clone(), watch_until.clone(), follower.clone());
        tokio::spawn(async move {
            let mut after = 0;
            let deadline = Instant::now() + Duration::from_secs(60);
            while after < until.load(std::sync::atomic::Ordering::Relaxed)
                && Instant::now() < deadline
            {
                let req = StoreRequest::WatchPoll {
                    prefix: "/w/".into(),
                    after,
                    max_events: 500,
                    wait_ms: 200,
                };
                if let Ok(StoreReply::Watch(b)) = store(&c, &node, req).await {
                    let mut s = seen.lock().expect("lock");
                    s.extend(
                        b.events
                            .iter()
                            .map(|e| (e.kv.mod_revision, e.kv.key.clone())),
                    );
                    after = b.revision;
                }
            }
        })
    };

    // Writers through the two nodes that survive.
    let survivors: Vec<(String, Client)> = clients
        .iter()
        .filter(|(n, _)| *n != old_leader)
        .cloned()
        .collect();
    let acked = Arc::new(Mutex::new(BTreeMap::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| tokio::spawn(writer(survivors.clone(), w, stop.clone(), acked.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    cluster.node(&old_leader).kill9().await?;
    let killed = Instant::now();
    let (new_leader, _) = eventually(Duration::from_secs(5), || {
        let (node, c) = follower.clone();
        let old = old_leader.clone();
        async move {
            let s = store_status(&c, &node).await?;
            Ok(s.leader.map(|l| l.to_string()).filter(|l| *l != old))
        }
    })
    .await?;
    let election = killed.elapsed();
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await?;
    }
    let last_acked = acked
        .lock()
        .expect("lock")
        .values()
        .copied()
        .max()
        .unwrap_or(0);
    watch_until.store(last_acked, std::sync::atomic::Ordering::Relaxed);
    watch.await?;
    assert!(
        election < Duration::from_secs(2),
        "new leader {new_leader} after {election:?}"
    );

    // The killed node restarts from its data dir and catches up.
    cluster.node(&old_leader).restart().await?;
    let restarted = cluster.node(&old_leader).client().await?;
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() > 20, "only {} writes acknowledged", acked.len());
    let all: Vec<(String, Client)> = vec![(old_leader.clone(), restarted.clone())]
        .into_iter()
        .chain(survivors.iter().cloned())
        .collect();
    let (digest, _) = eventually(Duration::from_secs(20), || {
        let all = all.clone();
        async move {
            let mut digests = Vec::new();
            for (node, c) in &all {
                match store(c, node, StoreRequest::Digest).await? {
                    StoreReply::Digest { digest, revision } => digests.push((digest, revision)),
                    other => anyhow::bail!("unexpected {other:?}"),
                }
            }
            Ok(digests.windows(2).all(|w| w[0] == w[1]).then(|| digests[0]))
        }
    })
    .await?;
    // Every acknowledged write is on every replica, with the revision it was acknowledged at.
    for (node, c) in &all {
        for (key, rev) in &acked {
            match store(c, node, get(key, Consistency::Serializable)).await? {
                StoreReply::Get { kv: Some(kv), .. } => {
                    assert_eq!(kv.mod_revision, *rev, "{node} {key}")
                }
                other => anyhow::bail!("{node} lost acknowledged write {key}: {other:?}"),
            }
        }
    }
    // The watch saw every change once, in order, no gap.
    let seen = seen.lock().expect("lock").clone();
    let revs: Vec<u64> = seen.iter().map(|(r, _)| *r).collect();
    assert!(
        revs.windows(2).all(|w| w[0] < w[1]),
        "watch order / duplicates"
    );
    let seen_keys: BTreeMap<String, u64> = seen.into_iter().map(|(r, k)| (k, r)).collect();
    for (key, rev) in &acked {
        assert_eq!(seen_keys.get(key), Some(rev), "watch missed {key}");
    }
    eprintln!("leader {old_leader} killed; {new_leader} elected in {election:?}; {} writes; digest {digest:?}", acked.len());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_fell_behind_a_purge_catches_up_through_a_snapshot() -> anyhow::Result<()> {
    let mut cluster = Cluster::three_nodes_from("test/small-snapshots").await?;
    let c1 = cluster.nodes[0].client().await?;
    wait_for_group(&c1, "cp-1", 3).await?;
    cluster.node("cp-3").kill9().await?;
    // snapshot_every = 1000 in these configs: write past two snapshots, one write per
    // log entry (concurrent writes would share entries through group commit).
    for i in 0..2400 {
        written(&c1, "cp-1", put(&format!("/bulk/{i}"), "v", Expect::Any)).await?;
    }
    let s = store_status(&c1, "cp-1").await?;
    cluster.node("cp-3").restart().await?;
    let c3 = cluster.node("cp-3").client().await?;
    let target = s.revision;
    eventually(Duration::from_secs(30), || {
        let c3 = c3.clone();
        async move {
            let s = store_status(&c3, "cp-3").await?;
            Ok((s.revision >= target).then_some(()))
        }
    })
    .await?;
    let log = cluster.node("cp-3").log_text();
    assert!(
        log.contains("snapshot installed"),
        "cp-3 should have installed a snapshot; log: {log}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_can_be_removed_and_the_group_keeps_writing() -> anyhow::Result<()> {
    let cluster = Cluster::three_nodes().await?;
    let c1 = cluster.nodes[0].client().await?;
    wait_for_group(&c1, "cp-1", 3).await?;
    // The request goes to cp-2, which must know the leader too (else: NoLeader).
    wait_for_group(&c1, "cp-2", 3).await?;
    let reply = store(
        &c1,
        "cp-2",
        StoreRequest::Remove {
            node: rudder_protocol::NodeName::new("cp-3"),
        },
    )
    .await?;
    assert_eq!(reply, StoreReply::MembershipChanged);
    let s = store_status(&c1, "cp-1").await?;
    let names: Vec<String> = s.members.iter().map(|m| m.node.to_string()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names.contains(&"cp-3".to_owned()), "{names:?}");
    written(&c1, "cp-1", put("/after-remove", "x", Expect::Any)).await?;
    Ok(())
}
