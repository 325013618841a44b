//! `chaos-multihost`: chaos scenarios 3 and 4 (issue 9) against the multi-host cluster
//! on Docker that `scripts/cluster.sh up` starts (3 control-plane and 2 worker
//! containers). Each scenario ends with strict invariant checks, prints its times to
//! converge, and makes the program exit non-zero when an invariant breaks.
//!
//! - **scenario 3, partition**: the store leader's container is disconnected from the bus
//!   network for a while. Through a majority node's API the majority must keep
//!   acknowledging writes; through the isolated node's API (still reachable on its
//!   published port) every write must fail or time out, never be acknowledged, and none
//!   may be committed while the partition lasts (no split brain). After healing, the
//!   isolated replica must hold every write the majority acknowledged, its applied index
//!   must catch up, and all replicas must show the same digest at the same revision.
//! - **scenario 4, worker loss**: a Deployment runs pods on both workers; the container of
//!   the worker with most of them is killed (its own container engine, and its pods, with
//!   it). Its Node must go `Ready=Unknown` with the unreachable NoExecute taint within the
//!   configured grace period (not before it), and its pods must be replaced on the other
//!   worker within grace period + toleration seconds (plus a margin for a loaded
//!   machine), with real containers running there. The worker is started again
//!   afterwards: its node comes back Ready and the kubelet removes the stopped containers
//!   of its evicted pods from its engine.
//!
//! ```text
//! scripts/cluster.sh up && target/debug/chaos-multihost [scenario3|scenario4|all]
//! ```
//!
//! The timeouts it checks against are those of `cluster-config/multihost/*.toml`
//! (`--grace-ms`, `--toleration-s` if the configs change).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use rudder_protocol::client::{Api, Client};
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::messages::store::{Consistency, StoreReply, StoreRequest, StoreStatus};
use rudder_protocol::resources::{
    ConditionStatus, Deployment, Lease, Node, Pod, PodPhase, TaintEffect,
};
use rudder_tests::multihost::{
    classify_kubectl, docker, worker_docker, KubectlOutcome, MultiHost, CONTROL_PLANE, WORKERS,
};
use rudder_tests::{eventually, store, store_status};
use serde_json::json;

/// Per-request timeout of bus clients.
const REQUEST: Duration = Duration::from_secs(5);
/// How long scenario 3 keeps the leader isolated.
const PARTITION: Duration = Duration::from_secs(20);
/// Namespace of the scenarios' objects.
const NS: &str = "default";
/// Margin on top of configured timeouts for a loaded two-core machine.
const SLACK: Duration = Duration::from_secs(30);

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// A short id for this run, so objects of earlier runs never count.
fn run_id() -> String {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{:x}", s & 0xff_ffff)
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// A leader that sees every member as a voter with the whole log: a settled group.
async fn settled_leader(mh: &MultiHost, timeout: Duration) -> anyhow::Result<String> {
    let (leader, _) = eventually(timeout, || async {
        let c = mh.any_control_plane(&[], REQUEST).await?;
        let s = store_status(&c, c.node().as_str()).await?;
        let Some(leader) = s.leader else {
            return Ok(None);
        };
        let l = store_status(&c, leader.as_str()).await?;
        let in_step = l.members.len() == CONTROL_PLANE.len()
            && l.members.iter().all(|m| {
                m.voter && m.matched_index.is_some() && m.matched_index >= l.last_log_index
            });
        Ok(in_step.then(|| leader.as_str().to_owned()))
    })
    .await
    .context("the store group did not settle")?;
    Ok(leader)
}

fn lease(name: &str, holder: &str) -> anyhow::Result<Lease> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"holderIdentity": holder},
    }))?)
}

fn lease_key(name: &str) -> String {
    format!("/registry/leases/{NS}/{name}")
}

/// One replica's state of `key`, read locally (serializable).
async fn local_get(
    c: &Client,
    node: &str,
    key: &str,
) -> anyhow::Result<Option<rudder_protocol::messages::store::KeyValue>> {
    match store(
        c,
        node,
        StoreRequest::Get {
            key: key.to_owned(),
            consistency: Consistency::Serializable,
        },
    )
    .await?
    {
        StoreReply::Get { kv, .. } => Ok(kv),
        other => bail!("unexpected reply {other:?}"),
    }
}

/// Keys under `prefix`, linearizable, through `node`.
async fn range(c: &Client, node: &str, prefix: &str) -> anyhow::Result<(Vec<String>, u64)> {
    match store(
        c,
        node,
        StoreRequest::Range {
            prefix: prefix.to_owned(),
            start_after: None,
            limit: 0,
            consistency: Consistency::Linearizable,
        },
    )
    .await?
    {
        StoreReply::Range { kvs, revision, .. } => {
            Ok((kvs.into_iter().map(|kv| kv.key).collect(), revision))
        }
        other => bail!("unexpected reply {other:?}"),
    }
}

async fn digest(c: &Client, node: &str) -> anyhow::Result<(u64, u64)> {
    match store(c, node, StoreRequest::Digest).await? {
        StoreReply::Digest { digest, revision } => Ok((revision, digest)),
        other => bail!("unexpected reply {other:?}"),
    }
}

/// What the isolated side saw.
#[derive(Default, Debug)]
struct IsolatedLog {
    attempts: Vec<(String, KubectlOutcome)>,
    /// Attempts made while the API itself answered (`/version`).
    reached: usize,
}

/// Writes through the isolated node's API until `until`.
async fn isolated_writer(
    mh: &MultiHost,
    node: &str,
    run: &str,
    until: Instant,
) -> anyhow::Result<IsolatedLog> {
    let mut log = IsolatedLog::default();
    let mut i = 0;
    while Instant::now() < until {
        let name = format!("p3-{run}-iso-{i}");
        i += 1;
        let (up, _, _) = mh
            .kubectl(node, &["get", "--raw", "/version"], None, REQUEST)
            .await?;
        let body = serde_json::to_string(&lease(&name, "isolated")?)?;
        let (ok, _, err) = mh
            .kubectl(node, &["create", "-f", "-"], Some(&body), REQUEST)
            .await?;
        let outcome = classify_kubectl(ok, &err);
        if up {
            log.reached += 1;
        }
        let kind = std::mem::discriminant(&outcome);
        if !log
            .attempts
            .iter()
            .any(|(_, o)| std::mem::discriminant(o) == kind)
        {
            println!(
                "scenario3:   isolated {node}: create {name}: {outcome:?} (first of its kind)"
            );
        }
        log.attempts.push((name, outcome));
    }
    Ok(log)
}

/// Writes through a majority node's API until `until`; the acknowledged names with the
/// time after `start` they were acknowledged at, and the number of failures.
async fn majority_writer(
    leases: &Api<Lease>,
    run: &str,
    start: Instant,
    until: Instant,
) -> anyhow::Result<(Vec<(String, Duration)>, usize)> {
    let mut acked = Vec::new();
    let mut failed = 0;
    let mut i = 0;
    while Instant::now() < until {
        let name = format!("p3-{run}-maj-{i}");
        i += 1;
        match leases.create(&lease(&name, "majority")?).await {
            Ok(_) => acked.push((name, start.elapsed())),
            Err(e) => {
                failed += 1;
                println!("scenario3:   majority create {name} failed: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((acked, failed))
}

async fn scenario3(mh: &MultiHost) -> anyhow::Result<()> {
    let run = run_id();
    for n in CONTROL_PLANE {
        if !mh.is_connected(n).await? {
            mh.heal(n).await?;
        }
    }
    let leader = settled_leader(mh, Duration::from_secs(120)).await?;
    let majority: Vec<&str> = CONTROL_PLANE
        .iter()
        .copied()
        .filter(|n| *n != leader)
        .collect();
    println!("scenario3: isolating the store leader {leader}; majority {majority:?}");
    let maj_client = mh.client(majority[0], REQUEST).await?;
    let leases = maj_client.api::<Lease>(Some(NS));

    // Writes acknowledged before the partition.
    let mut acked: Vec<String> = Vec::new();
    for i in 0..10 {
        let name = format!("p3-{run}-pre-{i}");
        leases
            .create(&lease(&name, "before")?)
            .await
            .with_context(|| format!("write {name} before the partition"))?;
        acked.push(name);
    }

    mh.partition(&leader).await?;
    let start = Instant::now();
    let until = start + PARTITION;
    let partitioned = async {
        let (maj, iso) = tokio::join!(
            majority_writer(&leases, &run, start, until),
            isolated_writer(mh, &leader, &run, until)
        );
        // Still partitioned: nothing written on the isolated side is visible to the
        // majority (linearizable read through a majority node).
        let prefix = lease_key(&format!("p3-{run}-iso-"));
        let (visible, revision) = range(&maj_client, majority[0], &prefix)
            .await
            .context("linearizable read on the majority side during the partition")?;
        Ok::<_, anyhow::Error>((maj?, iso?, visible, revision))
    };
    let outcome = partitioned.await;
    // Heal whatever happened above.
    mh.heal(&leader).await?;
    let healed = Instant::now();
    let ((maj_acked, maj_failed), iso, visible_during, revision_at_heal) = outcome?;

    // The isolated side: no write acknowledged, and the checks were real.
    let acknowledged: Vec<&String> = iso
        .attempts
        .iter()
        .filter(|(_, o)| *o == KubectlOutcome::Acknowledged)
        .map(|(n, _)| n)
        .collect();
    let count = |f: fn(&KubectlOutcome) -> bool| iso.attempts.iter().filter(|(_, o)| f(o)).count();
    println!(
        "scenario3: isolated side: {} writes tried, {} while its API answered: {} refused, {} timed out, {} unreachable, {} acknowledged",
        iso.attempts.len(),
        iso.reached,
        count(|o| matches!(o, KubectlOutcome::Refused(_))),
        count(|o| matches!(o, KubectlOutcome::TimedOut(_))),
        count(|o| matches!(o, KubectlOutcome::Unreachable(_))),
        acknowledged.len()
    );
    ensure!(
        acknowledged.is_empty(),
        "SPLIT BRAIN: the isolated node acknowledged {acknowledged:?}"
    );
    ensure!(
        iso.reached >= 2,
        "the isolated node's API was not reachable: its refusals prove nothing ({:?})",
        iso.attempts
    );
    ensure!(
        visible_during.is_empty(),
        "SPLIT BRAIN: writes sent to the isolated node were committed during the partition: {visible_during:?}"
    );

    // The majority side kept accepting writes.
    let first = maj_acked.first().map(|(_, t)| *t);
    let last = maj_acked.last().map(|(_, t)| *t);
    println!(
        "scenario3: majority side: {} writes acknowledged, {} failed; first after {}, last at {}",
        maj_acked.len(),
        maj_failed,
        first.map(secs).unwrap_or_default(),
        last.map(secs).unwrap_or_default(),
    );
    ensure!(
        maj_acked.len() >= 10,
        "the majority acknowledged only {} writes in {PARTITION:?}",
        maj_acked.len()
    );
    ensure!(
        last.is_some_and(|t| t + Duration::from_secs(5) >= PARTITION),
        "the majority stopped acknowledging writes before the partition ended (last at {last:?})"
    );
    acked.extend(maj_acked.into_iter().map(|(n, _)| n));

    // Catch-up: the healed replica holds every acknowledged write and its applied index
    // reaches the leader's.
    let ((), caught_up) = eventually(Duration::from_secs(120), || async {
        let c = match mh.client(&leader, REQUEST).await {
            Ok(c) => c,
            Err(_) => return Ok(None),
        };
        let mine = store_status(&c, &leader).await?;
        let Some(now_leader) = mine.leader.clone() else {
            return Ok(None);
        };
        let theirs: StoreStatus = store_status(&c, now_leader.as_str()).await?;
        if mine.applied_index < theirs.applied_index.map(|i| i.saturating_sub(20)) {
            return Ok(None);
        }
        for name in &acked {
            if local_get(&c, &leader, &lease_key(name)).await?.is_none() {
                return Ok(None);
            }
        }
        Ok(Some(()))
    })
    .await
    .context("the healed replica did not catch up")?;
    println!(
        "scenario3: healed {leader} caught up (every acknowledged write, applied index in step) {} after healing",
        secs(caught_up)
    );

    // Every replica has every acknowledged write, and they agree on the state.
    let clients: BTreeMap<&str, Client> = {
        let mut m = BTreeMap::new();
        for n in CONTROL_PLANE {
            m.insert(n, mh.client(n, REQUEST).await?);
        }
        m
    };
    for (node, c) in &clients {
        for name in &acked {
            ensure!(
                local_get(c, node, &lease_key(name)).await?.is_some(),
                "LOST WRITE: {node} lacks acknowledged {name}"
            );
        }
    }
    let (same, converged) = eventually(Duration::from_secs(60), || async {
        let mut seen = BTreeMap::new();
        for (node, c) in &clients {
            seen.insert(*node, digest(c, node).await?);
        }
        let revisions: BTreeSet<u64> = seen.values().map(|(r, _)| *r).collect();
        Ok((revisions.len() == 1).then_some(seen))
    })
    .await
    .context("the replicas never reported the same revision")?;
    let digests: BTreeSet<u64> = same.values().map(|(_, d)| *d).collect();
    ensure!(
        digests.len() == 1,
        "DIVERGED: replicas at the same revision have different digests: {same:?}"
    );
    println!(
        "scenario3: all replicas agree at revision {} ({} after healing + {})",
        same.values().next().map(|(r, _)| *r).unwrap_or(0),
        secs(caught_up),
        secs(converged)
    );

    // Writes the isolated side timed out on are indeterminate: one that is applied later
    // must have been committed after the partition healed, never during it.
    let mut late = Vec::new();
    let c = &clients[majority[0]];
    for (name, _) in &iso.attempts {
        if let Some(kv) = local_get(c, majority[0], &lease_key(name)).await? {
            ensure!(
                kv.mod_revision > revision_at_heal,
                "SPLIT BRAIN: {name} was committed at revision {} during the partition (the majority was at {revision_at_heal} when it healed)",
                kv.mod_revision
            );
            late.push(name.clone());
        }
    }
    if !late.is_empty() {
        println!(
            "scenario3: note: {} writes the isolated node never acknowledged were committed after healing ({late:?}): its API server held them until a leader was known again",
            late.len()
        );
    }
    println!(
        "scenario3: PASS: partition of {} ({} healed at {}): {} acknowledged writes on every replica; converged {} after healing",
        leader,
        secs(PARTITION),
        secs(healed - start),
        acked.len(),
        secs(caught_up + converged)
    );
    for name in acked.iter().chain(late.iter()) {
        let _ = leases.delete(name).await;
    }
    Ok(())
}

fn ready_status(node: &Node) -> Option<ConditionStatus> {
    node.status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status)
}

fn pod_ready(p: &Pod) -> bool {
    p.status.phase == Some(PodPhase::Running)
        && p.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)
}

fn active(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && !matches!(p.status.phase, Some(PodPhase::Succeeded | PodPhase::Failed))
}

fn deployment(name: &str, replicas: i32) -> anyhow::Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "rudder/demo:1"}]}
            }
        }
    }))?)
}

/// Containers of the pod `uid` in the workers' own engines: the running ones, or with
/// `all` those stopped too (a stopped worker's engine, and its containers, are not
/// counted).
async fn pod_containers(uid: &str, all: bool) -> anyhow::Result<usize> {
    let filter = format!("label=io.rudder.pod.uid={uid}");
    let args: &[&str] = if all {
        &["ps", "-aq", "--filter", &filter]
    } else {
        &["ps", "-q", "--filter", &filter]
    };
    let mut n = 0;
    for w in WORKERS {
        if let Some(out) = worker_docker(w, args).await? {
            n += out.lines().filter(|l| !l.trim().is_empty()).count();
        }
    }
    Ok(n)
}

async fn scenario4(mh: &MultiHost, grace: Duration, toleration: Duration) -> anyhow::Result<()> {
    const REPLICAS: usize = 4;
    let run = run_id();
    let name = format!("p4-{run}");
    let c = mh.any_control_plane(&[], REQUEST).await?;
    let nodes = c.api::<Node>(None);
    let pods = c.api::<Pod>(Some(NS));
    let deploys = c.api::<Deployment>(Some(NS));
    let selector = ListParams {
        label_selector: Some(format!("app={name}")),
        ..Default::default()
    };
    for w in WORKERS {
        if docker(&["inspect", "-f", "{{.State.Running}}", w])
            .await?
            .trim()
            != "true"
        {
            mh.start(w).await?;
        }
    }
    eventually(Duration::from_secs(120), || async {
        let mut ready = 0;
        for w in WORKERS {
            if ready_status(&nodes.get(w).await?) == Some(ConditionStatus::True) {
                ready += 1;
            }
        }
        Ok((ready == WORKERS.len()).then_some(()))
    })
    .await
    .context("both workers Ready before the scenario")?;

    deploys.create(&deployment(&name, REPLICAS as i32)?).await?;
    let (placed, started) = eventually(Duration::from_secs(180), || async {
        let list = pods.list(&selector).await?;
        let live: Vec<Pod> = list.items.into_iter().filter(active).collect();
        Ok((live.len() == REPLICAS && live.iter().all(pod_ready)).then_some(live))
    })
    .await
    .context("the Deployment's pods did not all run")?;
    let mut per_node: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for p in &placed {
        per_node
            .entry(p.spec.node_name.clone())
            .or_default()
            .push((p.metadata.name.clone(), p.metadata.uid.clone()));
    }
    println!(
        "scenario4: {REPLICAS} pods Running and Ready in {}: {:?}",
        secs(started),
        per_node
            .iter()
            .map(|(n, v)| (n.clone(), v.len()))
            .collect::<Vec<_>>()
    );
    let victim = WORKERS
        .iter()
        .copied()
        .max_by_key(|w| per_node.get(*w).map_or(0, Vec::len))
        .unwrap_or(WORKERS[0]);
    let survivor = WORKERS
        .iter()
        .copied()
        .find(|w| *w != victim)
        .unwrap_or(WORKERS[1]);
    let lost: Vec<(String, String)> = per_node.get(victim).cloned().unwrap_or_default();
    ensure!(!lost.is_empty(), "no pod on {victim}");

    mh.kill(victim).await?;
    let killed = Instant::now();
    println!(
        "scenario4: killed worker {victim} (its {} pods: {lost:?})",
        lost.len()
    );
    // The pods' containers went with the worker (they ran in its own engine), as with a
    // machine that fails; their remains wait in its engine's storage for its return.

    let (node, _) = eventually(grace + SLACK + Duration::from_secs(30), || async {
        let n = nodes.get(victim).await?;
        Ok((ready_status(&n) == Some(ConditionStatus::Unknown)).then_some(n))
    })
    .await
    .with_context(|| format!("{victim} never went Ready=Unknown"))?;
    let not_ready = killed.elapsed();
    println!(
        "scenario4: {victim} Ready=Unknown after {} (grace period {})",
        secs(not_ready),
        secs(grace)
    );
    // The kubelet heartbeats every 10 s: the node was last heard from at most that long
    // before it was killed, so it may be marked up to 10 s before the grace period ends,
    // never earlier (3 s allowed for a slow heartbeat write); and at most a margin after it.
    let heartbeat = Duration::from_secs(10);
    ensure!(
        not_ready + heartbeat + Duration::from_secs(3) >= grace,
        "{victim} marked Unknown after {not_ready:?}, before its grace period {grace:?} could have run out"
    );
    ensure!(
        not_ready <= grace + SLACK,
        "{victim} marked Unknown only after {not_ready:?} (grace period {grace:?})"
    );
    // The pods stay for their toleration seconds after the taint: none may be gone yet.
    let now: Vec<Pod> = pods.list(&selector).await?.items;
    let early: Vec<&str> = lost
        .iter()
        .filter(|(_, uid)| !now.iter().any(|p| p.metadata.uid == *uid && active(p)))
        .map(|(name, _)| name.as_str())
        .collect();
    ensure!(
        early.is_empty() || toleration < Duration::from_secs(5),
        "pods {early:?} of {victim} were evicted before their toleration of {toleration:?} ran out"
    );
    let unreachable = |n: &Node| {
        n.spec.taints.iter().any(|t| {
            t.key == "node.kubernetes.io/unreachable" && t.effect == TaintEffect::NoExecute
        })
    };
    if !unreachable(&node) {
        eventually(Duration::from_secs(15), || async {
            Ok(unreachable(&nodes.get(victim).await?).then_some(()))
        })
        .await
        .with_context(|| {
            format!("{victim} is Unknown but never got the unreachable NoExecute taint")
        })?;
    }
    let lost_names: BTreeSet<&str> = lost.iter().map(|(n, _)| n.as_str()).collect();
    let (moved, _) = eventually(grace + toleration + SLACK * 3, || async {
        let list = pods.list(&selector).await?;
        let live: Vec<Pod> = list.items.into_iter().filter(active).collect();
        let done = live.len() == REPLICAS
            && live
                .iter()
                .all(|p| p.spec.node_name == survivor && pod_ready(p))
            && !live
                .iter()
                .any(|p| lost_names.contains(p.metadata.name.as_str()));
        Ok(done.then_some(live))
    })
    .await
    .with_context(|| format!("the pods of {victim} were not replaced on {survivor}"))?;
    let replaced = killed.elapsed();
    println!(
        "scenario4: pods replaced on {survivor}, all Running and Ready, {} after the kill (grace {} + toleration {})",
        secs(replaced),
        secs(grace),
        secs(toleration)
    );
    ensure!(
        replaced <= grace + toleration + SLACK * 3,
        "replacement took {replaced:?}"
    );
    // Invariants: exactly the desired pods, all on the survivor, each with running
    // containers in its engine; the Deployment reports them available.
    let list = pods.list(&selector).await?;
    let live: Vec<&Pod> = list.items.iter().filter(|p| active(p)).collect();
    ensure!(
        live.len() == REPLICAS,
        "{} live pods, want {REPLICAS}",
        live.len()
    );
    for p in &live {
        ensure!(
            p.spec.node_name == survivor,
            "{} on {}",
            p.metadata.name,
            p.spec.node_name
        );
        let n = pod_containers(&p.metadata.uid, false).await?;
        ensure!(
            n >= 2,
            "pod {} has {n} running containers on its worker (want sandbox + app)",
            p.metadata.name
        );
    }
    let ((), _) = eventually(Duration::from_secs(60), || async {
        let d = deploys.get(&name).await?;
        Ok((d.status.available_replicas == REPLICAS as i32).then_some(()))
    })
    .await
    .context("the Deployment does not report its replicas available")?;
    println!(
        "scenario4: replacements: {:?}",
        moved.iter().map(|p| &p.metadata.name).collect::<Vec<_>>()
    );

    // The worker returns: Ready again, and its evicted pods' containers are stopped.
    mh.start(victim).await?;
    let ((), back) = eventually(Duration::from_secs(120), || async {
        Ok((ready_status(&nodes.get(victim).await?) == Some(ConditionStatus::True)).then_some(()))
    })
    .await
    .with_context(|| format!("{victim} did not come back Ready"))?;
    let ((), cleaned) = eventually(Duration::from_secs(120), || async {
        // Its engine restarted with the evicted pods' containers stopped: the kubelet
        // removes them.
        for (_, uid) in &lost {
            if pod_containers(uid, true).await? > 0 {
                return Ok(None);
            }
        }
        let list = pods.list(&selector).await?;
        Ok((!list
            .items
            .iter()
            .any(|p| lost_names.contains(p.metadata.name.as_str())))
        .then_some(()))
    })
    .await
    .with_context(|| format!("{victim} kept the containers or pods of its evicted pods"))?;
    println!(
        "scenario4: {victim} Ready again {} after restart; its evicted pods gone and their containers removed {} later",
        secs(back),
        secs(cleaned)
    );
    println!(
        "scenario4: PASS: NotReady after {}, replaced after {}",
        secs(not_ready),
        secs(replaced)
    );
    Ok(())
}

/// Leaves the cluster as scenario 4 found it, whatever happened: every worker running,
/// no Deployment of an earlier run left.
async fn cleanup4(mh: &MultiHost) -> anyhow::Result<()> {
    for w in WORKERS {
        if docker(&["inspect", "-f", "{{.State.Running}}", w])
            .await?
            .trim()
            != "true"
        {
            mh.start(w).await?;
        }
    }
    let c = mh.any_control_plane(&[], REQUEST).await?;
    let deploys = c.api::<Deployment>(Some(NS));
    for d in deploys.list(&ListParams::default()).await?.items {
        if d.metadata.name.starts_with("p4-") {
            deploys.delete(&d.metadata.name).await?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            println!("chaos-multihost: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let which = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "all".into());
    let grace = Duration::from_millis(
        arg("--grace-ms")
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(20_000),
    );
    let toleration = Duration::from_secs(
        arg("--toleration-s")
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(10),
    );
    let mh = MultiHost::open()?;
    let mut failed = Vec::new();
    if matches!(which.as_str(), "all" | "scenario3") {
        let t = Instant::now();
        match scenario3(&mh).await {
            Ok(()) => println!("scenario3: ok in {}", secs(t.elapsed())),
            Err(e) => {
                println!("scenario3: FAIL: {e:#}");
                failed.push("scenario3");
            }
        }
    }
    if matches!(which.as_str(), "all" | "scenario4") {
        let t = Instant::now();
        match scenario4(&mh, grace, toleration).await {
            Ok(()) => println!("scenario4: ok in {}", secs(t.elapsed())),
            Err(e) => {
                println!("scenario4: FAIL: {e:#}");
                failed.push("scenario4");
            }
        }
        if let Err(e) = cleanup4(&mh).await {
            println!("scenario4: clean-up failed: {e:#}");
        }
    }
    if !matches!(which.as_str(), "all" | "scenario3" | "scenario4") {
        bail!("unknown scenario {which}: scenario3, scenario4 or all");
    }
    if !failed.is_empty() {
        bail!("failed: {failed:?}");
    }
    Ok(())
}
