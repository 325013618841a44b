//! Traces across the bus, on three real `rudderd` processes: one `kubectl create` sent to
//! a follower's API server shows as one trace through that API server, its store
//! replica, the store leader (where the write commits at a log index) and every
//! replica's apply of that index, listed by `rudderctl traces` among the slowest recent
//! requests and shown whole by `rudderctl traces ID`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rudder_tests::{eventually, kubectl, rudderctl, store_status, Cluster};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_trace_through_api_server_leader_and_replicas() -> anyhow::Result<()> {
    let cluster = Cluster::three_nodes().await?;
    let admin = cluster.nodes[0].client().await?;
    let leader = store_status(&admin, "cp-1")
        .await?
        .leader
        .map(|l| l.to_string())
        .ok_or_else(|| anyhow::anyhow!("no store leader"))?;
    let follower = cluster
        .nodes
        .iter()
        .find(|n| n.name() != leader)
        .expect("a follower");
    let out = kubectl(
        &follower.kubeconfig(),
        &[
            "create",
            "secret",
            "generic",
            "traced",
            "--from-literal=a=b",
        ],
        None,
    );
    assert!(out.success, "{}", out.stderr);

    // The slowest recent requests of every node list it, slowest first.
    let config = follower.client_config();
    let (root, _) = eventually(Duration::from_secs(10), || {
        let config = config.clone();
        async move {
            let listing: Value = serde_json::from_str(&rudderctl(
                &config,
                &["traces", "--limit", "1000", "-o", "json"],
            )?)?;
            let traces = listing["traces"].as_array().cloned().unwrap_or_default();
            let durations: Vec<u64> = traces
                .iter()
                .filter_map(|t| t["durationMicros"].as_u64())
                .collect();
            assert!(durations.windows(2).all(|w| w[0] >= w[1]), "{durations:?}");
            // No controller creates Secrets in `default`: this is kubectl's.
            Ok(traces.into_iter().find(|t| {
                t["name"] == "create /api/v1/namespaces/default/secrets" && t["detail"] == "201"
            }))
        }
    })
    .await?;
    assert_eq!(root["node"], follower.name(), "{root}");
    assert!(root["parentId"].is_null(), "{root}");
    let id = root["traceId"].as_str().expect("trace id").to_owned();

    // The whole trace: every span's parent is in it, and it crosses the nodes.
    let (trace, _) = eventually(Duration::from_secs(10), || {
        let (config, id) = (config.clone(), id.clone());
        async move {
            let trace: Value =
                serde_json::from_str(&rudderctl(&config, &["traces", &id, "-o", "json"])?)?;
            // Complete once every replica has reported its apply.
            let applies = trace["raft"]
                .as_array()
                .map_or(0, |r| r.iter().filter(|s| s["step"] == "apply").count());
            Ok((applies >= 3).then_some(trace))
        }
    })
    .await?;
    let spans = trace["spans"].as_array().expect("spans");
    let ids: HashSet<&str> = spans.iter().filter_map(|s| s["spanId"].as_str()).collect();
    for s in spans {
        assert_eq!(s["traceId"], id.as_str(), "{s}");
        match s["parentId"].as_str() {
            None => assert_eq!(s["spanId"], root["spanId"], "a second root: {s}"),
            Some(parent) => assert!(ids.contains(parent), "orphan span {s} in {trace}"),
        }
    }
    // The write: the API server's request to its store replica, forwarded to the leader.
    let writes_on = |node: &str| {
        spans.iter().any(|s| {
            s["node"] == node && matches!(s["name"].as_str(), Some("store Put" | "store Txn"))
        })
    };
    assert!(writes_on(follower.name()), "{trace}");
    assert!(writes_on(&leader), "forwarded write on the leader: {trace}");
    let commit = spans
        .iter()
        .find(|s| s["node"] == leader.as_str() && s["name"] == "raft commit")
        .unwrap_or_else(|| panic!("no commit on the leader: {trace}"));
    let index = commit["raftIndex"].as_u64().expect("commit index");
    // Each replica reports its synced append of the commit's index, then its apply.
    let step_starts = |step: &str| -> HashMap<&str, u64> {
        trace["raft"]
            .as_array()
            .expect("raft steps")
            .iter()
            .filter(|a| a["index"].as_u64() == Some(index) && a["step"] == step)
            .filter_map(|a| Some((a["node"].as_str()?, a["startMicros"].as_u64()?)))
            .collect()
    };
    let (appended, applied) = (step_starts("append"), step_starts("apply"));
    for n in &cluster.nodes {
        let (Some(append), Some(apply)) = (appended.get(n.name()), applied.get(n.name())) else {
            panic!(
                "{} did not report appending and applying index {index}: {trace}",
                n.name()
            );
        };
        assert!(
            append <= apply,
            "{} applied before appending: {trace}",
            n.name()
        );
    }

    // The table form names the nodes and the apply of each replica.
    let text = rudderctl(&config, &["traces", &id])?;
    assert!(text.contains(&format!("trace {id}")), "{text}");
    assert!(text.contains("raft commit"), "{text}");
    for step in ["append", "apply"] {
        assert_eq!(
            text.matches(&format!("raft {step} {index}")).count(),
            3,
            "{text}"
        );
    }
    assert!(rudderctl(&config, &["traces", "not-a-trace"]).is_err());
    Ok(())
}
