//! Container probes: the bookkeeping of one probe as a value ([`ProbeState`]: when it is
//! due, consecutive successes and failures against the thresholds) and running one check
//! ([`run`]: exec through the runtime, HTTP GET or TCP connect to the pod IP, or a gRPC
//! health check, [`super::grpc_probe`]).
//!
//! Timing follows Kubernetes: the first check comes `initialDelaySeconds` after the
//! container started, then every `periodSeconds`; a check slower than `timeoutSeconds`
//! fails; the result flips after `successThreshold` successes or `failureThreshold`
//! failures in a row. Until its first result a readiness probe counts as not ready, a
//! liveness probe as alive and a startup probe as not started.

use std::time::Duration;

use rudder_protocol::resources::{IntOrString, Probe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::runtime::ContainerRuntime;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProbeKind {
    /// Gates liveness and readiness until it succeeds once.
    Startup,
    /// Restarts the container when it fails.
    Liveness,
    /// Gates the Ready condition.
    Readiness,
}

impl ProbeKind {
    /// The name Kubernetes uses in messages (`Liveness probe failed: ...`).
    pub fn title(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }
}

/// The settled result of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No result yet.
    Unknown,
    /// Passed its success threshold.
    Success,
    /// Reached its failure threshold.
    Failure,
}

/// One probe of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeState {
    /// When the next check is due.
    pub next_at: Instant,
    /// Successes in a row.
    pub successes: u32,
    /// Failures in a row.
    pub failures: u32,
    /// The settled result.
    pub verdict: Verdict,
    /// The last failure's explanation.
    pub last_message: String,
}

/// `periodSeconds` etc. with Kubernetes' defaults for unset (zero) fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Delay before the first check.
    pub initial_delay: Duration,
    /// Between checks.
    pub period: Duration,
    /// Per check.
    pub timeout: Duration,
    /// Successes needed.
    pub success_threshold: u32,
    /// Failures needed.
    pub failure_threshold: u32,
}

impl Timing {
    /// The timing of `probe`; liveness and startup probes always need one success.
    pub fn of(probe: &Probe, kind: ProbeKind) -> Timing {
        let secs =
            |v: i32, default: u64| Duration::from_secs(if v > 0 { v as u64 } else { default });
        let count = |v: i32, default: u32| if v > 0 { v as u32 } else { default };
        Timing {
            initial_delay: Duration::from_secs(probe.initial_delay_seconds.max(0) as u64),
            period: secs(probe.period_seconds, 10),
            timeout: secs(probe.timeout_seconds, 1),
            success_threshold: match kind {
                ProbeKind::Readiness => count(probe.success_threshold, 1),
                _ => 1,
            },
            failure_threshold: count(probe.failure_threshold, 3),
        }
    }
}

impl ProbeState {
    /// A fresh probe for a container that started at `started`.
    pub fn new(timing: &Timing, started: Instant) -> ProbeState {
        ProbeState {
            next_at: started + timing.initial_delay,
            successes: 0,
            failures: 0,
            verdict: Verdict::Unknown,
            last_message: String::new(),
        }
    }

    /// Whether a check is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        now >= self.next_at
    }

    /// Records one check's outcome at `now`; returns true when the verdict changed.
    pub fn record(&mut self, timing: &Timing, ok: Result<(), String>, now: Instant) -> bool {
        let before = self.verdict;
        match ok {
            Ok(()) => {
                self.failures = 0;
                self.successes = self.successes.saturating_add(1);
                if self.successes >= timing.success_threshold {
                    self.verdict = Verdict::Success;
                }
            }
            Err(message) => {
                self.successes = 0;
                self.failures = self.failures.saturating_add(1);
                self.last_message = message;
                if self.failures >= timing.failure_threshold {
                    self.verdict = Verdict::Failure;
                }
            }
        }
        self.next_at = now + timing.period;
        before != self.verdict
    }
}

/// Runs one check of `probe` against container `container_id` with IP `pod_ip`.
pub async fn run(
    runtime: &dyn ContainerRuntime,
    probe: &Probe,
    container_id: &str,
    pod_ip: &str,
    ports: &[(String, i32)],
    timeout: Duration,
) -> Result<(), String> {
    let port_of = |p: &IntOrString| -> Result<u16, String> {
        let n = match p {
            IntOrString::Int(n) => *n,
            IntOrString::String(name) => ports
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, p)| *p)
                .ok_or_else(|| format!("no container port named {name:?}"))?,
        };
        u16::try_from(n).map_err(|_| format!("invalid port {n}"))
    };
    if let Some(exec) = &probe.exec {
        let out = runtime
            .exec(container_id, &exec.command, timeout)
            .await
            .map_err(|e| e.to_string())?;
        return if out.exit_code == 0 {
            Ok(())
        } else {
            Err(format!(
                "command {:?} exited with {}: {}",
                exec.command,
                out.exit_code,
                out.output.trim()
            ))
        };
    }
    let host = |h: &str| {
        if h.is_empty() {
            pod_ip.to_owned()
        } else {
            h.to_owned()
        }
    };
    if let Some(http) = &probe.http_get {
        let port = port_of(&http.port)?;
        let path = if http.path.is_empty() {
            "/"
        } else {
            &http.path
        };
        let addr = format!("{}:{port}", host(&http.host));
        let headers: Vec<(String, String)> = http
            .http_headers
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        return match tokio::time::timeout(timeout, http_get(&addr, path, &headers)).await {
            Ok(Ok(code)) if (200..400).contains(&code) => Ok(()),
            Ok(Ok(code)) => Err(format!("HTTP probe failed with statuscode: {code}")),
            Ok(Err(e)) => Err(format!("Get \"http://{addr}{path}\": {e}")),
            Err(_) => Err(format!(
                "Get \"http://{addr}{path}\": context deadline exceeded"
            )),
        };
    }
    if let Some(tcp) = &probe.tcp_socket {
        let port = port_of(&tcp.port)?;
        let addr = format!("{}:{port}", host(&tcp.host));
        return match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("dial tcp {addr}: {e}")),
            Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
        };
    }
    if let Some(grpc) = &probe.grpc {
        let port = u16::try_from(grpc.port).map_err(|_| format!("invalid port {}", grpc.port))?;
        let service = grpc.service.as_deref().unwrap_or("");
        return super::grpc_probe::check(pod_ip, port, service, timeout).await;
    }
    Err("probe has no handler".into())
}

/// A minimal HTTP/1.0 GET returning the status code; probes need nothing more.
async fn http_get(addr: &str, path: &str, headers: &[(String, String)]) -> std::io::Result<u16> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut request =
        format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: rudder-probe/1\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n = stream.read(&mut head[got..]).await?;
        if n == 0 {
            break;
        }
        got += n;
    }
    parse_status(&head[..got]).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response")
    })
}

/// The status code of an HTTP status line.
fn parse_status(head: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(head.get(..12)?).ok()?;
    let mut parts = text.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(success: u32, failure: u32) -> Timing {
        Timing {
            initial_delay: Duration::from_secs(5),
            period: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    #[test]
    fn thresholds() {
        let ok = || Ok(());
        let bad = || Err("down".to_owned());
        type Outcome = fn() -> Result<(), String>;
        let cases: [(&str, Timing, Vec<Outcome>, Verdict); 5] = [
            ("no checks yet", timing(1, 3), vec![], Verdict::Unknown),
            (
                "one success settles",
                timing(1, 3),
                vec![ok],
                Verdict::Success,
            ),
            (
                "two failures are not enough",
                timing(1, 3),
                vec![bad, bad],
                Verdict::Unknown,
            ),
            (
                "three failures in a row",
                timing(1, 3),
                vec![bad, bad, bad],
                Verdict::Failure,
            ),
            (
                "a success in between resets the count",
                timing(1, 3),
                vec![bad, bad, ok, bad, bad],
                Verdict::Success,
            ),
        ];
        for (name, t, outcomes, want) in cases {
            let start = Instant::now();
            let mut s = ProbeState::new(&t, start);
            for o in outcomes {
                s.record(&t, o(), start);
            }
            assert_eq!(s.verdict, want, "{name}");
        }
    }

    #[test]
    fn timing_defaults_and_due() {
        let t = Timing::of(&Probe::default(), ProbeKind::Liveness);
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.timeout, Duration::from_secs(1));
        assert_eq!(t.failure_threshold, 3);
        let start = Instant::now();
        let t = timing(1, 3);
        let mut s = ProbeState::new(&t, start);
        assert!(!s.due(start + Duration::from_secs(4)), "initial delay");
        assert!(s.due(start + Duration::from_secs(5)));
        s.record(&t, Ok(()), start + Duration::from_secs(5));
        assert!(!s.due(start + Duration::from_secs(14)), "period");
        assert!(s.due(start + Duration::from_secs(15)));
    }

    #[test]
    fn status_lines() {
        let cases: [(&str, &[u8], Option<u16>); 4] = [
            ("ok", b"HTTP/1.0 200 OK\r\n", Some(200)),
            ("not found", b"HTTP/1.1 404 Not Found\r\n", Some(404)),
            ("garbage", b"SSH-2.0-OpenSSH_9\r\n", None),
            ("short", b"HTTP/1.0", None),
        ];
        for (name, head, want) in cases {
            assert_eq!(parse_status(head), want, "{name}");
        }
    }
}
