//! The routing table of the ingress controller: a pure function of the Ingresses of its
//! classes, and the lookup of a request's backend by host and path.
//!
//! As Kubernetes specifies: a rule's host matches exactly, or as a wildcard
//! (`*.example.com` matches `a.example.com`, not `example.com` nor `a.b.example.com`); a
//! rule without a host matches every host. Exact hosts are tried before wildcards, and
//! both before host-less rules. Among the paths of the matching rules the longest match
//! wins, `Exact` before `Prefix` for the same path; `Prefix` matches element by element
//! (`/foo` matches `/foo` and `/foo/bar`, not `/foobar`); `ImplementationSpecific` is
//! matched as `Prefix`. A request no rule matches goes to the default backend (of the
//! oldest Ingress that has one), else it gets a 404.

use std::sync::Arc;

use rudder_protocol::resources::{
    Ingress, IngressBackend, IngressClass, PathType, RUDDER_INGRESS_CONTROLLER,
};

/// Where a request goes: a Service port in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The Ingress's namespace.
    pub namespace: String,
    /// The Service.
    pub service: String,
    /// The Service port's name (empty when chosen by number).
    pub port_name: String,
    /// The Service port's number (0 when chosen by name).
    pub port_number: i32,
}

impl Backend {
    fn of(namespace: &str, b: &IngressBackend) -> Option<Backend> {
        let s = b.service.as_ref()?;
        Some(Backend {
            namespace: namespace.to_owned(),
            service: s.name.clone(),
            port_name: s.port.name.clone(),
            port_number: s.port.number,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PathRule {
    path: String,
    exact: bool,
    backend: Backend,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HostRules {
    /// Lower case; empty for every host; `*.` prefix for a wildcard.
    host: String,
    paths: Vec<PathRule>,
}

/// A certificate to serve: a Secret and the hosts it is for (none: the default one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsEntry {
    /// The Ingress's namespace.
    pub namespace: String,
    /// The Secret of type `kubernetes.io/tls`.
    pub secret: String,
    /// The hosts, lower case.
    pub hosts: Vec<String>,
}

/// The routing of every Ingress the controller serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    hosts: Vec<HostRules>,
    default: Option<Backend>,
    /// The certificates the Ingresses name, oldest Ingress first.
    pub tls: Vec<TlsEntry>,
}

/// Whether Rudder's controller serves `ing`: its class (by name, or by the legacy
/// annotation) is one whose controller is Rudder's, or it names none and one of Rudder's
/// classes is the default.
pub fn ours(ing: &Ingress, classes: &[Arc<IngressClass>]) -> bool {
    let mine = |name: &str| {
        classes
            .iter()
            .any(|c| c.metadata.name == name && c.spec.controller == RUDDER_INGRESS_CONTROLLER)
    };
    if let Some(name) = &ing.spec.ingress_class_name {
        return mine(name);
    }
    if let Some(name) = ing
        .metadata
        .annotations
        .get(rudder_protocol::resources::INGRESS_CLASS_ANNOTATION)
    {
        return mine(name);
    }
    classes
        .iter()
        .any(|c| c.is_default_class() && c.spec.controller == RUDDER_INGRESS_CONTROLLER)
}

/// The table for `ingresses` (all served by this controller).
pub fn build(ingresses: &[&Ingress]) -> Table {
    let mut sorted: Vec<&Ingress> = ingresses.to_vec();
    sorted.sort_by(|a, b| {
        (
            a.metadata.creation_timestamp,
            &a.metadata.namespace,
            &a.metadata.name,
        )
            .cmp(&(
                b.metadata.creation_timestamp,
                &b.metadata.namespace,
                &b.metadata.name,
            ))
    });
    let mut t = Table::default();
    for ing in sorted {
        let ns = &ing.metadata.namespace;
        if t.default.is_none() {
            t.default = ing
                .spec
                .default_backend
                .as_ref()
                .and_then(|b| Backend::of(ns, b));
        }
        for tls in &ing.spec.tls {
            if !tls.secret_name.is_empty() {
                t.tls.push(TlsEntry {
                    namespace: ns.clone(),
                    secret: tls.secret_name.clone(),
                    hosts: tls.hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
                });
            }
        }
        for rule in &ing.spec.rules {
            let Some(http) = &rule.http else {
                continue;
            };
            let host = rule.host.to_ascii_lowercase();
            let idx = match t.hosts.iter().position(|h| h.host == host) {
                Some(i) => i,
                None => {
                    t.hosts.push(HostRules {
                        host,
                        paths: Vec::new(),
                    });
                    t.hosts.len() - 1
                }
            };
            for p in &http.paths {
                let Some(backend) = Backend::of(ns, &p.backend) else {
                    continue;
                };
                let path = if p.path.is_empty() {
                    "/".to_owned()
                } else {
                    p.path.clone()
                };
                t.hosts[idx].paths.push(PathRule {
                    path,
                    exact: p.path_type == Some(PathType::Exact),
                    backend,
                });
            }
        }
    }
    t
}

/// `/foo` matches `/foo` and `/foo/...`; `/` matches everything.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `host:port` → `host`; `[::1]:80` → `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

fn host_matches(rule: &str, host: &str) -> bool {
    match rule.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .and_then(|h| h.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        None => rule == host,
    }
}

impl Table {
    /// Whether there is nothing to serve.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.default.is_none()
    }

    /// The backend for a request to `host` (a port, if any, is ignored) and `path`.
    pub fn route(&self, host: &str, path: &str) -> Option<&Backend> {
        let host = strip_port(host).to_ascii_lowercase();
        let tiers: [&dyn Fn(&HostRules) -> bool; 3] = [
            &|h| !h.host.is_empty() && !h.host.starts_with("*.") && h.host == host,
            &|h| h.host.starts_with("*.") && host_matches(&h.host, &host),
            &|h| h.host.is_empty(),
        ];
        for tier in tiers {
            let best = self
                .hosts
                .iter()
                .filter(|h| tier(h))
                .flat_map(|h| h.paths.iter())
                .filter(|p| {
                    if p.exact {
                        p.path == path
                    } else {
                        prefix_matches(&p.path, path)
                    }
                })
                .max_by_key(|p| (p.path.trim_end_matches('/').len(), p.exact));
            if let Some(p) = best {
                return Some(&p.backend);
            }
        }
        self.default.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ing(name: &str, at: i64, spec: serde_json::Value) -> Ingress {
        let mut i: Ingress = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default"}, "spec": spec,
        }))
        .expect("valid ingress");
        i.metadata.creation_timestamp = Some(rudder_protocol::resources::Time(at));
        i
    }

    fn path(p: &str, t: &str, svc: &str) -> serde_json::Value {
        json!({"path": p, "pathType": t, "backend": {"service": {"name": svc, "port": {"number": 80}}}})
    }

    #[test]
    fn routes_by_host_and_path() {
        let a = ing(
            "a",
            1,
            json!({
                "defaultBackend": {"service": {"name": "fallback", "port": {"name": "http"}}},
                "rules": [
                    {"host": "shop.example.com", "http": {"paths": [
                        path("/", "Prefix", "shop"),
                        path("/api", "Prefix", "api"),
                        path("/api/v1/login", "Exact", "login"),
                    ]}},
                    {"host": "*.example.com", "http": {"paths": [path("/", "Prefix", "wild")]}},
                    {"http": {"paths": [path("/static", "ImplementationSpecific", "static")]}},
                ],
            }),
        );
        let b = ing(
            "b",
            2,
            json!({"defaultBackend": {"service": {"name": "later", "port": {"number": 1}}}}),
        );
        let t = build(&[&b, &a]);
        let cases = [
            (
                "exact host, root prefix",
                "shop.example.com",
                "/cart",
                Some("shop"),
            ),
            (
                "host with a port",
                "SHOP.example.com:8443",
                "/cart",
                Some("shop"),
            ),
            (
                "longest prefix",
                "shop.example.com",
                "/api/items",
                Some("api"),
            ),
            (
                "prefix is element-wise",
                "shop.example.com",
                "/apix",
                Some("shop"),
            ),
            (
                "exact path",
                "shop.example.com",
                "/api/v1/login",
                Some("login"),
            ),
            (
                "exact does not match below",
                "shop.example.com",
                "/api/v1/login/x",
                Some("api"),
            ),
            ("wildcard, one label", "blog.example.com", "/", Some("wild")),
            (
                "wildcard, not two labels",
                "a.b.example.com",
                "/static/x",
                Some("static"),
            ),
            (
                "wildcard, not the bare domain",
                "example.com",
                "/",
                Some("fallback"),
            ),
            ("host-less rule", "other.org", "/static", Some("static")),
            (
                "default backend of the oldest",
                "other.org",
                "/nothing",
                Some("fallback"),
            ),
        ];
        for (name, host, p, want) in cases {
            let got = t.route(host, p).map(|b| b.service.as_str());
            assert_eq!(got, want, "{name}");
        }
        assert_eq!(build(&[]).route("x", "/"), None);
    }

    #[test]
    fn class_ownership() {
        let class = |name: &str, controller: &str, default: bool| {
            let mut c = IngressClass::new(name);
            c.spec.controller = controller.into();
            if default {
                c.metadata.annotations.insert(
                    rudder_protocol::resources::IS_DEFAULT_INGRESS_CLASS.into(),
                    "true".into(),
                );
            }
            Arc::new(c)
        };
        let classes = vec![
            class("rudder", RUDDER_INGRESS_CONTROLLER, true),
            class("nginx", "k8s.io/ingress-nginx", false),
        ];
        let mut i = ing("x", 1, json!({}));
        assert!(ours(&i, &classes), "no class: the default is ours");
        i.spec.ingress_class_name = Some("nginx".into());
        assert!(!ours(&i, &classes));
        i.spec.ingress_class_name = Some("rudder".into());
        assert!(ours(&i, &classes));
        i.spec.ingress_class_name = None;
        i.metadata.annotations.insert(
            rudder_protocol::resources::INGRESS_CLASS_ANNOTATION.into(),
            "nginx".into(),
        );
        assert!(!ours(&i, &classes));
        assert!(!ours(&ing("y", 1, json!({})), &classes[1..]));
    }
}
