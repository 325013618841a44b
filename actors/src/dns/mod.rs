//! The `dns` actor (the cluster DNS, CoreDNS's role) on every worker: answers for the
//! cluster domain from the node's shared informers on Services, Endpoints and Pods, and
//! forwards every other name to the upstream resolvers.
//!
//! It owns nothing in the store. Changes of the three kinds wake one rebuild of the
//! [`lookup::Index`] (a pure function of the caches); queries read the latest index
//! without waiting for a rebuild. It listens on UDP and TCP on a node-local address:
//! `[dns] listen`, or by default the gateway of the node's pod bridge (published by the
//! kubelet through [`NodeLocal`]), port 53, where the node's own pods reach it. The
//! `kube-dns` Service (created at bootstrap at the tenth address of the service range,
//! with no selector and no endpoints) is steered to that address by the node's proxy, so
//! a pod's query never leaves its node. Killing the actor drops its sockets; its
//! restart binds the same address again and the proxy's rules stay valid meanwhile.
//!
//! Modules: [`lookup`] (the zone, pure), [`wire`] (messages and truncation, on
//! hickory-proto), [`upstream`] (forwarding and its cache). Messages in: none but
//! [`crate::supervisor::Stop`].

pub mod lookup;
pub mod upstream;
pub mod wire;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use rudder_protocol::resources::{Endpoints, Pod, Service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::informer::SharedInformers;
use crate::supervisor::{ComponentSpec, StartContext, Started};

/// The actor's name on every worker.
pub const NAME: &str = "dns";
/// The name and namespace of the cluster DNS Service.
pub const SERVICE: (&str, &str) = ("kube-system", "kube-dns");
/// A bind that failed is tried again after this long.
const BIND_RETRY: Duration = Duration::from_secs(1);
/// A TCP connection idle this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Most TCP connections served at once; more wait in the listen queue.
const MAX_TCP: usize = 128;
/// UDP receive loops on the one socket.
const UDP_RECEIVERS: usize = 2;
/// Most forwarded queries in flight at once; more are answered SERVFAIL.
const MAX_FORWARDS: usize = 256;

/// The address of the cluster DNS Service: the tenth of the service range
/// (`10.96.0.10` for `10.96.0.0/12`).
pub fn service_ip(service_cidr: ipnetwork::Ipv4Network) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(service_cidr.network()).wrapping_add(10))
}

/// What the node's components tell each other about its local DNS: the kubelet
/// publishes its pod bridge's gateway, the `dns` actor where it serves, the proxy reads
/// the latter.
#[derive(Debug)]
pub struct NodeLocal {
    /// The gateway of the node's pod bridge, once the kubelet has the network.
    pub gateway: watch::Sender<Option<Ipv4Addr>>,
    /// Where the `dns` actor answers, once it has bound.
    pub serving: watch::Sender<Option<SocketAddr>>,
    /// Where the node's API relay ([`crate::apirelay`]) listens, once it has bound.
    pub api_serving: watch::Sender<Option<SocketAddr>>,
    /// This node's own API server (control-plane nodes), once it listens.
    pub api_server: watch::Sender<Option<SocketAddr>>,
}

/// Equal when the same cell (settings holding it compare by identity).
impl PartialEq for NodeLocal {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for NodeLocal {}

impl NodeLocal {
    /// Nothing known yet.
    pub fn new() -> Arc<NodeLocal> {
        Arc::new(NodeLocal {
            gateway: watch::channel(None).0,
            serving: watch::channel(None).0,
            api_serving: watch::channel(None).0,
            api_server: watch::channel(None).0,
        })
    }
}

/// The `dns` actor's settings (the `[dns]` table and the kubelet's `cluster_domain`).
#[derive(Debug, Clone)]
pub struct DnsSettings {
    /// The cluster domain (`cluster.local`).
    pub zone: String,
    /// The address to answer on; `None`: the pod bridge's gateway at `port`.
    pub listen: Option<SocketAddr>,
    /// The port when `listen` is not set.
    pub port: u16,
    /// The resolvers other names go to.
    pub upstreams: Vec<SocketAddr>,
    /// Most answers of the upstreams kept.
    pub cache_size: usize,
    /// Shared with the kubelet and the proxy.
    pub local: Arc<NodeLocal>,
}

/// The nameservers of a `resolv.conf` text, at port 53.
pub fn resolv_conf_upstreams(text: &str) -> Vec<SocketAddr> {
    crate::kubelet::dns::ResolvConf::parse(text)
        .nameservers
        .iter()
        .filter_map(|n| n.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The `dns` component.
pub fn component(settings: DnsSettings) -> ComponentSpec {
    ComponentSpec::new(NAME, move |ctx: &StartContext| {
        Started::task(run(ctx.informers.clone(), settings.clone()))
    })
}

type Shared = Arc<RwLock<Arc<lookup::Index>>>;

fn current(index: &Shared) -> Arc<lookup::Index> {
    match index.read() {
        Ok(g) => g.clone(),
        // A panic while swapping an Arc leaves the old one, which is still whole.
        Err(p) => p.into_inner().clone(),
    }
}

async fn run(informers: SharedInformers, settings: DnsSettings) {
    let dirty = Arc::new(Notify::new());
    let services = informers.all::<Service>();
    let endpoints = informers.all::<Endpoints>();
    let pods = informers.all::<Pod>();
    let d = dirty.clone();
    let _s = services.subscribe(move |_| d.notify_one());
    let d = dirty.clone();
    let _e = endpoints.subscribe(move |_| d.notify_one());
    let d = dirty.clone();
    let _p = pods.subscribe(move |_| d.notify_one());
    let (services, endpoints, pods) = (services.cache(), endpoints.cache(), pods.cache());

    let listen = match settings.listen {
        Some(a) => a,
        None => {
            let mut rx = settings.local.gateway.subscribe();
            let gw = loop {
                if let Some(gw) = *rx.borrow_and_update() {
                    break gw;
                }
                if rx.changed().await.is_err() {
                    return std::future::pending().await;
                }
            };
            SocketAddr::new(IpAddr::V4(gw), settings.port)
        }
    };
    let (udp, tcp) = loop {
        match bind(listen).await {
            Ok(s) => break s,
            Err(e) => {
                warn!(address = %listen, error = %e, "cannot listen for DNS; retrying");
                tokio::time::sleep(BIND_RETRY).await;
            }
        }
    };
    services.wait_synced().await;
    endpoints.wait_synced().await;
    pods.wait_synced().await;
    let zone = settings.zone.clone();
    let build = move |serial: u32| {
        let (s, e, p) = (services.list(), endpoints.list(), pods.list());
        lookup::Index::build(
            &zone,
            &s.iter().map(Arc::as_ref).collect::<Vec<_>>(),
            &e.iter().map(Arc::as_ref).collect::<Vec<_>>(),
            &p.iter().map(Arc::as_ref).collect::<Vec<_>>(),
            serial,
        )
    };
    let index: Shared = Arc::new(RwLock::new(Arc::new(build(1))));
    let upstream = Arc::new(upstream::Upstream::new(
        settings.upstreams.clone(),
        settings.cache_size,
    ));
    settings.local.serving.send_replace(Some(listen));
    info!(address = %listen, zone = %settings.zone, upstreams = ?settings.upstreams, "cluster DNS serving");

    let mut tasks = JoinSet::new();
    // Receivers share the socket, one per worker thread of the component runtime.
    for _ in 0..UDP_RECEIVERS {
        tasks.spawn(serve_udp(udp.clone(), index.clone(), upstream.clone()));
    }
    tasks.spawn(serve_tcp(tcp, index.clone(), upstream));
    let mut serial = 1u32;
    loop {
        tokio::select! {
            _ = dirty.notified() => {
                serial = serial.wrapping_add(1);
                let fresh = Arc::new(build(serial));
                match index.write() {
                    Ok(mut g) => *g = fresh,
                    Err(p) => *p.into_inner() = fresh,
                }
            }
            done = tasks.join_next() => {
                // A server loop ended: stop, so the supervisor starts a fresh instance.
                warn!(?done, "DNS server loop ended");
                return;
            }
        }
    }
}

async fn bind(addr: SocketAddr) -> std::io::Result<(Arc<UdpSocket>, TcpListener)> {
    let udp = UdpSocket::bind(addr).await?;
    let tcp = {
        let s = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        // A restarted actor binds again while the old connections linger in TIME_WAIT.
        s.set_reuseaddr(true)?;
        s.bind(addr)?;
        s.listen(1024)?
    };
    Ok((Arc::new(udp), tcp))
}

/// What a query's bytes come to: a response now (with the largest size the client
/// takes over UDP), or a question for the upstreams.
fn answer_bytes(index: &lookup::Index, bytes: &[u8]) -> Option<(wire::Reply, usize)> {
    match Message::from_vec(bytes) {
        Ok(q) => {
            let limit = wire::udp_limit(&q);
            Some((wire::handle(index, q), limit))
        }
        Err(_) => {
            // Unparseable: FORMERR when at least the id can be read, else silence.
            let id = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
            let mut m = Message::new();
            m.set_id(id);
            let reply = wire::Reply::Answer(wire::response_to(&m, ResponseCode::FormErr));
            Some((reply, wire::PLAIN_UDP_LIMIT))
        }
    }
}

async fn serve_udp(sock: Arc<UdpSocket>, index: Shared, upstream: Arc<upstream::Upstream>) {
    let mut buf = vec![0u8; 4096];
    let mut forwards = JoinSet::new();
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors of earlier sends surface here on some systems: keep going.
                debug!(error = %e, "DNS UDP receive failed");
                continue;
            }
        };
        let idx = current(&index);
        match answer_bytes(&idx, &buf[..n]) {
            None => {}
            Some((wire::Reply::Answer(m), limit)) => {
                if let Some(out) = wire::encode(&m, limit) {
                    let _ = sock.send_to(&out, peer).await;
                }
            }
            Some((wire::Reply::Forward(q), _)) => {
                while forwards.try_join_next().is_some() {}
                if forwards.len() >= MAX_FORWARDS {
                    let m = wire::response_to(&q, ResponseCode::ServFail);
                    if let Some(out) = wire::encode(&m, wire::PLAIN_UDP_LIMIT) {
                        let _ = sock.send_to(&out, peer).await;
                    }
                    continue;
                }
                let (sock, upstream) = (sock.clone(), upstream.clone());
                forwards.spawn(async move {
                    let limit = wire::udp_limit(&q);
                    let m = upstream.resolve(q).await;
                    if let Some(out) = wire::encode(&m, limit) {
                        let _ = sock.send_to(&out, peer).await;
                    }
                });
            }
        }
    }
}

async fn serve_tcp(listener: TcpListener, index: Shared, upstream: Arc<upstream::Upstream>) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        if conns.len() >= MAX_TCP {
            let _ = conns.join_next().await;
            continue;
        }
        match listener.accept().await {
            Ok((stream, _)) => {
                conns.spawn(serve_conn(stream, index.clone(), upstream.clone()));
            }
            Err(e) => {
                debug!(error = %e, "DNS TCP accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// One TCP connection: length-prefixed queries, answered in order, until idle or closed.
async fn serve_conn(mut stream: TcpStream, index: Shared, upstream: Arc<upstream::Upstream>) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let n = usize::from(u16::from_be_bytes(len));
        let Some(slot) = buf.get_mut(..n) else {
            return;
        };
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(slot)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let idx = current(&index);
        let m = match answer_bytes(&idx, &buf[..n]) {
            None => return,
            Some((wire::Reply::Answer(m), _)) => m,
            Some((wire::Reply::Forward(q), _)) => upstream.resolve(q).await,
        };
        let Some(out) = wire::encode(&m, 65_535) else {
            return;
        };
        let Ok(len) = u16::try_from(out.len()) else {
            return;
        };
        let mut frame = Vec::with_capacity(out.len() + 2);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&out);
        if stream.write_all(&frame).await.is_err() {
            return;
        }
    }
}
