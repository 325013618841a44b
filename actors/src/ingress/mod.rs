//! The `ingress` actor: Rudder's built-in ingress controller (IngressClass `rudder`,
//! controller `rudder.io/ingress`, the default class), on every worker node.
//!
//! It owns nothing in the store but the `status` of the Ingresses it serves. The node's
//! shared informers on Ingresses, IngressClasses, Services, Endpoints, Secrets and Nodes
//! feed a pure routing table ([`routes`]); every change rebuilds it, with the Services'
//! ready endpoints (the proxy's [`crate::proxy::plan`]) and the TLS certificates of the
//! Secrets the Ingresses name, and swaps it in whole. [`serve`] answers HTTP on the
//! `[ingress] http_listen` address and HTTPS on `https_listen`, relaying each request to
//! a ready endpoint of its backend. The listeners are opened once there is something
//! to serve (so nodes without Ingresses hold no port) and closed with the actor; an
//! address that cannot be bound is retried. Each served Ingress lists the node's
//! InternalIP in `status.loadBalancer.ingress`.
//!
//! Messages in: none but [`crate::supervisor::Stop`].

pub mod routes;
pub mod serve;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::resources::{
    Endpoints, Ingress, IngressClass, IngressLoadBalancerIngress, Node, NodeAddressType, Secret,
    Service,
};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use self::serve::{certified_key, Routing, Shared};
use crate::informer::{ApiHandle, Cache, SharedInformers};
use crate::supervisor::{ComponentSpec, StartContext, Started};

/// The actor's name on the bus.
pub const NAME: &str = "ingress";

/// How often a listener that could not be bound is tried again, and a periodic resync.
const RETRY: Duration = Duration::from_secs(5);

/// The `[ingress]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngressSection {
    /// Where HTTP is served (`host:port`); empty: not at all.
    pub http_listen: String,
    /// Where HTTPS is served (`host:port`); empty: not at all.
    pub https_listen: String,
}

impl Default for IngressSection {
    fn default() -> Self {
        IngressSection {
            http_listen: "0.0.0.0:80".into(),
            https_listen: "0.0.0.0:443".into(),
        }
    }
}

/// The component, for the supervisor.
pub fn component(settings: IngressSection) -> ComponentSpec {
    ComponentSpec::new(NAME, move |ctx: &StartContext| {
        let handle = ApiHandle::new(ctx.bus.clone());
        Started::task(run(handle, ctx.informers.clone(), settings.clone()))
    })
}

/// Aborts the task it holds when dropped: listeners close with the actor.
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Listeners {
    http: Option<Task>,
    https: Option<Task>,
}

struct Caches {
    ingresses: Cache<Ingress>,
    classes: Cache<IngressClass>,
    services: Cache<Service>,
    endpoints: Cache<Endpoints>,
    secrets: Cache<Secret>,
    nodes: Cache<Node>,
}

impl Caches {
    fn served(&self) -> Vec<Arc<Ingress>> {
        let classes = self.classes.list();
        self.ingresses
            .list()
            .into_iter()
            .filter(|i| i.metadata.deletion_timestamp.is_none() && routes::ours(i, &classes))
            .collect()
    }

    /// The routing for the Ingresses served now.
    fn routing(&self, served: &[Arc<Ingress>]) -> Routing {
        let refs: Vec<&Ingress> = served.iter().map(Arc::as_ref).collect();
        let table = routes::build(&refs);
        let svcs = self.services.list();
        let eps = self.endpoints.list();
        let ports = crate::proxy::plan::plan(
            &svcs.iter().map(Arc::as_ref).collect::<Vec<_>>(),
            &eps.iter().map(Arc::as_ref).collect::<Vec<_>>(),
        );
        let mut certs = HashMap::new();
        let mut default_cert = None;
        for entry in &table.tls {
            let key = crate::informer::ObjectKey::namespaced(&entry.namespace, &entry.secret);
            let Some(secret) = self.secrets.get(&key) else {
                warn!(secret = %key, "TLS secret of an Ingress not found");
                continue;
            };
            let (Some(crt), Some(k)) = (secret.data.get("tls.crt"), secret.data.get("tls.key"))
            else {
                warn!(secret = %key, "TLS secret lacks tls.crt or tls.key");
                continue;
            };
            match certified_key(crt.as_bytes(), k.as_bytes()) {
                Ok(ck) => {
                    if entry.hosts.is_empty() {
                        default_cert.get_or_insert(ck);
                    } else {
                        for h in &entry.hosts {
                            certs.entry(h.clone()).or_insert_with(|| ck.clone());
                        }
                    }
                }
                Err(e) => warn!(secret = %key, error = %e, "TLS secret unusable"),
            }
        }
        Routing {
            table,
            ports,
            certs,
            default_cert,
        }
    }

    fn node_ip(&self, node: &str) -> Option<String> {
        let n = self.nodes.get(&crate::informer::ObjectKey::cluster(node))?;
        n.status
            .addresses
            .iter()
            .find(|a| a.type_ == NodeAddressType::InternalIp)
            .map(|a| a.address.clone())
    }
}

async fn bind(addr: &str) -> Option<TcpListener> {
    let parsed: SocketAddr = match addr.parse() {
        Ok(a) => a,
        Err(e) => {
            warn!(address = addr, error = %e, "invalid ingress listen address");
            return None;
        }
    };
    match TcpListener::bind(parsed).await {
        Ok(l) => {
            info!(address = %parsed, "ingress listening");
            Some(l)
        }
        Err(e) => {
            warn!(address = %parsed, error = %e, retry_in = ?RETRY, "cannot open the ingress port");
            None
        }
    }
}

impl Listeners {
    /// Opens what is configured and not open yet.
    async fn open(&mut self, s: &IngressSection, shared: &Arc<Shared>) {
        if self.http.is_none() && !s.http_listen.is_empty() {
            if let Some(l) = bind(&s.http_listen).await {
                self.http = Some(Task(tokio::spawn(serve::serve_http(l, shared.clone()))));
            }
        }
        if self.https.is_none() && !s.https_listen.is_empty() {
            match serve::tls_config(shared.clone()) {
                Ok(config) => {
                    if let Some(l) = bind(&s.https_listen).await {
                        let task = serve::serve_https(l, shared.clone(), config);
                        self.https = Some(Task(tokio::spawn(task)));
                    }
                }
                Err(e) => warn!(error = %e, "cannot configure TLS for the ingress"),
            }
        }
    }

    fn complete(&self, s: &IngressSection) -> bool {
        (self.http.is_some() || s.http_listen.is_empty())
            && (self.https.is_some() || s.https_listen.is_empty())
    }
}

/// Adds this node's address to the status of each served Ingress that lacks it.
async fn publish(api: &ApiHandle, served: &[Arc<Ingress>], ip: &str) {
    for ing in served {
        let lb = &ing.status.load_balancer.ingress;
        if lb.iter().any(|i| i.ip == ip) {
            continue;
        }
        let mut updated = ing.as_ref().clone();
        updated
            .status
            .load_balancer
            .ingress
            .push(IngressLoadBalancerIngress {
                ip: ip.to_owned(),
                ..Default::default()
            });
        let name = &ing.metadata.name;
        let namespace = ing.metadata.namespace.as_str();
        if let Err(e) = api
            .api::<Ingress>(Some(namespace))
            .update_status(&updated)
            .await
        {
            // A conflict means a newer version is on its way to the cache.
            if !e.is_conflict() {
                warn!(ingress = %format!("{namespace}/{name}"), error = %e, "cannot write ingress status");
            }
        }
    }
}

async fn run(api: ApiHandle, informers: SharedInformers, settings: IngressSection) {
    let dirty = Arc::new(Notify::new());
    let mut subs = Vec::new();
    macro_rules! watch {
        ($k:ty) => {{
            let inf = informers.all::<$k>();
            let d = dirty.clone();
            subs.push(inf.subscribe(move |_| d.notify_one()));
            inf.cache()
        }};
    }
    let caches = Caches {
        ingresses: watch!(Ingress),
        classes: watch!(IngressClass),
        services: watch!(Service),
        endpoints: watch!(Endpoints),
        secrets: watch!(Secret),
        nodes: watch!(Node),
    };
    caches.ingresses.wait_synced().await;
    caches.classes.wait_synced().await;
    let shared = Arc::new(Shared::default());
    let mut listeners = Listeners {
        http: None,
        https: None,
    };
    let node = api.node().to_string();
    loop {
        let served = caches.served();
        let routing = caches.routing(&served);
        let serving = !routing.table.is_empty();
        shared.set(routing);
        if serving {
            listeners.open(&settings, &shared).await;
            if let Some(ip) = caches.node_ip(&node) {
                publish(&api, &served, &ip).await;
            }
        }
        let wait = if serving && !listeners.complete(&settings) {
            RETRY
        } else {
            RETRY * 6
        };
        tokio::select! {
            _ = dirty.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
