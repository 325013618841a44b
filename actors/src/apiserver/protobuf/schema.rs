//! The shape of the protobuf schema table ([`super::messages`]) and lookups in it.
//!
//! A message is named as in OpenAPI (`io.k8s.api.core.v1.Pod`); each field carries its
//! number, its wire type and its JSON name, so the codec translates between the JSON
//! objects the API works with and Kubernetes' protobuf encoding without a type per kind.

use super::messages::MESSAGES;

/// The type of a field's value (of each element, for a repeated field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `string`.
    Str,
    /// `bytes` (base64 in JSON).
    Bytes,
    /// `int32` (varint).
    I32,
    /// `int64` (varint).
    I64,
    /// `bool` (varint).
    Bool,
    /// `double` (64-bit).
    F64,
    /// The message of this name.
    Msg(&'static str),
    /// `map<string, V>`: repeated entries `{1: key, 2: value}`.
    Map(&'static Kind),
}

/// A message whose JSON form is not an object of its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `meta/v1.Time`: `{seconds, nanos}`, an RFC 3339 string with seconds in JSON.
    Time,
    /// `meta/v1.MicroTime`: `{seconds, nanos}`, an RFC 3339 string with microseconds.
    MicroTime,
    /// `meta/v1.Duration`: nanoseconds, a Go duration string (`1h2m3s`) in JSON.
    Duration,
    /// `resource.Quantity`: `{string}`, the string in JSON.
    Quantity,
    /// `intstr.IntOrString`: `{type, intVal, strVal}`, a number or a string in JSON.
    IntOrString,
    /// `runtime.RawExtension`, `FieldsV1`, `apiextensions JSON`: `{raw}`, the raw JSON
    /// document (or an embedded protobuf object) inline in JSON.
    RawJson,
    /// `Verbs`, `ExtraValue`: `{items}`, a JSON array of strings.
    StringList,
}

/// One field of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The JSON name.
    pub json: &'static str,
    /// The field number.
    pub tag: u32,
    /// The value's type.
    pub kind: Kind,
    /// Whether the field repeats (a JSON array).
    pub repeated: bool,
    /// A Go struct embedded in its parent: a message field in protobuf, its fields
    /// inlined in the parent's JSON object (`Volume.volumeSource`, `Probe.handler`).
    pub inline: bool,
    /// A string whose empty value is a choice (a Go `*string`, e.g. a PVC's
    /// `storageClassName: ""`); other empty strings decode as absent, as Go's
    /// non-pointer strings are written even when empty.
    pub keep_empty: bool,
}

/// A field of this JSON name, number and type.
pub const fn f(json: &'static str, tag: u32, kind: Kind) -> Field {
    Field {
        json,
        tag,
        kind,
        repeated: false,
        inline: false,
        keep_empty: false,
    }
}

impl Field {
    /// Marks the field repeated.
    pub const fn repeated(self) -> Field {
        Field {
            repeated: true,
            ..self
        }
    }

    /// Marks the field an embedded struct, inlined in JSON.
    pub const fn inline(self) -> Field {
        Field {
            inline: true,
            ..self
        }
    }

    /// Keeps the field when it is an empty string.
    pub const fn keep_empty(self) -> Field {
        Field {
            keep_empty: true,
            ..self
        }
    }
}

/// A message: its name, its JSON form and its fields (ascending numbers).
#[derive(Debug, Clone, Copy)]
pub struct Message {
    /// The OpenAPI-style name, e.g. `io.k8s.api.core.v1.Pod`.
    pub name: &'static str,
    /// Set when the JSON form is not an object of the fields.
    pub special: Option<Special>,
    /// The fields, by ascending number.
    pub fields: &'static [Field],
}

impl Message {
    /// A message whose JSON form is an object of its fields.
    pub const fn new(name: &'static str, fields: &'static [Field]) -> Message {
        Message {
            name,
            special: None,
            fields,
        }
    }

    /// A message with a JSON form of its own.
    pub const fn special(name: &'static str, special: Special, fields: &'static [Field]) -> Message {
        Message {
            name,
            special: Some(special),
            fields,
        }
    }

    /// The field with this number.
    pub fn by_tag(&self, tag: u32) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.tag == tag)
    }
}

/// The message of this name.
pub fn message(name: &str) -> Option<&'static Message> {
    MESSAGES
        .binary_search_by(|m| m.name.cmp(name))
        .ok()
        .map(|i| &MESSAGES[i])
}

/// The package of the messages of an API group version: `v1` is `io.k8s.api.core.v1`,
/// `apps/v1` is `io.k8s.api.apps.v1`, `rbac.authorization.k8s.io/v1` is
/// `io.k8s.api.rbac.v1`, with the apimachinery, apiextensions and metrics groups where
/// their definitions live.
fn package(api_version: &str) -> String {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    match group {
        "" => format!("io.k8s.api.core.{version}"),
        "meta.k8s.io" => format!("io.k8s.apimachinery.pkg.apis.meta.{version}"),
        "apiextensions.k8s.io" => {
            format!("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}")
        }
        "metrics.k8s.io" => format!("io.k8s.metrics.pkg.apis.metrics.{version}"),
        _ => {
            let first = group.split('.').next().unwrap_or(group);
            format!("io.k8s.api.{first}.{version}")
        }
    }
}

/// The message of objects of this `apiVersion` and `kind`: the kind in its group's
/// package, else among the `meta/v1` kinds every group version carries (`Status`,
/// `DeleteOptions`, `WatchEvent`, ...).
pub fn message_for(api_version: &str, kind: &str) -> Option<&'static Message> {
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    message(&format!("{}.{kind}", package(api_version)))
        .or_else(|| message(&format!("io.k8s.apimachinery.pkg.apis.meta.v1.{kind}")))
        .filter(|m| m.special.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_every_reference_resolves() {
        for pair in MESSAGES.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} >= {}", pair[0].name, pair[1].name);
        }
        for m in MESSAGES {
            for pair in m.fields.windows(2) {
                assert!(pair[0].tag < pair[1].tag, "{}: tags out of order", m.name);
            }
            for field in m.fields {
                let mut kind = field.kind;
                if let Kind::Map(value) = kind {
                    kind = *value;
                }
                if let Kind::Msg(name) = kind {
                    assert!(message(name).is_some(), "{}.{}: {name}", m.name, field.json);
                }
                if field.inline {
                    assert!(matches!(field.kind, Kind::Msg(_)) && !field.repeated);
                }
            }
        }
    }

    #[test]
    fn kinds_find_their_messages() {
        let name = |v: &str, k: &str| message_for(v, k).map(|m| m.name);
        assert_eq!(name("v1", "Pod"), Some("io.k8s.api.core.v1.Pod"));
        assert_eq!(name("v1", "PodList"), Some("io.k8s.api.core.v1.PodList"));
        assert_eq!(name("apps/v1", "Deployment"), Some("io.k8s.api.apps.v1.Deployment"));
        assert_eq!(
            name("rbac.authorization.k8s.io/v1", "Role"),
            Some("io.k8s.api.rbac.v1.Role")
        );
        assert_eq!(
            name("coordination.k8s.io/v1", "Lease"),
            Some("io.k8s.api.coordination.v1.Lease")
        );
        assert_eq!(name("autoscaling/v1", "Scale"), Some("io.k8s.api.autoscaling.v1.Scale"));
        assert_eq!(
            name("v1", "Status"),
            Some("io.k8s.apimachinery.pkg.apis.meta.v1.Status")
        );
        assert_eq!(
            name("apps/v1", "DeleteOptions"),
            Some("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions")
        );
        assert_eq!(
            name("meta.k8s.io/v1", "WatchEvent"),
            Some("io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent")
        );
        // Table has no protobuf form; special messages are never top-level objects.
        assert_eq!(name("meta.k8s.io/v1", "Table"), None);
        assert_eq!(name("v1", "Time"), None);
        assert_eq!(name("v1", "../x"), None);
    }

    #[test]
    fn json_names_keep_their_acronyms() {
        let status = message("io.k8s.api.core.v1.PodStatus").expect("PodStatus");
        assert_eq!(status.by_tag(6).map(|f| f.json), Some("podIP"));
        assert_eq!(status.by_tag(12).map(|f| f.json), Some("podIPs"));
        let volume = message("io.k8s.api.core.v1.Volume").expect("Volume");
        assert!(volume.by_tag(2).is_some_and(|f| f.inline));
    }
}
