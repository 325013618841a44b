//! `rudderctl exec` and `rudderctl port-forward`: streams through the `apiserver` actor
//! of the node the client is connected to ([`Client::exec`], [`Client::port_forward`]).

use anyhow::Context as _;
use rudder_protocol::client::Client;
use rudder_protocol::messages::kubelet::{channel, ExecRequest};
use rudder_protocol::stream::{StreamReader, StreamWriter, MAX_CHUNK};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// What `rudderctl exec` runs.
pub struct ExecArgs {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container (empty: the pod's only one).
    pub container: String,
    /// Command and arguments.
    pub command: Vec<String>,
    /// Pass standard input.
    pub stdin: bool,
    /// Allocate a terminal.
    pub tty: bool,
}

/// Runs a command in a container; its exit code.
pub async fn exec(client: &Client, args: ExecArgs) -> anyhow::Result<i32> {
    let req = ExecRequest {
        namespace: args.namespace,
        pod: args.pod,
        container: args.container,
        command: args.command,
        stdin: args.stdin,
        stdout: true,
        stderr: !args.tty,
        tty: args.tty,
    };
    let (mut writer, mut reader) = client.exec(req).await?;
    let input = async move {
        if args.stdin {
            let mut stdin = tokio::io::stdin();
            let mut buf = vec![0u8; MAX_CHUNK - 1];
            loop {
                let n = stdin.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                let mut msg = Vec::with_capacity(n + 1);
                msg.push(channel::STDIN);
                msg.extend_from_slice(&buf[..n]);
                writer.send_chunk(msg).await?;
            }
            writer
                .send_chunk(vec![channel::CLOSE, channel::STDIN])
                .await?;
        }
        // Nothing more to send; the output keeps flowing.
        writer.finish().await?;
        anyhow::Ok(())
    };
    let output = async move {
        let (mut out, mut err) = (tokio::io::stdout(), tokio::io::stderr());
        let mut code = None;
        while let Some(msg) = reader.recv().await? {
            let Some((&ch, body)) = msg.split_first() else {
                continue;
            };
            match ch {
                channel::STDOUT => {
                    out.write_all(body).await?;
                    out.flush().await?;
                }
                channel::STDERR => {
                    err.write_all(body).await?;
                    err.flush().await?;
                }
                channel::ERROR => code = Some(exit_code(body, &mut err).await?),
                _ => {}
            }
        }
        anyhow::Ok(code.unwrap_or(1))
    };
    tokio::pin!(input, output);
    tokio::select! {
        r = &mut output => r,
        r = &mut input => {
            r.context("sending standard input")?;
            output.await
        }
    }
}

/// The exit code a session's final `Status` carries (printing its message when it is
/// not a plain exit code).
async fn exit_code(status: &[u8], err: &mut tokio::io::Stderr) -> anyhow::Result<i32> {
    let v: serde_json::Value = serde_json::from_slice(status).context("the session's status")?;
    if v["status"] == "Success" {
        return Ok(0);
    }
    if v["reason"] == "NonZeroExitCode" {
        let code = v["details"]["causes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["reason"] == "ExitCode")
            .and_then(|c| c["message"].as_str())
            .and_then(|m| m.parse().ok());
        if let Some(code) = code {
            return Ok(code);
        }
    }
    let message = v["message"].as_str().unwrap_or("the command failed");
    err.write_all(format!("error: {message}\n").as_bytes())
        .await?;
    Ok(1)
}

/// `LOCAL:REMOTE` or `PORT` (the same on both sides); local 0 picks a free port.
pub fn parse_mapping(s: &str) -> anyhow::Result<(u16, u16)> {
    let (local, remote) = s.split_once(':').unwrap_or((s, s));
    let local = if local.is_empty() { "0" } else { local };
    let local: u16 = local
        .parse()
        .with_context(|| format!("invalid local port in {s:?}"))?;
    let remote: u16 = remote
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .with_context(|| format!("invalid remote port in {s:?}: must be 1-65535"))?;
    Ok((local, remote))
}

/// Listens on `address` for each mapping and forwards every connection to the pod; runs
/// until the process is stopped.
pub async fn port_forward(
    client: &Client,
    namespace: &str,
    target: &str,
    mappings: &[String],
    address: &str,
) -> anyhow::Result<()> {
    let pod = target
        .strip_prefix("pod/")
        .or_else(|| target.strip_prefix("pods/"))
        .unwrap_or(target)
        .to_owned();
    let mut tasks = Vec::new();
    for m in mappings {
        let (local, remote) = parse_mapping(m)?;
        let listener = tokio::net::TcpListener::bind((address, local))
            .await
            .with_context(|| format!("listening on {address}:{local}"))?;
        println!("Forwarding from {} -> {remote}", listener.local_addr()?);
        let (client, namespace, pod) = (client.clone(), namespace.to_owned(), pod.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await?;
                let (client, namespace, pod) = (client.clone(), namespace.clone(), pod.clone());
                tokio::spawn(async move {
                    match client.port_forward(&namespace, &pod, remote).await {
                        Ok((w, r)) => relay(tcp, w, r).await,
                        Err(e) => eprintln!("error forwarding port {remote}: {e}"),
                    }
                });
            }
            #[allow(unreachable_code)]
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Copies between a local connection and its stream, passing half-closes on.
async fn relay(tcp: tokio::net::TcpStream, mut writer: StreamWriter, mut reader: StreamReader) {
    let _ = tcp.set_nodelay(true);
    let (mut rd, mut wr) = tcp.into_split();
    let up = async move {
        let mut buf = vec![0u8; MAX_CHUNK];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) => return writer.finish().await.is_ok(),
                Ok(n) => {
                    if writer.send_chunk(buf[..n].to_vec()).await.is_err() {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
    };
    let down = async move {
        loop {
            match reader.recv().await {
                Ok(Some(chunk)) => {
                    if wr.write_all(&chunk).await.is_err() {
                        return false;
                    }
                }
                Ok(None) => {
                    let _ = wr.shutdown().await;
                    return true;
                }
                Err(_) => return false,
            }
        }
    };
    tokio::pin!(up, down);
    tokio::select! {
        ok = &mut up => if ok { down.await; },
        ok = &mut down => if ok { up.await; },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_mappings() {
        assert_eq!(parse_mapping("8080:80").ok(), Some((8080, 80)));
        assert_eq!(parse_mapping("80").ok(), Some((80, 80)));
        assert_eq!(parse_mapping(":80").ok(), Some((0, 80)));
        assert!(parse_mapping("8080:0").is_err());
        assert!(parse_mapping("x:80").is_err());
    }
}
