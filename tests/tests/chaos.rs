//! Chaos scenarios over real `rudderd` processes (issue 9): each injects faults, then
//! checks invariants and prints the time to converge. `scripts/chaos.sh` runs them with
//! the multi-host ones (`-E 'test(/^scenario/)'`).
//!
//! - `scenario1_…`: seeded random actor kills on every node while a Deployment scales
//!   and rolls out; the end state is exactly right.
//! - `scenario2_…`: `kill -9` of the store leader under concurrent writes and reads; the
//!   history is linearizable, no acknowledged write is lost, a resumed watch saw every
//!   event once and in order.
//! - `scenario5_…`: kubelet actor kills with real Docker pods: no container started twice
//!   or lost; a pod deleted while its kubelet was down is cleaned up when it returns.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rudder_protocol::chaos::{run_schedule, Schedule, SplitMix64, TargetSet};
use rudder_protocol::client::Client;
use rudder_protocol::messages::api::{ListParams, PatchType};
use rudder_protocol::messages::chaos::ActorState;
use rudder_protocol::messages::store::{Consistency, Expect, StoreReply, StoreRequest};
use rudder_protocol::resources::{
    ConditionStatus, Container, Deployment, LabelSelector, Node, Pod, PodPhase, PodTemplateSpec,
    ReplicaSet,
};
use rudder_tests::chaos::linearizable::{self, Action, Op};
use rudder_tests::chaos::watch;
use rudder_tests::services::{build_images, docker, docker_available, DockerCleanup};
use rudder_tests::{eventually, rudderctl, store, store_status, Cluster};

// ---------------------------------------------------------------------------------------
// Scenario 2: store leader kill -9 during writes.

const KEYS: u64 = 8;
const WRITES: u64 = 2000;
const CLIENTS: usize = 5;
const PREFIX: &str = "/lin/";

/// Clients by node; `None` while the node is down.
type Clients = Arc<Mutex<Vec<(String, Option<Client>)>>>;

fn pick(clients: &Clients, preferred: usize) -> Option<(String, Client)> {
    let all = clients.lock().expect("lock");
    (0..all.len())
        .map(|i| &all[(preferred + i) % all.len()])
        .find_map(|(n, c)| c.clone().map(|c| (n.clone(), c)))
}

struct Shared {
    start: Instant,
    issued: AtomicU64,
    history: Mutex<Vec<Op>>,
    /// key -> revisions its acknowledged writes got.
    acked: Mutex<BTreeMap<String, Vec<u64>>>,
    indeterminate: AtomicU64,
}

impl Shared {
    fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }
}

async fn kv_client(id: usize, clients: Clients, shared: Arc<Shared>) {
    let mut rng = SplitMix64::new(1000 + id as u64);
    let mut n = 0u64;
    loop {
        let key = format!("{PREFIX}k{}", rng.below(KEYS));
        let write = rng.below(3) < 2;
        if write && shared.issued.fetch_add(1, Ordering::SeqCst) >= WRITES {
            return;
        }
        let Some((node, client)) = pick(&clients, id) else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let call = shared.now();
        if write {
            n += 1;
            let value = format!("c{id}-{n}");
            let req = StoreRequest::Put {
                key: key.clone(),
                value: value.clone().into_bytes(),
                expect: Expect::Any,
            };
            let r = store(&client, &node, req).await;
            let ret = match r {
                Ok(StoreReply::Written { revision, .. }) => {
                    shared
                        .acked
                        .lock()
                        .expect("lock")
                        .entry(key.clone())
                        .or_default()
                        .push(revision);
                    Some(shared.now())
                }
                // Failed or timed out: it may still take effect.
                _ => {
                    shared.indeterminate.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    None
                }
            };
            shared.history.lock().expect("lock").push(Op {
                client: id,
                key,
                action: Action::Write(value),
                call,
                ret,
            });
        } else {
            let req = StoreRequest::Get {
                key: key.clone(),
                consistency: Consistency::Linearizable,
            };
            match store(&client, &node, req).await {
                Ok(StoreReply::Get { kv, .. }) => {
                    let ret = shared.now();
                    let seen = kv.map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
                    shared.history.lock().expect("lock").push(Op {
                        client: id,
                        key,
                        action: Action::Read(seen),
                        call,
                        ret: Some(ret),
                    });
                }
                // A failed read tells nothing.
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

/// Watches `PREFIX` from revision 0, resuming from the last revision seen on another
/// node whenever a poll fails, until `until` is reached.
async fn resumed_watch(
    clients: Clients,
    first: usize,
    until: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<watch::Seen>>>,
) -> u32 {
    let mut after = 0u64;
    let mut at = first;
    let mut resumes = 0u32;
    let deadline = Instant::now() + Duration::from_secs(150);
    while after < until.load(Ordering::SeqCst) && Instant::now() < deadline {
        let Some((node, client)) = pick(&clients, at) else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let req = StoreRequest::WatchPoll {
            prefix: PREFIX.into(),
            after,
            max_events: 300,
            wait_ms: 300,
        };
        match store(&client, &node, req).await {
            Ok(StoreReply::Watch(b)) => {
                seen.lock().expect("lock").extend(
                    b.events
                        .iter()
                        .map(|e| (e.kv.mod_revision, e.kv.key.clone())),
                );
                after = b.revision;
            }
            _ => {
                // Resume elsewhere from where we were.
                resumes += 1;
                at += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    resumes
}

async fn leader_of(client: &Client, node: &str) -> anyhow::Result<String> {
    let (leader, _) = eventually(Duration::from_secs(30), || async {
        Ok(store_status(client, node)
            .await?
            .leader
            .map(|l| l.to_string()))
    })
    .await?;
    Ok(leader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario2_store_leader_kill9_linearizable() -> anyhow::Result<()> {
    let mut cluster = Cluster::three_nodes().await?;
    let mut list = Vec::new();
    for n in &cluster.nodes {
        let c = n.client().await?.with_timeout(Duration::from_secs(4));
        list.push((n.name().to_owned(), Some(c)));
    }
    let leader = leader_of(list[0].1.as_ref().expect("client"), "cp-1").await?;
    let leader_idx = list.iter().position(|(n, _)| *n == leader).expect("leader");
    let clients: Clients = Arc::new(Mutex::new(list));
    let shared = Arc::new(Shared {
        start: Instant::now(),
        issued: AtomicU64::new(0),
        history: Mutex::new(Vec::new()),
        acked: Mutex::new(BTreeMap::new()),
        indeterminate: AtomicU64::new(0),
    });
    // The watcher starts on the leader, so the kill cuts it off and it must resume.
    let until = Arc::new(AtomicU64::new(u64::MAX));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watcher = tokio::spawn(resumed_watch(
        clients.clone(),
        leader_idx,
        until.clone(),
        seen.clone(),
    ));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(kv_client(i, clients.clone(), shared.clone())))
        .collect();

    // Kill the leader with -9 part-way, restart it later.
    eventually(Duration::from_secs(120), || async {
        Ok((shared.issued.load(Ordering::SeqCst) >= WRITES * 3 / 10).then_some(()))
    })
    .await?;
    clients.lock().expect("lock")[leader_idx].1 = None;
    cluster.node(&leader).kill9().await?;
    let killed_at = Instant::now();
    eprintln!(
        "scenario2: killed store leader {leader} (-9) after {} writes issued",
        shared.issued.load(Ordering::SeqCst)
    );
    eventually(Duration::from_secs(120), || async {
        Ok((shared.issued.load(Ordering::SeqCst) >= WRITES * 6 / 10).then_some(()))
    })
    .await?;
    cluster.node(&leader).restart().await?;
    let again = cluster
        .node(&leader)
        .client()
        .await?
        .with_timeout(Duration::from_secs(4));
    clients.lock().expect("lock")[leader_idx].1 = Some(again);
    eprintln!(
        "scenario2: restarted {leader} {:?} after the kill",
        killed_at.elapsed()
    );
    for w in workers {
        w.await?;
    }
    let writes_done = Instant::now();

    // Final linearizable reads of every key join the history.
    let (node, client) = pick(&clients, 0).expect("a client");
    for k in 0..KEYS {
        let key = format!("{PREFIX}k{k}");
        let call = shared.now();
        let reply = store(
            &client,
            &node,
            StoreRequest::Get {
                key: key.clone(),
                consistency: Consistency::Linearizable,
            },
        )
        .await?;
        let StoreReply::Get { kv, .. } = reply else {
            anyhow::bail!("unexpected {reply:?}");
        };
        shared.history.lock().expect("lock").push(Op {
            client: usize::MAX,
            key,
            action: Action::Read(kv.map(|kv| String::from_utf8_lossy(&kv.value).into_owned())),
            call,
            ret: Some(shared.now()),
        });
    }

    // Every replica converges to the same state.
    let all: Vec<(String, Client)> = clients
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|(n, c)| c.clone().map(|c| (n.clone(), c)))
        .collect();
    assert_eq!(all.len(), 3);
    let ((digest, revision), _) = eventually(Duration::from_secs(60), || {
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
    let converged = writes_done.elapsed();

    // The resumed watch reaches the final revision.
    until.store(revision, Ordering::SeqCst);
    let resumes = watcher.await?;
    // The truth: one fresh watch over the whole history, on a replica that never died.
    let (tnode, tclient) = all
        .iter()
        .find(|(n, _)| *n != leader)
        .cloned()
        .expect("a survivor");
    let mut truth: Vec<watch::Seen> = Vec::new();
    let mut after = 0;
    while after < revision {
        let req = StoreRequest::WatchPoll {
            prefix: PREFIX.into(),
            after,
            max_events: 1000,
            wait_ms: 100,
        };
        match store(&tclient, &tnode, req).await? {
            StoreReply::Watch(b) => {
                truth.extend(
                    b.events
                        .iter()
                        .map(|e| (e.kv.mod_revision, e.kv.key.clone())),
                );
                after = b.revision;
            }
            other => anyhow::bail!("unexpected {other:?}"),
        }
    }

    let history = shared.history.lock().expect("lock").clone();
    let acked = shared.acked.lock().expect("lock").clone();
    let n_acked: usize = acked.values().map(Vec::len).sum();
    let indeterminate = shared.indeterminate.load(Ordering::Relaxed);
    let seen = seen.lock().expect("lock").clone();
    eprintln!(
        "scenario2: {} ops ({} writes acknowledged, {indeterminate} indeterminate); {} events; watch resumed {resumes} times; converged (digest {digest:x} at revision {revision}) {converged:?} after the last write",
        history.len(),
        n_acked,
        truth.len()
    );
    let present = watch::check_acked_present(&acked, &truth).map_err(anyhow::Error::msg)?;
    assert_eq!(present, n_acked);
    assert!(
        n_acked as u64 >= WRITES / 2,
        "too few writes acknowledged: {n_acked}"
    );
    watch::check_once_in_order(&seen, &truth).map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let checked = linearizable::check(&history).map_err(|v| anyhow::anyhow!("{v}"))?;
    eprintln!(
        "scenario2: history of {checked} ops linearizable (checked in {:?})",
        started.elapsed()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Scenario 1: random actor kills during Deployment churn.

const APP: &str = "churn";

/// The seed: `$RUDDER_CHAOS_SEED` to replay a run, else from the clock.
fn chaos_seed() -> u64 {
    std::env::var("RUDDER_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64 % 1_000_000)
                .unwrap_or(42)
        })
}

/// Runs `f` against each client in turn until one succeeds (apiservers get killed too),
/// for up to 60 s.
async fn on_any<T, F, Fut>(clients: &[Client], what: &str, f: F) -> anyhow::Result<T>
where
    F: Fn(Client) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 0;
    loop {
        match f(clients[i % clients.len()].clone()).await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() > deadline => return Err(e.context(what.to_owned())),
            Err(_) => {
                i += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)
}

/// The exact end state after the churn: `Ok(Err(reason))` while it is not reached.
async fn churn_end_state(
    client: &Client,
    version: &str,
    replicas: i32,
) -> anyhow::Result<Result<String, String>> {
    let d = client.api::<Deployment>(Some("default")).get(APP).await?;
    let s = &d.status;
    if s.observed_generation != d.metadata.generation
        || (
            s.replicas,
            s.updated_replicas,
            s.ready_replicas,
            s.available_replicas,
            s.unavailable_replicas,
        ) != (replicas, replicas, replicas, replicas, 0)
    {
        return Ok(Err(format!(
            "deployment status: generation {} observed {}, replicas/updated/ready/available/unavailable {}/{}/{}/{}/{}",
            d.metadata.generation, s.observed_generation, s.replicas, s.updated_replicas, s.ready_replicas, s.available_replicas, s.unavailable_replicas
        )));
    }
    let sets = client
        .api::<ReplicaSet>(Some("default"))
        .list(&ListParams::default())
        .await?
        .items;
    let owned: Vec<&ReplicaSet> = sets
        .iter()
        .filter(|rs| {
            rs.metadata
                .controller_ref()
                .is_some_and(|r| r.uid == d.metadata.uid)
        })
        .collect();
    let new: Vec<&&ReplicaSet> = owned
        .iter()
        .filter(|rs| {
            rs.spec
                .template
                .metadata
                .labels
                .get("version")
                .is_some_and(|v| v == version)
        })
        .collect();
    let [new] = new.as_slice() else {
        return Ok(Err(format!(
            "{} replica sets of the new template",
            new.len()
        )));
    };
    if new.spec.replicas != Some(replicas)
        || (
            new.status.replicas,
            new.status.ready_replicas,
            new.status.available_replicas,
        ) != (replicas, replicas, replicas)
    {
        return Ok(Err(format!(
            "new replica set {}: spec {:?}, status {:?}",
            new.metadata.name, new.spec.replicas, new.status
        )));
    }
    for old in owned
        .iter()
        .filter(|rs| rs.metadata.uid != new.metadata.uid)
    {
        if old.spec.replicas != Some(0) || old.status.replicas != 0 {
            return Ok(Err(format!(
                "old replica set {}: spec {:?}, status replicas {}",
                old.metadata.name, old.spec.replicas, old.status.replicas
            )));
        }
    }
    let hash = new
        .metadata
        .labels
        .get("pod-template-hash")
        .cloned()
        .unwrap_or_default();
    // Every pod of the namespace, terminating or not: no orphan, no duplicate.
    let pods = client
        .api::<Pod>(Some("default"))
        .list(&ListParams::default())
        .await?
        .items;
    if pods.len() != replicas as usize {
        return Ok(Err(format!(
            "{} pods: {:?}",
            pods.len(),
            pods.iter()
                .map(|p| (&p.metadata.name, p.metadata.deletion_timestamp.is_some()))
                .collect::<Vec<_>>()
        )));
    }
    for p in &pods {
        let owner_ok = p
            .metadata
            .controller_ref()
            .is_some_and(|r| r.kind == "ReplicaSet" && r.uid == new.metadata.uid);
        let right = owner_ok
            && p.metadata.deletion_timestamp.is_none()
            && p.metadata.labels.get("pod-template-hash") == Some(&hash)
            && p.metadata.labels.get("app").map(String::as_str) == Some(APP)
            && p.status.phase == Some(PodPhase::Running)
            && is_ready(p)
            && !p.spec.node_name.is_empty()
            // The fake runtime's containers never exit: a restart means a kubelet
            // started one twice.
            && p.status.container_statuses.iter().all(|c| c.restart_count == 0);
        if !right {
            return Ok(Err(format!(
                "pod {} not right: owner ok {owner_ok}, terminating {}, hash {:?}, phase {:?}, ready {}, node {:?}, restarts {:?}",
                p.metadata.name,
                p.metadata.deletion_timestamp.is_some(),
                p.metadata.labels.get("pod-template-hash"),
                p.status.phase,
                is_ready(p),
                p.spec.node_name,
                p.status
                    .container_statuses
                    .iter()
                    .map(|c| c.restart_count)
                    .collect::<Vec<_>>()
            )));
        }
    }
    Ok(Ok(format!(
        "5 pods of {} on {:?}; {} old replica sets at 0",
        new.metadata.name,
        pods.iter()
            .map(|p| p.spec.node_name.as_str())
            .collect::<Vec<_>>(),
        owned.len() - 1
    )))
}

fn churn_template(version: &str) -> PodTemplateSpec {
    let mut t = PodTemplateSpec::default();
    t.metadata.labels.insert("app".into(), APP.into());
    t.metadata.labels.insert("version".into(), version.into());
    t.spec.containers = vec![Container {
        name: "main".into(),
        // The images the fake runtime has.
        image: "rudder/demo:1".into(),
        ..Default::default()
    }];
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario1_actor_kills_during_deployment_churn() -> anyhow::Result<()> {
    let cluster = Cluster::three_nodes().await?;
    let mut clients = Vec::new();
    for n in &cluster.nodes {
        clients.push(n.client().await?.with_timeout(Duration::from_secs(5)));
    }
    let seed = chaos_seed();
    eprintln!("scenario1: chaos seed {seed} (replay with RUDDER_CHAOS_SEED={seed})");
    // Every actor of every node but bus and chaos: apiservers, store fronts,
    // controllers, scheduler, kubelets, proxies.
    let targets: TargetSet = "all".parse().map_err(anyhow::Error::msg)?;
    // `$RUDDER_CHAOS_EVERY_MS` changes the period (a period over 60 s: no kills at all,
    // to tell a fault of the churn from one of the kills).
    let every = std::env::var("RUDDER_CHAOS_EVERY_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let schedule = Schedule::new(
        seed,
        Duration::from_millis(every),
        Duration::from_secs(60),
        targets,
    );
    let steps = schedule.steps() as usize;
    let chaos = {
        let c = clients[0].clone();
        tokio::spawn(
            async move { run_schedule(&c, schedule, |ev| eprintln!("scenario1: {ev}")).await },
        )
    };

    // The churn, spread over the minute of kills: 0 at once, 30 at +5 s, 5 at +30 s, a
    // new template at +42 s.
    let t0 = tokio::time::Instant::now();
    let mut d = Deployment::new(APP);
    d.spec.replicas = Some(0);
    d.spec.selector = LabelSelector {
        match_labels: [("app".to_owned(), APP.to_owned())].into(),
        ..Default::default()
    };
    d.spec.template = churn_template("v1");
    on_any(&clients, "create the deployment", |c| {
        let d = d.clone();
        async move {
            let api = c.api::<Deployment>(Some("default"));
            if api.get_opt(APP).await?.is_none() {
                api.create(&d).await?;
            }
            Ok(())
        }
    })
    .await?;
    tokio::time::sleep_until(t0 + Duration::from_secs(5)).await;
    let scale = |n: i32| {
        on_any(&clients, "scale", move |c| async move {
            c.api::<Deployment>(Some("default"))
                .patch(
                    APP,
                    PatchType::Merge,
                    &serde_json::json!({"spec": {"replicas": n}}),
                )
                .await?;
            Ok(())
        })
    };
    scale(30).await?;
    let up = Instant::now();
    let reached = eventually(Duration::from_secs(30), || async {
        let pods = clients[0]
            .api::<Pod>(Some("default"))
            .list(&ListParams::default())
            .await?;
        let ready = pods.items.iter().filter(|p| is_ready(p)).count();
        Ok((ready >= 30).then_some(ready))
    })
    .await;
    eprintln!(
        "scenario1: 30 ready pods {} after {:?}",
        if reached.is_ok() {
            "reached"
        } else {
            "not reached"
        },
        up.elapsed()
    );
    tokio::time::sleep_until(t0 + Duration::from_secs(30)).await;
    scale(5).await?;
    tokio::time::sleep_until(t0 + Duration::from_secs(42)).await;
    on_any(&clients, "new template", |c| async move {
        c.api::<Deployment>(Some("default"))
            .patch(
                APP,
                PatchType::Merge,
                &serde_json::json!({"spec": {"template": {"metadata": {"labels": {"version": "v2"}}}}}),
            )
            .await?;
        Ok(())
    })
    .await?;
    let changed = Instant::now();
    let events = chaos.await?;
    let kills = events
        .iter()
        .filter(|e| e.outcome.starts_with("killed"))
        .count();
    let mut killed: BTreeMap<String, usize> = BTreeMap::new();
    for e in &events {
        if let Some(c) = &e.choice {
            *killed.entry(c.actor.clone()).or_default() += 1;
        }
    }
    eprintln!(
        "scenario1: seed {seed}: {kills} kills of {} steps: {killed:?}",
        events.len()
    );
    assert!(
        kills >= steps / 2,
        "the schedule killed only {kills} actors in {steps} steps"
    );

    // Converges to exactly the right end state.
    let calm = Instant::now();
    let last = Arc::new(Mutex::new(String::new()));
    let outcome = eventually(Duration::from_secs(180), || {
        let (c, last) = (
            clients[calm.elapsed().as_secs() as usize % 3].clone(),
            last.clone(),
        );
        async move {
            match churn_end_state(&c, "v2", 5).await? {
                Ok(summary) => Ok(Some(summary)),
                Err(why) => {
                    *last.lock().expect("lock") = why;
                    Ok(None)
                }
            }
        }
    })
    .await;
    let summary = match outcome {
        Ok((s, _)) => s,
        Err(e) => {
            let pods = clients[1]
                .api::<Pod>(Some("default"))
                .list(&ListParams::default())
                .await?;
            for p in &pods.items {
                eprintln!(
                    "scenario1: pod {} node {:?} phase {:?} ready {} terminating {} containers {:?}",
                    p.metadata.name,
                    p.spec.node_name,
                    p.status.phase,
                    is_ready(p),
                    p.metadata.deletion_timestamp.is_some(),
                    p.status.container_statuses
                );
            }
            anyhow::bail!(
                "seed {seed}: not converged: {e}; last difference: {}",
                last.lock().expect("lock")
            )
        }
    };
    eprintln!(
        "scenario1: seed {seed}: converged {:?} after the chaos ended ({:?} after the last change): {summary}",
        calm.elapsed(),
        changed.elapsed()
    );
    // And it stays so (nothing left in flight creates or deletes more).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = churn_end_state(&clients[1], "v2", 5).await?;
    assert!(
        again.is_ok(),
        "seed {seed}: state moved after convergence: {again:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Scenario 5: kubelet kills with real Docker pods.

/// One container as Docker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DockerContainer {
    id: String,
    restarts: u32,
    started_at: String,
    status: String,
}

/// The containers of `node` (label `io.rudder.node`) by name.
fn containers_of(node: &str) -> BTreeMap<String, DockerContainer> {
    let label = format!("label=io.rudder.node={node}");
    let ids = docker(&["ps", "-aq", "--filter", &label]).unwrap_or_default();
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return BTreeMap::new();
    }
    let mut args = vec![
        "inspect",
        "-f",
        "{{.Name}} {{.Id}} {{.RestartCount}} {{.State.StartedAt}} {{.State.Status}}",
    ];
    args.extend(ids);
    let out = docker(&args).unwrap_or_default();
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [name, id, restarts, started_at, status] = f.as_slice() else {
                return None;
            };
            Some((
                name.trim_start_matches('/').to_owned(),
                DockerContainer {
                    id: (*id).to_owned(),
                    restarts: restarts.parse().ok()?,
                    started_at: (*started_at).to_owned(),
                    status: (*status).to_owned(),
                },
            ))
        })
        .collect()
}

/// Per pod: (container id, restart count) of each container, as the API reports them.
async fn pod_containers(
    pods: &rudder_protocol::client::Api<Pod>,
) -> anyhow::Result<BTreeMap<String, Vec<(String, i32)>>> {
    let list = pods.list(&ListParams::default()).await?;
    Ok(list
        .items
        .iter()
        .map(|p| {
            (
                p.metadata.name.clone(),
                p.status
                    .container_statuses
                    .iter()
                    .map(|c| (c.container_id.clone(), c.restart_count))
                    .collect(),
            )
        })
        .collect())
}

async fn kubelet_state(client: &Client) -> anyhow::Result<ActorState> {
    use rudder_protocol::messages::chaos::{ChaosReply, ChaosRequest};
    let reply = client
        .call(
            rudder_protocol::ActorRef::new(client.node().clone(), "chaos"),
            ChaosRequest::ListActors,
        )
        .await?;
    let ChaosReply::Actors(list) = reply else {
        anyhow::bail!("unexpected {reply:?}");
    };
    list.into_iter()
        .find(|a| a.name == "kubelet")
        .map(|a| a.state)
        .ok_or_else(|| anyhow::anyhow!("no kubelet listed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario5_kubelet_kill_no_double_start() -> anyhow::Result<()> {
    if !docker_available("scenario 5 (kubelet kills with real containers)") {
        return Ok(());
    }
    let node = format!("chaos5-{}", std::process::id());
    let _cleanup = DockerCleanup(node.clone());
    build_images()?;
    let mut cluster = Cluster::new()?;
    let mut spec = cluster.spec("single-node.toml", &node);
    spec.kubelet_runtime = None; // real Docker
    cluster
        .nodes
        .push(rudder_tests::NodeProc::start(spec).await?);
    let client = cluster.nodes[0]
        .client()
        .await?
        .with_timeout(Duration::from_secs(10));
    let pods = client.api::<Pod>(Some("default"));
    eventually(Duration::from_secs(60), || async {
        let n = client.api::<Node>(None).get(&node).await?;
        Ok(n.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)
            .then_some(()))
    })
    .await?;

    const PODS: usize = 10;
    for i in 0..PODS {
        let mut p = Pod::new(format!("p{i}"));
        p.spec.node_name = node.clone();
        p.spec.termination_grace_period_seconds = Some(2);
        p.spec.containers = vec![Container {
            name: "app".into(),
            image: "rudder/demo:1".into(),
            ..Default::default()
        }];
        pods.create(&p).await?;
    }
    eventually(Duration::from_secs(120), || async {
        let list = pods.list(&ListParams::default()).await?;
        let running = list
            .items
            .iter()
            .filter(|p| p.status.phase == Some(PodPhase::Running) && is_ready(p))
            .count();
        Ok((running == PODS).then_some(()))
    })
    .await?;
    let before = containers_of(&node);
    assert_eq!(
        before.len(),
        2 * PODS,
        "sandbox and app per pod: {before:?}"
    );
    assert!(before.values().all(|c| c.status == "running"), "{before:?}");
    let statuses_before = pod_containers(&pods).await?;

    // Kill the kubelet several times: single kills with pauses, then a quick burst (its
    // supervisor backs off), during which a pod is deleted.
    let victim = "p9";
    for (round, pause_ms) in [(1, 1500u64), (2, 300), (3, 2500), (4, 50), (5, 50)] {
        let killed = client
            .chaos_kill(&rudder_protocol::NodeName::new(node.as_str()), "kubelet")
            .await?;
        eprintln!("scenario5: kill {round}: {killed:?}");
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
    }
    let killed = client
        .chaos_kill(&rudder_protocol::NodeName::new(node.as_str()), "kubelet")
        .await?;
    let state = kubelet_state(&client).await?;
    pods.delete(victim).await?;
    eprintln!("scenario5: kill 6: {killed:?}; deleted {victim} with the kubelet {state:?}");
    let last_kill = Instant::now();

    // The deleted pod's containers go once the kubelet is back; the pod object too.
    let n = node.clone();
    let prefix = format!("_{victim}_");
    eventually(Duration::from_secs(90), || {
        let (n, prefix, pods) = (n.clone(), prefix.clone(), pods.clone());
        async move {
            let gone = !containers_of(&n).keys().any(|k| k.contains(&prefix));
            Ok((gone && pods.get_opt(victim).await?.is_none()).then_some(()))
        }
    })
    .await?;
    let cleaned = last_kill.elapsed();
    eventually(Duration::from_secs(30), || async {
        Ok((kubelet_state(&client).await? == ActorState::Running).then_some(()))
    })
    .await?;
    // Let a restarted kubelet do whatever it would do wrong.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let after = containers_of(&node);
    let kept: BTreeMap<String, DockerContainer> = before
        .iter()
        .filter(|(name, _)| !name.contains(&prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(kept.len(), 2 * (PODS - 1));
    for (name, c) in &kept {
        let now = after.get(name);
        assert_eq!(
            now,
            Some(c),
            "container {name} changed (started again, restarted or lost)"
        );
    }
    assert_eq!(
        after.len(),
        kept.len(),
        "extra containers: {:?}",
        after
            .keys()
            .filter(|k| !kept.contains_key(*k))
            .collect::<Vec<_>>()
    );
    let statuses_after = pod_containers(&pods).await?;
    for (pod, cs) in &statuses_before {
        if pod == victim {
            continue;
        }
        assert_eq!(
            statuses_after.get(pod),
            Some(cs),
            "pod {pod}: container ids or restart counts changed"
        );
    }
    let list = pods.list(&ListParams::default()).await?;
    assert_eq!(list.items.len(), PODS - 1);
    assert!(list
        .items
        .iter()
        .all(|p| p.status.phase == Some(PodPhase::Running) && is_ready(p)));
    eprintln!(
        "scenario5: 6 kubelet kills; {} containers untouched; deleted pod cleaned up {cleaned:?} after the last kill",
        kept.len()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The chaos commands themselves, through `rudderctl chaos`.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_commands_partition_kill_and_replayable_schedule() -> anyhow::Result<()> {
    let mut cluster = Cluster::three_nodes().await?;
    let c1 = cluster.nodes[0].client().await?;
    let leader = leader_of(&c1, "cp-1").await?;
    let other = ["cp-1", "cp-2", "cp-3"]
        .into_iter()
        .find(|n| *n != leader)
        .expect("a follower")
        .to_owned();
    let cfg = cluster.node(&other).client_config();
    let put = |k: &str| StoreRequest::Put {
        key: k.into(),
        value: b"v".to_vec(),
        expect: Expect::Any,
    };

    // Partition the leader: the majority elects another and keeps writing; the
    // isolated node cannot commit.
    let out = rudderctl(&cfg, &["chaos", "partition", &leader, "--for", "20s"])?;
    assert!(
        out.contains(&format!("on {leader}: drop 100.0% both")),
        "{out}"
    );
    let faults = rudderctl(&cfg, &["chaos", "faults", "--node", &leader])?;
    assert!(faults.contains("drop 100.0%"), "{faults}");
    let oc = cluster
        .node(&other)
        .client()
        .await?
        .with_timeout(Duration::from_secs(3));
    let (_, took) = eventually(Duration::from_secs(20), || async {
        Ok(store(&oc, &other, put("/p/majority")).await.ok())
    })
    .await?;
    eprintln!("chaos commands: majority wrote {took:?} after the partition");
    let lc = cluster
        .node(&leader)
        .client()
        .await?
        .with_timeout(Duration::from_secs(3));
    assert!(
        store(&lc, &leader, put("/p/isolated")).await.is_err(),
        "the isolated node committed a write"
    );
    let out = rudderctl(&cfg, &["chaos", "clear"])?;
    assert!(
        out.contains(&format!("{leader}: 1 fault rule(s) cleared")),
        "{out}"
    );
    // Healed: the old leader catches up.
    eventually(Duration::from_secs(30), || async {
        let reply = store(
            &lc,
            &leader,
            StoreRequest::Get {
                key: "/p/majority".into(),
                consistency: Consistency::Serializable,
            },
        )
        .await?;
        Ok(matches!(reply, StoreReply::Get { kv: Some(_), .. }).then_some(()))
    })
    .await?;

    // Pattern kills on every node print what they killed where.
    let out = rudderctl(&cfg, &["chaos", "kill", "controller/*", "--all"])?;
    for n in ["cp-1", "cp-2", "cp-3"] {
        assert!(
            out.contains(&format!("killed {n}/controller/replicaset")),
            "{out}"
        );
    }
    assert!(!out.contains("/bus") && !out.contains("/chaos"), "{out}");

    // The same seed on the same cluster makes the same choices.
    let choices = |out: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| {
                l.split_once(" kill ")
                    .map(|(_, c)| c.split(' ').next().unwrap_or("").to_owned())
            })
            .collect()
    };
    let args = [
        "chaos",
        "schedule",
        "--seed",
        "7",
        "--every",
        "300ms",
        "--for",
        "1500ms",
        "--kill",
        "role=control-plane",
        "--exclude",
        "store,apiserver",
    ];
    let a = choices(&rudderctl(&cfg, &args)?);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let b = choices(&rudderctl(&cfg, &args)?);
    assert_eq!(a.len(), 5, "{a:?}");
    assert_eq!(a, b, "same seed, same choices");

    // Killing a node's process.
    let victim = if other == "cp-3" { "cp-2" } else { "cp-3" };
    let out = rudderctl(&cfg, &["chaos", "kill-node", victim])?;
    assert!(out.contains(&format!("killing node {victim}")), "{out}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.node(victim).is_running() {
        assert!(Instant::now() < deadline, "{victim} still runs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
