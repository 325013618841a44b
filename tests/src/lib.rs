//! Test harness: real `rudderd` processes on 127.0.0.1, each with its own data dir.
//!
//! - [`NodeProc`]: one `rudderd` child process; waits for its ready line, can be killed
//!   with SIGKILL or SIGTERM and restarted with the same name and data dir.
//! - [`Cluster`]: a temp dir with a shared token and some nodes started from the
//!   `cluster-config/` files (the tests load the same files users do).
//! - [`rudderd_bin`] / [`rudderctl_bin`]: where the binaries are (built by
//!   `cargo test --workspace` / `cargo nextest run --workspace`); [`kubectl`] runs the
//!   project's kubectl.
//! - [`bench_record`]: where the benchmark programs append their figures
//!   (`$RUDDER_BENCH_RECORD`, set by `scripts/bench.sh`).

pub mod bench_record;
pub mod chaos;
pub mod dns;
pub mod footprint;
pub mod http1;
pub mod multihost;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rudder_protocol::client::{Client, ClientConfig};
use rudder_protocol::messages::bus::MemberInfo;
use rudder_protocol::{ActorRef, NodeName};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub mod services;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from(".."))
}

fn target_bin(name: &str) -> PathBuf {
    let env = format!("{}_BIN", name.to_ascii_uppercase());
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    // Test binaries live in target/<profile>/deps, examples in target/<profile>/examples;
    // the node binaries one level up.
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_owned).unwrap_or_default();
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    dir.join(name)
}

/// Path of the `rudderd` binary (override with `$RUDDERD_BIN`).
pub fn rudderd_bin() -> PathBuf {
    target_bin("rudderd")
}

/// Path of the `rudderctl` binary (override with `$RUDDERCTL_BIN`).
pub fn rudderctl_bin() -> PathBuf {
    target_bin("rudderctl")
}

/// Runs `rudderctl --client-config CONFIG ARGS...`: its standard output, or an error
/// with its standard error when it fails.
pub fn rudderctl(client_config: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(rudderctl_bin())
        .arg("--client-config")
        .arg(client_config)
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "rudderctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Writes worker `node`'s node key to `file` as an operator does, with `rudderctl
/// node-key` and a control-plane node's client config.
pub fn write_node_key(control_plane: &NodeProc, node: &str, file: &Path) -> anyhow::Result<()> {
    let out = file.to_string_lossy();
    rudderctl(
        &control_plane.client_config(),
        &["node-key", node, "--out", &out],
    )?;
    Ok(())
}

/// The folder of the clients the tests drive (`scripts/lib.sh` installs them there).
fn tools_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("RUDDER_TOOLS") {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    cache.join("rudder-tools")
}

/// The installed kubectl releases under the tools folder, oldest first.
fn installed_kubectls() -> Vec<PathBuf> {
    let mut found: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(tools_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix("kubectl-")?;
            let key = version
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            let bin = e.path().join("bin").join("kubectl");
            bin.exists().then_some((key, bin))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

/// The kubectl the tests drive: `$RUDDER_KUBECTL` (set by `scripts/test.sh` to the newest
/// release on PyPI), else the newest one installed under the tools folder, else whatever
/// `kubectl` is on PATH (with a warning: that is not the client users have).
pub fn kubectl_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RUDDER_KUBECTL") {
        return PathBuf::from(p);
    }
    if let Some(p) = installed_kubectls().pop() {
        return p;
    }
    eprintln!("WARNING: no project-managed kubectl; using the one on PATH (run scripts/test.sh)");
    PathBuf::from("kubectl")
}

/// What one kubectl run did.
#[derive(Debug, Clone)]
pub struct KubectlRun {
    /// Whether it exited with success.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error (errors, and the `Warning:` lines of the server's warnings).
    pub stderr: String,
}

/// Runs [`kubectl_bin`] with `kubeconfig`, `args` and, if given, `stdin` as its input.
pub fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> KubectlRun {
    use std::io::Write as _;
    let mut cmd = std::process::Command::new(kubectl_bin());
    cmd.env("KUBECONFIG", kubeconfig)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("kubectl could not run ({e}); scripts/test.sh installs it"),
    };
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        if let Err(e) = pipe.write_all(input.as_bytes()) {
            panic!("cannot write kubectl's input: {e}");
        }
    }
    match child.wait_with_output() {
        Ok(o) => KubectlRun {
            success: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        },
        Err(e) => panic!("kubectl's output: {e}"),
    }
}

/// A kubeconfig like `admin`'s with `token` as the user's credential, written next to it
/// as `kubeconfig-<name>`.
pub fn kubeconfig_with_token(admin: &Path, token: &str, name: &str) -> anyhow::Result<PathBuf> {
    let out: String = std::fs::read_to_string(admin)?
        .lines()
        .map(|l| match l.trim_start().strip_prefix("token: ") {
            Some(_) => format!("    token: {token}"),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = admin.with_file_name(format!("kubeconfig-{name}"));
    std::fs::write(&path, out)?;
    Ok(path)
}

/// A one-node control plane (no kubelet) for API tests: `files` (name, content) are
/// written into the cluster's dir, `apiserver` is the body of its `[apiserver]` table
/// with `{dir}` standing for that dir. Waits until kubectl gets the `default`
/// namespace; the cluster and its admin kubeconfig.
pub async fn control_plane_with(
    files: &[(&str, &str)],
    apiserver: &str,
) -> anyhow::Result<(Cluster, PathBuf)> {
    let mut cluster = Cluster::new()?;
    let dir = cluster.dir.path().to_path_buf();
    for (name, content) in files {
        std::fs::write(dir.join(name), content)?;
    }
    let config = format!(
        "cluster_id = \"rudder-test\"\nlisten = \"127.0.0.1:0\"\nroles = [\"control-plane\"]\n\n\
         [apiserver]\n{}\n",
        apiserver.replace("{dir}", &dir.display().to_string())
    );
    std::fs::write(dir.join("node.toml"), config)?;
    let mut spec = cluster.spec("single-node.toml", "solo");
    spec.config = dir.join("node.toml");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let kc = cluster.nodes[0].kubeconfig();
    eventually(Duration::from_secs(30), || {
        let run = kubectl(&kc, &["get", "namespace", "default", "-o", "name"], None);
        async move { Ok(run.success.then_some(())) }
    })
    .await?;
    Ok((cluster, kc))
}

/// Every kubectl the compatibility tests run with, as `(label, path)`: the newest and the
/// oldest supported release (`$RUDDER_KUBECTL_OLDEST`, else the oldest installed).
pub fn kubectl_bins() -> Vec<(&'static str, PathBuf)> {
    let newest = kubectl_bin();
    let oldest = std::env::var_os("RUDDER_KUBECTL_OLDEST")
        .map(PathBuf::from)
        .or_else(|| installed_kubectls().into_iter().next());
    let mut all = vec![("newest", newest.clone())];
    if let Some(o) = oldest.filter(|o| *o != newest) {
        all.push(("oldest", o));
    }
    all
}

/// A `python3` command with the project-managed Python `kubernetes` client importable
/// (`$RUDDER_PYTHONPATH`, set by `scripts/test.sh`, else the newest under the tools folder).
pub fn python_with_client() -> std::process::Command {
    let path = std::env::var_os("RUDDER_PYTHONPATH")
        .map(PathBuf::from)
        .or_else(|| {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(tools_dir())
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("python-kubernetes-"))
                })
                .collect();
            dirs.sort();
            dirs.pop()
        });
    let mut cmd = std::process::Command::new("python3");
    if let Some(p) = path {
        cmd.env("PYTHONPATH", p);
    }
    cmd
}

/// How to start one node.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Config file passed with `--config`.
    pub config: PathBuf,
    /// `--name`.
    pub name: String,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// `--listen` (port 0 picks one; a restart reuses the port picked).
    pub listen: String,
    /// `--api-listen` (port 0 picks one; a restart reuses the port picked).
    pub api_listen: String,
    /// `--join` seeds.
    pub join: Vec<String>,
    /// `--token-file`.
    pub token_file: PathBuf,
    /// `--node-key-file`: the node proves its node key instead of the token (then no
    /// `--token-file` is passed).
    pub node_key_file: Option<PathBuf>,
    /// `--roles`, if overriding the file.
    pub roles: Option<String>,
    /// `--proxy-mode`. Tests use `forwarding` unless they test the packet filter: the
    /// iptables rules are machine-wide, and parallel test clusters would overwrite each
    /// other's.
    pub proxy_mode: Option<String>,
    /// `--kubelet-runtime`. Tests use `fake` unless they test real pods: containers of a
    /// test cluster killed with -9 would outlive it, and parallel test nodes of the same
    /// name would adopt (or remove) each other's.
    pub kubelet_runtime: Option<String>,
    /// Extra environment variables for the process (e.g. `DOCKER_HOST`).
    pub env: Vec<(String, String)>,
}

/// One running `rudderd`.
pub struct NodeProc {
    /// How it was started.
    pub spec: NodeSpec,
    /// The bus address it reported.
    pub bus: String,
    /// The API address it reported (control-plane nodes).
    pub api: Option<String>,
    /// The metrics address it reported (`[metrics] listen`, e.g. from
    /// `RUDDER_METRICS_LISTEN` in [`NodeSpec::env`]).
    pub metrics: Option<String>,
    /// Its stderr log.
    pub log: PathBuf,
    child: Option<Child>,
}

impl NodeProc {
    /// Starts a node and waits (up to 30 s) for its ready line.
    pub async fn start(spec: NodeSpec) -> anyhow::Result<NodeProc> {
        let log = spec.data_dir.with_extension("log");
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        // Where this run's part of the (appended) log starts.
        let log_start = stderr.metadata()?.len();
        let mut cmd = Command::new(rudderd_bin());
        cmd.arg("--config")
            .arg(&spec.config)
            .arg("--name")
            .arg(&spec.name)
            .arg("--data-dir")
            .arg(&spec.data_dir)
            .arg("--listen")
            .arg(&spec.listen)
            .arg("--api-listen")
            .arg(&spec.api_listen);
        match &spec.node_key_file {
            Some(key) => cmd.arg("--node-key-file").arg(key),
            None => cmd.arg("--token-file").arg(&spec.token_file),
        };
        // Always explicit, so a config file's fixed seed ports are never dialled.
        if spec.join.is_empty() {
            cmd.arg("--join").arg("");
        }
        for j in &spec.join {
            cmd.arg("--join").arg(j);
        }
        if let Some(r) = &spec.roles {
            cmd.arg("--roles").arg(r);
        }
        if let Some(r) = &spec.kubelet_runtime {
            cmd.arg("--kubelet-runtime").arg(r);
        }
        if let Some(m) = &spec.proxy_mode {
            cmd.arg("--proxy-mode").arg(m);
        }
        // The ingress controller listens on an ephemeral loopback port unless a test
        // asks for one: test nodes never take the machine's ports 80 and 443.
        cmd.env("RUDDER_INGRESS_HTTP", "127.0.0.1:0")
            .env("RUDDER_INGRESS_HTTPS", "127.0.0.1:0");
        cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
        cmd.env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(stderr)
        .stdin(Stdio::null())
        .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", rudderd_bin().display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if line.starts_with("rudderd ready:") {
                    return Ok::<_, anyhow::Error>(line);
                }
            }
            bail!(
                "rudderd exited before it was ready: {}; log: {}",
                exit_reason(&log, log_start),
                tail(&log)
            )
        })
        .await
        .with_context(|| format!("{} not ready within 30 s; log: {}", spec.name, tail(&log)))??;
        // Keep draining stdout so the node never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let bus = ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix("bus="))
            .context("ready line has no bus=")?
            .to_owned();
        let api = ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix("api=https://"))
            .map(str::to_owned);
        let metrics = ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix("metrics=http://"))
            .map(str::to_owned);
        let mut spec = spec;
        spec.listen = bus.clone();
        if let Some(a) = &api {
            spec.api_listen = a.clone();
        }
        Ok(NodeProc {
            spec,
            bus,
            api,
            metrics,
            log,
            child: Some(child),
        })
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// Kills the process with SIGKILL and waits for it.
    pub async fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            c.start_kill()?;
            c.wait().await?;
        }
        Ok(())
    }

    /// Sends SIGTERM and waits up to 10 s for a clean exit; returns the exit status.
    pub async fn terminate(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let mut c = self.child.take().context("not running")?;
        let pid = c.id().context("no pid")?;
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()?;
        if !status.success() {
            bail!("kill -TERM {pid} failed");
        }
        Ok(tokio::time::timeout(Duration::from_secs(10), c.wait()).await??)
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Starts the node again with the same name, data dir and bus address. While the
    /// node was down, another process may have taken one of its ports as the local end
    /// of an outgoing connection (both come from the ephemeral range); such a port
    /// frees up when that connection closes, so a start refused with "address in use"
    /// is tried again for up to 20 s.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill9().await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            match NodeProc::start(self.spec.clone()).await {
                Ok(again) => {
                    *self = again;
                    return Ok(());
                }
                Err(e)
                    if format!("{e:#}").contains("Address already in use")
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The kubeconfig the node wrote (control-plane nodes).
    pub fn kubeconfig(&self) -> PathBuf {
        self.spec.data_dir.join("kubeconfig")
    }

    /// The API server's URL, as the node's kubeconfig names it.
    pub fn api_server(&self) -> anyhow::Result<String> {
        let kubeconfig = std::fs::read_to_string(self.kubeconfig())?;
        kubeconfig
            .lines()
            .find_map(|l| l.trim().strip_prefix("server:").map(str::trim))
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no server in the kubeconfig"))
    }

    /// The node's audit log (written when an audit policy is configured).
    pub fn audit_log(&self) -> PathBuf {
        self.spec.data_dir.join("audit/audit.log")
    }

    /// The first event of the node's audit log that `matches`, waiting for it up to
    /// `timeout`.
    pub async fn audit_event(
        &self,
        timeout: Duration,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> anyhow::Result<serde_json::Value> {
        let log = self.audit_log();
        let (event, _) = eventually(timeout, || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let found = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|e| matches(e));
            async move { Ok(found) }
        })
        .await?;
        Ok(event)
    }

    /// The client config the node wrote.
    pub fn client_config(&self) -> PathBuf {
        self.spec.data_dir.join("client.toml")
    }

    /// A client connected to this node.
    pub async fn client(&self) -> anyhow::Result<Client> {
        let cfg = ClientConfig::load(&self.client_config())?;
        Ok(Client::connect(&cfg).await?)
    }

    /// The stderr log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The error `rudderd` printed (its `rudderd: ` lines) in the log written since `from`:
/// what a caller matches on, even when a long backtrace follows it.
fn exit_reason(path: &Path, from: u64) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let run = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default());
    let lines: Vec<&str> = run.lines().filter(|l| l.starts_with("rudderd: ")).collect();
    if lines.is_empty() {
        "no error line".to_owned()
    } else {
        lines.join("; ")
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A set of nodes sharing a temp dir and a token.
pub struct Cluster {
    /// The temp dir holding data dirs, logs and the token.
    pub dir: tempfile::TempDir,
    /// The nodes, in start order.
    pub nodes: Vec<NodeProc>,
}

impl Cluster {
    /// An empty cluster directory. With `RUDDER_KEEP_TEST_DIRS` set, the directory (data
    /// and node logs) is kept after the test and its path printed, for post-mortems.
    pub fn new() -> anyhow::Result<Cluster> {
        let keep = std::env::var_os("RUDDER_KEEP_TEST_DIRS").is_some();
        let dir = tempfile::Builder::new()
            .prefix("rudder-test-")
            .disable_cleanup(keep)
            .tempdir()?;
        if keep {
            eprintln!("test cluster dir (kept): {}", dir.path().display());
        }
        Ok(Cluster {
            dir,
            nodes: Vec::new(),
        })
    }

    /// The shared token file.
    pub fn token_file(&self) -> PathBuf {
        self.dir.path().join("token")
    }

    /// A spec for node `name` from `config` (relative to `cluster-config/`), joining
    /// through the nodes already started.
    pub fn spec(&self, config: &str, name: &str) -> NodeSpec {
        NodeSpec {
            config: repo_root().join("cluster-config").join(config),
            name: name.to_owned(),
            data_dir: self.dir.path().join(name),
            listen: "127.0.0.1:0".into(),
            api_listen: "127.0.0.1:0".into(),
            join: self.nodes.iter().map(|n| n.bus.clone()).collect(),
            token_file: self.token_file(),
            node_key_file: None,
            roles: None,
            proxy_mode: Some("forwarding".into()),
            kubelet_runtime: Some("fake".into()),
            env: Vec::new(),
        }
    }

    /// Starts the three nodes of `cluster-config/three-node/`, each joining the earlier ones.
    pub async fn three_nodes() -> anyhow::Result<Cluster> {
        Self::three_nodes_from("three-node").await
    }

    /// Starts `cp-1`..`cp-3` from `cluster-config/<dir>/cp-N.toml`, each joining the
    /// earlier ones.
    pub async fn three_nodes_from(dir: &str) -> anyhow::Result<Cluster> {
        let mut c = Cluster::new()?;
        for i in 1..=3 {
            let spec = c.spec(&format!("{dir}/cp-{i}.toml"), &format!("cp-{i}"));
            c.nodes.push(NodeProc::start(spec).await?);
        }
        c.wait_store_in_step(Duration::from_secs(60)).await?;
        Ok(c)
    }

    /// Waits until the store group has every node as a voter and every replica has the
    /// leader's whole log: a group still in the middle of its members' joins cannot lose
    /// a member (a joint configuration needs both majorities), so tests that kill nodes
    /// start from here.
    pub async fn wait_store_in_step(&self, timeout: Duration) -> anyhow::Result<()> {
        let client = self.nodes[0].client().await?;
        let names: Vec<String> = self.nodes.iter().map(|n| n.name().to_owned()).collect();
        eventually(timeout, || async {
            let s = store_status(&client, &names[0]).await?;
            let Some(leader) = s.leader.clone() else {
                return Ok(None);
            };
            let l = store_status(&client, leader.as_str()).await?;
            let voters = l.members.iter().filter(|m| m.voter).count();
            let in_step = l
                .members
                .iter()
                .all(|m| m.matched_index.is_some() && m.matched_index >= l.last_log_index);
            Ok((voters == names.len() && in_step).then_some(()))
        })
        .await
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("the store group did not settle: {e}"))
    }

    /// One node from `single-node.toml` named `solo` (the control-plane role only when
    /// `control_plane_only`), once it serves the `default` namespace; with a client on it.
    pub async fn solo(control_plane_only: bool) -> anyhow::Result<(Cluster, Client)> {
        let mut cluster = Cluster::new()?;
        let mut spec = cluster.spec("single-node.toml", "solo");
        if control_plane_only {
            spec.roles = Some("control-plane".into());
        }
        cluster.nodes.push(NodeProc::start(spec).await?);
        let client = cluster.nodes[0].client().await?;
        let c = client.clone();
        eventually(Duration::from_secs(10), move || {
            let c = c.clone();
            async move {
                Ok(Some(
                    c.api::<rudder_protocol::resources::Namespace>(None)
                        .get("default")
                        .await?,
                ))
            }
        })
        .await?;
        Ok((cluster, client))
    }

    /// A node by name.
    pub fn node(&mut self, name: &str) -> &mut NodeProc {
        let i = self.nodes.iter().position(|n| n.name() == name);
        match i {
            Some(i) => &mut self.nodes[i],
            None => panic!("no node {name}"),
        }
    }
}

/// A node's view of membership, asked through `client`.
pub async fn members_seen_by(client: &Client, node: &str) -> anyhow::Result<Vec<MemberInfo>> {
    Ok(client.members_seen_by(&NodeName::new(node)).await?)
}

/// The object `name` from `api` once `check` holds for it, read again every poll of
/// [`eventually`] for at most `secs` seconds.
pub async fn wait_for<K, F>(
    api: &rudder_protocol::client::Api<K>,
    name: &str,
    secs: u64,
    check: F,
) -> anyhow::Result<K>
where
    K: rudder_protocol::resources::Resource + Send + Sync + 'static,
    F: Fn(&K) -> bool + Clone + Send + 'static,
{
    let (api, name) = (api.clone(), name.to_owned());
    let (found, _) = eventually(Duration::from_secs(secs), move || {
        let (api, name, check) = (api.clone(), name.clone(), check.clone());
        async move {
            let obj = api.get(&name).await?;
            Ok(check(&obj).then_some(obj))
        }
    })
    .await?;
    Ok(found)
}

/// Polls `check` every 20 ms until it returns `Ok(Some(v))` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> anyhow::Result<(T, Duration)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let start = Instant::now();
    let mut last_err = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok((v, start.elapsed())),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if start.elapsed() > timeout {
            bail!("condition not met within {timeout:?}; last error: {last_err:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends a request to `node`'s store through `client`; store errors become `Err`.
pub async fn store(
    client: &Client,
    node: &str,
    req: rudder_protocol::messages::store::StoreRequest,
) -> anyhow::Result<rudder_protocol::messages::store::StoreReply> {
    use rudder_protocol::messages::store::StoreReply;
    match client.call(ActorRef::new(node, "store"), req).await? {
        StoreReply::Error(e) => Err(e.into()),
        reply => Ok(reply),
    }
}

/// A node's store status.
pub async fn store_status(
    client: &Client,
    node: &str,
) -> anyhow::Result<rudder_protocol::messages::store::StoreStatus> {
    use rudder_protocol::messages::store::{StoreReply, StoreRequest};
    match store(client, node, StoreRequest::Status).await? {
        StoreReply::Status(s) => Ok(s),
        other => bail!("unexpected reply {other:?}"),
    }
}

/// The API handles simulated nodes need, all through `client`.
pub fn sim_apis(client: &Client) -> rudder_actors::simnode::SimApis {
    rudder_actors::simnode::SimApis {
        nodes: client.api(None),
        pods: client.api(None),
        leases: client.api(Some(rudder_actors::simnode::NODE_LEASE_NAMESPACE)),
        namespaces: client.api(None),
    }
}
