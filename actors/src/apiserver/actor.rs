//! The `apiserver` actor: the bus front of the API server. It serves [`ApiRequest`]s
//! with the same [`ApiCore`] as the REST front, so both fronts behave alike.
//!
//! Owns nothing but a handle on the core; a killed and restarted `apiserver` loses no
//! state (watchers resume from their last resourceVersion).

use std::time::Duration;

use actix::prelude::*;
use rudder_protocol::messages::api::{ApiEvent, ApiReply, ApiRequest, ListParams, ResourceRef};
use rudder_protocol::messages::{BusError, Reply, Request};
use rudder_protocol::resources::Status;
use rudder_protocol::ActorRef;
use serde_json::{json, Value};

use super::core::{delete_dry_run, ApiCore, ApiResult, FieldValidation, ListOptions, WriteOptions};
use super::registry::{self, ResourceInfo};
use crate::bus::Deliver;
use crate::supervisor::{StartContext, Started};

/// The actor's name on every control-plane node.
pub const NAME: &str = rudder_protocol::names::actors::APISERVER;

/// The `apiserver` actor.
pub struct ApiServer {
    core: ApiCore,
    me: ActorRef,
}

impl ApiServer {
    /// The component factory.
    pub fn factory(core: ApiCore) -> impl Fn(&StartContext) -> Started + Send + Sync + 'static {
        move |ctx: &StartContext| {
            Started::actor(ApiServer {
                core: core.clone(),
                me: ActorRef::new(ctx.bus.node().clone(), NAME),
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

impl Handler<Deliver> for ApiServer {
    type Result = ResponseFuture<Result<Reply, BusError>>;

    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) -> Self::Result {
        let core = self.core.clone();
        let me = self.me.clone();
        Box::pin(async move {
            match msg.0 {
                Request::Api(req) => {
                    // Decoding, defaulting, validation and encoding are CPU work: do them on
                    // the component runtime so the node's bus thread only moves frames.
                    let work = crate::supervisor::component_runtime()
                        .spawn(async move { serve(&core, req).await });
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

fn pods_info() -> ApiResult<&'static ResourceInfo> {
    lookup(&ResourceRef {
        group: String::new(),
        version: "v1".into(),
        plural: "pods".into(),
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

async fn serve(core: &ApiCore, req: ApiRequest) -> ApiResult<ApiReply> {
    Ok(match req {
        ApiRequest::Get {
            resource,
            namespace,
            name,
        } => json_reply(
            &core
                .get(lookup(&resource)?, namespace.as_deref(), &name)
                .await?,
        ),
        ApiRequest::List {
            resource,
            namespace,
            params,
        } => {
            let info = lookup(&resource)?;
            let as_table = params.as_table;
            let (items, rev, cont) = core
                .list(info, namespace.as_deref(), &options(params))
                .await?;
            let mut meta = json!({"resourceVersion": rev.to_string()});
            if let Some(c) = cont {
                meta["continue"] = json!(c);
            }
            if as_table {
                json_reply(&super::table::table(
                    info.kind,
                    &items,
                    super::table::IncludeObject::Metadata,
                    meta,
                    rudder_protocol::resources::Time::now(),
                ))
            } else {
                json_reply(
                    &json!({"kind": info.list_kind(), "apiVersion": info.api_version(), "metadata": meta, "items": items}),
                )
            }
        }
        ApiRequest::Create {
            resource,
            namespace,
            body: b,
        } => json_reply(
            &core
                .create(
                    lookup(&resource)?,
                    namespace.as_deref(),
                    body(&b)?,
                    BUS_WRITES,
                )
                .await?,
        ),
        ApiRequest::Update {
            resource,
            namespace,
            name,
            status,
            body: b,
        } => json_reply(
            &core
                .update(
                    lookup(&resource)?,
                    namespace.as_deref(),
                    &name,
                    body(&b)?,
                    status,
                    BUS_WRITES,
                )
                .await?,
        ),
        ApiRequest::Patch {
            resource,
            namespace,
            name,
            status,
            patch_type,
            body: b,
        } => json_reply(
            &core
                .patch(
                    lookup(&resource)?,
                    namespace.as_deref(),
                    &name,
                    patch_type.content_type(),
                    &body(&b)?,
                    status,
                    BUS_WRITES,
                )
                .await?
                .object,
        ),
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
            json_reply(
                &core
                    .delete(lookup(&resource)?, namespace.as_deref(), &name, &o, opts)
                    .await?,
            )
        }
        ApiRequest::Bind {
            namespace,
            name,
            body: b,
        } => json_reply(
            &core
                .bind(
                    pods_info()?,
                    Some(&namespace),
                    &name,
                    &body(&b)?,
                    BUS_WRITES,
                )
                .await?,
        ),
        ApiRequest::WatchPoll {
            resource,
            namespace,
            params,
            resource_version,
            wait_ms,
        } => {
            let info = lookup(&resource)?;
            let filter = super::core::Filter::new(info, &options(params))?;
            let wait = Duration::from_millis(u64::from(wait_ms).min(60_000));
            let (events, rev) = core
                .watch_poll(info, namespace.as_deref(), resource_version, wait, &filter)
                .await?;
            let events = events
                .into_iter()
                .map(|e| ApiEvent {
                    kind: e.kind.to_owned(),
                    object: serde_json::to_vec(&e.object).unwrap_or_default(),
                })
                .collect();
            ApiReply::Events {
                events,
                resource_version: rev.max(resource_version),
            }
        }
    })
}
