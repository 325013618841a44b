//! `rudderctl chaos ...`: kill actors by pattern on one node or all, kill a node's
//! process, delay or drop bus traffic between nodes for a while, run a seeded random
//! kill schedule. Every command prints what it did, where, and when.

use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Subcommand, ValueEnum};
use rudder_protocol::chaos::{Schedule, TargetSet};
use rudder_protocol::client::Client;
use rudder_protocol::messages::chaos::{Direction, FaultAction, FaultRule};
use rudder_protocol::NodeName;

/// Which way a fault applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Way {
    /// Requests the node sends to the peers.
    Out,
    /// Requests the node receives from the peers.
    In,
    /// Both ways (a partition, with `--drop 1`).
    Both,
}

/// The `chaos` subcommands.
#[derive(Debug, Subcommand)]
pub enum ChaosCommand {
    /// Stop the actors matching a glob (`controller-*`, `scheduler`) on one node or all;
    /// their supervisors restart them. Never `bus` or `chaos`.
    Kill {
        /// Glob over actor names (`*`, `?`).
        pattern: String,
        /// This node (default: the node this client is connected to).
        #[arg(long, conflicts_with = "all")]
        node: Option<String>,
        /// Every alive node.
        #[arg(long)]
        all: bool,
    },
    /// Kill a node's whole process, as `kill -9` would (its replies first).
    KillNode {
        /// The node.
        node: String,
    },
    /// Delay or drop the bus requests a node exchanges with some peers, for a while.
    Fault {
        /// The node whose bus applies the rule.
        #[arg(long)]
        node: String,
        /// Peer nodes, comma-separated (default: every peer).
        #[arg(long, value_delimiter = ',')]
        peers: Vec<String>,
        /// Which way.
        #[arg(long, value_enum, default_value_t = Way::Both)]
        direction: Way,
        /// Drop with this probability (0..1).
        #[arg(long, conflicts_with = "delay")]
        drop: Option<f64>,
        /// Delay each request by this long (`200ms`, `1s`).
        #[arg(long)]
        delay: Option<String>,
        /// How long the rule holds (`30s`, `2m`).
        #[arg(long = "for", default_value = "30s")]
        duration: String,
    },
    /// Cut a node off from some peers (default: all) both ways, for a while.
    Partition {
        /// The node to isolate.
        node: String,
        /// Peers, comma-separated (default: every peer).
        #[arg(long, value_delimiter = ',')]
        peers: Vec<String>,
        /// How long (`30s`).
        #[arg(long = "for", default_value = "30s")]
        duration: String,
    },
    /// Remove the fault rules of one node or all.
    Clear {
        /// This node (default: every alive node).
        #[arg(long)]
        node: Option<String>,
    },
    /// List the fault rules in force.
    Faults {
        /// This node (default: every alive node).
        #[arg(long)]
        node: Option<String>,
    },
    /// Kill a random actor every period, chosen by a seeded generator from the sorted
    /// listing, printing each step: the same seed on the same cluster replays the run.
    Schedule {
        /// The seed (default: from the clock, printed).
        #[arg(long)]
        seed: Option<u64>,
        /// Period (`2s`).
        #[arg(long, default_value = "2s")]
        every: String,
        /// Total duration (`60s`).
        #[arg(long = "for", default_value = "60s")]
        duration: String,
        /// Targets: comma-separated `role=`, `node=`, `actor=` (globs) terms, or `all`.
        #[arg(long, default_value = "all")]
        kill: String,
        /// Actor globs never to kill (besides `bus` and `chaos`), comma-separated.
        #[arg(long, value_delimiter = ',')]
        exclude: Vec<String>,
    },
}

/// Parses `250ms`, `2s`, `1m`, `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().with_context(|| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => bail!("bad duration unit {other:?} in {s:?} (ms, s, m, h)"),
    };
    if !secs.is_finite() || secs < 0.0 {
        bail!("bad duration {s:?}");
    }
    Ok(Duration::from_secs_f64(secs))
}

fn stamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let s = now.as_secs();
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        now.subsec_millis()
    )
}

async fn nodes_or_all(client: &Client, node: Option<String>) -> anyhow::Result<Vec<NodeName>> {
    Ok(match node {
        Some(n) => vec![NodeName::new(n)],
        None => {
            let mut v: Vec<NodeName> = client
                .alive_members()
                .await?
                .into_iter()
                .map(|m| m.name)
                .collect();
            v.sort();
            v
        }
    })
}

/// Runs one `chaos` subcommand.
pub async fn run(client: &Client, cmd: ChaosCommand) -> anyhow::Result<()> {
    match cmd {
        ChaosCommand::Kill { pattern, node, all } => {
            let nodes = if all {
                nodes_or_all(client, None).await?
            } else {
                vec![node
                    .map(NodeName::new)
                    .unwrap_or_else(|| client.node().clone())]
            };
            let mut total = 0;
            for node in nodes {
                match client.chaos_kill(&node, &pattern).await {
                    Ok(killed) => {
                        for (name, restarts) in &killed {
                            println!(
                                "{} killed {node}/{name} (restarts before: {restarts})",
                                stamp()
                            );
                        }
                        total += killed.len();
                    }
                    Err(e) => eprintln!("rudderctl: node {node}: {e}"),
                }
            }
            if total == 0 {
                bail!("no actor matched {pattern:?}");
            }
        }
        ChaosCommand::KillNode { node } => {
            let pid = client
                .chaos_kill_process(&NodeName::new(node.as_str()))
                .await?;
            println!("{} killing node {node} (pid {pid})", stamp());
        }
        ChaosCommand::Fault {
            node,
            peers,
            direction,
            drop,
            delay,
            duration,
        } => {
            let action = match (drop, delay) {
                (Some(p), None) if (0.0..=1.0).contains(&p) => FaultAction::Drop {
                    per_mille: (p * 1000.0).round() as u16,
                },
                (Some(p), None) => bail!("--drop {p}: a probability between 0 and 1"),
                (None, Some(d)) => FaultAction::Delay {
                    ms: parse_duration(&d)?.as_millis().min(u32::MAX as u128) as u32,
                },
                _ => bail!("give one of --drop P or --delay D"),
            };
            let direction = match direction {
                Way::Out => Direction::Outbound,
                Way::In => Direction::Inbound,
                Way::Both => Direction::Both,
            };
            set_fault(client, node, peers, direction, action, &duration).await?;
        }
        ChaosCommand::Partition {
            node,
            peers,
            duration,
        } => {
            let action = FaultAction::Drop { per_mille: 1000 };
            set_fault(client, node, peers, Direction::Both, action, &duration).await?;
        }
        ChaosCommand::Clear { node } => {
            for node in nodes_or_all(client, node).await? {
                match client.chaos_clear_faults(&node).await {
                    Ok(n) => println!("{} {node}: {n} fault rule(s) cleared", stamp()),
                    Err(e) => eprintln!("rudderctl: node {node}: {e}"),
                }
            }
        }
        ChaosCommand::Faults { node } => {
            println!("NODE   ID   PEERS   DIRECTION   ACTION   REMAINING");
            for node in nodes_or_all(client, node).await? {
                match client.chaos_faults(&node).await {
                    Ok(list) => {
                        for f in list {
                            println!(
                                "{node}   {}   {}   {}   {}   {}ms",
                                f.id,
                                peers_text(&f.rule.peers),
                                f.rule.direction.as_str(),
                                action_text(f.rule.action),
                                f.remaining_ms
                            );
                        }
                    }
                    Err(e) => eprintln!("rudderctl: node {node}: {e}"),
                }
            }
        }
        ChaosCommand::Schedule {
            seed,
            every,
            duration,
            kill,
            exclude,
        } => {
            let seed = seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
            let mut targets: TargetSet = kill.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            targets.exclude.extend(exclude);
            let schedule = Schedule::new(
                seed,
                parse_duration(&every)?,
                parse_duration(&duration)?,
                targets.clone(),
            );
            println!(
                "{} chaos schedule: seed={seed} every={every} for={duration} kill={targets} steps={}",
                stamp(),
                schedule.steps()
            );
            let events = rudder_protocol::chaos::run_schedule(client, schedule, |ev| {
                println!("{} {ev}", stamp());
            })
            .await;
            let killed = events
                .iter()
                .filter(|e| e.outcome.starts_with("killed"))
                .count();
            println!(
                "{} chaos schedule done: seed={seed} {killed} of {} steps killed an actor",
                stamp(),
                events.len()
            );
        }
    }
    Ok(())
}

fn peers_text(peers: &[String]) -> String {
    if peers.is_empty() {
        "*".into()
    } else {
        peers.join(",")
    }
}

fn action_text(a: FaultAction) -> String {
    match a {
        FaultAction::Delay { ms } => format!("delay {ms}ms"),
        FaultAction::Drop { per_mille } => format!("drop {:.1}%", per_mille as f64 / 10.0),
    }
}

async fn set_fault(
    client: &Client,
    node: String,
    peers: Vec<String>,
    direction: Direction,
    action: FaultAction,
    duration: &str,
) -> anyhow::Result<()> {
    let d = parse_duration(duration)?;
    let rule = FaultRule {
        peers: peers.clone(),
        direction,
        action,
        duration_ms: d.as_millis() as u64,
    };
    let id = client
        .chaos_set_fault(&NodeName::new(node.as_str()), rule)
        .await?;
    println!(
        "{} fault {id} on {node}: {} {} peers={} for {duration}",
        stamp(),
        action_text(action),
        direction.as_str(),
        peers_text(&peers)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("2s", Some(2000)),
            ("250ms", Some(250)),
            ("1m", Some(60_000)),
            ("1.5s", Some(1500)),
            ("3", Some(3000)),
            ("2d", None),
            ("", None),
            ("ms", None),
        ];
        for (s, want) in cases {
            let got = parse_duration(s).ok().map(|d| d.as_millis() as u64);
            assert_eq!(got, want, "{s:?}");
        }
    }
}
