//! Resource measurements: what the kubelet's summary API gives metrics-server.
//!
//! Every [`KubeletSettings::metrics_interval`](super::KubeletSettings) (15 s by default,
//! metrics-server's resolution) [`run_sampler`] takes one sample of each running
//! container of the node (one-shot Docker stats, at most [`CONCURRENCY`] at a time) and
//! of the host (`/proc/stat`, `/proc/meminfo`), and keeps the latest usage in a
//! [`MetricsStore`] that the kubelet serves over the bus (`KubeletRequest::Metrics`).
//!
//! - CPU is a rate: the cumulative CPU time's growth between two consecutive samples of
//!   the same container, divided by the time between them ([`cpu_nanocores`]); a
//!   container is reported from its second sample on, and a counter that went backwards
//!   (the container restarted under the same id) starts a new window.
//! - Memory is the working set: usage less inactive file pages ([`working_set`]), as
//!   cAdvisor and metrics-server compute it.
//! - A pod is reported when every running container of it has a rate (metrics-server
//!   drops pods with a container missing); the sandbox is not counted.
//! - The node's CPU is the busy share of all CPUs' time in `/proc/stat` times the CPU
//!   count ([`node_cpu_nanocores`]); its memory working set is `MemTotal - MemFree -
//!   Inactive(file)` ([`node_working_set`]), the host's analogue of the root cgroup's.
//!
//! The computations are pure and tested here; nothing is stored outside memory (a
//! restarted kubelet reports again after two samples).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use rudder_protocol::messages::kubelet::{
    ContainerUsage, MetricsSnapshot, NodeUsage, PodUsage, Usage,
};
use tokio::time::Instant;

use super::runtime::{labels, ContainerRuntime, RunState};

/// metrics-server's default resolution.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// Docker stats requests in flight at once.
pub const CONCURRENCY: usize = 4;

/// The latest measurements, shared by the sampler and the bus handler.
#[derive(Debug, Default)]
pub struct MetricsStore(Mutex<MetricsSnapshot>);

impl MetricsStore {
    /// The latest snapshot (empty before the second sample).
    pub fn latest(&self) -> MetricsSnapshot {
        // A poisoned lock only means a panic elsewhere mid-write of plain data.
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set(&self, snapshot: MetricsSnapshot) {
        match self.0.lock() {
            Ok(mut g) => *g = snapshot,
            Err(p) => *p.into_inner() = snapshot,
        }
    }
}

/// The average CPU rate in nanocores between two readings of a cumulative CPU time
/// (nanoseconds) taken `elapsed` apart; `None` when there is no window or the counter
/// went backwards.
pub fn cpu_nanocores(prev_ns: u64, cur_ns: u64, elapsed: Duration) -> Option<u64> {
    let nanos = elapsed.as_nanos();
    if nanos == 0 || cur_ns < prev_ns {
        return None;
    }
    let rate = u128::from(cur_ns - prev_ns) * 1_000_000_000 / nanos;
    Some(u64::try_from(rate).unwrap_or(u64::MAX))
}

/// The working set: usage less inactive file pages (never below zero).
pub fn working_set(usage: u64, inactive_file: u64) -> u64 {
    usage.saturating_sub(inactive_file)
}

/// The host's cumulative CPU times from `/proc/stat`'s `cpu` line, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    /// Every state's ticks.
    pub total: u64,
    /// Ticks neither idle nor waiting for I/O.
    pub busy: u64,
}

/// The `cpu` line of `/proc/stat` (user nice system idle iowait irq softirq steal ...).
pub fn parse_proc_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // guest and guest_nice (fields 9, 10) are already counted in user and nice.
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        total,
        busy: total.saturating_sub(idle),
    })
}

/// The host's CPU use between two readings, in nanocores, for `cpus` CPUs.
pub fn node_cpu_nanocores(prev: CpuTimes, cur: CpuTimes, cpus: u64) -> Option<u64> {
    let total = cur.total.checked_sub(prev.total)?;
    let busy = cur.busy.checked_sub(prev.busy)?;
    if total == 0 {
        return None;
    }
    let rate = u128::from(busy) * u128::from(cpus) * 1_000_000_000 / u128::from(total);
    Some(u64::try_from(rate).unwrap_or(u64::MAX))
}

/// The host's memory working set from `/proc/meminfo`, in bytes.
pub fn node_working_set(meminfo: &str) -> Option<u64> {
    let kib = |key: &str| -> Option<u64> {
        let line = meminfo.lines().find(|l| l.starts_with(key))?;
        line[key.len()..].split_whitespace().next()?.parse().ok()
    };
    let total = kib("MemTotal:")?;
    let free = kib("MemFree:")?;
    let inactive = kib("Inactive(file):").unwrap_or(0);
    Some(total.saturating_sub(free).saturating_sub(inactive) * 1024)
}

/// Unix milliseconds now.
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What the sampler remembers between samples.
#[derive(Debug, Default)]
pub struct SamplerState {
    /// Per container id: when and what its CPU counter read.
    containers: HashMap<String, (Instant, u64)>,
    /// The host's last reading.
    host: Option<(Instant, CpuTimes)>,
}

/// One sample of the host: its usage over the window since the previous one.
fn sample_host(state: &mut SamplerState) -> Option<NodeUsage> {
    let now = Instant::now();
    let cur = parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)?;
    let prev = state.host.replace((now, cur));
    let memory = node_working_set(&std::fs::read_to_string("/proc/meminfo").ok()?)?;
    let (at, prev) = prev?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    Some(NodeUsage {
        timestamp_ms: unix_ms(),
        window_ms: u64::try_from(now.duration_since(at).as_millis()).unwrap_or(u64::MAX),
        usage: Usage {
            cpu_nanocores: node_cpu_nanocores(prev, cur, cpus)?,
            memory_bytes: memory,
        },
    })
}

/// Takes one sample of the node and its running containers.
pub async fn sample(
    rt: &dyn ContainerRuntime,
    node: &str,
    state: &mut SamplerState,
) -> MetricsSnapshot {
    let node_usage = sample_host(state);
    let want = BTreeMap::from([(labels::NODE.to_owned(), node.to_owned())]);
    let containers = match rt.list_containers(&want).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(node = %node, error = %e, "metrics: listing containers failed");
            return MetricsSnapshot {
                node: node_usage,
                pods: Vec::new(),
            };
        }
    };
    let running: Vec<_> = containers
        .into_iter()
        .filter(|c| c.state == RunState::Running && !c.is_sandbox())
        .collect();
    let samples: Vec<_> = stream::iter(running)
        .map(|c| async move {
            let s = rt.stats(&c.id).await;
            (c, s, Instant::now())
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let now_ms = unix_ms();
    let mut seen = HashMap::new();
    // Per pod: its containers' usage, the longest window, and whether one is missing.
    let mut pods: BTreeMap<(String, String), (Vec<ContainerUsage>, Duration, bool)> =
        BTreeMap::new();
    for (c, stats, at) in samples {
        let key = (
            c.label(labels::POD_NAMESPACE).to_owned(),
            c.label(labels::POD_NAME).to_owned(),
        );
        let entry = pods.entry(key).or_default();
        let Ok(stats) = stats else {
            entry.2 = true;
            continue;
        };
        let prev = state.containers.get(&c.id).copied();
        seen.insert(c.id.clone(), (at, stats.cpu_total_ns));
        let rate = prev.and_then(|(was, ns)| {
            let window = at.duration_since(was);
            cpu_nanocores(ns, stats.cpu_total_ns, window).map(|r| (r, window))
        });
        let Some((cpu, window)) = rate else {
            entry.2 = true;
            continue;
        };
        entry.1 = entry.1.max(window);
        entry.0.push(ContainerUsage {
            name: c.label(labels::CONTAINER_NAME).to_owned(),
            usage: Usage {
                cpu_nanocores: cpu,
                memory_bytes: working_set(stats.memory_usage, stats.inactive_file),
            },
        });
    }
    // Containers gone since are forgotten.
    state.containers = seen;
    let pods = pods
        .into_iter()
        .filter(|(_, (c, _, missing))| !missing && !c.is_empty())
        .map(|((namespace, name), (mut containers, window, _))| {
            containers.sort_by(|a, b| a.name.cmp(&b.name));
            PodUsage {
                namespace,
                name,
                timestamp_ms: now_ms,
                window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
                containers,
            }
        })
        .collect();
    MetricsSnapshot {
        node: node_usage,
        pods,
    }
}

/// Samples every `interval` into `store`, forever.
pub async fn run_sampler(
    rt: Arc<dyn ContainerRuntime>,
    node: String,
    interval: Duration,
    store: Arc<MetricsStore>,
) {
    let mut state = SamplerState::default();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let snapshot = sample(&*rt, &node, &mut state).await;
        store.set(snapshot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_rates() {
        let s = Duration::from_secs;
        let cases: &[(&str, u64, u64, Duration, Option<u64>)] = &[
            (
                "one core for a second",
                0,
                1_000_000_000,
                s(1),
                Some(1_000_000_000),
            ),
            (
                "half a core over ten seconds",
                7,
                5_000_000_007,
                s(10),
                Some(500_000_000),
            ),
            ("idle", 42, 42, s(15), Some(0)),
            ("no window", 0, 10, Duration::ZERO, None),
            ("counter went backwards", 100, 10, s(1), None),
            (
                "two cores over 2.5 s",
                1_000,
                5_000_001_000,
                Duration::from_millis(2500),
                Some(2_000_000_000),
            ),
        ];
        for (name, prev, cur, window, want) in cases {
            assert_eq!(cpu_nanocores(*prev, *cur, *window), *want, "{name}");
        }
    }

    #[test]
    fn working_sets() {
        for (name, usage, inactive, want) in [
            ("inactive files are reclaimable", 100, 30, 70),
            ("never negative", 10, 30, 0),
            ("no page cache", 55, 0, 55),
        ] {
            assert_eq!(working_set(usage, inactive), want, "{name}");
        }
    }

    #[test]
    fn proc_stat() {
        let text = "cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 50 2 25 400 10 1 1 0 0 0\nintr 1\n";
        let t = parse_proc_stat(text).expect("parses");
        assert_eq!(t.total, 980);
        assert_eq!(t.busy, 160);
        assert_eq!(parse_proc_stat("intr 1\n"), None);
        assert_eq!(parse_proc_stat("cpu  x y\n"), None);
        // Half of all CPUs' time busy on a 4-CPU host: two cores.
        let prev = CpuTimes {
            total: 1000,
            busy: 100,
        };
        let cur = CpuTimes {
            total: 1400,
            busy: 300,
        };
        assert_eq!(node_cpu_nanocores(prev, cur, 4), Some(2_000_000_000));
        assert_eq!(node_cpu_nanocores(prev, prev, 4), None);
        assert_eq!(node_cpu_nanocores(cur, prev, 4), None);
    }

    #[test]
    fn meminfo_working_set() {
        let text = "MemTotal:       16000 kB\nMemFree:         4000 kB\nMemAvailable:    9000 kB\nInactive(file):  3000 kB\n";
        assert_eq!(node_working_set(text), Some(9000 * 1024));
        assert_eq!(node_working_set("MemFree: 1 kB\n"), None);
    }
}
