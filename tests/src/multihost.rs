//! The multi-host cluster on Docker (`scripts/cluster.sh`), seen from a test program.
//!
//! Owns nothing in the cluster: it reads the state `cluster.sh up` left on the host
//! (`.rudder/multihost/`, or `$RUDDER_MH_DIR`: the token, `client.toml` and one
//! kubeconfig per control-plane node) and drives the containers with the `docker` CLI:
//! partition (disconnect from the bus network `rudder-mh`), heal (reconnect at the same
//! address), kill and start; a worker's own container engine through `docker exec`. Bus clients dial a node's address on `rudder-mh`, which the
//! host reaches through the bridge; each control-plane node's API is also reachable
//! through its published port on 127.0.0.1, even while it is partitioned.
//!
//! Messages out: bus requests through [`Client`] (apiserver, store), `kubectl` and
//! `docker` processes.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use rudder_protocol::client::{Client, ClientConfig};
use rudder_protocol::net::Credentials;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The Docker network that carries the bus.
pub const BUS_NETWORK: &str = "rudder-mh";
/// The control-plane nodes (and their containers).
pub const CONTROL_PLANE: [&str; 3] = ["mh-cp-1", "mh-cp-2", "mh-cp-3"];
/// The worker nodes (and their containers).
pub const WORKERS: [&str; 2] = ["mh-worker-1", "mh-worker-2"];
/// Bus port of every node.
pub const BUS_PORT: u16 = 7946;

/// A node's address on the bus network: `mh-cp-N` at 10.213.0.1N, `mh-worker-N` at
/// 10.213.0.2N (as in `cluster-config/multihost/`).
pub fn bus_ip(node: &str) -> Option<String> {
    let (prefix, n) = if let Some(n) = node.strip_prefix("mh-cp-") {
        ("1", n)
    } else if let Some(n) = node.strip_prefix("mh-worker-") {
        ("2", n)
    } else {
        return None;
    };
    match n.parse::<u8>() {
        Ok(i @ 1..=9) => Some(format!("10.213.0.{prefix}{i}")),
        _ => None,
    }
}

/// What became of a write sent through `kubectl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubectlOutcome {
    /// Exit status 0: the API server acknowledged it.
    Acknowledged,
    /// The API server answered with an error (`Error from server ...`).
    Refused(String),
    /// No answer in time (the client gave up; the write is indeterminate).
    TimedOut(String),
    /// No connection to the API server at all.
    Unreachable(String),
}

/// Classifies a `kubectl` run by its exit status and error output.
pub fn classify_kubectl(success: bool, stderr: &str) -> KubectlOutcome {
    let line = stderr.lines().next().unwrap_or_default().trim().to_owned();
    if success {
        KubectlOutcome::Acknowledged
    } else if stderr.contains("Error from server") {
        KubectlOutcome::Refused(line)
    } else if ["deadline exceeded", "Timeout", "timed out", "timeout"]
        .iter()
        .any(|s| stderr.contains(s))
    {
        KubectlOutcome::TimedOut(line)
    } else {
        KubectlOutcome::Unreachable(line)
    }
}

/// Runs `docker` with `args`; its standard output, or an error with its message.
pub async fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new("docker")
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .with_context(|| format!("docker {args:?} took over 60 s"))?
    .context("cannot run docker")?;
    if !out.status.success() {
        bail!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `docker` with `args` against worker `node`'s own container engine (inside its
/// container); `None` when the worker's container is not running.
pub async fn worker_docker(node: &str, args: &[&str]) -> anyhow::Result<Option<String>> {
    if docker(&["inspect", "-f", "{{.State.Running}}", node])
        .await?
        .trim()
        != "true"
    {
        return Ok(None);
    }
    let mut all = vec!["exec", node, "docker"];
    all.extend_from_slice(args);
    docker(&all).await.map(Some)
}

/// The running multi-host cluster.
pub struct MultiHost {
    /// Host directory with the cluster's token, client config and kubeconfigs.
    pub state: PathBuf,
    creds: Credentials,
}

impl MultiHost {
    /// Finds the state of a cluster started by `scripts/cluster.sh up`.
    pub fn open() -> anyhow::Result<MultiHost> {
        let state = std::env::var_os("RUDDER_MH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::repo_root().join(".rudder/multihost"));
        MultiHost::at(state)
    }

    /// The cluster whose state `cluster.sh up` wrote to `state` (`$RUDDER_MH_DIR`).
    pub fn at(state: PathBuf) -> anyhow::Result<MultiHost> {
        let cfg = ClientConfig::load(&state.join("client.toml")).with_context(|| {
            format!(
                "no multi-host cluster state in {} (run scripts/cluster.sh up)",
                state.display()
            )
        })?;
        let creds = cfg.credentials()?;
        Ok(MultiHost { state, creds })
    }

    /// The kubeconfig of `node`'s API (published on 127.0.0.1).
    pub fn kubeconfig(&self, node: &str) -> PathBuf {
        self.state.join(format!("kubeconfig-{node}"))
    }

    /// A bus client on `node` (requests time out after `timeout`).
    pub async fn client(&self, node: &str, timeout: Duration) -> anyhow::Result<Client> {
        let ip = bus_ip(node).with_context(|| format!("unknown node {node}"))?;
        let address = format!("{ip}:{BUS_PORT}");
        let client = tokio::time::timeout(
            Duration::from_secs(5),
            Client::connect_to(&address, &self.creds),
        )
        .await
        .with_context(|| format!("connecting to {node} at {address} timed out"))??;
        Ok(client.with_timeout(timeout))
    }

    /// A bus client on the first control-plane node that answers, other than `except`.
    pub async fn any_control_plane(
        &self,
        except: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<Client> {
        let mut last = None;
        for node in CONTROL_PLANE.iter().filter(|n| !except.contains(n)) {
            match self.client(node, timeout).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no control-plane node left to try")))
    }

    /// Disconnects `node`'s container from the bus network.
    pub async fn partition(&self, node: &str) -> anyhow::Result<()> {
        docker(&["network", "disconnect", BUS_NETWORK, node]).await?;
        Ok(())
    }

    /// Reconnects `node`'s container to the bus network at its address.
    pub async fn heal(&self, node: &str) -> anyhow::Result<()> {
        let ip = bus_ip(node).with_context(|| format!("unknown node {node}"))?;
        docker(&["network", "connect", "--ip", &ip, BUS_NETWORK, node]).await?;
        Ok(())
    }

    /// True when `node`'s container is attached to the bus network.
    pub async fn is_connected(&self, node: &str) -> anyhow::Result<bool> {
        let tpl =
            format!("{{{{with index .NetworkSettings.Networks \"{BUS_NETWORK}\"}}}}yes{{{{end}}}}");
        Ok(docker(&["inspect", "-f", &tpl, node]).await?.trim() == "yes")
    }

    /// SIGKILLs `node`'s container (its process and everything in it).
    pub async fn kill(&self, node: &str) -> anyhow::Result<()> {
        docker(&["kill", node]).await?;
        Ok(())
    }

    /// Starts `node`'s container again (same data dir, same address).
    pub async fn start(&self, node: &str) -> anyhow::Result<()> {
        docker(&["start", node]).await?;
        Ok(())
    }

    /// Runs `kubectl` against `node`'s API with `args` and optional standard input,
    /// bounded by `timeout` (passed as `--request-timeout` too).
    pub async fn kubectl(
        &self,
        node: &str,
        args: &[&str],
        stdin: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<(bool, String, String)> {
        let mut cmd = Command::new(crate::kubectl_bin());
        cmd.arg("--kubeconfig")
            .arg(self.kubeconfig(node))
            .arg(format!("--request-timeout={}s", timeout.as_secs().max(1)))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("cannot run kubectl")?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).await?;
        }
        let out = tokio::time::timeout(timeout + Duration::from_secs(10), child.wait_with_output())
            .await
            .context("kubectl did not exit")??;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let cases = [
            ("mh-cp-1", Some("10.213.0.11")),
            ("mh-cp-3", Some("10.213.0.13")),
            ("mh-worker-2", Some("10.213.0.22")),
            ("mh-cp-0", None),
            ("mh-cp-10", None),
            ("cp-1", None),
        ];
        for (node, want) in cases {
            assert_eq!(bus_ip(node).as_deref(), want, "{node}");
        }
    }

    #[test]
    fn kubectl_outcomes() {
        fn kind(o: &KubectlOutcome) -> &'static str {
            match o {
                KubectlOutcome::Acknowledged => "acknowledged",
                KubectlOutcome::Refused(_) => "refused",
                KubectlOutcome::TimedOut(_) => "timed out",
                KubectlOutcome::Unreachable(_) => "unreachable",
            }
        }
        let cases = [
            (true, "", "acknowledged"),
            (
                false,
                "Error from server (ServiceUnavailable): store unavailable: not enough for a quorum",
                "refused",
            ),
            (
                false,
                "Unable to connect to the server: context deadline exceeded",
                "timed out",
            ),
            (
                false,
                "error: Post \"https://127.0.0.1:16441/...\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                "timed out",
            ),
            (
                false,
                "Error from server (Timeout): the server was unable to return a response",
                "refused",
            ),
            (
                false,
                "The connection to the server 127.0.0.1:16441 was refused",
                "unreachable",
            ),
        ];
        for (ok, stderr, want) in cases {
            assert_eq!(kind(&classify_kubectl(ok, stderr)), want, "{stderr}");
        }
    }
}
