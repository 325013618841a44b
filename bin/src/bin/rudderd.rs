//! `rudderd`: one Rudder node.
//!
//! With no arguments it runs the embedded default (`cluster-config/single-node.toml`): one
//! node with both roles, data under `./.rudder`, bus on `127.0.0.1:7946`. `--config FILE`
//! reads another file; flags override the file.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use rudder_actors::config::NodeConfig;
use rudder_actors::node::Node;
use rudder_protocol::actor::Role;

// The bus allocates a few small objects per request on many tasks; mimalloc's thread
// caches make that cheaper than glibc malloc (bench-bus at 64 in flight, together with
// in-place echo replies: 253k -> 308k requests/s). Without the `mimalloc` feature the
// system allocator is used, which heap profilers (heaptrack) can follow.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs one Rudder node.
#[derive(Debug, Parser)]
#[command(name = "rudderd", version, about)]
struct Args {
    /// Node config file (TOML); without it the embedded single-node default is used.
    #[arg(long, env = "RUDDER_CONFIG")]
    config: Option<PathBuf>,
    /// Node name (default: the host name).
    #[arg(long)]
    name: Option<String>,
    /// Data directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Bus listen address, IP:port (port 0 picks a free port).
    #[arg(long)]
    listen: Option<String>,
    /// API server listen address, IP:port.
    #[arg(long)]
    api_listen: Option<String>,
    /// Bus address of a node to join through (repeatable; `--join ""` clears the file's).
    #[arg(long = "join", value_name = "ADDR")]
    join: Vec<String>,
    /// Roles, comma separated: control-plane, worker.
    #[arg(long, value_delimiter = ',')]
    roles: Option<Vec<Role>>,
    /// File holding the cluster token (created if missing).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// A worker's node key file instead of the token (`rudderctl node-key NAME`).
    #[arg(long)]
    node_key_file: Option<PathBuf>,
    /// Cluster id.
    #[arg(long)]
    cluster_id: Option<String>,
    /// Service proxy mode: auto, iptables, forwarding or off (overrides `[proxy] mode`).
    #[arg(long, value_parser = ["auto", "iptables", "forwarding", "off"])]
    proxy_mode: Option<String>,
    /// Kubelet container runtime: docker, fake or none (overrides `[kubelet] runtime`).
    #[arg(long, value_parser = ["docker", "fake", "none"])]
    kubelet_runtime: Option<String>,
    /// Where the ingress controller serves HTTP, `host:port`, or "" for nowhere
    /// (overrides `[ingress] http_listen`).
    #[arg(long, env = "RUDDER_INGRESS_HTTP")]
    ingress_http: Option<String>,
    /// Where the ingress controller serves HTTPS, `host:port`, or "" for nowhere
    /// (overrides `[ingress] https_listen`).
    #[arg(long, env = "RUDDER_INGRESS_HTTPS")]
    ingress_https: Option<String>,
    /// A plain-HTTP metrics address (`[metrics] listen`).
    #[arg(long, env = "RUDDER_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// Record metrics (`[metrics] enabled`): `on` or `off`.
    #[arg(long, env = "RUDDER_METRICS", value_parser = ["on", "off"])]
    metrics: Option<String>,
    /// The node's address on the network it serves pods from, its InternalIP
    /// (overrides `[node] address`).
    #[arg(long, env = "RUDDER_NODE_IP")]
    node_ip: Option<String>,
}

fn config(args: Args) -> anyhow::Result<NodeConfig> {
    let mut cfg = match &args.config {
        Some(path) => NodeConfig::load(path)?,
        None => NodeConfig::embedded(),
    };
    if let Some(v) = args.name {
        cfg.name = v;
    }
    if let Some(v) = args.data_dir {
        cfg.data_dir = v;
    }
    if let Some(v) = args.listen {
        cfg.listen = v;
    }
    if let Some(v) = args.api_listen {
        cfg.api_listen = v;
    }
    if !args.join.is_empty() {
        // `--join ""` clears the file's seeds.
        cfg.join = args.join.into_iter().filter(|j| !j.is_empty()).collect();
    }
    if let Some(v) = args.roles {
        cfg.roles = v;
    }
    // A node key given here replaces the config file's token, and a token the file's
    // node key; both flags at once are refused by the config's validation.
    let key_flag = args.node_key_file.is_some();
    if let Some(v) = args.node_key_file {
        cfg.node_key_file = v;
        cfg.token_file = PathBuf::new();
    }
    if let Some(v) = args.token_file {
        cfg.token_file = v;
        if !key_flag {
            cfg.node_key_file = PathBuf::new();
        }
    }
    if let Some(v) = args.cluster_id {
        cfg.cluster_id = v;
    }
    if let Some(v) = args.proxy_mode {
        cfg.proxy.mode = serde_json::from_value(serde_json::Value::String(v))?;
    }
    if let Some(v) = args.kubelet_runtime {
        cfg.kubelet.runtime = serde_json::from_value(serde_json::Value::String(v))?;
    }
    if let Some(v) = args.ingress_http {
        cfg.ingress.http_listen = v;
    }
    if let Some(v) = args.ingress_https {
        cfg.ingress.https_listen = v;
    }
    if let Some(v) = args.metrics_listen {
        cfg.metrics.listen = v;
    }
    if let Some(v) = args.metrics {
        cfg.metrics.enabled = v == "on";
    }
    if let Some(v) = args.node_ip {
        cfg.node.address = v;
    }
    cfg.validate()?;
    Ok(cfg)
}

async fn run(cfg: NodeConfig) -> anyhow::Result<()> {
    let roles: Vec<&str> = cfg.roles.iter().map(|r| r.as_str()).collect();
    let roles = roles.join(",");
    // Watch for the stop signals before anything can be told the node is ready: a
    // supervisor (or a test) that sends SIGTERM the moment it reads the ready line
    // must get a clean shutdown, not the default action's abrupt exit.
    let stop = StopSignals::install()?;
    let node = Node::start(cfg).await.context("node failed to start")?;
    tracing::info!(node = %node.name, bus = %node.bus_address, "node started");
    // The one line scripts and people wait for.
    let api = node
        .api_address
        .map(|a| format!(" api=https://{a}"))
        .unwrap_or_default();
    let metrics = node
        .metrics_address
        .map(|a| format!(" metrics=http://{a}"))
        .unwrap_or_default();
    let kubeconfig = node
        .kubeconfig
        .as_ref()
        .map(|k| format!(" kubeconfig={}", k.display()))
        .unwrap_or_default();
    println!(
        "rudderd ready: node={} roles={} bus={}{api}{metrics} data-dir={} client-config={}{kubeconfig}",
        node.name,
        roles,
        node.bus_address,
        node.data_dir.display(),
        node.client_config.display()
    );
    stop.wait().await;
    tracing::info!(node = %node.name, "shutting down");
    node.shutdown().await;
    Ok(())
}

/// SIGTERM and SIGINT, watched from the moment they are installed: one that arrives
/// while the node is still starting is kept and ends the wait at once.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<StopSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cfg = match config(Args::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rudderd: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let system = actix_rt::System::new();
    match system.block_on(run(cfg)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rudderd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
