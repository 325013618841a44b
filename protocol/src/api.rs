//! Typed access to the API server, over any transport.
//!
//! [`Api<K>`] turns the `apiserver` actor's protocol ([`ApiRequest`]/[`ApiReply`]) into
//! typed calls for one kind of object. It does not care how a request reaches an
//! `apiserver`: the Rust client sends it over its link ([`crate::client::Client`]), a
//! component inside a node sends it over the node's bus, and tests may answer it from a
//! fake. That is the [`ApiTransport`] trait.
//!
//! The same handle serves objects of any kind: [`Api::dynamic`] gives an
//! `Api<`[`DynamicObject`]`>` over a resource described at run time ([`ApiResource`]),
//! with the same calls. Both are [`Object`]s: something with typed metadata that reads
//! and writes as Kubernetes JSON.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::messages::api::{ApiReply, ApiRequest, ListParams, PatchType, ResourceRef};
use crate::resources::{List, ObjectMeta, Pod, Resource, ServiceAccount, Status};

pub use crate::dynamic::{ApiResource, DynamicObject};

/// An API object of a typed kind or a [`DynamicObject`]: JSON on the wire, metadata
/// typed. What [`Api`] and the informers need of the objects they carry.
pub trait Object:
    Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The object's metadata.
    fn meta(&self) -> &ObjectMeta;
    /// The object's metadata, for changing it.
    fn meta_mut(&mut self) -> &mut ObjectMeta;
}

impl<K: Resource> Object for K {
    fn meta(&self) -> &ObjectMeta {
        self.metadata()
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.metadata_mut()
    }
}

impl Object for DynamicObject {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Carries API requests to some `apiserver` and brings back its reply.
pub trait ApiTransport: Send + Sync + 'static {
    /// Sends one request. A failure `Status` comes back as `Ok(ApiReply::Error(_))`;
    /// `Err` means the request got no answer.
    fn call(&self, req: ApiRequest) -> BoxFuture<'_, Result<ApiReply, ApiError>>;
}

/// Why a typed API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request got no answer (link down, timeout, no API server reachable).
    #[error("no answer from the API server: {0}")]
    Unreachable(String),
    /// The API server answered with a failure `Status` (its `code` is the HTTP code).
    #[error("{} ({})", .0.message, .0.code)]
    Status(Box<Status>),
    /// The answer was not the JSON expected.
    #[error("cannot decode the API server's answer: {0}")]
    Decode(#[from] serde_json::Error),
}

impl ApiError {
    /// The HTTP code of a `Status` failure.
    pub fn code(&self) -> Option<i32> {
        match self {
            ApiError::Status(s) => Some(s.code),
            _ => None,
        }
    }

    /// True for 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }

    /// True for 409 Conflict (stale resourceVersion, or already exists).
    pub fn is_conflict(&self) -> bool {
        self.code() == Some(409)
    }

    /// True for 410 Gone: a watch asked for history that is no longer kept; relist.
    pub fn is_gone(&self) -> bool {
        self.code() == Some(410)
    }

    fn unexpected(what: &str) -> ApiError {
        ApiError::Decode(serde::de::Error::custom(format!("expected {what}")))
    }
}

/// One change seen by [`Api::watch_poll`].
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent<K> {
    /// Created (or part of the initial state).
    Added(K),
    /// Changed.
    Modified(K),
    /// Deleted; the last state.
    Deleted(K),
}

/// The collection reference of kind `K`.
pub fn resource_ref<K: Resource>() -> ResourceRef {
    let (group, version) = match K::API_VERSION.split_once('/') {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (String::new(), K::API_VERSION.to_owned()),
    };
    ResourceRef {
        group,
        version,
        plural: K::PLURAL.to_owned(),
    }
}

/// Typed access to objects of kind `K` in one namespace (or all namespaces, or cluster
/// scope, with `None`). Cheap to clone. `Api<DynamicObject>` ([`Api::dynamic`]) is the
/// same over a resource known only at run time.
pub struct Api<K> {
    transport: Arc<dyn ApiTransport>,
    resource: ResourceRef,
    namespaced: bool,
    namespace: Option<String>,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Api {
            transport: self.transport.clone(),
            resource: self.resource.clone(),
            namespaced: self.namespaced,
            namespace: self.namespace.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for Api<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("resource", &self.resource)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl<K: Resource> Api<K> {
    /// A handle on `K` objects in `namespace` over `transport`.
    pub fn new(transport: Arc<dyn ApiTransport>, namespace: Option<&str>) -> Self {
        Api {
            transport,
            resource: resource_ref::<K>(),
            namespaced: K::NAMESPACED,
            namespace: namespace.map(str::to_owned),
            _kind: PhantomData,
        }
    }
}

impl Api<DynamicObject> {
    /// A handle on the objects of `resource` in `namespace` over `transport`, as JSON
    /// with typed metadata.
    pub fn dynamic(
        transport: Arc<dyn ApiTransport>,
        resource: &ApiResource,
        namespace: Option<&str>,
    ) -> Self {
        Api {
            transport,
            resource: resource.resource_ref(),
            namespaced: resource.namespaced,
            namespace: namespace.map(str::to_owned),
            _kind: PhantomData,
        }
    }
}

impl<K: Object> Api<K> {
    /// The collection this handle addresses.
    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    /// Whether the collection's objects live in a namespace.
    pub fn is_namespaced(&self) -> bool {
        self.namespaced
    }

    /// The same kind in another namespace (`None`: all namespaces / cluster scope).
    pub fn in_namespace(&self, namespace: Option<&str>) -> Self {
        Api {
            namespace: namespace.map(str::to_owned),
            ..self.clone()
        }
    }

    /// The namespace this handle works in.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Sends a raw request and turns a failure `Status` into an error.
    pub async fn call(&self, req: ApiRequest) -> Result<ApiReply, ApiError> {
        match self.transport.call(req).await? {
            ApiReply::Error(s) => Err(ApiError::Status(s)),
            other => Ok(other),
        }
    }

    async fn json<T: DeserializeOwned>(&self, req: ApiRequest) -> Result<T, ApiError> {
        match self.call(req).await? {
            ApiReply::Json(b) => Ok(serde_json::from_slice(&b)?),
            _ => Err(ApiError::unexpected("an object")),
        }
    }

    /// Reads one object.
    pub async fn get(&self, name: &str) -> Result<K, ApiError> {
        self.json(ApiRequest::Get {
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            name: name.to_owned(),
        })
        .await
    }

    /// Reads one object; `None` when it does not exist.
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>, ApiError> {
        match self.get(name).await {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists objects; the list's `metadata.resourceVersion` is where a watch continues.
    pub async fn list(&self, params: &ListParams) -> Result<List<K>, ApiError> {
        self.json(ApiRequest::List {
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            params: params.clone(),
        })
        .await
    }

    /// Creates an object (in its own namespace if it names one, else in this handle's).
    pub async fn create(&self, obj: &K) -> Result<K, ApiError> {
        self.json(ApiRequest::Create {
            resource: self.resource.clone(),
            namespace: self.namespace_of(obj),
            body: serde_json::to_vec(obj)?,
        })
        .await
    }

    /// Replaces an object; 409 if its resourceVersion is stale.
    pub async fn update(&self, obj: &K) -> Result<K, ApiError> {
        self.put(obj, false).await
    }

    /// Replaces an object's status; 409 if its resourceVersion is stale.
    pub async fn update_status(&self, obj: &K) -> Result<K, ApiError> {
        self.put(obj, true).await
    }

    async fn put(&self, obj: &K, status: bool) -> Result<K, ApiError> {
        self.json(ApiRequest::Update {
            resource: self.resource.clone(),
            namespace: self.namespace_of(obj),
            name: obj.meta().name.clone(),
            status,
            body: serde_json::to_vec(obj)?,
        })
        .await
    }

    /// Patches an object.
    pub async fn patch(&self, name: &str, kind: PatchType, patch: &Value) -> Result<K, ApiError> {
        self.patch_inner(name, kind, patch, false).await
    }

    /// Patches an object's status.
    pub async fn patch_status(
        &self,
        name: &str,
        kind: PatchType,
        patch: &Value,
    ) -> Result<K, ApiError> {
        self.patch_inner(name, kind, patch, true).await
    }

    async fn patch_inner(
        &self,
        name: &str,
        patch_type: PatchType,
        patch: &Value,
        status: bool,
    ) -> Result<K, ApiError> {
        self.json(ApiRequest::Patch {
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            name: name.to_owned(),
            status,
            patch_type,
            body: serde_json::to_vec(patch)?,
        })
        .await
    }

    /// Deletes an object with default options; returns the API server's answer (the
    /// last state, or the object marked for deletion when finalizers hold it).
    pub async fn delete(&self, name: &str) -> Result<Value, ApiError> {
        self.delete_with(name, &Value::Null).await
    }

    /// Deletes an object with `DeleteOptions` (as JSON: `propagationPolicy`,
    /// `gracePeriodSeconds`, `preconditions`).
    pub async fn delete_with(&self, name: &str, options: &Value) -> Result<Value, ApiError> {
        self.json(ApiRequest::Delete {
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            name: name.to_owned(),
            options: if options.is_null() {
                Vec::new()
            } else {
                serde_json::to_vec(options)?
            },
        })
        .await
    }

    /// The changes after `resource_version` (waiting up to `wait` for one), and the
    /// resourceVersion to continue from. A 410 error means: relist.
    pub async fn watch_poll(
        &self,
        params: &ListParams,
        resource_version: u64,
        wait: Duration,
    ) -> Result<(Vec<WatchEvent<K>>, u64), ApiError> {
        let req = ApiRequest::WatchPoll {
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            params: params.clone(),
            resource_version,
            wait_ms: u32::try_from(wait.as_millis()).unwrap_or(u32::MAX),
        };
        match self.call(req).await? {
            ApiReply::Events {
                events,
                resource_version,
            } => {
                let mut out = Vec::with_capacity(events.len());
                for e in events {
                    let obj: K = serde_json::from_slice(&e.object)?;
                    out.push(match e.kind.as_str() {
                        "ADDED" => WatchEvent::Added(obj),
                        "DELETED" => WatchEvent::Deleted(obj),
                        _ => WatchEvent::Modified(obj),
                    });
                }
                Ok((out, resource_version))
            }
            _ => Err(ApiError::unexpected("watch events")),
        }
    }

    fn namespace_of(&self, obj: &K) -> Option<String> {
        let ns = &obj.meta().namespace;
        if self.namespaced && !ns.is_empty() {
            Some(ns.clone())
        } else {
            self.namespace.clone()
        }
    }
}

impl Api<Pod> {
    /// Binds a pending pod to `node` (the `pods/binding` subresource); 409 if the pod
    /// is already bound.
    pub async fn bind(&self, name: &str, node: &str) -> Result<(), ApiError> {
        let binding = json!({
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        self.call(ApiRequest::Bind {
            namespace: self.namespace.clone().unwrap_or_default(),
            name: name.to_owned(),
            body: serde_json::to_vec(&binding)?,
        })
        .await
        .map(|_| ())
    }

    /// Evicts the pod `name` (the `pods/eviction` subresource) with these
    /// DeleteOptions (`Value::Null` for none): a 429 when its disruption budget allows
    /// no disruption now.
    pub async fn evict(&self, name: &str, delete_options: &Value) -> Result<(), ApiError> {
        let mut eviction = json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name},
        });
        if delete_options.is_object() {
            eviction["deleteOptions"] = delete_options.clone();
        }
        self.call(ApiRequest::Evict {
            namespace: self.namespace.clone().unwrap_or_default(),
            name: name.to_owned(),
            body: serde_json::to_vec(&eviction)?,
        })
        .await
        .map(|_| ())
    }
}

impl Api<ServiceAccount> {
    /// Asks for a token of the service account `name` (the `serviceaccounts/token`
    /// subresource): `request` is an `authentication.k8s.io/v1` TokenRequest; the answer
    /// is the same with `status.token` and `status.expirationTimestamp`.
    pub async fn create_token(&self, name: &str, request: &Value) -> Result<Value, ApiError> {
        self.json(ApiRequest::CreateSubresource {
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            name: name.to_owned(),
            subresource: "token".into(),
            body: serde_json::to_vec(request)?,
        })
        .await
    }
}
