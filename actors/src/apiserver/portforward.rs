//! `pods/portforward`: TCP connections to a pod's ports, relayed to the kubelet of the
//! pod's node, one bus stream per connection (`KubeletStream::PortForward`).
//!
//! Two ways in, chosen by the WebSocket subprotocol the client offers:
//!
//! - **`SPDY/3.1+portforward.k8s.io`** (kubectl 1.31+): the WebSocket's binary messages
//!   carry a SPDY/3.1 connection as a byte stream ([`super::spdy`]). As on Kubernetes,
//!   the client opens two streams per connection, both with headers `port` and
//!   `requestID`: `streamType: error` (which it only reads) and `streamType: data`. Each
//!   stream gets its SYN_REPLY at once; once both of a request are there, the server
//!   opens the bus stream to the kubelet. Bytes flow on the data stream (a FIN is a
//!   half-close, passed on); when the pod's side ends, the data stream and then the error
//!   stream are finished. A failure (nothing listens on the port, the kubelet went away)
//!   is written on the error stream before it finishes: kubectl prints it and, since
//!   1.29, ends the session. Pings are answered; GOAWAY, or the WebSocket closing, ends
//!   the session and resets what is still open. SPDY/3.1 flow control is not enforced
//!   (Kubernetes' SPDY library sends no WINDOW_UPDATE): reading the connection waits
//!   while a stream's bus writer waits for credit, which holds the client back.
//! - **`v4.channel.k8s.io`** (the Python client and other WebSocket clients): the ports
//!   are the query's `ports`; port `i` gets channel `2i` for data and `2i+1` for errors,
//!   each opened by the server with the port number (two bytes, little-endian). One
//!   connection per port is opened at once; the session ends when all have ended.
//!
//! Every session also holds one bus stream to the kubelet for as long as it lasts (a
//! `PortForward` with port 0, which the kubelet answers once the pod's sandbox runs and
//! then keeps open): a kubelet that is killed or a link that drops ends the whole
//! session with an error, as a restarted kubelet does on Kubernetes, instead of leaving
//! the client waiting.
//!
//! - **Plain `Upgrade: SPDY/3.1`** with `X-Stream-Protocol-Version: portforward.k8s.io`
//!   (clients before WebSockets, or kubectl with `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`):
//!   the same SPDY session on the upgraded connection itself ([`super::upgrade`]); a
//!   client that offers no protocol this server speaks gets `403` as on Kubernetes.
//!
//! Any other upgrade gets `400` naming what is supported.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::{HttpMessage as _, HttpRequest, HttpResponse};
use rudder_protocol::messages::kubelet::{ExecStart, KubeletStream, PortForwardRequest};
use rudder_protocol::messages::StreamOpen;
use rudder_protocol::stream::{StreamReader, StreamWriter};
use serde_json::Value;
use tokio::sync::mpsc;

use super::core::ApiCore;
use super::exec::UpgradePayload;
use super::spdy::{self, Codec, Frame};
use super::tunnel::{self, Out};
use crate::bus::Bus;

/// kubectl's tunnelled SPDY subprotocol.
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// The port-forward protocol inside SPDY (`X-Stream-Protocol-Version`).
pub const PORT_FORWARD_V1: &str = "portforward.k8s.io";

/// The WebSocket channel protocol of the Python client and others.
pub const CHANNEL_PROTOCOL: &str = "v4.channel.k8s.io";

/// How long the kubelet may take to take a stream and answer it.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest WebSocket frame accepted from the client.
const MAX_CLIENT_FRAME: usize = 1024 * 1024;

/// Where a session's connections go.
#[derive(Debug, Clone)]
struct Target {
    node: String,
    namespace: String,
    pod: String,
    uid: String,
}

impl Target {
    fn request(&self, port: u16) -> StreamOpen {
        StreamOpen::Kubelet(KubeletStream::PortForward(PortForwardRequest {
            namespace: self.namespace.clone(),
            pod: self.pod.clone(),
            uid: self.uid.clone(),
            port,
        }))
    }

    /// Opens a connection to `port` (0: the session's hold on the kubelet), waiting for
    /// the kubelet's answer; the error is Kubernetes' message.
    async fn open(&self, bus: &Bus, port: u16) -> Result<(StreamWriter, StreamReader), String> {
        let to = rudder_protocol::ActorRef::new(self.node.as_str(), crate::kubelet::NAME);
        let fail = |e: String| {
            format!(
                "error forwarding port {port} to pod {}, uid {}: {e}",
                self.pod, self.uid
            )
        };
        let (w, mut r) = bus
            .open_stream(to, self.request(port), START_TIMEOUT)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let first = tokio::time::timeout(START_TIMEOUT, r.recv()).await;
        match first {
            Ok(Ok(Some(bytes))) => match rudder_protocol::codec::decode::<ExecStart>(&bytes) {
                Ok(ExecStart::Ready) => Ok((w, r)),
                Ok(ExecStart::Refused { message, .. }) => Err(message),
                Err(e) => Err(fail(e.to_string())),
            },
            Ok(Ok(None)) => Err(fail("the kubelet ended the stream".into())),
            Ok(Err(e)) => Err(fail(e.to_string())),
            Err(_) => Err(fail("the kubelet did not answer".into())),
        }
    }
}

fn bad_request(message: impl Into<String>) -> HttpResponse {
    super::exec::failure(400, "BadRequest", message)
}

/// Serves an upgrade request for `pods/<name>/portforward` (see the module docs).
pub async fn serve(
    req: &HttpRequest,
    core: &ApiCore,
    pod: Value,
    ns: &str,
    name: &str,
    q: &[(String, String)],
) -> HttpResponse {
    let header = |h: &str| {
        req.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let spdy_upgrade = super::upgrade::is_spdy(req);
    let upgrade = header("upgrade").to_ascii_lowercase();
    if spdy_upgrade {
        let offered: Vec<String> = req
            .headers()
            .get_all("x-stream-protocol-version")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()))
            .collect();
        if !offered.iter().any(|p| p == PORT_FORWARD_V1) {
            return super::exec::failure(
                403,
                "Forbidden",
                format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts [\"{PORT_FORWARD_V1}\"]"
                ),
            );
        }
    } else if upgrade != "websocket" {
        return bad_request(format!(
            "upgrade to {upgrade:?} is not supported: this server forwards ports over \
             WebSocket ({TUNNEL_PROTOCOL}, {CHANNEL_PROTOCOL})"
        ));
    }
    let offered = header("sec-websocket-protocol");
    let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
    let protocol = if spdy_upgrade || offered.contains(&TUNNEL_PROTOCOL) {
        TUNNEL_PROTOCOL
    } else if offered.contains(&CHANNEL_PROTOCOL) {
        CHANNEL_PROTOCOL
    } else {
        return bad_request(format!(
            "requested protocol(s) are not supported: [{}]; supports [{TUNNEL_PROTOCOL} {CHANNEL_PROTOCOL}]",
            offered.join(" ")
        ));
    };
    let ports = if protocol == CHANNEL_PROTOCOL {
        match query_ports(q) {
            Ok(p) => p,
            Err(m) => return bad_request(m),
        }
    } else {
        Vec::new()
    };
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if matches!(phase, "Succeeded" | "Failed") {
        return bad_request(format!(
            "cannot port-forward to a completed pod; current phase is {phase}"
        ));
    }
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if node.is_empty() {
        return bad_request(format!("pod {name} does not have a host assigned"));
    }
    let target = Target {
        node: node.to_owned(),
        namespace: ns.to_owned(),
        pod: name.to_owned(),
        uid: pod
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    };
    let bus = core.bus().clone();
    // The session's hold on the kubelet; its refusal is the answer before the upgrade.
    let hold = match target.open(&bus, 0).await {
        Ok(h) => h,
        Err(m) => return super::exec::failure(500, "InternalError", m),
    };
    let payload = req
        .extensions()
        .get::<UpgradePayload>()
        .and_then(|p| p.0.borrow_mut().take());
    let Some(payload) = payload else {
        return super::exec::failure(500, "InternalError", "the connection cannot be upgraded");
    };
    if spdy_upgrade {
        let (to_client, from_client, response) = tunnel::raw(
            payload,
            super::upgrade::SPDY_UPGRADE,
            &[("X-Stream-Protocol-Version", PORT_FORWARD_V1)],
        );
        actix_web::rt::spawn(spdy_session(bus, target, hold, from_client, to_client));
        return response;
    }
    // The transport writes the frames itself: actix-ws's session goes unused.
    let (mut response, _session, messages) = match actix_ws::handle(req, payload) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("unable to upgrade connection: {e}")),
    };
    response.headers_mut().insert(
        actix_web::http::header::SEC_WEBSOCKET_PROTOCOL,
        actix_web::http::header::HeaderValue::from_static(protocol),
    );
    let messages = messages.max_frame_size(MAX_CLIENT_FRAME);
    let (to_client, from_client, response) = tunnel::websocket(response, messages);
    if protocol == TUNNEL_PROTOCOL {
        actix_web::rt::spawn(spdy_session(bus, target, hold, from_client, to_client));
    } else {
        actix_web::rt::spawn(channel_session(
            bus,
            target,
            hold,
            ports,
            from_client,
            to_client,
        ));
    }
    response
}

/// The query's `ports` (repeated or comma-separated), each a TCP port.
fn query_ports(q: &[(String, String)]) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for (_, v) in q.iter().filter(|(k, _)| k == "ports") {
        for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => ports.push(n),
                _ => return Err(format!("invalid port {p:?}: must be between 1 and 65535")),
            }
        }
    }
    if ports.is_empty() {
        return Err("at least one port must be specified (query parameter ports)".into());
    }
    // Two channels per port, numbered in one byte.
    if ports.len() > 127 {
        return Err(format!(
            "at most 127 ports per session, got {}",
            ports.len()
        ));
    }
    Ok(ports)
}

/// Waits until the kubelet ends the session's hold stream (it never does on its own:
/// the kubelet went away, or the link dropped); returns why.
async fn held(hold: &mut StreamReader) -> String {
    match hold.recv().await {
        Ok(_) => "the kubelet ended the session".into(),
        Err(e) => format!("lost connection to the kubelet: {e}"),
    }
}

// ---------------------------------------------------------------------------------------
// SPDY over WebSocket

/// What the session's reader hands a connection: client bytes, or the client's FIN.
enum Inbound {
    Data(Vec<u8>),
    Fin,
}

/// Half of a connection's pair of streams, waiting for the other.
#[derive(Default)]
struct Pending {
    port: Option<u16>,
    data: Option<u32>,
    error: Option<u32>,
}

/// Runs one tunnelled SPDY session to its end.
async fn spdy_session(
    bus: Bus,
    target: Target,
    hold: (StreamWriter, StreamReader),
    mut from_client: mpsc::Receiver<bytes::Bytes>,
    to_client: mpsc::Sender<Out>,
) {
    let (_hold_writer, mut hold_reader) = hold;
    let (frames, flushed) = tunnel::spdy_writer(to_client.clone());
    let mut codec = Codec::new();
    let mut conns: HashMap<u32, mpsc::Sender<Inbound>> = HashMap::new();
    let mut pending: HashMap<String, Pending> = HashMap::new();
    let mut last_id = 0u32;
    let ended = loop {
        let bytes = tokio::select! {
            b = from_client.recv() => b,
            why = held(&mut hold_reader) => break Some(why),
        };
        let Some(bytes) = bytes else { break None };
        codec.feed(&bytes);
        let mut stop = None;
        loop {
            let frame = match codec.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    let _ = frames
                        .send(Frame::GoAway {
                            last_good: last_id,
                            status: 1,
                        })
                        .await;
                    stop = Some(Some(e.to_string()));
                    break;
                }
            };
            match frame {
                Frame::SynStream {
                    stream, headers, ..
                } => {
                    if stream % 2 == 0 || stream <= last_id {
                        let _ = frames
                            .send(Frame::RstStream {
                                stream,
                                status: spdy::RST_PROTOCOL_ERROR,
                            })
                            .await;
                        continue;
                    }
                    last_id = stream;
                    let _ = frames
                        .send(Frame::SynReply {
                            stream,
                            fin: false,
                            headers: Vec::new(),
                        })
                        .await;
                    let Some((key, p)) = pair(&headers, stream) else {
                        let _ = frames
                            .send(Frame::RstStream {
                                stream,
                                status: spdy::RST_PROTOCOL_ERROR,
                            })
                            .await;
                        continue;
                    };
                    let entry = pending.entry(key.clone()).or_default();
                    entry.port = entry.port.or(p.port);
                    entry.data = entry.data.or(p.data);
                    entry.error = entry.error.or(p.error);
                    if let (Some(data), Some(error)) = (entry.data, entry.error) {
                        let port = entry.port;
                        pending.remove(&key);
                        let (tx, rx) = mpsc::channel(tunnel::IN_QUEUE);
                        conns.insert(data, tx);
                        actix_web::rt::spawn(spdy_connection(
                            bus.clone(),
                            target.clone(),
                            port,
                            data,
                            error,
                            frames.clone(),
                            rx,
                        ));
                    }
                }
                Frame::Data { stream, fin, data } => {
                    let Some(tx) = conns.get(&stream) else {
                        continue;
                    };
                    let gone = !data.is_empty() && tx.send(Inbound::Data(data)).await.is_err();
                    if fin && !gone {
                        let _ = tx.send(Inbound::Fin).await;
                    }
                    if gone || fin {
                        conns.remove(&stream);
                    }
                }
                Frame::RstStream { stream, .. } => {
                    // Dropping the sender cancels the connection.
                    conns.remove(&stream);
                    pending.retain(|_, p| p.data != Some(stream) && p.error != Some(stream));
                }
                Frame::Ping { id } => {
                    let _ = frames.send(Frame::Ping { id }).await;
                }
                Frame::GoAway { .. } => {
                    stop = Some(None);
                    break;
                }
                // No flow control to keep (see the module docs); nothing else to do.
                Frame::Settings { .. }
                | Frame::WindowUpdate { .. }
                | Frame::Headers { .. }
                | Frame::SynReply { .. }
                | Frame::Unknown { .. } => {}
            }
        }
        if let Some(stop) = stop {
            break stop;
        }
        conns.retain(|_, tx| !tx.is_closed());
    };
    // Dropping the connections' senders resets their streams to the kubelet.
    drop(conns);
    if let Some(why) = &ended {
        tracing::debug!(pod = %format!("{}/{}", target.namespace, target.pod), %why, "port-forward session ends");
        let _ = frames
            .send(Frame::GoAway {
                last_good: last_id,
                status: 2,
            })
            .await;
    }
    drop(frames);
    let _ = tokio::time::timeout(tunnel::FLUSH_WAIT, flushed).await;
    let _ = to_client.send(Out::Close(ended)).await;
}

/// The pair key and this stream's part of it, from a SYN_STREAM's headers; `None` for a
/// stream that is neither data nor error, or without a port.
fn pair(headers: &spdy::Headers, stream: u32) -> Option<(String, Pending)> {
    let kind = spdy::header(headers, "streamtype")?;
    let port = spdy::header(headers, "port").and_then(|p| p.parse::<u16>().ok());
    let request = spdy::header(headers, "requestid").filter(|r| !r.is_empty());
    match kind {
        // Clients before request ids open the error stream right before the data one.
        "error" => Some((
            request.map_or_else(|| stream.to_string(), str::to_owned),
            Pending {
                port,
                error: Some(stream),
                data: None,
            },
        )),
        "data" => Some((
            request.map_or_else(|| stream.saturating_sub(2).to_string(), str::to_owned),
            Pending {
                port: Some(port?),
                data: Some(stream),
                error: None,
            },
        )),
        _ => None,
    }
}

/// One connection of a SPDY session: the bus stream to the kubelet, relayed to the data
/// stream, its failure (if any) on the error stream.
async fn spdy_connection(
    bus: Bus,
    target: Target,
    port: Option<u16>,
    data: u32,
    error: u32,
    frames: mpsc::Sender<Frame>,
    mut inbound: mpsc::Receiver<Inbound>,
) {
    let fail = |message: String| {
        let frames = frames.clone();
        async move {
            let _ = frames
                .send(Frame::Data {
                    stream: error,
                    fin: false,
                    data: message.into_bytes(),
                })
                .await;
            for stream in [error, data] {
                let _ = frames
                    .send(Frame::Data {
                        stream,
                        fin: true,
                        data: Vec::new(),
                    })
                    .await;
            }
        }
    };
    let Some(port) = port.filter(|p| *p > 0) else {
        return fail("invalid port: must be between 1 and 65535".into()).await;
    };
    let (writer, mut reader) = match target.open(&bus, port).await {
        Ok(h) => h,
        Err(m) => return fail(m).await,
    };
    let mut writer = Some(writer);
    let (mut client_done, mut pod_done) = (false, false);
    while !(client_done && pod_done) {
        tokio::select! {
            msg = inbound.recv(), if !client_done => match msg {
                Some(Inbound::Data(d)) => {
                    let sent = match writer.as_mut() {
                        Some(w) => w.send(&d).await,
                        None => Ok(()),
                    };
                    if let Err(e) = sent {
                        if !pod_done {
                            return fail(format!("error forwarding port {port} to pod {}: {e}", target.pod)).await;
                        }
                        client_done = true;
                    }
                }
                Some(Inbound::Fin) => {
                    client_done = true;
                    if let Some(w) = writer.take() {
                        let _ = w.finish().await;
                    }
                }
                // The client reset the stream (or the session ended): dropping the
                // halves resets the bus stream.
                None => return,
            },
            chunk = reader.recv(), if !pod_done => match chunk {
                Ok(Some(bytes)) => {
                    // The writer splits it into frames of at most MAX_DATA.
                    let f = Frame::Data { stream: data, fin: false, data: bytes };
                    if frames.send(f).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    pod_done = true;
                    // As the kubelet does: the connection is over once the pod's side is;
                    // the client learns it by the end of both streams.
                    for stream in [data, error] {
                        let _ = frames.send(Frame::Data { stream, fin: true, data: Vec::new() }).await;
                    }
                    if !client_done {
                        // Let the client's last bytes through, then stop.
                        if let Some(w) = writer.take() {
                            let _ = w.finish().await;
                        }
                        return;
                    }
                }
                Err(e) => {
                    return fail(format!(
                        "error forwarding port {port} to pod {}, uid {}: {e}",
                        target.pod, target.uid
                    ))
                    .await;
                }
            },
        }
    }
    if !pod_done {
        for stream in [data, error] {
            let _ = frames
                .send(Frame::Data {
                    stream,
                    fin: true,
                    data: Vec::new(),
                })
                .await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// v4.channel.k8s.io

/// Runs a channel session: one connection per port, opened at once.
async fn channel_session(
    bus: Bus,
    target: Target,
    hold: (StreamWriter, StreamReader),
    ports: Vec<u16>,
    mut from_client: mpsc::Receiver<bytes::Bytes>,
    to_client: mpsc::Sender<Out>,
) {
    let (_hold_writer, mut hold_reader) = hold;
    let mut inputs: Vec<Option<mpsc::Sender<Vec<u8>>>> = Vec::new();
    let mut tasks = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let (data_ch, err_ch) = ((2 * i) as u8, (2 * i + 1) as u8);
        for ch in [data_ch, err_ch] {
            let mut first = vec![ch];
            first.extend_from_slice(&port.to_le_bytes());
            if to_client.send(Out::Binary(first)).await.is_err() {
                return;
            }
        }
        let (tx, rx) = mpsc::channel(tunnel::IN_QUEUE);
        inputs.push(Some(tx));
        tasks.push(actix_web::rt::spawn(channel_connection(
            bus.clone(),
            target.clone(),
            *port,
            data_ch,
            err_ch,
            to_client.clone(),
            rx,
        )));
    }
    let all_done = futures::future::join_all(tasks);
    tokio::pin!(all_done);
    let ended = loop {
        tokio::select! {
            _ = &mut all_done => break None,
            why = held(&mut hold_reader) => break Some(why),
            msg = from_client.recv() => {
                let Some(msg) = msg else { break None };
                let Some((&ch, body)) = msg.split_first() else { continue };
                let ix = usize::from(ch / 2);
                // Only data channels carry client bytes.
                if ch % 2 == 1 || body.is_empty() {
                    continue;
                }
                if let Some(slot) = inputs.get_mut(ix) {
                    if let Some(tx) = slot {
                        if tx.send(body.to_vec()).await.is_err() {
                            *slot = None;
                        }
                    }
                }
            }
        }
    };
    drop(inputs);
    let _ = to_client.send(Out::Close(ended)).await;
}

/// One port's connection of a channel session.
async fn channel_connection(
    bus: Bus,
    target: Target,
    port: u16,
    data_ch: u8,
    err_ch: u8,
    to_client: mpsc::Sender<Out>,
    mut inbound: mpsc::Receiver<Vec<u8>>,
) {
    let on = |ch: u8, bytes: &[u8]| {
        let mut m = Vec::with_capacity(bytes.len() + 1);
        m.push(ch);
        m.extend_from_slice(bytes);
        Out::Binary(m)
    };
    let (mut writer, mut reader) = match target.open(&bus, port).await {
        Ok(h) => h,
        Err(m) => {
            let _ = to_client.send(on(err_ch, m.as_bytes())).await;
            return;
        }
    };
    loop {
        tokio::select! {
            msg = inbound.recv() => match msg {
                Some(d) => {
                    if let Err(e) = writer.send(&d).await {
                        let m = format!("error forwarding port {port} to pod {}: {e}", target.pod);
                        let _ = to_client.send(on(err_ch, m.as_bytes())).await;
                        return;
                    }
                }
                None => return,
            },
            chunk = reader.recv() => match chunk {
                Ok(Some(bytes)) => {
                    for piece in bytes.chunks(spdy::MAX_DATA) {
                        if to_client.send(on(data_ch, piece)).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => {
                    let _ = writer.finish().await;
                    return;
                }
                Err(e) => {
                    let m = format!(
                        "error forwarding port {port} to pod {}, uid {}: {e}",
                        target.pod, target.uid
                    );
                    let _ = to_client.send(on(err_ch, m.as_bytes())).await;
                    return;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> spdy::Headers {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn streams_pair_by_request_id() {
        let cases = [
            (
                "error stream",
                h(&[("streamtype", "error"), ("port", "80"), ("requestid", "4")]),
                7,
                Some(("4", None, Some(7))),
            ),
            (
                "data stream",
                h(&[("streamtype", "data"), ("port", "80"), ("requestid", "4")]),
                9,
                Some(("4", Some(9), None)),
            ),
            (
                "old client: data pairs with the stream before the last",
                h(&[("streamtype", "data"), ("port", "80")]),
                9,
                Some(("7", Some(9), None)),
            ),
            (
                "data without a port",
                h(&[("streamtype", "data"), ("requestid", "1")]),
                3,
                None,
            ),
            ("unknown type", h(&[("streamtype", "resize")]), 3, None),
        ];
        for (name, headers, stream, want) in cases {
            let got = pair(&headers, stream).map(|(k, p)| (k, p.data, p.error));
            let want = want.map(|(k, d, e)| (k.to_owned(), d, e));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn ports_from_the_query() {
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            query_ports(&q(&[("ports", "80"), ("ports", "8080")])),
            Ok(vec![80, 8080])
        );
        assert_eq!(query_ports(&q(&[("ports", "80,443")])), Ok(vec![80, 443]));
        assert!(query_ports(&q(&[])).is_err());
        assert!(query_ports(&q(&[("ports", "0")])).is_err());
        assert!(query_ports(&q(&[("ports", "http")])).is_err());
    }
}
