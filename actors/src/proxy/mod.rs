//! The `proxy` actor (kube-proxy) on every worker: keeps the node's service plumbing in
//! step with Services and Endpoints.
//!
//! It owns nothing in the store: the node's shared informers on Services and Endpoints
//! (subscribed to again after a restart, never watched twice) feed a pure
//! [`plan::plan`], and one of two back ends programs the result:
//! - [`iptables`] (packet filter) when it runs as root and iptables works (or is told to);
//! - [`forward`] (forwarding) otherwise, or when configured: it listens on the node ports
//!   itself and relays to ready endpoints.
//!
//! Every change of either kind wakes one sync, which programs the whole desired state
//! (idempotent); changes that arrive during a sync are handled together by the next one,
//! and a failed sync is retried after a back-off ([`SYNC_RETRY`]; changes wait with
//! it), its warning written once per [`crate::retry::LOG_EVERY`]. In packet-filter mode a sync is one `iptables-restore`:
//! the chains present are remembered from the previous sync and only read back from
//! `iptables-save` at start, after a failure and at the periodic resync. Messages in: none but [`crate::supervisor::Stop`].

pub mod forward;
pub mod iptables;
pub mod plan;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use rudder_protocol::resources::{Endpoints, Service};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::informer::SharedInformers;
use crate::supervisor::{ComponentSpec, StartContext, Started};

/// The actor's name on every worker.
pub const NAME: &str = rudder_protocol::names::actors::PROXY;
/// A full resync this often, as a safety net against rules changed behind our back.
const RESYNC: Duration = Duration::from_secs(30);
/// A failed sync is tried again after 1 s, doubling to [`RESYNC`].
pub const SYNC_RETRY: crate::retry::Retry =
    crate::retry::Retry::new(Duration::from_secs(1), RESYNC);

/// How the proxy programs the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProxyMode {
    /// Packet filter when possible, else forwarding.
    #[default]
    Auto,
    /// iptables rules (needs root).
    Iptables,
    /// The proxy listens on node ports and relays itself.
    Forwarding,
    /// No proxy.
    Off,
}

/// What the proxy needs to know of the node and the cluster.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// The mode asked for.
    pub mode: ProxyMode,
    /// The node's address: node ports are served here in forwarding mode.
    pub node_address: IpAddr,
    /// The pod network (masquerading decisions, blackhole route).
    pub cluster_cidr: Ipv4Network,
    /// The service network (blackhole route).
    pub service_cidr: Ipv4Network,
    /// The cluster DNS Service's address and where this node's `dns` actor serves:
    /// that Service is steered there ([`plan::steer_local_dns`]).
    pub local_dns: Option<(std::net::Ipv4Addr, Arc<crate::dns::NodeLocal>)>,
    /// The `kubernetes` Service's address and the node-local cell naming where this
    /// node's API relay listens: that Service is steered there
    /// ([`plan::steer_local_api`]).
    pub local_api: Option<(std::net::Ipv4Addr, Arc<crate::dns::NodeLocal>)>,
    /// The owner tag of this node's packet-filter chains ([`iptables::owner`]).
    pub owner: String,
}

/// The `proxy` component.
pub fn component(settings: ProxySettings) -> ComponentSpec {
    ComponentSpec::new(NAME, move |ctx: &StartContext| {
        Started::task(run(ctx.informers.clone(), settings.clone()))
    })
}

enum Backend {
    /// iptables, with Rudder's chains as of the last successful restore (`None`: ask
    /// `iptables-save`), so a sync costs one `iptables-restore` and nothing else.
    PacketFilter(Option<Vec<String>>),
    Forwarding(forward::Forwarder),
}

impl Backend {
    fn choose(s: &ProxySettings) -> Backend {
        let iptables_ok = matches!(s.mode, ProxyMode::Auto | ProxyMode::Iptables)
            && iptables::available()
            && iptables::ensure_base(&s.owner, s.cluster_cidr)
                .map_err(|e| warn!(error = %e, "cannot prepare iptables"))
                .is_ok();
        if iptables_ok {
            iptables::ensure_blackholes(&[s.cluster_cidr, s.service_cidr]);
            info!("proxy mode: packet filter (iptables)");
            Backend::PacketFilter(None)
        } else {
            if s.mode == ProxyMode::Iptables {
                warn!("iptables is not usable here; forwarding instead");
            }
            info!(address = %s.node_address, "proxy mode: forwarding");
            Backend::Forwarding(forward::Forwarder::new(s.node_address))
        }
    }

    /// Forgets what the back end believes is programmed: the next sync looks again.
    fn forget(&mut self) {
        if let Backend::PacketFilter(known) = self {
            *known = None;
        }
    }

    async fn sync(&mut self, owner: &str, desired: &plan::Desired) -> Result<(), String> {
        match self {
            Backend::PacketFilter(known) => {
                let (desired, cached) = (desired.clone(), known.take());
                let owner = owner.to_owned();
                let chains = tokio::task::spawn_blocking(move || {
                    let existing = match cached {
                        Some(c) => c,
                        None => iptables::existing_chains(&owner)?,
                    };
                    let (text, chains) = iptables::nat_plan(&owner, &desired, &existing);
                    iptables::restore(&text).map(|()| chains)
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
                *known = Some(chains);
                Ok(())
            }
            Backend::Forwarding(f) => match f.sync(desired).await {
                0 => Ok(()),
                n => Err(format!("{n} node ports could not be opened")),
            },
        }
    }
}

async fn run(informers: SharedInformers, settings: ProxySettings) {
    if settings.mode == ProxyMode::Off {
        return std::future::pending().await;
    }
    let dirty = Arc::new(Notify::new());
    let (services, endpoints) = (informers.all::<Service>(), informers.all::<Endpoints>());
    let d = dirty.clone();
    let _s = services.subscribe(move |_| d.notify_one());
    let d = dirty.clone();
    let _e = endpoints.subscribe(move |_| d.notify_one());
    let (services, endpoints) = (services.cache(), endpoints.cache());
    let mut local_dns = settings
        .local_dns
        .as_ref()
        .map(|(ip, local)| (*ip, local.serving.subscribe()));
    let mut local_api = settings
        .local_api
        .as_ref()
        .map(|(ip, local)| (*ip, local.api_serving.subscribe()));
    services.wait_synced().await;
    endpoints.wait_synced().await;
    let mut backend = Backend::choose(&settings);
    let mut programmed: Option<plan::Desired> = None;
    let mut retry = SYNC_RETRY;
    let mut log: crate::retry::LogLimiter<()> = crate::retry::LogLimiter::default();
    loop {
        let svcs = services.list();
        let eps = endpoints.list();
        let mut desired = plan::plan(
            &svcs.iter().map(Arc::as_ref).collect::<Vec<_>>(),
            &eps.iter().map(Arc::as_ref).collect::<Vec<_>>(),
        );
        if let Some((ip, serving)) = &mut local_dns {
            if let Some(std::net::SocketAddr::V4(target)) = *serving.borrow_and_update() {
                plan::steer_local_dns(&mut desired, *ip, target);
            }
        }
        if let Some((ip, serving)) = &mut local_api {
            if let Some(std::net::SocketAddr::V4(target)) = *serving.borrow_and_update() {
                plan::steer_local_api(&mut desired, *ip, target);
            }
        }
        if programmed.as_ref() != Some(&desired) {
            let started = tokio::time::Instant::now();
            match backend.sync(&settings.owner, &desired).await {
                Ok(()) => {
                    tracing::debug!(ports = desired.len(), took = ?started.elapsed(), "proxy rules programmed");
                    programmed = Some(desired);
                    retry.succeeded();
                    log.clear(&());
                }
                Err(e) => {
                    let retry_in = retry.failed();
                    if let Some(suppressed) = log.admit(&(), started) {
                        warn!(error = %e, ?retry_in, suppressed, "proxy sync failed; retrying");
                    }
                    // Changes meanwhile are kept (the Notify holds a permit) and synced
                    // with the retry, not before.
                    tokio::time::sleep(retry_in).await;
                    continue;
                }
            }
        }
        tokio::select! {
            _ = dirty.notified() => {}
            _ = moved(&mut local_dns) => {}
            _ = moved(&mut local_api) => {}
            _ = tokio::time::sleep(RESYNC) => {
                // Periodic full sync: reprogram even if nothing seems to have changed,
                // from what is really there.
                programmed = None;
                backend.forget();
            }
        }
    }
}

/// Resolves when a node-local target moves (never when there is none to watch).
async fn moved(
    target: &mut Option<(
        std::net::Ipv4Addr,
        tokio::sync::watch::Receiver<Option<std::net::SocketAddr>>,
    )>,
) {
    match target {
        Some((_, rx)) => {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}
