//! Bus streams between two `rudderd` processes: a control-plane node `cp-1` and a worker
//! `w-1`, with the `echo` actors at both ends (`EchoRequest::StreamTo` makes one node's
//! echo stream bytes into the other's sink, which counts them after the opener's
//! half-close and answers the count on the other direction).
//!
//! What must hold across processes: every byte arrives and the half-close is seen (the
//! count comes back); killing the far end's actor, or the far process, fails the
//! stream at once (an error within seconds, not a hang); the link serves on afterwards.

use std::time::{Duration, Instant};

use rudder_protocol::client::Client;
use rudder_protocol::messages::echo::{EchoReply, EchoRequest};
use rudder_protocol::{ActorRef, NodeName};
use rudder_tests::{eventually, Cluster, NodeProc};

async fn two_nodes() -> anyhow::Result<(Cluster, Client)> {
    let mut cluster = Cluster::new()?;
    let cp = cluster.spec("three-node/cp-1.toml", "cp-1");
    cluster.nodes.push(NodeProc::start(cp).await?);
    let mut spec = cluster.spec("three-node/cp-1.toml", "w-1");
    spec.roles = Some("worker".into());
    spec.join = vec![cluster.nodes[0].bus.clone()];
    cluster.nodes.push(NodeProc::start(spec).await?);
    let client = cluster.nodes[0]
        .client()
        .await?
        .with_timeout(Duration::from_secs(120));
    // cp-1 reaches w-1's echo over their link.
    let c = client.clone();
    eventually(Duration::from_secs(20), move || {
        let c = c.clone();
        async move {
            Ok(c.call(
                ActorRef::new("w-1", "echo"),
                EchoRequest::Ping { payload: vec![1] },
            )
            .await
            .ok())
        }
    })
    .await?;
    Ok((cluster, client))
}

async fn stream_to(client: &Client, from: &str, to: &str, bytes: u64) -> anyhow::Result<u64> {
    match client
        .call(
            ActorRef::new(from, "echo"),
            EchoRequest::StreamTo {
                to: ActorRef::new(to, "echo"),
                bytes,
            },
        )
        .await?
    {
        EchoReply::Streamed { bytes, .. } => Ok(bytes),
        other => anyhow::bail!("unexpected reply {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_cross_processes_and_fail_fast_when_the_far_end_goes() -> anyhow::Result<()> {
    let (mut cluster, client) = two_nodes().await?;

    // Both ways across the link: every byte, then the sink's count after the half-close.
    let n = 64 * 1024 * 1024 + 12_345;
    assert_eq!(stream_to(&client, "cp-1", "w-1", n).await?, n);
    assert_eq!(stream_to(&client, "w-1", "cp-1", n).await?, n);

    // The far end's actor killed mid-stream: the opener fails within seconds.
    let long = {
        let c = client.clone();
        tokio::spawn(async move { stream_to(&c, "cp-1", "w-1", 1 << 40).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !long.is_finished(),
        "a terabyte does not stream in two seconds"
    );
    let killed = client.chaos_kill(&NodeName::new("w-1"), "echo").await?;
    assert!(!killed.is_empty(), "echo on w-1 was killed: {killed:?}");
    let at = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(20), long).await??;
    let e = r.expect_err("the stream must fail when its far actor is killed");
    assert!(at.elapsed() < Duration::from_secs(20), "{e}");
    assert!(format!("{e:#}").contains("streaming failed"), "{e:#}");

    // The restarted echo takes streams again.
    let c = client.clone();
    eventually(Duration::from_secs(20), move || {
        let c = c.clone();
        async move { Ok(stream_to(&c, "cp-1", "w-1", 1 << 20).await.ok()) }
    })
    .await?;

    // The far process killed mid-stream: the dropped link fails the stream.
    let long = {
        let c = client.clone();
        tokio::spawn(async move { stream_to(&c, "cp-1", "w-1", 1 << 40).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!long.is_finished());
    cluster.node("w-1").kill9().await?;
    let r = tokio::time::timeout(Duration::from_secs(20), long).await??;
    let e = r.expect_err("the stream must fail when the link drops");
    assert!(format!("{e:#}").contains("streaming failed"), "{e:#}");

    // cp-1 serves on: a stream to its own echo (joined in memory) still works.
    assert_eq!(stream_to(&client, "cp-1", "cp-1", 1 << 20).await?, 1 << 20);
    Ok(())
}
