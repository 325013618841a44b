//! Serves exec and attach streams (`KubeletStream`): finds the pod's running container,
//! starts a session in the runtime (an exec of the command, or an attach), and relays
//! between it and the bus stream in `channel.k8s.io` terms (see
//! `rudder_protocol::messages::kubelet`).
//!
//! The stream opens with [`ExecStart`]: `Refused` when the container is not running (or
//! the runtime refuses), so the API server can answer with an HTTP error before it
//! upgrades the client's connection; `Ready` otherwise. Then stdin, resize and close
//! messages flow in; stdout and stderr flow out, and when the output ends the exec's exit
//! code becomes the final `Status` on the error channel. A session lives in the
//! kubelet's stream task: a killed kubelet drops it, which resets the stream, and the
//! client sees an error instead of waiting for output that will never come.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use rudder_protocol::messages::kubelet::{channel, ExecRequest, ExecStart, KubeletStream};
use rudder_protocol::stream::{StreamReader, StreamWriter, MAX_CHUNK};
use serde_json::json;
use tokio::io::AsyncWriteExt as _;

use super::runtime::{labels, ContainerRuntime, RunState, SessionSpec};

/// Runs one exec or attach stream to its end.
pub async fn serve(
    rt: Arc<dyn ContainerRuntime>,
    node: String,
    open: KubeletStream,
    mut writer: StreamWriter,
    reader: StreamReader,
) {
    let (req, attach) = match open {
        KubeletStream::Exec(r) => (r, false),
        KubeletStream::Attach(r) => (r, true),
        // Served by `super::portforward`; dropping the halves resets a misrouted one.
        KubeletStream::PortForward(_) => return,
    };
    let pod = format!("{}/{}", req.namespace, req.pod);
    match start(&rt, &node, &req, attach).await {
        Err((code, message)) => {
            tracing::debug!(%pod, container = %req.container, %message, "session refused");
            let start = ExecStart::Refused { code, message };
            if let Ok(bytes) = rudder_protocol::codec::encode(&start) {
                let _ = writer.send_chunk(bytes).await;
            }
            let _ = writer.finish().await;
        }
        Ok((container_id, session)) => {
            let Ok(ready) = rudder_protocol::codec::encode(&ExecStart::Ready) else {
                return;
            };
            if writer.send_chunk(ready).await.is_err() {
                return;
            }
            relay(rt, container_id, req, session, writer, reader).await;
        }
    }
}

type Refusal = (u16, String);

/// Finds the running container and starts the session in it.
async fn start(
    rt: &Arc<dyn ContainerRuntime>,
    node: &str,
    req: &ExecRequest,
    attach: bool,
) -> Result<(String, super::runtime::Session), Refusal> {
    let want = BTreeMap::from([
        (labels::NODE.to_owned(), node.to_owned()),
        (labels::POD_NAMESPACE.to_owned(), req.namespace.clone()),
        (labels::POD_NAME.to_owned(), req.pod.clone()),
        (labels::CONTAINER_NAME.to_owned(), req.container.clone()),
        (labels::KIND.to_owned(), "container".to_owned()),
    ]);
    let all = rt
        .list_containers(&want)
        .await
        .map_err(|e| (503, e.to_string()))?;
    let running = all
        .iter()
        .filter(|c| c.state == RunState::Running)
        .max_by_key(|c| c.attempt());
    let Some(c) = running else {
        return Err((
            400,
            format!(
                "unable to upgrade connection: container not found ({:?})",
                req.container
            ),
        ));
    };
    if !attach && req.command.is_empty() {
        return Err((
            400,
            "you must specify at least one command for the container".into(),
        ));
    }
    let spec = SessionSpec {
        command: if attach {
            Vec::new()
        } else {
            req.command.clone()
        },
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr && !req.tty,
        tty: req.tty,
    };
    let session = rt
        .start_session(&c.id, &spec)
        .await
        .map_err(|e| (500, e.to_string()))?;
    Ok((c.id.clone(), session))
}

/// Relays until the session's output ends (then the status goes out) or the stream
/// breaks (then the session is dropped).
async fn relay(
    rt: Arc<dyn ContainerRuntime>,
    container_id: String,
    req: ExecRequest,
    session: super::runtime::Session,
    mut writer: StreamWriter,
    mut reader: StreamReader,
) {
    let super::runtime::Session {
        mut output,
        mut input,
        exec_id,
    } = session;
    let exec = exec_id.clone();
    let (rt_in, id_in) = (rt.clone(), container_id.clone());
    let inbound = async move {
        let mut stdin_open = true;
        loop {
            let msg = match reader.recv().await {
                Ok(Some(m)) => m,
                // The client is done sending; output still flows.
                Ok(None) => {
                    if stdin_open {
                        let _ = input.shutdown().await;
                    }
                    break Ok(());
                }
                Err(e) => break Err(e),
            };
            let Some((&ch, data)) = msg.split_first() else {
                continue;
            };
            match ch {
                channel::STDIN if stdin_open => {
                    stdin_open = input.write_all(data).await.is_ok() && input.flush().await.is_ok();
                }
                channel::RESIZE => {
                    if let Some((w, h)) = parse_resize(data) {
                        let _ = rt_in.resize_session(&id_in, exec.as_deref(), w, h).await;
                    }
                }
                channel::CLOSE if data.first() == Some(&channel::STDIN) && stdin_open => {
                    stdin_open = false;
                    let _ = input.shutdown().await;
                }
                _ => {}
            }
        }
    };
    let outbound = async move {
        while let Some(item) = output.next().await {
            let Ok((ch, bytes)) = item else { break };
            for piece in bytes.chunks(MAX_CHUNK - 1) {
                let mut msg = Vec::with_capacity(piece.len() + 1);
                msg.push(ch);
                msg.extend_from_slice(piece);
                writer.send_chunk(msg).await?;
            }
        }
        let code = match &exec_id {
            Some(id) => exit_code(&rt, id).await,
            None => Some(0),
        };
        let mut msg = vec![channel::ERROR];
        msg.extend_from_slice(&status_json(code, &req.command));
        writer.send_chunk(msg).await?;
        writer.finish().await
    };
    tokio::pin!(inbound, outbound);
    tokio::select! {
        r = &mut outbound => {
            if let Err(e) = r {
                tracing::warn!(error = %e, "session stream broke");
            }
        }
        r = &mut inbound => match r {
            Ok(()) => {
                if let Err(e) = outbound.await {
                    tracing::warn!(error = %e, "session stream broke");
                }
            }
            Err(e) => tracing::debug!(error = %e, "session cancelled"),
        },
    }
}

/// The exec's exit code; the engine may report it a moment after the output ends.
async fn exit_code(rt: &Arc<dyn ContainerRuntime>, exec_id: &str) -> Option<i64> {
    for _ in 0..50 {
        match rt.exec_exit_code(exec_id).await {
            Ok(Some(code)) => return Some(code),
            Ok(None) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(_) => return None,
        }
    }
    None
}

/// `{"Width": w, "Height": h}` as Kubernetes' resize channel carries it.
pub fn parse_resize(data: &[u8]) -> Option<(u16, u16)> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let w = u16::try_from(v.get("Width")?.as_u64()?).ok()?;
    let h = u16::try_from(v.get("Height")?.as_u64()?).ok()?;
    Some((w, h))
}

/// The final `Status` of a session, as the kubelet writes it on the error channel.
pub fn status_json(code: Option<i64>, command: &[String]) -> Vec<u8> {
    let status = match code {
        Some(0) => json!({"metadata": {}, "status": "Success"}),
        Some(code) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!(
                "command terminated with non-zero exit code: error executing command {command:?}, exit code {code}"
            ),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        None => json!({
            "metadata": {},
            "status": "Failure",
            "message": "the exit code of the command is unknown",
            "reason": "InternalError",
        }),
    };
    serde_json::to_vec(&status).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_messages() {
        type Case<'a> = (&'a str, &'a [u8], Option<(u16, u16)>);
        let cases: [Case; 3] = [
            (
                "kubectl's",
                br#"{"Width":120,"Height":40}"#,
                Some((120, 40)),
            ),
            ("missing height", br#"{"Width":120}"#, None),
            ("not json", b"80x24", None),
        ];
        for (name, data, want) in cases {
            assert_eq!(parse_resize(data), want, "{name}");
        }
    }

    #[test]
    fn statuses_carry_the_exit_code() {
        let ok: serde_json::Value =
            serde_json::from_slice(&status_json(Some(0), &[])).expect("json");
        assert_eq!(ok["status"], "Success");
        let failed: serde_json::Value =
            serde_json::from_slice(&status_json(Some(3), &["sh".into()])).expect("json");
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(failed["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(failed["details"]["causes"][0]["message"], "3");
    }
}
