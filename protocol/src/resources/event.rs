//! Events (`core/v1 Event`): what happened to an object, for humans (`kubectl describe`,
//! `kubectl get events`). Components record them; nothing reconciles on them.
//!
//! As in Kubernetes, `reportingComponent`, `reportingInstance` and `source` are always
//! written, even when empty.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{is_default, MicroTime, ObjectReference, Time};

kind! {
    /// A report of something that happened to an object.
    #[schema(name = "io.k8s.api.core.v1.Event", require = "metadata")]
    pub struct Event: "v1", "Event", "events", namespaced = true {
        /// The object the event is about.
        #[schema(required)]
        pub involved_object: ObjectReference,
        /// Why, in one word (e.g. `Scheduled`, `Pulled`, `BackOff`).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub reason: String,
        /// What happened, for humans.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub message: String,
        /// The component that reported the event (deprecated by `reportingComponent`).
        // Always written, `{}` when empty.
        pub source: EventSource,
        /// When the event was first recorded.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub first_timestamp: Option<Time>,
        /// When the event was last recorded.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub last_timestamp: Option<Time>,
        /// How often the event has occurred.
        #[serde(skip_serializing_if = "is_default")]
        pub count: i32,
        /// `Normal` or `Warning`.
        #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
        pub type_: String,
        /// When it was first observed, precisely.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub event_time: Option<MicroTime>,
        /// What was done (or failed), e.g. `Binding`.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub action: String,
        /// A second object involved, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub related: Option<ObjectReference>,
        /// The reporting controller, e.g. `default-scheduler`.
        pub reporting_component: String,
        /// The reporting instance, e.g. the node or pod name.
        pub reporting_instance: String,
    }
}

impl Event {
    /// The `type` of an event about normal operation.
    pub const NORMAL: &'static str = "Normal";
    /// The `type` of an event about something going wrong.
    pub const WARNING: &'static str = "Warning";
}

/// The component (and host) that reported an event.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.EventSource")]
pub struct EventSource {
    /// The component.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub component: String,
    /// The node.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
}
