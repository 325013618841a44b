//! Events (`core/v1`): the involved-object and source field selectors kubectl uses
//! (`kubectl describe`, `kubectl events`) and Kubernetes' event printer.

use rudder_protocol::resources::{Event, Time};
use serde_json::{json, Value};

use super::super::table::{col, since, since_micro, Column, Row, NAME};
use super::{field, SelectableField, Strategy};

impl Strategy for Event {
    const FIELDS: &'static [SelectableField] = &[
        field("involvedObject.kind"),
        field("involvedObject.namespace"),
        field("involvedObject.name"),
        field("involvedObject.uid"),
        field("involvedObject.apiVersion"),
        field("involvedObject.resourceVersion"),
        field("involvedObject.fieldPath"),
        field("reason"),
        field("reportingComponent"),
        field("source").at("source.component"),
        field("type"),
    ];
    const COLUMNS: &'static [Column] = EVENT_COLUMNS;

    fn cells(&self, now: Time) -> Row {
        Row::new(event_cells(self, now))
    }

    fn example(namespace: &str) -> Value {
        json!({
            "involvedObject": {"kind": "Pod", "namespace": namespace, "name": "p"},
            "reason": "Example",
            "type": "Normal",
        })
    }
}

const EVENT_COLUMNS: &[Column] = &[
    col(
        "Last Seen",
        "string",
        "The time at which the most recent occurrence of this event was recorded.",
    ),
    col("Type", "string", "Type of this event (Normal, Warning)."),
    col(
        "Reason",
        "string",
        "A short, machine understandable string that gives the reason for this event.",
    ),
    col("Object", "string", "The object that this event is about."),
    col(
        "Subobject",
        "string",
        "The field of the object the event is about.",
    )
    .wide(),
    col("Source", "string", "The component reporting this event.").wide(),
    col(
        "Message",
        "string",
        "A human-readable description of the status of this operation.",
    ),
    col(
        "First Seen",
        "string",
        "The time at which the event was first recorded.",
    )
    .wide(),
    col(
        "Count",
        "string",
        "The number of times this event has occurred.",
    )
    .wide(),
    NAME.wide(),
];

fn event_cells(ev: &Event, now: Time) -> Vec<Value> {
    let first = match ev.first_timestamp {
        Some(t) => since(Some(t), now),
        None => since_micro(ev.event_time, now),
    };
    let last = match ev.last_timestamp {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let count = if ev.count == 0 { 1 } else { ev.count };
    let object = &ev.involved_object;
    let target = if object.name.is_empty() {
        object.kind.to_lowercase()
    } else {
        format!("{}/{}", object.kind.to_lowercase(), object.name)
    };
    let component = if ev.source.component.is_empty() {
        &ev.reporting_component
    } else {
        &ev.source.component
    };
    let host = if ev.source.host.is_empty() {
        &ev.reporting_instance
    } else {
        &ev.source.host
    };
    let source = if host.is_empty() {
        component.clone()
    } else {
        format!("{component}, {host}")
    };
    vec![
        json!(last),
        json!(ev.type_),
        json!(ev.reason),
        json!(target),
        json!(object.field_path),
        json!(source),
        json!(ev.message.trim()),
        json!(first),
        json!(count),
        json!(ev.metadata.name),
    ]
}
