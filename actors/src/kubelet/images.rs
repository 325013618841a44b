//! Rudder's two local images, built offline from the host's static busybox.
//!
//! - [`SANDBOX_IMAGE`] (`rudder/pause:1`): holds a pod's network namespace; its only
//!   process sleeps.
//! - [`DEMO_IMAGE`] (`rudder/demo:1`): busybox with its applets linked under `/bin`; by
//!   default it serves `/www` over HTTP on port 8080 (`busybox httpd`), so probes,
//!   services and examples have something to talk to.
//!
//! No registry is reachable on Rudder's machines, so both are made by `docker import`
//! of a root filesystem tar written here by hand (the format is 512-byte ustar headers
//! plus padded data; nothing else is needed). The busybox binary comes from Debian's
//! `busybox-static` package (`/bin/busybox`); a dynamically linked busybox would not run
//! in an image without libc and is refused. The kubelet builds the sandbox image at
//! start when it is missing; `rudderctl images build` builds both.
//!
//! [`SandboxImage`] is the kubelet's hold on the sandbox image of its node (configurable,
//! as Kubernetes' `--pod-infra-container-image`): every sandbox creation asks it first;
//! it looks the image up each time (cheap), and when Rudder's own image is missing it
//! builds it, at most once per back-off step ([`SANDBOX_BUILD_RETRY`]), however many
//! pods are waiting. Any other image must be present: no registry is reachable, so it is
//! never pulled.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::runtime::{ContainerRuntime, RuntimeError};
use crate::retry::Retry;

/// The pod sandbox image.
pub const SANDBOX_IMAGE: &str = "rudder/pause:1";
/// The demo image (busybox with an HTTP server).
pub const DEMO_IMAGE: &str = "rudder/demo:1";
/// The port the demo image serves HTTP on by default.
pub const DEMO_HTTP_PORT: u16 = 8080;
/// The sandbox's command: sleep (as good as) forever.
pub const SANDBOX_COMMAND: [&str; 3] = ["/bin/busybox", "sleep", "2147483647"];

/// Where a static busybox is looked for.
const BUSYBOX_PATHS: [&str; 2] = ["/bin/busybox", "/usr/bin/busybox"];
/// The applets linked into the demo image.
const DEMO_APPLETS: [&str; 30] = [
    "sh", "ash", "sleep", "httpd", "echo", "cat", "ls", "wget", "nc", "true", "false", "env", "ps",
    "kill", "mkdir", "rm", "date", "hostname", "grep", "sed", "head", "tail", "touch", "test",
    "printf", "id", "uname", "seq", "wc", "ip",
];

/// Why an image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No usable busybox on the host.
    #[error("no static busybox found at {paths}: install Debian's busybox-static package")]
    NoBusybox {
        /// The paths tried.
        paths: String,
    },
    /// The busybox found is dynamically linked.
    #[error("{path} is dynamically linked; install busybox-static instead of busybox")]
    DynamicBusybox {
        /// The file.
        path: PathBuf,
    },
    /// Reading the busybox binary failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The runtime refused the import.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// Finds and reads the host's static busybox.
pub fn read_busybox() -> Result<Vec<u8>, ImageError> {
    let path = BUSYBOX_PATHS
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .ok_or_else(|| ImageError::NoBusybox {
            paths: BUSYBOX_PATHS.join(", "),
        })?;
    let data = std::fs::read(path).map_err(|source| ImageError::Io {
        path: path.to_owned(),
        source,
    })?;
    // A dynamic executable names its loader near the start of the file (.interp).
    let head = &data[..data.len().min(4096)];
    if head.windows(7).any(|w| w == b"ld-linu" || w == b"ld-musl") {
        return Err(ImageError::DynamicBusybox {
            path: path.to_owned(),
        });
    }
    Ok(data)
}

/// One entry of a root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory.
    Dir {
        /// Path without a leading `/`.
        path: String,
    },
    /// A regular file.
    File {
        /// Path without a leading `/`.
        path: String,
        /// Permission bits.
        mode: u32,
        /// Contents.
        data: Vec<u8>,
    },
    /// A symbolic link.
    Symlink {
        /// Path without a leading `/`.
        path: String,
        /// What it points to.
        target: String,
    },
}

/// The sandbox image's files.
pub fn sandbox_rootfs(busybox: Vec<u8>) -> Vec<Entry> {
    let mut entries = base_dirs();
    entries.push(Entry::File {
        path: "bin/busybox".into(),
        mode: 0o755,
        data: busybox,
    });
    entries
}

/// The demo image's files.
pub fn demo_rootfs(busybox: Vec<u8>) -> Vec<Entry> {
    let mut entries = sandbox_rootfs(busybox);
    entries.extend(DEMO_APPLETS.iter().map(|a| Entry::Symlink {
        path: format!("bin/{a}"),
        target: "busybox".into(),
    }));
    entries.push(Entry::Dir { path: "www".into() });
    entries.push(Entry::File {
        path: "www/index.html".into(),
        mode: 0o644,
        data: b"hello from rudder/demo\n".to_vec(),
    });
    entries.push(Entry::Dir {
        path: "www/healthz".into(),
    });
    entries.push(Entry::File {
        path: "www/healthz/index.html".into(),
        mode: 0o644,
        data: b"ok\n".to_vec(),
    });
    entries.push(Entry::File {
        path: "etc/passwd".into(),
        mode: 0o644,
        data: b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n".to_vec(),
    });
    entries
}

fn base_dirs() -> Vec<Entry> {
    ["bin", "etc", "tmp", "proc", "sys", "dev", "var", "root"]
        .iter()
        .map(|d| Entry::Dir {
            path: (*d).to_owned(),
        })
        .collect()
}

/// The Dockerfile instructions applied at import (the images' default command).
pub fn sandbox_changes() -> Vec<String> {
    vec![format!(
        "CMD [\"{}\", \"{}\", \"{}\"]",
        SANDBOX_COMMAND[0], SANDBOX_COMMAND[1], SANDBOX_COMMAND[2]
    )]
}

/// The demo image's default command: HTTP on [`DEMO_HTTP_PORT`], in the foreground,
/// logging requests to stderr so that `logs` has something to show.
pub fn demo_changes() -> Vec<String> {
    vec![
        format!("CMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-vv\", \"-p\", \"{DEMO_HTTP_PORT}\", \"-h\", \"/www\"]"),
        "ENV PATH=/bin".into(),
        "WORKDIR /".into(),
    ]
}

/// Writes `entries` as an uncompressed ustar archive.
pub fn write_tar(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let (path, mode, kind, size, link, data): (&str, u32, u8, usize, &str, &[u8]) = match e {
            Entry::Dir { path } => (path, 0o755, b'5', 0, "", &[]),
            Entry::File { path, mode, data } => (path, *mode, b'0', data.len(), "", data),
            Entry::Symlink { path, target } => (path, 0o777, b'2', 0, target, &[]),
        };
        out.extend_from_slice(&tar_header(path, mode, kind, size, link));
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    // Two zero blocks end the archive.
    out.resize(out.len() + 1024, 0);
    out
}

fn put(field: &mut [u8], text: &[u8]) {
    let n = text.len().min(field.len());
    field[..n].copy_from_slice(&text[..n]);
}

fn put_octal(field: &mut [u8], value: u64) {
    // Octal digits padded with zeros, then a NUL terminator.
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    put(field, text.as_bytes());
    field[digits] = 0;
}

fn tar_header(path: &str, mode: u32, kind: u8, size: usize, link: &str) -> [u8; 512] {
    let mut h = [0u8; 512];
    // Our paths are short; ustar's prefix field is not needed.
    put(&mut h[0..100], path.as_bytes());
    put_octal(&mut h[100..108], u64::from(mode));
    put_octal(&mut h[108..116], 0);
    put_octal(&mut h[116..124], 0);
    put_octal(&mut h[124..136], size as u64);
    // A fixed mtime keeps the image id stable across builds.
    put_octal(&mut h[136..148], 1_700_000_000);
    h[156] = kind;
    put(&mut h[157..257], link.as_bytes());
    put(&mut h[257..263], b"ustar\0");
    put(&mut h[263..265], b"00");
    put(&mut h[265..297], b"root");
    put(&mut h[297..329], b"root");
    // The checksum is computed with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

/// Which of Rudder's images to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalImage {
    /// [`SANDBOX_IMAGE`].
    Sandbox,
    /// [`DEMO_IMAGE`].
    Demo,
}

impl LocalImage {
    /// The image reference.
    pub fn reference(self) -> &'static str {
        match self {
            LocalImage::Sandbox => SANDBOX_IMAGE,
            LocalImage::Demo => DEMO_IMAGE,
        }
    }
}

/// Builds `image` into the runtime (replacing an existing image of that name).
pub async fn build(runtime: &dyn ContainerRuntime, image: LocalImage) -> Result<(), ImageError> {
    let busybox = read_busybox()?;
    let (entries, changes) = match image {
        LocalImage::Sandbox => (sandbox_rootfs(busybox), sandbox_changes()),
        LocalImage::Demo => (demo_rootfs(busybox), demo_changes()),
    };
    let tar = Bytes::from(write_tar(&entries));
    runtime
        .import_image(image.reference(), tar, changes)
        .await?;
    tracing::info!(image = image.reference(), "built local image");
    Ok(())
}

/// Builds `image` unless the runtime already has it; true when it was built.
pub async fn ensure(runtime: &dyn ContainerRuntime, image: LocalImage) -> Result<bool, ImageError> {
    if runtime.image_id(image.reference()).await?.is_some() {
        return Ok(false);
    }
    build(runtime, image).await?;
    Ok(true)
}

/// Builds of a missing [`SANDBOX_IMAGE`]: the first retry after 10 s, doubling to 5 min.
pub const SANDBOX_BUILD_RETRY: Retry =
    Retry::new(Duration::from_secs(10), Duration::from_secs(300));

/// Why a pod's sandbox image is not there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxImageError {
    /// A configured image other than Rudder's own is missing.
    #[error(
        "sandbox image \"{image}\" is not present on the node (Rudder builds only \
         {SANDBOX_IMAGE}; load or tag the configured image)"
    )]
    NotPresent {
        /// The image reference.
        image: String,
    },
    /// Rudder's own image is missing and its last build failed.
    #[error("sandbox image \"{image}\" is missing and could not be built: {message}")]
    NotBuilt {
        /// The image reference.
        image: String,
        /// Why the last build failed.
        message: String,
    },
    /// The runtime could not say whether the image is there.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

#[derive(Debug)]
struct SandboxState {
    missing: bool,
    builds: Retry,
    next_build: Option<Instant>,
    last_error: String,
}

/// The node's sandbox image, looked up before every sandbox creation and built (when it
/// is Rudder's own) at a bounded rate (see the module docs).
#[derive(Debug)]
pub struct SandboxImage {
    reference: String,
    state: tokio::sync::Mutex<SandboxState>,
    appeared: AtomicU64,
}

impl SandboxImage {
    /// The sandbox image `reference`.
    pub fn new(reference: impl Into<String>) -> SandboxImage {
        SandboxImage {
            reference: reference.into(),
            state: tokio::sync::Mutex::new(SandboxState {
                missing: false,
                builds: SANDBOX_BUILD_RETRY,
                next_build: None,
                last_error: String::new(),
            }),
            appeared: AtomicU64::new(0),
        }
    }

    /// The image reference.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// How many times the image was found (or built) after it had been missing: a pod
    /// worker that failed for want of it retries at once when this moved.
    pub fn appeared(&self) -> u64 {
        self.appeared.load(Ordering::Relaxed)
    }

    /// Whether the last look found the image missing.
    pub async fn is_missing(&self) -> bool {
        self.state.lock().await.missing
    }

    /// Makes sure the image exists: looks it up, and builds Rudder's own when missing
    /// and its build back-off allows. One look or build at a time per node.
    pub async fn ensure(&self, rt: &dyn ContainerRuntime) -> Result<(), SandboxImageError> {
        let mut st = self.state.lock().await;
        if rt.image_id(&self.reference).await?.is_some() {
            self.found(&mut st);
            return Ok(());
        }
        st.missing = true;
        if self.reference != SANDBOX_IMAGE {
            return Err(SandboxImageError::NotPresent {
                image: self.reference.clone(),
            });
        }
        let now = Instant::now();
        if st.next_build.is_some_and(|at| now < at) {
            return Err(SandboxImageError::NotBuilt {
                image: self.reference.clone(),
                message: st.last_error.clone(),
            });
        }
        match build(rt, LocalImage::Sandbox).await {
            Ok(()) => {
                self.found(&mut st);
                Ok(())
            }
            Err(e) => {
                let retry_in = st.builds.failed();
                st.next_build = Some(now + retry_in);
                st.last_error = e.to_string();
                tracing::debug!(image = %self.reference, error = %e, ?retry_in, "sandbox image build failed");
                Err(SandboxImageError::NotBuilt {
                    image: self.reference.clone(),
                    message: st.last_error.clone(),
                })
            }
        }
    }

    fn found(&self, st: &mut SandboxState) {
        if st.missing {
            st.missing = false;
            self.appeared.fetch_add(1, Ordering::Relaxed);
            tracing::info!(image = %self.reference, "sandbox image present");
        }
        st.builds.succeeded();
        st.next_build = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads back (path, kind, size, link) from an archive: a minimal reader to check
    /// the writer against.
    fn read_tar(data: &[u8]) -> Vec<(String, u8, usize, String)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 512 <= data.len() {
            let h = &data[at..at + 512];
            if h.iter().all(|b| *b == 0) {
                break;
            }
            let text = |r: std::ops::Range<usize>| {
                String::from_utf8_lossy(&h[r])
                    .trim_end_matches('\0')
                    .to_owned()
            };
            let size = usize::from_str_radix(text(124..135).trim(), 8).unwrap_or(0);
            let stored = u32::from_str_radix(text(148..154).trim(), 8).unwrap_or(0);
            let mut copy = h.to_vec();
            copy[148..156].copy_from_slice(b"        ");
            let sum: u32 = copy.iter().map(|b| u32::from(*b)).sum();
            assert_eq!(stored, sum, "checksum of {}", text(0..100));
            out.push((text(0..100), h[156], size, text(157..257)));
            at += 512 + size.next_multiple_of(512);
        }
        out
    }

    #[test]
    fn tar_round_trip() {
        let entries = vec![
            Entry::Dir { path: "bin".into() },
            Entry::File {
                path: "bin/busybox".into(),
                mode: 0o755,
                data: vec![7; 1000],
            },
            Entry::Symlink {
                path: "bin/sh".into(),
                target: "busybox".into(),
            },
        ];
        let tar = write_tar(&entries);
        assert_eq!(tar.len() % 512, 0);
        let back = read_tar(&tar);
        let want = vec![
            ("bin".to_owned(), b'5', 0, String::new()),
            ("bin/busybox".to_owned(), b'0', 1000, String::new()),
            ("bin/sh".to_owned(), b'2', 0, "busybox".to_owned()),
        ];
        assert_eq!(back, want);
    }

    #[tokio::test(start_paused = true)]
    async fn sandbox_image_is_looked_up_and_built_at_a_bounded_rate() {
        use crate::kubelet::fake::FakeRuntime;
        // Another image than Rudder's own: never built, found once it is there.
        let rt = FakeRuntime::new();
        let other = SandboxImage::new("example.org/pause:3.10");
        let err = other.ensure(&rt).await.expect_err("missing");
        assert!(matches!(err, SandboxImageError::NotPresent { .. }), "{err}");
        assert!(other.is_missing().await);
        assert_eq!(other.appeared(), 0);
        rt.add_image("example.org/pause:3.10");
        other.ensure(&rt).await.expect("present");
        assert!(!other.is_missing().await);
        assert_eq!(other.appeared(), 1, "found after missing");
        other.ensure(&rt).await.expect("present");
        assert_eq!(other.appeared(), 1, "still there: no new appearance");
        assert!(!rt.calls().iter().any(|c| c.starts_with("import ")));

        // Rudder's own, whose import the runtime refuses: one build per back-off step,
        // however often pods ask. (Without a static busybox on the host the build fails
        // before the import; the rate is the same.)
        let rt = FakeRuntime::new();
        rt.fail(
            "import",
            RuntimeError::Failed {
                operation: "import".into(),
                message: "disk full".into(),
            },
        );
        let own = SandboxImage::new(SANDBOX_IMAGE);
        // One import per build when busybox is there, none otherwise.
        let builds = |rt: &FakeRuntime| {
            rt.calls()
                .iter()
                .filter(|c| c.starts_with("import "))
                .count()
        };
        let per_build = if read_busybox().is_ok() { 1 } else { 0 };
        for _ in 0..5 {
            let err = own.ensure(&rt).await.expect_err("not buildable");
            assert!(matches!(err, SandboxImageError::NotBuilt { .. }), "{err}");
        }
        assert_eq!(builds(&rt), per_build, "one build for five asks");
        tokio::time::sleep(Duration::from_secs(9)).await;
        own.ensure(&rt).await.expect_err("not buildable");
        assert_eq!(builds(&rt), per_build, "not again before 10 s");
        tokio::time::sleep(Duration::from_secs(1)).await;
        own.ensure(&rt).await.expect_err("not buildable");
        assert_eq!(builds(&rt), 2 * per_build, "again after 10 s");
        tokio::time::sleep(Duration::from_secs(19)).await;
        own.ensure(&rt).await.expect_err("not buildable");
        assert_eq!(builds(&rt), 2 * per_build, "then after 20 s");
        // Someone builds it (rudderctl images build): found, no build needed.
        rt.add_image(SANDBOX_IMAGE);
        own.ensure(&rt).await.expect("present");
        assert_eq!(own.appeared(), 1);
    }

    #[test]
    fn demo_image_links_its_http_server() {
        let entries = demo_rootfs(vec![1, 2, 3]);
        let has = |p: &str| {
            entries.iter().any(|e| match e {
                Entry::Dir { path } | Entry::File { path, .. } | Entry::Symlink { path, .. } => {
                    path == p
                }
            })
        };
        for p in [
            "bin/busybox",
            "bin/httpd",
            "bin/sh",
            "www/index.html",
            "tmp",
        ] {
            assert!(has(p), "demo image lacks {p}");
        }
    }
}
