//! Streams the `apiserver` actor takes from bus clients (`StreamOpen::Api`): exec,
//! attach and port-forward for the Rust client and `rudderctl`, the bus counterpart of
//! [`super::exec`] and [`super::portforward`].
//!
//! The request is checked as the REST front checks it (the pod exists, the container is
//! one of its containers, the pod has not completed and is bound), then the API server
//! opens the matching stream to the kubelet of the pod's node and passes its start
//! ([`ExecStart`]) back; a refusal of either ends the stream with the API's code and
//! message. After a `Ready` the two streams are joined, message for message, both ways,
//! with half-closes passed on; either breaking resets the other. A client with the
//! cluster token acts as the cluster admin (as its API requests do); one with a user's
//! certificate is authorized as that user, as the REST front authorizes kubectl:
//! `create` on `pods/exec`, `pods/attach` or `pods/portforward`.

use std::time::Duration;

use rudder_protocol::messages::kubelet::{ApiStream, ExecStart, KubeletStream};
use rudder_protocol::messages::StreamOpen;
use rudder_protocol::stream::{StreamReader, StreamWriter};
use serde_json::Value;

use super::core::ApiCore;
use super::exec::Kind;
use crate::bus::OpenStream;

/// How long the kubelet may take to take the stream and start it.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves one stream to the `apiserver` actor to its end.
pub async fn serve(core: ApiCore, msg: OpenStream) {
    let OpenStream {
        open,
        origin,
        mut writer,
        reader,
    } = msg;
    // Any other stream: dropping the halves resets it.
    let StreamOpen::Api(open) = open else { return };
    let (ns, name, subresource) = match &open {
        ApiStream::Exec(r) => (r.namespace.clone(), r.pod.clone(), "exec"),
        ApiStream::Attach(r) => (r.namespace.clone(), r.pod.clone(), "attach"),
        ApiStream::PortForward(r) => (r.namespace.clone(), r.pod.clone(), "portforward"),
    };
    if let crate::bus::Origin::User { user, .. } = &origin {
        let user = super::bus_clients::user_info(user);
        let check = super::rbac::rules::Check {
            user: &user,
            verb: "create",
            target: super::rbac::rules::Target::Resource {
                group: "",
                resource: "pods",
                subresource: Some(subresource),
                namespace: Some(&ns),
                name: Some(&name),
            },
        };
        if let Err(status) = core.authorize(&check).await {
            let code = u16::try_from(status.code).unwrap_or(403);
            refuse(&mut writer, code, status.message.clone()).await;
            let _ = writer.finish().await;
            linger(reader).await;
            return;
        }
    }
    let kubelet = match kubelet_open(&core, &ns, &name, open).await {
        Ok(k) => k,
        Err((code, message)) => {
            refuse(&mut writer, code, message).await;
            let _ = writer.finish().await;
            linger(reader).await;
            return;
        }
    };
    let (node, to_kubelet) = kubelet;
    let to = rudder_protocol::ActorRef::new(node.as_str(), crate::kubelet::NAME);
    let (kw, mut kr) = match core.bus().open_stream(to, to_kubelet, START_TIMEOUT).await {
        Ok(h) => h,
        Err(e) => {
            refuse(&mut writer, 500, format!("error dialing backend: {e}")).await;
            let _ = writer.finish().await;
            linger(reader).await;
            return;
        }
    };
    // The kubelet's start goes to the client as it is.
    match tokio::time::timeout(START_TIMEOUT, kr.recv()).await {
        Ok(Ok(Some(start))) => {
            let ready = matches!(
                rudder_protocol::codec::decode::<ExecStart>(&start),
                Ok(ExecStart::Ready)
            );
            if writer.send_chunk(start).await.is_err() {
                return;
            }
            if !ready {
                let _ = writer.finish().await;
                return;
            }
        }
        _ => {
            refuse(
                &mut writer,
                500,
                "the kubelet did not start the session".into(),
            )
            .await;
            let _ = writer.finish().await;
            return;
        }
    }
    join(writer, reader, kw, kr).await;
}

/// Keeps the read half until the client is done (at most [`LINGER`]): dropping it
/// resets the stream, and a reset may overtake the refusal just written.
async fn linger(mut reader: StreamReader) {
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(Some(_)) = reader.recv().await {}
    })
    .await;
}

/// How long a refused stream waits for its client to close.
const LINGER: Duration = Duration::from_secs(5);

async fn refuse(writer: &mut StreamWriter, code: u16, message: String) {
    if let Ok(bytes) = rudder_protocol::codec::encode(&ExecStart::Refused { code, message }) {
        let _ = writer.send_chunk(bytes).await;
    }
}

/// The pod's node and the stream to open to its kubelet, or the API's refusal.
async fn kubelet_open(
    core: &ApiCore,
    ns: &str,
    name: &str,
    open: ApiStream,
) -> Result<(String, StreamOpen), (u16, String)> {
    let info = super::registry::resource("", "v1", "pods")
        .ok_or_else(|| (500, "pods are not served".to_owned()))?;
    let pod: Value = core
        .get(info, Some(ns), name)
        .await
        .map_err(|s| (u16::try_from(s.code).unwrap_or(500), s.message.clone()))?;
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if node.is_empty() {
        return Err((400, format!("pod {name} does not have a host assigned")));
    }
    let is_exec = matches!(open, ApiStream::Exec(_));
    let open = match open {
        ApiStream::Exec(r) | ApiStream::Attach(r) => {
            let kind = if is_exec { Kind::Exec } else { Kind::Attach };
            let mut q: Vec<(String, String)> = Vec::new();
            if !r.container.is_empty() {
                q.push(("container".into(), r.container.clone()));
            }
            q.extend(r.command.iter().map(|c| ("command".to_owned(), c.clone())));
            for (k, on) in [
                ("stdin", r.stdin),
                ("stdout", r.stdout),
                ("stderr", r.stderr),
                ("tty", r.tty),
            ] {
                if on {
                    q.push((k.into(), "true".into()));
                }
            }
            let req = super::exec::exec_request(&pod, ns, name, kind, &q).map_err(|m| (400, m))?;
            StreamOpen::Kubelet(match kind {
                Kind::Exec => KubeletStream::Exec(req),
                Kind::Attach => KubeletStream::Attach(req),
            })
        }
        ApiStream::PortForward(mut r) => {
            let phase = pod
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if matches!(phase, "Succeeded" | "Failed") {
                return Err((
                    400,
                    format!("cannot port-forward to a completed pod; current phase is {phase}"),
                ));
            }
            if r.port == 0 {
                return Err((400, "invalid port 0: must be between 1 and 65535".into()));
            }
            r.uid = pod
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            StreamOpen::Kubelet(KubeletStream::PortForward(r))
        }
    };
    Ok((node, open))
}

/// Copies `from` into `to` to its end (finishing `to`); an error resets both.
async fn copy(mut from: StreamReader, mut to: StreamWriter) -> Result<(), ()> {
    loop {
        match from.recv().await {
            Ok(Some(chunk)) => to.send_chunk(chunk).await.map_err(|_| ())?,
            Ok(None) => return to.finish().await.map_err(|_| ()),
            Err(e) => {
                to.cancel(&e.to_string());
                return Err(());
            }
        }
    }
}

/// Joins the client's stream and the kubelet's, both ways.
async fn join(cw: StreamWriter, cr: StreamReader, kw: StreamWriter, kr: StreamReader) {
    let up = copy(cr, kw);
    let down = copy(kr, cw);
    tokio::pin!(up, down);
    // When one direction breaks, returning drops the other's halves, which resets it.
    tokio::select! {
        r = &mut up => if r.is_ok() { let _ = down.await; },
        r = &mut down => if r.is_ok() { let _ = up.await; },
    }
}
