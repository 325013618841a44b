//! The `netpol` actor on every worker whose proxy uses the packet filter: enforces the
//! NetworkPolicies (`networking.k8s.io/v1`) for the pods of its node.
//!
//! It owns nothing in the store. The node's shared informers on NetworkPolicies, Pods and
//! Namespaces (subscribed to again after a restart, never watched twice) feed the pure
//! [`plan::plan`], and [`iptables::filter_plan`] turns the result into the node's own
//! `filter` chains, `RUDDER-<owner>-*` with the proxy's owner tag, written by one
//! `iptables-restore` per sync. As the proxy does, every change wakes one sync that
//! programs the whole desired state; a failed sync is retried after a back-off
//! ([`crate::proxy::SYNC_RETRY`]), and a periodic resync ([`RESYNC`]) puts back what was
//! changed behind its back, the jump into its chains included (the proxy may insert the
//! shared pod-to-pod accept above it; [`iptables::ensure_jump`] moves it back on top).
//!
//! Killing it leaves the last programmed rules in force (policies keep holding while it
//! restarts); a clean stop of the node removes them with the proxy's chains. Where the
//! packet filter cannot be used (no root, forwarding proxy) it says so once and enforces
//! nothing. Messages in: none but [`crate::supervisor::Stop`].

pub mod iptables;
pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::resources::{Namespace, NetworkPolicy, Pod};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::informer::SharedInformers;
use crate::supervisor::{ComponentSpec, StartContext, Started};

/// The actor's name on every worker.
pub const NAME: &str = "netpol";
/// A full resync this often, as a safety net against rules changed behind our back.
const RESYNC: Duration = Duration::from_secs(30);

/// What the actor needs to know of its node.
#[derive(Debug, Clone)]
pub struct NetpolSettings {
    /// The node's name: its pods are the ones it filters for.
    pub node: String,
    /// The owner tag of the node's packet-filter chains (the proxy's).
    pub owner: String,
}

/// The `netpol` component.
pub fn component(settings: NetpolSettings) -> ComponentSpec {
    ComponentSpec::new(NAME, move |ctx: &StartContext| {
        Started::task(run(ctx.informers.clone(), settings.clone()))
    })
}

/// Programs `desired`; `known` are the owner's chains as of the last success (`None`:
/// ask iptables). Returns the chains that exist afterwards.
async fn sync(
    owner: &str,
    desired: &plan::Desired,
    known: Option<Vec<String>>,
) -> Result<Vec<String>, String> {
    let (owner, desired) = (owner.to_owned(), desired.clone());
    tokio::task::spawn_blocking(move || {
        iptables::ensure_jump(&owner)?;
        let existing = match known {
            Some(c) => c,
            None => iptables::existing_chains(&owner)?,
        };
        let (text, chains) = iptables::filter_plan(&owner, &desired, &existing);
        iptables::restore(&text).map(|()| chains)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

async fn run(informers: SharedInformers, settings: NetpolSettings) {
    if !crate::proxy::iptables::available() {
        warn!("the packet filter is not usable here: network policies are not enforced");
        return std::future::pending().await;
    }
    let dirty = Arc::new(Notify::new());
    let (policies, pods, namespaces) = (
        informers.all::<NetworkPolicy>(),
        informers.all::<Pod>(),
        informers.all::<Namespace>(),
    );
    let d = dirty.clone();
    let _p = policies.subscribe(move |_| d.notify_one());
    let d = dirty.clone();
    let _o = pods.subscribe(move |_| d.notify_one());
    let d = dirty.clone();
    let _n = namespaces.subscribe(move |_| d.notify_one());
    let (policies, pods, namespaces) = (policies.cache(), pods.cache(), namespaces.cache());
    policies.wait_synced().await;
    pods.wait_synced().await;
    namespaces.wait_synced().await;
    info!(node = %settings.node, "enforcing network policies with the packet filter");
    let mut programmed: Option<plan::Desired> = None;
    let mut known: Option<Vec<String>> = None;
    let mut retry = crate::proxy::SYNC_RETRY;
    let mut log: crate::retry::LogLimiter<()> = crate::retry::LogLimiter::default();
    loop {
        let (nps, ps, nss) = (policies.list(), pods.list(), namespaces.list());
        let desired = plan::plan(
            &settings.node,
            &nps.iter().map(Arc::as_ref).collect::<Vec<_>>(),
            &ps.iter().map(Arc::as_ref).collect::<Vec<_>>(),
            &nss.iter().map(Arc::as_ref).collect::<Vec<_>>(),
        );
        if programmed.as_ref() != Some(&desired) {
            let started = tokio::time::Instant::now();
            match sync(&settings.owner, &desired, known.take()).await {
                Ok(chains) => {
                    tracing::debug!(
                        pods = desired.pods.len(),
                        policies = desired.policies.len(),
                        took = ?started.elapsed(),
                        "network policies programmed"
                    );
                    known = Some(chains);
                    programmed = Some(desired);
                    retry.succeeded();
                    log.clear(&());
                }
                Err(e) => {
                    let retry_in = retry.failed();
                    if let Some(suppressed) = log.admit(&(), started) {
                        warn!(error = %e, ?retry_in, suppressed, "network policy sync failed; retrying");
                    }
                    tokio::time::sleep(retry_in).await;
                    continue;
                }
            }
        }
        tokio::select! {
            _ = dirty.notified() => {}
            _ = tokio::time::sleep(RESYNC) => {
                programmed = None;
                known = None;
            }
        }
    }
}
