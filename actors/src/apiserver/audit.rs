//! The audit log: one JSON line per request in Kubernetes' `audit.k8s.io/v1` Event
//! format (stage `ResponseComplete`), at the level a policy gives it, written to
//! `<data-dir>/audit/audit.log` and rotated by size.
//!
//! - **Policy** (`[apiserver] audit_policy_file`, Kubernetes' `audit.k8s.io/v1 Policy`
//!   in YAML or JSON): rules tried in order, the first whose `users`, `userGroups`,
//!   `verbs`, `namespaces`, `resources` (group, resources, resourceNames) and
//!   `nonResourceURLs` all match gives the level: `None` (not logged), `Metadata` (who,
//!   what, the answer's code), `Request` (and the request body), `RequestResponse` (and
//!   the answer). No rule matching: not logged. No policy file: no audit log at all.
//! - **Where it attaches**: resource requests are audited in
//!   [`super::core::ApiCore::handle`], the one place both fronts pass, with what the
//!   front knows about the connection (URI, source address, user agent) carried in
//!   [`Source`] (a task-local set by the HTTP front; the bus names the calling node).
//!   Non-resource paths are audited by the HTTP front.
//! - **Writing** never slows a request: events go through a bounded channel to one
//!   writer thread; when it falls behind, events are dropped and counted in a warning.
//!   The file rotates when it passes `audit_log_max_size_mb`: `audit.log` becomes
//!   `audit.log.1` (older ones shift up to `audit_log_max_backups`).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

use rudder_protocol::resources::MicroTime;
use serde::Deserialize;
use serde_json::{json, Value};

use super::request::UserInfo;

/// How much of a request is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Level {
    /// Nothing.
    None,
    /// Who, what, when, the answer's code.
    Metadata,
    /// Metadata and the request body.
    Request,
    /// Request and the answer's body.
    RequestResponse,
}

/// A resource selector of a policy rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupResources {
    /// The API group (`""` core).
    pub group: String,
    /// Resources (`pods`, `pods/log`, `*/status`); none: every resource of the group.
    pub resources: Vec<String>,
    /// Object names; none: every name.
    pub resource_names: Vec<String>,
}

/// One rule of a policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// The level of matching requests.
    pub level: Level,
    /// User names; none: every user.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups; none: every group.
    #[serde(default)]
    pub user_groups: Vec<String>,
    /// Verbs; none: every verb.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Resources; none: every resource (and no non-resource path).
    #[serde(default)]
    pub resources: Vec<GroupResources>,
    /// Namespaces (`""` for cluster-scoped); none: every namespace.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Non-resource paths (`/healthz`, `/apis/*`); none: every path.
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
}

/// An audit policy.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Policy {
    /// The rules, first match wins.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
}

/// What an audited request was about.
#[derive(Debug, Clone, Default)]
pub struct ObjectRef<'a> {
    /// API group.
    pub group: &'a str,
    /// API version.
    pub version: &'a str,
    /// Resource plural.
    pub resource: &'a str,
    /// Subresource.
    pub subresource: Option<&'a str>,
    /// Namespace.
    pub namespace: Option<&'a str>,
    /// Name.
    pub name: Option<&'a str>,
}

impl Policy {
    /// Parses a policy file's text (YAML or JSON).
    pub fn parse(text: &str) -> Result<Policy, String> {
        serde_norway::from_str(text).map_err(|e| e.to_string())
    }

    /// The level of a request by `user` doing `verb` on `object` (or on `path` for a
    /// non-resource request).
    pub fn level(
        &self,
        user: &UserInfo,
        verb: &str,
        object: Option<&ObjectRef<'_>>,
        path: &str,
    ) -> Level {
        let any =
            |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v || x == "*");
        for r in &self.rules {
            if !any(&r.users, &user.name)
                || !(r.user_groups.is_empty()
                    || user.groups.iter().any(|g| r.user_groups.contains(g)))
                || !any(&r.verbs, verb)
            {
                continue;
            }
            let ok = match object {
                Some(o) => {
                    r.non_resource_urls.is_empty()
                        && any(&r.namespaces, o.namespace.unwrap_or_default())
                        && (r.resources.is_empty()
                            || r.resources.iter().any(|g| group_matches(g, o)))
                }
                None => {
                    r.resources.is_empty()
                        && r.namespaces.is_empty()
                        && (r.non_resource_urls.is_empty()
                            || r.non_resource_urls.iter().any(|u| {
                                u == path
                                    || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
                            }))
                }
            };
            if ok {
                return r.level;
            }
        }
        Level::None
    }
}

fn group_matches(g: &GroupResources, o: &ObjectRef<'_>) -> bool {
    if g.group != o.group {
        return false;
    }
    let full = match o.subresource {
        Some(s) => format!("{}/{s}", o.resource),
        None => o.resource.to_owned(),
    };
    let resource_ok = g.resources.is_empty()
        || g.resources.iter().any(|r| {
            r == &full
                || r == "*"
                || (o.subresource.is_some() && r.strip_prefix("*/") == o.subresource)
                || r.strip_suffix("/*") == Some(o.resource)
        });
    resource_ok
        && (g.resource_names.is_empty()
            || o.name
                .is_some_and(|n| g.resource_names.iter().any(|r| r == n)))
}

/// What a front knows about the connection a request came on.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// The request URI (path and query) over HTTP; the bus request's kind otherwise.
    pub request_uri: String,
    /// Where it came from (the client's IP; the calling node's name on the bus).
    pub source_ips: Vec<String>,
    /// The client's User-Agent.
    pub user_agent: String,
    /// Who really sent it, when it acts as another user (impersonation): the event's
    /// `user`, the request's user being its `impersonatedUser`.
    pub impersonator: Option<UserInfo>,
}

tokio::task_local! {
    /// The connection of the request being served by this task (set by the HTTP front
    /// around [`super::core::ApiCore::handle`]).
    pub static SOURCE: Source;
}

/// The source of the current request, if its front set one.
pub fn current_source() -> Source {
    SOURCE.try_with(Clone::clone).unwrap_or_default()
}

/// One audit event about to be logged.
pub struct Entry<'a> {
    /// Who.
    pub user: &'a UserInfo,
    /// The verb.
    pub verb: &'a str,
    /// What (resource requests).
    pub object: Option<ObjectRef<'a>>,
    /// The connection.
    pub source: Source,
    /// When the request arrived.
    pub received: MicroTime,
    /// The answer's code.
    pub code: i32,
    /// The request body (for `Request` and above).
    pub request: Option<&'a Value>,
    /// The answer (for `RequestResponse`).
    pub response: Option<&'a Value>,
    /// What admission noted about the request (`pod-security.kubernetes.io/...`),
    /// logged at every level.
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// The audit log of one API server.
pub struct AuditLog {
    policy: Policy,
    tx: SyncSender<String>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

/// Events queued for the writer before new ones are dropped.
const QUEUE: usize = 8192;

/// Rotation settings.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// Rotate when the file passes this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept.
    pub max_backups: u32,
}

impl AuditLog {
    /// A log under `dir` (created), following `policy`, with its writer thread.
    pub fn open(dir: &Path, policy: Policy, rotation: Rotation) -> std::io::Result<AuditLog> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("audit.log");
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (tx, rx) = sync_channel::<String>(QUEUE);
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || {
                let mut w = Writer {
                    path,
                    file,
                    size,
                    rotation,
                };
                while let Ok(line) = rx.recv() {
                    if let Err(e) = w.write(&line) {
                        tracing::warn!(error = %e, "cannot write the audit log");
                    }
                }
            })?;
        Ok(AuditLog {
            policy,
            tx,
            dropped: AtomicU64::new(0),
        })
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Logs `e` at the level the policy gives it (nothing at `None`).
    pub fn record(&self, e: Entry<'_>) {
        let path = e
            .source
            .request_uri
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned();
        let level = self.policy.level(e.user, e.verb, e.object.as_ref(), &path);
        if level == Level::None {
            return;
        }
        let line = event(&e, level).to_string();
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(dropped = n, "audit log writer behind; events dropped");
                }
            }
        }
    }
}

/// The `audit.k8s.io/v1` Event of `e` at `level`.
pub fn event(e: &Entry<'_>, level: Level) -> Value {
    let level_name = match level {
        Level::None => "None",
        Level::Metadata => "Metadata",
        Level::Request => "Request",
        Level::RequestResponse => "RequestResponse",
    };
    let mut v = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level_name,
        "auditID": super::core::new_audit_id(),
        "stage": "ResponseComplete",
        "requestURI": e.source.request_uri,
        "verb": e.verb,
        "user": super::rbac::review::user_info(e.source.impersonator.as_ref().unwrap_or(e.user)),
        "sourceIPs": e.source.source_ips,
        "userAgent": e.source.user_agent,
        "responseStatus": {"metadata": {}, "code": e.code},
        "requestReceivedTimestamp": e.received.to_string(),
        "stageTimestamp": MicroTime::now().to_string(),
    });
    if e.source.impersonator.is_some() {
        v["impersonatedUser"] = super::rbac::review::user_info(e.user);
    }
    if let Some(o) = &e.object {
        let mut r = json!({"resource": o.resource, "apiVersion": o.version});
        if !o.group.is_empty() {
            r["apiGroup"] = json!(o.group);
        }
        if let Some(ns) = o.namespace {
            r["namespace"] = json!(ns);
        }
        if let Some(n) = o.name {
            r["name"] = json!(n);
        }
        if let Some(s) = o.subresource {
            r["subresource"] = json!(s);
        }
        v["objectRef"] = r;
    }
    if !e.annotations.is_empty() {
        v["annotations"] = json!(e.annotations);
    }
    if level >= Level::Request {
        if let Some(b) = e.request {
            v["requestObject"] = b.clone();
        }
    }
    if level >= Level::RequestResponse {
        if let Some(b) = e.response {
            v["responseObject"] = b.clone();
        }
    }
    v
}

struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

impl Writer {
    fn write(&mut self, line: &str) -> std::io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 + 1 > self.rotation.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.size += line.len() as u64 + 1;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let name = |i: u32| PathBuf::from(format!("{}.{i}", self.path.display()));
        let keep = self.rotation.max_backups.max(1);
        let _ = std::fs::remove_file(name(keep));
        for i in (1..keep).rev() {
            let _ = std::fs::rename(name(i), name(i + 1));
        }
        std::fs::rename(&self.path, name(1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_levels_first_match_wins() {
        let policy = Policy::parse(
            r#"
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  users: ["system:kube-proxy"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["secrets"]
- level: Request
  verbs: ["create"]
  namespaces: ["a"]
- level: Metadata
  nonResourceURLs: ["/version", "/apis/*"]
- level: Metadata
  resources:
  - group: apps
"#,
        )
        .expect("policy");
        let alice = UserInfo {
            name: "alice".into(),
            ..UserInfo::default()
        };
        let proxy = UserInfo {
            name: "system:kube-proxy".into(),
            ..UserInfo::default()
        };
        let obj = |group, resource, ns| ObjectRef {
            group,
            version: "v1",
            resource,
            namespace: ns,
            ..ObjectRef::default()
        };
        let table = [
            (
                "proxy never",
                &proxy,
                "get",
                Some(obj("", "secrets", Some("a"))),
                "",
                Level::None,
            ),
            (
                "secrets in full",
                &alice,
                "get",
                Some(obj("", "secrets", Some("a"))),
                "",
                Level::RequestResponse,
            ),
            (
                "create in a",
                &alice,
                "create",
                Some(obj("", "pods", Some("a"))),
                "",
                Level::Request,
            ),
            (
                "create in b: no rule",
                &alice,
                "create",
                Some(obj("", "pods", Some("b"))),
                "",
                Level::None,
            ),
            (
                "apps group",
                &alice,
                "list",
                Some(obj("apps", "deployments", None)),
                "",
                Level::Metadata,
            ),
            ("path", &alice, "get", None, "/apis/apps", Level::Metadata),
            ("other path", &alice, "get", None, "/healthz", Level::None),
        ];
        for (name, user, verb, o, path, want) in table {
            assert_eq!(policy.level(user, verb, o.as_ref(), path), want, "{name}");
        }
    }

    #[test]
    fn rotates_by_size() {
        let dir = std::env::temp_dir().join(format!("rudder-audit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("audit.log");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open");
        let mut w = Writer {
            path: path.clone(),
            file,
            size: 0,
            rotation: Rotation {
                max_bytes: 100,
                max_backups: 2,
            },
        };
        let line = "x".repeat(60);
        for _ in 0..5 {
            w.write(&line).expect("write");
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        assert_eq!(read(&path).lines().count(), 1);
        assert_eq!(read(&dir.join("audit.log.1")).lines().count(), 1);
        assert_eq!(read(&dir.join("audit.log.2")).lines().count(), 1);
        assert!(!dir.join("audit.log.3").exists(), "backups bounded");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
