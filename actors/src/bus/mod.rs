//! The cluster-wide bus: actor registry, links to other nodes, routing, membership.
//!
//! Owns: the registry of this node's actors by name, one authenticated TCP [`Link`] per
//! connected node (and one per connected client), the [`Membership`] table, and the loops
//! that accept, dial, gossip and watch liveness. Does not own the actors themselves: the
//! supervisor starts them and registers them here.
//!
//! Messages in: [`Request`]s from local actors ([`Bus::request`], [`Bus::call`]), from peer
//! nodes and from clients (over links). Messages out: [`Deliver`] to a local actor's
//! actix mailbox, or a [`Frame::Request`] on the link to the target node. The name `bus`
//! on every node answers [`BusRequest`] itself.
//!
//! Topology: control-plane nodes mesh; workers link to control-plane nodes only; a
//! worker reaches another worker through a control-plane node, which routes the request
//! over its own direct link (one forwarding hop at most, so no loops).
//!
//! Retries: dials back off per address ([`BusOptions::min_backoff`] doubling to
//! [`BusOptions::max_backoff`], with jitter); a link that closes before [`STABLE_LINK`]
//! keeps its address's back-off, so a peer that accepts and drops at once is not redialled
//! in a loop. A failing `accept` pauses 5 ms doubling to 1 s; refused handshakes log
//! once per remote address and [`crate::retry::LOG_EVERY`].
//!
//! Streams: [`stream`] opens byte streams to actors anywhere ([`Bus::open_stream`]) and
//! hands arriving ones to the local actor registered for them ([`OpenStream`]).
//!
//! Users: a client that authenticates with a user's certificate (on a node that serves
//! the API) acts as that user: [`clients`] decides what such a link may reach.
//!
//! Chaos: [`faults`] holds rules that delay or drop requests to and from chosen peers;
//! [`route`] consults them before sending on a link, [`LinkInbound`] before serving.

pub mod clients;
pub mod faults;
pub mod membership;
pub mod stream;
mod workers;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::{Duration, Instant};

use actix::{Message, Recipient};
use rand::Rng;
use rudder_protocol::actor::{ActorRef, NodeName, Role};
use rudder_protocol::frame::{ClientUser, Frame, NodeIdentity, Peer};
use rudder_protocol::messages::bus::{BusReply, BusRequest, MemberInfo, MemberState};
use rudder_protocol::messages::chaos::Direction;
use rudder_protocol::messages::{BusError, Protocol, Reply, Request};
use rudder_protocol::net::{
    accept_handshake, dial_handshake, BoxFuture, Credentials, Established, Inbound, Link,
    LinkOptions,
};
use rudder_protocol::trace::TraceContext;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

pub use faults::{Faults, Verdict};
pub use membership::{Membership, Thresholds};
pub use stream::{OpenStream, StreamRecipient};

use crate::telemetry::actors::{ActorStats, LinkSample, LinkSource};

/// The actor name under which every node's bus answers [`BusRequest`].
pub const BUS_ACTOR: &str = rudder_protocol::names::actors::BUS;

/// A request delivered to a local actor's mailbox: the request, who sent it, and the
/// trace context of the span serving it (when the request is part of a trace: actors
/// that make requests of their own run them under it, see [`crate::telemetry::trace`]).
#[derive(Debug)]
pub struct Deliver(pub Request, pub Origin, pub Option<TraceContext>);

/// Who sent a request that the bus delivers to a local actor: the caller the actor
/// serves (the API server builds its request attributes from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A component of this node.
    Local,
    /// A component of another node of the cluster, over that node's link.
    Node(NodeName),
    /// A client (such as `rudderctl`) that connected with the cluster's credentials.
    Client {
        /// The label the client gave in its handshake.
        label: String,
    },
    /// A client that authenticated with a user's certificate: it acts as that user,
    /// and reaches what [`clients::admit`] lets it.
    User {
        /// The label the client gave in its handshake.
        label: String,
        /// The certificate's user and groups.
        user: ClientUser,
    },
}

impl Message for Deliver {
    type Result = Result<Reply, BusError>;
}

/// Timing and limits of the bus.
#[derive(Debug, Clone)]
pub struct BusOptions {
    /// Heartbeat period on every link.
    pub heartbeat: Duration,
    /// A link silent this long is closed.
    pub idle_timeout: Duration,
    /// A member silent this long is Suspect.
    pub suspect_after: Duration,
    /// A member silent this long is Dead.
    pub dead_after: Duration,
    /// How often membership is gossiped to linked nodes.
    pub gossip_interval: Duration,
    /// Largest frame accepted.
    pub max_frame: usize,
    /// Frames queued per link before senders wait.
    pub queue: usize,
    /// Time allowed for a handshake.
    pub handshake_timeout: Duration,
    /// First reconnect delay; doubles up to `max_backoff`, with jitter.
    pub min_backoff: Duration,
    /// Largest reconnect delay.
    pub max_backoff: Duration,
}

impl Default for BusOptions {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(5),
            suspect_after: Duration::from_secs(2),
            dead_after: Duration::from_secs(10),
            gossip_interval: Duration::from_secs(1),
            max_frame: rudder_protocol::codec::MAX_FRAME_LEN,
            queue: 1024,
            handshake_timeout: Duration::from_secs(5),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// A link up this long resets its address's dial back-off when it closes.
pub const STABLE_LINK: Duration = Duration::from_secs(10);
/// Pauses after a failed `accept`: 5 ms doubling to 1 s, reset by a success.
const ACCEPT_RETRY: crate::retry::Retry =
    crate::retry::Retry::new(Duration::from_millis(5), Duration::from_secs(1));

struct Backoff {
    next_try: Instant,
    delay: Duration,
}

struct Inner {
    me: NodeIdentity,
    creds: Credentials,
    opts: BusOptions,
    link_opts: LinkOptions,
    registry: RwLock<Registry>,
    stream_registry: RwLock<HashMap<String, StreamRecipient>>,
    links: Mutex<HashMap<NodeName, Link>>,
    members: Mutex<Membership>,
    dialing: Mutex<HashSet<String>>,
    backoff: Mutex<HashMap<String, Backoff>>,
    seeds: Vec<String>,
    seed_nodes: Mutex<HashMap<String, NodeName>>,
    clients: AtomicUsize,
    faults: Faults,
    shutdown: watch::Sender<bool>,
    /// Links established per peer node (for the reconnect count).
    connects: Mutex<HashMap<NodeName, u64>>,
    /// Authenticates and authorizes clients with user certificates (nodes that serve
    /// the API; see [`Bus::set_client_authority`]).
    authority: Mutex<Option<Arc<dyn clients::ClientAuthority>>>,
}

impl LinkSource for Inner {
    fn links(&self) -> Vec<LinkSample> {
        lock(&self.links)
            .iter()
            .map(|(peer, l)| LinkSample {
                peer: peer.to_string(),
                stats: l.stats().clone(),
                in_flight: l.in_flight(),
            })
            .collect()
    }

    fn connects(&self) -> Vec<(String, u64)> {
        lock(&self.connects)
            .iter()
            .map(|(p, n)| (p.to_string(), *n))
            .collect()
    }
}

/// Each local actor's mailbox, with its counters resolved once at registration.
type Registry = HashMap<String, (Recipient<Deliver>, Arc<ActorStats>)>;

impl Inner {
    // As with `lock`: a poisoned registry is still the best map there is.
    fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    fn registry_mut(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|p| p.into_inner())
    }

    fn stream_registry(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, StreamRecipient>> {
        self.stream_registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn stream_registry_mut(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<String, StreamRecipient>> {
        self.stream_registry
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// Handle to this node's bus. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("node", &self.inner.me.name)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another task panicked mid-update of plain data;
    // the data is still the best we have.
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Bus {
    /// Starts the bus on an already bound listener and begins joining through `seeds`.
    /// Must be called inside a tokio runtime (the node's actix system).
    pub fn start(
        me: NodeIdentity,
        creds: Credentials,
        listener: TcpListener,
        seeds: Vec<String>,
        opts: BusOptions,
    ) -> Bus {
        let now = Instant::now();
        let thresholds = Thresholds {
            suspect_after: opts.suspect_after,
            dead_after: opts.dead_after,
        };
        let link_opts = LinkOptions {
            heartbeat: opts.heartbeat,
            idle_timeout: opts.idle_timeout,
            queue: opts.queue,
            max_frame: opts.max_frame,
            ..LinkOptions::default()
        };
        let (shutdown, _) = watch::channel(false);
        let bus = Bus {
            inner: Arc::new(Inner {
                members: Mutex::new(Membership::new(me.clone(), thresholds, now)),
                me,
                creds,
                opts,
                link_opts,
                registry: RwLock::new(HashMap::new()),
                stream_registry: RwLock::new(HashMap::new()),
                links: Mutex::new(HashMap::new()),
                dialing: Mutex::new(HashSet::new()),
                backoff: Mutex::new(HashMap::new()),
                seeds,
                seed_nodes: Mutex::new(HashMap::new()),
                clients: AtomicUsize::new(0),
                faults: Faults::default(),
                shutdown,
                connects: Mutex::new(HashMap::new()),
                authority: Mutex::new(None),
            }),
        };
        let links: Weak<dyn LinkSource> = Arc::downgrade(&bus.inner) as Weak<dyn LinkSource>;
        crate::telemetry::metrics().actors.add_link_source(links);
        essential(
            "bus accept loop",
            accept_loop(Arc::downgrade(&bus.inner), listener),
        );
        essential(
            "bus maintenance loop",
            maintain_loop(Arc::downgrade(&bus.inner)),
        );
        bus
    }

    /// This node's name.
    pub fn node(&self) -> &NodeName {
        &self.inner.me.name
    }

    /// This node's identity as announced to peers.
    pub fn identity(&self) -> &NodeIdentity {
        &self.inner.me
    }

    /// Registers a local actor under `name`, replacing any previous registration.
    pub fn register(&self, name: &str, recipient: Recipient<Deliver>) {
        let stats = crate::telemetry::metrics().actors.actor(name);
        self.inner
            .registry_mut()
            .insert(name.to_owned(), (recipient, stats));
    }

    /// Removes a local actor's registration.
    pub fn unregister(&self, name: &str) {
        self.inner.registry_mut().remove(name);
    }

    /// The roles the node `name` announced, if the bus knows it (this node's own too).
    pub fn roles_of(&self, name: &NodeName) -> Vec<Role> {
        lock(&self.inner.members)
            .roles(name)
            .map(<[Role]>::to_vec)
            .unwrap_or_default()
    }

    /// This node's view of membership.
    pub fn members(&self) -> Vec<MemberInfo> {
        lock(&self.inner.members).report(Instant::now())
    }

    /// The fault rules applied to this node's traffic with its peers (chaos).
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Number of connected clients.
    pub fn clients(&self) -> usize {
        self.inner.clients.load(Ordering::Relaxed)
    }

    /// Sends a typed request to any actor in the cluster and waits for the reply.
    pub async fn call<P: Protocol>(
        &self,
        to: ActorRef,
        req: P,
        timeout: Duration,
    ) -> Result<P::Reply, BusError> {
        let reply = self
            .request(to.clone(), req.into_request(), timeout)
            .await?;
        P::from_reply(reply, &to)
    }

    /// Sends a request to any actor in the cluster and waits up to `timeout`.
    pub async fn request(
        &self,
        to: ActorRef,
        body: Request,
        timeout: Duration,
    ) -> Result<Reply, BusError> {
        let trace = crate::telemetry::trace::current();
        route(&self.inner, to, body, timeout, Origin::Local, trace).await
    }

    /// Lets clients with user certificates in: `authority` checks their certificates
    /// and decides what they may reach besides the local API server. Set by a node
    /// that serves the API; a node without one refuses such clients.
    pub fn set_client_authority(&self, authority: Arc<dyn clients::ClientAuthority>) {
        *lock(&self.inner.authority) = Some(authority);
    }

    /// Closes every link and stops the bus's loops.
    pub fn shutdown(&self) {
        // The authority (the API) holds this bus: let go of it.
        lock(&self.inner.authority).take();
        self.inner.shutdown.send_replace(true);
        let links: Vec<Link> = lock(&self.inner.links).drain().map(|(_, l)| l).collect();
        for l in links {
            l.close();
        }
    }
}

/// Runs a task the node cannot live without. A panic in it aborts the process: a node
/// whose bus stopped accepting or dialling would look alive and be useless, so it is
/// better dead and restarted by whatever supervises the process. (Panics inside actors
/// are different: the supervisor restarts the one actor.)
fn essential(what: &'static str, fut: impl std::future::Future<Output = ()> + Send + 'static) {
    let handle = tokio::spawn(fut);
    tokio::spawn(async move {
        if let Err(e) = handle.await {
            if e.is_panic() {
                tracing::error!(task = what, "essential task panicked; aborting the node");
                std::process::abort();
            }
        }
    });
}

async fn route(
    inner: &Arc<Inner>,
    to: ActorRef,
    body: Request,
    timeout: Duration,
    origin: Origin,
    trace: Option<TraceContext>,
) -> Result<Reply, BusError> {
    if to.node == inner.me.name {
        return deliver_local(inner, to, body, timeout, origin, trace).await;
    }
    // Requests from nodes are routed directly only: one forwarding hop at most.
    let may_forward = !matches!(origin, Origin::Node(_));
    let direct = lock(&inner.links)
        .get(&to.node)
        .filter(|l| !l.is_closed())
        .cloned();
    if let Some(link) = direct {
        let peer = to.node.clone();
        return send_with_faults(inner, &link, peer.as_str(), to, body, timeout, trace).await;
    }
    // A worker's API requests go to a control-plane node it links to: forwarded, they
    // would arrive as the forwarding node (`workers` refuses them).
    let api = to.name == rudder_protocol::names::actors::APISERVER;
    if may_forward && !api && !inner.me.roles.contains(&Role::ControlPlane) {
        // A worker reaches non-adjacent nodes through any control-plane node.
        let via = lock(&inner.links)
            .iter()
            .find(|(_, l)| !l.is_closed() && is_control_plane(l.peer()))
            .map(|(_, l)| l.clone());
        if let Some(link) = via {
            let peer = link.peer().label().to_owned();
            return send_with_faults(inner, &link, &peer, to, body, timeout, trace).await;
        }
    }
    let known = lock(&inner.members).state(&to.node, Instant::now());
    let reason = match known {
        None => "not a member of this cluster".to_owned(),
        Some(MemberState::Alive) => "no link to it from this node".to_owned(),
        Some(s) => format!("it is {}", s.as_str()),
    };
    Err(BusError::Unreachable {
        node: to.node,
        reason,
    })
}

/// Sends a request on a link to `peer`, unless a fault rule delays or drops it. A
/// dropped request fails as a lost one would: after the whole timeout.
async fn send_with_faults(
    inner: &Arc<Inner>,
    link: &Link,
    peer: &str,
    to: ActorRef,
    body: Request,
    timeout: Duration,
    trace: Option<TraceContext>,
) -> Result<Reply, BusError> {
    let verdict = if fault_exempt(&to) {
        Verdict::Pass
    } else {
        inner.faults.verdict(peer, Direction::Outbound)
    };
    match verdict {
        Verdict::Pass => link.request_traced(to, body, timeout, trace).await,
        Verdict::Delay(d) if d < timeout => {
            tokio::time::sleep(d).await;
            link.request_traced(to, body, timeout - d, trace).await
        }
        Verdict::Delay(_) | Verdict::Drop => {
            tokio::time::sleep(timeout).await;
            Err(BusError::Timeout {
                actor: to,
                after_ms: timeout.as_millis() as u64,
            })
        }
    }
}

/// Requests to `chaos` and `bus` pass every fault rule: the way to list and clear the
/// faults of a partitioned node (through any other node) stays open.
fn fault_exempt(to: &ActorRef) -> bool {
    to.name == rudder_protocol::names::actors::CHAOS || to.name == BUS_ACTOR
}

fn is_control_plane(peer: &Peer) -> bool {
    matches!(peer, Peer::Node(id) if id.roles.contains(&Role::ControlPlane))
}

/// What the node's `bus` answers itself.
fn serve_bus(inner: &Inner, to: ActorRef, body: Request) -> Result<Reply, BusError> {
    use crate::telemetry::trace;
    let me = inner.me.name.as_str();
    match body {
        Request::Bus(BusRequest::Members) => Ok(Reply::Bus(BusReply::Members(
            lock(&inner.members).report(Instant::now()),
        ))),
        Request::Bus(BusRequest::SlowestTraces { limit }) => Ok(Reply::Bus(BusReply::Spans(
            trace::slowest(me, limit.min(1000) as usize),
        ))),
        Request::Bus(BusRequest::Trace { trace_id, indexes }) => {
            let (spans, raft) = trace::of_trace(me, trace_id, &indexes);
            Ok(Reply::Bus(BusReply::Trace { spans, raft }))
        }
        other => Err(BusError::WrongProtocol {
            actor: to,
            protocol: other.protocol().into(),
        }),
    }
}

async fn deliver_local(
    inner: &Arc<Inner>,
    to: ActorRef,
    body: Request,
    timeout: Duration,
    origin: Origin,
    trace: Option<TraceContext>,
) -> Result<Reply, BusError> {
    if to.name == BUS_ACTOR {
        return serve_bus(inner, to, body);
    }
    let recipient = inner.registry().get(&to.name).cloned();
    let Some((recipient, stats)) = recipient else {
        return Err(BusError::NoSuchActor { actor: to });
    };
    let _handling = stats.delivered();
    // A traced request gets a span here, around the actor's handling; the actor runs
    // what it asks of others under the span's context.
    let span = trace.map(|parent| {
        crate::telemetry::trace::Span::child_of(
            parent,
            inner.me.name.as_str(),
            format!("{} {}", to.name, body.operation()),
        )
    });
    let context = span.as_ref().map(|s| s.context());
    let outcome =
        match tokio::time::timeout(timeout, recipient.send(Deliver(body, origin, context))).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_mailbox)) => Err(BusError::ActorStopped { actor: to }),
            Err(_) => Err(BusError::Timeout {
                actor: to,
                after_ms: timeout.as_millis() as u64,
            }),
        };
    if let Some(mut span) = span {
        span.set_detail(match &outcome {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.to_string(),
        });
        span.finish();
    }
    outcome
}

/// Serves what arrives on one link.
struct LinkInbound {
    bus: Weak<Inner>,
    from: Option<NodeName>,
    /// Who sends what arrives here: the peer node, or a client.
    origin: Origin,
    /// The peer is a node without the control-plane role: [`workers`] decides what its
    /// requests and streams reach, and its gossip is ignored.
    worker: bool,
}

impl Inbound for LinkInbound {
    fn request(
        &self,
        to: ActorRef,
        body: Request,
        timeout: Duration,
        trace: Option<TraceContext>,
    ) -> BoxFuture<Result<Reply, BusError>> {
        let bus = self.bus.upgrade();
        let origin = self.origin.clone();
        let worker = self.worker;
        let verdict = match (&bus, &self.from) {
            (Some(inner), Some(from)) if !fault_exempt(&to) => {
                inner.faults.verdict(from.as_str(), Direction::Inbound)
            }
            _ => Verdict::Pass,
        };
        Box::pin(async move {
            match verdict {
                Verdict::Pass => {}
                Verdict::Delay(d) if d < timeout => tokio::time::sleep(d).await,
                Verdict::Delay(_) | Verdict::Drop => {
                    // Never served: the sender sees its own timeout.
                    tokio::time::sleep(timeout).await;
                    return Err(BusError::Timeout {
                        actor: to,
                        after_ms: timeout.as_millis() as u64,
                    });
                }
            }
            match bus {
                Some(inner) => {
                    if let Origin::User { user, .. } = &origin {
                        clients::admit(&inner, user, &to, &body).await?;
                    }
                    if let (true, Origin::Node(from)) = (worker, &origin) {
                        workers::admit(&inner.me.name, from, &to)?;
                    }
                    if to.node == inner.me.name {
                        deliver_local(&inner, to, body, timeout, origin, trace).await
                    } else {
                        // Forwarding is rare: boxed, its larger future does not add to
                        // the size of every request's (which is moved as a whole).
                        Box::pin(route(&inner, to, body, timeout, origin, trace)).await
                    }
                }
                None => Err(BusError::Unreachable {
                    node: to.node,
                    reason: "node is shutting down".into(),
                }),
            }
        })
    }

    fn stream(
        &self,
        to: ActorRef,
        open: rudder_protocol::messages::StreamOpen,
        accept: rudder_protocol::net::StreamAccept,
    ) {
        if let (true, Origin::Node(from)) = (self.worker, &self.origin) {
            if let Err(e) = workers::admit_stream(from, &to) {
                return accept.refuse(e);
            }
        }
        match self.bus.upgrade() {
            Some(inner) => stream::arrived(inner, to, open, self.origin.clone(), accept),
            None => accept.refuse(BusError::Unreachable {
                node: to.node,
                reason: "node is shutting down".into(),
            }),
        }
    }

    fn frame(&self, _link: &Link, frame: Frame) {
        let (Some(inner), Some(from)) = (self.bus.upgrade(), self.from.as_ref()) else {
            return;
        };
        if let Frame::Gossip { members } = frame {
            if inner.faults.verdict(from.as_str(), Direction::Inbound) == Verdict::Drop {
                return;
            }
            if self.worker {
                // Membership is what control-plane nodes say (see `workers`).
                tracing::trace!(peer = %from, "gossip from a worker ignored");
                return;
            }
            let new = lock(&inner.members).merge(from, &members, Instant::now());
            for name in new {
                tracing::info!(node = %inner.me.name, member = %name, via = %from, "learned of member");
            }
        }
    }
}

async fn accept_loop(bus: Weak<Inner>, listener: TcpListener) {
    let handshakes = Arc::new(Semaphore::new(64));
    let mut shutdown = match bus.upgrade() {
        Some(inner) => inner.shutdown.subscribe(),
        None => return,
    };
    let mut retry = ACCEPT_RETRY;
    // Remote peers decide how often they fail: one line per address, kind of failure
    // and period (the kind, not the text, which the peer controls).
    type RefusalKey = (
        std::net::IpAddr,
        std::mem::Discriminant<rudder_protocol::net::HandshakeError>,
    );
    let refused: Arc<Mutex<crate::retry::LogLimiter<RefusalKey>>> = Arc::default();
    let mut log: crate::retry::LogLimiter<&'static str> = crate::retry::LogLimiter::default();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let (stream, remote) = match accepted {
            Ok(a) => {
                retry.succeeded();
                a
            }
            Err(e) => {
                let pause = retry.failed();
                if let Some(suppressed) = log.admit(&"accept", tokio::time::Instant::now()) {
                    tracing::warn!(error = %e, retry_in = ?pause, suppressed, "accept failed");
                }
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        let Some(inner) = bus.upgrade() else { return };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            if let Some(suppressed) = log.admit(&"handshakes", tokio::time::Instant::now()) {
                tracing::warn!(%remote, suppressed, "too many handshakes in progress; dropping connection");
            }
            continue;
        };
        let refused = refused.clone();
        tokio::spawn(async move {
            let certs = lock(&inner.authority)
                .clone()
                .map(|a| a as Arc<dyn rudder_protocol::net::CertificateCheck>);
            let result = accept_handshake(
                stream,
                inner.me.clone(),
                &inner.creds,
                certs,
                inner.opts.handshake_timeout,
            )
            .await;
            drop(permit);
            match result {
                Ok(est) => adopt(&inner, est, false, None),
                Err(e) => {
                    let now = tokio::time::Instant::now();
                    let key = (remote.ip(), std::mem::discriminant(&e));
                    if let Some(suppressed) = lock(&refused).admit(&key, now) {
                        tracing::warn!(%remote, error = %e, suppressed, "refused connection");
                    }
                }
            }
        });
    }
}

/// Takes over an authenticated connection.
fn adopt(inner: &Arc<Inner>, est: Established, dialed: bool, seed: Option<&str>) {
    let id = match est.peer.clone() {
        Peer::Client { label } => {
            let origin = match est.user.clone() {
                Some(user) => {
                    tracing::debug!(client = %label, user = %user.name, "client connected as a user");
                    Origin::User {
                        label: label.clone(),
                        user,
                    }
                }
                None => {
                    tracing::debug!(client = %label, "client connected");
                    Origin::Client {
                        label: label.clone(),
                    }
                }
            };
            let link = Link::spawn(
                est,
                Arc::new(LinkInbound {
                    bus: Arc::downgrade(inner),
                    from: None,
                    origin,
                    worker: false,
                }),
                inner.link_opts.clone(),
            );
            inner.clients.fetch_add(1, Ordering::Relaxed);
            let weak = Arc::downgrade(inner);
            tokio::spawn(async move {
                link.closed().await;
                if let Some(inner) = weak.upgrade() {
                    inner.clients.fetch_sub(1, Ordering::Relaxed);
                }
            });
            return;
        }
        Peer::Node(id) => id,
    };
    if let Some(seed) = seed {
        lock(&inner.seed_nodes).insert(seed.to_owned(), id.name.clone());
    }
    if id.name == inner.me.name {
        if id.incarnation != inner.me.incarnation {
            tracing::error!(node = %id.name, address = %id.address, "another node uses this node's name");
        }
        return;
    }
    if !lock(&inner.members).may_link(&id) {
        tracing::warn!(peer = %id.name, "refusing a worker-to-worker link");
        return;
    }
    let now = Instant::now();
    let link = {
        let mut links = lock(&inner.links);
        if let Some(existing) = links.get(&id.name).filter(|l| !l.is_closed()) {
            let old_inc = match existing.peer() {
                Peer::Node(old) => old.incarnation,
                Peer::Client { .. } => 0,
            };
            // Both ends apply the same rule, so they keep the same link: a newer
            // incarnation wins; between two links of one incarnation, the one dialled
            // by the node with the smaller name.
            let preferred = if dialed {
                inner.me.name < id.name
            } else {
                id.name < inner.me.name
            };
            let replace = id.incarnation > old_inc || (id.incarnation == old_inc && preferred);
            if !replace {
                tracing::debug!(peer = %id.name, "duplicate link dropped");
                return;
            }
            existing.close();
        }
        let link = Link::spawn(
            est,
            Arc::new(LinkInbound {
                bus: Arc::downgrade(inner),
                from: Some(id.name.clone()),
                origin: Origin::Node(id.name.clone()),
                worker: !id.roles.contains(&Role::ControlPlane),
            }),
            inner.link_opts.clone(),
        );
        links.insert(id.name.clone(), link.clone());
        *lock(&inner.connects).entry(id.name.clone()).or_insert(0) += 1;
        link
    };
    let restarted = lock(&inner.members).linked(&id, now);
    tracing::info!(node = %inner.me.name, peer = %id.name, address = %id.address, restarted, "linked");
    let weak = Arc::downgrade(inner);
    let name = id.name.clone();
    let address = id.address.clone();
    let watched = link.clone();
    tokio::spawn(async move {
        watched.closed().await;
        let Some(inner) = weak.upgrade() else { return };
        // A link that held resets its dial back-off (reconnect at once); one that dropped
        // soon after the handshake keeps it, so the next dial waits.
        if now.elapsed() >= STABLE_LINK {
            lock(&inner.backoff).remove(&address);
        }
        let mut links = lock(&inner.links);
        let current = links.get(&name).is_some_and(|l| l.same(&watched));
        if current {
            links.remove(&name);
            drop(links);
            lock(&inner.members).unlinked(&name);
            tracing::info!(node = %inner.me.name, peer = %name, "link down");
        }
    });
    let report = gossip_for(inner, &id);
    tokio::spawn(async move {
        let _ = link.send(&Frame::Gossip { members: report }).await;
    });
}

fn gossip_for(inner: &Arc<Inner>, peer: &NodeIdentity) -> Vec<MemberInfo> {
    let mut report = lock(&inner.members).report(Instant::now());
    if !peer.roles.contains(&Role::ControlPlane) {
        // Workers only need to know the control plane (and that we exist).
        report.retain(|m| m.roles.contains(&Role::ControlPlane) || m.name == inner.me.name);
    }
    report
}

fn backoff_ready(inner: &Inner, address: &str, now: Instant) -> bool {
    lock(&inner.backoff)
        .get(address)
        .is_none_or(|b| now >= b.next_try)
}

fn backoff_bump(inner: &Inner, address: &str) {
    let mut all = lock(&inner.backoff);
    let b = all.entry(address.to_owned()).or_insert(Backoff {
        next_try: Instant::now(),
        delay: Duration::ZERO,
    });
    b.delay = (b.delay * 2)
        .max(inner.opts.min_backoff)
        .min(inner.opts.max_backoff);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    b.next_try = Instant::now() + b.delay.mul_f64(jitter);
}

fn dial(inner: &Arc<Inner>, address: String, seed: bool) {
    if !lock(&inner.dialing).insert(address.clone()) {
        return;
    }
    let inner = inner.clone();
    tokio::spawn(async move {
        let outcome = async {
            let stream =
                tokio::time::timeout(inner.opts.handshake_timeout, TcpStream::connect(&address))
                    .await
                    .map_err(|_| "connect timed out".to_owned())?
                    .map_err(|e| e.to_string())?;
            dial_handshake(
                stream,
                Peer::Node(inner.me.clone()),
                &inner.creds,
                inner.opts.handshake_timeout,
            )
            .await
            .map_err(|e| e.to_string())
        }
        .await;
        lock(&inner.dialing).remove(&address);
        match outcome {
            Ok(est) => {
                // Even when adopt keeps another link, back off before dialling again.
                backoff_bump(&inner, &address);
                adopt(&inner, est, true, seed.then_some(address.as_str()));
            }
            Err(e) => {
                backoff_bump(&inner, &address);
                tracing::debug!(%address, error = %e, "dial failed");
            }
        }
    });
}

async fn maintain_loop(bus: Weak<Inner>) {
    let (mut shutdown, period, gossip_every) = match bus.upgrade() {
        Some(inner) => (
            inner.shutdown.subscribe(),
            (inner.opts.heartbeat / 4).clamp(Duration::from_millis(20), Duration::from_millis(200)),
            inner.opts.gossip_interval,
        ),
        None => return,
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_gossip = Instant::now();
    let mut last_states: HashMap<NodeName, MemberState> = HashMap::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let Some(inner) = bus.upgrade() else { return };
        let now = Instant::now();
        let links: Vec<(NodeName, Link)> = lock(&inner.links)
            .iter()
            .map(|(n, l)| (n.clone(), l.clone()))
            .collect();
        {
            let mut members = lock(&inner.members);
            for (name, link) in &links {
                if !link.is_closed() {
                    members.heard(name, link.silent_for(), now);
                }
            }
        }

        // Seeds until each one is linked, then whoever the topology says to dial.
        let linked = |name: &NodeName| links.iter().any(|(n, l)| n == name && !l.is_closed());
        let seed_nodes = lock(&inner.seed_nodes).clone();
        for seed in &inner.seeds {
            let done = seed_nodes
                .get(seed)
                .is_some_and(|n| *n == inner.me.name || linked(n));
            if !done && backoff_ready(&inner, seed, now) {
                dial(&inner, seed.clone(), true);
            }
        }
        let to_dial = lock(&inner.members).to_dial();
        for id in to_dial {
            if !linked(&id.name) && backoff_ready(&inner, &id.address, now) {
                dial(&inner, id.address.clone(), false);
            }
        }

        // Log state changes.
        let report = lock(&inner.members).report(now);
        for m in &report {
            let prev = last_states.insert(m.name.clone(), m.state);
            if prev.is_some_and(|p| p != m.state) {
                match m.state {
                    MemberState::Alive => {
                        tracing::info!(node = %inner.me.name, member = %m.name, "member alive")
                    }
                    MemberState::Suspect => {
                        tracing::warn!(node = %inner.me.name, member = %m.name, silent_ms = m.last_seen_ms, "member suspect")
                    }
                    MemberState::Dead => {
                        tracing::warn!(node = %inner.me.name, member = %m.name, silent_ms = m.last_seen_ms, "member dead")
                    }
                }
            }
        }

        if now.duration_since(last_gossip) >= gossip_every {
            last_gossip = now;
            for (_, link) in links {
                let Peer::Node(peer) = link.peer().clone() else {
                    continue;
                };
                let members = gossip_for(&inner, &peer);
                tokio::spawn(async move {
                    let _ = link.send(&Frame::Gossip { members }).await;
                });
            }
        }
    }
}

/// Binds the bus listener (separately, so the caller can report the real address).
pub async fn bind(address: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
