//! Defaulting: the values Kubernetes fills in when a client leaves a field out, applied
//! by the apiserver to every object it is given before validating it (on create and on
//! update), so that what is stored, and what `kubectl get -o yaml` shows, is what
//! Kubernetes would show.
//!
//! What this module owns: the per-kind defaulters of Kubernetes' `SetDefaults_*`
//! functions, plus the few defaults Kubernetes applies elsewhere but which depend on
//! nothing but the object itself: a pod's `serviceAccountName` (`default`, from the
//! ServiceAccount admission plugin) and `priority` (0, from the Priority plugin), a
//! namespace's `kubernetes` finalizer, a service's single-stack IP family. What it does
//! not: identity and bookkeeping fields (uid, creationTimestamp, resourceVersion,
//! generation, a new pod's `Pending` phase), allocation (cluster IPs, node ports, pod
//! CIDRs), and anything that needs other objects.
//!
//! Defaulting is idempotent: applying it twice gives the same object as applying it once.
//! On update, [`carry_over_allocations`] first copies into the new service what the
//! client may leave out because the apiserver allocated it (cluster IP, node ports), as
//! Kubernetes' service registry does.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rudder_protocol::resources::Deployment;
use rudder_protocol::resources::{
    ClientIpConfig, Container, DeploymentStrategy, DeploymentStrategyType, DnsPolicy,
    DownwardApiVolumeFile, Endpoints, Event, HttpGetAction, IntOrString, IpFamily, IpFamilyPolicy,
    Lease, Namespace, NamespacePhase, Node, ObjectFieldSelector, Pod, PodSpec, PodTemplateSpec,
    Probe, Protocol, PullPolicy, ReplicaSet, ReplicationController, RestartPolicy,
    RollingUpdateDeployment, Scale, Service, ServiceAccount, ServiceType, SessionAffinity,
    SessionAffinityConfig, TaintEffect, TerminationMessagePolicy, Toleration, TolerationOperator,
    TrafficPolicy, UriScheme,
};

/// The scheduler pods are given when they name none.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// Seconds between the termination signal and the kill, when a pod says nothing.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// Where a container writes its termination message, when it says nothing.
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
/// How long a client sticks to one backend under `ClientIP` affinity, by default.
pub const DEFAULT_CLIENT_IP_TIMEOUT_SECONDS: i32 = 10800;
/// The mode of files projected from Secrets and ConfigMaps (0644).
pub const DEFAULT_PROJECTION_MODE: i32 = 0o644;

/// Kubernetes' defaulting of a kind.
pub trait Defaults {
    /// Fills in every field Kubernetes defaults and that is unset.
    fn apply_defaults(&mut self);
}

/// The pull policy Kubernetes gives an image: `Always` for `:latest` or no tag at all
/// (`nginx`, `repo:5000/nginx`), `IfNotPresent` for any other tag or a digest
/// (`nginx:1.25`, `nginx@sha256:...`).
pub fn default_pull_policy(image: &str) -> PullPolicy {
    // An unparsable reference has no tag to speak of; Kubernetes then says IfNotPresent.
    if image.is_empty() {
        return PullPolicy::IfNotPresent;
    }
    let (name, has_digest) = match image.split_once('@') {
        Some((name, _)) => (name, true),
        None => (image, false),
    };
    // A tag follows the last ':' of the last path segment; an earlier ':' is a port.
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    match last_segment.split_once(':').map(|(_, tag)| tag) {
        Some("latest") => PullPolicy::Always,
        Some(_) => PullPolicy::IfNotPresent,
        None if has_digest => PullPolicy::IfNotPresent,
        None => PullPolicy::Always,
    }
}

fn default_probe(probe: &mut Probe) {
    for (field, default) in [
        (&mut probe.timeout_seconds, 1),
        (&mut probe.period_seconds, 10),
        (&mut probe.success_threshold, 1),
        (&mut probe.failure_threshold, 3),
    ] {
        if *field == 0 {
            *field = default;
        }
    }
    if let Some(http) = probe.http_get.as_mut() {
        default_http_get(http);
    }
}

/// Path `/` and scheme HTTP (Kubernetes' `SetDefaults_HTTPGetAction`, for probes and
/// lifecycle hooks alike).
fn default_http_get(http: &mut HttpGetAction) {
    if http.path.is_empty() {
        http.path = "/".to_owned();
    }
    http.scheme.get_or_insert(UriScheme::Http);
}

fn default_container(c: &mut Container, host_network: bool) {
    if c.image_pull_policy.is_none() {
        c.image_pull_policy = Some(default_pull_policy(&c.image));
    }
    if c.termination_message_path.is_empty() {
        c.termination_message_path = DEFAULT_TERMINATION_MESSAGE_PATH.to_owned();
    }
    c.termination_message_policy
        .get_or_insert(TerminationMessagePolicy::File);
    for port in &mut c.ports {
        port.protocol.get_or_insert(Protocol::Tcp);
        if host_network && port.host_port == 0 {
            port.host_port = port.container_port;
        }
    }
    for env in &mut c.env {
        if let Some(field_ref) = env.value_from.as_mut().and_then(|f| f.field_ref.as_mut()) {
            default_field_selector(field_ref);
        }
    }
    for probe in [
        &mut c.liveness_probe,
        &mut c.readiness_probe,
        &mut c.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        default_probe(probe);
    }
    if let Some(lifecycle) = c.lifecycle.as_mut() {
        for hook in [&mut lifecycle.post_start, &mut lifecycle.pre_stop]
            .into_iter()
            .flatten()
        {
            if let Some(http) = hook.http_get.as_mut() {
                default_http_get(http);
            }
        }
    }
}

/// `apiVersion` defaults to `v1` (Kubernetes' `SetDefaults_ObjectFieldSelector`).
fn default_field_selector(f: &mut ObjectFieldSelector) {
    if f.api_version.is_empty() {
        f.api_version = "v1".to_owned();
    }
}

/// The files of a downward API volume or projection.
fn default_downward_files(items: &mut [DownwardApiVolumeFile]) {
    for f in items {
        if let Some(field_ref) = f.field_ref.as_mut() {
            default_field_selector(field_ref);
        }
    }
}

/// The defaults of a pod spec, shared by pods and pod templates (Kubernetes'
/// `SetDefaults_PodSpec` and what it reaches: containers, ports, probes, volumes).
pub fn default_pod_spec(spec: &mut PodSpec) {
    spec.dns_policy.get_or_insert(DnsPolicy::ClusterFirst);
    spec.enable_service_links.get_or_insert(true);
    // Written as `securityContext: {}`, as Kubernetes does; clients rely on it
    // (`kubectl debug` reads the pod's security context without a nil check).
    spec.security_context.get_or_insert_with(Default::default);
    spec.restart_policy.get_or_insert(RestartPolicy::Always);
    spec.termination_grace_period_seconds
        .get_or_insert(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
    if spec.scheduler_name.is_empty() {
        spec.scheduler_name = DEFAULT_SCHEDULER_NAME.to_owned();
    }
    let host_network = spec.host_network;
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut())
    {
        default_container(c, host_network);
    }
    for v in &mut spec.volumes {
        let has_source = v.host_path.is_some()
            || v.empty_dir.is_some()
            || v.secret.is_some()
            || v.config_map.is_some()
            || v.downward_api.is_some()
            || v.projected.is_some()
            || v.persistent_volume_claim.is_some();
        if !has_source {
            v.empty_dir = Some(Default::default());
        }
        if let Some(hp) = v.host_path.as_mut() {
            hp.type_.get_or_insert_with(String::new);
        }
        if let Some(s) = v.secret.as_mut() {
            s.default_mode.get_or_insert(DEFAULT_PROJECTION_MODE);
        }
        if let Some(c) = v.config_map.as_mut() {
            c.default_mode.get_or_insert(DEFAULT_PROJECTION_MODE);
        }
        if let Some(d) = v.downward_api.as_mut() {
            d.default_mode.get_or_insert(DEFAULT_PROJECTION_MODE);
            default_downward_files(&mut d.items);
        }
        if let Some(p) = v.projected.as_mut() {
            p.default_mode.get_or_insert(DEFAULT_PROJECTION_MODE);
            for s in &mut p.sources {
                if let Some(d) = s.downward_api.as_mut() {
                    default_downward_files(&mut d.items);
                }
            }
        }
    }
}

/// The defaults of a controller's pod template: the pod spec's.
pub(crate) fn default_template(template: &mut PodTemplateSpec) {
    default_pod_spec(&mut template.spec);
}

impl Defaults for Pod {
    fn apply_defaults(&mut self) {
        default_pod_spec(&mut self.spec);
        // A resource with a limit but no request requests its limit (SetDefaults_Pod).
        for c in self
            .spec
            .containers
            .iter_mut()
            .chain(self.spec.init_containers.iter_mut())
        {
            let limits = c.resources.limits.clone();
            for (name, limit) in limits {
                c.resources.requests.entry(name).or_insert(limit);
            }
        }
        if self.spec.service_account_name.is_empty() {
            self.spec.service_account_name = "default".to_owned();
        }
        if self.spec.priority_class_name.is_empty() {
            self.spec.priority.get_or_insert(0);
        }
        // Set when the pod is created (Kubernetes' PrepareForCreate) from the defaulted
        // requests and limits; it never changes afterwards.
        if self.status.qos_class.is_none() {
            self.status.qos_class = Some(self.qos_class());
        }
    }
}

fn is_unset_target(t: &Option<IntOrString>) -> bool {
    match t {
        None | Some(IntOrString::Int(0)) => true,
        Some(IntOrString::String(s)) => s.is_empty(),
        Some(IntOrString::Int(_)) => false,
    }
}

impl Defaults for Service {
    fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        let affinity = *spec.session_affinity.get_or_insert(SessionAffinity::None);
        if affinity == SessionAffinity::ClientIp {
            let config = spec
                .session_affinity_config
                .get_or_insert_with(SessionAffinityConfig::default);
            config
                .client_ip
                .get_or_insert_with(ClientIpConfig::default)
                .timeout_seconds
                .get_or_insert(DEFAULT_CLIENT_IP_TIMEOUT_SECONDS);
        }
        let ty = *spec.type_.get_or_insert(ServiceType::ClusterIp);
        for port in &mut spec.ports {
            port.protocol.get_or_insert(Protocol::Tcp);
            if is_unset_target(&port.target_port) {
                port.target_port = Some(IntOrString::Int(port.port));
            }
        }
        if matches!(ty, ServiceType::NodePort | ServiceType::LoadBalancer) {
            spec.external_traffic_policy
                .get_or_insert(TrafficPolicy::Cluster);
        }
        if ty != ServiceType::ExternalName {
            spec.internal_traffic_policy
                .get_or_insert(TrafficPolicy::Cluster);
            // clusterIP and clusterIPs[0] are the same address, whichever was given.
            if spec.cluster_ip.is_empty() {
                if let Some(first) = spec.cluster_ips.first() {
                    spec.cluster_ip.clone_from(first);
                }
            } else if spec.cluster_ips.is_empty() {
                spec.cluster_ips = vec![spec.cluster_ip.clone()];
            }
            // Rudder's clusters are single-stack; the family follows the address.
            spec.ip_family_policy
                .get_or_insert(IpFamilyPolicy::SingleStack);
            if spec.ip_families.is_empty() {
                let family = match spec.cluster_ip.parse::<IpAddr>() {
                    Ok(IpAddr::V6(_)) => IpFamily::Ipv6,
                    _ => IpFamily::Ipv4,
                };
                spec.ip_families = vec![family];
            }
        }
    }
}

/// Copies into `new` what the apiserver allocated for `old` and a client may omit when
/// it replaces the service (`kubectl apply`/`replace` of a manifest without
/// `clusterIP`): the cluster IPs, and each node port by port name, unless the new
/// object uses that node port elsewhere. Call it before [`Defaults::apply_defaults`] on
/// an update.
pub fn carry_over_allocations(new: &mut Service, old: &Service) {
    let (new_type, old_type) = (
        new.spec.type_.unwrap_or(ServiceType::ClusterIp),
        old.spec.type_.unwrap_or(ServiceType::ClusterIp),
    );
    if new_type != ServiceType::ExternalName
        && old_type != ServiceType::ExternalName
        && new.spec.cluster_ip.is_empty()
        && new.spec.cluster_ips.is_empty()
    {
        new.spec.cluster_ip.clone_from(&old.spec.cluster_ip);
        new.spec.cluster_ips.clone_from(&old.spec.cluster_ips);
    }
    let node_ports =
        |t: ServiceType| matches!(t, ServiceType::NodePort | ServiceType::LoadBalancer);
    if node_ports(new_type) && node_ports(old_type) {
        let by_name: BTreeMap<&str, i32> = old
            .spec
            .ports
            .iter()
            .filter(|p| p.node_port != 0)
            .map(|p| (p.name.as_str(), p.node_port))
            .collect();
        let used: Vec<i32> = new
            .spec
            .ports
            .iter()
            .map(|p| p.node_port)
            .filter(|n| *n != 0)
            .collect();
        for port in &mut new.spec.ports {
            if port.node_port == 0 {
                if let Some(&n) = by_name.get(port.name.as_str()) {
                    if !used.contains(&n) {
                        port.node_port = n;
                    }
                }
            }
        }
    }
}

impl Defaults for Deployment {
    fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.replicas.get_or_insert(1);
        let strategy: &mut DeploymentStrategy = &mut spec.strategy;
        let ty = *strategy
            .type_
            .get_or_insert(DeploymentStrategyType::RollingUpdate);
        if ty == DeploymentStrategyType::RollingUpdate {
            let ru = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateDeployment::default);
            ru.max_unavailable
                .get_or_insert_with(|| IntOrString::String("25%".to_owned()));
            ru.max_surge
                .get_or_insert_with(|| IntOrString::String("25%".to_owned()));
        }
        spec.revision_history_limit.get_or_insert(10);
        spec.progress_deadline_seconds.get_or_insert(600);
        default_template(&mut spec.template);
    }
}

impl Defaults for ReplicaSet {
    fn apply_defaults(&mut self) {
        self.spec.replicas.get_or_insert(1);
        default_template(&mut self.spec.template);
    }
}

impl Defaults for ReplicationController {
    fn apply_defaults(&mut self) {
        self.spec.replicas.get_or_insert(1);
        if let Some(template) = self.spec.template.as_mut() {
            // The selector and the controller's own labels follow the template's labels.
            if self.spec.selector.is_empty() {
                self.spec.selector.clone_from(&template.metadata.labels);
            }
            if self.metadata.labels.is_empty() {
                self.metadata.labels.clone_from(&template.metadata.labels);
            }
            default_template(template);
        }
    }
}

/// The finalizer a namespace gets at create (in `spec.finalizers`); the namespace
/// controller removes it once the namespace is empty. Not a default: set on create only.
pub const NAMESPACE_FINALIZER: &str = "kubernetes";

impl Defaults for Namespace {
    fn apply_defaults(&mut self) {
        self.status.phase.get_or_insert(NamespacePhase::Active);
    }
}

/// The `tolerationSeconds` Kubernetes' DefaultTolerationSeconds admission gives pods.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Kubernetes' DefaultTolerationSeconds admission (run at pod create, not on every
/// write): a pod that does not tolerate the `node.kubernetes.io/not-ready` or
/// `node.kubernetes.io/unreachable` NoExecute taints gets a toleration of each for
/// `seconds`, so the node lifecycle controller evicts it that long after its node fails.
pub fn add_default_tolerations(pod: &mut Pod, seconds: i64) {
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let tolerated = pod.spec.tolerations.iter().any(|t| {
            (t.key.is_empty() || t.key == key)
                && t.effect.is_none_or(|e| e == TaintEffect::NoExecute)
        });
        if !tolerated {
            pod.spec.tolerations.push(Toleration {
                key: key.to_owned(),
                operator: Some(TolerationOperator::Exists),
                value: String::new(),
                effect: Some(TaintEffect::NoExecute),
                toleration_seconds: Some(seconds),
            });
        }
    }
}

impl Defaults for Node {
    fn apply_defaults(&mut self) {
        // What a node has is what pods may use, unless the kubelet says otherwise.
        if self.status.allocatable.is_empty() && !self.status.capacity.is_empty() {
            self.status.allocatable = self.status.capacity.clone();
        }
    }
}

impl Defaults for Endpoints {
    fn apply_defaults(&mut self) {
        for subset in &mut self.subsets {
            for port in &mut subset.ports {
                port.protocol.get_or_insert(Protocol::Tcp);
            }
        }
    }
}

impl Defaults for ServiceAccount {
    /// Nothing to default.
    fn apply_defaults(&mut self) {}
}

impl Defaults for Lease {
    /// Nothing to default.
    fn apply_defaults(&mut self) {}
}

impl Defaults for Event {
    /// Nothing to default.
    fn apply_defaults(&mut self) {}
}

impl Defaults for Scale {
    /// Nothing to default.
    fn apply_defaults(&mut self) {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rudder_protocol::resources::{
        ContainerPort, EndpointPort, EndpointSubset, EnvVar, EnvVarSource, HostPathVolumeSource,
        HttpGetAction, ObjectFieldSelector, Quantity, SecretVolumeSource, ServicePort, Volume,
    };

    use super::*;

    #[test]
    fn image_pull_policy() {
        let table = [
            ("no tag", "nginx", PullPolicy::Always),
            ("latest", "nginx:latest", PullPolicy::Always),
            ("tag", "nginx:1.25", PullPolicy::IfNotPresent),
            (
                "registry port, no tag",
                "repo:5000/nginx",
                PullPolicy::Always,
            ),
            (
                "registry port and tag",
                "repo:5000/nginx:1.25",
                PullPolicy::IfNotPresent,
            ),
            (
                "registry port and latest",
                "repo:5000/team/nginx:latest",
                PullPolicy::Always,
            ),
            (
                "digest",
                "nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
                PullPolicy::IfNotPresent,
            ),
            (
                "latest and digest",
                "nginx:latest@sha256:abc",
                PullPolicy::Always,
            ),
            ("empty", "", PullPolicy::IfNotPresent),
        ];
        for (name, image, want) in table {
            assert_eq!(default_pull_policy(image), want, "{name}");
        }
        let mut pod = Pod::new("p");
        for image in ["nginx", "nginx:1.25"] {
            pod.spec.containers.push(Container {
                name: image.replace([':', '.'], "-"),
                image: image.into(),
                ..Container::default()
            });
        }
        pod.spec.containers.push(Container {
            name: "explicit".into(),
            image: "nginx".into(),
            image_pull_policy: Some(PullPolicy::Never),
            ..Container::default()
        });
        pod.apply_defaults();
        let policies: Vec<_> = pod
            .spec
            .containers
            .iter()
            .map(|c| c.image_pull_policy)
            .collect();
        assert_eq!(
            policies,
            vec![
                Some(PullPolicy::Always),
                Some(PullPolicy::IfNotPresent),
                Some(PullPolicy::Never)
            ]
        );
    }

    fn minimal_pod() -> Pod {
        let mut pod = Pod::new("web");
        pod.spec.containers.push(Container {
            name: "web".into(),
            image: "nginx:1.25".into(),
            ports: vec![ContainerPort {
                container_port: 80,
                ..ContainerPort::default()
            }],
            readiness_probe: Some(Probe {
                http_get: Some(HttpGetAction {
                    port: IntOrString::Int(80),
                    ..HttpGetAction::default()
                }),
                ..Probe::default()
            }),
            env: vec![EnvVar {
                name: "POD".into(),
                value: String::new(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: String::new(),
                        field_path: "metadata.name".into(),
                    }),
                    ..Default::default()
                }),
            }],
            ..Container::default()
        });
        pod
    }

    #[test]
    fn pod_defaults() {
        let mut pod = minimal_pod();
        pod.apply_defaults();
        let spec = &pod.spec;
        assert_eq!(spec.restart_policy, Some(RestartPolicy::Always));
        assert_eq!(spec.termination_grace_period_seconds, Some(30));
        assert_eq!(spec.dns_policy, Some(DnsPolicy::ClusterFirst));
        assert_eq!(spec.scheduler_name, "default-scheduler");
        assert_eq!(spec.service_account_name, "default");
        assert_eq!(spec.priority, Some(0));
        let c = &spec.containers[0];
        assert_eq!(c.termination_message_path, "/dev/termination-log");
        assert_eq!(
            c.termination_message_policy,
            Some(TerminationMessagePolicy::File)
        );
        assert_eq!(c.ports[0].protocol, Some(Protocol::Tcp));
        assert_eq!(c.ports[0].host_port, 0);
        let probe = c.readiness_probe.as_ref().unwrap();
        assert_eq!(
            (
                probe.timeout_seconds,
                probe.period_seconds,
                probe.success_threshold,
                probe.failure_threshold
            ),
            (1, 10, 1, 3)
        );
        let http = probe.http_get.as_ref().unwrap();
        assert_eq!(http.scheme, Some(UriScheme::Http));
        assert_eq!(http.path, "/");
        let field_ref = c.env[0]
            .value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap();
        assert_eq!(field_ref.api_version, "v1");
    }

    #[test]
    fn pod_defaults_keep_what_is_given() {
        let mut pod = minimal_pod();
        pod.spec.restart_policy = Some(RestartPolicy::Never);
        pod.spec.termination_grace_period_seconds = Some(0);
        pod.spec.dns_policy = Some(DnsPolicy::Default);
        pod.spec.scheduler_name = "mine".into();
        pod.spec.service_account_name = "robot".into();
        pod.spec.priority_class_name = "high".into();
        if let Some(p) = pod.spec.containers[0].readiness_probe.as_mut() {
            p.period_seconds = 5;
            p.failure_threshold = 1;
        }
        pod.spec.containers[0].ports[0].protocol = Some(Protocol::Udp);
        let before = pod.clone();
        pod.apply_defaults();
        assert_eq!(pod.spec.restart_policy, before.spec.restart_policy);
        assert_eq!(pod.spec.termination_grace_period_seconds, Some(0));
        assert_eq!(pod.spec.dns_policy, Some(DnsPolicy::Default));
        assert_eq!(pod.spec.scheduler_name, "mine");
        assert_eq!(pod.spec.service_account_name, "robot");
        assert_eq!(
            pod.spec.priority, None,
            "resolved from the class at admission"
        );
        let probe = pod.spec.containers[0].readiness_probe.as_ref().unwrap();
        assert_eq!((probe.period_seconds, probe.failure_threshold), (5, 1));
        assert_eq!(
            pod.spec.containers[0].ports[0].protocol,
            Some(Protocol::Udp)
        );
    }

    #[test]
    fn pod_defaults_requests_from_limits_and_host_ports() {
        let mut pod = minimal_pod();
        let r = &mut pod.spec.containers[0].resources;
        r.limits.insert("cpu".into(), Quantity::parse("1").unwrap());
        r.limits
            .insert("memory".into(), Quantity::parse("1Gi").unwrap());
        r.requests
            .insert("cpu".into(), Quantity::parse("250m").unwrap());
        pod.spec.host_network = true;
        pod.apply_defaults();
        let r = &pod.spec.containers[0].resources;
        assert_eq!(r.requests["cpu"].as_str(), "250m");
        assert_eq!(r.requests["memory"].as_str(), "1Gi");
        assert_eq!(pod.spec.containers[0].ports[0].host_port, 80);
    }

    #[test]
    fn volume_defaults() {
        let mut spec = PodSpec {
            volumes: vec![
                Volume {
                    name: "scratch".into(),
                    ..Volume::default()
                },
                Volume {
                    name: "host".into(),
                    host_path: Some(HostPathVolumeSource {
                        path: "/var".into(),
                        type_: None,
                    }),
                    ..Volume::default()
                },
                Volume {
                    name: "secret".into(),
                    secret: Some(SecretVolumeSource {
                        secret_name: "s".into(),
                        ..SecretVolumeSource::default()
                    }),
                    ..Volume::default()
                },
            ],
            ..PodSpec::default()
        };
        use rudder_protocol::resources::{
            DownwardApiProjection, DownwardApiVolumeSource, ProjectedVolumeSource, VolumeProjection,
        };
        let file = DownwardApiVolumeFile {
            path: "name".into(),
            field_ref: Some(ObjectFieldSelector {
                api_version: String::new(),
                field_path: "metadata.name".into(),
            }),
            ..Default::default()
        };
        spec.volumes.push(Volume {
            name: "down".into(),
            downward_api: Some(DownwardApiVolumeSource {
                items: vec![file.clone()],
                default_mode: None,
            }),
            ..Volume::default()
        });
        spec.volumes.push(Volume {
            name: "proj".into(),
            projected: Some(ProjectedVolumeSource {
                sources: vec![VolumeProjection {
                    downward_api: Some(DownwardApiProjection { items: vec![file] }),
                    ..Default::default()
                }],
                default_mode: None,
            }),
            ..Volume::default()
        });
        default_pod_spec(&mut spec);
        let down = spec.volumes[3].downward_api.as_ref().unwrap();
        assert_eq!(down.default_mode, Some(0o644));
        assert_eq!(down.items[0].field_ref.as_ref().unwrap().api_version, "v1");
        let proj = spec.volumes[4].projected.as_ref().unwrap();
        assert_eq!(proj.default_mode, Some(0o644));
        let items = &proj.sources[0].downward_api.as_ref().unwrap().items;
        assert_eq!(items[0].field_ref.as_ref().unwrap().api_version, "v1");
        assert!(spec.volumes[3].empty_dir.is_none(), "a source of its own");
        assert!(spec.volumes[0].empty_dir.is_some());
        assert_eq!(
            spec.volumes[1].host_path.as_ref().unwrap().type_.as_deref(),
            Some("")
        );
        assert_eq!(
            spec.volumes[2].secret.as_ref().unwrap().default_mode,
            Some(0o644)
        );
    }

    #[test]
    fn defaults_are_idempotent() {
        let mut pod = minimal_pod();
        pod.apply_defaults();
        let once = pod.clone();
        pod.apply_defaults();
        assert_eq!(pod, once);
        let mut d = Deployment::new("web");
        d.spec.template.spec = minimal_pod().spec;
        d.apply_defaults();
        let once = d.clone();
        d.apply_defaults();
        assert_eq!(d, once);
    }

    fn service(ty: Option<ServiceType>) -> Service {
        let mut s = Service::new("web");
        s.spec.type_ = ty;
        s.spec.ports = vec![
            ServicePort {
                name: "http".into(),
                port: 80,
                ..ServicePort::default()
            },
            ServicePort {
                name: "named".into(),
                port: 443,
                target_port: Some(IntOrString::String("https".into())),
                ..ServicePort::default()
            },
            ServicePort {
                name: "zero".into(),
                port: 8080,
                target_port: Some(IntOrString::Int(0)),
                ..ServicePort::default()
            },
        ];
        s
    }

    #[test]
    fn service_defaults() {
        let mut s = service(None);
        s.apply_defaults();
        let spec = &s.spec;
        assert_eq!(spec.type_, Some(ServiceType::ClusterIp));
        assert_eq!(spec.session_affinity, Some(SessionAffinity::None));
        assert_eq!(spec.session_affinity_config, None);
        assert_eq!(spec.internal_traffic_policy, Some(TrafficPolicy::Cluster));
        assert_eq!(spec.external_traffic_policy, None);
        assert_eq!(spec.ip_family_policy, Some(IpFamilyPolicy::SingleStack));
        assert_eq!(spec.ip_families, vec![IpFamily::Ipv4]);
        let targets: Vec<_> = spec.ports.iter().map(|p| p.target_port.clone()).collect();
        assert_eq!(
            targets,
            vec![
                Some(IntOrString::Int(80)),
                Some(IntOrString::String("https".into())),
                Some(IntOrString::Int(8080))
            ]
        );
        assert!(spec.ports.iter().all(|p| p.protocol == Some(Protocol::Tcp)));
    }

    #[test]
    fn service_type_dependent_defaults() {
        let table = [
            (
                "NodePort",
                ServiceType::NodePort,
                Some(TrafficPolicy::Cluster),
                Some(TrafficPolicy::Cluster),
            ),
            (
                "LoadBalancer",
                ServiceType::LoadBalancer,
                Some(TrafficPolicy::Cluster),
                Some(TrafficPolicy::Cluster),
            ),
            ("ExternalName", ServiceType::ExternalName, None, None),
        ];
        for (name, ty, external, internal) in table {
            let mut s = service(Some(ty));
            s.apply_defaults();
            assert_eq!(s.spec.external_traffic_policy, external, "{name}");
            assert_eq!(s.spec.internal_traffic_policy, internal, "{name}");
        }
        let mut s = service(None);
        s.spec.session_affinity = Some(SessionAffinity::ClientIp);
        s.apply_defaults();
        assert_eq!(
            s.spec
                .session_affinity_config
                .and_then(|c| c.client_ip)
                .and_then(|c| c.timeout_seconds),
            Some(10800)
        );
        let mut s = service(None);
        s.spec.cluster_ip = "fd00::10".into();
        s.apply_defaults();
        assert_eq!(s.spec.cluster_ips, vec!["fd00::10".to_owned()]);
        assert_eq!(s.spec.ip_families, vec![IpFamily::Ipv6]);
        let mut s = service(None);
        s.spec.cluster_ips = vec!["10.96.0.5".into()];
        s.apply_defaults();
        assert_eq!(s.spec.cluster_ip, "10.96.0.5");
    }

    #[test]
    fn carrying_over_allocations() {
        let mut old = service(Some(ServiceType::NodePort));
        old.spec.cluster_ip = "10.96.0.7".into();
        old.spec.cluster_ips = vec!["10.96.0.7".into()];
        old.spec.ports[0].node_port = 30080;
        old.spec.ports[1].node_port = 30443;

        let mut new = service(Some(ServiceType::NodePort));
        new.spec.ports[2].node_port = 30443; // taken by another port now
        carry_over_allocations(&mut new, &old);
        assert_eq!(new.spec.cluster_ip, "10.96.0.7");
        assert_eq!(new.spec.cluster_ips, vec!["10.96.0.7".to_owned()]);
        let ports: Vec<i32> = new.spec.ports.iter().map(|p| p.node_port).collect();
        assert_eq!(ports, vec![30080, 0, 30443]);

        let mut new = service(Some(ServiceType::ExternalName));
        carry_over_allocations(&mut new, &old);
        assert_eq!(new.spec.cluster_ip, "", "ExternalName releases the IP");

        let mut new = service(Some(ServiceType::ClusterIp));
        new.spec.cluster_ip = "10.96.0.9".into();
        carry_over_allocations(&mut new, &old);
        assert_eq!(new.spec.cluster_ip, "10.96.0.9", "a given IP is kept");
        assert!(new.spec.ports.iter().all(|p| p.node_port == 0));
    }

    #[test]
    fn deployment_defaults() {
        let mut d = Deployment::new("web");
        d.spec.template.spec = minimal_pod().spec;
        d.apply_defaults();
        assert_eq!(d.spec.replicas, Some(1));
        assert_eq!(
            d.spec.strategy.type_,
            Some(DeploymentStrategyType::RollingUpdate)
        );
        let ru = d.spec.strategy.rolling_update.as_ref().unwrap();
        assert_eq!(ru.max_surge, Some(IntOrString::String("25%".into())));
        assert_eq!(ru.max_unavailable, Some(IntOrString::String("25%".into())));
        assert_eq!(d.spec.revision_history_limit, Some(10));
        assert_eq!(d.spec.progress_deadline_seconds, Some(600));
        let t = &d.spec.template.spec;
        assert_eq!(t.restart_policy, Some(RestartPolicy::Always));
        assert_eq!(t.scheduler_name, "default-scheduler");
        assert_eq!(
            t.containers[0].image_pull_policy,
            Some(PullPolicy::IfNotPresent)
        );
        assert_eq!(t.service_account_name, "", "admission sets it on pods only");
        assert_eq!(t.priority, None);

        let mut d = Deployment::new("web");
        d.spec.replicas = Some(0);
        d.spec.strategy.type_ = Some(DeploymentStrategyType::Recreate);
        d.apply_defaults();
        assert_eq!(d.spec.replicas, Some(0));
        assert_eq!(d.spec.strategy.rolling_update, None);

        let mut d = Deployment::new("web");
        d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
            max_unavailable: Some(IntOrString::Int(0)),
            max_surge: None,
        });
        d.apply_defaults();
        let ru = d.spec.strategy.rolling_update.as_ref().unwrap();
        assert_eq!(ru.max_unavailable, Some(IntOrString::Int(0)));
        assert_eq!(ru.max_surge, Some(IntOrString::String("25%".into())));
    }

    #[test]
    fn replica_set_and_rc_defaults() {
        let mut rs = ReplicaSet::new("web");
        rs.spec.template.spec = minimal_pod().spec;
        rs.apply_defaults();
        assert_eq!(rs.spec.replicas, Some(1));
        assert_eq!(
            rs.spec.template.spec.dns_policy,
            Some(DnsPolicy::ClusterFirst)
        );
        assert!(
            rs.spec.selector.match_labels.is_empty(),
            "apps/v1 never defaults the selector"
        );

        let mut rc = ReplicationController::new("web");
        let mut template = PodTemplateSpec::default();
        template.metadata.labels.insert("app".into(), "web".into());
        template.spec = minimal_pod().spec;
        rc.spec.template = Some(template);
        rc.apply_defaults();
        assert_eq!(rc.spec.replicas, Some(1));
        assert_eq!(rc.spec.selector.get("app").map(String::as_str), Some("web"));
        assert_eq!(
            rc.metadata.labels.get("app").map(String::as_str),
            Some("web")
        );
        assert_eq!(
            rc.spec.template.as_ref().unwrap().spec.restart_policy,
            Some(RestartPolicy::Always)
        );

        let mut rc = ReplicationController::new("web");
        rc.spec.selector.insert("tier".into(), "x".into());
        let mut template = PodTemplateSpec::default();
        template.metadata.labels.insert("app".into(), "web".into());
        rc.spec.template = Some(template);
        rc.metadata.labels.insert("own".into(), "1".into());
        rc.apply_defaults();
        assert_eq!(rc.spec.selector.len(), 1, "a given selector is kept");
        assert_eq!(rc.metadata.labels.get("own").map(String::as_str), Some("1"));
    }

    #[test]
    fn namespace_node_endpoints_defaults() {
        let mut ns = Namespace::new("team-a");
        ns.apply_defaults();
        assert!(
            ns.spec.finalizers.is_empty(),
            "set on create, not defaulted"
        );
        assert_eq!(ns.status.phase, Some(NamespacePhase::Active));
        let mut ns = Namespace::new("team-a");
        ns.status.phase = Some(NamespacePhase::Terminating);
        ns.apply_defaults();
        assert_eq!(ns.status.phase, Some(NamespacePhase::Terminating));

        let mut node = Node::new("n1");
        node.status
            .capacity
            .insert("cpu".into(), Quantity::parse("2").unwrap());
        node.apply_defaults();
        assert_eq!(node.status.allocatable["cpu"].as_str(), "2");

        let mut ep = Endpoints::new("web");
        ep.subsets.push(EndpointSubset {
            ports: vec![EndpointPort {
                port: 80,
                ..EndpointPort::default()
            }],
            ..EndpointSubset::default()
        });
        ep.apply_defaults();
        assert_eq!(ep.subsets[0].ports[0].protocol, Some(Protocol::Tcp));
    }

    #[test]
    fn default_toleration_seconds_admission() {
        let tol = |key: &str, effect: Option<TaintEffect>, secs: Option<i64>| Toleration {
            key: key.into(),
            operator: Some(TolerationOperator::Exists),
            effect,
            toleration_seconds: secs,
            ..Toleration::default()
        };
        let nr = "node.kubernetes.io/not-ready";
        let ur = "node.kubernetes.io/unreachable";
        // (name, given tolerations, want (key, seconds) of the result)
        type Case = (
            &'static str,
            Vec<Toleration>,
            Vec<(&'static str, Option<i64>)>,
        );
        let cases: Vec<Case> = vec![
            (
                "none: both added",
                vec![],
                vec![(nr, Some(300)), (ur, Some(300))],
            ),
            (
                "own unreachable kept, not-ready added",
                vec![tol(ur, Some(TaintEffect::NoExecute), Some(5))],
                vec![(ur, Some(5)), (nr, Some(300))],
            ),
            (
                "empty key tolerates all: nothing added",
                vec![tol("", None, None)],
                vec![("", None)],
            ),
            (
                "NoSchedule toleration does not count",
                vec![tol(nr, Some(TaintEffect::NoSchedule), None)],
                vec![(nr, None), (nr, Some(300)), (ur, Some(300))],
            ),
        ];
        for (name, given, want) in cases {
            let mut pod = Pod::new("p");
            pod.spec.tolerations = given;
            add_default_tolerations(&mut pod, 300);
            add_default_tolerations(&mut pod, 300);
            let got: Vec<(&str, Option<i64>)> = pod
                .spec
                .tolerations
                .iter()
                .map(|t| (t.key.as_str(), t.toleration_seconds))
                .collect();
            assert_eq!(got, want, "case {name}");
        }
    }
}
