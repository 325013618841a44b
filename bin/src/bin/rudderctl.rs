//! `rudderctl`: the command line for a Rudder cluster, built on the Rust client.
//!
//! It finds the cluster through `--client-config`, then `$RUDDER_CLIENT_CONFIG`, then
//! `./.rudder/client.toml` (written by `rudderd` at start).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand, ValueEnum};
use rudder_protocol::client::{Client, ClientConfig};
use rudder_protocol::messages::bus::{BusRequest, MemberInfo, MemberState};
use rudder_protocol::messages::chaos::{ActorInfo, ChaosReply, ChaosRequest};
use rudder_protocol::messages::echo::{EchoReply, EchoRequest};
use rudder_protocol::{ActorRef, NodeName};
use serde_json::json;

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
    /// Send a ping to a node's echo actor and print the round trip.
    Ping {
        /// The node (default: the node this client is connected to).
        #[arg(long)]
        node: Option<String>,
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
    let reply = client
        .call(ActorRef::new(node.clone(), "bus"), BusRequest::Members)
        .await
        .with_context(|| format!("asking {node} for members"))?;
    let rudder_protocol::messages::bus::BusReply::Members(m) = reply;
    Ok(m)
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

async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = ClientConfig::discover(args.client_config.as_deref())?;
    let client = Client::connect(&cfg)
        .await?
        .with_timeout(Duration::from_secs(10));
    let here = client.node().clone();
    let node_or_here = |n: Option<String>| n.map(NodeName::new).unwrap_or_else(|| here.clone());
    match args.command {
        Command::Actors { node } => {
            let list = actors(&client, node).await?;
            match args.output {
                Output::Json => {
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
                    Output::Json => println!(
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
                Output::Json => {
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
