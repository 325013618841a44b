//! What the footprint benchmarks share: a process's resident set, sampled once it has
//! settled, and the etcd member they take as the reference point; and CPU time, of a
//! process and of the whole machine, for benchmarks that say where the cores went.
//!
//! - [`rss`] / [`settled_rss`]: `VmRSS` of a process, once it stopped growing (the peak of
//!   a few samples a second apart), so that every figure is taken the same way.
//! - [`find_etcd`] / [`EtcdMember`]: one etcd member on free loopback ports in a temp dir
//!   of its own, with its defaults, loaded through its HTTP/JSON gateway
//!   ([`EtcdMember::put_all`]: `POST /v3/kv/put` over plain HTTP/1.1 keep-alive
//!   connections, one per request in flight, as `bench-store` talks to it).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;

use rudder_actors::kubelet::metrics::parse_proc_stat;
use rudder_actors::telemetry::process::{stat_cpu_seconds, TICKS_PER_SECOND};

use crate::eventually;
use crate::http1::HttpConn;

/// Memory samples per figure, a second apart.
const SAMPLES: usize = 5;
/// Longest wait for the resident set to stop growing before sampling anyway.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// Attempts per put, each on a fresh connection after a failure.
const PUT_ATTEMPTS: usize = 3;

/// The resident set of a process, in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for pid {pid}"))?;
    Ok(kb * 1024)
}

/// CPU time a process has used so far (user + system), in seconds, from
/// `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    stat_cpu_seconds(&stat).with_context(|| format!("malformed /proc/{pid}/stat"))
}

/// Busy CPU time of the whole machine so far, summed over its CPUs, in seconds
/// (`/proc/stat`'s `cpu` line, all but idle and iowait, as the kubelet reads it).
pub fn machine_busy_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let times = parse_proc_stat(&stat).context("no cpu line in /proc/stat")?;
    Ok(times.busy as f64 / TICKS_PER_SECOND)
}

/// Waits until the resident set stops growing (bounded), then the peak of
/// [`SAMPLES`] samples a second apart.
pub async fn settled_rss(pid: u32) -> anyhow::Result<u64> {
    let mut last = rss(pid)?;
    for _ in 0..SETTLE_LIMIT.as_secs() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = rss(pid)?;
        // Growing by less than 1% a second counts as settled.
        if now <= last + last / 100 {
            break;
        }
        last = now;
    }
    let mut peak = 0;
    for _ in 0..SAMPLES {
        peak = peak.max(rss(pid)?);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(peak)
}

/// Bytes in (decimal) megabytes, as the benchmarks print and record them.
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// The `etcd` binary: `$ETCD_BIN`, else `etcd` on `$PATH` (Debian: `etcd-server`).
pub fn find_etcd() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ETCD_BIN") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|p| p.is_file())
}

/// One etcd member with its default settings on free loopback ports, its data and log
/// in a temp dir. Killed when dropped; [`EtcdMember::stop`] also waits for it.
pub struct EtcdMember {
    /// Declared before the directory, so the process goes first.
    child: tokio::process::Child,
    client_addr: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl EtcdMember {
    /// Starts a member (its temp dir named `prefix...`) and waits (up to 30 s) until
    /// its `/health` says it serves.
    pub async fn start(bin: &Path, prefix: &str) -> anyhow::Result<EtcdMember> {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        // Both ports held at once while picking, so they differ.
        let ports: Vec<u16> = {
            let ls = (0..2)
                .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
                .collect::<Result<Vec<_>, _>>()?;
            ls.iter()
                .map(|l| l.local_addr().map(|a| a.port()))
                .collect::<Result<_, _>>()?
        };
        let client_addr = format!("127.0.0.1:{}", ports[0]);
        let client = format!("http://{client_addr}");
        let peer = format!("http://127.0.0.1:{}", ports[1]);
        let log = dir.path().join("etcd.log");
        let stderr = std::fs::File::create(&log)?;
        let child = tokio::process::Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("default={peer}")])
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        let member = EtcdMember {
            child,
            client_addr,
            log,
            _dir: dir,
        };
        let addr = member.client_addr.clone();
        eventually(Duration::from_secs(30), || {
            let addr = addr.clone();
            async move {
                let (status, body) = HttpConn::connect(&addr).await?.get("/health").await?;
                let body = String::from_utf8_lossy(&body);
                Ok((status == 200 && body.contains(r#""health":"true""#)).then_some(()))
            }
        })
        .await
        .with_context(|| {
            format!(
                "etcd did not become healthy; its log: {}",
                member.log_tail()
            )
        })?;
        Ok(member)
    }

    /// Its process id (an error once it exited).
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .id()
            .with_context(|| format!("etcd is not running; its log: {}", self.log_tail()))
    }

    /// Puts every `(key, value)` with `in_flight` requests in flight, each on a
    /// keep-alive connection of its own; a failed put is tried again on a new
    /// connection, [`PUT_ATTEMPTS`] times in all.
    pub async fn put_all(&self, kvs: &[(String, Vec<u8>)], in_flight: usize) -> anyhow::Result<()> {
        let next = AtomicUsize::new(0);
        let worker = || async {
            let mut gateway = HttpConn::connect(&self.client_addr).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((key, value)) = kvs.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                let body = serde_json::json!({
                    "key": base64::engine::general_purpose::STANDARD.encode(key),
                    "value": base64::engine::general_purpose::STANDARD.encode(value),
                })
                .to_string();
                let mut attempt = 1;
                loop {
                    match gateway.post("/v3/kv/put", &body).await {
                        Ok((200, _)) => break,
                        Ok((status, reply)) if attempt >= PUT_ATTEMPTS => {
                            let reply = String::from_utf8_lossy(&reply);
                            anyhow::bail!("etcd put {key}: {status} {reply}")
                        }
                        Err(e) if attempt >= PUT_ATTEMPTS => {
                            return Err(e.context(format!("etcd put {key}")))
                        }
                        _ => attempt += 1,
                    }
                }
            }
        };
        futures::future::try_join_all((0..in_flight.max(1)).map(|_| worker())).await?;
        Ok(())
    }

    /// Kills the member and waits for it to exit.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}
