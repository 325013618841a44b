//! `rudderctl top nodes|pods`: the kubelets' latest CPU and memory measurements, read
//! from each node's kubelet over the bus (`KubeletRequest::Metrics`, what the API
//! server's `metrics.k8s.io` serves) and printed as `kubectl top` prints them.
//!
//! `rudderctl top actors`: the busiest actors of every node, from two listings of the
//! supervisors (`ChaosRequest::ListActors`, which carries each actor's message count,
//! mailbox depth and busy time) a second apart ([`actor_rows`]).

use anyhow::bail;
use rudder_protocol::client::Client;
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::messages::kubelet::{KubeletReply, KubeletRequest, MetricsSnapshot, Usage};
use rudder_protocol::resources::{Node, PodMetrics};

/// Every node's latest measurements (nodes whose kubelet does not answer are left out).
async fn scrape(client: &Client) -> anyhow::Result<Vec<(Node, MetricsSnapshot)>> {
    let nodes = client
        .api::<Node>(None)
        .list(&ListParams::default())
        .await?;
    let mut out = Vec::new();
    for n in nodes.items {
        let kubelet = rudder_protocol::ActorRef::new(
            n.metadata.name.as_str(),
            rudder_protocol::names::actors::KUBELET,
        );
        if let Ok(KubeletReply::Metrics(m)) = client.call(kubelet, KubeletRequest::Metrics).await {
            out.push((n, m));
        }
    }
    Ok(out)
}

fn cpu(u: &Usage) -> String {
    format!("{}m", u.cpu_nanocores / 1_000_000)
}

fn memory(u: &Usage) -> String {
    format!("{}Mi", u.memory_bytes / (1024 * 1024))
}

/// `rudderctl top nodes` or `rudderctl top pods [-n NS | -A] [--containers]`.
pub async fn top(
    client: &Client,
    what: &str,
    namespace: Option<&str>,
    all_namespaces: bool,
    containers: bool,
) -> anyhow::Result<()> {
    let scraped = scrape(client).await?;
    match what {
        "nodes" | "node" | "no" => {
            println!(
                "{:<24} {:>10} {:>5} {:>14} {:>7}",
                "NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"
            );
            for (n, m) in &scraped {
                let Some(u) = &m.node else { continue };
                let alloc = |r: &str| n.status.allocatable.get(r).map(|q| q.milli_value());
                let pct = |used: u128, total: Option<i64>| match total {
                    Some(t) if t > 0 => format!("{}%", used * 100 / t as u128),
                    _ => "<unknown>".to_owned(),
                };
                let cpu_pct = pct(u128::from(u.usage.cpu_nanocores / 1_000_000), alloc("cpu"));
                let mem_pct = pct(u128::from(u.usage.memory_bytes) * 1000, alloc("memory"));
                println!(
                    "{:<24} {:>10} {:>5} {:>14} {:>7}",
                    n.metadata.name,
                    cpu(&u.usage),
                    cpu_pct,
                    memory(&u.usage),
                    mem_pct
                );
            }
        }
        "pods" | "pod" | "po" => {
            let ns = namespace.unwrap_or("default");
            let mut pods: Vec<_> = scraped
                .iter()
                .flat_map(|(_, m)| m.pods.iter())
                .filter(|p| all_namespaces || p.namespace == ns)
                .collect();
            pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
            let prefix = |p: &str| {
                if all_namespaces {
                    format!("{p:<16} ")
                } else {
                    String::new()
                }
            };
            if containers {
                println!(
                    "{}{:<32} {:<20} {:>10} {:>14}",
                    prefix("NAMESPACE"),
                    "POD",
                    "NAME",
                    "CPU(cores)",
                    "MEMORY(bytes)"
                );
                for p in pods {
                    for c in &p.containers {
                        println!(
                            "{}{:<32} {:<20} {:>10} {:>14}",
                            prefix(&p.namespace),
                            p.name,
                            c.name,
                            cpu(&c.usage),
                            memory(&c.usage)
                        );
                    }
                }
            } else {
                println!(
                    "{}{:<32} {:>10} {:>14}",
                    prefix("NAMESPACE"),
                    "NAME",
                    "CPU(cores)",
                    "MEMORY(bytes)"
                );
                for p in pods {
                    let total = PodMetrics::total(p);
                    println!(
                        "{}{:<32} {:>10} {:>14}",
                        prefix(&p.namespace),
                        p.name,
                        cpu(&total),
                        memory(&total)
                    );
                }
            }
        }
        other => bail!("top: unknown resource {other:?} (nodes or pods)"),
    }
    Ok(())
}

/// One row of `rudderctl top actors`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActorRow {
    /// The node.
    pub node: String,
    /// The actor.
    pub name: String,
    /// `Running`, `Restarting` or `Stopped`.
    pub state: &'static str,
    /// Requests per second over the sampling interval.
    pub rate: f64,
    /// Requests handled since the node started.
    pub messages: u64,
    /// Requests waiting or being handled now.
    pub mailbox: u64,
    /// Share of the interval spent answering (can pass 1 with concurrent requests).
    pub busy: f64,
    /// Restarts by its supervisor.
    pub restarts: u32,
}

/// The busiest actors first: two listings `secs` apart, rates from their difference
/// (an actor absent from `before` counts from zero).
pub fn actor_rows(
    before: &[rudder_protocol::messages::chaos::ActorInfo],
    after: &[rudder_protocol::messages::chaos::ActorInfo],
    secs: f64,
) -> Vec<ActorRow> {
    let secs = secs.max(1e-3);
    let mut rows: Vec<ActorRow> = after
        .iter()
        .map(|a| {
            let b = before.iter().find(|b| b.node == a.node && b.name == a.name);
            // A counter that went down belongs to a restarted node: it counts from zero.
            let since = |before: u64, now: u64| if before > now { now } else { now - before };
            let messages = b.map_or(a.messages, |b| since(b.messages, a.messages));
            let busy_us = b.map_or(a.busy_us, |b| since(b.busy_us, a.busy_us));
            ActorRow {
                node: a.node.clone(),
                name: a.name.clone(),
                state: a.state.as_str(),
                rate: messages as f64 / secs,
                messages: a.messages,
                mailbox: a.mailbox,
                busy: busy_us as f64 / 1e6 / secs,
                restarts: a.restarts,
            }
        })
        .collect();
    rows.sort_by(|x, y| {
        y.rate
            .total_cmp(&x.rate)
            .then(y.mailbox.cmp(&x.mailbox))
            .then(y.messages.cmp(&x.messages))
            .then((&x.node, &x.name).cmp(&(&y.node, &y.name)))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::messages::chaos::{ActorInfo, ActorState};

    fn info(name: &str, messages: u64, mailbox: u64, busy_us: u64) -> ActorInfo {
        ActorInfo {
            node: "n1".into(),
            name: name.into(),
            state: ActorState::Running,
            restarts: 0,
            uptime_ms: 1,
            messages,
            mailbox,
            busy_us,
        }
    }

    #[test]
    fn busiest_first() {
        let before = vec![info("apiserver", 100, 0, 0), info("store", 10, 0, 0)];
        let after = vec![
            info("apiserver", 150, 2, 500_000),
            info("store", 110, 0, 0),
            info("scheduler", 0, 0, 0),
        ];
        let rows = actor_rows(&before, &after, 2.0);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["store", "apiserver", "scheduler"]);
        assert_eq!(rows[0].rate, 50.0);
        assert_eq!(rows[1].rate, 25.0);
        assert_eq!(rows[1].busy, 0.25);
        assert_eq!(rows[1].mailbox, 2);
    }

    #[test]
    fn a_restarted_node_counts_from_zero() {
        let before = vec![info("apiserver", 100, 0, 0)];
        let after = vec![info("apiserver", 40, 0, 0)];
        assert_eq!(actor_rows(&before, &after, 1.0)[0].rate, 40.0);
    }
}
