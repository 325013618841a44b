//! The node's API relay: where the node's pods reach the API server through the
//! `kubernetes` Service (`10.96.0.1:443`), which the proxy steers here
//! ([`crate::proxy::plan::steer_local_api`]), as k3s' agents run a local load balancer
//! in front of their servers.
//!
//! It listens on the pod bridge's gateway (published by the kubelet in
//! [`crate::dns::NodeLocal`]) at [`RelaySettings::port`] and relays each connection, as
//! bytes (TLS goes end to end: the API servers' certificates name the Service's address
//! and DNS names), to this node's own API server when it has one, else to an address of
//! the `default/kubernetes` Endpoints ([`crate::apiserver::presence`]), then those the
//! API servers' leases announce (loopback ones included: Endpoints may not hold them, and
//! on a one-host cluster they are the only ones), trying the next one when one refuses.
//! It runs in the node's network namespace, so API servers on loopback are reachable.
//!
//! Owns nothing in the cluster; killed, its listener closes and the open connections
//! end with it (clients reconnect); restarted, it binds again.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::resources::{Endpoints, Lease, MicroTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::apiserver::presence;
use crate::informer::{ObjectKey, Scope, SharedInformers};
use crate::supervisor::{ComponentSpec, StartContext, Started};

/// The component's name.
pub const NAME: &str = "apirelay";
/// The default port on the gateway.
pub const DEFAULT_PORT: u16 = 6443;
/// How long one upstream may take to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long to wait before binding again after a failure.
const BIND_RETRY: Duration = Duration::from_secs(2);

/// What the relay needs to know.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// The port on the gateway.
    pub port: u16,
    /// Shared with the kubelet (the gateway), the proxy (where the relay listens) and
    /// the node (its own API server, tried first).
    pub local: Arc<crate::dns::NodeLocal>,
}

/// The supervised component.
pub fn component(settings: RelaySettings) -> ComponentSpec {
    ComponentSpec::new(NAME, move |ctx: &StartContext| {
        Started::task(run(ctx.informers.clone(), settings.clone()))
    })
}

/// The upstreams to try, in order: the node's own API server, the Endpoints', then the
/// other addresses the API servers' current leases announce (sorted).
pub fn upstreams(
    local: Option<SocketAddr>,
    endpoints: Option<&Endpoints>,
    leases: &[std::sync::Arc<Lease>],
    now: i64,
) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = local.into_iter().collect();
    for subset in endpoints.iter().flat_map(|e| &e.subsets) {
        for port in &subset.ports {
            let Ok(port) = u16::try_from(port.port) else {
                continue;
            };
            for a in &subset.addresses {
                if let Ok(ip) = a.ip.parse() {
                    let addr = SocketAddr::new(ip, port);
                    if !out.contains(&addr) {
                        out.push(addr);
                    }
                }
            }
        }
    }
    let mut announced: Vec<SocketAddr> = leases
        .iter()
        .filter_map(|l| presence::lease_address(l, now))
        .filter(|a| !out.contains(a))
        .collect();
    announced.sort();
    announced.dedup();
    out.extend(announced);
    out
}

async fn run(informers: SharedInformers, settings: RelaySettings) {
    let endpoints = informers.all::<Endpoints>();
    let cache = endpoints.cache();
    let lease_informer = informers.informer::<Lease>(Scope::namespace(presence::LEASE_NAMESPACE));
    let leases = lease_informer.cache();
    let mut gateway = settings.local.gateway.subscribe();
    loop {
        let Some(gw) = *gateway.borrow_and_update() else {
            if gateway.changed().await.is_err() {
                return std::future::pending().await;
            }
            continue;
        };
        let listener = match TcpListener::bind((gw, settings.port)).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(address = %gw, port = settings.port, error = %e, "api relay cannot listen; retrying");
                tokio::time::sleep(BIND_RETRY).await;
                continue;
            }
        };
        let bound = listener.local_addr().ok();
        settings.local.api_serving.send_replace(bound);
        tracing::info!(address = ?bound, "api relay listening");
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((client, _)) => {
                        let targets = upstreams(
                            *settings.local.api_server.borrow(),
                            cache.get(&ObjectKey::namespaced("default", "kubernetes")).as_deref(),
                            &leases.list(),
                            MicroTime::now().unix_micros(),
                        );
                        conns.spawn(relay(client, targets));
                    }
                    Err(e) => tracing::debug!(error = %e, "api relay accept failed"),
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                changed = gateway.changed() => {
                    if changed.is_err() {
                        return std::future::pending().await;
                    }
                    break;
                }
            }
        }
        settings.local.api_serving.send_replace(None);
    }
}

/// Relays one client to the first upstream that accepts.
async fn relay(mut client: TcpStream, targets: Vec<SocketAddr>) {
    for target in &targets {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
            Ok(Ok(mut upstream)) => {
                let _ = client.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                return;
            }
            Ok(Err(e)) => tracing::debug!(%target, error = %e, "api server refused the relay"),
            Err(_) => tracing::debug!(%target, "api server did not answer the relay in time"),
        }
    }
    tracing::warn!(
        tried = targets.len(),
        "no api server reachable for a pod's connection"
    );
}

/// The relay's view of the Endpoints, for tests.
#[cfg(test)]
fn endpoints(v: serde_json::Value) -> Endpoints {
    serde_json::from_value(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lease(name: &str, address: &str, renewed: i64) -> std::sync::Arc<Lease> {
        std::sync::Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "kube-system",
                             "labels": {presence::IDENTITY_LABEL: "kube-apiserver"},
                             "annotations": {presence::ADDRESS_ANNOTATION: address}},
                "spec": {"renewTime": MicroTime::from_unix_micros(renewed).to_string(),
                         "leaseDurationSeconds": 30},
            }))
            .unwrap_or_default(),
        )
    }

    #[test]
    fn the_local_server_comes_first_then_the_endpoints_then_the_leases() {
        let ep = endpoints(json!({"subsets": [
            {"addresses": [{"ip": "127.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 6443}]},
            {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": 7443}]},
        ]}));
        let local: SocketAddr = "127.0.0.1:6443"
            .parse()
            .unwrap_or(SocketAddr::from(([0; 4], 0)));
        let now = 1_000_000_000_000;
        let leases = [
            lease("apiserver-c", "127.0.0.3:6443", now - 5_000_000),
            lease("apiserver-b", "10.0.0.2:6443", now),
            // Expired: not tried.
            lease("apiserver-d", "127.0.0.4:6443", now - 31_000_000),
            lease("apiserver-a", "127.0.0.2:6443", now),
        ];
        let got = upstreams(Some(local), Some(&ep), &leases, now);
        let want: Vec<SocketAddr> = [
            "127.0.0.1:6443",
            "10.0.0.2:6443",
            "127.0.0.1:7443",
            "127.0.0.2:6443",
            "127.0.0.3:6443",
        ]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
        assert_eq!(got, want);
        assert!(upstreams(None, None, &[], now).is_empty());
    }
}
