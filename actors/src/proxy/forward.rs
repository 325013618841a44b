//! The forwarding back end: the proxy itself listens on each node port and relays
//! TCP connections and UDP datagrams round-robin to the ready endpoints (with ClientIP
//! affinity when the Service asks for it). Used where the packet filter cannot be
//! programmed (not root, no iptables) or when configured.
//!
//! Listeners are opened and closed as node ports come and go; a change of endpoints only
//! swaps the backend list a listener reads, so established connections are not cut.
//! A port that cannot be opened is retried with the proxy's sync back-off; a failing
//! `accept` (out of file descriptors) backs off from 5 ms to 1 s, as Go's HTTP server
//! does; both log once per [`crate::retry::LOG_EVERY`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::plan::{Desired, Proto};
use crate::retry::{LogLimiter, Retry};

/// How long a UDP client's relay lives without traffic.
const UDP_IDLE: Duration = Duration::from_secs(30);
/// How long to wait for an endpoint to accept a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Pauses after a failed `accept`: 5 ms doubling to 1 s, reset by a success.
pub const ACCEPT_RETRY: Retry = Retry::new(Duration::from_millis(5), Duration::from_secs(1));

/// Where one listener sends traffic. Swapped whole on every endpoints change.
#[derive(Debug, Default)]
pub struct Backends {
    endpoints: Vec<SocketAddrV4>,
    affinity: Option<Duration>,
}

/// The rotating pick of a listener, with ClientIP affinity.
#[derive(Default)]
struct Picker {
    backends: RwLock<Arc<Backends>>,
    next: AtomicUsize,
    sticky: Mutex<HashMap<IpAddr, (SocketAddrV4, Instant)>>,
}

impl Picker {
    fn set(&self, b: Backends) {
        *self.backends.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(b);
    }

    /// The endpoint for a new connection from `client`.
    fn pick(&self, client: IpAddr) -> Option<SocketAddrV4> {
        let b = self
            .backends
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if b.endpoints.is_empty() {
            return None;
        }
        let now = Instant::now();
        if let Some(ttl) = b.affinity {
            let mut sticky = self.sticky.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((ep, seen)) = sticky.get(&client).copied() {
                if now.duration_since(seen) < ttl && b.endpoints.contains(&ep) {
                    sticky.insert(client, (ep, now));
                    return Some(ep);
                }
            }
            let ep = b.endpoints[self.next.fetch_add(1, Ordering::Relaxed) % b.endpoints.len()];
            sticky.insert(client, (ep, now));
            return Some(ep);
        }
        Some(b.endpoints[self.next.fetch_add(1, Ordering::Relaxed) % b.endpoints.len()])
    }
}

struct Listener {
    picker: Arc<Picker>,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The node's forwarding listeners.
pub struct Forwarder {
    address: IpAddr,
    listeners: HashMap<(Proto, u16), Listener>,
    log: LogLimiter<(Proto, u16)>,
}

impl Forwarder {
    /// Listeners will bind node ports on `address` (the node's address).
    pub fn new(address: IpAddr) -> Self {
        Forwarder {
            address,
            listeners: HashMap::new(),
            log: LogLimiter::default(),
        }
    }

    /// The node ports listened on now.
    pub fn ports(&self) -> Vec<(Proto, u16)> {
        let mut v: Vec<_> = self.listeners.keys().copied().collect();
        v.sort();
        v
    }

    /// Makes the listeners match `desired`: opens new node ports, closes gone ones,
    /// updates the endpoints of the rest. Returns how many node ports failed to open.
    pub async fn sync(&mut self, desired: &Desired) -> usize {
        let mut want: HashMap<(Proto, u16), Backends> = HashMap::new();
        for sp in desired.values() {
            if let Some(np) = sp.node_port {
                want.insert(
                    (sp.proto, np),
                    Backends {
                        endpoints: sp.endpoints.clone(),
                        affinity: sp.affinity,
                    },
                );
            }
        }
        self.listeners.retain(|k, _| want.contains_key(k));
        let mut failed = 0;
        for (key, backends) in want {
            if let Some(l) = self.listeners.get(&key) {
                l.picker.set(backends);
                continue;
            }
            let picker = Arc::new(Picker::default());
            picker.set(backends);
            let addr = SocketAddr::new(self.address, key.1);
            let task = match key.0 {
                Proto::Tcp => match TcpListener::bind(addr).await {
                    Ok(l) => tokio::spawn(serve_tcp(l, picker.clone())),
                    Err(e) => {
                        if let Some(suppressed) = self.log.admit(&key, Instant::now()) {
                            warn!(%addr, error = %e, suppressed, "cannot listen on node port");
                        }
                        failed += 1;
                        continue;
                    }
                },
                Proto::Udp => match UdpSocket::bind(addr).await {
                    Ok(s) => tokio::spawn(serve_udp(Arc::new(s), picker.clone())),
                    Err(e) => {
                        if let Some(suppressed) = self.log.admit(&key, Instant::now()) {
                            warn!(%addr, error = %e, suppressed, "cannot listen on node port (udp)");
                        }
                        failed += 1;
                        continue;
                    }
                },
            };
            self.log.clear(&key);
            info!(%addr, proto = key.0.name(), "forwarding node port");
            self.listeners.insert(key, Listener { picker, task });
        }
        failed
    }
}

async fn serve_tcp(listener: TcpListener, picker: Arc<Picker>) {
    let mut retry = ACCEPT_RETRY;
    let mut log: LogLimiter<()> = LogLimiter::default();
    loop {
        let (mut inbound, peer) = match listener.accept().await {
            Ok(x) => {
                retry.succeeded();
                x
            }
            Err(e) => {
                let pause = retry.failed();
                if let Some(suppressed) = log.admit(&(), Instant::now()) {
                    warn!(error = %e, retry_in = ?pause, suppressed, "accept failed");
                }
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        let Some(ep) = picker.pick(peer.ip()) else {
            debug!(%peer, "no ready endpoint; closing");
            continue;
        };
        tokio::spawn(async move {
            let _ = inbound.set_nodelay(true);
            let mut outbound =
                match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(ep)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        debug!(endpoint = %ep, error = %e, "endpoint refused");
                        return;
                    }
                    Err(_) => {
                        debug!(endpoint = %ep, "endpoint connect timed out");
                        return;
                    }
                };
            let _ = outbound.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        });
    }
}

/// Relays datagrams: one upstream socket per client address, closed after idling.
async fn serve_udp(socket: Arc<UdpSocket>, picker: Arc<Picker>) {
    let sessions: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65_535];
    let mut retry = ACCEPT_RETRY;
    loop {
        let (n, client) = match socket.recv_from(&mut buf).await {
            Ok(x) => {
                retry.succeeded();
                x
            }
            Err(e) => {
                // A socket error that repeats must not spin the task.
                let pause = retry.failed();
                debug!(error = %e, retry_in = ?pause, "udp receive failed");
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        let existing = sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&client)
            .cloned();
        let upstream = match existing {
            Some(u) => u,
            None => {
                let Some(ep) = picker.pick(client.ip()) else {
                    continue;
                };
                let Ok(u) = UdpSocket::bind("0.0.0.0:0").await else {
                    continue;
                };
                if u.connect(ep).await.is_err() {
                    continue;
                }
                let u = Arc::new(u);
                sessions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(client, u.clone());
                let (down, up, table) = (socket.clone(), u.clone(), sessions.clone());
                tokio::spawn(async move {
                    let mut b = vec![0u8; 65_535];
                    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, up.recv(&mut b)).await {
                        if down.send_to(&b[..n], client).await.is_err() {
                            break;
                        }
                    }
                    table
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&client);
                });
                u
            }
        };
        let _ = upstream.send(&buf[..n]).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn picker(eps: &[&str], affinity: Option<Duration>) -> Picker {
        let p = Picker::default();
        p.set(Backends {
            endpoints: eps.iter().map(|e| e.parse().unwrap()).collect(),
            affinity,
        });
        p
    }

    #[tokio::test]
    async fn round_robin_and_client_affinity() {
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let rr = picker(&["10.0.0.1:80", "10.0.0.2:80"], None);
        let picks: Vec<_> = (0..4)
            .map(|_| rr.pick(a).unwrap().ip().octets()[3])
            .collect();
        assert_eq!(picks, [1, 2, 1, 2]);
        let sticky = picker(
            &["10.0.0.1:80", "10.0.0.2:80"],
            Some(Duration::from_secs(60)),
        );
        let first = sticky.pick(a).unwrap();
        assert!((0..5).all(|_| sticky.pick(a) == Some(first)));
        assert_ne!(
            sticky.pick(b),
            Some(first),
            "another client gets the next one"
        );
        assert_eq!(picker(&[], None).pick(a), None);
    }
}
