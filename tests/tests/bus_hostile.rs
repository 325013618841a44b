//! Bad input against a real `rudderd`: wrong tokens, wrong clusters, garbage, truncated and
//! oversized frames, unknown versions. Each must close only the offending connection; the
//! node keeps serving everyone else and does not panic.

use std::time::Duration;

use rudder_protocol::client::{Client, ClientConfig, ClientError};
use rudder_protocol::frame::{Frame, Hello, Peer, MAGIC, PROTOCOL_VERSION};
use rudder_protocol::messages::echo::{EchoReply, EchoRequest};
use rudder_protocol::net::{self, Credentials, HandshakeError};
use rudder_protocol::ActorRef;
use rudder_tests::{Cluster, NodeProc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn solo() -> anyhow::Result<(Cluster, Client)> {
    let mut cluster = Cluster::new()?;
    let spec = cluster.spec("single-node.toml", "solo");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let client = cluster.nodes[0].client().await?;
    Ok((cluster, client))
}

async fn ping(client: &Client) -> anyhow::Result<()> {
    let reply = client
        .call(
            ActorRef::new("solo", "echo"),
            EchoRequest::Ping { payload: vec![9] },
        )
        .await?;
    anyhow::ensure!(
        matches!(reply, EchoReply::Pong { .. }),
        "bad reply {reply:?}"
    );
    Ok(())
}

/// Reads until the peer closes; fails if it stays open for 10 s.
async fn closed_by_peer(stream: &mut TcpStream) -> anyhow::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("connection still open after 10 s"))?;
    Ok(got)
}

/// The node survived: still running, no panic logged, old and new clients served.
async fn still_serving(cluster: &mut Cluster, old: &Client) -> anyhow::Result<()> {
    ping(old).await?;
    let fresh = cluster.nodes[0].client().await?;
    ping(&fresh).await?;
    anyhow::ensure!(cluster.nodes[0].is_running(), "node exited");
    let log = cluster.nodes[0].log_text();
    anyhow::ensure!(!log.contains("panicked"), "node panicked: {log}");
    Ok(())
}

fn creds_of(node: &NodeProc) -> anyhow::Result<Credentials> {
    Ok(ClientConfig::load(&node.client_config())?.credentials()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_or_cluster_is_refused_and_logged() -> anyhow::Result<()> {
    let (mut cluster, client) = solo().await?;
    let good = creds_of(&cluster.nodes[0])?;
    let bus = cluster.nodes[0].bus.clone();

    let wrong_token = Credentials::token(good.cluster_id.clone(), &b"not-the-token"[..]);
    match Client::connect_to(&bus, &wrong_token).await {
        Err(ClientError::Handshake {
            source: HandshakeError::Refused(_),
            ..
        }) => {}
        Err(other) => anyhow::bail!("expected a refusal, got {other}"),
        Ok(_) => anyhow::bail!("a wrong token was accepted"),
    }
    let wrong_cluster = Credentials {
        cluster_id: "someone-else".into(),
        secret: good.secret.clone(),
    };
    match Client::connect_to(&bus, &wrong_cluster).await {
        Err(ClientError::Handshake {
            source: HandshakeError::Refused(reason),
            ..
        }) => {
            assert!(reason.contains("cluster id"), "{reason}");
        }
        Err(other) => anyhow::bail!("expected a refusal, got {other}"),
        Ok(_) => anyhow::bail!("a foreign cluster was accepted"),
    }
    still_serving(&mut cluster, &client).await?;
    let log = cluster.nodes[0].log_text();
    assert!(
        log.contains("wrong cluster token"),
        "refusal not logged: {log}"
    );
    assert!(
        !log.contains("not-the-token"),
        "the presented secret must not be logged"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_truncated_oversized_and_unknown_version_close_only_that_connection(
) -> anyhow::Result<()> {
    let (mut cluster, client) = solo().await?;
    let bus = cluster.nodes[0].bus.clone();

    // 1. Garbage before any handshake.
    let mut s = TcpStream::connect(&bus).await?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\xfe garbage garbage")
        .await?;
    closed_by_peer(&mut s).await?;

    // 2. A truncated frame: the header promises 100 bytes, 10 arrive, then EOF.
    let mut s = TcpStream::connect(&bus).await?;
    s.write_all(&100u32.to_be_bytes()).await?;
    s.write_all(&[PROTOCOL_VERSION; 10]).await?;
    s.shutdown().await?;
    closed_by_peer(&mut s).await?;

    // 3. A frame over the size limit, announced before any handshake.
    let mut s = TcpStream::connect(&bus).await?;
    s.write_all(&u32::MAX.to_be_bytes()).await?;
    closed_by_peer(&mut s).await?;

    // 4. An unknown version in the frame header.
    let mut s = TcpStream::connect(&bus).await?;
    let mut frame = Vec::new();
    net::encode_frame(&Frame::Heartbeat, &mut frame)?;
    frame[4] = PROTOCOL_VERSION.wrapping_add(7);
    s.write_all(&frame).await?;
    closed_by_peer(&mut s).await?;

    // 5. An unknown version announced in Hello: refused with a reason, then closed.
    let mut s = TcpStream::connect(&bus).await?;
    let mut frame = Vec::new();
    net::encode_frame(
        &Frame::Hello(Hello {
            magic: MAGIC,
            version: PROTOCOL_VERSION + 1,
            cluster_id: "rudder".into(),
            peer: Peer::Client {
                label: "future".into(),
            },
            nonce: [0; 32],
        }),
        &mut frame,
    )?;
    s.write_all(&frame).await?;
    let answer = closed_by_peer(&mut s).await?;
    let refused = net::decode_frame_body(answer.get(4..).unwrap_or_default())?;
    assert!(
        matches!(&refused, Frame::Refused { reason } if reason.contains("version")),
        "{refused:?}"
    );

    // 6. After a valid handshake: an oversized frame, then garbage, each on its own link.
    let creds = creds_of(&cluster.nodes[0])?;
    for bytes in [
        (16u32 * 1024 * 1024 + 1).to_be_bytes().to_vec(),
        b"\x00\x00\x00\x05\x01\xff\xff\xff\xff".to_vec(),
    ] {
        let est = net::dial_handshake(
            TcpStream::connect(&bus).await?,
            Peer::Client {
                label: "hostile".into(),
            },
            &creds,
            Duration::from_secs(5),
        )
        .await?;
        let mut writer = est.writer;
        writer.write_all(&bytes).await?;
        let mut reader = est.reader;
        tokio::time::timeout(Duration::from_secs(10), async {
            // Heartbeats may arrive first; the link must end, cleanly or with an error.
            while let Ok(Some(_)) = reader.next().await {}
        })
        .await
        .map_err(|_| anyhow::anyhow!("link still open after 10 s"))?;
    }

    still_serving(&mut cluster, &client).await?;
    let log = cluster.nodes[0].log_text();
    assert!(
        log.contains("exceeds the limit"),
        "oversize not logged: {log}"
    );
    Ok(())
}
