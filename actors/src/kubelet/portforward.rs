//! Serves port-forward streams (`KubeletStream::PortForward`): one bus stream is one TCP
//! connection to a port in a pod's network namespace.
//!
//! The pod's network namespace is its sandbox's: the kubelet connects to the sandbox's
//! IP on the node's pod bridge, which the node reaches directly (Rudder's pods are on a
//! bridge of this host), and to the loopback address for a pod on the host's network
//! (its sandbox has no IP of its own). Before any byte flows the stream carries
//! [`ExecStart`]: `Refused` with Kubernetes' message when the pod has no running sandbox
//! or nothing accepts on the port, so that the API server can write the error on the
//! client's error stream; `Ready` once the TCP connection is up.
//!
//! Port 0 is no connection but a session's hold on the kubelet (see
//! `apiserver::portforward`): answered once the sandbox runs, then kept open.
//!
//! Then bytes are copied both ways as they are. A finish from the API server (the client
//! closed its side) shuts down the TCP connection's write side; the pod closing its side
//! finishes the stream. A reset stream (the client went away) drops the connection. The
//! task lives in the kubelet's stream serving: a killed kubelet drops the connection and
//! resets the stream, so the client sees an error rather than a silent hang.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::messages::kubelet::{ExecStart, PortForwardRequest};
use rudder_protocol::stream::{StreamReader, StreamWriter, MAX_CHUNK};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::runtime::{labels, ContainerRuntime, RunState};

/// How long connecting to the pod's port may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one port-forward connection to its end.
pub async fn serve(
    rt: Arc<dyn ContainerRuntime>,
    node: String,
    req: PortForwardRequest,
    mut writer: StreamWriter,
    reader: StreamReader,
) {
    if req.port == 0 {
        return hold(rt, node, req, writer, reader).await;
    }
    let tcp = match connect(&rt, &node, &req).await {
        Ok(tcp) => tcp,
        Err(e) => {
            let message = format!(
                "error forwarding port {} to pod {}, uid {}: {e}",
                req.port, req.pod, req.uid
            );
            tracing::debug!(pod = %format!("{}/{}", req.namespace, req.pod), %message, "port-forward refused");
            let start = ExecStart::Refused { code: 500, message };
            if let Ok(bytes) = rudder_protocol::codec::encode(&start) {
                let _ = writer.send_chunk(bytes).await;
            }
            let _ = writer.finish().await;
            return;
        }
    };
    let Ok(ready) = rudder_protocol::codec::encode(&ExecStart::Ready) else {
        return;
    };
    if writer.send_chunk(ready).await.is_err() {
        return;
    }
    relay(tcp, writer, reader).await;
}

/// A session's hold on this kubelet (port 0): `Ready` once the pod's sandbox runs, then
/// open until the API server drops it or this kubelet goes away (which resets it: the
/// session ends).
async fn hold(
    rt: Arc<dyn ContainerRuntime>,
    node: String,
    req: PortForwardRequest,
    mut writer: StreamWriter,
    mut reader: StreamReader,
) {
    let start = match pod_address(&rt, &node, &req).await {
        Ok(_) => ExecStart::Ready,
        Err(e) => ExecStart::Refused {
            code: 500,
            message: format!(
                "unable to forward ports to pod {}, uid {}: {e}",
                req.pod, req.uid
            ),
        },
    };
    let ready = start == ExecStart::Ready;
    if let Ok(bytes) = rudder_protocol::codec::encode(&start) {
        if writer.send_chunk(bytes).await.is_err() {
            return;
        }
    }
    if !ready {
        let _ = writer.finish().await;
        return;
    }
    // Nothing more is sent either way; this waits for the end.
    while let Ok(Some(_)) = reader.recv().await {}
    writer.cancel("the port-forward session ended");
}

/// The address of the pod's network namespace: its sandbox's IP, or the loopback
/// address when the pod shares the host's network.
async fn pod_address(
    rt: &Arc<dyn ContainerRuntime>,
    node: &str,
    req: &PortForwardRequest,
) -> Result<std::net::IpAddr, String> {
    let want = BTreeMap::from([
        (labels::NODE.to_owned(), node.to_owned()),
        (labels::POD_NAMESPACE.to_owned(), req.namespace.clone()),
        (labels::POD_NAME.to_owned(), req.pod.clone()),
        (labels::KIND.to_owned(), "sandbox".to_owned()),
    ]);
    let all = rt.list_containers(&want).await.map_err(|e| e.to_string())?;
    let sandbox = all
        .iter()
        .filter(|c| c.state == RunState::Running)
        .max_by_key(|c| c.attempt())
        .ok_or_else(|| "the pod has no running sandbox".to_owned())?;
    let info = rt
        .inspect_container(&sandbox.id)
        .await
        .map_err(|e| e.to_string())?;
    match info.ip.filter(|ip| !ip.is_empty()) {
        Some(ip) => ip
            .parse()
            .map_err(|_| format!("the pod's address {ip:?} is not an IP address")),
        // A sandbox on the host's network has no address of its own.
        None => Ok(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
    }
}

async fn connect(
    rt: &Arc<dyn ContainerRuntime>,
    node: &str,
    req: &PortForwardRequest,
) -> Result<TcpStream, String> {
    let ip = pod_address(rt, node, req).await?;
    let addr = std::net::SocketAddr::new(ip, req.port);
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => {
            // Small writes (interactive protocols) go out at once.
            let _ = tcp.set_nodelay(true);
            Ok(tcp)
        }
        Ok(Err(e)) => Err(format!("dial tcp {addr}: connect: {e}")),
        Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
    }
}

/// Copies between the TCP connection and the stream until both directions ended or
/// either broke.
async fn relay(tcp: TcpStream, mut writer: StreamWriter, mut reader: StreamReader) {
    let (mut rd, mut wr) = tcp.into_split();
    let inbound = async move {
        loop {
            match reader.recv().await {
                Ok(Some(chunk)) => {
                    if wr.write_all(&chunk).await.is_err() {
                        // The pod closed: what the client still sends has nowhere to go;
                        // dropping the reader tells the API server.
                        return Err(());
                    }
                }
                Ok(None) => {
                    let _ = wr.shutdown().await;
                    return Ok(());
                }
                Err(_) => return Err(()),
            }
        }
    };
    let outbound = async move {
        loop {
            // Each read lands in the chunk the stream carries on, not in a copy.
            let mut chunk = Vec::with_capacity(MAX_CHUNK);
            match rd.read_buf(&mut chunk).await {
                Ok(0) => return writer.finish().await.map_err(|_| ()),
                Ok(n) => {
                    if n < MAX_CHUNK / 2 {
                        // A window of small reads must not pin a chunk's memory each.
                        chunk.shrink_to_fit();
                    }
                    if writer.send_chunk(chunk).await.is_err() {
                        return Err(());
                    }
                }
                Err(e) => {
                    writer.cancel(&format!("reading from the pod: {e}"));
                    return Err(());
                }
            }
        }
    };
    tokio::pin!(inbound, outbound);
    tokio::select! {
        r = &mut outbound => {
            // The pod is done sending; the client may still be sending (half-close).
            if r.is_ok() {
                let _ = inbound.await;
            }
        }
        r = &mut inbound => {
            if r.is_ok() {
                let _ = outbound.await;
            }
        }
    }
}
