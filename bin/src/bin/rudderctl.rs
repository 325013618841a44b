//! `rudderctl`: the command line for a Rudder cluster, built on the Rust client.
//!
//! It finds the cluster through `--client-config`, then `$RUDDER_CLIENT_CONFIG`, then
//! `./.rudder/client.toml` (written by `rudderd` at start).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand, ValueEnum};
use rudder_protocol::client::{Client, ClientConfig};
use rudder_protocol::messages::bus::{MemberInfo, MemberState};
use rudder_protocol::messages::chaos::{ActorInfo, ChaosReply, ChaosRequest};
use rudder_protocol::messages::echo::{EchoReply, EchoRequest};
use rudder_protocol::messages::store::{Consistency, Expect, StoreReply, StoreRequest};
use rudder_protocol::{ActorRef, NodeName};
use serde_json::json;

#[path = "../ctl/chaos.rs"]
mod chaos;
#[path = "../ctl/kubeconfig.rs"]
mod kubeconfig;
#[path = "../ctl/objects.rs"]
mod objects;
#[path = "../ctl/streams.rs"]
mod streams;
#[path = "../ctl/top.rs"]
mod top;
#[path = "../ctl/traces.rs"]
mod traces;
#[path = "../ctl/workloads.rs"]
mod workloads;

/// Talks to a Rudder cluster.
#[derive(Debug, Parser)]
#[command(name = "rudderctl", version, about)]
struct Args {
    /// Client config file (default: $RUDDER_CLIENT_CONFIG, then ./.rudder/client.toml).
    #[arg(long, global = true)]
    client_config: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List actors with their state and restart counts (all live nodes by default).
    Actors {
        /// Only this node.
        #[arg(long)]
        node: Option<String>,
    },
    /// Stop an actor; its supervisor restarts it.
    Kill {
        /// The actor's name, e.g. `echo`.
        actor: String,
        /// The node it runs on (default: the node this client is connected to).
        #[arg(long)]
        node: Option<String>,
    },
    /// List cluster members as a node sees them.
    Members {
        /// Ask this node (default: the node this client is connected to).
        #[arg(long)]
        node: Option<String>,
    },
    /// Show objects: `get pods`, `get deploy web -o yaml`, `get po -A -l app=web`.
    Get {
        /// Resource: plural, singular or short name (pods, pod, po, deploy, svc, ...).
        resource: String,
        /// One object's name.
        name: Option<String>,
        /// Namespace (default: `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// All namespaces.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Label selector.
        #[arg(short = 'l', long)]
        selector: Option<String>,
    },
    /// Create or update the objects in a YAML or JSON file (several documents allowed).
    Apply {
        /// The file (`-` for standard input).
        #[arg(short = 'f', long)]
        filename: PathBuf,
    },
    /// Delete an object, or the objects in a file.
    Delete {
        /// Resource, when not using `-f`.
        resource: Option<String>,
        /// Name, when not using `-f`.
        name: Option<String>,
        /// Namespace (default: `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Delete the objects of this file.
        #[arg(short = 'f', long)]
        filename: Option<PathBuf>,
    },
    /// Set the replicas of a Deployment, ReplicaSet or ReplicationController.
    Scale {
        /// `deployment/web` or `deploy/web`.
        target: String,
        /// Desired replicas.
        #[arg(long)]
        replicas: u32,
        /// Namespace (default: `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
    },
    /// Show one object in detail, with its events.
    Describe {
        /// Resource: plural, singular or short name.
        resource: String,
        /// The object's name.
        name: String,
        /// Namespace (default: `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
    },
    /// CPU and memory of nodes or pods, as the kubelets measured them; or the busiest
    /// actors (`actors`: message rates, mailboxes, restarts).
    Top {
        /// `nodes`, `pods` or `actors`.
        resource: String,
        /// Namespace of the pods (default: `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Pods of every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// One row per container.
        #[arg(long)]
        containers: bool,
    },
    /// Traces across the bus: the slowest recent API requests of every node, or (with
    /// an id) one request through every node that served part of it: the API server,
    /// the store leader, each replica's apply.
    Traces {
        /// A trace id from the listing (32 hex digits).
        id: Option<String>,
        /// How many of the slowest to list.
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
    /// Run a command in a pod's container: `exec web -- ls /` (exits with its code).
    Exec {
        /// The pod.
        pod: String,
        /// Namespace (default: `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// The container (default: the pod's only one).
        #[arg(short = 'c', long)]
        container: Option<String>,
        /// Pass standard input to the command.
        #[arg(short = 'i', long)]
        stdin: bool,
        /// Allocate a terminal in the container.
        #[arg(short = 't', long)]
        tty: bool,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Forward local ports to a pod: `port-forward web 8080:80` (until stopped).
    PortForward {
        /// The pod (`web` or `pod/web`).
        pod: String,
        /// `LOCAL:REMOTE`, or one port for both; local 0 picks a free one.
        #[arg(required = true)]
        ports: Vec<String>,
        /// Namespace (default: `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// The local address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        address: String,
    },
    /// Print a container's log (from the kubelet of the pod's node).
    Logs {
        /// The pod.
        pod: String,
        /// Namespace (default: `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// The container (default: the pod's first).
        #[arg(short = 'c', long)]
        container: Option<String>,
        /// Keep printing new output while the container runs.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<i64>,
        /// The previous (terminated) instance of the container.
        #[arg(short = 'p', long)]
        previous: bool,
    },
    /// Rollouts of Deployments.
    Rollout {
        #[command(subcommand)]
        command: RolloutCommand,
    },
    /// The replicated store: group status and raw key access.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Chaos: kill actors or nodes, delay or drop bus traffic, random kill schedules.
    Chaos {
        #[command(subcommand)]
        command: chaos::ChaosCommand,
    },
    /// Rudder's local container images (needs only the local Docker engine).
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// Issue a client certificate for a user (a CertificateSigningRequest, approved as
    /// the caller) and write a kubeconfig that authenticates with it.
    Kubeconfig(kubeconfig::KubeconfigArgs),
    /// Print (or write) a worker's node key: what that worker proves on the bus instead
    /// of the cluster token (`node_key_file` in its config, or `rudderd
    /// --node-key-file`). A node holding only its key joins as that node and as a worker
    /// only. Computed from this client config's cluster token; nothing is sent.
    NodeKey {
        /// The worker's node name.
        node: String,
        /// Write the key to this file (mode 0600) instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Send a ping to a node's echo actor and print the round trip.
    Ping {
        /// The node (default: the node this client is connected to).
        #[arg(long)]
        node: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ImagesCommand {
    /// Build rudder/pause:1 (pod sandbox) and rudder/demo:1 (busybox with `httpd` on
    /// port 8080) offline from the host's static busybox (Debian: busybox-static).
    Build,
}

/// Builds the local images into the local Docker engine.
async fn images_build() -> anyhow::Result<()> {
    use rudder_actors::kubelet::{docker::DockerRuntime, images};
    let rt = DockerRuntime::new();
    for image in [images::LocalImage::Sandbox, images::LocalImage::Demo] {
        images::build(&rt, image).await?;
        println!("built {}", image.reference());
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
enum RolloutCommand {
    /// Wait for a rollout to finish, printing its progress.
    Status {
        /// `deployment/NAME`.
        target: String,
        /// Namespace (default: `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// The Raft group: leader, term, members, applied index per member.
    Status,
    /// Read one key (linearizable).
    Get {
        /// The key.
        key: String,
    },
    /// Write one key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Trace the write and show where its time went: the store leader's handling,
        /// its Raft commit, and each replica's log append and apply.
        #[arg(long)]
        trace: bool,
    },
    /// List keys under a prefix.
    List {
        /// The prefix.
        prefix: String,
    },
}

fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}   "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

async fn members(client: &Client, node: &NodeName) -> anyhow::Result<Vec<MemberInfo>> {
    client
        .members_seen_by(node)
        .await
        .with_context(|| format!("asking {node} for members"))
}

async fn actors(client: &Client, only: Option<String>) -> anyhow::Result<Vec<ActorInfo>> {
    let nodes: Vec<NodeName> = match only {
        Some(n) => vec![NodeName::new(n)],
        None => members(client, client.node())
            .await?
            .into_iter()
            .filter(|m| m.state == MemberState::Alive)
            .map(|m| m.name)
            .collect(),
    };
    let mut all = Vec::new();
    let asks = nodes.into_iter().map(|node| async move {
        let r = client
            .call(
                ActorRef::new(node.clone(), "chaos"),
                ChaosRequest::ListActors,
            )
            .await;
        (node, r)
    });
    for (node, reply) in futures::future::join_all(asks).await {
        match reply {
            Ok(ChaosReply::Actors(list)) => all.extend(list),
            Ok(other) => bail!("unexpected reply from {node}: {other:?}"),
            Err(e) => eprintln!("rudderctl: node {node}: {e}"),
        }
    }
    all.sort_by(|a, b| (&a.node, &a.name).cmp(&(&b.node, &b.name)));
    Ok(all)
}

fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

/// `rudderctl node-key`: the worker's key from the config's cluster token.
fn node_key(cfg: &ClientConfig, node: &str, out: Option<&std::path::Path>) -> anyhow::Result<()> {
    use rudder_protocol::net::{format_node_key, node_key, Secret};
    let creds = cfg.credentials().context(
        "a node key is computed from the cluster token: use a client config that holds it \
         (a control-plane node's client.toml)",
    )?;
    let Secret::Token(token) = &creds.secret else {
        bail!("this client config holds no cluster token");
    };
    let key = format_node_key(&node_key(token, &cfg.cluster_id, node));
    match out {
        None => println!("{key}"),
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut file = opts
                .open(path)
                .with_context(|| format!("writing {}", path.display()))?;
            std::io::Write::write_all(&mut file, format!("{key}\n").as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("node key of {node} written to {}", path.display());
        }
    }
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<()> {
    if let Command::Images {
        command: ImagesCommand::Build,
    } = &args.command
    {
        return images_build().await;
    }
    let cfg = ClientConfig::discover(args.client_config.as_deref())?;
    if let Command::NodeKey { node, out } = &args.command {
        return node_key(&cfg, node, out.as_deref());
    }
    let client = Client::connect(&cfg)
        .await?
        .with_timeout(Duration::from_secs(10));
    let here = client.node().clone();
    let node_or_here = |n: Option<String>| n.map(NodeName::new).unwrap_or_else(|| here.clone());
    match args.command {
        Command::Actors { node } => {
            let list = actors(&client, node).await?;
            match args.output {
                Output::Json | Output::Yaml => {
                    let items: Vec<_> = list
                        .iter()
                        .map(|a| {
                            json!({
                                "node": a.node,
                                "name": a.name,
                                "state": a.state.as_str(),
                                "restarts": a.restarts,
                                "uptimeMs": a.uptime_ms,
                            })
                        })
                        .collect();
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&json!({ "actors": items }))?
                    );
                }
                Output::Table => {
                    let rows: Vec<Vec<String>> = list
                        .iter()
                        .map(|a| {
                            vec![
                                a.node.clone(),
                                a.name.clone(),
                                a.state.as_str().to_owned(),
                                a.restarts.to_string(),
                                uptime(a.uptime_ms),
                            ]
                        })
                        .collect();
                    print_table(&["NODE", "NAME", "STATE", "RESTARTS", "UPTIME"], &rows);
                }
            }
        }
        Command::Kill { actor, node } => {
            let node = node_or_here(node);
            let reply = client
                .call(
                    ActorRef::new(node.clone(), "chaos"),
                    ChaosRequest::KillActor {
                        name: actor.clone(),
                    },
                )
                .await?;
            match reply {
                ChaosReply::Killed { name, restarts } => match args.output {
                    Output::Json | Output::Yaml => println!(
                        "{}",
                        json!({ "node": node.as_str(), "killed": name, "restartsBefore": restarts })
                    ),
                    Output::Table => println!("actor {node}/{name} killed"),
                },
                ChaosReply::NoSuchActor { name } => {
                    bail!("node {node} has no actor named {name:?}")
                }
                other => bail!("unexpected reply: {other:?}"),
            }
        }
        Command::Members { node } => {
            let list = members(&client, &node_or_here(node)).await?;
            match args.output {
                Output::Json | Output::Yaml => {
                    let items: Vec<_> = list
                        .iter()
                        .map(|m| {
                            json!({
                                "name": m.name.as_str(),
                                "address": m.address,
                                "roles": m.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                                "state": m.state.as_str(),
                                "incarnation": m.incarnation,
                                "lastSeenMs": m.last_seen_ms,
                                "linked": m.linked,
                            })
                        })
                        .collect();
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&json!({ "members": items }))?
                    );
                }
                Output::Table => {
                    let rows: Vec<Vec<String>> = list
                        .iter()
                        .map(|m| {
                            vec![
                                m.name.to_string(),
                                m.state.as_str().to_owned(),
                                m.roles
                                    .iter()
                                    .map(|r| r.as_str())
                                    .collect::<Vec<_>>()
                                    .join(","),
                                m.address.clone(),
                                format!("{}ms", m.last_seen_ms),
                            ]
                        })
                        .collect();
                    print_table(&["NODE", "STATE", "ROLES", "ADDRESS", "LAST-SEEN"], &rows);
                }
            }
        }
        Command::Store { command } => store(&client, command, args.output).await?,
        Command::Kubeconfig(args) => kubeconfig::run(&client, &cfg, args).await?,
        Command::Get {
            resource,
            name,
            namespace,
            all_namespaces,
            selector,
        } => {
            let ns = if all_namespaces {
                None
            } else {
                Some(namespace.unwrap_or_else(|| "default".into()))
            };
            objects::get(
                &client,
                &resource,
                name.as_deref(),
                ns.as_deref(),
                selector,
                args.output,
            )
            .await?
        }
        Command::Apply { filename } => objects::apply(&client, &filename).await?,
        Command::Delete {
            resource,
            name,
            namespace,
            filename,
        } => objects::delete(&client, resource, name, namespace, filename).await?,
        Command::Scale {
            target,
            replicas,
            namespace,
        } => {
            objects::scale(
                &client,
                &target,
                replicas,
                namespace.as_deref().unwrap_or("default"),
            )
            .await?
        }
        Command::Describe {
            resource,
            name,
            namespace,
        } => workloads::describe(&client, &resource, &name, namespace.as_deref()).await?,
        Command::Top { resource, .. } if resource == "actors" => {
            let interval = Duration::from_secs(1);
            let before = actors(&client, None).await?;
            let started = std::time::Instant::now();
            tokio::time::sleep(interval).await;
            let after = actors(&client, None).await?;
            let rows = top::actor_rows(&before, &after, started.elapsed().as_secs_f64());
            match args.output {
                Output::Json | Output::Yaml => {
                    let items: Vec<_> = rows
                        .iter()
                        .map(|r| {
                            json!({
                                "node": r.node,
                                "name": r.name,
                                "state": r.state,
                                "messagesPerSecond": r.rate,
                                "messages": r.messages,
                                "mailbox": r.mailbox,
                                "busy": r.busy,
                                "restarts": r.restarts,
                            })
                        })
                        .collect();
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&json!({ "actors": items }))?
                    );
                }
                Output::Table => {
                    let table: Vec<Vec<String>> = rows
                        .iter()
                        .map(|r| {
                            vec![
                                r.node.clone(),
                                r.name.clone(),
                                r.state.to_owned(),
                                format!("{:.1}", r.rate),
                                r.messages.to_string(),
                                r.mailbox.to_string(),
                                format!("{:.0}%", r.busy * 100.0),
                                r.restarts.to_string(),
                            ]
                        })
                        .collect();
                    print_table(
                        &[
                            "NODE", "NAME", "STATE", "MSG/S", "MESSAGES", "MAILBOX", "BUSY",
                            "RESTARTS",
                        ],
                        &table,
                    );
                }
            }
        }
        Command::Top {
            resource,
            namespace,
            all_namespaces,
            containers,
        } => {
            top::top(
                &client,
                &resource,
                namespace.as_deref(),
                all_namespaces,
                containers,
            )
            .await?
        }
        Command::Exec {
            pod,
            namespace,
            container,
            stdin,
            tty,
            command,
        } => {
            let code = streams::exec(
                &client,
                streams::ExecArgs {
                    namespace: namespace.unwrap_or_else(|| "default".into()),
                    pod,
                    container: container.unwrap_or_default(),
                    command,
                    stdin,
                    tty,
                },
            )
            .await?;
            if code != 0 {
                // The command's own exit code, as kubectl exec gives it.
                std::process::exit(code);
            }
        }
        Command::PortForward {
            pod,
            ports,
            namespace,
            address,
        } => {
            streams::port_forward(
                &client,
                namespace.as_deref().unwrap_or("default"),
                &pod,
                &ports,
                &address,
            )
            .await?
        }
        Command::Logs {
            pod,
            namespace,
            container,
            follow,
            tail,
            previous,
        } => {
            workloads::logs(
                &client,
                &pod,
                namespace.as_deref(),
                container.as_deref(),
                follow,
                tail,
                previous,
            )
            .await?
        }
        Command::Rollout {
            command:
                RolloutCommand::Status {
                    target,
                    namespace,
                    timeout,
                },
        } => {
            workloads::rollout_status(
                &client,
                &target,
                namespace.as_deref(),
                Duration::from_secs(timeout),
            )
            .await?
        }
        Command::Images { .. } | Command::NodeKey { .. } => {}
        Command::Chaos { command } => chaos::run(&client, command).await?,
        Command::Traces { id, limit } => {
            let json_out = !matches!(args.output, Output::Table);
            match id {
                Some(id) => traces::show(&client, &id, json_out).await?,
                None => traces::list(&client, limit, json_out).await?,
            }
        }
        Command::Ping { node } => {
            let node = node_or_here(node);
            let started = std::time::Instant::now();
            let EchoReply::Pong { node: from, .. } = client
                .call(
                    ActorRef::new(node, "echo"),
                    EchoRequest::Ping {
                        payload: vec![0; 64],
                    },
                )
                .await?
            else {
                bail!("unexpected reply to a ping");
            };
            println!(
                "pong from {from} in {:.2} ms",
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
    }
    Ok(())
}

async fn store_call(
    client: &Client,
    node: &NodeName,
    req: StoreRequest,
) -> anyhow::Result<StoreReply> {
    match client
        .call(ActorRef::new(node.clone(), "store"), req)
        .await?
    {
        StoreReply::Error(e) => bail!("store on {node}: {e}"),
        reply => Ok(reply),
    }
}

async fn store(client: &Client, command: StoreCommand, output: Output) -> anyhow::Result<()> {
    let here = client.node().clone();
    match command {
        StoreCommand::Status => {
            let StoreReply::Status(local) = store_call(client, &here, StoreRequest::Status).await?
            else {
                bail!("unexpected reply to a status request");
            };
            let asks = local.members.iter().map(|m| {
                let node = m.node.clone();
                async move {
                    (
                        node.clone(),
                        store_call(client, &node, StoreRequest::Status).await,
                    )
                }
            });
            let mut rows = Vec::new();
            let mut json_members = Vec::new();
            for ((node, reply), member) in futures::future::join_all(asks)
                .await
                .into_iter()
                .zip(&local.members)
            {
                let (state, term, applied, last) = match reply {
                    Ok(StoreReply::Status(s)) => (
                        s.state,
                        s.term.to_string(),
                        opt(s.applied_index),
                        opt(s.last_log_index),
                    ),
                    Ok(_) | Err(_) => {
                        ("Unreachable".to_owned(), "-".into(), "-".into(), "-".into())
                    }
                };
                let role = if member.voter { "voter" } else { "learner" };
                json_members.push(json!({
                    "node": node.as_str(), "role": role, "state": state, "term": term,
                    "appliedIndex": applied, "lastLogIndex": last,
                }));
                rows.push(vec![
                    node.to_string(),
                    role.to_owned(),
                    state,
                    term,
                    applied,
                    last,
                ]);
            }
            match output {
                Output::Json | Output::Yaml => println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "leader": local.leader.as_ref().map(|l| l.as_str().to_owned()),
                        "term": local.term,
                        "revision": local.revision,
                        "compactRevision": local.compact_revision,
                        "members": json_members,
                    }))?
                ),
                Output::Table => {
                    let leader = local
                        .leader
                        .as_ref()
                        .map(|l| l.to_string())
                        .unwrap_or_else(|| "<none>".into());
                    println!(
                        "leader: {leader}   term: {}   revision: {}   compacted: {}",
                        local.term, local.revision, local.compact_revision
                    );
                    print_table(
                        &["NODE", "ROLE", "STATE", "TERM", "APPLIED", "LAST-LOG"],
                        &rows,
                    );
                }
            }
        }
        StoreCommand::Get { key } => {
            let req = StoreRequest::Get {
                key: key.clone(),
                consistency: Consistency::Linearizable,
            };
            match store_call(client, &here, req).await? {
                StoreReply::Get { kv: Some(kv), .. } => match output {
                    Output::Json | Output::Yaml => println!(
                        "{}",
                        json!({"key": kv.key, "value": String::from_utf8_lossy(&kv.value),
                               "createRevision": kv.create_revision, "modRevision": kv.mod_revision,
                               "version": kv.version})
                    ),
                    Output::Table => println!("{}", String::from_utf8_lossy(&kv.value)),
                },
                StoreReply::Get { kv: None, .. } => bail!("key {key:?} not found"),
                other => bail!("unexpected reply {other:?}"),
            }
        }
        StoreCommand::Put { key, value, trace } => {
            let req = StoreRequest::Put {
                key,
                value: value.into_bytes(),
                expect: Expect::Any,
            };
            if !trace {
                match store_call(client, &here, req).await? {
                    StoreReply::Written { revision, .. } => println!("revision {revision}"),
                    other => bail!("unexpected reply {other:?}"),
                }
                return Ok(());
            }
            let context = rudder_protocol::trace::TraceContext::client_root();
            let started = std::time::Instant::now();
            let reply = client
                .request_traced(
                    ActorRef::new(here.clone(), "store"),
                    rudder_protocol::messages::Request::Store(Box::new(req)),
                    context,
                )
                .await?;
            let took = started.elapsed();
            let rudder_protocol::messages::Reply::Store(written) = reply else {
                bail!("unexpected reply {reply:?}");
            };
            let StoreReply::Written { revision, .. } = *written else {
                bail!("unexpected reply {written:?}");
            };
            println!("revision {revision} in {:.3}ms", took.as_secs_f64() * 1e3);
            // The followers apply a moment after the leader answers.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            traces::show(client, &context.trace_hex(), matches!(output, Output::Json)).await?;
        }
        StoreCommand::List { prefix } => {
            let req = StoreRequest::Range {
                prefix,
                start_after: None,
                limit: 0,
                consistency: Consistency::Linearizable,
            };
            match store_call(client, &here, req).await? {
                StoreReply::Range { kvs, .. } => {
                    let rows: Vec<Vec<String>> = kvs
                        .iter()
                        .map(|kv| {
                            vec![
                                kv.key.clone(),
                                kv.mod_revision.to_string(),
                                kv.value.len().to_string(),
                            ]
                        })
                        .collect();
                    print_table(&["KEY", "MOD-REVISION", "BYTES"], &rows);
                }
                other => bail!("unexpected reply {other:?}"),
            }
        }
    }
    Ok(())
}

fn opt(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rudderctl: cannot start runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rudderctl: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
