//! [`ApiHandle`]: how a component inside a node reaches an `apiserver` actor.
//!
//! A control-plane node talks to its own `apiserver`; a worker picks a live
//! control-plane member and sticks to it until it fails, then moves on. Requests that
//! never reached an `apiserver` (no such actor while it restarts, unreachable node) are
//! retried on the next candidate until the deadline; requests that may have been applied
//! (timeouts, dropped links) are retried only when they are reads, so a create is never
//! silently sent twice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::actor::Role;
use rudder_protocol::api::{Api, ApiError, ApiTransport, BoxFuture};
use rudder_protocol::messages::api::{ApiReply, ApiRequest, Caller, Component};
use rudder_protocol::messages::bus::MemberState;
use rudder_protocol::messages::BusError;
use rudder_protocol::resources::Resource;
use rudder_protocol::{ActorRef, NodeName};
use tokio::time::Instant;

use crate::bus::Bus;

/// The `apiserver` actor's name.
const APISERVER: &str = crate::apiserver::actor::NAME;
/// How long one API request may take, retries included. Watch polls add their wait.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Pauses between attempts when no `apiserver` answered: 100 ms doubling to 1 s, within
/// the request's deadline.
const RETRY: crate::retry::Retry =
    crate::retry::Retry::new(Duration::from_millis(100), Duration::from_secs(1));

/// Sends API requests over the node's bus. Cheap to clone.
#[derive(Clone)]
pub struct ApiHandle {
    inner: Arc<Inner>,
}

struct Inner {
    bus: Bus,
    /// The component the requests are made as, if it has its own user.
    component: Option<Component>,
    /// Index into the candidate list of the `apiserver` last used successfully.
    sticky: AtomicUsize,
}

impl ApiHandle {
    /// A handle over `bus`.
    pub fn new(bus: Bus) -> Self {
        Self::with(bus, None)
    }

    /// A handle over `bus` whose requests are made as `component` (the API server
    /// names the caller from it: the kubelet is `system:node:<node>`).
    pub fn as_component(bus: Bus, component: Component) -> Self {
        Self::with(bus, Some(component))
    }

    fn with(bus: Bus, component: Option<Component>) -> Self {
        ApiHandle {
            inner: Arc::new(Inner {
                bus,
                component,
                sticky: AtomicUsize::new(0),
            }),
        }
    }

    /// Typed access to `K` objects in `namespace` (`None`: all namespaces or cluster scope).
    pub fn api<K: Resource>(&self, namespace: Option<&str>) -> Api<K> {
        Api::new(Arc::new(self.clone()), namespace)
    }

    /// Access to the objects of `resource` (a kind known at run time) as JSON with typed
    /// metadata, in `namespace` (`None`: all namespaces or cluster scope).
    pub fn dynamic(
        &self,
        resource: &rudder_protocol::api::ApiResource,
        namespace: Option<&str>,
    ) -> Api<rudder_protocol::api::DynamicObject> {
        Api::dynamic(Arc::new(self.clone()), resource, namespace)
    }

    /// The bus under this handle (for components that also talk to other actors, as
    /// the autoscaler scrapes kubelets).
    pub fn bus(&self) -> &Bus {
        &self.inner.bus
    }

    /// The node this handle's bus belongs to.
    pub fn node(&self) -> &NodeName {
        self.inner.bus.node()
    }

    /// The nodes whose `apiserver` may serve us, best first: this node when it is a
    /// control plane, else the live control-plane members.
    fn candidates(&self) -> Vec<NodeName> {
        let bus = &self.inner.bus;
        if bus.identity().roles.contains(&Role::ControlPlane) {
            return vec![bus.node().clone()];
        }
        let mut members: Vec<_> = bus
            .members()
            .into_iter()
            .filter(|m| m.roles.contains(&Role::ControlPlane) && m.state != MemberState::Dead)
            .collect();
        members.sort_by(|a, b| {
            (a.state != MemberState::Alive, !a.linked, &a.name).cmp(&(
                b.state != MemberState::Alive,
                !b.linked,
                &b.name,
            ))
        });
        members.into_iter().map(|m| m.name).collect()
    }

    async fn send(&self, req: ApiRequest) -> Result<ApiReply, ApiError> {
        let wait = match &req {
            ApiRequest::WatchPoll { wait_ms, .. } => Duration::from_millis(u64::from(*wait_ms)),
            _ => Duration::ZERO,
        };
        let idempotent = matches!(
            req,
            ApiRequest::Get { .. } | ApiRequest::List { .. } | ApiRequest::WatchPoll { .. }
        );
        let req = match self.inner.component {
            Some(component) => ApiRequest::As {
                caller: Caller::Component(component),
                request: Box::new(req),
            },
            None => req,
        };
        let deadline = Instant::now() + REQUEST_DEADLINE + wait;
        let mut last = String::from("no control-plane node is known");
        let mut attempt = 0usize;
        let mut retry = RETRY;
        loop {
            let candidates = self.candidates();
            if !candidates.is_empty() {
                let start = self.inner.sticky.load(Ordering::Relaxed);
                let i = (start + attempt) % candidates.len();
                let to = ActorRef::new(candidates[i].clone(), APISERVER);
                let left = deadline.saturating_duration_since(Instant::now());
                let sent = Instant::now();
                let reply = self.inner.bus.call(to, req.clone(), left).await;
                if crate::telemetry::enabled() {
                    record(&req, candidates[i].as_str(), &reply, sent.elapsed());
                }
                match reply {
                    Ok(reply) => {
                        self.inner.sticky.store(i, Ordering::Relaxed);
                        return Ok(reply);
                    }
                    Err(e) => {
                        let never_delivered = matches!(
                            e,
                            BusError::NoSuchActor { .. } | BusError::Unreachable { .. }
                        );
                        last = e.to_string();
                        if !never_delivered && !idempotent {
                            return Err(ApiError::Unreachable(last));
                        }
                    }
                }
            }
            attempt += 1;
            let pause = retry.failed();
            if Instant::now() + pause >= deadline {
                return Err(ApiError::Unreachable(last));
            }
            tokio::time::sleep(pause).await;
        }
    }
}

/// `rest_client_*` for one request: the method HTTP would use and the status code
/// (`<error>` when no answer came, as client-go labels it).
fn record(
    req: &ApiRequest,
    host: &str,
    reply: &Result<ApiReply, BusError>,
    took: std::time::Duration,
) {
    let method = match req.operation() {
        ApiRequest::As { .. } => "<nested>",
        ApiRequest::Get { .. } | ApiRequest::List { .. } | ApiRequest::WatchPoll { .. } => "GET",
        ApiRequest::Create { .. }
        | ApiRequest::Bind { .. }
        | ApiRequest::Evict { .. }
        | ApiRequest::CreateSubresource { .. } => "POST",
        ApiRequest::Update { .. } | ApiRequest::UpdateSubresource { .. } => "PUT",
        ApiRequest::Patch { .. } => "PATCH",
        ApiRequest::Delete { .. } => "DELETE",
    };
    let code = match reply {
        Ok(ApiReply::Error(status)) => crate::telemetry::code_label(status.code),
        Ok(_) if method == "POST" => "201",
        Ok(_) => "200",
        Err(_) => "<error>",
    };
    crate::telemetry::metrics()
        .components
        .rest_request(method, host, code, took);
}

impl ApiTransport for ApiHandle {
    fn call(&self, req: ApiRequest) -> BoxFuture<'_, Result<ApiReply, ApiError>> {
        Box::pin(self.send(req))
    }
}
