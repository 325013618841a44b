//! A node: one `rudderd` process, its data directory, its bus and its supervised actors.
//!
//! Start-up order: check or create the data directory (a directory written for another
//! node or cluster is refused, never reset), load or create the cluster token, bind and
//! start the bus; on a control-plane node open the store (RocksDB under the data
//! directory) and build the API core; on a worker choose the container runtime
//! (`--kubelet-runtime`: Docker, the fake one, or none) and the proxy settings; start the
//! supervisor with the components of this node's roles ([`components`]); on a
//! control-plane node serve the REST API over HTTPS and write its kubeconfig; and last
//! write `<data-dir>/client.toml` for `rudderctl` and the Rust client.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use rudder_protocol::actor::{NodeName, Role};
use rudder_protocol::client::{read_token, ClientConfig};
use rudder_protocol::frame::NodeIdentity;
use rudder_protocol::net::Credentials;
use serde::{Deserialize, Serialize};

use crate::bus::{self, Bus};
use crate::config::{ConfigError, NodeConfig};
use crate::store::{Store, StoreEngine, StoreOpenError, STORE_ACTOR};
use crate::supervisor::{ComponentSpec, Shutdown, Supervisor};
use crate::{chaos, echo};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory belongs to another node or cluster.
    #[error("data dir {path} belongs to node {found_node:?} of cluster {found_cluster:?}, not node {node:?} of cluster {cluster:?}; point --data-dir elsewhere or remove it yourself")]
    ForeignDataDir {
        /// The data directory.
        path: PathBuf,
        /// The node recorded there.
        found_node: String,
        /// The cluster recorded there.
        found_cluster: String,
        /// This node.
        node: String,
        /// This cluster.
        cluster: String,
    },
    /// The data directory's identity file is unreadable.
    #[error("data dir {path} is corrupt: {message}")]
    CorruptDataDir {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The token file is unusable.
    #[error("token file {path}: {message}")]
    Token {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The store could not start.
    #[error("store: {0}")]
    Store(#[from] StoreOpenError),
    /// The API server could not start.
    #[error("api server: {0}")]
    Api(String),
    /// The bus address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> NodeError + '_ {
    move |source| NodeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What the data directory records about its owner, in `<data-dir>/identity.toml`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataDirIdentity {
    cluster_id: String,
    node: String,
}

fn claim_data_dir(dir: &Path, cluster: &str, node: &str) -> Result<(), NodeError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join("identity.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let found: DataDirIdentity =
                toml::from_str(&text).map_err(|e| NodeError::CorruptDataDir {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            if found.cluster_id != cluster || found.node != node {
                return Err(NodeError::ForeignDataDir {
                    path: dir.to_owned(),
                    found_node: found.node,
                    found_cluster: found.cluster_id,
                    node: node.to_owned(),
                    cluster: cluster.to_owned(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = DataDirIdentity {
                cluster_id: cluster.to_owned(),
                node: node.to_owned(),
            };
            let text = toml::to_string(&id).map_err(|e| NodeError::CorruptDataDir {
                path: path.clone(),
                message: e.to_string(),
            })?;
            write_atomic(&path, text.as_bytes(), false)
        }
        Err(e) => Err(io_err(&path)(e)),
    }
}

fn write_atomic(path: &Path, data: &[u8], private: bool) -> Result<(), NodeError> {
    crate::fsutil::write_atomic(path, data, private).map_err(io_err(path))
}

/// Reads the token file, creating it with a fresh random token if it does not exist.
fn load_or_create_token(path: &Path) -> Result<String, NodeError> {
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let token: String = {
            use rand::Rng;
            let bytes: [u8; 32] = rand::thread_rng().gen();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        };
        // create_new: when several nodes share one token file, the first one wins.
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        match opts.open(path) {
            Ok(mut f) => {
                f.write_all(format!("{token}\n").as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(io_err(path))?;
                tracing::info!(path = %path.display(), "created a new cluster token");
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(path)(e)),
        }
    }
    // A file just created by a racing node may be empty for a moment.
    for _ in 0..50 {
        match read_token(path) {
            Ok(t) => return Ok(t),
            Err(m) if m.contains("empty") => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(message) => {
                return Err(NodeError::Token {
                    path: path.to_owned(),
                    message,
                })
            }
        }
    }
    Err(NodeError::Token {
        path: path.to_owned(),
        message: "token file is empty".into(),
    })
}

/// Node-wide services that outlive actor restarts; components are built on them.
#[derive(Default, Clone)]
pub struct Services {
    /// This node's store replica (control-plane nodes).
    pub store: Option<Arc<StoreEngine>>,
    /// The API operations (control-plane nodes).
    pub api: Option<crate::apiserver::core::ApiCore>,
    /// The container runtime the kubelet drives (worker nodes with a runtime).
    pub container_runtime: Option<Arc<dyn crate::kubelet::runtime::ContainerRuntime>>,
    /// The kubelet's settings from the `[kubelet]` table.
    pub kubelet: crate::kubelet::KubeletSettings,
    /// Service proxy settings (worker nodes).
    pub proxy: Option<crate::proxy::ProxySettings>,
    /// The ingress controller's settings (worker nodes).
    pub ingress: Option<crate::ingress::IngressSection>,
    /// NetworkPolicy enforcement (workers whose proxy may use the packet filter).
    pub netpol: Option<crate::netpol::NetpolSettings>,
    /// The pod routes to the other nodes (worker nodes).
    pub netroute: Option<crate::netroute::NetrouteSettings>,
    /// Where the local-path provisioner makes volumes (worker nodes with a runtime):
    /// `<data-dir>/storage`.
    pub local_path_dir: Option<PathBuf>,
    /// The cluster DNS (worker nodes with it enabled).
    pub dns: Option<crate::dns::DnsSettings>,
    /// The API relay for pods (worker nodes on Docker).
    pub apirelay: Option<crate::apirelay::RelaySettings>,
    /// The controllers' settings and the address ranges (control-plane nodes).
    pub controllers: Option<(
        crate::config::ControllersSection,
        crate::config::NetworkSection,
    )>,
}

/// The components a node runs.
///
/// Every node runs `chaos` (kill on demand) and `echo` (reachability, benchmarks);
/// control-plane nodes run `store`, `apiserver`, `scheduler` and every controller (the
/// one list in [`crate::controllers::components`]); workers run `kubelet`, `proxy`,
/// `netpol`, `netroute`, `ingress`, `dns` and the local-path provisioner.
/// The supervisor hands them all the node's shared informers.
pub fn components(services: &Services) -> Vec<ComponentSpec> {
    let mut specs = vec![
        ComponentSpec::new(chaos::NAME, chaos::Chaos::start),
        ComponentSpec::new(echo::NAME, echo::Echo::start),
    ];
    if let Some(engine) = &services.store {
        specs.push(ComponentSpec::new(
            STORE_ACTOR,
            Store::factory(engine.clone()),
        ));
    }
    if let Some(core) = &services.api {
        use crate::apiserver::actor::{ApiServer, NAME};
        specs.push(ComponentSpec::new(NAME, ApiServer::factory(core.clone())));
        specs.push(ComponentSpec::new(
            crate::scheduler::NAME,
            crate::scheduler::Scheduler::start,
        ));
    }
    if let Some(proxy) = &services.proxy {
        specs.push(crate::proxy::component(proxy.clone()));
    }
    if let Some(ingress) = &services.ingress {
        specs.push(crate::ingress::component(ingress.clone()));
    }
    if let Some(netpol) = &services.netpol {
        specs.push(crate::netpol::component(netpol.clone()));
    }
    if let Some(netroute) = &services.netroute {
        specs.push(crate::netroute::component(netroute.clone()));
    }
    if let Some(dns) = &services.dns {
        specs.push(crate::dns::component(dns.clone()));
    }
    if let Some(relay) = &services.apirelay {
        specs.push(crate::apirelay::component(relay.clone()));
    }
    if let Some((cfg, network)) = &services.controllers {
        specs.extend(crate::controllers::components(cfg, network));
    }
    if let Some(rt) = &services.container_runtime {
        specs.push(crate::kubelet::Kubelet::component(
            rt.clone(),
            services.kubelet.clone(),
        ));
        if let Some(dir) = &services.local_path_dir {
            specs.push(crate::provisioner::component(dir.clone()));
        }
    }
    specs
}

/// A running node.
pub struct Node {
    /// The node's name.
    pub name: NodeName,
    /// The bus address actually bound.
    pub bus_address: SocketAddr,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The client config written for `rudderctl`.
    pub client_config: PathBuf,
    /// The bus.
    pub bus: Bus,
    supervisor: Addr<Supervisor>,
    services: Services,
    /// The API server's bound address (control-plane nodes).
    pub api_address: Option<SocketAddr>,
    /// The kubeconfig written for kubectl (control-plane nodes).
    pub kubeconfig: Option<PathBuf>,
    /// The metrics address actually bound (`[metrics] listen`).
    pub metrics_address: Option<SocketAddr>,
    api_server: Option<actix_web::dev::ServerHandle>,
    metrics_server: Option<tokio::task::JoinHandle<()>>,
}

/// Starts the REST API: credentials, HTTPS server, bootstrap namespaces, kubeconfig.
fn start_api(
    cfg: &NodeConfig,
    node: &str,
    core: crate::apiserver::core::ApiCore,
) -> Result<(SocketAddr, PathBuf, actix_web::dev::ServerHandle), NodeError> {
    use crate::apiserver::{http, tls};
    let api_err = |e: String| NodeError::Api(e);
    let token = load_or_create_token(&cfg.data_dir.join("admin.token"))?;
    let service_ip = crate::apiserver::presence::service_ip(
        cfg.network
            .service_ranges()
            .map_err(|e| api_err(e.to_string()))?
            .service_cidr,
    );
    let pki = tls::load_or_create_pki(
        &cfg.data_dir,
        &tls::serving_names(&cfg.api_listen, node, service_ip),
    )
    .map_err(|e| api_err(e.to_string()))?;
    let tls_config = pki.server_config().map_err(|e| api_err(e.to_string()))?;
    let presence_core = core.clone();
    let tokens = if cfg.apiserver.token_auth_file.as_os_str().is_empty() {
        crate::apiserver::authn_tokens::TokenFile::empty()
    } else {
        crate::apiserver::authn_tokens::TokenFile::load(&cfg.apiserver.token_auth_file)
            .map_err(|e| api_err(e.to_string()))?
    };
    let state = Arc::new(http::ApiState {
        core: core.clone(),
        token: token.clone(),
        tokens,
        address: cfg.api_listen.clone(),
        anonymous: cfg.apiserver.anonymous_auth,
    });
    let (server, addr) = http::serve(state, &cfg.api_listen, tls_config)
        .map_err(|e| api_err(format!("cannot listen on {}: {e}", cfg.api_listen)))?;
    let handle = server.handle();
    actix::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "api server stopped");
        }
    });
    // Custom resources: served as this API server's watch cache learns the CRDs.
    actix::spawn(crate::apiserver::crd::run(core.clone()));
    // The store may still be electing: retry until the namespaces exist.
    actix::spawn(async move {
        let mut delay = std::time::Duration::from_millis(100);
        loop {
            match core.bootstrap().await {
                Ok(()) => return,
                Err(e) => {
                    tracing::debug!(error = %e.message, "bootstrap namespaces not yet created")
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(2));
        }
    });
    let dial = if addr.ip().is_unspecified() {
        SocketAddr::new([127, 0, 0, 1].into(), addr.port())
    } else {
        addr
    };
    // Announced in the `kubernetes` Endpoints: on every interface, the bus address's
    // (the one other nodes reach) when it is a real one.
    let advertise = match cfg.listen.parse::<SocketAddr>() {
        Ok(bus) if addr.ip().is_unspecified() && !bus.ip().is_unspecified() => {
            SocketAddr::new(bus.ip(), addr.port())
        }
        _ => dial,
    };
    actix::spawn(
        presence_core.keep_presence(crate::apiserver::presence::Presence {
            node: node.to_owned(),
            address: advertise,
            ca_pem: pki.ca_pem.clone(),
        }),
    );
    let kubeconfig_path = cfg.data_dir.join("kubeconfig");
    let text = tls::kubeconfig(
        &format!("https://{dial}"),
        &pki.ca_pem,
        &token,
        &cfg.cluster_id,
    );
    write_atomic(&kubeconfig_path, text.as_bytes(), true)?;
    Ok((addr, kubeconfig_path, handle))
}

impl Node {
    /// Starts a node. Must run inside an actix system.
    pub async fn start(cfg: NodeConfig) -> Result<Node, NodeError> {
        cfg.validate()?;
        crate::telemetry::set_enabled(cfg.metrics.enabled);
        let metrics = if cfg.metrics.listen.is_empty() {
            None
        } else {
            let (listener, address) = crate::telemetry::serve::bind(&cfg.metrics.listen)
                .await
                .map_err(|source| NodeError::Bind {
                    address: cfg.metrics.listen.clone(),
                    source,
                })?;
            Some((
                address,
                tokio::spawn(crate::telemetry::serve::serve(listener)),
            ))
        };
        let name = cfg.node_name();
        claim_data_dir(&cfg.data_dir, &cfg.cluster_id, &name)?;
        let token_path = cfg.token_path();
        // A worker given its node key holds no token (and writes no client config).
        let creds = if cfg.node_key_file.as_os_str().is_empty() {
            let token = load_or_create_token(&token_path)?;
            Credentials::token(cfg.cluster_id.clone(), token.into_bytes())
        } else {
            let path = &cfg.node_key_file;
            let key = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|text| rudder_protocol::net::parse_node_key(&text))
                .map_err(|message| NodeError::Token {
                    path: path.clone(),
                    message,
                })?;
            Credentials::node_key(cfg.cluster_id.clone(), key.to_vec())
        };
        let holds_token = matches!(creds.secret, rudder_protocol::net::Secret::Token(_));
        let (listener, bus_address) =
            bus::bind(&cfg.listen)
                .await
                .map_err(|source| NodeError::Bind {
                    address: cfg.listen.clone(),
                    source,
                })?;
        let incarnation = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(1);
        let me = NodeIdentity {
            name: NodeName::new(name.clone()),
            address: bus_address.to_string(),
            roles: cfg.roles.clone(),
            incarnation,
        };
        let seeds: Vec<String> = cfg
            .join
            .iter()
            .filter(|s| **s != bus_address.to_string())
            .cloned()
            .collect();
        let bus = Bus::start(me, creds, listener, seeds, cfg.bus_options());
        let mut services = Services::default();
        if cfg.roles.contains(&Role::ControlPlane) {
            let encryption = match cfg.apiserver.encryption() {
                Ok(e) => e,
                Err(e) => {
                    bus.shutdown();
                    return Err(e.into());
                }
            };
            let pod_security = match cfg.apiserver.pod_security() {
                Ok(p) => p,
                Err(e) => {
                    bus.shutdown();
                    return Err(e.into());
                }
            };
            let at_rest = if encryption.enabled() {
                "encrypted"
            } else {
                "plaintext"
            };
            tracing::info!(keys = ?encryption.key_names(), at_rest, "secrets at rest");
            let engine = match StoreEngine::open(cfg.store_config(), bus.clone()).await {
                Ok(e) => e,
                Err(e) => {
                    bus.shutdown();
                    return Err(e.into());
                }
            };
            services.store = Some(engine);
            let audit = match cfg.apiserver.audit_log(&cfg.data_dir) {
                Ok(a) => a,
                Err(e) => {
                    bus.shutdown();
                    return Err(e.into());
                }
            };
            let mut core = crate::apiserver::core::ApiCore::new(bus.clone())
                .with_ranges(cfg.network.service_ranges()?)
                .with_default_toleration_seconds(cfg.controllers.default_toleration_seconds)
                .with_encryption(encryption)
                .with_authorization(cfg.apiserver.authorization)
                .with_pod_security(pod_security);
            if let Some(log) = audit {
                core = core.with_audit(log);
            }
            // Clients with user certificates connect to nodes that serve the API.
            bus.set_client_authority(std::sync::Arc::new(core.clone()));
            services.api = Some(core);
            services.controllers = Some((cfg.controllers.clone(), cfg.network.clone()));
        }
        let node_local = crate::dns::NodeLocal::new();
        let dns_ip = crate::dns::service_ip(cfg.network.service_ranges()?.service_cidr);
        let dns_on = cfg.roles.contains(&Role::Worker) && cfg.dns.enabled;
        if dns_on {
            let upstreams = match cfg.dns.upstream_addresses()? {
                u if !u.is_empty() => u,
                _ => crate::dns::resolv_conf_upstreams(
                    &std::fs::read_to_string(&cfg.kubelet.resolv_conf).unwrap_or_default(),
                ),
            };
            services.dns = Some(crate::dns::DnsSettings {
                zone: cfg.kubelet.cluster_domain.clone(),
                listen: cfg.dns.listen_address()?,
                port: cfg.dns.port,
                upstreams,
                cache_size: cfg.dns.cache_size,
                local: node_local.clone(),
            });
        }
        // Node-local Services (kube-dns, kubernetes) reach this node's own listeners only
        // through the packet filter: with forwarding (or no proxy) pods cannot use them.
        let steers_node_local = !matches!(
            cfg.proxy.mode,
            crate::proxy::ProxyMode::Forwarding | crate::proxy::ProxyMode::Off
        );
        // Pods reach the API through their node's relay, where the packet filter can
        // steer the `kubernetes` Service to it (as for kube-dns).
        let relay_on = cfg.roles.contains(&Role::Worker)
            && cfg.kubelet.runtime == crate::config::RuntimeKind::Docker
            && steers_node_local;
        let api_ip =
            crate::apiserver::presence::service_ip(cfg.network.service_ranges()?.service_cidr);
        if relay_on {
            services.apirelay = Some(crate::apirelay::RelaySettings {
                port: crate::apirelay::DEFAULT_PORT,
                local: node_local.clone(),
            });
        }
        if cfg.roles.contains(&Role::Worker) {
            services.ingress = Some(cfg.ingress.clone());
            services.proxy = Some(crate::proxy::ProxySettings {
                mode: cfg.proxy.mode,
                node_address: cfg
                    .proxy
                    .address
                    .parse()
                    .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
                cluster_cidr: cfg.network.cluster_network()?,
                service_cidr: cfg.network.service_ranges()?.service_cidr,
                local_dns: dns_on.then(|| (dns_ip, node_local.clone())),
                local_api: relay_on.then(|| (api_ip, node_local.clone())),
                owner: crate::proxy::iptables::owner(&cfg.cluster_id, &name),
            });
            services.netroute = Some(crate::netroute::NetrouteSettings {
                node: name.clone(),
                address: cfg.node_address(),
                cluster_cidr: cfg.network.cluster_network()?,
                netns: None,
                no_nat: matches!(
                    cfg.proxy.mode,
                    crate::proxy::ProxyMode::Auto | crate::proxy::ProxyMode::Iptables
                ),
            });
            // Policies are enforced by the same packet filter as the proxy's rules.
            if matches!(
                cfg.proxy.mode,
                crate::proxy::ProxyMode::Auto | crate::proxy::ProxyMode::Iptables
            ) {
                services.netpol = Some(crate::netpol::NetpolSettings {
                    node: name.clone(),
                    owner: crate::proxy::iptables::owner(&cfg.cluster_id, &name),
                });
            }
        }
        if cfg.roles.contains(&Role::Worker) {
            use crate::config::RuntimeKind;
            use crate::kubelet::{docker::DockerRuntime, fake::FakeRuntime, images};
            let root_dir = std::path::absolute(cfg.data_dir.join("kubelet"))
                .unwrap_or_else(|_| cfg.data_dir.join("kubelet"));
            services.kubelet = crate::kubelet::KubeletSettings {
                sandbox_image: cfg.kubelet.sandbox_image.clone(),
                pod_options: crate::kubelet::worker::PodOptions {
                    // kube-dns reaches the node's dns actor only through the packet
                    // filter: with forwarding (or no proxy) pods keep the host resolver.
                    cluster_dns: if cfg.kubelet.cluster_dns.is_empty()
                        && dns_on
                        && steers_node_local
                    {
                        vec![dns_ip.to_string()]
                    } else {
                        cfg.kubelet.cluster_dns.clone()
                    },
                    cluster_domain: cfg.kubelet.cluster_domain.clone(),
                    host_resolv_conf: cfg.kubelet.resolv_conf.clone(),
                    host_hosts: "/etc/hosts".into(),
                    pod_pids_limit: Some(cfg.kubelet.pod_pids_limit).filter(|n| *n > 0),
                    seccomp_dir: root_dir.join("seccomp"),
                    host: crate::kubelet::security::HostFeatures {
                        apparmor: crate::kubelet::security::apparmor_enabled(),
                        allowed_unsafe_sysctls: cfg.kubelet.allowed_unsafe_sysctls.clone(),
                        seccomp_default: cfg.kubelet.seccomp_default,
                    },
                },
                reserved: cfg.kubelet.reserved()?,
                node_local_dns: ((dns_on || relay_on)
                    && cfg.kubelet.runtime == RuntimeKind::Docker)
                    .then(|| node_local.clone()),
                metrics_interval: std::time::Duration::from_millis(
                    cfg.kubelet.metrics_interval_ms.max(500),
                ),
                host_ip: cfg.node_address(),
                no_masquerade: services
                    .netroute
                    .as_ref()
                    .filter(|n| {
                        n.no_nat && n.netns.is_none() && cfg.kubelet.runtime == RuntimeKind::Docker
                    })
                    .map(|n| n.cluster_cidr),
                // Absolute: the container runtime binds volume files from under it.
                root_dir,
            };
            services.local_path_dir = Some(
                std::path::absolute(cfg.data_dir.join("storage"))
                    .unwrap_or_else(|_| cfg.data_dir.join("storage")),
            );
            services.container_runtime = match cfg.kubelet.runtime {
                RuntimeKind::Docker => Some(Arc::new(DockerRuntime::new())),
                RuntimeKind::Fake => {
                    let rt = FakeRuntime::new();
                    rt.add_image(&cfg.kubelet.sandbox_image);
                    rt.add_image(images::DEMO_IMAGE);
                    Some(Arc::new(rt))
                }
                RuntimeKind::None => None,
            };
        }
        let supervisor = Supervisor::new(bus.clone(), components(&services)).start();
        let api = if let Some(core) = services.api.clone() {
            match start_api(&cfg, &name, core) {
                Ok(api) => {
                    let local = if api.0.ip().is_unspecified() {
                        SocketAddr::new([127, 0, 0, 1].into(), api.0.port())
                    } else {
                        api.0
                    };
                    node_local.api_server.send_replace(Some(local));
                    Some(api)
                }
                Err(e) => {
                    // Stopped here, not dropped with the runtime: an actor dropped
                    // before it ever ran would start (and arm timers) mid-teardown.
                    let _ = supervisor.send(Shutdown).await;
                    if let Some(store) = &services.store {
                        store.shutdown().await;
                    }
                    bus.shutdown();
                    return Err(e);
                }
            }
        } else {
            None
        };

        let client_config = cfg.data_dir.join("client.toml");
        if holds_token {
            let token_file = std::fs::canonicalize(&token_path).unwrap_or(token_path);
            let dial_address = if bus_address.ip().is_unspecified() {
                SocketAddr::new([127, 0, 0, 1].into(), bus_address.port())
            } else {
                bus_address
            };
            let client = ClientConfig {
                bus_address: dial_address.to_string(),
                cluster_id: cfg.cluster_id.clone(),
                token_file: Some(token_file),
                certificate_file: None,
                key_file: None,
                certificate_authority_file: None,
            };
            let text = toml::to_string(&client).map_err(|e| NodeError::CorruptDataDir {
                path: client_config.clone(),
                message: e.to_string(),
            })?;
            write_atomic(&client_config, text.as_bytes(), true)?;
        } else {
            tracing::info!(
                "this worker holds its node key, not the cluster token: it writes no client \
                 config (use a control-plane node's)"
            );
        }

        Ok(Node {
            name: NodeName::new(name),
            bus_address,
            data_dir: cfg.data_dir,
            client_config,
            bus,
            supervisor,
            services,
            api_address: api.as_ref().map(|a| a.0),
            kubeconfig: api.as_ref().map(|a| a.1.clone()),
            api_server: api.map(|a| a.2),
            metrics_address: metrics.as_ref().map(|m| m.0),
            metrics_server: metrics.map(|m| m.1),
        })
    }

    /// Stops every actor and closes every link.
    pub async fn shutdown(self) {
        if let Some(api) = &self.api_server {
            api.stop(true).await;
        }
        if let Some(m) = &self.metrics_server {
            m.abort();
        }
        let _ = self.supervisor.send(Shutdown).await;
        if let Some(proxy) = &self.services.proxy {
            use crate::proxy::{iptables, ProxyMode};
            if matches!(proxy.mode, ProxyMode::Auto | ProxyMode::Iptables) && iptables::available()
            {
                // This node's chains only: other nodes and clusters keep theirs.
                if let Err(e) = iptables::remove_owner(&proxy.owner) {
                    tracing::warn!(error = %e, "cannot remove the proxy's packet-filter chains");
                }
            }
        }
        if let Some(store) = &self.services.store {
            store.shutdown().await;
        }
        self.bus.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_is_claimed_once_and_foreign_ones_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        claim_data_dir(dir.path(), "c1", "n1").expect("fresh dir is claimed");
        claim_data_dir(dir.path(), "c1", "n1").expect("same owner again");
        let err = claim_data_dir(dir.path(), "c1", "n2").expect_err("other node refused");
        assert!(matches!(err, NodeError::ForeignDataDir { .. }), "{err}");
        let err = claim_data_dir(dir.path(), "c2", "n1").expect_err("other cluster refused");
        assert!(matches!(err, NodeError::ForeignDataDir { .. }), "{err}");
        std::fs::write(dir.path().join("identity.toml"), b"\x00garbage").expect("write");
        let err = claim_data_dir(dir.path(), "c1", "n1").expect_err("corrupt refused");
        assert!(matches!(err, NodeError::CorruptDataDir { .. }), "{err}");
    }

    #[test]
    fn token_is_created_once_and_then_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/token");
        let a = load_or_create_token(&path).expect("created");
        let b = load_or_create_token(&path).expect("reused");
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
    }
}
