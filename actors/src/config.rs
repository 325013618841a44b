//! Node configuration: the TOML files in `cluster-config/` and their defaults.
//!
//! Every key is documented in `cluster-config/README.md`. `rudderd` with no `--config`
//! uses the embedded [`SINGLE_NODE`] (the same text as `cluster-config/single-node.toml`);
//! flags override whatever the file says. Relative paths are relative to the working
//! directory, as the data dir `./.rudder` of the embedded default is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rudder_protocol::actor::Role;
use serde::{Deserialize, Serialize};

use crate::bus::BusOptions;

/// The embedded default config: one node, both roles, data under `./.rudder`.
pub const SINGLE_NODE: &str = include_str!("../../cluster-config/single-node.toml");

/// Why a config is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a node config.
    #[error("invalid config {path}: {message}")]
    Parse {
        /// The file (or `<embedded>`).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid config: {key}: {message}")]
    Invalid {
        /// The key at fault.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// One node's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Cluster id; nodes and clients of other clusters are refused.
    pub cluster_id: String,
    /// Node name; empty means the host name.
    pub name: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Bus listen address.
    pub listen: String,
    /// API server listen address (used by the control-plane role).
    pub api_listen: String,
    /// Roles of this node.
    pub roles: Vec<Role>,
    /// Bus addresses of seed nodes to join through.
    pub join: Vec<String>,
    /// File holding the cluster token; empty means `<data_dir>/token`, created on first start.
    pub token_file: PathBuf,
    /// A worker's alternative to the token: the file holding this node's own node key
    /// (`rudderctl node-key NAME` on a control-plane host prints it). A node holding only
    /// its key joins as itself and as a worker only, and links to control-plane nodes;
    /// it cannot claim another node's name or the control plane. Empty: none.
    pub node_key_file: PathBuf,
    /// Bus timings and limits.
    pub bus: BusConfig,
    /// The replicated store (control-plane nodes).
    pub store: StoreSection,
    /// The kubelet (worker nodes).
    pub kubelet: KubeletSection,
    /// Address ranges of pods and services.
    pub network: NetworkSection,
    /// The service proxy (worker nodes).
    pub proxy: ProxySection,
    /// The built-in ingress controller (worker nodes).
    pub ingress: crate::ingress::IngressSection,
    /// The controllers' settings (control-plane nodes).
    pub controllers: ControllersSection,
    /// The API server (control-plane nodes).
    pub apiserver: ApiServerSection,
    /// The cluster DNS (worker nodes).
    pub dns: DnsSection,
    /// Metrics (every node).
    pub metrics: MetricsSection,
    /// The node's own address.
    pub node: NodeSection,
}

/// The `[metrics]` table: what the node records and where else it serves `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Record metrics (off: `/metrics` serves only what is read when scraped, such as
    /// `process_*`; for measuring what recording costs).
    pub enabled: bool,
    /// `ip:port` of a plain-HTTP metrics address (`GET /metrics`); empty: none (the API
    /// port of a control-plane node serves `/metrics` regardless). Port 0 picks one.
    pub listen: String,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            enabled: true,
            listen: String::new(),
        }
    }
}

/// The `[node]` table.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// The node's address on the network it serves pods from (its InternalIP); empty:
    /// chosen as [`crate::nodeaddr`] says.
    pub address: String,
}

impl NodeConfig {
    /// The node's InternalIP ([`crate::nodeaddr::node_address`]).
    pub fn node_address(&self) -> std::net::IpAddr {
        crate::nodeaddr::node_address(&self.node.address, &self.listen)
    }
}

/// The `[dns]` table: the cluster DNS actor of a worker node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsSection {
    /// Run the `dns` actor (and point `ClusterFirst` pods at `kube-dns` when
    /// `kubelet.cluster_dns` is empty).
    pub enabled: bool,
    /// `ip:port` to answer on; empty: the gateway of the node's pod bridge at `port`.
    pub listen: String,
    /// The port on the pod bridge's gateway.
    pub port: u16,
    /// Resolvers (`ip` or `ip:port`) for names outside the cluster domain; empty: the
    /// nameservers of `kubelet.resolv_conf`.
    pub upstreams: Vec<String>,
    /// Most upstream answers cached.
    pub cache_size: usize,
}

impl Default for DnsSection {
    fn default() -> Self {
        DnsSection {
            enabled: true,
            listen: String::new(),
            port: 53,
            upstreams: Vec::new(),
            cache_size: 1000,
        }
    }
}

impl DnsSection {
    /// `listen` parsed (`None` when empty).
    pub fn listen_address(&self) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        if self.listen.is_empty() {
            return Ok(None);
        }
        self.listen
            .parse()
            .map(Some)
            .map_err(|e| ConfigError::Invalid {
                key: "dns.listen",
                message: format!("{}: {e}", self.listen),
            })
    }

    /// `upstreams` parsed (port 53 when none is given); empty when none is configured.
    pub fn upstream_addresses(&self) -> Result<Vec<std::net::SocketAddr>, ConfigError> {
        self.upstreams
            .iter()
            .map(|u| {
                u.parse::<std::net::SocketAddr>()
                    .or_else(|_| u.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()))
                    .map_err(|e| ConfigError::Invalid {
                        key: "dns.upstreams",
                        message: format!("{u}: {e}"),
                    })
            })
            .collect()
    }
}

/// The `[apiserver]` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiServerSection {
    /// File of named AES-256 keys that encrypt Secrets at rest (format in
    /// `apiserver::encryption`); empty: Secrets are stored as plaintext.
    pub encryption_keys_file: PathBuf,
    /// `RBAC` (the default: the node authorizer, then RBAC) or `AlwaysAllow`.
    pub authorization: crate::apiserver::rbac::AuthorizationMode,
    /// Kubernetes' static token file (`token,user,uid,"group1,group2"` per line); empty:
    /// only the admin token authenticates.
    pub token_auth_file: PathBuf,
    /// Kubernetes' audit policy (`audit.k8s.io/v1 Policy`, YAML or JSON); empty: no
    /// audit log. Events go to `<data_dir>/audit/audit.log`.
    pub audit_policy_file: PathBuf,
    /// The audit log rotates past this many MiB (0: 100).
    pub audit_log_max_size_mb: u64,
    /// Rotated audit logs kept (0: 5).
    pub audit_log_max_backups: u32,
    /// Serve requests that present no credentials as `system:anonymous` (group
    /// `system:unauthenticated`), leaving them to the authorizer: the bootstrap roles
    /// let them read the health paths and `/version`. Off (the default): they are
    /// refused with 401. A request with a wrong token is refused either way.
    pub anonymous_auth: bool,
    /// PodSecurity's configuration: Kubernetes' `AdmissionConfiguration` (its
    /// `PodSecurity` plugin) or a `PodSecurityConfiguration` alone, YAML or JSON, with
    /// the levels of unlabelled namespaces and the exempt users, runtime classes and
    /// namespaces. Empty: `privileged` everywhere, no exemptions.
    pub pod_security_config_file: PathBuf,
}

impl ApiServerSection {
    /// The audit log under `data_dir`, when a policy is configured.
    pub fn audit_log(
        &self,
        data_dir: &std::path::Path,
    ) -> Result<Option<crate::apiserver::audit::AuditLog>, ConfigError> {
        use crate::apiserver::audit::{AuditLog, Policy, Rotation};
        if self.audit_policy_file.as_os_str().is_empty() {
            return Ok(None);
        }
        let bad = |message: String| ConfigError::Invalid {
            key: "apiserver.audit_policy_file",
            message,
        };
        let text = std::fs::read_to_string(&self.audit_policy_file)
            .map_err(|e| bad(format!("{}: {e}", self.audit_policy_file.display())))?;
        let policy = Policy::parse(&text).map_err(bad)?;
        let rotation = Rotation {
            max_bytes: match self.audit_log_max_size_mb {
                0 => 100,
                mb => mb,
            }
            .saturating_mul(1 << 20),
            max_backups: match self.audit_log_max_backups {
                0 => 5,
                n => n,
            },
        };
        AuditLog::open(&data_dir.join("audit"), policy, rotation)
            .map(Some)
            .map_err(|e| bad(format!("cannot open the audit log: {e}")))
    }

    /// PodSecurity's configuration from `pod_security_config_file` (Kubernetes'
    /// defaults when it is not set).
    pub fn pod_security(
        &self,
    ) -> Result<crate::apiserver::podsecurity::config::Config, ConfigError> {
        use crate::apiserver::podsecurity::config::Config;
        if self.pod_security_config_file.as_os_str().is_empty() {
            return Ok(Config::default());
        }
        Config::load(&self.pod_security_config_file).map_err(|message| ConfigError::Invalid {
            key: "apiserver.pod_security_config_file",
            message,
        })
    }

    /// The keys of `encryption_keys_file`, or none when it is not set.
    pub fn encryption(&self) -> Result<crate::apiserver::encryption::Encryption, ConfigError> {
        if self.encryption_keys_file.as_os_str().is_empty() {
            return Ok(crate::apiserver::encryption::Encryption::none());
        }
        crate::apiserver::encryption::Encryption::load(&self.encryption_keys_file).map_err(|e| {
            ConfigError::Invalid {
                key: "apiserver.encryption_keys_file",
                message: e.to_string(),
            }
        })
    }
}

/// The `[proxy]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySection {
    /// `auto` (packet filter when root and iptables work, else forwarding), `iptables`,
    /// `forwarding` or `off`.
    pub mode: crate::proxy::ProxyMode,
    /// The node's address: node ports are served here in forwarding mode.
    pub address: String,
}

impl Default for ProxySection {
    fn default() -> Self {
        Self {
            mode: crate::proxy::ProxyMode::Auto,
            address: "127.0.0.1".into(),
        }
    }
}

/// The `[network]` table: where pod and service addresses come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSection {
    /// Pod addresses of the whole cluster; each node gets a slice of it.
    pub cluster_cidr: String,
    /// Prefix length of each node's slice of `cluster_cidr`.
    pub node_cidr_mask: u8,
    /// Service cluster IPs.
    pub service_cidr: String,
    /// NodePorts, as `first-last`.
    pub node_port_range: String,
}

impl Default for NetworkSection {
    fn default() -> Self {
        Self {
            cluster_cidr: "10.244.0.0/16".into(),
            node_cidr_mask: 24,
            service_cidr: "10.96.0.0/16".into(),
            node_port_range: "30000-32767".into(),
        }
    }
}

impl NetworkSection {
    /// The cluster CIDR.
    pub fn cluster_network(&self) -> Result<ipnetwork::Ipv4Network, ConfigError> {
        self.cluster_cidr.parse().map_err(|e| ConfigError::Invalid {
            key: "network.cluster_cidr",
            message: format!("{e}"),
        })
    }

    /// Service address and node port ranges for the API server.
    pub fn service_ranges(&self) -> Result<crate::apiserver::alloc::Ranges, ConfigError> {
        let service_cidr = self
            .service_cidr
            .parse()
            .map_err(|e| ConfigError::Invalid {
                key: "network.service_cidr",
                message: format!("{e}"),
            })?;
        let (min, max) = crate::apiserver::alloc::parse_port_range(&self.node_port_range).map_err(
            |message| ConfigError::Invalid {
                key: "network.node_port_range",
                message,
            },
        )?;
        Ok(crate::apiserver::alloc::Ranges {
            service_cidr,
            node_port_min: min,
            node_port_max: max,
        })
    }
}

/// The `[controllers]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControllersSection {
    /// How long a node may go without a heartbeat (Lease renewal or status) before the
    /// node lifecycle controller marks it Unknown.
    pub node_grace_period_ms: u64,
    /// `tolerationSeconds` the API server gives new pods for the not-ready and
    /// unreachable taints when they name none: how long their node may be down before
    /// they are evicted.
    pub default_toleration_seconds: i64,
    /// Nodes per second whose pods may start being evicted, per healthy zone
    /// (Kubernetes' `--node-eviction-rate`).
    pub node_eviction_rate: f64,
    /// The same in a partly disrupted large zone (`--secondary-node-eviction-rate`).
    pub secondary_node_eviction_rate: f64,
    /// Share of not-ready nodes from which a zone is partly disrupted
    /// (`--unhealthy-zone-threshold`).
    pub unhealthy_zone_threshold: f64,
    /// Zones up to this size stop evicting when partly disrupted
    /// (`--large-cluster-size-threshold`).
    pub large_cluster_size_threshold: usize,
    /// How often each HorizontalPodAutoscaler is reconciled
    /// (`--horizontal-pod-autoscaler-sync-period`).
    pub hpa_sync_period_ms: u64,
}

impl Default for ControllersSection {
    fn default() -> Self {
        Self {
            node_grace_period_ms: 40_000,
            default_toleration_seconds: 300,
            node_eviction_rate: 0.1,
            secondary_node_eviction_rate: 0.01,
            unhealthy_zone_threshold: 0.55,
            large_cluster_size_threshold: 50,
            hpa_sync_period_ms: 15_000,
        }
    }
}

/// The container runtime a worker node's kubelet drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// The local Docker engine (the default).
    #[default]
    Docker,
    /// An in-memory runtime: a simulated node whose containers never really run.
    Fake,
    /// No kubelet at all, even with the worker role.
    None,
}

/// The `[kubelet]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubeletSection {
    /// `docker`, `fake` or `none`.
    pub runtime: RuntimeKind,
    /// The image of every pod's sandbox (Kubernetes' `--pod-infra-container-image`).
    /// Rudder builds its own, [`crate::kubelet::images::SANDBOX_IMAGE`], when missing;
    /// any other image must be present in the engine.
    pub sandbox_image: String,
    /// Cluster DNS addresses written into `ClusterFirst` pods' resolv.conf (Kubernetes'
    /// `clusterDNS`); empty: such pods use the host's resolver.
    pub cluster_dns: Vec<String>,
    /// The cluster's DNS domain (Kubernetes' `clusterDomain`).
    pub cluster_domain: String,
    /// The host resolver configuration `Default` pods get (Kubernetes' `resolvConf`).
    pub resolv_conf: PathBuf,
    /// Most processes (threads) each container may have; -1: no limit (Kubernetes'
    /// `podPidsLimit`, applied per container since Docker has no pod cgroup).
    pub pod_pids_limit: i64,
    /// CPU and memory kept for the system, subtracted from the node's allocatable.
    pub system_reserved: std::collections::BTreeMap<String, String>,
    /// CPU and memory kept for Kubernetes' own daemons, subtracted as well.
    pub kube_reserved: std::collections::BTreeMap<String, String>,
    /// Sysctls (or `prefix*` patterns) pods may set beyond the safe set.
    pub allowed_unsafe_sysctls: Vec<String>,
    /// Containers that name no seccomp profile run with the runtime's default one
    /// (Kubernetes' `seccompDefault`); off (the default): they run unconfined.
    pub seccomp_default: bool,
    /// How often the kubelet measures its pods' and node's CPU and memory for the
    /// resource metrics API (metrics-server's resolution, 15 s).
    pub metrics_interval_ms: u64,
}

impl Default for KubeletSection {
    fn default() -> Self {
        KubeletSection {
            runtime: RuntimeKind::default(),
            sandbox_image: crate::kubelet::images::SANDBOX_IMAGE.to_owned(),
            cluster_dns: Vec::new(),
            cluster_domain: "cluster.local".into(),
            resolv_conf: "/etc/resolv.conf".into(),
            pod_pids_limit: -1,
            system_reserved: Default::default(),
            kube_reserved: Default::default(),
            allowed_unsafe_sysctls: Vec::new(),
            seccomp_default: false,
            metrics_interval_ms: 15_000,
        }
    }
}

impl KubeletSection {
    /// `system_reserved` and `kube_reserved` summed per resource (`cpu`, `memory`).
    pub fn reserved(
        &self,
    ) -> Result<std::collections::BTreeMap<String, rudder_protocol::resources::Quantity>, ConfigError>
    {
        let mut milli: std::collections::BTreeMap<String, i64> = Default::default();
        for (key, table) in [
            ("kubelet.system_reserved", &self.system_reserved),
            ("kubelet.kube_reserved", &self.kube_reserved),
        ] {
            for (resource, value) in table {
                if resource != "cpu" && resource != "memory" {
                    return Err(ConfigError::Invalid {
                        key,
                        message: format!("{resource}: only cpu and memory can be reserved"),
                    });
                }
                let q = rudder_protocol::resources::Quantity::parse(value)
                    .ok()
                    .filter(|q| !q.is_negative())
                    .ok_or_else(|| ConfigError::Invalid {
                        key,
                        message: format!("{resource}: {value:?} is not a quantity"),
                    })?;
                *milli.entry(resource.clone()).or_default() += q.milli_value();
            }
        }
        use rudder_protocol::resources::{Format, Quantity};
        Ok(milli
            .into_iter()
            .map(|(r, m)| {
                let format = if r == "memory" {
                    Format::BinarySI
                } else {
                    Format::DecimalSI
                };
                (r, Quantity::from_milli(m, format))
            })
            .collect())
    }
}

/// The `[store]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// Initialise a new one-replica group when the store is empty. Unset: only when the
    /// node has no seeds to join through.
    pub bootstrap: Option<bool>,
    /// Revisions of change history kept for watches.
    pub history_limit: u64,
    /// Snapshot (and purge the log behind it) every this many log entries.
    pub snapshot_every: u64,
    /// Raft heartbeat period.
    pub heartbeat_ms: u64,
    /// Lower bound of the Raft election timeout.
    pub election_timeout_min_ms: u64,
    /// Upper bound of the Raft election timeout.
    pub election_timeout_max_ms: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            bootstrap: None,
            history_limit: 10_000,
            snapshot_every: 10_000,
            heartbeat_ms: 100,
            election_timeout_min_ms: 300,
            election_timeout_max_ms: 600,
        }
    }
}

/// The `[bus]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// Heartbeat period on every link.
    pub heartbeat_ms: u64,
    /// A link silent this long is closed.
    pub idle_timeout_ms: u64,
    /// A member silent this long is Suspect.
    pub suspect_after_ms: u64,
    /// A member silent this long is Dead.
    pub dead_after_ms: u64,
    /// Membership gossip period.
    pub gossip_interval_ms: u64,
    /// Largest frame accepted, in bytes.
    pub max_frame_bytes: usize,
    /// Frames queued per link before senders wait.
    pub queue_frames: usize,
    /// Time allowed for a handshake.
    pub handshake_timeout_ms: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            cluster_id: "rudder".into(),
            name: String::new(),
            data_dir: PathBuf::from(".rudder"),
            listen: "127.0.0.1:7946".into(),
            api_listen: "127.0.0.1:6443".into(),
            roles: vec![Role::ControlPlane, Role::Worker],
            join: Vec::new(),
            token_file: PathBuf::new(),
            node_key_file: PathBuf::new(),
            bus: BusConfig::default(),
            store: StoreSection::default(),
            kubelet: KubeletSection::default(),
            network: NetworkSection::default(),
            proxy: ProxySection::default(),
            ingress: crate::ingress::IngressSection::default(),
            node: NodeSection::default(),
            dns: DnsSection::default(),
            controllers: ControllersSection::default(),
            apiserver: ApiServerSection::default(),
            metrics: MetricsSection::default(),
        }
    }
}

impl Default for BusConfig {
    fn default() -> Self {
        let d = BusOptions::default();
        Self {
            heartbeat_ms: d.heartbeat.as_millis() as u64,
            idle_timeout_ms: d.idle_timeout.as_millis() as u64,
            suspect_after_ms: d.suspect_after.as_millis() as u64,
            dead_after_ms: d.dead_after.as_millis() as u64,
            gossip_interval_ms: d.gossip_interval.as_millis() as u64,
            max_frame_bytes: d.max_frame,
            queue_frames: d.queue,
            handshake_timeout_ms: d.handshake_timeout.as_millis() as u64,
        }
    }
}

impl NodeConfig {
    /// Parses config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// The embedded single-node default.
    pub fn embedded() -> Self {
        // The embedded file is checked by a test; fall back to the compiled defaults,
        // which say the same, rather than fail.
        Self::parse(SINGLE_NODE, Path::new("<embedded>")).unwrap_or_default()
    }

    /// The node name, defaulting to the host name.
    pub fn node_name(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        let host = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        let name: String = host
            .to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let name = name.trim_matches(|c| c == '-' || c == '.').to_owned();
        if name.is_empty() {
            "rudder-node".into()
        } else {
            name
        }
    }

    /// The token file in force.
    pub fn token_path(&self) -> PathBuf {
        if self.token_file.as_os_str().is_empty() {
            self.data_dir.join("token")
        } else {
            self.token_file.clone()
        }
    }

    /// Checks values that parsing alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        if self.cluster_id.is_empty() {
            return invalid("cluster_id", "must not be empty");
        }
        let name = self.node_name();
        if name.len() > 253
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return invalid(
                "name",
                "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.'",
            );
        }
        if self.roles.is_empty() {
            return invalid("roles", "at least one role is required");
        }
        if !self.node_key_file.as_os_str().is_empty() {
            if self.roles.contains(&Role::ControlPlane) {
                return invalid(
                    "node_key_file",
                    "a control-plane node needs the cluster token (token_file): node keys \
                     are for workers",
                );
            }
            if !self.token_file.as_os_str().is_empty() {
                return invalid(
                    "node_key_file",
                    "give token_file or node_key_file, not both",
                );
            }
        }
        self.network.service_ranges()?;
        if !self.metrics.listen.is_empty()
            && self.metrics.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return invalid("metrics.listen", "must be IP:PORT (or empty for none)");
        }
        let cluster = self.network.cluster_network()?;
        if self.network.node_cidr_mask < cluster.prefix() || self.network.node_cidr_mask > 30 {
            return invalid(
                "network.node_cidr_mask",
                "must be at least the cluster CIDR's prefix length and at most 30",
            );
        }
        if self.kubelet.sandbox_image.trim().is_empty()
            || self.kubelet.sandbox_image.contains(char::is_whitespace)
        {
            return invalid(
                "kubelet.sandbox_image",
                "must be an image reference (no spaces)",
            );
        }
        if !self.node.address.is_empty() && self.node.address.parse::<std::net::IpAddr>().is_err() {
            return invalid("node.address", "must be an IP address");
        }
        if self.proxy.address.parse::<std::net::IpAddr>().is_err() {
            return invalid("proxy.address", "must be an IP address");
        }
        // A key file that does not load stops the node here, not at its first Secret.
        self.apiserver.encryption()?;
        self.apiserver.pod_security()?;
        let c = &self.controllers;
        if c.node_grace_period_ms == 0 {
            return invalid("controllers.node_grace_period_ms", "must be above 0");
        }
        let rate_ok = |r: f64| r.is_finite() && r >= 0.0;
        if !rate_ok(c.node_eviction_rate) || !rate_ok(c.secondary_node_eviction_rate) {
            return invalid(
                "controllers.node_eviction_rate",
                "eviction rates must be finite and not negative",
            );
        }
        if !(c.unhealthy_zone_threshold > 0.0 && c.unhealthy_zone_threshold <= 1.0) {
            return invalid(
                "controllers.unhealthy_zone_threshold",
                "must be above 0 and at most 1",
            );
        }
        if c.default_toleration_seconds < 0 {
            return invalid(
                "controllers.default_toleration_seconds",
                "must not be negative",
            );
        }
        if let Err(e) = crate::controllers::nodeipam::CidrAllocator::new(
            &self.network.cluster_cidr,
            self.network.node_cidr_mask,
        ) {
            return invalid("network.cluster_cidr", &e.to_string());
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return invalid("listen", "must be an IP:port address");
        }
        let b = &self.bus;
        if b.heartbeat_ms == 0 || b.heartbeat_ms >= b.idle_timeout_ms {
            return invalid(
                "bus.heartbeat_ms",
                "must be above 0 and below bus.idle_timeout_ms",
            );
        }
        if b.suspect_after_ms == 0 || b.suspect_after_ms >= b.dead_after_ms {
            return invalid(
                "bus.suspect_after_ms",
                "must be above 0 and below bus.dead_after_ms",
            );
        }
        if b.max_frame_bytes < 64 * 1024
            || b.max_frame_bytes > rudder_protocol::codec::MAX_FRAME_LEN
        {
            return invalid("bus.max_frame_bytes", "must be between 64 KiB and 16 MiB");
        }
        if b.queue_frames == 0 {
            return invalid("bus.queue_frames", "must be above 0");
        }
        let st = &self.store;
        if st.heartbeat_ms == 0 || st.heartbeat_ms >= st.election_timeout_min_ms {
            return invalid(
                "store.heartbeat_ms",
                "must be above 0 and below store.election_timeout_min_ms",
            );
        }
        if st.election_timeout_min_ms >= st.election_timeout_max_ms {
            return invalid(
                "store.election_timeout_min_ms",
                "must be below store.election_timeout_max_ms",
            );
        }
        if st.history_limit == 0 || st.snapshot_every == 0 {
            return invalid(
                "store.history_limit",
                "store.history_limit and store.snapshot_every must be above 0",
            );
        }
        Ok(())
    }

    /// Store settings from the `[store]` table, for a node with the given seeds.
    pub fn store_config(&self) -> crate::store::StoreConfig {
        let st = &self.store;
        let ms = Duration::from_millis;
        let own = self.listen.as_str();
        let has_seeds = self.join.iter().any(|s| s != own);
        crate::store::StoreConfig {
            dir: self.data_dir.join("store"),
            bootstrap: st.bootstrap.unwrap_or(!has_seeds),
            history_limit: st.history_limit,
            snapshot_every: st.snapshot_every,
            heartbeat: ms(st.heartbeat_ms),
            election_timeout_min: ms(st.election_timeout_min_ms),
            election_timeout_max: ms(st.election_timeout_max_ms),
        }
    }

    /// Bus options from the `[bus]` table.
    pub fn bus_options(&self) -> BusOptions {
        let b = &self.bus;
        let ms = Duration::from_millis;
        BusOptions {
            heartbeat: ms(b.heartbeat_ms),
            idle_timeout: ms(b.idle_timeout_ms),
            suspect_after: ms(b.suspect_after_ms),
            dead_after: ms(b.dead_after_ms),
            gossip_interval: ms(b.gossip_interval_ms.max(1)),
            max_frame: b.max_frame_bytes,
            queue: b.queue_frames,
            handshake_timeout: ms(b.handshake_timeout_ms.max(1)),
            ..BusOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses_and_matches_compiled_defaults() {
        let cfg = NodeConfig::parse(SINGLE_NODE, Path::new("single-node.toml")).expect("parses");
        cfg.validate().expect("valid");
        assert_eq!(cfg, NodeConfig::default());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = NodeConfig::parse("listn = \"x\"", Path::new("x.toml")).expect_err("refused");
        assert!(err.to_string().contains("listn"), "{err}");
    }

    #[test]
    fn validation_cases() {
        type Mutation = Box<dyn Fn(&mut NodeConfig)>;
        let cases: Vec<(&str, Mutation, Option<&str>)> = vec![
            ("default is valid", Box::new(|_| {}), None),
            (
                "bad name",
                Box::new(|c| c.name = "Bad_Name".into()),
                Some("name"),
            ),
            ("no roles", Box::new(|c| c.roles.clear()), Some("roles")),
            (
                "bad service cidr",
                Box::new(|c| c.network.service_cidr = "10.96.0.0/99".into()),
                Some("network.service_cidr"),
            ),
            (
                "bad port range",
                Box::new(|c| c.network.node_port_range = "32767-30000".into()),
                Some("network.node_port_range"),
            ),
            (
                "node mask wider than the cluster",
                Box::new(|c| c.network.node_cidr_mask = 8),
                Some("network.node_cidr_mask"),
            ),
            (
                "bad listen",
                Box::new(|c| c.listen = "nowhere".into()),
                Some("listen"),
            ),
            (
                "empty sandbox image",
                Box::new(|c| c.kubelet.sandbox_image = " ".into()),
                Some("kubelet.sandbox_image"),
            ),
            (
                "another sandbox image",
                Box::new(|c| c.kubelet.sandbox_image = "example.org/pause:3.10".into()),
                None,
            ),
            (
                "suspect after dead",
                Box::new(|c| c.bus.suspect_after_ms = c.bus.dead_after_ms),
                Some("bus.suspect_after_ms"),
            ),
            (
                "missing encryption key file",
                Box::new(|c| c.apiserver.encryption_keys_file = "/nonexistent/keys.toml".into()),
                Some("apiserver.encryption_keys_file"),
            ),
            (
                "missing PodSecurity configuration",
                Box::new(|c| {
                    c.apiserver.pod_security_config_file = "/nonexistent/admission.yaml".into()
                }),
                Some("apiserver.pod_security_config_file"),
            ),
            (
                "heartbeat slower than idle",
                Box::new(|c| c.bus.heartbeat_ms = c.bus.idle_timeout_ms),
                Some("bus.heartbeat_ms"),
            ),
        ];
        for (name, mutate, want) in cases {
            let mut cfg = NodeConfig {
                name: "n1".into(),
                ..NodeConfig::default()
            };
            mutate(&mut cfg);
            match (cfg.validate(), want) {
                (Ok(()), None) => {}
                (Err(ConfigError::Invalid { key, .. }), Some(k)) => assert_eq!(key, k, "{name}"),
                (got, want) => panic!("{name}: got {got:?}, want error on {want:?}"),
            }
        }
    }
}
