//! Ingresses (`networking.k8s.io/v1`): Kubernetes' `DefaultIngressClass` admission (an
//! Ingress created without a class gets the default IngressClass), `ValidateIngress`
//! (hosts, path types and paths, one backend per path, Service ports by name or number)
//! and the printer (CLASS, HOSTS, ADDRESS, PORTS, AGE).
//!
//! IngressClasses: the controller is a domain-prefixed path and never changes; printer
//! CONTROLLER, PARAMETERS, AGE. Every cluster has the `rudder` class, the default,
//! created at start-up ([`super::super::core::ApiCore::bootstrap`]).

use futures::future::BoxFuture;
use rudder_protocol::registry::{self, ResourceInfo};
use rudder_protocol::resources::{Ingress, IngressBackend, IngressClass, PathType, Time};
use serde_json::{json, Value};

use super::super::admission;
use super::super::core::{fail, ApiCore, ApiResult, ListOptions};
use super::super::defaults::Defaults;
use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::super::validation::{
    is_dns1123_subdomain, is_valid_ip, is_valid_port_name, is_valid_port_num, validate_object_meta,
    validate_object_meta_update, FieldCause, FieldPath, NameRule, Validate,
};
use super::Strategy;

/// Path fragments Kubernetes refuses in `Exact` and `Prefix` paths.
const INVALID_PATH_SEQUENCES: &[&str] = &["//", "/./", "/../", "%2f", "%2F"];
/// Path endings Kubernetes refuses in `Exact` and `Prefix` paths.
const INVALID_PATH_SUFFIXES: &[&str] = &["/..", "/."];

impl Strategy for Ingress {
    const COLUMNS: &'static [Column] = &[
        NAME,
        col("Class", "string", "The IngressClass of the Ingress."),
        col("Hosts", "string", "The hosts the Ingress routes."),
        col("Address", "string", "Where the Ingress is served."),
        col("Ports", "string", "The ports it is served on."),
        AGE,
    ];

    const ADMISSION: &'static [admission::Plugin] = &[default_ingress_class];

    fn example(_namespace: &str) -> Value {
        json!({"spec": {"rules": [{"host": "example.com", "http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}},
        }]}}]}})
    }

    fn cells(&self, now: Time) -> Row {
        let class = self
            .spec
            .ingress_class_name
            .clone()
            .unwrap_or_else(|| "<none>".into());
        let mut hosts: Vec<&str> = Vec::new();
        for r in &self.spec.rules {
            let h = if r.host.is_empty() { "*" } else { &r.host };
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
        let hosts = if hosts.is_empty() {
            "*".to_owned()
        } else {
            hosts.join(",")
        };
        let address: Vec<&str> = self
            .status
            .load_balancer
            .ingress
            .iter()
            .map(|i| if i.ip.is_empty() { &i.hostname } else { &i.ip })
            .map(String::as_str)
            .collect();
        let ports = if self.spec.tls.is_empty() {
            "80"
        } else {
            "80, 443"
        };
        Row::new(vec![
            json!(self.metadata.name),
            json!(class),
            json!(hosts),
            json!(address.join(",")),
            json!(ports),
            json!(since(self.metadata.creation_timestamp, now)),
        ])
    }
}

fn ingress_classes() -> ApiResult<&'static ResourceInfo> {
    registry::resource("networking.k8s.io", "v1", "ingressclasses")
        .ok_or_else(|| fail(500, "InternalError", "ingressclasses not registered"))
}

/// The default class among `classes`: the newest of those annotated as default.
pub fn default_class(classes: &[IngressClass]) -> Option<&IngressClass> {
    classes
        .iter()
        .filter(|c| c.is_default_class())
        .max_by_key(|c| c.metadata.creation_timestamp)
}

/// DefaultIngressClass admission: an Ingress with neither `ingressClassName` nor the
/// legacy class annotation gets the default IngressClass, when there is one.
pub fn default_ingress_class<'a>(
    core: &'a ApiCore,
    _info: &'static ResourceInfo,
    ing: &'a mut Value,
) -> BoxFuture<'a, ApiResult<()>> {
    Box::pin(async move {
        let named = ing
            .pointer("/spec/ingressClassName")
            .is_some_and(|v| !v.is_null());
        let annotated = ing
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(rudder_protocol::resources::INGRESS_CLASS_ANNOTATION))
            .is_some();
        if named || annotated {
            return Ok(());
        }
        let opts = ListOptions {
            resource_version: Some("0".into()),
            ..ListOptions::default()
        };
        let classes: Vec<IngressClass> = core
            .list(ingress_classes()?, None, &opts)
            .await?
            .0
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect();
        if let Some(class) = default_class(&classes) {
            let obj = ing.as_object_mut();
            if let Some(obj) = obj {
                let spec = obj.entry("spec").or_insert_with(|| json!({}));
                if let Some(spec) = spec.as_object_mut() {
                    spec.insert("ingressClassName".into(), json!(class.metadata.name));
                }
            }
        }
        Ok(())
    })
}

impl Defaults for Ingress {
    fn apply_defaults(&mut self) {}
}

/// `ValidateIngressHost`-style checks of a rule's or TLS entry's host.
fn validate_host(host: &str, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if is_valid_ip(host).is_empty() {
        errs.push(FieldCause::invalid(
            path,
            host,
            "must be a DNS name, not an IP address",
        ));
        return;
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    for msg in is_dns1123_subdomain(name) {
        errs.push(FieldCause::invalid(path, host, &msg));
    }
}

fn validate_backend(b: &IngressBackend, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    match (&b.service, &b.resource) {
        (Some(_), Some(_)) => errs.push(FieldCause::invalid(
            path,
            "",
            "cannot set both resource and service backends",
        )),
        (None, None) => errs.push(FieldCause::invalid(
            path,
            "",
            "resource or service backend is required",
        )),
        (None, Some(r)) => {
            if r.kind.is_empty() {
                errs.push(FieldCause::required(
                    &path.child("resource").child("kind"),
                    "",
                ));
            }
            if r.name.is_empty() {
                errs.push(FieldCause::required(
                    &path.child("resource").child("name"),
                    "",
                ));
            }
        }
        (Some(s), None) => {
            let spath = path.child("service");
            if s.name.is_empty() {
                errs.push(FieldCause::required(&spath.child("name"), ""));
            } else {
                for msg in super::super::validation::is_dns1035_label(&s.name) {
                    errs.push(FieldCause::invalid(
                        &spath.child("name"),
                        s.name.as_str(),
                        &msg,
                    ));
                }
            }
            let ppath = spath.child("port");
            match (s.port.name.is_empty(), s.port.number) {
                (false, n) if n != 0 => errs.push(FieldCause::invalid(
                    &ppath,
                    s.port.name.as_str(),
                    "cannot set both port name & port number",
                )),
                (true, 0) => errs.push(FieldCause::invalid(
                    &ppath,
                    "",
                    "port name or number is required",
                )),
                (false, _) => {
                    for msg in is_valid_port_name(&s.port.name) {
                        errs.push(FieldCause::invalid(
                            &ppath.child("name"),
                            s.port.name.as_str(),
                            &msg,
                        ));
                    }
                }
                (true, n) => {
                    for msg in is_valid_port_num(i64::from(n)) {
                        errs.push(FieldCause::invalid(
                            &ppath.child("number"),
                            i64::from(n),
                            &msg,
                        ));
                    }
                }
            }
        }
    }
}

fn validate_path(p: &str, t: PathType, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if t == PathType::ImplementationSpecific {
        if !p.is_empty() && !p.starts_with('/') {
            errs.push(FieldCause::invalid(path, p, "must be an absolute path"));
        }
        return;
    }
    if !p.starts_with('/') {
        errs.push(FieldCause::invalid(path, p, "must be an absolute path"));
        return;
    }
    for seq in INVALID_PATH_SEQUENCES {
        if p.contains(seq) {
            errs.push(FieldCause::invalid(
                path,
                p,
                &format!("must not contain '{seq}'"),
            ));
        }
    }
    for suffix in INVALID_PATH_SUFFIXES {
        if p.ends_with(suffix) {
            errs.push(FieldCause::invalid(
                path,
                p,
                &format!("cannot end with '{suffix}'"),
            ));
        }
    }
}

impl Validate for Ingress {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        if spec.default_backend.is_none() && spec.rules.is_empty() {
            errs.push(FieldCause::invalid(
                &path,
                "",
                "either `defaultBackend` or `rules` must be specified",
            ));
        }
        if let Some(b) = &spec.default_backend {
            validate_backend(b, &path.child("defaultBackend"), &mut errs);
        }
        if let Some(class) = &spec.ingress_class_name {
            for msg in is_dns1123_subdomain(class) {
                errs.push(FieldCause::invalid(
                    &path.child("ingressClassName"),
                    class.as_str(),
                    &msg,
                ));
            }
        }
        for (i, tls) in spec.tls.iter().enumerate() {
            for (j, host) in tls.hosts.iter().enumerate() {
                validate_host(
                    host,
                    &path.child("tls").index(i).child("hosts").index(j),
                    &mut errs,
                );
            }
            if !tls.secret_name.is_empty() {
                for msg in is_dns1123_subdomain(&tls.secret_name) {
                    errs.push(FieldCause::invalid(
                        &path.child("tls").index(i).child("secretName"),
                        tls.secret_name.as_str(),
                        &msg,
                    ));
                }
            }
        }
        for (i, rule) in spec.rules.iter().enumerate() {
            let rpath = path.child("rules").index(i);
            if !rule.host.is_empty() {
                validate_host(&rule.host, &rpath.child("host"), &mut errs);
            }
            let Some(http) = &rule.http else {
                continue;
            };
            let hpath = rpath.child("http").child("paths");
            if http.paths.is_empty() {
                errs.push(FieldCause::required(&hpath, ""));
            }
            for (j, p) in http.paths.iter().enumerate() {
                let ppath = hpath.index(j);
                match p.path_type {
                    None => errs.push(FieldCause::required(
                        &ppath.child("pathType"),
                        "pathType must be specified",
                    )),
                    Some(t) => validate_path(&p.path, t, &ppath.child("path"), &mut errs),
                }
                validate_backend(&p.backend, &ppath.child("backend"), &mut errs);
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        errs
    }
}

impl Strategy for IngressClass {
    const COLUMNS: &'static [Column] = &[
        NAME,
        col("Controller", "string", "The controller of the class."),
        col("Parameters", "string", "The controller's configuration."),
        AGE,
    ];

    fn example(_namespace: &str) -> Value {
        json!({"spec": {"controller": "example.com/ingress"}})
    }

    fn cells(&self, now: Time) -> Row {
        let params = self.spec.parameters.as_ref().map_or_else(
            || "<none>".to_owned(),
            |p| {
                let group = p.api_group.as_deref().unwrap_or_default();
                if group.is_empty() {
                    format!("{}/{}", p.kind, p.name)
                } else {
                    format!("{}.{}/{}", p.kind, group, p.name)
                }
            },
        );
        Row::new(vec![
            json!(self.metadata.name),
            json!(self.spec.controller),
            json!(params),
            json!(since(self.metadata.creation_timestamp, now)),
        ])
    }
}

impl Defaults for IngressClass {
    fn apply_defaults(&mut self) {}
}

impl Validate for IngressClass {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let cpath = FieldPath::new("spec").child("controller");
        let c = &self.spec.controller;
        if c.is_empty() {
            errs.push(FieldCause::required(&cpath, ""));
        } else if !c.contains('/') {
            errs.push(FieldCause::invalid(
                &cpath,
                c.as_str(),
                "must be a domain-prefixed path (such as \"acme.io/foo\")",
            ));
        } else if let Some((domain, _)) = c.split_once('/') {
            for msg in is_dns1123_subdomain(domain) {
                errs.push(FieldCause::invalid(&cpath, c.as_str(), &msg));
            }
        }
        if let Some(p) = &self.spec.parameters {
            let ppath = FieldPath::new("spec").child("parameters");
            if p.kind.is_empty() {
                errs.push(FieldCause::required(&ppath.child("kind"), ""));
            }
            if p.name.is_empty() {
                errs.push(FieldCause::required(&ppath.child("name"), ""));
            }
            match p.scope.as_deref() {
                None | Some("Cluster") if p.namespace.is_some() => {
                    errs.push(FieldCause::forbidden(
                        &ppath.child("namespace"),
                        "`parameters.scope` is set to 'Cluster'",
                    ))
                }
                Some("Namespace") if p.namespace.is_none() => errs.push(FieldCause::required(
                    &ppath.child("namespace"),
                    "`parameters.scope` is set to 'Namespace'",
                )),
                None | Some("Cluster") | Some("Namespace") => {}
                Some(other) => errs.push(FieldCause::not_supported(
                    &ppath.child("scope"),
                    other,
                    &["Cluster", "Namespace"],
                )),
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        if self.spec.controller != old.spec.controller {
            errs.push(FieldCause::invalid(
                &FieldPath::new("spec").child("controller"),
                self.spec.controller.as_str(),
                "field is immutable",
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::validation::testutil::assert_causes;
    use crate::apiserver::validation::CauseReason;

    fn ingress(spec: Value) -> Ingress {
        serde_json::from_value(
            json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec}),
        )
        .expect("valid ingress JSON")
    }

    #[test]
    fn ingress_validation() {
        let svc = json!({"service": {"name": "web", "port": {"number": 80}}});
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, Value, Vec<(&str, CauseReason)>)> = vec![
            (
                "a host rule with a prefix path",
                json!({"rules": [{"host": "a.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": svc}]}}]}),
                vec![],
            ),
            (
                "nothing to route",
                json!({}),
                vec![("spec", CauseReason::Invalid)],
            ),
            (
                "a path type is required",
                json!({"rules": [{"http": {"paths": [{"path": "/", "backend": svc}]}}]}),
                vec![(
                    "spec.rules[0].http.paths[0].pathType",
                    CauseReason::Required,
                )],
            ),
            (
                "a relative prefix path",
                json!({"rules": [{"http": {"paths": [{"path": "app", "pathType": "Prefix", "backend": svc}]}}]}),
                vec![("spec.rules[0].http.paths[0].path", CauseReason::Invalid)],
            ),
            (
                "an IP as host, a wildcard is fine",
                json!({"rules": [
                    {"host": "10.0.0.1", "http": {"paths": [{"path": "/", "pathType": "Exact", "backend": svc}]}},
                    {"host": "*.example.com", "http": {"paths": [{"path": "/", "pathType": "Exact", "backend": svc}]}},
                ]}),
                vec![("spec.rules[0].host", CauseReason::Invalid)],
            ),
            (
                "both port name and number",
                json!({"defaultBackend": {"service": {"name": "web", "port": {"name": "http", "number": 80}}}}),
                vec![("spec.defaultBackend.service.port", CauseReason::Invalid)],
            ),
            (
                "no backend",
                json!({"defaultBackend": {}}),
                vec![("spec.defaultBackend", CauseReason::Invalid)],
            ),
        ];
        for (name, spec, want) in cases {
            assert_causes(name, &ingress(spec).validate(), &want);
        }
    }

    #[test]
    fn the_newest_default_class_wins() {
        let class = |name: &str, default: bool, at: i64| {
            let mut c = IngressClass::new(name);
            c.spec.controller = "rudder.io/ingress".into();
            c.metadata.creation_timestamp = Some(Time(at));
            if default {
                c.metadata.annotations.insert(
                    rudder_protocol::resources::IS_DEFAULT_INGRESS_CLASS.into(),
                    "true".into(),
                );
            }
            c
        };
        let classes = vec![
            class("a", true, 1),
            class("b", true, 5),
            class("c", false, 9),
        ];
        assert_eq!(
            default_class(&classes).map(|c| c.metadata.name.as_str()),
            Some("b")
        );
        assert!(default_class(&classes[2..]).is_none());
    }
}
