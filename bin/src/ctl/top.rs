//! `rudderctl top nodes|pods`: the kubelets' latest CPU and memory measurements, read
//! from each node's kubelet over the bus (`KubeletRequest::Metrics`, what the API
//! server's `metrics.k8s.io` serves) and printed as `kubectl top` prints them.

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
