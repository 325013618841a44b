//! Supervision: every component actor runs under the node's [`Supervisor`], which starts
//! it, registers it on the bus, and starts it again whenever it stops.
//!
//! An actor stops because it was told to ([`Stop`], sent by `chaos`), because it stopped
//! itself, or because a handler panicked: tokio contains the panic to the actor's task,
//! the task's future (and with it the mailbox) is dropped, and the actor's address reports
//! disconnected. The supervisor watches every child's address, so all three look the same
//! to it and end in a restart: a panic restarts the one actor, never leaves the node
//! half-dead. A fresh instance is built from the component's factory, so nothing survives
//! a restart but what the actor rebuilds (by design: state lives in the store) and the
//! node's shared informers ([`SharedInformers`], soft state a relist rebuilds), which a
//! restarted instance subscribes to again rather than watching a second time.
//!
//! Restarts are immediate the first time; an actor that keeps dying within
//! [`STABLE_AFTER`] of its start backs off exponentially up to [`MAX_RESTART_DELAY`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rudder_protocol::messages::chaos::{ActorInfo, ActorState};

use crate::bus::{Bus, Deliver};
use crate::informer::{ApiHandle, SharedInformers};

/// How often children's liveness is checked.
pub const CHECK_EVERY: Duration = Duration::from_millis(25);
/// An actor that ran this long is considered healthy again; its back-off resets.
pub const STABLE_AFTER: Duration = Duration::from_secs(10);
/// Ceiling of the restart back-off.
pub const MAX_RESTART_DELAY: Duration = Duration::from_secs(10);

/// Asks a component actor to stop (its supervisor restarts it).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Stop;

/// The two mailboxes the supervisor needs of a running component.
#[derive(Clone)]
pub struct Started {
    /// Where the bus delivers requests.
    pub deliver: Recipient<Deliver>,
    /// Where the supervisor sends [`Stop`].
    pub stop: Recipient<Stop>,
    /// Where the bus delivers streams opened to the component, if it takes any.
    pub streams: Option<Recipient<crate::bus::OpenStream>>,
}

impl Started {
    /// Starts `actor` in the current arbiter and returns its mailboxes.
    pub fn actor<A>(actor: A) -> Started
    where
        A: Actor<Context = Context<A>> + Handler<Deliver> + Handler<Stop>,
    {
        let addr = actor.start();
        Started {
            deliver: addr.clone().recipient(),
            stop: addr.recipient(),
            streams: None,
        }
    }

    /// Like [`Started::actor`], for an actor that also takes streams.
    pub fn actor_with_streams<A>(actor: A) -> Started
    where
        A: Actor<Context = Context<A>>
            + Handler<Deliver>
            + Handler<Stop>
            + Handler<crate::bus::OpenStream>,
    {
        let addr = actor.start();
        Started {
            deliver: addr.clone().recipient(),
            stop: addr.clone().recipient(),
            streams: Some(addr.recipient()),
        }
    }
}

/// Answers the bus requests addressed to a task component (see [`Started::task_serving`]).
pub type Serve = Arc<
    dyn Fn(
            rudder_protocol::Request,
        ) -> std::pin::Pin<
            Box<
                dyn std::future::Future<
                        Output = Result<rudder_protocol::Reply, rudder_protocol::BusError>,
                    > + Send,
            >,
        > + Send
        + Sync,
>;

impl Started {
    /// A component that is one async loop (informers, queues, reconcilers): it runs on
    /// the node's component runtime, off the thread that serves the bus and HTTP. The
    /// component stops (and is restarted) when the loop returns or panics; stopping it
    /// aborts the loop. It refuses bus requests.
    pub fn task<F>(fut: F) -> Started
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        Started::actor(TaskActor {
            fut: Some(Box::pin(fut)),
            abort: None,
            serve: None,
            serve_streams: None,
            sessions: Vec::new(),
        })
    }

    /// Like [`Started::task`], with `serve` answering the bus requests sent to it.
    pub fn task_serving<F>(fut: F, serve: Serve) -> Started
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        Started::actor(TaskActor {
            fut: Some(Box::pin(fut)),
            abort: None,
            serve: Some(serve),
            serve_streams: None,
            sessions: Vec::new(),
        })
    }

    /// Like [`Started::task_serving`], with `serve_streams` running each stream opened
    /// to it as a task of its own; stopping the component aborts them (which resets
    /// their streams), as it aborts the loop.
    pub fn task_serving_streams<F>(fut: F, serve: Serve, serve_streams: ServeStreams) -> Started
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        Started::actor_with_streams(TaskActor {
            fut: Some(Box::pin(fut)),
            abort: None,
            serve: Some(serve),
            serve_streams: Some(serve_streams),
            sessions: Vec::new(),
        })
    }
}

/// Runs one stream opened to a task component (see [`Started::task_serving_streams`]).
pub type ServeStreams = Arc<
    dyn Fn(
            crate::bus::OpenStream,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// The runtime that task components run on: two worker threads shared by every node in
/// the process, so that controllers, the scheduler and kubelets never hold up the bus.
pub fn component_runtime() -> &'static tokio::runtime::Handle {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rudder-components")
            .enable_all()
            .build()
            // Without threads or a timer the node cannot run at all; nothing to recover.
            .expect("cannot start the component runtime")
    })
    .handle()
}

/// The actor behind [`Started::task`].
struct TaskActor {
    fut: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
    abort: Option<tokio::task::AbortHandle>,
    serve: Option<Serve>,
    serve_streams: Option<ServeStreams>,
    /// The stream sessions running, aborted with the component.
    sessions: Vec<tokio::task::AbortHandle>,
}

impl Actor for TaskActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(fut) = self.fut.take() else {
            return;
        };
        let handle = component_runtime().spawn(fut);
        self.abort = Some(handle.abort_handle());
        ctx.spawn(
            async move {
                if let Err(e) = handle.await {
                    if e.is_panic() {
                        tracing::error!(error = %e, "component loop panicked");
                    }
                }
            }
            .into_actor(self)
            .map(|_, _, ctx: &mut Context<Self>| ctx.stop()),
        );
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(a) = self.abort.take() {
            a.abort();
        }
        for s in self.sessions.drain(..) {
            s.abort();
        }
    }
}

crate::stop_on_request!(TaskActor);

impl Handler<crate::bus::OpenStream> for TaskActor {
    type Result = ();

    fn handle(&mut self, msg: crate::bus::OpenStream, _: &mut Context<Self>) {
        // Without a stream server the halves drop here, which resets the stream.
        if let Some(serve) = &self.serve_streams {
            self.sessions.retain(|s| !s.is_finished());
            let handle = component_runtime().spawn(serve(msg));
            self.sessions.push(handle.abort_handle());
        }
    }
}

impl Handler<Deliver> for TaskActor {
    type Result = ResponseFuture<Result<rudder_protocol::Reply, rudder_protocol::BusError>>;

    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) -> Self::Result {
        match &self.serve {
            Some(serve) => serve(msg.0),
            None => {
                let protocol = msg.0.protocol().to_owned();
                Box::pin(async move {
                    Err(rudder_protocol::BusError::Failed {
                        actor: rudder_protocol::ActorRef::new(
                            rudder_protocol::NodeName::new("local"),
                            "component",
                        ),
                        message: format!("this component answers no {protocol} requests"),
                    })
                })
            }
        }
    }
}

/// What a component's factory gets to build an instance.
#[derive(Clone)]
pub struct StartContext {
    /// The node's bus.
    pub bus: Bus,
    /// The node's supervisor, for actors that manage others (chaos).
    pub supervisor: Addr<Supervisor>,
    /// The node's shared informers: they outlive component restarts, so a restarted
    /// component subscribes again instead of listing and watching again.
    pub informers: SharedInformers,
}

/// Builds a fresh instance of a component.
pub type Factory = Arc<dyn Fn(&StartContext) -> Started + Send + Sync>;

/// A component the supervisor keeps running.
#[derive(Clone)]
pub struct ComponentSpec {
    /// The actor's name on the bus.
    pub name: String,
    /// Builds and starts one instance.
    pub factory: Factory,
}

impl ComponentSpec {
    /// A component named `name` built by `factory`.
    pub fn new(
        name: impl Into<String>,
        factory: impl Fn(&StartContext) -> Started + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            factory: Arc::new(factory),
        }
    }
}

struct Child {
    spec: ComponentSpec,
    running: Option<Started>,
    started_at: Instant,
    restarts: u32,
    quick_failures: u32,
    restart_at: Option<Instant>,
}

/// The node's supervisor actor.
pub struct Supervisor {
    node: String,
    bus: Bus,
    informers: SharedInformers,
    children: BTreeMap<String, Child>,
    pending: Vec<ComponentSpec>,
    stopping: bool,
}

impl Supervisor {
    /// A supervisor that will start `components` when it starts. It owns the node's
    /// [`SharedInformers`] (one supervisor per node, so one factory per node), running
    /// them on the component runtime.
    pub fn new(bus: Bus, components: Vec<ComponentSpec>) -> Self {
        let informers = SharedInformers::new(
            Arc::new(ApiHandle::new(bus.clone())),
            component_runtime().clone(),
        );
        Self {
            node: bus.node().to_string(),
            informers,
            bus,
            children: BTreeMap::new(),
            pending: components,
            stopping: false,
        }
    }

    fn start_child(&mut self, name: &str, ctx: &mut Context<Self>) {
        let start_ctx = StartContext {
            bus: self.bus.clone(),
            supervisor: ctx.address(),
            informers: self.informers.clone(),
        };
        let Some(child) = self.children.get_mut(name) else {
            return;
        };
        let started = (child.spec.factory)(&start_ctx);
        self.bus.register(name, started.deliver.clone());
        match &started.streams {
            Some(s) => self.bus.register_streams(name, s.clone()),
            None => self.bus.unregister_streams(name),
        }
        child.running = Some(started);
        child.started_at = Instant::now();
        child.restart_at = None;
    }

    fn check(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let now = Instant::now();
        let mut to_start = Vec::new();
        for (name, child) in &mut self.children {
            if let Some(running) = &child.running {
                if running.deliver.connected() {
                    continue;
                }
                // It stopped: killed, stopped itself, or panicked.
                self.bus.unregister(name);
                self.bus.unregister_streams(name);
                child.running = None;
                let uptime = now.duration_since(child.started_at);
                child.quick_failures = if uptime < STABLE_AFTER {
                    child.quick_failures + 1
                } else {
                    1
                };
                let delay = restart_delay(child.quick_failures);
                tracing::warn!(node = %self.node, actor = %name, uptime_ms = uptime.as_millis() as u64, retry_in = ?delay, "actor stopped; restarting");
                child.restart_at = Some(now + delay);
            }
            if child.restart_at.is_some_and(|t| now >= t) {
                child.restarts += 1;
                crate::telemetry::metrics()
                    .actors
                    .actor(name)
                    .restarts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                to_start.push(name.clone());
            }
        }
        for name in to_start {
            self.start_child(&name, ctx);
            tracing::info!(node = %self.node, actor = %name, "actor restarted");
        }
    }

    fn info(&self) -> Vec<ActorInfo> {
        let now = Instant::now();
        self.children
            .iter()
            .map(|(name, c)| {
                let state = match (&c.running, self.stopping) {
                    (_, true) => ActorState::Stopped,
                    (Some(r), false) if r.deliver.connected() => ActorState::Running,
                    _ => ActorState::Restarting,
                };
                let stats = crate::telemetry::metrics().actors.snapshot(name);
                ActorInfo {
                    messages: stats.as_ref().map_or(0, |s| s.messages),
                    mailbox: stats
                        .as_ref()
                        .map_or(0, |s| u64::try_from(s.mailbox).unwrap_or(0)),
                    busy_us: stats.as_ref().map_or(0, |s| (s.busy_seconds * 1e6) as u64),
                    node: self.node.clone(),
                    name: name.clone(),
                    state,
                    restarts: c.restarts,
                    uptime_ms: if state == ActorState::Running {
                        now.duration_since(c.started_at).as_millis() as u64
                    } else {
                        0
                    },
                }
            })
            .collect()
    }
}

/// Delay before the `n`th quick restart in a row (n >= 1): 0, 100 ms, 200 ms, ... capped.
pub fn restart_delay(n: u32) -> Duration {
    if n <= 1 {
        return Duration::ZERO;
    }
    let exp = (n - 2).min(16);
    (Duration::from_millis(100) * (1u32 << exp)).min(MAX_RESTART_DELAY)
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        for spec in std::mem::take(&mut self.pending) {
            let name = spec.name.clone();
            self.children.insert(
                name.clone(),
                Child {
                    spec,
                    running: None,
                    started_at: Instant::now(),
                    restarts: 0,
                    quick_failures: 0,
                    restart_at: None,
                },
            );
            self.start_child(&name, ctx);
        }
        ctx.run_interval(CHECK_EVERY, |this, ctx| this.check(ctx));
    }
}

/// Lists the supervised actors.
#[derive(Debug, Message)]
#[rtype(result = "Vec<ActorInfo>")]
pub struct ListChildren;

impl Handler<ListChildren> for Supervisor {
    type Result = MessageResult<ListChildren>;

    fn handle(&mut self, _: ListChildren, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.info())
    }
}

/// Stops one supervised actor; the reply is its info before the kill, `None` if unknown.
#[derive(Debug, Message)]
#[rtype(result = "Option<ActorInfo>")]
pub struct KillChild {
    /// The actor's name.
    pub name: String,
}

impl Handler<KillChild> for Supervisor {
    type Result = MessageResult<KillChild>;

    fn handle(&mut self, msg: KillChild, ctx: &mut Context<Self>) -> Self::Result {
        let info = self.info().into_iter().find(|i| i.name == msg.name);
        if let Some(child) = self.children.get(&msg.name) {
            if let Some(running) = &child.running {
                tracing::info!(node = %self.node, actor = %msg.name, "killing actor on request");
                running.stop.do_send(Stop);
                // Notice the stop right away rather than on the next tick.
                ctx.run_later(Duration::from_millis(1), |this, ctx| this.check(ctx));
            }
        }
        MessageResult(info)
    }
}

/// Stops every child for good (node shutdown).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        self.stopping = true;
        for (name, child) in &mut self.children {
            self.bus.unregister(name);
            if let Some(running) = child.running.take() {
                running.stop.do_send(Stop);
            }
        }
        self.informers.shutdown();
        ctx.stop();
    }
}

/// Implements [`Handler<Stop>`] for an actor by stopping its context.
#[macro_export]
macro_rules! stop_on_request {
    ($actor:ty) => {
        impl ::actix::Handler<$crate::supervisor::Stop> for $actor {
            type Result = ();

            fn handle(&mut self, _: $crate::supervisor::Stop, ctx: &mut Self::Context) {
                ::actix::ActorContext::stop(ctx);
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_delays() {
        let cases = [
            ("first", 1, 0),
            ("second quick", 2, 100),
            ("third quick", 3, 200),
            ("fourth quick", 4, 400),
            ("capped", 30, 10_000),
        ];
        for (name, n, ms) in cases {
            assert_eq!(restart_delay(n), Duration::from_millis(ms), "{name}");
        }
    }
}

#[cfg(test)]
mod actor_tests {
    use super::*;
    use rudder_protocol::actor::{ActorRef, NodeName, Role};
    use rudder_protocol::frame::NodeIdentity;
    use rudder_protocol::messages::echo::{EchoReply, EchoRequest};
    use rudder_protocol::messages::{BusError, Reply, Request};
    use rudder_protocol::net::Credentials;

    /// Panics on every request: stands for any bug inside a handler.
    struct Crashy;

    impl Actor for Crashy {
        type Context = Context<Self>;
    }

    crate::stop_on_request!(Crashy);

    impl Handler<Deliver> for Crashy {
        type Result = Result<Reply, BusError>;

        fn handle(&mut self, _: Deliver, _: &mut Context<Self>) -> Self::Result {
            panic!("crashy was asked something");
        }
    }

    async fn test_bus() -> Bus {
        let (listener, addr) = crate::bus::bind("127.0.0.1:0").await.expect("bind");
        Bus::start(
            NodeIdentity {
                name: NodeName::new("t"),
                address: addr.to_string(),
                roles: vec![Role::ControlPlane],
                incarnation: 1,
            },
            Credentials::token("test", &b"token"[..]),
            listener,
            vec![],
            crate::bus::BusOptions::default(),
        )
    }

    #[test]
    fn a_panicking_actor_is_restarted_and_the_node_keeps_serving() {
        let system = actix::System::new();
        system.block_on(async {
            let bus = test_bus().await;
            let sup = Supervisor::new(
                bus.clone(),
                vec![
                    ComponentSpec::new("crashy", |_| Started::actor(Crashy)),
                    ComponentSpec::new("echo", crate::echo::Echo::start),
                ],
            )
            .start();
            let ping = Request::Echo(EchoRequest::Ping { payload: vec![1] });
            let crashy = ActorRef::new("t", "crashy");
            // The supervisor starts its children when it starts, right after this.
            let list = sup.send(ListChildren).await.expect("supervisor alive");
            assert!(
                list.iter().all(|a| a.state == ActorState::Running),
                "{list:?}"
            );
            for round in 1..=2u32 {
                let err = bus
                    .request(crashy.clone(), ping.clone(), Duration::from_secs(2))
                    .await
                    .expect_err("a panicking handler gives no reply");
                assert!(matches!(err, BusError::ActorStopped { .. }), "{err}");
                // Restarted (immediately the first time, after 100 ms the second).
                let deadline = Instant::now() + Duration::from_secs(2);
                loop {
                    let list = sup.send(ListChildren).await.expect("supervisor alive");
                    let c = list.iter().find(|a| a.name == "crashy").expect("listed");
                    if c.restarts == round && c.state == ActorState::Running {
                        break;
                    }
                    assert!(Instant::now() < deadline, "not restarted: {list:?}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            // The other actor never noticed.
            let reply = bus
                .request(ActorRef::new("t", "echo"), ping, Duration::from_secs(2))
                .await
                .expect("echo answers");
            assert!(matches!(reply, Reply::Echo(EchoReply::Pong { .. })));
            let list = sup.send(ListChildren).await.expect("supervisor alive");
            let echo = list.iter().find(|a| a.name == "echo").expect("listed");
            assert_eq!(echo.restarts, 0);
            bus.shutdown();
        });
    }
}
