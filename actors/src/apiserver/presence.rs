//! What every API server keeps in the store about itself, so that pods can reach the
//! API: Kubernetes' bootstrap controller and its lease endpoint reconciler.
//!
//! - The `default/kubernetes` Service, at the first address of the service range
//!   (`10.96.0.1:443`), without a selector (the endpoints controller leaves it alone).
//! - One Lease per API server, `kube-system/apiserver-<node>`, labelled
//!   `apiserver.kubernetes.io/identity=kube-apiserver`, renewed every
//!   [`RENEW_EVERY`] and naming the address the server is reached at.
//! - The Service's Endpoints: the addresses of the API servers whose lease is current,
//!   written by every API server alike (the same desired state, so their writes agree),
//!   so a stopped one drops out within a lease's duration.
//! - The CA bundle `kube-system/rudder-apiserver-ca`: each API server's serving CA under
//!   its node's name (every control-plane node makes its own CA), which
//!   [`crate::controllers::rootca`] copies into `kube-root-ca.crt` in every namespace for
//!   pods to verify whichever API server answers them.
//!
//! Pods reach the Service through their node: the proxy steers `10.96.0.1:443` to the
//! node's API relay ([`crate::apirelay`]), which connects to an address of these
//! Endpoints (or to the node's own API server).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use rudder_protocol::resources::{Lease, MicroTime};
use serde_json::{json, Value};

use super::core::{served, ApiCore, ApiResult, ListOptions, Part, WriteOptions};
use super::registry::ResourceInfo;

/// The Service pods reach the API through.
pub const SERVICE: (&str, &str) = ("default", "kubernetes");
/// The ConfigMap holding each API server's CA.
pub const CA_BUNDLE: (&str, &str) = ("kube-system", "rudder-apiserver-ca");
/// The label of API server leases.
pub const IDENTITY_LABEL: &str = "apiserver.kubernetes.io/identity";
/// The annotation of a lease naming its server's address.
pub const ADDRESS_ANNOTATION: &str = "rudder.io/apiserver-address";
/// How often an API server renews its lease and reconciles.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How long a lease holds without renewal.
const LEASE_SECONDS: i64 = 30;
/// The namespace of the leases.
pub const LEASE_NAMESPACE: &str = "kube-system";

/// The address of the `kubernetes` Service: the first of the service range.
pub fn service_ip(service_cidr: ipnetwork::Ipv4Network) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(service_cidr.network()).wrapping_add(1))
}

/// This API server, as it announces itself.
#[derive(Debug, Clone)]
pub struct Presence {
    /// The node it runs on.
    pub node: String,
    /// Where clients reach it.
    pub address: SocketAddr,
    /// Its serving CA (PEM).
    pub ca_pem: String,
}

/// The address an API server's lease announces, if the lease is an API server's and
/// current at `now` (Unix microseconds). Loopback addresses included: on a one-host
/// cluster they are what the nodes' API relays reach.
pub fn lease_address(lease: &Lease, now: i64) -> Option<SocketAddr> {
    if lease
        .metadata
        .labels
        .get(IDENTITY_LABEL)
        .map(String::as_str)
        != Some("kube-apiserver")
    {
        return None;
    }
    let renewed = lease
        .spec
        .renew_time
        .as_ref()
        .map_or(0, |t| t.unix_micros());
    let held = lease
        .spec
        .lease_duration_seconds
        .map_or(LEASE_SECONDS, i64::from);
    if renewed.saturating_add(held.saturating_mul(1_000_000)) < now {
        return None;
    }
    lease
        .metadata
        .annotations
        .get(ADDRESS_ANNOTATION)?
        .parse()
        .ok()
}

/// The addresses of the leases current at `now` (Unix microseconds) that may be
/// Endpoints, sorted.
fn current_addresses(leases: &[Value], now: i64) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = leases
        .iter()
        .filter_map(|l| serde_json::from_value::<Lease>(l.clone()).ok())
        .filter_map(|l| lease_address(&l, now))
        // Endpoints may not be loopback addresses (Kubernetes' validation): an API
        // server on loopback only is reached by the nodes' relays through its lease.
        .filter(|a| !a.ip().is_loopback())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The Endpoints subsets for these addresses: one subset per port, as Kubernetes
/// groups them.
fn subsets(addresses: &[SocketAddr]) -> Value {
    let mut by_port: std::collections::BTreeMap<u16, Vec<Value>> = Default::default();
    for a in addresses {
        by_port
            .entry(a.port())
            .or_default()
            .push(json!({"ip": a.ip().to_string()}));
    }
    Value::Array(
        by_port
            .into_iter()
            .map(|(port, addresses)| {
                json!({"addresses": addresses,
                       "ports": [{"name": "https", "port": port, "protocol": "TCP"}]})
            })
            .collect(),
    )
}

impl ApiCore {
    /// The `kubernetes` Service (bootstrap).
    pub(super) async fn bootstrap_kubernetes_service(&self) -> ApiResult<()> {
        let services = served("", "services")?;
        let (ns, name) = SERVICE;
        let ip = service_ip(self.ranges.service_cidr).to_string();
        let obj = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": ip, "clusterIPs": [ip], "type": "ClusterIP",
                     "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
        });
        match self
            .create(services, Some(ns), obj, WriteOptions::default())
            .await
        {
            Ok(_) => tracing::info!(address = %ip, "created the kubernetes service"),
            Err(e) if e.code == 409 => {}
            // The address may be held by another Service (a range shared with an older
            // cluster): the API is still reachable directly; do not fail start-up.
            Err(e) => {
                tracing::warn!(error = %e.message, "cannot create the kubernetes service")
            }
        }
        Ok(())
    }

    /// Renews this server's lease, publishes its CA, reconciles the Endpoints; forever,
    /// every [`RENEW_EVERY`] (errors are retried at the next round).
    pub async fn keep_presence(self, me: Presence) {
        // Until the first round succeeds (the store electing, the bootstrap namespaces
        // not there yet) it is tried again soon: pods wait for the CA bundle.
        let mut retry = std::time::Duration::from_millis(200);
        loop {
            let wait = match self.presence_round(&me).await {
                Ok(()) => {
                    retry = RENEW_EVERY;
                    RENEW_EVERY
                }
                Err(e) => {
                    tracing::debug!(error = %e.message, "api server presence not updated yet");
                    let wait = retry;
                    retry = (retry * 2).min(RENEW_EVERY);
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    async fn presence_round(&self, me: &Presence) -> ApiResult<()> {
        self.renew_lease(me).await?;
        self.publish_ca(me).await?;
        self.reconcile_endpoints().await
    }

    async fn renew_lease(&self, me: &Presence) -> ApiResult<()> {
        let leases = served("coordination.k8s.io", "leases")?;
        let name = format!("apiserver-{}", me.node);
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": LEASE_NAMESPACE,
                "labels": {IDENTITY_LABEL: "kube-apiserver", "kubernetes.io/hostname": me.node},
                "annotations": {ADDRESS_ANNOTATION: me.address.to_string()}},
            "spec": {"holderIdentity": me.node, "leaseDurationSeconds": LEASE_SECONDS,
                     "renewTime": MicroTime::now().to_string()},
        });
        let patch = json!({"metadata": {"annotations": lease["metadata"]["annotations"],
                                        "labels": lease["metadata"]["labels"]},
                           "spec": lease["spec"]});
        self.merge_or_create(leases, LEASE_NAMESPACE, &name, patch, lease)
            .await
    }

    async fn publish_ca(&self, me: &Presence) -> ApiResult<()> {
        let config_maps = served("", "configmaps")?;
        let (ns, name) = CA_BUNDLE;
        let key = format!("{}.crt", me.node);
        if let Some(cm) = self.cached(config_maps, &super::core::key(config_maps, Some(ns), name)) {
            if cm["data"][&key].as_str() == Some(me.ca_pem.as_str()) {
                return Ok(());
            }
        }
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name, "namespace": ns},
                        "data": {key.clone(): me.ca_pem}});
        let patch = json!({"data": {key: me.ca_pem}});
        self.merge_or_create(config_maps, ns, name, patch, cm).await
    }

    async fn reconcile_endpoints(&self) -> ApiResult<()> {
        let leases = served("coordination.k8s.io", "leases")?;
        let opts = ListOptions {
            label_selector: Some(format!("{IDENTITY_LABEL}=kube-apiserver")),
            ..ListOptions::default()
        };
        let (items, _, _) = self.list(leases, Some(LEASE_NAMESPACE), &opts).await?;
        let addresses = current_addresses(&items, MicroTime::now().unix_micros());
        if addresses.is_empty() {
            return Ok(());
        }
        let endpoints = served("", "endpoints")?;
        let (ns, name) = SERVICE;
        let want = subsets(&addresses);
        if let Some(ep) = self.cached(endpoints, &super::core::key(endpoints, Some(ns), name)) {
            if ep["subsets"] == want {
                return Ok(());
            }
        }
        let ep = json!({"apiVersion": "v1", "kind": "Endpoints",
                        "metadata": {"name": name, "namespace": ns,
                                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                        "subsets": want});
        let patch = json!({"subsets": want});
        self.merge_or_create(endpoints, ns, name, patch, ep).await
    }

    /// Merge-patches an object, creating it as `whole` when it does not exist.
    async fn merge_or_create(
        &self,
        info: &'static ResourceInfo,
        ns: &str,
        name: &str,
        patch: Value,
        whole: Value,
    ) -> ApiResult<()> {
        match self
            .patch(
                info,
                Some(ns),
                name,
                "application/merge-patch+json",
                &patch,
                Part::Main,
                WriteOptions::default(),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code == 404 => match self
                .create(info, Some(ns), whole, WriteOptions::default())
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.code == 409 => Ok(()),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn lease(addr: &str, renewed_secs_ago: i64, now: i64, label: &str) -> Value {
        let renewed = MicroTime::from_unix_micros(now - renewed_secs_ago * 1_000_000);
        json!({"metadata": {"labels": {IDENTITY_LABEL: label},
                            "annotations": {ADDRESS_ANNOTATION: addr}},
               "spec": {"renewTime": renewed.to_string(), "leaseDurationSeconds": 30}})
    }

    #[test]
    fn only_current_leases_give_endpoints() {
        let now = 1_800_000_000_000_000;
        let leases = [
            lease("10.0.0.1:6443", 5, now, "kube-apiserver"),
            lease("10.0.0.2:7443", 29, now, "kube-apiserver"),
            lease("10.0.0.3:6443", 31, now, "kube-apiserver"),
            lease("10.0.0.4:6443", 1, now, "something-else"),
            lease("10.0.0.1:6443", 1, now, "kube-apiserver"),
            // Loopback: never an endpoint.
            lease("127.0.0.1:6443", 1, now, "kube-apiserver"),
        ];
        let got = current_addresses(&leases, now);
        assert_eq!(
            got,
            [
                "10.0.0.1:6443".parse().unwrap(),
                "10.0.0.2:7443".parse().unwrap()
            ]
        );
        assert_eq!(
            subsets(&got),
            json!([
                {"addresses": [{"ip": "10.0.0.1"}], "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]},
                {"addresses": [{"ip": "10.0.0.2"}], "ports": [{"name": "https", "port": 7443, "protocol": "TCP"}]},
            ])
        );
    }

    #[test]
    fn the_service_takes_the_first_address() {
        assert_eq!(
            service_ip("10.96.0.0/12".parse().unwrap()),
            Ipv4Addr::new(10, 96, 0, 1)
        );
    }
}
