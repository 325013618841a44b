//! Container lifecycle hooks and termination messages.
//!
//! [`run_hook`] runs one `postStart` or `preStop` handler: `exec` through the runtime
//! (Docker exec, in the container's namespaces), `httpGet` against the pod's IP (or
//! the handler's host), `sleep`. Its error is Kubernetes' message for the failed hook.
//! The worker runs `postStart` right after the start (a failure: `FailedPostStartHook`
//! event and the container killed), and `preStop` before the stop signal, within the
//! grace period, which the stop gets what is left of (at least [`MIN_GRACE`], as for
//! every stop); a failure is the `FailedPreStopHook` event.
//!
//! The termination message: every container gets its own empty file on the host
//! ([`termination_log_path`]), bound at its `terminationMessagePath`; when it has
//! exited, [`termination_message`] reads it (at most [`MAX_MESSAGE_BYTES`]), or with
//! `FallbackToLogsOnError` and an empty file after a failure, the end of its log (the
//! last [`FALLBACK_LOG_LINES`] lines, at most [`FALLBACK_LOG_BYTES`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use rudder_protocol::resources::{LifecycleHandler, TerminationMessagePolicy};

use crate::kubelet::probe;
use crate::kubelet::runtime::{ContainerInfo, ContainerRuntime, LogOptions};

/// Longest termination message read from the file (Kubernetes' 4 KiB).
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Log lines a `FallbackToLogsOnError` message takes.
pub const FALLBACK_LOG_LINES: i64 = 80;
/// Longest `FallbackToLogsOnError` message.
pub const FALLBACK_LOG_BYTES: usize = 2048;
/// The least a container gets between the stop signal and the kill, whatever its grace
/// period (Kubernetes' `minimumGracePeriodInSeconds`): after a `preStop` hook, for a
/// grace period of 0 or 1 s, and for a pod force-deleted from the API.
pub const MIN_GRACE: Duration = Duration::from_secs(2);

/// The time a container is given to stop after its stop signal, for what is left of its
/// grace period: never less than [`MIN_GRACE`].
pub fn stop_grace(left: Duration) -> Duration {
    left.max(MIN_GRACE)
}
/// The longest a `postStart` hook may run: the worker waits for it.
pub const POST_START_TIMEOUT: Duration = Duration::from_secs(120);

/// Where to run a hook.
pub struct HookTarget<'a> {
    /// The container's runtime id.
    pub container_id: &'a str,
    /// The container's name in the spec.
    pub container: &'a str,
    /// The pod, as Kubernetes names it in messages (`name_namespace(uid)`).
    pub pod: &'a str,
    /// The pod's IP (default host of `httpGet`).
    pub pod_ip: &'a str,
    /// The container's named ports.
    pub ports: &'a [(String, i32)],
}

/// Runs `handler` against `target`, for at most `timeout` (see the module docs).
pub async fn run_hook(
    rt: &dyn ContainerRuntime,
    handler: &LifecycleHandler,
    target: &HookTarget<'_>,
    timeout: Duration,
) -> Result<(), String> {
    if let Some(exec) = &handler.exec {
        let failed = |error: &dyn std::fmt::Display, message: &str| {
            format!(
                "Exec lifecycle hook ({:?}) for Container \"{}\" in Pod \"{}\" failed - error: \
                 {error}, message: {message:?}",
                exec.command, target.container, target.pod
            )
        };
        return match rt.exec(target.container_id, &exec.command, timeout).await {
            Ok(out) if out.exit_code == 0 => Ok(()),
            Ok(out) => Err(failed(
                &format!(
                    "command '{}' exited with {}",
                    exec.command.join(" "),
                    out.exit_code
                ),
                out.output.trim_end(),
            )),
            Err(e) => Err(failed(&e, "")),
        };
    }
    if let Some(http) = &handler.http_get {
        let path = if http.path.is_empty() {
            "/".to_owned()
        } else {
            http.path.clone()
        };
        let probe = rudder_protocol::resources::Probe {
            http_get: Some(http.clone()),
            ..Default::default()
        };
        return probe::run(
            rt,
            &probe,
            target.container_id,
            target.pod_ip,
            target.ports,
            timeout,
        )
        .await
        .map_err(|e| {
            format!(
                "HTTP lifecycle hook ({path}) for Container \"{}\" in Pod \"{}\" failed - \
                     error: {e}",
                target.container, target.pod
            )
        });
    }
    if let Some(sleep) = &handler.sleep {
        let wanted = Duration::from_secs(sleep.seconds.max(0) as u64);
        tokio::time::sleep(wanted.min(timeout)).await;
        return Ok(());
    }
    Err(format!(
        "invalid lifecycle hook for Container \"{}\" in Pod \"{}\": only exec, httpGet and \
         sleep handlers run (tcpSocket is not supported)",
        target.container, target.pod
    ))
}

/// The host file bound at a container's `terminationMessagePath`: one per container
/// name and attempt, under the pod's directory.
pub fn termination_log_path(pods_dir: &Path, uid: &str, container: &str, attempt: u32) -> PathBuf {
    pods_dir
        .join(uid)
        .join("containers")
        .join(container)
        .join(format!("{attempt}-termination-log"))
}

/// Creates the empty termination log file (writable by any user the container may run
/// as; the directories above it are the kubelet's).
pub fn create_termination_log(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, b"")?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
}

/// The termination message of exited container `c` (see the module docs).
pub async fn termination_message(
    rt: &dyn ContainerRuntime,
    c: &ContainerInfo,
    file: &Path,
    policy: TerminationMessagePolicy,
) -> String {
    let path = file.to_path_buf();
    let from_file = tokio::task::spawn_blocking(move || read_prefix(&path, MAX_MESSAGE_BYTES))
        .await
        .unwrap_or_default();
    if !from_file.is_empty()
        || policy != TerminationMessagePolicy::FallbackToLogsOnError
        || c.exit_code == 0
    {
        return from_file;
    }
    let options = LogOptions {
        tail_lines: Some(FALLBACK_LOG_LINES),
        ..Default::default()
    };
    let mut log = Vec::new();
    let mut stream = rt.logs(&c.id, &options);
    while let Some(Ok(chunk)) = stream.next().await {
        log.extend_from_slice(&chunk);
        // Only the end is kept: drop what can no longer be in the last bytes.
        if log.len() > 64 * 1024 {
            log.drain(..log.len() - FALLBACK_LOG_BYTES);
        }
    }
    tail_bytes(&log, FALLBACK_LOG_BYTES)
}

/// The first `max` bytes of a file as text (`""` when it cannot be read).
fn read_prefix(path: &Path, max: usize) -> String {
    use std::io::Read;
    let Ok(f) = std::fs::File::open(path) else {
        return String::new();
    };
    let mut buf = Vec::new();
    let _ = f.take(max as u64).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last `max` bytes of `data` as text, starting at a character boundary.
pub fn tail_bytes(data: &[u8], max: usize) -> String {
    let start = data.len().saturating_sub(max);
    let text = String::from_utf8_lossy(&data[start..]);
    text.trim_start_matches('\u{FFFD}').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails() {
        let cases: [(&str, &[u8], usize, &str); 3] = [
            ("short", b"abc", 10, "abc"),
            ("cut", b"line1\nline2\n", 6, "line2\n"),
            ("empty", b"", 4, ""),
        ];
        for (name, data, max, want) in cases {
            assert_eq!(tail_bytes(data, max), want, "{name}");
        }
    }

    #[test]
    fn termination_log_paths_are_per_attempt() {
        let p = termination_log_path(Path::new("/k/pods"), "u1", "app", 3);
        assert_eq!(p, Path::new("/k/pods/u1/containers/app/3-termination-log"));
    }

    #[test]
    fn termination_file_is_read_up_to_the_limit() {
        let dir = tempfile::tempdir().expect("test value");
        let path = dir.path().join("log");
        create_termination_log(&path).expect("test value");
        assert_eq!(read_prefix(&path, MAX_MESSAGE_BYTES), "");
        std::fs::write(&path, "x".repeat(5000)).expect("test value");
        assert_eq!(
            read_prefix(&path, MAX_MESSAGE_BYTES).len(),
            MAX_MESSAGE_BYTES
        );
    }
}
