//! What the API server serves: one static table of resources (group, version, kind,
//! names, verbs, subresources) and one static model of their object schemas.
//!
//! The schema model describes every object type once — its fields, their JSON types and,
//! for lists, how Kubernetes merges them (`x-kubernetes-patch-strategy`,
//! `x-kubernetes-patch-merge-key`, `x-kubernetes-list-type`). Two modules read it:
//! [`super::openapi`] renders it as OpenAPI v3, and [`super::patch`] walks it to apply
//! strategic merge patches, so the merge keys kubectl downloads are the ones the server
//! applies. [`unknown_fields`] walks it too, for `fieldValidation=Strict`.
//!
//! The model lists exactly the fields of the `rudder-protocol` resource types (a test
//! round-trips a sample of every field through them), not every field Kubernetes has:
//! a field Rudder does not store is reported as unknown rather than silently dropped.
//! String enums take their values from the protocol's enums (`PodPhase::NAMES`, ...).
//!
//! Nothing here does I/O; everything is `'static` data plus lookups.

use rudder_protocol::resources::{
    ConditionStatus, DeploymentStrategyType, DnsPolicy, IpFamily, IpFamilyPolicy,
    LabelSelectorOperator, NamespacePhase, NodeAddressType, NodeSelectorOperator, PodPhase,
    PodQosClass, Protocol, PullPolicy, RestartPolicy, ServiceType, SessionAffinity, TaintEffect,
    TerminationMessagePolicy, TolerationOperator, TrafficPolicy, UriScheme,
};
use serde_json::Value;

/// The resource table lives in the protocol crate, where clients read it too.
pub use rudder_protocol::registry::{
    group_version, resource, resource_for_kind, resources_in, ResourceInfo, Subresource, ALL_VERBS,
    GROUP_VERSIONS, RESOURCES,
};

// ---------------------------------------------------------------------------------------
// The schema model.
// ---------------------------------------------------------------------------------------

/// The JSON type of a field or of a list's or map's elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A string.
    String,
    /// A 32-bit integer.
    Int32,
    /// A 64-bit integer.
    Int64,
    /// A boolean.
    Bool,
    /// A string from a closed set.
    Enum(&'static [&'static str]),
    /// An object described by the [`TypeDef`] of this name.
    Object(&'static str),
    /// A list of elements of this type.
    Array(&'static Ty),
    /// An object with arbitrary string keys and values of this type.
    Map(&'static Ty),
}

/// One field of an object type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The JSON name.
    pub name: &'static str,
    /// The JSON type.
    pub ty: Ty,
    /// What it means, for `kubectl explain`.
    pub description: &'static str,
    /// Whether Kubernetes marks it required.
    pub required: bool,
    /// `x-kubernetes-patch-strategy`: `merge`, `retainKeys`, `merge,retainKeys` or empty.
    pub patch_strategy: &'static str,
    /// `x-kubernetes-patch-merge-key` of a merged list of objects; empty otherwise.
    pub merge_key: &'static str,
    /// `x-kubernetes-list-type`: `atomic`, `set`, `map` or empty.
    pub list_type: &'static str,
    /// `x-kubernetes-list-map-keys` of a `map` list.
    pub list_map_keys: &'static [&'static str],
}

const fn field(name: &'static str, ty: Ty, description: &'static str) -> Field {
    Field {
        name,
        ty,
        description,
        required: false,
        patch_strategy: "",
        merge_key: "",
        list_type: "",
        list_map_keys: &[],
    }
}

impl Field {
    const fn required(self) -> Field {
        Field {
            required: true,
            ..self
        }
    }

    /// A list of objects merged by `key`; `map_keys` identify an element for
    /// server-side apply (usually just `key`).
    const fn merge_by(self, key: &'static str, map_keys: &'static [&'static str]) -> Field {
        Field {
            patch_strategy: "merge",
            merge_key: key,
            list_type: "map",
            list_map_keys: map_keys,
            ..self
        }
    }

    /// A list of scalars merged as a set.
    const fn merge_set(self) -> Field {
        Field {
            patch_strategy: "merge",
            list_type: "set",
            ..self
        }
    }

    /// A list replaced as a whole.
    const fn atomic(self) -> Field {
        Field {
            list_type: "atomic",
            ..self
        }
    }

    /// Adds `retainKeys` to the patch strategy.
    const fn retain_keys(self) -> Field {
        let patch_strategy = if self.patch_strategy.is_empty() {
            "retainKeys"
        } else {
            "merge,retainKeys"
        };
        Field {
            patch_strategy,
            ..self
        }
    }

    /// Whether a list field is merged element by element (rather than replaced).
    pub fn merges(&self) -> bool {
        self.patch_strategy.split(',').any(|s| s == "merge")
    }
}

/// The shape of a named schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An object with these fields.
    Struct(&'static [Field]),
    /// A string with this OpenAPI format (`date-time` for times).
    FormattedString(&'static str),
    /// `resource.Quantity`: a string such as `500m`, or a number.
    Quantity,
    /// `intstr.IntOrString`: an integer or a string.
    IntOrString,
    /// Any JSON object (`RawExtension`, the body of a `PATCH`).
    AnyObject,
}

/// A group, version and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gvk {
    /// The API group; empty for core.
    pub group: &'static str,
    /// The version.
    pub version: &'static str,
    /// The kind.
    pub kind: &'static str,
}

/// A named schema, e.g. `io.k8s.api.core.v1.PodSpec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeDef {
    /// The OpenAPI component name.
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Its fields or scalar form.
    pub shape: Shape,
    /// For top-level kinds: `x-kubernetes-group-version-kind`.
    pub gvk: Option<Gvk>,
}

impl TypeDef {
    /// The fields of a struct type (none for scalars).
    pub fn fields(&self) -> &'static [Field] {
        match self.shape {
            Shape::Struct(fields) => fields,
            _ => &[],
        }
    }

    /// The field with this JSON name.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields().iter().find(|f| f.name == name)
    }
}

const fn ty(name: &'static str, description: &'static str, fields: &'static [Field]) -> TypeDef {
    TypeDef {
        name,
        description,
        shape: Shape::Struct(fields),
        gvk: None,
    }
}

const fn kind(
    name: &'static str,
    description: &'static str,
    group: &'static str,
    kind: &'static str,
    fields: &'static [Field],
) -> TypeDef {
    TypeDef {
        name,
        description,
        shape: Shape::Struct(fields),
        gvk: Some(Gvk {
            group,
            version: "v1",
            kind,
        }),
    }
}

/// `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`.
pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
/// `io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta`.
pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
/// `io.k8s.apimachinery.pkg.apis.meta.v1.Status`.
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
/// `io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions`.
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
/// `io.k8s.apimachinery.pkg.apis.meta.v1.Patch`.
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
/// `io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent`.
pub const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
const TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime";
const LABEL_SELECTOR: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const OBJECT_REFERENCE: &str = "io.k8s.api.core.v1.ObjectReference";
const POD_TEMPLATE_SPEC: &str = "io.k8s.api.core.v1.PodTemplateSpec";

const STRINGS: Ty = Ty::Array(&Ty::String);
const STRING_MAP: Ty = Ty::Map(&Ty::String);
const QUANTITY_MAP: Ty = Ty::Map(&Ty::Object(QUANTITY));
const CONDITION_STATUS: Ty = Ty::Enum(ConditionStatus::NAMES);

const API_VERSION: Field = field(
    "apiVersion",
    Ty::String,
    "The versioned schema of this representation of an object, e.g. `v1` or `apps/v1`.",
);
const KIND: Field = field(
    "kind",
    Ty::String,
    "The REST resource this object represents, in CamelCase, e.g. `Pod`.",
);
const METADATA: Field = field(
    "metadata",
    Ty::Object(OBJECT_META),
    "Standard object metadata.",
);
const TYPE_FIELD: Field = field("type", Ty::String, "Type of the condition.").required();
const STATUS_FIELD: Field = field(
    "status",
    CONDITION_STATUS,
    "Status of the condition: True, False or Unknown.",
)
.required();
const LAST_TRANSITION: Field = field(
    "lastTransitionTime",
    Ty::Object(TIME),
    "Last time the condition changed from one status to another.",
);
const REASON: Field = field(
    "reason",
    Ty::String,
    "A one-word, CamelCase reason for the condition's last transition.",
);
const MESSAGE: Field = field(
    "message",
    Ty::String,
    "A human-readable message with details about the last transition.",
);
/// The fields every condition type shares besides its timestamps.
const CONDITION: &[Field] = &[TYPE_FIELD, STATUS_FIELD, LAST_TRANSITION, REASON, MESSAGE];

const fn conditions(item: &'static Ty) -> Field {
    field(
        "conditions",
        Ty::Array(item),
        "The latest available observations of the object's state.",
    )
    .merge_by("type", &["type"])
}

const PROTOCOL: Ty = Ty::Enum(Protocol::NAMES);

/// Every named schema. Top-level kinds carry their group-version-kind.
pub static TYPES: &[TypeDef] = &[
    // ---- meta/v1, runtime, resource, intstr --------------------------------------------
    ty(
        OBJECT_META,
        "Metadata that all persisted resources must have.",
        &[
            field("name", Ty::String, "Unique within a namespace; required when creating unless generateName is set."),
            field("generateName", Ty::String, "Prefix from which the server generates a unique name when name is empty."),
            field("namespace", Ty::String, "The namespace the object lives in; empty for cluster-scoped objects."),
            field("uid", Ty::String, "Unique in time and space; set by the server."),
            field("resourceVersion", Ty::String, "Opaque version of the object, used for optimistic concurrency and watches."),
            field("generation", Ty::Int64, "Sequence number of a specific generation of the desired state."),
            field("creationTimestamp", Ty::Object(TIME), "When the object was created; set by the server."),
            field("deletionTimestamp", Ty::Object(TIME), "When the object will be deleted; set by the server when graceful deletion is requested."),
            field("deletionGracePeriodSeconds", Ty::Int64, "Seconds allowed for graceful termination before the object is removed."),
            field("labels", STRING_MAP, "Identifying key/value pairs that selectors match on."),
            field("annotations", STRING_MAP, "Non-identifying key/value pairs for tools and libraries."),
            field("ownerReferences", Ty::Array(&Ty::Object("io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference")), "Objects this object depends on; when all owners are gone it is garbage collected.")
                .merge_by("uid", &["uid"]),
            field("finalizers", STRINGS, "Conditions that must be cleared before the object is removed from storage.")
                .merge_set(),
        ],
    ),
    ty(
        "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
        "Identifies an owning object, which must be in the same namespace as the dependent or cluster-scoped.",
        &[
            field("apiVersion", Ty::String, "API version of the referent.").required(),
            field("kind", Ty::String, "Kind of the referent.").required(),
            field("name", Ty::String, "Name of the referent.").required(),
            field("uid", Ty::String, "UID of the referent.").required(),
            field("controller", Ty::Bool, "If true, this reference points to the managing controller."),
            field("blockOwnerDeletion", Ty::Bool, "If true, the owner cannot be deleted from storage before this reference is removed (foreground deletion)."),
        ],
    ),
    ty(
        LIST_META,
        "Metadata that synthetic resources such as lists have.",
        &[
            field("resourceVersion", Ty::String, "The version of the list; a watch can start from it."),
            field("continue", Ty::String, "Set when more results are available; pass it back to fetch the next page."),
            field("remainingItemCount", Ty::Int64, "The number of items after this page, when known."),
        ],
    ),
    ty(
        LABEL_SELECTOR,
        "A label query over a set of resources; matchLabels and matchExpressions are ANDed. An empty selector matches all objects.",
        &[
            field("matchLabels", STRING_MAP, "Labels that must be present with exactly these values."),
            field("matchExpressions", Ty::Array(&Ty::Object("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement")), "A list of label selector requirements.")
                .atomic(),
        ],
    ),
    ty(
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement",
        "A selector that relates a key to a set of values.",
        &[
            field("key", Ty::String, "The label key the selector applies to.").required(),
            field("operator", Ty::Enum(LabelSelectorOperator::NAMES), "How the key relates to the values: In, NotIn, Exists or DoesNotExist.").required(),
            field("values", STRINGS, "The values; non-empty for In and NotIn, empty for Exists and DoesNotExist.").atomic(),
        ],
    ),
    TypeDef {
        name: TIME,
        description: "A time with second precision, written in RFC 3339 form (UTC).",
        shape: Shape::FormattedString("date-time"),
        gvk: None,
    },
    TypeDef {
        name: MICRO_TIME,
        description: "A time with microsecond precision, written in RFC 3339 form (UTC).",
        shape: Shape::FormattedString("date-time"),
        gvk: None,
    },
    TypeDef {
        name: QUANTITY,
        description: "A fixed-point number with an optional SI or binary suffix, e.g. `500m` or `128Mi`.",
        shape: Shape::Quantity,
        gvk: None,
    },
    TypeDef {
        name: INT_OR_STRING,
        description: "A value that is either an integer or a string, e.g. a port number or name, or a percentage.",
        shape: Shape::IntOrString,
        gvk: None,
    },
    TypeDef {
        name: "io.k8s.apimachinery.pkg.runtime.RawExtension",
        description: "An embedded object of any kind.",
        shape: Shape::AnyObject,
        gvk: None,
    },
    TypeDef {
        name: PATCH,
        description: "The body of a PATCH request: a JSON patch, a JSON merge patch or a strategic merge patch.",
        shape: Shape::AnyObject,
        gvk: None,
    },
    ty(
        STATUS,
        "The result of an operation that returns no object, and the body of every error.",
        &[
            API_VERSION,
            KIND,
            field("metadata", Ty::Object(LIST_META), "Standard list metadata."),
            field("status", Ty::String, "Success or Failure."),
            field("message", Ty::String, "A human-readable description of the status."),
            field("reason", Ty::String, "A machine-readable reason, e.g. NotFound or Conflict."),
            field("details", Ty::Object("io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails"), "Extended data about the reason."),
            field("code", Ty::Int32, "The HTTP status code."),
        ],
    ),
    ty(
        "io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails",
        "Which object a Status is about, and field-level causes.",
        &[
            field("name", Ty::String, "The name of the object."),
            field("group", Ty::String, "The API group of the object."),
            field("kind", Ty::String, "The kind or resource of the object."),
            field("uid", Ty::String, "The UID of the object."),
            field("causes", Ty::Array(&Ty::Object("io.k8s.apimachinery.pkg.apis.meta.v1.StatusCause")), "Field-level causes of the error.").atomic(),
            field("retryAfterSeconds", Ty::Int32, "When the client may retry the operation."),
        ],
    ),
    ty(
        "io.k8s.apimachinery.pkg.apis.meta.v1.StatusCause",
        "One cause of an error.",
        &[
            field("reason", Ty::String, "A machine-readable description of the cause."),
            field("message", Ty::String, "A human-readable description of the cause."),
            field("field", Ty::String, "The field at fault, e.g. `spec.containers[0].image`."),
        ],
    ),
    ty(
        DELETE_OPTIONS,
        "Options of a DELETE request.",
        &[
            API_VERSION,
            KIND,
            field("gracePeriodSeconds", Ty::Int64, "Seconds before the object is deleted; zero means immediately."),
            field("preconditions", Ty::Object("io.k8s.apimachinery.pkg.apis.meta.v1.Preconditions"), "Must be fulfilled before the deletion is carried out."),
            field("orphanDependents", Ty::Bool, "Deprecated: use propagationPolicy."),
            field("propagationPolicy", Ty::String, "Orphan, Background or Foreground."),
            field("dryRun", STRINGS, "When present, modifications are not persisted.").atomic(),
        ],
    ),
    ty(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Preconditions",
        "Preconditions of an operation.",
        &[
            field("uid", Ty::String, "The target UID."),
            field("resourceVersion", Ty::String, "The target resourceVersion."),
        ],
    ),
    ty(
        WATCH_EVENT,
        "One change delivered by a watch.",
        &[
            field("type", Ty::String, "ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.").required(),
            field("object", Ty::Object("io.k8s.apimachinery.pkg.runtime.RawExtension"), "The object (or, for ERROR, a Status).").required(),
        ],
    ),
    // ---- autoscaling/v1 ----------------------------------------------------------------
    kind(
        "io.k8s.api.autoscaling.v1.Scale",
        "A scaling request for a resource: the `scale` subresource.",
        "autoscaling",
        "Scale",
        &[
            API_VERSION,
            KIND,
            METADATA,
            field("spec", Ty::Object("io.k8s.api.autoscaling.v1.ScaleSpec"), "The desired scale."),
            field("status", Ty::Object("io.k8s.api.autoscaling.v1.ScaleStatus"), "The observed scale; read-only."),
        ],
    ),
    ty(
        "io.k8s.api.autoscaling.v1.ScaleSpec",
        "The desired scale.",
        &[field("replicas", Ty::Int32, "The desired number of instances.")],
    ),
    ty(
        "io.k8s.api.autoscaling.v1.ScaleStatus",
        "The observed scale.",
        &[
            field("replicas", Ty::Int32, "The observed number of instances.").required(),
            field("selector", Ty::String, "The label selector of the pods, in query-parameter form."),
        ],
    ),
    // ---- core/v1: references -----------------------------------------------------------
    ty(
        OBJECT_REFERENCE,
        "A reference to an object, possibly to a field of it.",
        &[
            field("kind", Ty::String, "Kind of the referent."),
            field("namespace", Ty::String, "Namespace of the referent."),
            field("name", Ty::String, "Name of the referent."),
            field("uid", Ty::String, "UID of the referent."),
            field("apiVersion", Ty::String, "API version of the referent."),
            field("resourceVersion", Ty::String, "The referent's resourceVersion when the reference was made."),
            field("fieldPath", Ty::String, "A field within the referent, e.g. `spec.containers{web}`."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.LocalObjectReference",
        "A reference by name to an object in the same namespace.",
        &[field("name", Ty::String, "Name of the referent.")],
    ),
    kind(
        "io.k8s.api.core.v1.Binding",
        "Binds a pod to a node: the body of the `pods/binding` subresource.",
        "",
        "Binding",
        &[
            API_VERSION,
            KIND,
            METADATA,
            field("target", Ty::Object(OBJECT_REFERENCE), "The node to bind to.").required(),
        ],
    ),
    // ---- core/v1: Pod ------------------------------------------------------------------
    kind(
        "io.k8s.api.core.v1.Pod",
        "A collection of containers that run together on one node.",
        "",
        "Pod",
        &[
            API_VERSION,
            KIND,
            METADATA,
            field("spec", Ty::Object("io.k8s.api.core.v1.PodSpec"), "The desired behaviour of the pod."),
            field("status", Ty::Object("io.k8s.api.core.v1.PodStatus"), "The most recently observed status of the pod; read-only."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.PodSpec",
        "The desired behaviour of a pod.",
        &[
            field("volumes", Ty::Array(&Ty::Object("io.k8s.api.core.v1.Volume")), "Volumes that containers of the pod can mount.")
                .merge_by("name", &["name"])
                .retain_keys(),
            field("initContainers", Ty::Array(&Ty::Object("io.k8s.api.core.v1.Container")), "Containers run to completion, in order, before the app containers start.")
                .merge_by("name", &["name"]),
            field("containers", Ty::Array(&Ty::Object("io.k8s.api.core.v1.Container")), "The containers of the pod; at least one.")
                .merge_by("name", &["name"])
                .required(),
            field("restartPolicy", Ty::Enum(RestartPolicy::NAMES), "Restart policy of all containers: Always (default), OnFailure or Never."),
            field("terminationGracePeriodSeconds", Ty::Int64, "Seconds between the termination signal and the kill (default 30)."),
            field("activeDeadlineSeconds", Ty::Int64, "Seconds the pod may be active before it is failed."),
            field("dnsPolicy", Ty::Enum(DnsPolicy::NAMES), "How the pod's DNS is set up (default ClusterFirst)."),
            field("nodeSelector", STRING_MAP, "Labels a node must have for the pod to be scheduled onto it."),
            field("serviceAccountName", Ty::String, "The service account the pod runs as."),
            field("automountServiceAccountToken", Ty::Bool, "Whether a service account token is mounted automatically."),
            field("nodeName", Ty::String, "The node the pod is bound to; set by the scheduler."),
            field("hostNetwork", Ty::Bool, "Use the node's network namespace."),
            field("hostname", Ty::String, "The pod's hostname (defaults to its name)."),
            field("subdomain", Ty::String, "Subdomain, giving the pod a fully qualified DNS name."),
            field("affinity", Ty::Object("io.k8s.api.core.v1.Affinity"), "Scheduling constraints."),
            field("schedulerName", Ty::String, "The scheduler that places the pod."),
            field("tolerations", Ty::Array(&Ty::Object("io.k8s.api.core.v1.Toleration")), "Taints the pod tolerates.")
                .atomic(),
            field("priorityClassName", Ty::String, "The pod's priority class."),
            field("priority", Ty::Int32, "The pod's priority, resolved from its priority class."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.Container",
        "A single application container of a pod.",
        &[
            field("name", Ty::String, "Name of the container, unique within the pod (DNS label).").required(),
            field("image", Ty::String, "Container image name."),
            field("command", STRINGS, "Entrypoint array; not run in a shell. Replaces the image's ENTRYPOINT.").atomic(),
            field("args", STRINGS, "Arguments to the entrypoint. Replaces the image's CMD.").atomic(),
            field("workingDir", Ty::String, "The container's working directory."),
            field("ports", Ty::Array(&Ty::Object("io.k8s.api.core.v1.ContainerPort")), "Ports the container exposes.")
                .merge_by("containerPort", &["containerPort", "protocol"]),
            field("env", Ty::Array(&Ty::Object("io.k8s.api.core.v1.EnvVar")), "Environment variables to set in the container.")
                .merge_by("name", &["name"]),
            field("resources", Ty::Object("io.k8s.api.core.v1.ResourceRequirements"), "Compute resources the container needs."),
            field("volumeMounts", Ty::Array(&Ty::Object("io.k8s.api.core.v1.VolumeMount")), "Pod volumes to mount into the container's file system.")
                .merge_by("mountPath", &["mountPath"]),
            field("livenessProbe", Ty::Object("io.k8s.api.core.v1.Probe"), "Restarts the container when it fails."),
            field("readinessProbe", Ty::Object("io.k8s.api.core.v1.Probe"), "Removes the pod from service endpoints while it fails."),
            field("startupProbe", Ty::Object("io.k8s.api.core.v1.Probe"), "Holds off the other probes until it succeeds."),
            field("terminationMessagePath", Ty::String, "Where the container writes its termination message (default /dev/termination-log)."),
            field("terminationMessagePolicy", Ty::Enum(TerminationMessagePolicy::NAMES), "Where the termination message comes from: File or FallbackToLogsOnError."),
            field("imagePullPolicy", Ty::Enum(PullPolicy::NAMES), "Always, Never or IfNotPresent."),
            field("stdin", Ty::Bool, "Keep stdin open."),
            field("tty", Ty::Bool, "Allocate a TTY."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.ContainerPort",
        "A network port of a container.",
        &[
            field("name", Ty::String, "A name services can refer to (IANA_SVC_NAME)."),
            field("hostPort", Ty::Int32, "The port on the node forwarded to this one."),
            field("containerPort", Ty::Int32, "The port inside the pod's network namespace.").required(),
            field("protocol", PROTOCOL, "TCP (default), UDP or SCTP."),
            field("hostIP", Ty::String, "The node address hostPort binds to."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.EnvVar",
        "An environment variable of a container.",
        &[
            field("name", Ty::String, "Name of the variable.").required(),
            field("value", Ty::String, "A literal value; `$(VAR)` references are expanded."),
            field("valueFrom", Ty::Object("io.k8s.api.core.v1.EnvVarSource"), "Where the value comes from, instead of value."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.EnvVarSource",
        "A source for an environment variable's value.",
        &[field("fieldRef", Ty::Object("io.k8s.api.core.v1.ObjectFieldSelector"), "A field of the pod, e.g. `metadata.name` or `status.podIP`.")],
    ),
    ty(
        "io.k8s.api.core.v1.ObjectFieldSelector",
        "Selects a field of an object.",
        &[
            field("apiVersion", Ty::String, "Version of the schema the path is written in (default v1)."),
            field("fieldPath", Ty::String, "Path of the field to select.").required(),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.ResourceRequirements",
        "Compute resource requirements.",
        &[
            field("limits", QUANTITY_MAP, "The most compute resources the container may use."),
            field("requests", QUANTITY_MAP, "The compute resources the scheduler reserves for the container."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.VolumeMount",
        "Mounts a volume into a container.",
        &[
            field("name", Ty::String, "The name of the volume.").required(),
            field("readOnly", Ty::Bool, "Mount read-only."),
            field("mountPath", Ty::String, "Path inside the container where the volume is mounted.").required(),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.Probe",
        "A health check against a container; exactly one of exec, httpGet and tcpSocket.",
        &[
            field("exec", Ty::Object("io.k8s.api.core.v1.ExecAction"), "Run a command in the container."),
            field("httpGet", Ty::Object("io.k8s.api.core.v1.HTTPGetAction"), "Send an HTTP GET request."),
            field("tcpSocket", Ty::Object("io.k8s.api.core.v1.TCPSocketAction"), "Open a TCP connection."),
            field("initialDelaySeconds", Ty::Int32, "Seconds after the container has started before probes start."),
            field("timeoutSeconds", Ty::Int32, "Seconds after which a probe times out (default 1)."),
            field("periodSeconds", Ty::Int32, "How often to probe, in seconds (default 10)."),
            field("successThreshold", Ty::Int32, "Consecutive successes to count as healthy again (default 1)."),
            field("failureThreshold", Ty::Int32, "Consecutive failures to count as unhealthy (default 3)."),
            field("terminationGracePeriodSeconds", Ty::Int64, "Overrides the pod's grace period when this probe kills the container."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.ExecAction",
        "A command run in a container.",
        &[field("command", STRINGS, "The command line; not run in a shell. Exit status 0 is healthy.").atomic()],
    ),
    ty(
        "io.k8s.api.core.v1.HTTPGetAction",
        "An HTTP GET request.",
        &[
            field("path", Ty::String, "Path to access on the HTTP server."),
            field("port", Ty::Object(INT_OR_STRING), "Port number or name to access on the container.").required(),
            field("host", Ty::String, "Host name to connect to (defaults to the pod IP)."),
            field("scheme", Ty::Enum(UriScheme::NAMES), "HTTP (default) or HTTPS."),
            field("httpHeaders", Ty::Array(&Ty::Object("io.k8s.api.core.v1.HTTPHeader")), "Custom request headers.").atomic(),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.HTTPHeader",
        "A custom HTTP header.",
        &[
            field("name", Ty::String, "The header field name.").required(),
            field("value", Ty::String, "The header field value.").required(),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.TCPSocketAction",
        "A TCP connection attempt.",
        &[
            field("port", Ty::Object(INT_OR_STRING), "Port number or name to connect to.").required(),
            field("host", Ty::String, "Host name to connect to (defaults to the pod IP)."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.Volume",
        "A named volume of a pod; exactly one source must be set.",
        &[
            field("name", Ty::String, "Name of the volume, unique within the pod.").required(),
            field("hostPath", Ty::Object("io.k8s.api.core.v1.HostPathVolumeSource"), "A directory on the node."),
            field("emptyDir", Ty::Object("io.k8s.api.core.v1.EmptyDirVolumeSource"), "A temporary directory that lives as long as the pod."),
            field("secret", Ty::Object("io.k8s.api.core.v1.SecretVolumeSource"), "The keys of a Secret, as files."),
            field("configMap", Ty::Object("io.k8s.api.core.v1.ConfigMapVolumeSource"), "The keys of a ConfigMap, as files."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.HostPathVolumeSource",
        "A directory on the node's file system.",
        &[
            field("path", Ty::String, "Path of the directory on the node.").required(),
            field("type", Ty::String, "What must exist at the path: Directory, DirectoryOrCreate, File, ... or empty."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.EmptyDirVolumeSource",
        "An empty directory for a pod.",
        &[
            field("medium", Ty::String, "Empty for the node's default medium, or Memory."),
            field("sizeLimit", Ty::Object(QUANTITY), "The most local storage the volume may use."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.KeyToPath",
        "Maps a key to a relative file path in a volume.",
        &[
            field("key", Ty::String, "The key to project.").required(),
            field("path", Ty::String, "The relative path of the file.").required(),
            field("mode", Ty::Int32, "Mode bits of the file."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.SecretVolumeSource",
        "A Secret's keys as files.",
        &[
            field("secretName", Ty::String, "Name of the secret in the pod's namespace."),
            field("items", Ty::Array(&Ty::Object("io.k8s.api.core.v1.KeyToPath")), "Which keys, under which paths (all keys when empty).").atomic(),
            field("defaultMode", Ty::Int32, "Mode bits of the files (default 0644)."),
            field("optional", Ty::Bool, "Whether the secret may be missing."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.ConfigMapVolumeSource",
        "A ConfigMap's keys as files.",
        &[
            field("name", Ty::String, "Name of the config map."),
            field("items", Ty::Array(&Ty::Object("io.k8s.api.core.v1.KeyToPath")), "Which keys, under which paths (all keys when empty).").atomic(),
            field("defaultMode", Ty::Int32, "Mode bits of the files (default 0644)."),
            field("optional", Ty::Bool, "Whether the config map may be missing."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.Toleration",
        "Lets a pod schedule onto nodes with a matching taint.",
        &[
            field("key", Ty::String, "The taint key; empty with operator Exists matches all taints."),
            field("operator", Ty::Enum(TolerationOperator::NAMES), "Exists or Equal (default)."),
            field("value", Ty::String, "The taint value the toleration matches with Equal."),
            field("effect", Ty::Enum(TaintEffect::NAMES), "The taint effect to match; empty matches all effects."),
            field("tolerationSeconds", Ty::Int64, "For NoExecute: how long the pod stays bound once the taint appears."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.Affinity",
        "Scheduling constraints of a pod.",
        &[field("nodeAffinity", Ty::Object("io.k8s.api.core.v1.NodeAffinity"), "Node affinity scheduling rules.")],
    ),
    ty(
        "io.k8s.api.core.v1.NodeAffinity",
        "Node affinity scheduling rules.",
        &[
            field("requiredDuringSchedulingIgnoredDuringExecution", Ty::Object("io.k8s.api.core.v1.NodeSelector"), "The node must match for the pod to be scheduled onto it."),
            field("preferredDuringSchedulingIgnoredDuringExecution", Ty::Array(&Ty::Object("io.k8s.api.core.v1.PreferredSchedulingTerm")), "Nodes matching these terms are preferred, by weight.").atomic(),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.NodeSelector",
        "A union of node selector terms.",
        &[field("nodeSelectorTerms", Ty::Array(&Ty::Object("io.k8s.api.core.v1.NodeSelectorTerm")), "The terms (ORed).").required().atomic()],
    ),
    ty(
        "io.k8s.api.core.v1.NodeSelectorTerm",
        "Requirements on a node's labels and fields (ANDed).",
        &[
            field("matchExpressions", Ty::Array(&Ty::Object("io.k8s.api.core.v1.NodeSelectorRequirement")), "Requirements on node labels.").atomic(),
            field("matchFields", Ty::Array(&Ty::Object("io.k8s.api.core.v1.NodeSelectorRequirement")), "Requirements on node fields.").atomic(),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.NodeSelectorRequirement",
        "A selector relating a key to a set of values.",
        &[
            field("key", Ty::String, "The label key or field path.").required(),
            field("operator", Ty::Enum(NodeSelectorOperator::NAMES), "In, NotIn, Exists, DoesNotExist, Gt or Lt.").required(),
            field("values", STRINGS, "The values compared against.").atomic(),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.PreferredSchedulingTerm",
        "A weighted node selector term.",
        &[
            field("weight", Ty::Int32, "Weight, 1-100.").required(),
            field("preference", Ty::Object("io.k8s.api.core.v1.NodeSelectorTerm"), "The term a node should match.").required(),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.PodStatus",
        "The observed state of a pod.",
        &[
            field("phase", Ty::Enum(PodPhase::NAMES), "Pending, Running, Succeeded, Failed or Unknown."),
            conditions(&Ty::Object("io.k8s.api.core.v1.PodCondition")),
            field("message", Ty::String, "Why the pod is in this condition, for humans."),
            field("reason", Ty::String, "Why the pod is in this state, in one word, e.g. Evicted."),
            field("hostIP", Ty::String, "The primary IP of the pod's node."),
            field("hostIPs", Ty::Array(&Ty::Object("io.k8s.api.core.v1.HostIP")), "The IPs of the pod's node.")
                .merge_by("ip", &[])
                .atomic(),
            field("podIP", Ty::String, "The pod's primary IP."),
            field("podIPs", Ty::Array(&Ty::Object("io.k8s.api.core.v1.PodIP")), "The pod's IPs, one per family.")
                .merge_by("ip", &["ip"]),
            field("startTime", Ty::Object(TIME), "When the kubelet accepted the pod."),
            field("initContainerStatuses", Ty::Array(&Ty::Object("io.k8s.api.core.v1.ContainerStatus")), "One per init container.").atomic(),
            field("containerStatuses", Ty::Array(&Ty::Object("io.k8s.api.core.v1.ContainerStatus")), "One per app container.").atomic(),
            field("qosClass", Ty::Enum(PodQosClass::NAMES), "Guaranteed, Burstable or BestEffort."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.HostIP",
        "An IP of the pod's node.",
        &[field("ip", Ty::String, "The IP address.").required()],
    ),
    ty(
        "io.k8s.api.core.v1.PodIP",
        "An IP of the pod.",
        &[field("ip", Ty::String, "The IP address.").required()],
    ),
    ty(
        "io.k8s.api.core.v1.PodCondition",
        "A condition of a pod.",
        &[
            TYPE_FIELD,
            STATUS_FIELD,
            field("lastProbeTime", Ty::Object(TIME), "Last time the condition was probed."),
            LAST_TRANSITION,
            REASON,
            MESSAGE,
        ],
    ),
    ty(
        "io.k8s.api.core.v1.ContainerStatus",
        "The observed state of one container.",
        &[
            field("name", Ty::String, "The container's name in the spec.").required(),
            field("state", Ty::Object("io.k8s.api.core.v1.ContainerState"), "What the container is doing now."),
            field("lastState", Ty::Object("io.k8s.api.core.v1.ContainerState"), "How its previous run ended."),
            field("ready", Ty::Bool, "Whether its readiness probe passes.").required(),
            field("restartCount", Ty::Int32, "How often it has been restarted.").required(),
            field("image", Ty::String, "The image it runs.").required(),
            field("imageID", Ty::String, "The resolved image id.").required(),
            field("containerID", Ty::String, "`<runtime>://<id>`."),
            field("started", Ty::Bool, "Whether its startup probe has passed."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.ContainerState",
        "The state of a container: one of waiting, running and terminated.",
        &[
            field("waiting", Ty::Object("io.k8s.api.core.v1.ContainerStateWaiting"), "The container is not running yet."),
            field("running", Ty::Object("io.k8s.api.core.v1.ContainerStateRunning"), "The container is running."),
            field("terminated", Ty::Object("io.k8s.api.core.v1.ContainerStateTerminated"), "The container has finished."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.ContainerStateWaiting",
        "A container that is not running yet.",
        &[
            field("reason", Ty::String, "Why, in one word, e.g. ContainerCreating or ImagePullBackOff."),
            field("message", Ty::String, "Why, for humans."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.ContainerStateRunning",
        "A running container.",
        &[field("startedAt", Ty::Object(TIME), "When the container was last (re)started.")],
    ),
    ty(
        "io.k8s.api.core.v1.ContainerStateTerminated",
        "A container that has finished.",
        &[
            field("exitCode", Ty::Int32, "Exit status of the last termination.").required(),
            field("signal", Ty::Int32, "Signal of the last termination."),
            field("reason", Ty::String, "Why, in one word, e.g. Completed or OOMKilled."),
            field("message", Ty::String, "Why, for humans."),
            field("startedAt", Ty::Object(TIME), "When the container started."),
            field("finishedAt", Ty::Object(TIME), "When the container finished."),
            field("containerID", Ty::String, "`<runtime>://<id>`."),
        ],
    ),
    ty(
        POD_TEMPLATE_SPEC,
        "The pods a controller creates: metadata and spec.",
        &[
            METADATA,
            field("spec", Ty::Object("io.k8s.api.core.v1.PodSpec"), "The pods' desired behaviour."),
        ],
    ),
    // ---- core/v1: Node -----------------------------------------------------------------
    kind(
        "io.k8s.api.core.v1.Node",
        "A worker machine that runs pods.",
        "",
        "Node",
        &[
            API_VERSION,
            KIND,
            METADATA,
            field("spec", Ty::Object("io.k8s.api.core.v1.NodeSpec"), "How the node may be used."),
            field("status", Ty::Object("io.k8s.api.core.v1.NodeStatus"), "The most recently observed status of the node; read-only."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.NodeSpec",
        "How a node may be used.",
        &[
            field("podCIDR", Ty::String, "The pod IP range assigned to the node."),
            field("podCIDRs", STRINGS, "The pod IP ranges, one per family; the first equals podCIDR.").merge_set(),
            field("providerID", Ty::String, "The node's id at its provider."),
            field("unschedulable", Ty::Bool, "Cordoned: no new pods are scheduled onto the node."),
            field("taints", Ty::Array(&Ty::Object("io.k8s.api.core.v1.Taint")), "Taints repelling pods that do not tolerate them.").atomic(),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.Taint",
        "A mark on a node that repels pods without a matching toleration.",
        &[
            field("key", Ty::String, "The taint key.").required(),
            field("value", Ty::String, "The taint value."),
            field("effect", Ty::Enum(TaintEffect::NAMES), "NoSchedule, PreferNoSchedule or NoExecute.").required(),
            field("timeAdded", Ty::Object(TIME), "When the taint was added (NoExecute only)."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.NodeStatus",
        "The observed state of a node.",
        &[
            field("capacity", QUANTITY_MAP, "Total resources of the node."),
            field("allocatable", QUANTITY_MAP, "Resources available for scheduling."),
            conditions(&Ty::Object("io.k8s.api.core.v1.NodeCondition")),
            field("addresses", Ty::Array(&Ty::Object("io.k8s.api.core.v1.NodeAddress")), "Addresses reachable to the node.")
                .merge_by("type", &["type"]),
            field("daemonEndpoints", Ty::Object("io.k8s.api.core.v1.NodeDaemonEndpoints"), "Ports of the daemons running on the node."),
            field("nodeInfo", Ty::Object("io.k8s.api.core.v1.NodeSystemInfo"), "Ids and versions of the node's software."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.NodeCondition",
        "A condition of a node.",
        &[
            TYPE_FIELD,
            STATUS_FIELD,
            field("lastHeartbeatTime", Ty::Object(TIME), "Last time the kubelet reported the condition."),
            LAST_TRANSITION,
            REASON,
            MESSAGE,
        ],
    ),
    ty(
        "io.k8s.api.core.v1.NodeAddress",
        "An address of a node.",
        &[
            field("type", Ty::Enum(NodeAddressType::NAMES), "Hostname, InternalIP, ExternalIP, InternalDNS or ExternalDNS.").required(),
            field("address", Ty::String, "The address.").required(),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.NodeDaemonEndpoints",
        "Ports of the daemons running on a node.",
        &[field("kubeletEndpoint", Ty::Object("io.k8s.api.core.v1.DaemonEndpoint"), "The port the kubelet listens on.")],
    ),
    ty(
        "io.k8s.api.core.v1.DaemonEndpoint",
        "A daemon's port.",
        &[field("Port", Ty::Int32, "Port number of the endpoint.").required()],
    ),
    ty(
        "io.k8s.api.core.v1.NodeSystemInfo",
        "Ids and versions of a node's software and hardware.",
        &[
            field("machineID", Ty::String, "The machine id (/etc/machine-id).").required(),
            field("systemUUID", Ty::String, "The hardware UUID.").required(),
            field("bootID", Ty::String, "Changes on every boot.").required(),
            field("kernelVersion", Ty::String, "`uname -r`.").required(),
            field("osImage", Ty::String, "The OS image, e.g. Debian GNU/Linux 12 (bookworm).").required(),
            field("containerRuntimeVersion", Ty::String, "`<runtime>://<version>`.").required(),
            field("kubeletVersion", Ty::String, "The kubelet's version.").required(),
            field("kubeProxyVersion", Ty::String, "The proxy's version.").required(),
            field("operatingSystem", Ty::String, "The operating system, e.g. linux.").required(),
            field("architecture", Ty::String, "The architecture, e.g. amd64.").required(),
        ],
    ),
    // ---- core/v1: Namespace ------------------------------------------------------------
    kind(
        "io.k8s.api.core.v1.Namespace",
        "A scope for names.",
        "",
        "Namespace",
        &[
            API_VERSION,
            KIND,
            METADATA,
            field("spec", Ty::Object("io.k8s.api.core.v1.NamespaceSpec"), "The namespace's finalizers."),
            field("status", Ty::Object("io.k8s.api.core.v1.NamespaceStatus"), "The namespace's phase; read-only."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.NamespaceSpec",
        "The desired state of a namespace.",
        &[field("finalizers", STRINGS, "Must be empty before the namespace is removed from storage.").atomic()],
    ),
    ty(
        "io.k8s.api.core.v1.NamespaceStatus",
        "The observed state of a namespace.",
        &[
            field("phase", Ty::Enum(NamespacePhase::NAMES), "Active or Terminating."),
            conditions(&Ty::Object("io.k8s.api.core.v1.NamespaceCondition")),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.NamespaceCondition",
        "A condition of a namespace.",
        CONDITION,
    ),
    // ---- core/v1: Service, Endpoints ---------------------------------------------------
    kind(
        "io.k8s.api.core.v1.Service",
        "A named abstraction of a software service: a port the proxy listens on and the pods behind it.",
        "",
        "Service",
        &[
            API_VERSION,
            KIND,
            METADATA,
            field("spec", Ty::Object("io.k8s.api.core.v1.ServiceSpec"), "The desired behaviour of the service."),
            field("status", Ty::Object("io.k8s.api.core.v1.ServiceStatus"), "The most recently observed status of the service; read-only."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.ServiceSpec",
        "The desired behaviour of a service.",
        &[
            field("ports", Ty::Array(&Ty::Object("io.k8s.api.core.v1.ServicePort")), "The ports the service exposes.")
                .merge_by("port", &["port", "protocol"]),
            field("selector", STRING_MAP, "Traffic goes to the pods whose labels match; none means endpoints are managed by hand."),
            field("clusterIP", Ty::String, "The virtual IP of the service; allocated when empty, `None` for a headless service."),
            field("clusterIPs", STRINGS, "The virtual IPs, one per family; the first equals clusterIP.").atomic(),
            field("type", Ty::Enum(ServiceType::NAMES), "ClusterIP (default), NodePort, LoadBalancer or ExternalName."),
            field("externalIPs", STRINGS, "Further IPs on which nodes accept traffic for the service.").atomic(),
            field("sessionAffinity", Ty::Enum(SessionAffinity::NAMES), "None (default) or ClientIP."),
            field("externalName", Ty::String, "The DNS name an ExternalName service aliases."),
            field("externalTrafficPolicy", Ty::Enum(TrafficPolicy::NAMES), "Cluster or Local: which endpoints serve traffic from outside."),
            field("publishNotReadyAddresses", Ty::Bool, "Publish the addresses of pods that are not ready."),
            field("sessionAffinityConfig", Ty::Object("io.k8s.api.core.v1.SessionAffinityConfig"), "Settings of session affinity."),
            field("ipFamilies", Ty::Array(&Ty::Enum(IpFamily::NAMES)), "IPv4 and/or IPv6, in order.").atomic(),
            field("ipFamilyPolicy", Ty::Enum(IpFamilyPolicy::NAMES), "SingleStack, PreferDualStack or RequireDualStack."),
            field("internalTrafficPolicy", Ty::Enum(TrafficPolicy::NAMES), "Cluster or Local: which endpoints serve traffic from inside."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.ServicePort",
        "A port of a service.",
        &[
            field("name", Ty::String, "Name of the port; required when there is more than one."),
            field("protocol", PROTOCOL, "TCP (default), UDP or SCTP."),
            field("appProtocol", Ty::String, "The application protocol, e.g. http."),
            field("port", Ty::Int32, "The port the service exposes.").required(),
            field("targetPort", Ty::Object(INT_OR_STRING), "Number or name of the pods' port (defaults to port)."),
            field("nodePort", Ty::Int32, "The port on every node, for NodePort and LoadBalancer services."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.SessionAffinityConfig",
        "Settings of session affinity.",
        &[field("clientIP", Ty::Object("io.k8s.api.core.v1.ClientIPConfig"), "Settings of ClientIP affinity.")],
    ),
    ty(
        "io.k8s.api.core.v1.ClientIPConfig",
        "Settings of ClientIP affinity.",
        &[field("timeoutSeconds", Ty::Int32, "How long a client sticks, in seconds (default 10800).")],
    ),
    ty(
        "io.k8s.api.core.v1.ServiceStatus",
        "The observed state of a service.",
        &[field("loadBalancer", Ty::Object("io.k8s.api.core.v1.LoadBalancerStatus"), "The load balancer, if any.")],
    ),
    ty(
        "io.k8s.api.core.v1.LoadBalancerStatus",
        "The state of a load balancer.",
        &[field("ingress", Ty::Array(&Ty::Object("io.k8s.api.core.v1.LoadBalancerIngress")), "Where traffic enters the load balancer.").atomic()],
    ),
    ty(
        "io.k8s.api.core.v1.LoadBalancerIngress",
        "An entry point of a load balancer.",
        &[
            field("ip", Ty::String, "An IP address."),
            field("hostname", Ty::String, "A host name."),
        ],
    ),
    kind(
        "io.k8s.api.core.v1.Endpoints",
        "The addresses behind a service.",
        "",
        "Endpoints",
        &[
            API_VERSION,
            KIND,
            METADATA,
            field("subsets", Ty::Array(&Ty::Object("io.k8s.api.core.v1.EndpointSubset")), "Groups of addresses sharing the same ports.").atomic(),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.EndpointSubset",
        "Addresses that share a set of ports.",
        &[
            field("addresses", Ty::Array(&Ty::Object("io.k8s.api.core.v1.EndpointAddress")), "Ready addresses.").atomic(),
            field("notReadyAddresses", Ty::Array(&Ty::Object("io.k8s.api.core.v1.EndpointAddress")), "Addresses that are not ready yet.").atomic(),
            field("ports", Ty::Array(&Ty::Object("io.k8s.api.core.v1.EndpointPort")), "The ports.").atomic(),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.EndpointAddress",
        "One backend address.",
        &[
            field("ip", Ty::String, "The IP of the endpoint.").required(),
            field("hostname", Ty::String, "The hostname of the endpoint."),
            field("nodeName", Ty::String, "The node hosting the endpoint."),
            field("targetRef", Ty::Object(OBJECT_REFERENCE), "The object providing the endpoint, normally a pod."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.EndpointPort",
        "A port of the endpoints.",
        &[
            field("name", Ty::String, "Matches the service port's name."),
            field("port", Ty::Int32, "The port number.").required(),
            field("protocol", PROTOCOL, "TCP (default), UDP or SCTP."),
            field("appProtocol", Ty::String, "The application protocol."),
        ],
    ),
    // ---- core/v1: ServiceAccount, Event, ReplicationController -------------------------
    kind(
        "io.k8s.api.core.v1.ServiceAccount",
        "An identity for processes running in pods.",
        "",
        "ServiceAccount",
        &[
            API_VERSION,
            KIND,
            METADATA,
            field("secrets", Ty::Array(&Ty::Object(OBJECT_REFERENCE)), "Secrets pods running as this account may use.")
                .merge_by("name", &["name"]),
            field("imagePullSecrets", Ty::Array(&Ty::Object("io.k8s.api.core.v1.LocalObjectReference")), "Secrets used to pull images for pods running as this account.").atomic(),
            field("automountServiceAccountToken", Ty::Bool, "Whether pods get the account's token mounted by default."),
        ],
    ),
    kind(
        "io.k8s.api.core.v1.Event",
        "A report of an event somewhere in the cluster.",
        "",
        "Event",
        &[
            API_VERSION,
            KIND,
            METADATA.required(),
            field("involvedObject", Ty::Object(OBJECT_REFERENCE), "The object the event is about.").required(),
            field("reason", Ty::String, "Why, in one word, e.g. Scheduled or BackOff."),
            field("message", Ty::String, "What happened, for humans."),
            field("source", Ty::Object("io.k8s.api.core.v1.EventSource"), "The component reporting the event."),
            field("firstTimestamp", Ty::Object(TIME), "When the event was first recorded."),
            field("lastTimestamp", Ty::Object(TIME), "When the event was last recorded."),
            field("count", Ty::Int32, "How often the event has occurred."),
            field("type", Ty::String, "Normal or Warning."),
            field("eventTime", Ty::Object(MICRO_TIME), "When the event was first observed, precisely."),
            field("action", Ty::String, "What was done, or failed, e.g. Binding."),
            field("related", Ty::Object(OBJECT_REFERENCE), "A second object involved, if any."),
            field("reportingComponent", Ty::String, "The controller that emitted the event, e.g. default-scheduler."),
            field("reportingInstance", Ty::String, "The instance of the controller, e.g. a node name."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.EventSource",
        "The component, and host, that reported an event.",
        &[
            field("component", Ty::String, "The component."),
            field("host", Ty::String, "The node."),
        ],
    ),
    kind(
        "io.k8s.api.core.v1.ReplicationController",
        "Keeps a number of pods matching a map selector running.",
        "",
        "ReplicationController",
        &[
            API_VERSION,
            KIND,
            METADATA,
            field("spec", Ty::Object("io.k8s.api.core.v1.ReplicationControllerSpec"), "The desired behaviour."),
            field("status", Ty::Object("io.k8s.api.core.v1.ReplicationControllerStatus"), "The most recently observed status; read-only."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.ReplicationControllerSpec",
        "The desired behaviour of a replication controller.",
        &[
            field("replicas", Ty::Int32, "How many pods (default 1)."),
            field("minReadySeconds", Ty::Int32, "How long a new pod must be ready to count as available."),
            field("selector", STRING_MAP, "Labels of the pods counted (defaults to the template's labels)."),
            field("template", Ty::Object(POD_TEMPLATE_SPEC), "The pods created when there are too few."),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.ReplicationControllerStatus",
        "The observed state of a replication controller.",
        &[
            field("replicas", Ty::Int32, "The number of pods.").required(),
            field("fullyLabeledReplicas", Ty::Int32, "Pods whose labels match the template's."),
            field("readyReplicas", Ty::Int32, "Pods that are ready."),
            field("availableReplicas", Ty::Int32, "Pods ready for at least minReadySeconds."),
            field("observedGeneration", Ty::Int64, "The generation this status reflects."),
            conditions(&Ty::Object("io.k8s.api.core.v1.ReplicationControllerCondition")),
        ],
    ),
    ty(
        "io.k8s.api.core.v1.ReplicationControllerCondition",
        "A condition of a replication controller.",
        CONDITION,
    ),
    // ---- apps/v1 -----------------------------------------------------------------------
    kind(
        "io.k8s.api.apps.v1.Deployment",
        "Declarative updates of pods through replica sets.",
        "apps",
        "Deployment",
        &[
            API_VERSION,
            KIND,
            METADATA,
            field("spec", Ty::Object("io.k8s.api.apps.v1.DeploymentSpec"), "The desired behaviour."),
            field("status", Ty::Object("io.k8s.api.apps.v1.DeploymentStatus"), "The most recently observed status; read-only."),
        ],
    ),
    ty(
        "io.k8s.api.apps.v1.DeploymentSpec",
        "The desired behaviour of a deployment.",
        &[
            field("replicas", Ty::Int32, "How many pods (default 1)."),
            field("selector", Ty::Object(LABEL_SELECTOR), "Which pods belong to the deployment; must match the template's labels.").required(),
            field("template", Ty::Object(POD_TEMPLATE_SPEC), "The pods to run.").required(),
            field("strategy", Ty::Object("io.k8s.api.apps.v1.DeploymentStrategy"), "How old pods are replaced by new ones.")
                .retain_keys(),
            field("minReadySeconds", Ty::Int32, "How long a new pod must be ready to count as available."),
            field("revisionHistoryLimit", Ty::Int32, "How many old replica sets to keep (default 10)."),
            field("paused", Ty::Bool, "The deployment is paused."),
            field("progressDeadlineSeconds", Ty::Int32, "Seconds before a stalled rollout counts as failed (default 600)."),
        ],
    ),
    ty(
        "io.k8s.api.apps.v1.DeploymentStrategy",
        "How a deployment replaces pods.",
        &[
            field("type", Ty::Enum(DeploymentStrategyType::NAMES), "Recreate or RollingUpdate (default)."),
            field("rollingUpdate", Ty::Object("io.k8s.api.apps.v1.RollingUpdateDeployment"), "Parameters of a rolling update."),
        ],
    ),
    ty(
        "io.k8s.api.apps.v1.RollingUpdateDeployment",
        "Parameters of a rolling update.",
        &[
            field("maxUnavailable", Ty::Object(INT_OR_STRING), "How many pods may be unavailable, as a number or a percentage (default 25%)."),
            field("maxSurge", Ty::Object(INT_OR_STRING), "How many pods may exist above replicas, as a number or a percentage (default 25%)."),
        ],
    ),
    ty(
        "io.k8s.api.apps.v1.DeploymentStatus",
        "The observed state of a deployment.",
        &[
            field("observedGeneration", Ty::Int64, "The generation this status reflects."),
            field("replicas", Ty::Int32, "Pods of all its replica sets."),
            field("updatedReplicas", Ty::Int32, "Pods with the current template."),
            field("readyReplicas", Ty::Int32, "Pods that are ready."),
            field("availableReplicas", Ty::Int32, "Pods ready for at least minReadySeconds."),
            field("unavailableReplicas", Ty::Int32, "Pods still needed for full availability."),
            conditions(&Ty::Object("io.k8s.api.apps.v1.DeploymentCondition")),
            field("collisionCount", Ty::Int32, "Bumped to make the next replica set name unique."),
        ],
    ),
    ty(
        "io.k8s.api.apps.v1.DeploymentCondition",
        "A condition of a deployment.",
        &[
            TYPE_FIELD,
            STATUS_FIELD,
            field("lastUpdateTime", Ty::Object(TIME), "Last time the condition was updated."),
            LAST_TRANSITION,
            REASON,
            MESSAGE,
        ],
    ),
    kind(
        "io.k8s.api.apps.v1.ReplicaSet",
        "Keeps a number of pods matching a label selector running.",
        "apps",
        "ReplicaSet",
        &[
            API_VERSION,
            KIND,
            METADATA,
            field("spec", Ty::Object("io.k8s.api.apps.v1.ReplicaSetSpec"), "The desired behaviour."),
            field("status", Ty::Object("io.k8s.api.apps.v1.ReplicaSetStatus"), "The most recently observed status; read-only."),
        ],
    ),
    ty(
        "io.k8s.api.apps.v1.ReplicaSetSpec",
        "The desired behaviour of a replica set.",
        &[
            field("replicas", Ty::Int32, "How many pods (default 1)."),
            field("minReadySeconds", Ty::Int32, "How long a new pod must be ready to count as available."),
            field("selector", Ty::Object(LABEL_SELECTOR), "Which pods belong to the set; must match the template's labels.").required(),
            field("template", Ty::Object(POD_TEMPLATE_SPEC), "The pods created when there are too few."),
        ],
    ),
    ty(
        "io.k8s.api.apps.v1.ReplicaSetStatus",
        "The observed state of a replica set.",
        &[
            field("replicas", Ty::Int32, "The number of pods.").required(),
            field("fullyLabeledReplicas", Ty::Int32, "Pods whose labels match the template's."),
            field("readyReplicas", Ty::Int32, "Pods that are ready."),
            field("availableReplicas", Ty::Int32, "Pods ready for at least minReadySeconds."),
            field("observedGeneration", Ty::Int64, "The generation this status reflects."),
            conditions(&Ty::Object("io.k8s.api.apps.v1.ReplicaSetCondition")),
        ],
    ),
    ty(
        "io.k8s.api.apps.v1.ReplicaSetCondition",
        "A condition of a replica set.",
        CONDITION,
    ),
    // ---- coordination.k8s.io/v1 --------------------------------------------------------
    kind(
        "io.k8s.api.coordination.v1.Lease",
        "A lease: a lock with a holder and a renewal time.",
        "coordination.k8s.io",
        "Lease",
        &[
            API_VERSION,
            KIND,
            METADATA,
            field("spec", Ty::Object("io.k8s.api.coordination.v1.LeaseSpec"), "Holder and timing."),
        ],
    ),
    ty(
        "io.k8s.api.coordination.v1.LeaseSpec",
        "Who holds a lease and until when.",
        &[
            field("holderIdentity", Ty::String, "The current holder."),
            field("leaseDurationSeconds", Ty::Int32, "How long after renewTime the lease expires."),
            field("acquireTime", Ty::Object(MICRO_TIME), "When the current holder acquired the lease."),
            field("renewTime", Ty::Object(MICRO_TIME), "When the holder last renewed the lease."),
            field("leaseTransitions", Ty::Int32, "How often the lease changed hands."),
        ],
    ),
];

/// The named schema with this name.
pub fn type_def(name: &str) -> Option<&'static TypeDef> {
    TYPES.iter().find(|t| t.name == name)
}

/// The schema of the top-level objects of this kind (served kinds, `Scale`, `Binding`).
pub fn type_for_kind(kind: &str) -> Option<&'static TypeDef> {
    TYPES
        .iter()
        .find(|t| t.gvk.is_some_and(|gvk| gvk.kind == kind))
}

/// Where a walk through the schema model is: at a struct, at a map's values, or
/// somewhere the model does not describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// An object with known fields.
    Struct(&'static TypeDef),
    /// An object whose values all have this type.
    Map(&'static Ty),
    /// A scalar or a part the model does not describe.
    Opaque,
}

impl Node {
    /// The node for a value of this type.
    pub fn of(ty: &'static Ty) -> Node {
        match ty {
            Ty::Object(name) => match type_def(name) {
                Some(def) if matches!(def.shape, Shape::Struct(_)) => Node::Struct(def),
                _ => Node::Opaque,
            },
            Ty::Map(inner) => Node::Map(inner),
            _ => Node::Opaque,
        }
    }

    /// The field `key` of this node (for a struct), or `None`.
    pub fn field(&self, key: &str) -> Option<&'static Field> {
        match self {
            Node::Struct(def) => def.field(key),
            _ => None,
        }
    }

    /// The node of the value under `key`.
    pub fn child(&self, key: &str) -> Node {
        match self {
            Node::Struct(def) => def.field(key).map_or(Node::Opaque, |f| Node::of(&f.ty)),
            Node::Map(inner) => Node::of(inner),
            Node::Opaque => Node::Opaque,
        }
    }

    /// The node of the elements of the list under `key`.
    pub fn element(&self, key: &str) -> Node {
        let ty = match self {
            Node::Struct(def) => def.field(key).map(|f| &f.ty),
            Node::Map(inner) => Some(*inner),
            Node::Opaque => None,
        };
        match ty {
            Some(Ty::Array(inner)) => Node::of(inner),
            _ => Node::Opaque,
        }
    }
}

/// The fields of `object` that the schema of `kind` does not have, as Kubernetes names
/// them in a strict decoding error (`spec.template.spec.containers[0].foo`). Empty for an
/// unknown kind. The API server rejects these under `fieldValidation=Strict`.
pub fn unknown_fields(kind: &str, object: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(def) = type_for_kind(kind) {
        walk_unknown(Node::Struct(def), object, "", &mut out);
    }
    out
}

fn walk_unknown(node: Node, value: &Value, path: &str, out: &mut Vec<String>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (node, value) {
        (Node::Struct(def), Value::Object(map)) => {
            for (key, child) in map {
                match def.field(key) {
                    None => out.push(join(key)),
                    Some(f) => walk_field(&f.ty, child, &join(key), out),
                }
            }
        }
        (Node::Map(inner), Value::Object(map)) => {
            for (key, child) in map {
                walk_field(inner, child, &join(key), out);
            }
        }
        _ => {}
    }
}

/// Removes from `object` the fields the schema of `kind` does not have whose value is a
/// zero (`""`, `0`, `false`, `null`, or an object or list of zeros only). A protobuf
/// body carries every non-pointer field of the Go type, set or not; its zeros mean
/// "unset", so only a field set to something is left for strict validation to report.
pub fn drop_unknown_zeros(kind: &str, object: &mut Value) {
    if let Some(def) = type_for_kind(kind) {
        prune(Node::Struct(def), object);
    }
}

fn prune(node: Node, value: &mut Value) {
    match (node, value) {
        (Node::Struct(def), Value::Object(map)) => {
            map.retain(|key, child| def.field(key).is_some() || !is_zero(child));
            for (key, child) in map.iter_mut() {
                if let Some(f) = def.field(key) {
                    prune_field(&f.ty, child);
                }
            }
        }
        (Node::Map(inner), Value::Object(map)) => {
            for child in map.values_mut() {
                prune_field(inner, child);
            }
        }
        _ => {}
    }
}

fn prune_field(ty: &'static Ty, value: &mut Value) {
    match (ty, value) {
        (Ty::Array(inner), Value::Array(items)) => {
            for item in items {
                prune_field(inner, item);
            }
        }
        (_, value) => prune(Node::of(ty), value),
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.iter().all(is_zero),
        Value::Object(map) => map.values().all(is_zero),
    }
}

fn walk_field(ty: &'static Ty, value: &Value, path: &str, out: &mut Vec<String>) {
    match (ty, value) {
        (Ty::Array(inner), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                walk_field(inner, item, &format!("{path}[{i}]"), out);
            }
        }
        _ => walk_unknown(Node::of(ty), value, path, out),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rudder_protocol::resources::{
        Deployment, Endpoints, Event, Lease, Namespace, Node as NodeKind, Pod, ReplicaSet,
        ReplicationController, Resource, Scale, Service, ServiceAccount,
    };
    use serde_json::json;

    #[test]
    fn unknown_zeros_are_dropped_and_the_rest_kept() {
        let mut d = json!({
            "metadata": {"name": "web", "selfLink": "", "generation": 0},
            "spec": {
                "minReadySeconds": 0, "paused": false, "replicas": 0,
                "template": {"spec": {"containers": [{
                    "name": "c", "image": "i", "stdinOnce": false,
                    "resizePolicy": [], "madeUp": 3,
                }]}},
            },
            "status": {"terminatingReplicas": 0},
        });
        drop_unknown_zeros("Deployment", &mut d);
        assert!(d["metadata"].get("selfLink").is_none());
        assert_eq!(
            d["metadata"]["generation"], 0,
            "known fields stay, zero or not"
        );
        assert_eq!(d["spec"]["replicas"], 0);
        assert_eq!(d["spec"]["minReadySeconds"], 0);
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert!(c.get("stdinOnce").is_none() && c.get("resizePolicy").is_none());
        assert_eq!(
            c["madeUp"], 3,
            "a set unknown field is left for validation to report"
        );
        assert_eq!(
            unknown_fields("Deployment", &d),
            ["spec.template.spec.containers[0].madeUp"]
        );
    }

    /// Every type a field refers to exists, and every served resource's schema is a kind
    /// with the resource's group, version and kind.
    #[test]
    fn model_is_closed_and_matches_resources() {
        fn check(ty: &Ty, from: &str) {
            match ty {
                Ty::Object(name) => assert!(type_def(name).is_some(), "{from} -> {name}"),
                Ty::Array(inner) | Ty::Map(inner) => check(inner, from),
                _ => {}
            }
        }
        for def in TYPES {
            for f in def.fields() {
                check(&f.ty, &format!("{}.{}", def.name, f.name));
                if !f.merge_key.is_empty() {
                    assert!(
                        f.merges(),
                        "{}.{}: merge key without merge",
                        def.name,
                        f.name
                    );
                }
            }
            assert_eq!(
                TYPES.iter().filter(|t| t.name == def.name).count(),
                1,
                "duplicate {}",
                def.name
            );
        }
        for r in RESOURCES {
            let def = type_def(r.schema).unwrap();
            let gvk = def.gvk.unwrap();
            assert_eq!(
                (gvk.group, gvk.version, gvk.kind),
                (r.group, r.version, r.kind)
            );
            assert_eq!(type_for_kind(r.kind).unwrap().name, r.schema);
        }
    }

    fn info<K: Resource>() -> (String, &'static str, &'static str, bool) {
        let r = resource_for_kind(K::KIND).unwrap();
        (r.api_version(), r.kind, r.plural, r.namespaced)
    }

    fn expect<K: Resource>() -> (String, &'static str, &'static str, bool) {
        (K::API_VERSION.to_owned(), K::KIND, K::PLURAL, K::NAMESPACED)
    }

    #[test]
    fn table_agrees_with_protocol_resources() {
        let table = [
            ("namespace", info::<Namespace>(), expect::<Namespace>()),
            ("node", info::<NodeKind>(), expect::<NodeKind>()),
            ("pod", info::<Pod>(), expect::<Pod>()),
            ("service", info::<Service>(), expect::<Service>()),
            ("endpoints", info::<Endpoints>(), expect::<Endpoints>()),
            ("sa", info::<ServiceAccount>(), expect::<ServiceAccount>()),
            ("event", info::<Event>(), expect::<Event>()),
            (
                "rc",
                info::<ReplicationController>(),
                expect::<ReplicationController>(),
            ),
            ("rs", info::<ReplicaSet>(), expect::<ReplicaSet>()),
            ("deploy", info::<Deployment>(), expect::<Deployment>()),
            ("lease", info::<Lease>(), expect::<Lease>()),
        ];
        for (name, got, want) in table {
            assert_eq!(got, want, "{name}");
        }
        assert_eq!(RESOURCES.len(), 11);
    }

    #[test]
    fn lookups() {
        let table: Vec<(&str, Option<&str>, Option<&str>)> = vec![
            (
                "core pods",
                resource("", "v1", "pods").map(|r| r.kind),
                Some("Pod"),
            ),
            (
                "apps deployments",
                resource("apps", "v1", "deployments").map(|r| r.kind),
                Some("Deployment"),
            ),
            (
                "wrong group",
                resource("apps", "v1", "pods").map(|r| r.kind),
                None,
            ),
            (
                "lease by kind",
                resource_for_kind("Lease").map(|r| r.group),
                Some("coordination.k8s.io"),
            ),
            (
                "deploy scale kind",
                resource_for_kind("Deployment")
                    .and_then(|r| r.subresource("scale"))
                    .map(|s| s.kind),
                Some("Scale"),
            ),
            (
                "short name",
                resource_for_kind("Deployment").map(|r| r.short_names[0]),
                Some("deploy"),
            ),
            (
                "unknown kind",
                resource_for_kind("Secret").map(|r| r.kind),
                None,
            ),
        ];
        for (name, got, want) in table {
            assert_eq!(got, want, "{name}");
        }
        assert!(!resource_for_kind("Namespace")
            .unwrap()
            .verbs
            .contains(&"deletecollection"));
        assert_eq!(resources_in("apps", "v1").count(), 2);
    }

    /// A value of every field the model describes, each non-default.
    fn sample(ty: &Ty) -> Value {
        match ty {
            Ty::String => json!("x"),
            Ty::Int32 | Ty::Int64 => json!(3),
            Ty::Bool => json!(true),
            Ty::Enum(values) => json!(values[values.len() - 1]),
            Ty::Array(inner) => json!([sample(inner)]),
            Ty::Map(inner) => json!({ "k": sample(inner) }),
            Ty::Object(name) => {
                let def = type_def(name).unwrap();
                match def.shape {
                    Shape::Struct(fields) => Value::Object(
                        fields
                            .iter()
                            .map(|f| (f.name.to_owned(), sample(&f.ty)))
                            .collect(),
                    ),
                    Shape::FormattedString(_) if def.name == MICRO_TIME => {
                        json!("2024-05-01T12:00:00.123456Z")
                    }
                    Shape::FormattedString(_) => json!("2024-05-01T12:00:00Z"),
                    Shape::Quantity => json!("250m"),
                    Shape::IntOrString => json!(8080),
                    Shape::AnyObject => json!({}),
                }
            }
        }
    }

    fn round_trip<K: Resource>() -> (Value, Value) {
        let def = type_for_kind(K::KIND).unwrap();
        let mut want = sample(&Ty::Object(def.name));
        want["apiVersion"] = json!(K::API_VERSION);
        want["kind"] = json!(K::KIND);
        let object: K = serde_json::from_value(want.clone()).unwrap();
        (serde_json::to_value(&object).unwrap(), want)
    }

    /// Every field in the model exists in the protocol type, with a compatible type:
    /// a sample with every field set survives a trip through it unchanged.
    #[test]
    fn model_fields_exist_in_protocol_types() {
        let table = [
            ("Pod", round_trip::<Pod>()),
            ("Node", round_trip::<NodeKind>()),
            ("Namespace", round_trip::<Namespace>()),
            ("Service", round_trip::<Service>()),
            ("Endpoints", round_trip::<Endpoints>()),
            ("ServiceAccount", round_trip::<ServiceAccount>()),
            ("Event", round_trip::<Event>()),
            (
                "ReplicationController",
                round_trip::<ReplicationController>(),
            ),
            ("ReplicaSet", round_trip::<ReplicaSet>()),
            ("Deployment", round_trip::<Deployment>()),
            ("Lease", round_trip::<Lease>()),
            ("Scale", round_trip::<Scale>()),
        ];
        for (name, (got, want)) in table {
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn unknown_fields_are_named_like_kubernetes() {
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"any": "thing"}, "bogus": 1},
            "spec": {
                "replicas": 2,
                "template": {"spec": {"containers": [
                    {"name": "a", "image": "x"},
                    {"name": "b", "securityContext": {}}
                ]}}
            },
            "extra": true
        });
        let table = [
            (
                "deployment",
                unknown_fields("Deployment", &deployment),
                vec![
                    "extra",
                    "metadata.bogus",
                    "spec.template.spec.containers[1].securityContext",
                ],
            ),
            (
                "clean pod",
                unknown_fields("Pod", &json!({"metadata": {"name": "p"}, "spec": {}})),
                vec![],
            ),
            (
                "unknown kind",
                unknown_fields("Secret", &json!({"x": 1})),
                vec![],
            ),
        ];
        for (name, mut got, want) in table {
            got.sort();
            assert_eq!(got, want, "{name}");
        }
    }
}
