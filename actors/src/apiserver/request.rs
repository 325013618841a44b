//! One request path. Both fronts, the REST API ([`super::http`]) and the bus
//! ([`super::actor`]), describe what they were asked the same way — a [`Request`]: who
//! asks ([`UserInfo`]), the resource, subresource, namespace and name, and the
//! [`Operation`] with its payload — and call [`ApiCore::handle`]. The request's
//! [`Attributes`] (user, verb, resource, subresource, namespace, name: Kubernetes'
//! authorization attributes) are computed once, there; authorization, metrics and audit
//! attach at that one place.
//!
//! Streams (an HTTP watch, a pod's log) are served by their front after `handle` has
//! admitted them ([`Operation::Stream`]), so they pass the same gate.

use std::time::Duration;

use serde_json::{json, Value};

use super::core::{
    fail, fail_for, ApiCore, ApiEvent, ApiResult, Filter, ListOptions, Part, WriteOptions,
};
use super::registry::ResourceInfo;

/// Who makes a request, as Kubernetes' `user.Info` names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name, e.g. `kubernetes-admin` or `system:node:n1`.
    pub name: String,
    /// The user's unique id, when its authenticator knows one (the static token file's
    /// third column, a service account's UID).
    pub uid: String,
    /// The groups, e.g. `system:masters`.
    pub groups: Vec<String>,
    /// What else the authenticator says (a service-account token's pod and credential,
    /// under `authentication.kubernetes.io/`).
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

/// The group of every authenticated caller.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// The user of a request without credentials.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// The group of a request without credentials.
const UNAUTHENTICATED: &str = super::rbac::bootstrap::UNAUTHENTICATED_GROUP;

impl UserInfo {
    /// The holder of the cluster's admin bearer token (the kubeconfig `rudderd` writes),
    /// or a client that joined the bus with the cluster's credentials.
    pub fn admin() -> UserInfo {
        UserInfo {
            name: "kubernetes-admin".into(),
            groups: vec!["system:masters".into(), AUTHENTICATED_GROUP.into()],
            ..UserInfo::default()
        }
    }

    /// A request that presented no credentials, when `[apiserver] anonymous_auth`
    /// admits such requests (Kubernetes' anonymous authenticator).
    pub fn anonymous() -> UserInfo {
        UserInfo {
            name: ANONYMOUS_USER.into(),
            groups: vec![UNAUTHENTICATED.into()],
            ..UserInfo::default()
        }
    }

    /// A component of the node `node` (over the bus).
    pub fn node(node: &str) -> UserInfo {
        UserInfo {
            name: format!("system:node:{node}"),
            groups: vec!["system:nodes".into(), AUTHENTICATED_GROUP.into()],
            ..UserInfo::default()
        }
    }

    /// The agents of worker `node` other than its kubelet (proxy, DNS, ingress, network
    /// policy, storage provisioner, shared informers): `system:rudder:node-agent:<node>`
    /// in `system:rudder:node-agents`, which the bootstrap role of that name is bound to.
    pub fn node_agent(node: &str) -> UserInfo {
        UserInfo {
            name: format!("{}{node}", super::rbac::bootstrap::NODE_AGENT_USER_PREFIX),
            groups: vec![
                super::rbac::bootstrap::NODE_AGENTS_GROUP.into(),
                AUTHENTICATED_GROUP.into(),
            ],
            ..UserInfo::default()
        }
    }
}

/// A verb, as Kubernetes' authorization names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `get`
    Get,
    /// `list`
    List,
    /// `watch`
    Watch,
    /// `create`
    Create,
    /// `update`
    Update,
    /// `patch`
    Patch,
    /// `delete`
    Delete,
    /// `deletecollection`
    DeleteCollection,
}

impl Verb {
    /// The verb's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// What a request asks for, with its payload.
#[derive(Debug, Clone)]
pub enum Operation {
    /// Read one object (or its `status` or `scale`).
    Get,
    /// List a collection.
    List(ListOptions),
    /// Create an object (or, on `pods/binding`, a Binding; on `pods/eviction`, an
    /// Eviction).
    Create {
        /// The object.
        body: Value,
        /// Dry run and field validation.
        opts: WriteOptions,
    },
    /// Replace an object (or its `status` or `scale`).
    Update {
        /// The new object.
        body: Value,
        /// Dry run and field validation.
        opts: WriteOptions,
    },
    /// Patch an object (or its `status` or `scale`).
    Patch {
        /// The patch's media type.
        content_type: String,
        /// The patch.
        patch: Value,
        /// Dry run and field validation.
        opts: WriteOptions,
    },
    /// Delete one object.
    Delete {
        /// The DeleteOptions.
        options: Value,
        /// Dry run.
        opts: WriteOptions,
    },
    /// Delete every object a list selects.
    DeleteCollection {
        /// Which objects.
        list: ListOptions,
        /// The DeleteOptions.
        options: Value,
        /// Dry run.
        opts: WriteOptions,
    },
    /// The changes after a revision, waiting up to a time for the first (the bus's
    /// long-poll watch).
    WatchPoll {
        /// Which objects.
        list: ListOptions,
        /// The revision to start after.
        after: u64,
        /// How long to wait for a change.
        wait: Duration,
    },
    /// A stream its front serves once admitted: an HTTP watch (`verb` `watch`) or a
    /// subresource read as a stream (`get` of `pods/log`).
    Stream(Verb),
}

/// A request, as both fronts describe it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Who asks.
    pub user: UserInfo,
    /// The resource.
    pub resource: &'static ResourceInfo,
    /// The subresource (`status`, `scale`, `binding`, `log`, `exec`, ...), if any.
    pub subresource: Option<String>,
    /// The namespace (namespaced resources only).
    pub namespace: Option<String>,
    /// The object's name; `None` for a collection.
    pub name: Option<String>,
    /// What to do.
    pub op: Operation,
}

/// Kubernetes' authorization attributes of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes<'a> {
    /// Who asks.
    pub user: &'a UserInfo,
    /// The verb.
    pub verb: Verb,
    /// The API group.
    pub group: &'static str,
    /// The resource's plural, e.g. `pods`.
    pub resource: &'static str,
    /// The subresource, if any.
    pub subresource: Option<&'a str>,
    /// The namespace, if any.
    pub namespace: Option<&'a str>,
    /// The name, if any.
    pub name: Option<&'a str>,
}

impl Request {
    /// The verb of this request.
    pub fn verb(&self) -> Verb {
        match &self.op {
            Operation::Get => Verb::Get,
            Operation::List(_) => Verb::List,
            Operation::Create { .. } => Verb::Create,
            Operation::Update { .. } => Verb::Update,
            Operation::Patch { .. } => Verb::Patch,
            Operation::Delete { .. } => Verb::Delete,
            Operation::DeleteCollection { .. } => Verb::DeleteCollection,
            Operation::WatchPoll { .. } => Verb::Watch,
            Operation::Stream(verb) => *verb,
        }
    }

    /// The authorization attributes.
    pub fn attributes(&self) -> Attributes<'_> {
        Attributes {
            user: &self.user,
            verb: self.verb(),
            group: self.resource.group,
            resource: self.resource.plural,
            subresource: self.subresource.as_deref(),
            namespace: self.namespace.as_deref(),
            name: self.name.as_deref(),
        }
    }
}

/// What [`ApiCore::handle`] answers.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// An object read, or the object as it is after an update or a deletion.
    Object(Value),
    /// An object created (HTTP 201).
    Created(Value),
    /// A patched object and the warnings its field validation produced.
    Patched {
        /// The object.
        object: Value,
        /// `Warning` header values.
        warnings: Vec<String>,
    },
    /// A page of a list.
    List {
        /// The objects.
        items: Vec<Value>,
        /// The revision the list reflects.
        revision: u64,
        /// The token of the next page.
        continue_token: Option<String>,
    },
    /// What a deletecollection deleted.
    Deleted(Vec<Value>),
    /// Watch events and the revision they reach.
    Events(Vec<ApiEvent>, u64),
    /// The stream may be served.
    Admitted,
}

fn name_of(req: &Request) -> ApiResult<&str> {
    req.name.as_deref().ok_or_else(|| {
        fail(
            405,
            "MethodNotAllowed",
            format!(
                "{} needs an object name",
                req.verb().as_str().to_uppercase()
            ),
        )
    })
}

/// The path a request would have over HTTP (what the audit log names a bus request by).
fn uri_of(a: &Attributes<'_>, version: &str) -> String {
    let mut uri = if a.group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{}/{version}", a.group)
    };
    if let Some(ns) = a.namespace {
        uri.push_str(&format!("/namespaces/{ns}"));
    }
    uri.push('/');
    uri.push_str(a.resource);
    for part in [a.name, a.subresource].into_iter().flatten() {
        uri.push('/');
        uri.push_str(part);
    }
    uri
}

impl ApiCore {
    /// Serves one request from either front: the one place every request passes.
    /// Measured here ([`crate::telemetry::api`]), and audited ([`super::audit`]) when an
    /// audit policy is configured.
    pub async fn handle(&self, req: Request) -> ApiResult<Outcome> {
        self.handle_noted(req).await.0
    }

    /// [`ApiCore::handle`], with the warnings admission added for the client (each
    /// a `Warning` header value), on success and on failure alike. The request's
    /// [`super::notes`] live for this call.
    pub async fn handle_noted(&self, req: Request) -> (ApiResult<Outcome>, Vec<String>) {
        let requester = req.user.name.clone();
        // A request that is part of no trace yet starts one (long-running ones excepted:
        // their time is the client's).
        let long = matches!(req.op, Operation::WatchPoll { .. } | Operation::Stream(_));
        let mut span = match crate::telemetry::trace::current() {
            None if !long => crate::telemetry::trace::Span::root(
                self.bus().node().as_str(),
                format!(
                    "{} {}",
                    req.verb().as_str(),
                    uri_of(&req.attributes(), req.resource.version)
                ),
            ),
            _ => None,
        };
        let serve = super::notes::collect(&requester, async {
            let timer = crate::telemetry::api::RequestTimer::start(&req);
            let out = self.handle_audited(req).await;
            timer.finish(&out);
            out
        });
        let (out, notes) = match &span {
            Some(span) => span.run(serve).await,
            None => serve.await,
        };
        if let Some(mut span) = span.take() {
            span.set_detail(match &out {
                Ok(Outcome::Created(_)) => "201".to_owned(),
                Ok(_) => "200".to_owned(),
                Err(e) => e.code.to_string(),
            });
            span.finish();
        }
        let warnings = notes
            .warnings
            .iter()
            .map(|w| super::notes::warning_header(w))
            .collect();
        (out, warnings)
    }

    /// [`ApiCore::handle`] without the metrics.
    async fn handle_audited(&self, req: Request) -> ApiResult<Outcome> {
        let Some(log) = self.audit_log() else {
            return self.serve(req).await;
        };
        let received = rudder_protocol::resources::MicroTime::now();
        // Owned copies: the request itself moves into `serve`.
        let user = req.user.clone();
        let (namespace, name, subresource) = (
            req.namespace.clone(),
            req.name.clone(),
            req.subresource.clone(),
        );
        let info = req.resource;
        let verb = req.verb().as_str();
        let object = super::audit::ObjectRef {
            group: info.group,
            version: info.version,
            resource: info.plural,
            subresource: subresource.as_deref(),
            namespace: namespace.as_deref(),
            name: name.as_deref(),
        };
        let level = log.policy().level(&user, verb, Some(&object), "");
        if level == super::audit::Level::None {
            return self.serve(req).await;
        }
        let mut source = super::audit::current_source();
        if source.request_uri.is_empty() {
            source.request_uri = uri_of(&req.attributes(), info.version);
        }
        let body = match &req.op {
            Operation::Create { body, .. } | Operation::Update { body, .. } => Some(body.clone()),
            Operation::Patch { patch, .. } => Some(patch.clone()),
            _ => None,
        };
        let out = self.serve(req).await;
        let (code, response) = match &out {
            Ok(Outcome::Created(v)) => (201, Some(v.clone())),
            Ok(Outcome::Object(v)) | Ok(Outcome::Patched { object: v, .. }) => {
                (200, Some(v.clone()))
            }
            Ok(_) => (200, None),
            Err(e) => (e.code, serde_json::to_value(&**e).ok()),
        };
        let wants_response = level >= super::audit::Level::RequestResponse;
        log.record(super::audit::Entry {
            user: &user,
            verb,
            object: Some(object),
            source,
            received,
            code,
            request: body.as_ref(),
            response: response.as_ref().filter(|_| wants_response),
            annotations: super::notes::audit_annotations(),
        });
        out
    }

    /// [`ApiCore::handle`] without the audit: the outcome as the requested version.
    async fn serve(&self, mut req: Request) -> ApiResult<Outcome> {
        let info = req.resource;
        if super::versions::is_other_version(info) {
            // A second version of a built-in kind: the request goes on as the stored
            // version's, its body converted; a patch applies to the object as this
            // version shows it, so the core converts around it.
            match &mut req.op {
                Operation::Create { body, .. } | Operation::Update { body, .. } => {
                    super::versions::to_stored(info, body);
                    req.resource = super::versions::storage(info);
                }
                Operation::Patch { .. } => {}
                _ => req.resource = super::versions::storage(info),
            }
        }
        // Boxed: the request's state machine is large, and the fronts' threads have
        // ordinary stacks (unboxed, nesting it once more overflowed them on apply).
        let outcome = Box::pin(self.serve_stored(req)).await?;
        Ok(super::versions::outcome_as(info, outcome))
    }

    /// [`ApiCore::serve`] with objects as stored.
    async fn serve_stored(&self, req: Request) -> ApiResult<Outcome> {
        let attributes = req.attributes();
        tracing::trace!(
            user = %attributes.user.name,
            verb = attributes.verb.as_str(),
            group = attributes.group,
            resource = attributes.resource,
            subresource = attributes.subresource.unwrap_or_default(),
            namespace = attributes.namespace.unwrap_or_default(),
            name = attributes.name.unwrap_or_default(),
            "request"
        );
        self.authorize(&super::rbac::rules::Check::of(&attributes))
            .await?;
        self.escalation_gate(&req).await?;
        super::rbac::node::restrict(self.authorizer().1, &req).await?;
        if let Operation::Stream(_) = req.op {
            // Streams name their own subresources (`log`, `exec`, ...); their front
            // checks them.
            return Ok(Outcome::Admitted);
        }
        if let Some(sub) = req.subresource.as_deref() {
            if req.resource.subresource(sub).is_none() {
                // With details, as Kubernetes answers: clients read them (kubectl debug
                // dereferences `details.name` on a 404).
                return Err(fail_for(
                    404,
                    "NotFound",
                    req.resource,
                    req.name.as_deref().unwrap_or_default(),
                    format!(
                        "the server could not find the requested resource ({}/{sub})",
                        req.resource.plural
                    ),
                ));
            }
        }
        let info = req.resource;
        let ns = req.namespace.as_deref();
        let part = Part::of(req.subresource.as_deref());
        if part == Some(Part::Approval)
            && matches!(req.op, Operation::Update { .. } | Operation::Patch { .. })
        {
            self.approval_admission(&req.user, name_of(&req)?).await?;
        }
        if info.group == "certificates.k8s.io" && info.plural == "certificatesigningrequests" {
            match (&req.op, part) {
                (Operation::Create { body, .. }, Some(Part::Main)) => {
                    super::certificates::subject_restriction(body)?
                }
                (Operation::Update { .. } | Operation::Patch { .. }, Some(Part::Status)) => {
                    self.signing_admission(&req.user, name_of(&req)?, &req.op)
                        .await?
                }
                _ => {}
            }
        }
        let unsupported = |req: &Request| {
            fail(
                405,
                "MethodNotAllowed",
                format!(
                    "{} is not supported on {}{}",
                    req.verb().as_str(),
                    info.plural,
                    req.subresource
                        .as_deref()
                        .map(|s| format!("/{s}"))
                        .unwrap_or_default()
                ),
            )
        };
        Ok(match (&req.op, req.subresource.as_deref()) {
            (Operation::Get, None | Some("status" | "ephemeralcontainers" | "approval")) => {
                Outcome::Object(self.get(info, ns, name_of(&req)?).await?)
            }
            (Operation::Get, Some("scale")) => {
                Outcome::Object(self.get_scale(info, ns, name_of(&req)?).await?)
            }
            (Operation::List(list), None) if req.name.is_none() => {
                let (items, revision, continue_token) = self.list(info, ns, list).await?;
                Outcome::List {
                    items,
                    revision,
                    continue_token,
                }
            }
            (Operation::Create { body, opts }, None) if req.name.is_none() => {
                let mut body = body.clone();
                if let Ok(kind) = super::kinds::for_resource(info) {
                    kind.requested_by(&mut body, &req.user);
                }
                Outcome::Created(self.create(info, ns, body, opts.clone()).await?)
            }
            (Operation::Create { body, opts }, Some("binding")) => Outcome::Created(
                self.bind(info, ns, name_of(&req)?, body, opts.clone())
                    .await?,
            ),
            (Operation::Create { body, opts }, Some("token")) => Outcome::Created(
                self.request_token(ns.unwrap_or_default(), name_of(&req)?, body, opts.clone())
                    .await?,
            ),
            (Operation::Create { body, opts }, Some("eviction")) => Outcome::Created(
                self.evict(ns.unwrap_or_default(), name_of(&req)?, body, opts.clone())
                    .await?,
            ),
            (Operation::Update { body, opts }, _) if part.is_some() => Outcome::Object(
                self.update(
                    info,
                    ns,
                    name_of(&req)?,
                    body.clone(),
                    part.unwrap_or(Part::Main),
                    opts.clone(),
                )
                .await?,
            ),
            (Operation::Update { body, opts }, Some("scale")) => Outcome::Object(
                self.put_scale(info, ns, name_of(&req)?, body, opts.clone())
                    .await?,
            ),
            (
                Operation::Patch {
                    content_type,
                    patch,
                    opts,
                },
                _,
            ) if part.is_some() => {
                let written = self
                    .patch(
                        info,
                        ns,
                        name_of(&req)?,
                        content_type,
                        patch,
                        part.unwrap_or(Part::Main),
                        opts.clone(),
                    )
                    .await?;
                Outcome::Patched {
                    object: written.object,
                    warnings: written.warnings,
                }
            }
            (
                Operation::Patch {
                    content_type,
                    patch,
                    opts,
                },
                Some("scale"),
            ) => {
                let written = self
                    .patch_scale(info, ns, name_of(&req)?, content_type, patch, opts.clone())
                    .await?;
                Outcome::Patched {
                    object: written.object,
                    warnings: written.warnings,
                }
            }
            (Operation::Delete { options, opts }, None) => Outcome::Object(
                self.delete(info, ns, name_of(&req)?, options, opts.clone())
                    .await?,
            ),
            (
                Operation::DeleteCollection {
                    list,
                    options,
                    opts,
                },
                None,
            ) => Outcome::Deleted(
                self.delete_collection(info, ns, list, options, opts.clone())
                    .await?,
            ),
            (Operation::WatchPoll { list, after, wait }, None) => {
                let filter = Filter::new(info, list)?;
                let (events, revision) = self.watch_poll(info, ns, *after, *wait, &filter).await?;
                Outcome::Events(events, revision.max(*after))
            }
            _ => return Err(unsupported(&req)),
        })
    }
}

/// The list object of `items` (`PodList`, ...), with the list metadata.
pub fn list_object(info: &ResourceInfo, items: Vec<Value>, meta: Value) -> Value {
    json!({
        "kind": info.list_kind(), "apiVersion": info.api_version(),
        "metadata": meta, "items": items,
    })
}

/// The list metadata of a page: its revision and the next page's token.
pub fn list_meta(revision: u64, continue_token: Option<&str>) -> Value {
    match continue_token {
        Some(c) => json!({"resourceVersion": revision.to_string(), "continue": c}),
        None => json!({"resourceVersion": revision.to_string()}),
    }
}
