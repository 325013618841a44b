//! What a pod takes from the API besides its spec: the ConfigMaps and Secrets its
//! containers' environment and its volumes refer to, and pod fields (the downward API).
//!
//! - [`References`] lists the objects a pod refers to; the worker fetches them through
//!   its [`super::worker::PodSink`] (direct gets over the bus: the node watches no
//!   ConfigMap or Secret it does not need, as Kubernetes' kubelet) into [`Objects`].
//! - [`resolve_env`] (pure) builds a container's environment as Kubernetes'
//!   `makeEnvironmentVariables` does: `envFrom` first (keys that are no valid variable
//!   names are skipped and reported), then `env` (`value` with `$(VAR)` expansion, or
//!   `valueFrom`), a later definition replacing an earlier one. A missing non-optional
//!   object or key is an error naming it.
//! - [`volume_payload`] (pure) gives the files of a `configMap`, `secret`, `downwardAPI`
//!   or `projected` volume, which [`super::atomic_writer`] writes. Service-account
//!   tokens of projected volumes ([`token_specs`]) are requested by the worker and
//!   handed in with the objects.

use std::collections::{BTreeMap, BTreeSet};

use rudder_protocol::resources::{
    ConfigMap, Container, DownwardApiVolumeFile, KeyToPath, ObjectFieldSelector, Pod, Quantity,
    ResourceFieldSelector, Secret, Volume,
};

use super::atomic_writer::{FileProjection, Payload};

/// The mode of projected files when nothing says otherwise (Kubernetes' 0644).
pub const DEFAULT_MODE: i32 = 0o644;

/// The ConfigMaps and Secrets a pod refers to, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    /// ConfigMap names.
    pub config_maps: BTreeSet<String>,
    /// Secret names.
    pub secrets: BTreeSet<String>,
}

impl References {
    /// Everything `pod` refers to: in its containers' env and envFrom (`env`), in its
    /// volumes (`volumes`).
    pub fn of(pod: &Pod, env: bool, volumes: bool) -> References {
        let mut r = References::default();
        if env {
            for c in pod.spec.containers.iter().chain(&pod.spec.init_containers) {
                for e in &c.env {
                    let Some(from) = &e.value_from else { continue };
                    if let Some(k) = &from.config_map_key_ref {
                        r.config_maps.insert(k.name.clone());
                    }
                    if let Some(k) = &from.secret_key_ref {
                        r.secrets.insert(k.name.clone());
                    }
                }
                for f in &c.env_from {
                    if let Some(s) = &f.config_map_ref {
                        r.config_maps.insert(s.name.clone());
                    }
                    if let Some(s) = &f.secret_ref {
                        r.secrets.insert(s.name.clone());
                    }
                }
            }
        }
        if volumes {
            for v in &pod.spec.volumes {
                if let Some(c) = &v.config_map {
                    r.config_maps.insert(c.name.clone());
                }
                if let Some(s) = &v.secret {
                    r.secrets.insert(s.secret_name.clone());
                }
                for s in v.projected.iter().flat_map(|p| &p.sources) {
                    if let Some(c) = &s.config_map {
                        r.config_maps.insert(c.name.clone());
                    }
                    if let Some(c) = &s.secret {
                        r.secrets.insert(c.name.clone());
                    }
                }
            }
        }
        r
    }

    /// True when nothing is referred to.
    pub fn is_empty(&self) -> bool {
        self.config_maps.is_empty() && self.secrets.is_empty()
    }
}

/// A service-account token a pod's projected volumes need: one per audience and
/// lifetime, shared by the volumes that ask for the same.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenSpec {
    /// The audience (empty: the API server's).
    pub audience: String,
    /// The requested lifetime in seconds.
    pub expiration_seconds: i64,
}

/// A token's lifetime when its projection names none (Kubernetes' one hour).
pub const DEFAULT_TOKEN_SECONDS: i64 = 3600;

impl TokenSpec {
    fn of(t: &rudder_protocol::resources::ServiceAccountTokenProjection) -> TokenSpec {
        TokenSpec {
            audience: t.audience.clone(),
            expiration_seconds: t.expiration_seconds.unwrap_or(DEFAULT_TOKEN_SECONDS),
        }
    }
}

/// The service-account tokens `pod`'s projected volumes need.
pub fn token_specs(pod: &Pod) -> BTreeSet<TokenSpec> {
    pod.spec
        .volumes
        .iter()
        .flat_map(|v| v.projected.iter().flat_map(|p| &p.sources))
        .filter_map(|s| s.service_account_token.as_ref())
        .map(TokenSpec::of)
        .collect()
}

/// The referenced objects as fetched: `None` for one that does not exist.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    /// ConfigMaps by name.
    pub config_maps: BTreeMap<String, Option<ConfigMap>>,
    /// Secrets by name.
    pub secrets: BTreeMap<String, Option<Secret>>,
    /// Service-account tokens, as the worker obtained them.
    pub tokens: BTreeMap<TokenSpec, String>,
    /// The Services' variables ([`service_env`]), set before everything else.
    pub service_env: Vec<(String, String)>,
}

/// The namespace and name of the Service every pod is told about.
pub const MASTER_SERVICE: (&str, &str) = ("default", "kubernetes");

/// The environment variables Kubernetes gives a pod for Services (its "service links"):
/// for each Service with a cluster IP in the pod's namespace (unless the pod sets
/// `enableServiceLinks: false`), and always for `default/kubernetes`,
/// `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT`, `<NAME>_SERVICE_PORT_<PORT NAME>` and the
/// Docker-link variables `<NAME>_PORT`, `<NAME>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]`.
/// `services` may hold any namespace's; the result is sorted by Service name.
pub fn service_env<'a>(
    pod: &Pod,
    services: impl IntoIterator<Item = &'a rudder_protocol::resources::Service>,
) -> Vec<(String, String)> {
    let links = pod.spec.enable_service_links != Some(false);
    let ns = pod.metadata.namespace.as_str();
    let mut chosen: BTreeMap<&str, &rudder_protocol::resources::Service> = BTreeMap::new();
    for s in services {
        let (sns, name) = (s.metadata.namespace.as_str(), s.metadata.name.as_str());
        let ip = s.spec.cluster_ip.as_str();
        if ip.is_empty() || ip == "None" {
            continue;
        }
        let master = (sns, name) == MASTER_SERVICE;
        // A pod's own namespace wins over `default` for a Service named the same.
        if (links && sns == ns) || (master && !chosen.contains_key(name)) {
            chosen.insert(name, s);
        }
    }
    let mut out = Vec::new();
    for (name, s) in chosen {
        let prefix = name.to_ascii_uppercase().replace('-', "_");
        let ip = &s.spec.cluster_ip;
        let Some(first) = s.spec.ports.first() else {
            continue;
        };
        out.push((format!("{prefix}_SERVICE_HOST"), ip.clone()));
        out.push((format!("{prefix}_SERVICE_PORT"), first.port.to_string()));
        for p in s.spec.ports.iter().filter(|p| !p.name.is_empty()) {
            let port_name = p.name.to_ascii_uppercase().replace('-', "_");
            out.push((
                format!("{prefix}_SERVICE_PORT_{port_name}"),
                p.port.to_string(),
            ));
        }
        let proto =
            |p: &rudder_protocol::resources::ServicePort| p.protocol.unwrap_or_default().as_str();
        out.push((
            format!("{prefix}_PORT"),
            format!(
                "{}://{ip}:{}",
                proto(first).to_ascii_lowercase(),
                first.port
            ),
        ));
        for p in &s.spec.ports {
            let upper = proto(p);
            let base = format!("{prefix}_PORT_{}_{upper}", p.port);
            out.push((
                base.clone(),
                format!("{}://{ip}:{}", upper.to_ascii_lowercase(), p.port),
            ));
            out.push((format!("{base}_PROTO"), upper.to_ascii_lowercase()));
            out.push((format!("{base}_PORT"), p.port.to_string()));
            out.push((format!("{base}_ADDR"), ip.clone()));
        }
    }
    out
}

impl Objects {
    fn config_map(&self, name: &str) -> Option<&ConfigMap> {
        self.config_maps.get(name).and_then(Option::as_ref)
    }

    fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets.get(name).and_then(Option::as_ref)
    }
}

/// What a pod's fields resolve against besides the pod: its IP, the node's IP and
/// capacity (the default of an unset limit).
#[derive(Debug, Clone, Default)]
pub struct FieldContext {
    /// `status.podIP`.
    pub pod_ip: String,
    /// `status.hostIP`.
    pub host_ip: String,
    /// The node's allocatable resources.
    pub capacity: BTreeMap<String, Quantity>,
}

/// A container's resolved environment and what was skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// `NAME=value` pairs, in definition order.
    pub vars: Vec<String>,
    /// Warnings for an `InvalidEnvironmentVariableNames` event.
    pub warnings: Vec<String>,
}

/// The API server's rule for variable names (Kubernetes' relaxed rule, its default
/// since 1.32: printable ASCII but `=`), so that the kubelet skips exactly what the API
/// would refuse in `env`.
fn is_env_var_name(name: &str) -> bool {
    crate::apiserver::validation::is_env_var_name(name).is_empty()
}

/// `$(VAR)` references in `value` expanded from `vars`; `$$` is a literal `$`; an
/// unknown reference stays as written (Kubernetes' `expansion.Expand`).
pub fn expand(value: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('(') {
            match r.find(')') {
                Some(end) => {
                    let name = &r[..end];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &r[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = r;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The value of pod field `path` (`metadata.labels['x']` included).
pub fn pod_field(pod: &Pod, path: &str, ctx: &FieldContext) -> Result<String, String> {
    let subscript = |kind: &str| {
        path.strip_prefix(&format!("metadata.{kind}['"))
            .and_then(|r| r.strip_suffix("']"))
            .map(str::to_owned)
    };
    if let Some(k) = subscript("labels") {
        return Ok(pod.metadata.labels.get(&k).cloned().unwrap_or_default());
    }
    if let Some(k) = subscript("annotations") {
        return Ok(pod
            .metadata
            .annotations
            .get(&k)
            .cloned()
            .unwrap_or_default());
    }
    Ok(match path {
        "metadata.name" => pod.metadata.name.clone(),
        "metadata.namespace" => pod.metadata.namespace.clone(),
        "metadata.uid" => pod.metadata.uid.clone(),
        "metadata.labels" => format_map(&pod.metadata.labels),
        "metadata.annotations" => format_map(&pod.metadata.annotations),
        "spec.nodeName" => pod.spec.node_name.clone(),
        "spec.serviceAccountName" => pod.spec.service_account_name.clone(),
        "status.podIP" | "status.podIPs" => ctx.pod_ip.clone(),
        "status.hostIP" | "status.hostIPs" => ctx.host_ip.clone(),
        other => return Err(format!("unsupported fieldPath: {other}")),
    })
}

/// Labels or annotations as the downward API writes them: sorted `k="v"` lines.
fn format_map(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value of a resource selector (Kubernetes' `ExtractContainerResourceValue`): the
/// container's limit (the node's capacity when unset) or request, divided by the
/// divisor and rounded up.
pub fn resource_field(
    pod: &Pod,
    default_container: &str,
    sel: &ResourceFieldSelector,
    ctx: &FieldContext,
) -> Result<String, String> {
    let name = if sel.container_name.is_empty() {
        default_container
    } else {
        sel.container_name.as_str()
    };
    let c = pod
        .spec
        .containers
        .iter()
        .chain(&pod.spec.init_containers)
        .find(|c| c.name == name)
        .ok_or_else(|| format!("container {name} not found"))?;
    let (kind, resource) = sel
        .resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource: {}", sel.resource))?;
    let value = match kind {
        "limits" => c
            .resources
            .limits
            .get(resource)
            .or_else(|| ctx.capacity.get(resource)),
        "requests" => c.resources.requests.get(resource),
        _ => None,
    };
    let divisor = sel.divisor.as_ref().filter(|d| !d.is_zero());
    let ceil_div = |a: i64, b: i64| if b <= 0 { a } else { (a + b - 1).div_euclid(b) };
    let out = match resource {
        "cpu" => {
            let milli = value.map_or(0, Quantity::milli_value);
            ceil_div(milli, divisor.map_or(1000, Quantity::milli_value))
        }
        "memory" | "ephemeral-storage" => {
            let v = value.map_or(0, Quantity::value);
            ceil_div(v, divisor.map_or(1, Quantity::value))
        }
        _ => return Err(format!("unsupported container resource: {}", sel.resource)),
    };
    Ok(out.to_string())
}

/// Container `c`'s environment (see the module docs); the error says what is missing.
pub fn resolve_env(
    pod: &Pod,
    c: &Container,
    objects: &Objects,
    ctx: &FieldContext,
) -> Result<Environment, String> {
    let ns = &pod.metadata.namespace;
    let mut order: Vec<String> = Vec::new();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let set = |order: &mut Vec<String>, vars: &mut BTreeMap<String, String>, k: String, v| {
        if vars.insert(k.clone(), v).is_none() {
            order.push(k);
        }
    };
    let mut warnings = Vec::new();
    for (k, v) in &objects.service_env {
        set(&mut order, &mut vars, k.clone(), v.clone());
    }
    for from in &c.env_from {
        let (entries, what, name): (Vec<(String, String)>, &str, &str) =
            if let Some(r) = &from.config_map_ref {
                match objects.config_map(&r.name) {
                    Some(cm) => (
                        cm.data
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        "configMap",
                        &r.name,
                    ),
                    None if r.optional == Some(true) => continue,
                    None => return Err(Source::ConfigMap.not_found(&r.name)),
                }
            } else if let Some(r) = &from.secret_ref {
                match objects.secret(&r.name) {
                    Some(s) => (
                        s.data
                            .iter()
                            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
                            .collect(),
                        "secret",
                        &r.name,
                    ),
                    None if r.optional == Some(true) => continue,
                    None => return Err(Source::Secret.not_found(&r.name)),
                }
            } else {
                continue;
            };
        let mut invalid = Vec::new();
        for (k, v) in entries {
            let key = format!("{}{k}", from.prefix);
            if is_env_var_name(&key) {
                set(&mut order, &mut vars, key, v);
            } else {
                invalid.push(key);
            }
        }
        if !invalid.is_empty() {
            invalid.sort();
            warnings.push(format!(
                "Keys [{}] from the EnvFrom {what} {ns}/{name} were skipped since they are considered invalid environment variable names.",
                invalid.join(", ")
            ));
        }
    }
    for e in &c.env {
        let value = match &e.value_from {
            None => expand(&e.value, &vars),
            Some(from) => {
                if let Some(f) = &from.field_ref {
                    pod_field(pod, &f.field_path, ctx)?
                } else if let Some(r) = &from.resource_field_ref {
                    resource_field(pod, &c.name, r, ctx)?
                } else if let Some(k) = &from.config_map_key_ref {
                    let optional = k.optional == Some(true);
                    let Some(cm) = objects.config_map(&k.name) else {
                        if optional {
                            continue;
                        }
                        return Err(Source::ConfigMap.not_found(&k.name));
                    };
                    let value = cm.data.get(&k.key).cloned().or_else(|| {
                        cm.binary_data
                            .get(&k.key)
                            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                    });
                    match value {
                        Some(v) => v,
                        None if optional => continue,
                        None => {
                            return Err(format!(
                                "couldn't find key {} in ConfigMap {ns}/{}",
                                k.key, k.name
                            ))
                        }
                    }
                } else if let Some(k) = &from.secret_key_ref {
                    let optional = k.optional == Some(true);
                    let Some(s) = objects.secret(&k.name) else {
                        if optional {
                            continue;
                        }
                        return Err(Source::Secret.not_found(&k.name));
                    };
                    match s.data.get(&k.key) {
                        Some(v) => String::from_utf8_lossy(&v.0).into_owned(),
                        None if optional => continue,
                        None => {
                            return Err(format!(
                                "couldn't find key {} in Secret {ns}/{}",
                                k.key, k.name
                            ))
                        }
                    }
                } else {
                    String::new()
                }
            }
        };
        set(&mut order, &mut vars, e.name.clone(), value);
    }
    let vars_out = order
        .into_iter()
        .map(|k| {
            let v = vars.get(&k).cloned().unwrap_or_default();
            format!("{k}={v}")
        })
        .collect();
    Ok(Environment {
        vars: vars_out,
        warnings,
    })
}

/// True for the volumes whose files the kubelet writes.
pub fn is_projected(v: &Volume) -> bool {
    v.config_map.is_some()
        || v.secret.is_some()
        || v.downward_api.is_some()
        || v.projected.is_some()
}

fn mode_of(mode: Option<i32>, default: Option<i32>) -> u32 {
    mode.or(default).unwrap_or(DEFAULT_MODE).clamp(0, 0o777) as u32
}

/// Keys (all, or `items`) of an object as files.
fn keyed_files(
    out: &mut Payload,
    data: &BTreeMap<String, Vec<u8>>,
    items: &[KeyToPath],
    default_mode: Option<i32>,
    missing_key: impl Fn(&str) -> String,
    optional: bool,
) -> Result<(), String> {
    if items.is_empty() {
        for (k, v) in data {
            out.insert(
                k.clone(),
                FileProjection {
                    data: v.clone(),
                    mode: mode_of(None, default_mode),
                },
            );
        }
        return Ok(());
    }
    for item in items {
        match data.get(&item.key) {
            Some(v) => {
                out.insert(
                    item.path.clone(),
                    FileProjection {
                        data: v.clone(),
                        mode: mode_of(item.mode, default_mode),
                    },
                );
            }
            None if optional => {}
            None => return Err(missing_key(&item.key)),
        }
    }
    Ok(())
}

/// A ConfigMap or a Secret, as a source of keyed files.
#[derive(Debug, Clone, Copy)]
enum Source {
    ConfigMap,
    Secret,
}

impl Source {
    /// The object's keys and their bytes (a ConfigMap's `data` and `binaryData`), or
    /// `None` when it is missing.
    fn data(self, objects: &Objects, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        match self {
            Source::ConfigMap => objects.config_map(name).map(|cm| {
                cm.data
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
                    .chain(cm.binary_data.iter().map(|(k, v)| (k.clone(), v.0.clone())))
                    .collect()
            }),
            Source::Secret => objects.secret(name).map(|s| {
                s.data
                    .iter()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect()
            }),
        }
    }

    /// Kubernetes' messages for a missing object and a missing key.
    fn not_found(self, name: &str) -> String {
        match self {
            Source::ConfigMap => format!("configmap \"{name}\" not found"),
            Source::Secret => format!("secret \"{name}\" not found"),
        }
    }

    fn missing_key(self, key: &str) -> String {
        match self {
            Source::ConfigMap => format!("configmap references non-existent config key: {key}"),
            Source::Secret => format!("references non-existent secret key: {key}"),
        }
    }
}

/// The files of object `name` of `source` (all its keys, or `items`).
fn object_files(
    out: &mut Payload,
    objects: &Objects,
    source: Source,
    name: &str,
    items: &[KeyToPath],
    default_mode: Option<i32>,
    optional: Option<bool>,
) -> Result<(), String> {
    let optional = optional == Some(true);
    match source.data(objects, name) {
        Some(data) => keyed_files(
            out,
            &data,
            items,
            default_mode,
            |k| source.missing_key(k),
            optional,
        ),
        None if optional => Ok(()),
        None => Err(source.not_found(name)),
    }
}

fn downward_files(
    out: &mut Payload,
    pod: &Pod,
    items: &[DownwardApiVolumeFile],
    default_mode: Option<i32>,
    ctx: &FieldContext,
) -> Result<(), String> {
    for f in items {
        let value = match (&f.field_ref, &f.resource_field_ref) {
            (Some(ObjectFieldSelector { field_path, .. }), _) => pod_field(pod, field_path, ctx)?,
            (None, Some(r)) => resource_field(pod, "", r, ctx)?,
            (None, None) => String::new(),
        };
        out.insert(
            f.path.clone(),
            FileProjection {
                data: value.into_bytes(),
                mode: mode_of(f.mode, default_mode),
            },
        );
    }
    Ok(())
}

/// The files of volume `v` (None for volumes the kubelet does not write); the error
/// names what is missing.
pub fn volume_payload(
    pod: &Pod,
    v: &Volume,
    objects: &Objects,
    ctx: &FieldContext,
) -> Option<Result<Payload, String>> {
    let mut out = Payload::new();
    let result = if let Some(c) = &v.config_map {
        object_files(
            &mut out,
            objects,
            Source::ConfigMap,
            &c.name,
            &c.items,
            c.default_mode,
            c.optional,
        )
    } else if let Some(s) = &v.secret {
        object_files(
            &mut out,
            objects,
            Source::Secret,
            &s.secret_name,
            &s.items,
            s.default_mode,
            s.optional,
        )
    } else if let Some(d) = &v.downward_api {
        downward_files(&mut out, pod, &d.items, d.default_mode, ctx)
    } else if let Some(p) = &v.projected {
        p.sources.iter().try_for_each(|s| {
            if let Some(c) = &s.config_map {
                object_files(
                    &mut out,
                    objects,
                    Source::ConfigMap,
                    &c.name,
                    &c.items,
                    p.default_mode,
                    c.optional,
                )
            } else if let Some(c) = &s.secret {
                object_files(
                    &mut out,
                    objects,
                    Source::Secret,
                    &c.name,
                    &c.items,
                    p.default_mode,
                    c.optional,
                )
            } else if let Some(d) = &s.downward_api {
                downward_files(&mut out, pod, &d.items, p.default_mode, ctx)
            } else if let Some(t) = &s.service_account_token {
                let token = objects.tokens.get(&TokenSpec::of(t)).ok_or_else(|| {
                    format!(
                        "failed to fetch token: no token of service account \"{}\"",
                        pod.spec.service_account_name
                    )
                })?;
                out.insert(
                    t.path.clone(),
                    FileProjection {
                        data: token.clone().into_bytes(),
                        mode: mode_of(None, p.default_mode),
                    },
                );
                Ok(())
            } else {
                Ok(())
            }
        })
    } else {
        return None;
    };
    Some(result.map(|()| out))
}

#[cfg(test)]
mod tests;
