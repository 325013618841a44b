//! Objects served at another version than they are stored as: the versions of a CRD
//! (conversion `None`, see [`super::crd::registry::serve_as_version`]) and the built-in
//! kinds served at a second version ([`rudder_protocol::registry::OTHER_VERSIONS`]:
//! HorizontalPodAutoscalers at `autoscaling/v1`, stored as v2, see [`autoscaling`]).
//!
//! The request path converts at its edges: a body on the way in ([`to_stored`],
//! [`apply_to_stored`]), every object of an outcome or watch event on the way out
//! ([`serve_as`], [`outcome_as`]); a patch is applied to the object as its request's
//! version shows it ([`super::core::ApiCore::patch`]). In between, everything works on
//! the stored version.

pub mod autoscaling;

use rudder_protocol::registry::{self as table, ResourceInfo};
use serde_json::Value;

use super::request::Outcome;

/// Whether objects of `info` may be stored as another version than `info`'s; decided
/// once per request or watch.
pub fn converts(info: &ResourceInfo) -> bool {
    is_other_version(info) || super::crd::registry::converts(info)
}

/// Whether `info` is a built-in kind's second version.
pub fn is_other_version(info: &ResourceInfo) -> bool {
    table::other_version(info.group, info.version, info.plural).is_some()
}

/// The resource whose version `info`'s objects are stored as (`info` itself for every
/// resource but the second versions of built-in kinds).
pub fn storage(info: &ResourceInfo) -> &ResourceInfo {
    table::storage_of(info)
}

/// Whether `obj` is a stored object of `info`'s kind (its group, any version).
fn is_of(info: &ResourceInfo, obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some(info.kind)
        && obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.split_once('/').map_or("", |(g, _)| g) == info.group)
}

/// A stored object as `info`'s version shows it, in place; objects of other kinds (a
/// Status, say) are left as they are.
pub fn serve_as(info: &ResourceInfo, obj: &mut Value) {
    if is_other_version(info) {
        let stored = obj.get("apiVersion").and_then(Value::as_str);
        if is_of(info, obj) && stored != Some(info.api_version().as_str()) {
            autoscaling::to_v1(obj);
        }
    } else {
        super::crd::registry::serve_as_version(info, obj);
    }
}

/// A whole object written at `info`'s version as stored, in place (a create's or an
/// update's body).
pub fn to_stored(info: &ResourceInfo, obj: &mut Value) {
    if is_other_version(info) {
        autoscaling::to_v2(obj, true);
    }
}

/// An apply configuration written at `info`'s version as the stored version's: only
/// what it sets, so that the fields it leaves out stay out.
pub fn apply_to_stored(info: &ResourceInfo, obj: &mut Value) {
    if is_other_version(info) {
        autoscaling::to_v2(obj, false);
    }
}

/// An object of any served version as stored (the tables' printers read the stored
/// version's fields): a v1 HorizontalPodAutoscaler converted, anything else `None`.
pub fn stored_copy(obj: &Value) -> Option<Value> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str)?;
    let kind = obj.get("kind").and_then(Value::as_str)?;
    let info = table::OTHER_VERSIONS
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)?;
    let mut copy = obj.clone();
    to_stored(info, &mut copy);
    Some(copy)
}

/// [`serve_as`] over every object of a request's outcome.
pub fn outcome_as(info: &ResourceInfo, outcome: Outcome) -> Outcome {
    if !converts(info) {
        return outcome;
    }
    let one = |mut obj: Value| {
        serve_as(info, &mut obj);
        obj
    };
    let all = |items: Vec<Value>| items.into_iter().map(one).collect();
    match outcome {
        Outcome::Object(o) => Outcome::Object(one(o)),
        Outcome::Created(o) => Outcome::Created(one(o)),
        Outcome::Patched { object, warnings } => Outcome::Patched {
            object: one(object),
            warnings,
        },
        Outcome::List {
            items,
            revision,
            continue_token,
        } => Outcome::List {
            items: all(items),
            revision,
            continue_token,
        },
        Outcome::Deleted(items) => Outcome::Deleted(all(items)),
        Outcome::Events(events, revision) => Outcome::Events(
            events
                .into_iter()
                .map(|mut e| {
                    serve_as(info, &mut e.object);
                    e
                })
                .collect(),
            revision,
        ),
        Outcome::Admitted => Outcome::Admitted,
    }
}
