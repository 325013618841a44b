//! Structural schemas (`openAPIV3Schema` of a CRD version): whether a schema is one
//! Rudder can enforce, and the three things the API server does with it to a custom
//! resource, in Kubernetes' order: prune unknown fields, apply `default`s, validate.
//!
//! The schema is read as JSON (a `JSONSchemaProps` object) each time; nothing is parsed
//! into a second model, so what is stored in the CRD is what is enforced.
//!
//! Supported: `type` (`object`, `array`, `string`, `integer`, `number`, `boolean`),
//! `properties`, `additionalProperties` (a schema), `items`, `required`, `enum`,
//! `pattern` (RE2 syntax, as Go's `regexp` that Kubernetes uses), `minimum`/`maximum`
//! (with `exclusiveMinimum`/`exclusiveMaximum` as booleans), `minLength`/`maxLength`,
//! `minItems`/`maxItems`, `minProperties`/`maxProperties`, `nullable`, `default`, and
//! the extensions `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-int-or-string`
//! and `x-kubernetes-embedded-resource`.
//!
//! CEL rules (`x-kubernetes-validations`) are compiled when the CRD is written
//! ([`check_structural`]: a rule that does not compile, or calls a function this
//! server's CEL environment lacks, refuses the CRD) and evaluated after the schema's
//! own checks ([`super::cel`]).

use serde_json::{json, Map, Value};

use crate::apiserver::validation::{BadValue, CauseReason, FieldCause, FieldPath};

const TYPES: &[&str] = &["object", "array", "string", "integer", "number", "boolean"];

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn preserves_unknown(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-preserve-unknown-fields")
}

fn int_or_string(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-int-or-string")
}

fn embedded(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-embedded-resource")
}

fn ty(schema: &Value) -> &str {
    schema.get("type").and_then(Value::as_str).unwrap_or("")
}

/// The schema of `additionalProperties`, when it is one (not `true`/`false`).
fn additional(schema: &Value) -> Option<&Value> {
    schema.get("additionalProperties").filter(|a| a.is_object())
}

/// Whether `schema` is structural in the sense Rudder enforces, as causes under `path`
/// (`spec.versions[0].schema.openAPIV3Schema`): every node names a known type (unless
/// it is int-or-string or preserves unknown fields), `properties` and
/// `additionalProperties` are not both set, patterns compile, the root is an object,
/// and every CEL rule compiles.
pub fn check_structural(schema: &Value, path: &FieldPath) -> Vec<FieldCause> {
    let mut out = Vec::new();
    if !schema.is_object() {
        out.push(FieldCause::required(path, "a schema object is required"));
        return out;
    }
    if ty(schema) != "object" {
        out.push(FieldCause::invalid(
            &path.child("type"),
            ty(schema),
            "must be object at the root",
        ));
    }
    check_node(schema, path, &mut out);
    out
}

fn check_node(schema: &Value, path: &FieldPath, out: &mut Vec<FieldCause>) {
    let Some(map) = schema.as_object() else {
        out.push(FieldCause::invalid(
            path,
            BadValue::Raw(schema.to_string()),
            "must be a schema object",
        ));
        return;
    };
    if let Some(rules) = map.get("x-kubernetes-validations") {
        super::cel::check(rules, schema, &path.child("x-kubernetes-validations"), out);
    }
    let t = ty(schema);
    if t.is_empty() {
        if !int_or_string(schema) && !preserves_unknown(schema) {
            out.push(FieldCause::required(
                &path.child("type"),
                "must not be empty for specified object fields",
            ));
        }
    } else if !TYPES.contains(&t) {
        out.push(FieldCause::not_supported(&path.child("type"), t, TYPES));
    }
    if map.contains_key("properties") && additional(schema).is_some() {
        out.push(FieldCause::forbidden(
            &path.child("additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    if let Some(p) = map.get("pattern") {
        match p.as_str().map(regex_lite::Regex::new) {
            Some(Ok(_)) => {}
            _ => out.push(FieldCause::invalid(
                &path.child("pattern"),
                BadValue::Raw(p.to_string()),
                "must be a valid regular expression",
            )),
        }
    }
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            check_node(child, &path.child("properties").key(name), out);
        }
    }
    if let Some(a) = additional(schema) {
        check_node(a, &path.child("additionalProperties"), out);
    }
    if let Some(items) = map.get("items") {
        check_node(items, &path.child("items"), out);
    } else if t == "array" {
        out.push(FieldCause::required(
            &path.child("items"),
            "must be specified for arrays",
        ));
    }
}

/// Removes the fields `schema` does not know (Kubernetes' pruning). At the root (and in
/// embedded resources) `apiVersion`, `kind` and `metadata` are always kept.
pub fn prune(schema: &Value, value: &mut Value, root: bool) {
    match value {
        Value::Object(map) => {
            let keep_meta = root || embedded(schema);
            if let Some(a) = additional(schema) {
                for (_, v) in map.iter_mut() {
                    prune(a, v, false);
                }
                return;
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let preserve = preserves_unknown(schema);
            let empty = Map::new();
            let props = props.unwrap_or(&empty);
            map.retain(|k, _| {
                props.contains_key(k)
                    || preserve
                    || (keep_meta && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
            });
            for (k, v) in map.iter_mut() {
                if let Some(child) = props.get(k) {
                    prune(child, v, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for v in items {
                    prune(item, v, false);
                }
            }
        }
        _ => {}
    }
}

/// Fills in `default`s of absent fields (and of `null`s where the field is not
/// nullable), outside in, as Kubernetes' structural defaulting does.
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, child) in props {
                    let Some(d) = child.get("default") else {
                        continue;
                    };
                    let missing = match map.get(k) {
                        None => true,
                        Some(Value::Null) => !flag(child, "nullable"),
                        Some(_) => false,
                    };
                    if missing {
                        map.insert(k.clone(), d.clone());
                    }
                }
                for (k, v) in map.iter_mut() {
                    if let Some(child) = props.get(k) {
                        apply_defaults(child, v);
                    }
                }
            } else if let Some(a) = additional(schema) {
                for (_, v) in map.iter_mut() {
                    apply_defaults(a, v);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for v in items {
                    apply_defaults(item, v);
                }
            }
        }
        _ => {}
    }
}

/// The JSON type of a value as the schema names it (`integer` for whole numbers).
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as Kubernetes quotes it in messages: strings quoted, the rest as JSON.
fn bad(v: &Value) -> BadValue {
    match v {
        Value::String(s) => BadValue::Str(s.clone()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => BadValue::Int(i),
            None => BadValue::Raw(n.to_string()),
        },
        other => BadValue::Raw(other.to_string()),
    }
}

fn num(schema: &Value, name: &str) -> Option<f64> {
    schema.get(name).and_then(Value::as_f64)
}

fn count(schema: &Value, name: &str) -> Option<usize> {
    schema
        .get(name)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
}

fn fmt_num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

/// Everything wrong with `value` under `schema`, as causes at `path` (`spec.size`,
/// `spec.items[0]`), with Kubernetes' messages (`spec.size in body must be of type
/// integer: "string"`).
pub fn validate(schema: &Value, value: &Value, path: &FieldPath, out: &mut Vec<FieldCause>) {
    let at = path.as_str();
    if value.is_null() {
        if flag(schema, "nullable") {
            return;
        }
        let t = ty(schema);
        if t.is_empty() {
            if preserves_unknown(schema) {
                return;
            }
            out.push(FieldCause::invalid(
                path,
                "null",
                &format!("{at} in body must not be null"),
            ));
        } else {
            out.push(FieldCause::invalid(
                path,
                "null",
                &format!("{at} in body must be of type {t}: \"null\""),
            ));
        }
        return;
    }
    let actual = type_of(value);
    if int_or_string(schema) {
        if !matches!(actual, "integer" | "string") {
            out.push(FieldCause::invalid(
                path,
                actual,
                &format!("{at} in body must be of type integer,string: \"{actual}\""),
            ));
            return;
        }
    } else {
        let t = ty(schema);
        let fits = t.is_empty() || t == actual || (t == "number" && actual == "integer");
        if !fits {
            out.push(FieldCause::invalid(
                path,
                actual,
                &format!("{at} in body must be of type {t}: \"{actual}\""),
            ));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            let supported: Vec<String> = options
                .iter()
                .map(|o| match o {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            let refs: Vec<&str> = supported.iter().map(String::as_str).collect();
            out.push(FieldCause::not_supported(path, bad(value), &refs));
        }
    }
    match value {
        Value::String(s) => {
            let len = s.chars().count();
            if let Some(max) = count(schema, "maxLength") {
                if len > max {
                    out.push(FieldCause::too_long(path, max));
                }
            }
            if let Some(min) = count(schema, "minLength") {
                if len < min {
                    out.push(FieldCause::invalid(
                        path,
                        s,
                        &format!("{at} in body should be at least {min} chars long"),
                    ));
                }
            }
            if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
                // A pattern that does not compile was refused with the CRD.
                if let Ok(re) = regex_lite::Regex::new(p) {
                    if !re.is_match(s) {
                        out.push(FieldCause::invalid(
                            path,
                            s,
                            &format!("{at} in body should match '{p}'"),
                        ));
                    }
                }
            }
        }
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or_default();
            if let Some(min) = num(schema, "minimum") {
                let exclusive = flag(schema, "exclusiveMinimum");
                if f < min || (exclusive && f == min) {
                    let rel = if exclusive {
                        "greater than"
                    } else {
                        "greater than or equal to"
                    };
                    out.push(FieldCause::invalid(
                        path,
                        bad(value),
                        &format!("{at} in body should be {rel} {}", fmt_num(min)),
                    ));
                }
            }
            if let Some(max) = num(schema, "maximum") {
                let exclusive = flag(schema, "exclusiveMaximum");
                if f > max || (exclusive && f == max) {
                    let rel = if exclusive {
                        "less than"
                    } else {
                        "less than or equal to"
                    };
                    out.push(FieldCause::invalid(
                        path,
                        bad(value),
                        &format!("{at} in body should be {rel} {}", fmt_num(max)),
                    ));
                }
            }
        }
        Value::Array(items) => {
            if let Some(min) = count(schema, "minItems") {
                if items.len() < min {
                    out.push(FieldCause::invalid(
                        path,
                        BadValue::Int(items.len() as i64),
                        &format!("{at} in body should have at least {min} items"),
                    ));
                }
            }
            if let Some(max) = count(schema, "maxItems") {
                if items.len() > max {
                    out.push(FieldCause {
                        field: at.to_owned(),
                        reason: CauseReason::Invalid,
                        message: format!(
                            "Too many: {}: must have at most {max} items",
                            items.len()
                        ),
                    });
                }
            }
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    validate(item, v, &path.index(i), out);
                }
            }
        }
        Value::Object(map) => {
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for r in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        out.push(FieldCause::required(&path.child(r), ""));
                    }
                }
            }
            if let Some(min) = count(schema, "minProperties") {
                if map.len() < min {
                    out.push(FieldCause::invalid(
                        path,
                        BadValue::Int(map.len() as i64),
                        &format!("{at} in body should have at least {min} properties"),
                    ));
                }
            }
            if let Some(max) = count(schema, "maxProperties") {
                if map.len() > max {
                    out.push(FieldCause::invalid(
                        path,
                        BadValue::Int(map.len() as i64),
                        &format!("{at} in body should have at most {max} properties"),
                    ));
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, v) in map {
                if let Some(s) = props.and_then(|p| p.get(k)) {
                    validate(s, v, &path.child(k), out);
                } else if let Some(a) = additional(schema) {
                    validate(a, v, &path.child(k), out);
                }
            }
            if embedded(schema) {
                for f in ["apiVersion", "kind"] {
                    if map.get(f).and_then(Value::as_str).is_none_or(str::is_empty) {
                        out.push(FieldCause::required(&path.child(f), "must not be empty"));
                    }
                }
            }
        }
        _ => {}
    }
}

/// The fields of `value` that `schema` does not know, as dotted paths
/// (`spec.extra`, `spec.items[0].x`): what `fieldValidation=Strict` refuses and
/// pruning would drop.
pub fn unknown_fields(schema: &Value, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_unknown(schema, value, "", true, &mut out);
    out
}

fn walk_unknown(schema: &Value, value: &Value, path: &str, root: bool, out: &mut Vec<String>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match value {
        Value::Object(map) => {
            if let Some(a) = additional(schema) {
                for (k, v) in map {
                    walk_unknown(a, v, &join(k), false, out);
                }
                return;
            }
            let preserve = preserves_unknown(schema);
            let keep_meta = root || embedded(schema);
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, v) in map {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => walk_unknown(s, v, &join(k), false, out),
                    None if preserve => {}
                    None if keep_meta
                        && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") => {}
                    None => out.push(join(k)),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk_unknown(item, v, &format!("{path}[{i}]"), false, out);
                }
            }
        }
        _ => {}
    }
}

/// The schema of a version that declares none: anything is kept.
pub fn open_schema() -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn widget() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["size"],
                    "properties": {
                        "size": {"type": "integer", "minimum": 1, "maximum": 10},
                        "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                        "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                        "port": {"x-kubernetes-int-or-string": true},
                        "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "note": {"type": "string", "nullable": true},
                    },
                },
                "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
            },
        })
    }

    fn causes(v: &Value) -> Vec<String> {
        let mut out = Vec::new();
        validate(&widget(), v, &FieldPath::new(""), &mut out);
        out.into_iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn prune_default_validate() {
        let s = widget();
        let mut v = json!({
            "apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"},
            "spec": {"size": 3, "extra": 1, "free": {"any": {"thing": 1}}, "tags": ["a"]},
            "junk": true,
        });
        assert_eq!(unknown_fields(&s, &v), ["junk", "spec.extra"]);
        prune(&s, &mut v, true);
        apply_defaults(&s, &mut v);
        assert_eq!(
            v,
            json!({
                "apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"},
                "spec": {"size": 3, "color": "red", "free": {"any": {"thing": 1}}, "tags": ["a"]},
            })
        );
        assert!(causes(&v).is_empty(), "{:?}", causes(&v));
    }

    #[test]
    fn causes_name_the_field_as_kubernetes_does() {
        let table = [
            ("type", json!({"spec": {"size": "big"}}), "spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\""),
            ("required", json!({"spec": {}}), "spec.size: Required value"),
            ("minimum", json!({"spec": {"size": 0}}), "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"),
            ("maximum", json!({"spec": {"size": 11}}), "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10"),
            ("enum", json!({"spec": {"size": 1, "color": "pink"}}), "spec.color: Unsupported value: \"pink\": supported values: \"red\", \"blue\""),
            ("pattern", json!({"spec": {"size": 1, "name": "A"}}), "spec.name: Invalid value: \"A\": spec.name in body should match '^[a-z]+$'"),
            ("maxLength", json!({"spec": {"size": 1, "name": "abcdef"}}), "spec.name: Too long: must have at most 5 bytes"),
            ("int-or-string", json!({"spec": {"size": 1, "port": true}}), "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\""),
            ("items", json!({"spec": {"size": 1, "tags": [1]}}), "spec.tags[0]: Invalid value: \"integer\": spec.tags[0] in body must be of type string: \"integer\""),
            ("maxItems", json!({"spec": {"size": 1, "tags": ["a", "b", "c"]}}), "spec.tags: Too many: 3: must have at most 2 items"),
            ("null", json!({"spec": {"size": null}}), "spec.size: Invalid value: \"null\": spec.size in body must be of type integer: \"null\""),
        ];
        for (name, v, want) in table {
            assert_eq!(causes(&v), [want], "{name}");
        }
        assert!(causes(&json!({"spec": {"size": 2, "note": null, "port": "http"}})).is_empty());
    }

    #[test]
    fn structural_check() {
        let p = FieldPath::new("schema");
        assert!(check_structural(&widget(), &p).is_empty());
        let rules = json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.a > 0"}]});
        assert!(check_structural(&rules, &p).is_empty());
        let bad = json!({"type": "object", "properties": {"a": {"properties": {}}},
            "x-kubernetes-validations": [{"rule": "self.a >"}]});
        let got: Vec<String> = check_structural(&bad, &p)
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(
            got,
            [
                "schema.x-kubernetes-validations[0].rule",
                "schema.properties[a].type"
            ]
        );
    }
}
