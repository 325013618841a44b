//! The `apiserver` actor: the bus front of the API server. It serves [`ApiRequest`]s
//! with the same [`ApiCore`] as the REST front, so both fronts behave alike.
//!
//! Owns nothing but a handle on the core; a killed and restarted `apiserver` loses no
//! state (watchers resume from their last resourceVersion).

use std::time::Duration;

use actix::prelude::*;
use rudder_protocol::actor::Role;
use rudder_protocol::messages::api::{
    ApiEvent, ApiReply, ApiRequest, Caller, Component, ListParams, ResourceRef,
};
use rudder_protocol::messages::{BusError, Reply, Request as BusRequest};
use rudder_protocol::resources::Status;
use rudder_protocol::ActorRef;
use serde_json::{json, Value};

use super::core::{
    delete_dry_run, fail, ApiCore, ApiResult, FieldValidation, ListOptions, WriteOptions,
};
use super::registry::{self, ResourceInfo};
use super::request::{
    list_meta, list_object, Operation, Outcome, Request, UserInfo, AUTHENTICATED_GROUP,
};
use crate::bus::{Deliver, Origin};
use crate::supervisor::{StartContext, Started};

/// The actor's name on every control-plane node.
pub const NAME: &str = rudder_protocol::names::actors::APISERVER;

/// The `apiserver` actor.
pub struct ApiServer {
    core: ApiCore,
    me: ActorRef,
    /// The node's bus: which roles the node a request comes from has.
    bus: crate::bus::Bus,
}

impl ApiServer {
    /// The component factory.
    pub fn factory(core: ApiCore) -> impl Fn(&StartContext) -> Started + Send + Sync + 'static {
        move |ctx: &StartContext| {
            Started::actor_with_streams(ApiServer {
                core: core.clone(),
                me: ActorRef::new(ctx.bus.node().clone(), NAME),
                bus: ctx.bus.clone(),
            })
        }
    }
}

impl Actor for ApiServer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
    }
}

crate::stop_on_request!(ApiServer);

/// Exec, attach and port-forward streams from bus clients ([`super::bus_streams`]); each
/// runs on its own task, so the actor's mailbox never waits on one.
impl Handler<crate::bus::OpenStream> for ApiServer {
    type Result = ();

    fn handle(&mut self, msg: crate::bus::OpenStream, _: &mut Context<Self>) {
        actix::spawn(super::bus_streams::serve(self.core.clone(), msg));
    }
}

impl Handler<Deliver> for ApiServer {
    type Result = ResponseFuture<Result<Reply, BusError>>;

    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) -> Self::Result {
        let core = self.core.clone();
        let me = self.me.clone();
        let bus = self.bus.clone();
        Box::pin(async move {
            match msg.0 {
                BusRequest::Api(req) => {
                    let sender = caller(&msg.1, &me, &bus);
                    let trace = msg.2;
                    // Decoding, defaulting, validation and encoding are CPU work: do them on
                    // the component runtime so the node's bus thread only moves frames.
                    let work = crate::supervisor::component_runtime().spawn(
                        crate::telemetry::trace::within(trace, async move {
                            let req = *req;
                            let impersonating = matches!(
                                &req,
                                ApiRequest::As {
                                    caller: Caller::User { .. },
                                    ..
                                }
                            )
                            .then(|| sender.clone());
                            let (user, req) =
                                identify(&core, &msg.1, &me, &bus, sender, req).await?;
                            match impersonating {
                                // Audited with who really sent it.
                                Some(impersonator) => {
                                    let source = super::audit::Source {
                                        impersonator: Some(impersonator),
                                        ..Default::default()
                                    };
                                    super::audit::SOURCE
                                        .scope(source, serve(&core, user, req))
                                        .await
                                }
                                None => serve(&core, user, req).await,
                            }
                        }),
                    );
                    Ok(Reply::Api(match work.await {
                        Ok(Ok(reply)) => reply,
                        Ok(Err(status)) => ApiReply::Error(status),
                        Err(e) => ApiReply::Error(Box::new(Status::failure(
                            500,
                            "InternalError",
                            format!("the request failed: {e}"),
                        ))),
                    }))
                }
                other => Err(BusError::WrongProtocol {
                    actor: me,
                    protocol: other.protocol().into(),
                }),
            }
        })
    }
}

fn lookup(r: &ResourceRef) -> ApiResult<&'static ResourceInfo> {
    registry::resource(&r.group, &r.version, &r.plural).ok_or_else(|| {
        Box::new(Status::failure(
            404,
            "NotFound",
            format!(
                "the server could not find the requested resource ({}/{}/{})",
                r.group, r.version, r.plural
            ),
        ))
    })
}

fn body(bytes: &[u8]) -> ApiResult<Value> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        Box::new(Status::failure(
            400,
            "BadRequest",
            format!("the body could not be decoded: {e}"),
        ))
    })
}

fn json_reply(v: &Value) -> ApiReply {
    ApiReply::Json(serde_json::to_vec(v).unwrap_or_default())
}

/// The options of writes over the bus: the typed messages carry no dry run, and typed
/// clients cannot send fields the model does not have.
const BUS_WRITES: WriteOptions = WriteOptions {
    dry_run: false,
    field_validation: FieldValidation::Ignore,
    field_manager: None,
    force: None,
};

fn options(p: ListParams) -> ListOptions {
    ListOptions {
        label_selector: p.label_selector,
        field_selector: p.field_selector,
        limit: p.limit,
        continue_token: p.continue_token,
        resource_version: p.resource_version,
        ..ListOptions::default()
    }
}

/// Who a bus request comes from, as the API server names its caller when the request
/// names no component ([`identify`]): on a control-plane node, its shared informers and
/// the components without a user of their own are the node's user in
/// [`super::rbac::BUS_COMPONENTS_GROUP`]; on a worker (which may hold only its node key,
/// see `bus::workers`), its agents (proxy, DNS, ingress, network policy, storage
/// provisioner, shared informers) are [`UserInfo::node_agent`], held to what RBAC grants
/// `system:rudder:node-agents`; a bus client with the cluster token is the admin, one
/// with a user's certificate that user.
fn caller(origin: &Origin, me: &ActorRef, bus: &crate::bus::Bus) -> UserInfo {
    let components = |node: &str| {
        let mut user = UserInfo::node(node);
        user.groups
            .push(super::rbac::BUS_COMPONENTS_GROUP.to_owned());
        user
    };
    match origin {
        Origin::Local => components(me.node.as_str()),
        // The roles the node authenticated with (gossip from workers is ignored); a
        // node the bus no longer knows has none, so it is no control plane.
        Origin::Node(node) if !bus.roles_of(node).contains(&Role::ControlPlane) => {
            UserInfo::node_agent(node.as_str())
        }
        Origin::Node(node) => components(node.as_str()),
        Origin::Client { .. } => UserInfo::admin(),
        Origin::User { user, .. } => super::bus_clients::user_info(user),
    }
}

/// Who a bus request is made as, and the request itself: the sender ([`caller`])
/// unless an [`ApiRequest::As`] names a component of the sending node or a user to
/// impersonate.
async fn identify(
    core: &ApiCore,
    origin: &Origin,
    me: &ActorRef,
    bus: &crate::bus::Bus,
    sender: UserInfo,
    req: ApiRequest,
) -> ApiResult<(UserInfo, ApiRequest)> {
    let ApiRequest::As { caller, request } = req else {
        return Ok((sender, req));
    };
    if matches!(*request, ApiRequest::As { .. }) {
        return Err(fail(400, "BadRequest", "an As request cannot wrap another"));
    }
    let user = match caller {
        Caller::Component(component) => {
            let node = match origin {
                Origin::Local => &me.node,
                Origin::Node(node) => node,
                Origin::Client { .. } | Origin::User { .. } => {
                    return Err(fail(
                        403,
                        "Forbidden",
                        "a bus client is no node's component; impersonate a user instead",
                    ))
                }
            };
            // Looked up only here: most bus requests name no component.
            component_user(component, node.as_str(), &bus.roles_of(node))?
        }
        Caller::User { name, groups } => {
            let asked = super::rbac::impersonation::Impersonation {
                user: name,
                groups,
                ..Default::default()
            };
            super::rbac::impersonation::impersonate(core, &sender, asked).await?
        }
    };
    Ok((user, *request))
}

/// The user of a node's component. The kubelet is `system:node:<node>`, held by the
/// node authorizer, from worker nodes only (a request forwarded by another node arrives
/// as that node's, so a worker's kubelet must reach an API server directly). The scheduler and the controllers run only on control-plane nodes;
/// they have their Kubernetes names, and stay in [`super::rbac::BUS_COMPONENTS_GROUP`]:
/// they share a process with the store and the API server, and must work before the
/// bootstrap roles and bindings exist.
fn component_user(component: Component, node: &str, roles: &[Role]) -> ApiResult<UserInfo> {
    let control_plane = |name: &str| {
        if !roles.contains(&Role::ControlPlane) {
            return Err(fail(
                403,
                "Forbidden",
                format!("node {node:?} has no control-plane role: it cannot act as {name}"),
            ));
        }
        Ok(UserInfo {
            name: name.to_owned(),
            groups: vec![
                super::rbac::BUS_COMPONENTS_GROUP.to_owned(),
                AUTHENTICATED_GROUP.to_owned(),
            ],
            ..UserInfo::default()
        })
    };
    match component {
        // Only a worker runs a kubelet: a kubelet's request that reaches here through
        // another node (forwarded) is refused rather than taken as that node's.
        Component::Kubelet if !roles.contains(&Role::Worker) => Err(fail(
            403,
            "Forbidden",
            format!("node {node:?} has no worker role: it cannot act as a kubelet"),
        )),
        Component::Kubelet => Ok(UserInfo::node(node)),
        Component::Scheduler => control_plane(super::rbac::bootstrap::SCHEDULER_USER),
        Component::ControllerManager => {
            control_plane(super::rbac::bootstrap::CONTROLLER_MANAGER_USER)
        }
    }
}

/// Describes a bus request as the one request path takes it.
fn request(user: UserInfo, req: ApiRequest) -> ApiResult<(Request, bool)> {
    let make = |resource: &ResourceRef,
                subresource: Option<&str>,
                namespace: Option<String>,
                name: Option<String>,
                op: Operation| {
        Ok::<_, super::core::ApiError>(Request {
            user: user.clone(),
            resource: lookup(resource)?,
            subresource: subresource.map(str::to_owned),
            namespace,
            name,
            op,
        })
    };
    let status = |s: bool| s.then_some("status");
    let mut as_table = false;
    let req = match req {
        ApiRequest::Get {
            resource,
            namespace,
            name,
        } => make(&resource, None, namespace, Some(name), Operation::Get)?,
        ApiRequest::List {
            resource,
            namespace,
            params,
        } => {
            as_table = params.as_table;
            make(
                &resource,
                None,
                namespace,
                None,
                Operation::List(options(params)),
            )?
        }
        ApiRequest::Create {
            resource,
            namespace,
            body: b,
        } => make(
            &resource,
            None,
            namespace,
            None,
            Operation::Create {
                body: body(&b)?,
                opts: BUS_WRITES,
            },
        )?,
        ApiRequest::Update {
            resource,
            namespace,
            name,
            status: s,
            body: b,
        } => make(
            &resource,
            status(s),
            namespace,
            Some(name),
            Operation::Update {
                body: body(&b)?,
                opts: BUS_WRITES,
            },
        )?,
        ApiRequest::Patch {
            resource,
            namespace,
            name,
            status: s,
            patch_type,
            body: b,
        } => make(
            &resource,
            status(s),
            namespace,
            Some(name),
            Operation::Patch {
                content_type: patch_type.content_type().to_owned(),
                patch: body(&b)?,
                opts: BUS_WRITES,
            },
        )?,
        ApiRequest::Delete {
            resource,
            namespace,
            name,
            options: o,
        } => {
            let o = body(&o)?;
            // A DeleteOptions body may ask for a dry run.
            let opts = WriteOptions {
                field_validation: FieldValidation::Ignore,
                ..WriteOptions::parse("DeleteOptions", &delete_dry_run(&o), None)?
            };
            make(
                &resource,
                None,
                namespace,
                Some(name),
                Operation::Delete { options: o, opts },
            )?
        }
        ApiRequest::Bind {
            namespace,
            name,
            body: b,
        } => make(
            &ResourceRef {
                group: String::new(),
                version: "v1".into(),
                plural: "pods".into(),
            },
            Some("binding"),
            Some(namespace),
            Some(name),
            Operation::Create {
                body: body(&b)?,
                opts: BUS_WRITES,
            },
        )?,
        ApiRequest::Evict {
            namespace,
            name,
            body: b,
        } => make(
            &ResourceRef {
                group: String::new(),
                version: "v1".into(),
                plural: "pods".into(),
            },
            Some("eviction"),
            Some(namespace),
            Some(name),
            Operation::Create {
                body: body(&b)?,
                opts: BUS_WRITES,
            },
        )?,
        ApiRequest::CreateSubresource {
            resource,
            namespace,
            name,
            subresource,
            body: b,
        } => make(
            &resource,
            Some(subresource.as_str()),
            namespace,
            Some(name),
            Operation::Create {
                body: body(&b)?,
                opts: BUS_WRITES,
            },
        )?,
        ApiRequest::UpdateSubresource {
            resource,
            namespace,
            name,
            subresource,
            body: b,
        } => make(
            &resource,
            Some(subresource.as_str()),
            namespace,
            Some(name),
            Operation::Update {
                body: body(&b)?,
                opts: BUS_WRITES,
            },
        )?,
        ApiRequest::As { .. } => {
            return Err(fail(400, "BadRequest", "an As request cannot wrap another"))
        }
        ApiRequest::WatchPoll {
            resource,
            namespace,
            params,
            resource_version,
            wait_ms,
        } => make(
            &resource,
            None,
            namespace,
            None,
            Operation::WatchPoll {
                list: options(params),
                after: resource_version,
                wait: Duration::from_millis(u64::from(wait_ms).min(60_000)),
            },
        )?,
    };
    Ok((req, as_table))
}

async fn serve(core: &ApiCore, user: UserInfo, req: ApiRequest) -> ApiResult<ApiReply> {
    let (req, as_table) = request(user, req)?;
    let info = req.resource;
    Ok(match core.handle(req).await? {
        Outcome::Object(v) | Outcome::Created(v) | Outcome::Patched { object: v, .. } => {
            json_reply(&v)
        }
        Outcome::List {
            items,
            revision,
            continue_token,
        } => {
            let meta = list_meta(revision, continue_token.as_deref());
            if as_table {
                json_reply(&super::table::table(
                    info.kind,
                    &items,
                    super::table::IncludeObject::Metadata,
                    meta,
                    rudder_protocol::resources::Time::now(),
                ))
            } else {
                json_reply(&list_object(info, items, meta))
            }
        }
        Outcome::Deleted(items) => json_reply(&list_object(info, items, json!({}))),
        Outcome::Events(events, resource_version) => ApiReply::Events {
            events: events
                .into_iter()
                .map(|e| ApiEvent {
                    kind: e.kind.to_owned(),
                    object: serde_json::to_vec(&e.object).unwrap_or_default(),
                })
                .collect(),
            resource_version,
        },
        Outcome::Admitted => {
            return Err(Box::new(Status::failure(
                500,
                "InternalError",
                "a stream was admitted on the bus",
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_users_only_on_nodes_with_their_role() {
        let (cp, worker, both) = (
            [Role::ControlPlane],
            [Role::Worker],
            [Role::ControlPlane, Role::Worker],
        );
        let name = |c: Component, roles: &[Role]| {
            component_user(c, "n1", roles)
                .map(|u| (u.name, u.groups))
                .map_err(|e| (e.code, e.message))
        };
        let kubelet = name(Component::Kubelet, &worker);
        assert_eq!(
            kubelet,
            Ok((
                "system:node:n1".to_owned(),
                vec!["system:nodes".to_owned(), AUTHENTICATED_GROUP.to_owned()]
            ))
        );
        assert_eq!(name(Component::Kubelet, &both), kubelet);
        assert!(
            matches!(name(Component::Kubelet, &cp), Err((403, m)) if m.contains("no worker role"))
        );
        for c in [Component::Scheduler, Component::ControllerManager] {
            assert!(
                matches!(name(c, &worker), Err((403, m)) if m.contains("no control-plane role"))
            );
            let (user, groups) = name(c, &both).unwrap_or_default();
            assert!(user.starts_with("system:kube-"), "{user}");
            assert!(groups.contains(&super::super::rbac::BUS_COMPONENTS_GROUP.to_owned()));
        }
    }
}
