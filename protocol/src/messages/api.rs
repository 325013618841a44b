//! The `apiserver` actor's protocol: the same operations as the REST API, as typed
//! messages on the bus. Objects travel as their Kubernetes JSON (the REST face's bytes),
//! so both fronts share one implementation and one representation.
//!
//! Watches are long polls: [`ApiRequest::WatchPoll`] returns the events after a
//! resourceVersion; the caller asks again from the last one it saw, so a watch survives
//! a killed apiserver actor (or a lost node) by resuming.

use crate::resources::Status;

/// Which resource collection: `("", "v1", "pods")`, `("apps", "v1", "deployments")`.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct ResourceRef {
    /// API group ("" for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural resource name.
    pub plural: String,
}

/// Selectors and paging of a list or watch.
#[derive(Debug, Clone, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct ListParams {
    /// Label selector in Kubernetes syntax.
    pub label_selector: Option<String>,
    /// Field selector in Kubernetes syntax.
    pub field_selector: Option<String>,
    /// Page size (0: all).
    pub limit: u32,
    /// Continue token of the previous page.
    pub continue_token: Option<String>,
    /// Consistency of a list, as Kubernetes' `resourceVersion`: `None` = the latest
    /// (one Raft read index), `"0"` = whatever the API server's cache holds, `"N"` = at
    /// least revision N.
    pub resource_version: Option<String>,
    /// Answer with a `meta.k8s.io/v1` `Table` of the objects (the server-side printing
    /// `kubectl get` asks for), each row carrying the object's metadata.
    pub as_table: bool,
}

/// How a patch body is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum PatchType {
    /// RFC 7386 JSON merge patch.
    Merge,
    /// RFC 6902 JSON patch.
    Json,
    /// Kubernetes strategic merge patch.
    StrategicMerge,
}

impl PatchType {
    /// The HTTP content type of this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Json => "application/json-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
        }
    }
}

/// One of a node's components that talks to the API server, each with its own user, as
/// in Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Component {
    /// The node's kubelet: `system:node:<node>` in `system:nodes`, held to what the node
    /// authorizer allows (its own Node and Lease, its pods, what they use).
    Kubelet,
    /// The scheduler: `system:kube-scheduler`. Control-plane nodes only.
    Scheduler,
    /// The controllers: `system:kube-controller-manager`. Control-plane nodes only.
    ControllerManager,
}

/// Who an [`ApiRequest::As`] is made as.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Caller {
    /// A component of the node the request comes from.
    Component(Component),
    /// A user, impersonated (Kubernetes' `Impersonate-User` and `Impersonate-Group`):
    /// the sender's own user must be allowed to `impersonate` the user and each group.
    User {
        /// The user name, e.g. `system:node:w-1`.
        name: String,
        /// The groups, e.g. `system:nodes`.
        groups: Vec<String>,
    },
}

/// Requests to a control-plane node's `apiserver` actor.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum ApiRequest {
    /// Read one object.
    Get {
        /// The collection.
        resource: ResourceRef,
        /// Namespace (namespaced resources).
        namespace: Option<String>,
        /// Object name.
        name: String,
    },
    /// List objects.
    List {
        /// The collection.
        resource: ResourceRef,
        /// Namespace (`None`: all namespaces).
        namespace: Option<String>,
        /// Selectors and paging.
        params: ListParams,
    },
    /// Create an object (JSON body).
    Create {
        /// The collection.
        resource: ResourceRef,
        /// Namespace.
        namespace: Option<String>,
        /// The object as JSON.
        body: Vec<u8>,
    },
    /// Replace an object, or only its status (JSON body).
    Update {
        /// The collection.
        resource: ResourceRef,
        /// Namespace.
        namespace: Option<String>,
        /// Object name.
        name: String,
        /// True for the status subresource.
        status: bool,
        /// The object as JSON.
        body: Vec<u8>,
    },
    /// Patch an object.
    Patch {
        /// The collection.
        resource: ResourceRef,
        /// Namespace.
        namespace: Option<String>,
        /// Object name.
        name: String,
        /// True for the status subresource.
        status: bool,
        /// Patch flavour.
        patch_type: PatchType,
        /// The patch as JSON.
        body: Vec<u8>,
    },
    /// Delete an object (`options`: DeleteOptions as JSON, may be empty).
    Delete {
        /// The collection.
        resource: ResourceRef,
        /// Namespace.
        namespace: Option<String>,
        /// Object name.
        name: String,
        /// DeleteOptions as JSON.
        options: Vec<u8>,
    },
    /// Bind a pod to a node (the `pods/binding` subresource; `body` is a `Binding`).
    Bind {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// The `Binding` as JSON.
        body: Vec<u8>,
    },
    /// Changes after `resource_version`, waiting up to `wait_ms` for some.
    WatchPoll {
        /// The collection.
        resource: ResourceRef,
        /// Namespace (`None`: all).
        namespace: Option<String>,
        /// Selectors (paging ignored).
        params: ListParams,
        /// Exclusive start: the resourceVersion of a list or of the last event seen.
        resource_version: u64,
        /// Long-poll bound in milliseconds.
        wait_ms: u32,
    },
    /// Evict a pod (the `pods/eviction` subresource; `body` is a `policy/v1`
    /// `Eviction`): a deletion that respects the pod's disruption budget.
    Evict {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// The `Eviction` as JSON.
        body: Vec<u8>,
    },
    /// Create through a subresource of a named object that answers with a computed
    /// object (`serviceaccounts/token`: a TokenRequest in, the same with the token out).
    CreateSubresource {
        /// The collection.
        resource: ResourceRef,
        /// Namespace.
        namespace: Option<String>,
        /// Object name.
        name: String,
        /// The subresource, e.g. `token`.
        subresource: String,
        /// The request body as JSON.
        body: Vec<u8>,
    },
    /// `request`, made as `caller` rather than as whoever the bus says sent it: a
    /// node's component names itself (the kubelet is `system:node:<node>`, the
    /// scheduler `system:kube-scheduler`), and a bus client may impersonate a user, as
    /// `kubectl --as` does, when its own user may. Never nested.
    As {
        /// Who the request is made as.
        caller: Caller,
        /// The request.
        request: Box<ApiRequest>,
    },
    /// Replace what a subresource of a named object owns (`certificatesigningrequests`'
    /// `approval`: a CertificateSigningRequest whose conditions are written).
    UpdateSubresource {
        /// The collection.
        resource: ResourceRef,
        /// Namespace.
        namespace: Option<String>,
        /// Object name.
        name: String,
        /// The subresource, e.g. `approval`.
        subresource: String,
        /// The object as JSON.
        body: Vec<u8>,
    },
}

impl ApiRequest {
    /// The request itself: the one an [`ApiRequest::As`] wraps, else this one.
    pub fn operation(&self) -> &ApiRequest {
        match self {
            ApiRequest::As { request, .. } => request,
            other => other,
        }
    }
}

/// One watch event: its type (ADDED, MODIFIED, DELETED) and the object as JSON.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct ApiEvent {
    /// ADDED, MODIFIED or DELETED.
    pub kind: String,
    /// The object as JSON.
    pub object: Vec<u8>,
}

/// Replies from an `apiserver` actor.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum ApiReply {
    /// An object, or a list, as JSON (what the REST API returns).
    Json(Vec<u8>),
    /// Watch events and the resourceVersion to continue from.
    Events {
        /// Events in order.
        events: Vec<ApiEvent>,
        /// Continue from here.
        resource_version: u64,
    },
    /// The request failed: the Kubernetes `Status` (with its HTTP code).
    Error(Box<Status>),
}
