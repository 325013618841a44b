//! The API through the Rust client (the `apiserver` actor on the bus): typed create, get,
//! list with selectors, update, patch, delete; optimistic concurrency; and a watch that
//! survives killing the `apiserver` actor by resuming from its last resourceVersion.

use std::time::Duration;

use rudder_protocol::client::{Api, ApiError, Client, WatchEvent};
use rudder_protocol::messages::api::{ListParams, PatchType};
use rudder_protocol::messages::chaos::{ChaosReply, ChaosRequest};
use rudder_protocol::resources::{Pod, ServiceAccount};
use rudder_protocol::ActorRef;
use rudder_tests::{eventually, Cluster};

async fn node() -> anyhow::Result<(Cluster, Client)> {
    Cluster::solo(false).await
}

fn account(name: &str, team: &str) -> ServiceAccount {
    let mut sa = ServiceAccount::new(name);
    sa.metadata.labels.insert("team".into(), team.into());
    sa
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_handles_and_optimistic_concurrency() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let sas: Api<ServiceAccount> = client.api(Some("default"));
    let a = sas.create(&account("a", "red")).await?;
    sas.create(&account("b", "blue")).await?;
    assert!(!a.metadata.uid.is_empty() && !a.metadata.resource_version.is_empty());
    assert_eq!(sas.get("a").await?.metadata.uid, a.metadata.uid);

    let red = sas
        .list(&ListParams {
            label_selector: Some("team=red".into()),
            ..ListParams::default()
        })
        .await?;
    let names: Vec<String> = red.items.iter().map(|s| s.metadata.name.clone()).collect();
    assert_eq!(names, ["a"]);

    let err = sas.create(&account("a", "red")).await.expect_err("exists");
    assert_eq!(err.code(), Some(409));
    let err = sas.get("nope").await.expect_err("missing");
    assert_eq!(err.code(), Some(404));
    let err = sas
        .create(&account("Bad_Name", "x"))
        .await
        .expect_err("invalid");
    assert_eq!(err.code(), Some(422));

    // Two updates from the same resourceVersion: exactly one wins.
    let mut first = a.clone();
    first.metadata.labels.insert("who".into(), "first".into());
    let mut second = a.clone();
    second.metadata.labels.insert("who".into(), "second".into());
    let (r1, r2) = tokio::join!(sas.update(&first), sas.update(&second));
    let wins = [r1.is_ok(), r2.is_ok()].iter().filter(|w| **w).count();
    assert_eq!(wins, 1, "{r1:?} {r2:?}");
    for r in [r1, r2] {
        if let Err(e) = r {
            assert_eq!(e.code(), Some(409), "{e}");
        }
    }

    let patched = sas
        .patch(
            "b",
            PatchType::Merge,
            &serde_json::json!({"metadata": {"labels": {"team": "green"}}}),
        )
        .await?;
    assert_eq!(
        patched.metadata.labels.get("team").map(String::as_str),
        Some("green")
    );
    sas.delete("b").await?;
    assert!(matches!(sas.get("b").await, Err(ApiError::Status(s)) if s.code == 404));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_across_an_apiserver_kill() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let sas: Api<ServiceAccount> = client.api(Some("default"));
    // The service account controller creates `default` on its own: let it be there
    // before watching, so that the watch sees only this test's writes.
    eventually(Duration::from_secs(30), || async {
        Ok(sas.get_opt("default").await?)
    })
    .await?;
    let start = sas.list(&ListParams::default()).await?;
    let mut rv: u64 = start.metadata.resource_version.parse()?;
    let mut seen = Vec::new();
    for i in 0..30 {
        if i == 10 || i == 20 {
            let reply = client
                .call(
                    ActorRef::new(client.node().clone(), "chaos"),
                    ChaosRequest::KillActor {
                        name: "apiserver".into(),
                    },
                )
                .await?;
            assert!(matches!(reply, ChaosReply::Killed { .. }), "{reply:?}");
        }
        // Writes go on while the watcher is away; it resumes from its resourceVersion.
        let mut created = None;
        for _ in 0..50 {
            match sas.create(&account(&format!("sa-{i}"), "w")).await {
                Ok(sa) => {
                    created = Some(sa);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        assert!(created.is_some(), "create sa-{i} failed repeatedly");
        if i % 3 == 2 {
            let (events, next) = loop {
                match sas
                    .watch_poll(&ListParams::default(), rv, Duration::from_millis(500))
                    .await
                {
                    Ok(r) => break r,
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            };
            for e in events {
                match e {
                    WatchEvent::Added(sa) => seen.push(sa.metadata.name),
                    other => anyhow::bail!("unexpected event {other:?}"),
                }
            }
            rv = next;
        }
    }
    // The watch may trail the last acknowledged write a little: keep watching.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.len() < 30 && tokio::time::Instant::now() < deadline {
        if let Ok((events, next)) = sas
            .watch_poll(&ListParams::default(), rv, Duration::from_millis(500))
            .await
        {
            for e in events {
                match e {
                    WatchEvent::Added(sa) => seen.push(sa.metadata.name),
                    other => anyhow::bail!("unexpected event {other:?}"),
                }
            }
            rv = next;
        }
    }
    let want: Vec<String> = (0..30).map(|i| format!("sa-{i}")).collect();
    assert_eq!(
        seen, want,
        "every change once, in order, across two apiserver kills"
    );
    Ok(())
}

/// A pod no scheduler of the cluster takes (its `schedulerName` names none), so the test
/// alone decides where it is bound.
fn pod(name: &str, node: Option<&str>) -> anyhow::Result<Pod> {
    let mut spec = serde_json::json!({
        "containers": [{"name": "c", "image": "rudder/demo:1"}],
        "schedulerName": "nobody",
    });
    if let Some(n) = node {
        spec["nodeName"] = n.into();
    }
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec,
    }))?)
}

/// A watch narrowed by a field selector sees an object arrive as ADDED and leave as
/// DELETED when it stops matching (as Kubernetes sends it), and never sees objects that
/// never matched; lists honour `resourceVersion` ("0": the cache as it stands, "N": at
/// least N).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selective_watches_see_objects_enter_and_leave() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let pods: Api<Pod> = client.api(Some("default"));
    let pending = ListParams {
        field_selector: Some("spec.nodeName=".into()),
        ..ListParams::default()
    };
    let start: u64 = pods
        .list(&pending)
        .await?
        .metadata
        .resource_version
        .parse()?;
    pods.create(&pod("waiting", None)?).await?;
    pods.create(&pod("placed", Some("n1"))?).await?;
    pods.bind("waiting", "n1").await?;
    let err = pods.bind("waiting", "n2").await.expect_err("bound twice");
    assert_eq!(err.code(), Some(409));

    let mut seen: Vec<String> = Vec::new();
    let mut rv = start;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.iter().any(|e| e.starts_with("DELETED")) && tokio::time::Instant::now() < deadline {
        let (events, next) = pods
            .watch_poll(&pending, rv, Duration::from_secs(2))
            .await?;
        rv = next;
        for e in events {
            seen.push(match e {
                WatchEvent::Added(p) => format!("ADDED {}", p.metadata.name),
                WatchEvent::Modified(p) => format!("MODIFIED {}", p.metadata.name),
                WatchEvent::Deleted(p) => {
                    format!("DELETED {} on {}", p.metadata.name, p.spec.node_name)
                }
            });
        }
    }
    // The scheduler may touch the pending pod's status (MODIFIED) in between.
    seen.retain(|e| !e.starts_with("MODIFIED"));
    assert_eq!(seen, ["ADDED waiting", "DELETED waiting on n1"]);

    let at_least = pods
        .list(&ListParams {
            resource_version: Some(rv.to_string()),
            ..ListParams::default()
        })
        .await?;
    assert!(at_least.metadata.resource_version.parse::<u64>()? >= rv);
    assert_eq!(at_least.items.len(), 2);
    let cached = pods
        .list(&ListParams {
            resource_version: Some("0".into()),
            ..ListParams::default()
        })
        .await?;
    assert!(cached.items.len() <= 2);
    let bad = pods
        .list(&ListParams {
            resource_version: Some("soon".into()),
            ..ListParams::default()
        })
        .await
        .expect_err("not a number");
    assert_eq!(bad.code(), Some(400));
    Ok(())
}

/// Pages of a list served by the watch cache walk every object once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_lists_walk_every_object_once() -> anyhow::Result<()> {
    let (_cluster, client) = node().await?;
    let sas: Api<ServiceAccount> = client.api(Some("default"));
    for i in 0..25 {
        sas.create(&account(&format!("sa-{i:02}"), "p")).await?;
    }
    let mut names = Vec::new();
    let mut params = ListParams {
        limit: 10,
        label_selector: Some("team=p".into()),
        ..ListParams::default()
    };
    let mut pages = 0;
    loop {
        let page = sas.list(&params).await?;
        pages += 1;
        assert!(page.items.len() <= 10);
        names.extend(page.items.into_iter().map(|s| s.metadata.name));
        if page.metadata.continue_.is_empty() {
            break;
        }
        params.continue_token = Some(page.metadata.continue_);
    }
    let want: Vec<String> = (0..25).map(|i| format!("sa-{i:02}")).collect();
    assert_eq!(names, want);
    assert_eq!(pages, 3);

    // Every page shows the state of the first one, whatever changes in between (the
    // revision travels in the continue token), and says so in its resourceVersion.
    params.continue_token = None;
    let first = sas.list(&params).await?;
    sas.delete("sa-15").await?;
    sas.create(&account("sa-99", "p")).await?;
    let mut names: Vec<String> = first.items.into_iter().map(|s| s.metadata.name).collect();
    let mut token = first.metadata.continue_;
    while !token.is_empty() {
        params.continue_token = Some(token);
        let page = sas.list(&params).await?;
        assert_eq!(
            page.metadata.resource_version,
            first.metadata.resource_version
        );
        names.extend(page.items.into_iter().map(|s| s.metadata.name));
        token = page.metadata.continue_;
    }
    assert_eq!(
        names, want,
        "the pages after a change still show the first page's state"
    );
    Ok(())
}
