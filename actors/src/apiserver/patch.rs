//! The three patch formats of `PATCH` requests, applied to JSON values:
//!
//! - [`json_merge_patch`]: RFC 7386 (`application/merge-patch+json`).
//! - [`json_patch`]: RFC 6902 (`application/json-patch+json`): `add`, `remove`, `replace`,
//!   `move`, `copy` and `test`, with RFC 6901 pointers (`~0`, `~1`, `-` to append). The
//!   operations apply atomically: on any error the target is left untouched.
//! - [`strategic_merge_patch`]: Kubernetes' strategic merge patch
//!   (`application/strategic-merge-patch+json`), what `kubectl apply`, `edit` and `patch`
//!   send. Lists are merged or replaced according to the schema model in
//!   [`super::registry`] — the same patch strategies and merge keys that
//!   [`super::openapi`] publishes, so the patch kubectl computes is the patch applied.
//!   Directives: `$patch: replace | delete` (in maps and in list elements),
//!   `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>` (orders the result:
//!   the given order first, then the patch's, then the live object's; a patch list out
//!   of step with it is refused, as Kubernetes' `validatePatchWithSetOrderList` does),
//!   `$retainKeys`; `null` deletes a key. Like kube-apiserver, it follows `MergeParallelList` and
//!   `IgnoreUnmatchedNulls` semantics; unlike it, values taken whole from the patch are
//!   cleaned of directives and nulls, so the result always decodes into the protocol type.
//!
//! Parts of an object the model does not describe merge as plain maps, and their lists
//! are replaced. [`PatchError::http_status`] gives the status Kubernetes answers with.

use serde_json::{Map, Value};

use super::registry::{self, Field, Node};

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// A JSON patch operation is malformed (not an object, no `op`, missing `value`, ...).
    #[error("invalid JSON patch operation {index}: {reason}")]
    InvalidOperation {
        /// The operation's position in the patch.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A JSON pointer is malformed (no leading `/`, a bad `~` escape).
    #[error("invalid JSON pointer {pointer:?}")]
    InvalidPointer {
        /// The pointer as given.
        pointer: String,
    },
    /// A JSON patch operation refers to a location that does not exist.
    #[error("JSON patch operation {index} ({op}): path {path:?} does not exist")]
    PathNotFound {
        /// The operation's position in the patch.
        index: usize,
        /// The operation, e.g. `remove`.
        op: String,
        /// The pointer that did not resolve.
        path: String,
    },
    /// A JSON patch `test` operation found a different value.
    #[error("JSON patch test operation {index} failed: value at {path:?} differs")]
    TestFailed {
        /// The operation's position in the patch.
        index: usize,
        /// The pointer tested.
        path: String,
    },
    /// Strategic merge patch needs a schema, and this kind has none.
    #[error("strategic merge patch is not supported for kind {kind:?}")]
    UnsupportedKind {
        /// The kind of the patched object.
        kind: String,
    },
    /// A strategic merge patch is malformed (bad directive, missing merge key, ...).
    #[error("invalid strategic merge patch at {path:?}: {reason}")]
    InvalidPatch {
        /// Where in the object, e.g. `spec.template.spec.containers`.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl PatchError {
    /// The HTTP status Kubernetes answers with: 400 for a malformed patch, 422 when a
    /// well-formed patch does not apply to the object, 415 for an unsupported kind.
    pub fn http_status(&self) -> u16 {
        match self {
            PatchError::InvalidOperation { .. }
            | PatchError::InvalidPointer { .. }
            | PatchError::InvalidPatch { .. } => 400,
            PatchError::PathNotFound { .. } | PatchError::TestFailed { .. } => 422,
            PatchError::UnsupportedKind { .. } => 415,
        }
    }
}

// ---- RFC 7386 -------------------------------------------------------------------------

/// Applies a JSON merge patch (RFC 7386): objects merge key by key, `null` removes a
/// key, anything else (arrays included) replaces the target.
pub fn json_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                json_merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

// ---- RFC 6902 -------------------------------------------------------------------------

/// Splits an RFC 6901 pointer into unescaped tokens.
fn parse_pointer(pointer: &str) -> Result<Vec<String>, PatchError> {
    let invalid = || PatchError::InvalidPointer {
        pointer: pointer.to_owned(),
    };
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer.strip_prefix('/').ok_or_else(invalid)?;
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return Err(invalid()),
                    }
                } else {
                    out.push(c);
                }
            }
            Ok(out)
        })
        .collect()
}

/// An array index token: digits without leading zeros, below `len` (or equal to it, or
/// `-`, when `append` is allowed).
fn array_index(token: &str, len: usize, append: bool) -> Option<usize> {
    if token == "-" {
        return append.then_some(len);
    }
    let well_formed = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    if !well_formed {
        return None;
    }
    let index: usize = token.parse().ok()?;
    let bound = if append { len + 1 } else { len };
    (index < bound).then_some(index)
}

fn pointer_get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(doc, |v, token| match v {
        Value::Object(map) => map.get(token),
        Value::Array(items) => array_index(token, items.len(), false).and_then(|i| items.get(i)),
        _ => None,
    })
}

fn pointer_get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    tokens.iter().try_fold(doc, |v, token| match v {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => {
            array_index(token, items.len(), false).and_then(move |i| items.get_mut(i))
        }
        _ => None,
    })
}

/// Adds `value` at `tokens`; `None` if the parent does not exist or the index is bad.
fn pointer_add(doc: &mut Value, tokens: &[String], value: Value) -> Option<()> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Some(());
    };
    match pointer_get_mut(doc, parent)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Some(())
        }
        Value::Array(items) => {
            let index = array_index(last, items.len(), true)?;
            items.insert(index, value);
            Some(())
        }
        _ => None,
    }
}

/// Removes and returns the value at `tokens`; `None` if it does not exist.
fn pointer_remove(doc: &mut Value, tokens: &[String]) -> Option<Value> {
    let (last, parent) = tokens.split_last()?;
    match pointer_get_mut(doc, parent)? {
        Value::Object(map) => map.remove(last),
        Value::Array(items) => {
            let index = array_index(last, items.len(), false)?;
            Some(items.remove(index))
        }
        _ => None,
    }
}

/// JSON equality as RFC 6902 `test` defines it: numbers compare by value.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Applies a JSON patch (RFC 6902): `ops` must be an array of operation objects. All
/// operations apply, or none does.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let Value::Array(ops) = ops else {
        return Err(PatchError::InvalidOperation {
            index: 0,
            reason: "a JSON patch must be an array of operations".into(),
        });
    };
    let mut doc = target.clone();
    for (index, op) in ops.iter().enumerate() {
        apply_operation(&mut doc, index, op)?;
    }
    *target = doc;
    Ok(())
}

fn apply_operation(doc: &mut Value, index: usize, op: &Value) -> Result<(), PatchError> {
    let invalid = |reason: &str| PatchError::InvalidOperation {
        index,
        reason: reason.to_owned(),
    };
    let Value::Object(fields) = op else {
        return Err(invalid("an operation must be an object"));
    };
    let name = fields
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("missing \"op\""))?;
    let path = fields
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("missing \"path\""))?;
    let tokens = parse_pointer(path)?;
    let not_found = |at: &str| PatchError::PathNotFound {
        index,
        op: name.to_owned(),
        path: at.to_owned(),
    };
    let value = || {
        fields
            .get("value")
            .cloned()
            .ok_or_else(|| invalid(&format!("{name} needs a \"value\"")))
    };
    let from = || -> Result<(String, Vec<String>), PatchError> {
        let from = fields
            .get("from")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(&format!("{name} needs a \"from\"")))?;
        Ok((from.to_owned(), parse_pointer(from)?))
    };
    match name {
        "add" => pointer_add(doc, &tokens, value()?).ok_or_else(|| not_found(path)),
        "remove" => {
            if tokens.is_empty() {
                return Err(invalid("cannot remove the whole document"));
            }
            pointer_remove(doc, &tokens)
                .map(drop)
                .ok_or_else(|| not_found(path))
        }
        "replace" => {
            let value = value()?;
            let slot = pointer_get_mut(doc, &tokens).ok_or_else(|| not_found(path))?;
            *slot = value;
            Ok(())
        }
        "move" => {
            let (from_path, from_tokens) = from()?;
            if from_tokens == tokens {
                return pointer_get(doc, &tokens)
                    .map(drop)
                    .ok_or_else(|| not_found(&from_path));
            }
            if tokens.starts_with(&from_tokens) {
                return Err(invalid("cannot move a value into one of its children"));
            }
            let moved = pointer_remove(doc, &from_tokens).ok_or_else(|| not_found(&from_path))?;
            pointer_add(doc, &tokens, moved).ok_or_else(|| not_found(path))
        }
        "copy" => {
            let (from_path, from_tokens) = from()?;
            let copied = pointer_get(doc, &from_tokens)
                .cloned()
                .ok_or_else(|| not_found(&from_path))?;
            pointer_add(doc, &tokens, copied).ok_or_else(|| not_found(path))
        }
        "test" => {
            let expected = value()?;
            match pointer_get(doc, &tokens) {
                Some(actual) if json_equal(actual, &expected) => Ok(()),
                _ => Err(PatchError::TestFailed {
                    index,
                    path: path.to_owned(),
                }),
            }
        }
        other => Err(invalid(&format!("unknown op {other:?}"))),
    }
}

// ---- strategic merge patch ------------------------------------------------------------

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// Applies a strategic merge patch to an object of `kind` (`Deployment`, `Pod`, ...,
/// `Scale`). On error the target is left untouched.
pub fn strategic_merge_patch(
    target: &mut Value,
    patch: &Value,
    kind: &str,
) -> Result<(), PatchError> {
    let def = registry::type_for_kind(kind).ok_or_else(|| PatchError::UnsupportedKind {
        kind: kind.to_owned(),
    })?;
    let Value::Object(patch) = patch else {
        return Err(bad("", "a strategic merge patch must be a JSON object"));
    };
    let original = target.as_object().cloned().unwrap_or_default();
    let merged = merge_map(original, patch.clone(), Node::Struct(def), "")?;
    *target = Value::Object(merged);
    Ok(())
}

fn bad(path: &str, reason: impl Into<String>) -> PatchError {
    PatchError::InvalidPatch {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    node: Node,
    path: &str,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.remove(DIRECTIVE) {
        return match directive.as_str() {
            // The patch replaces the whole map; it is still cleaned of directives.
            Some("replace") => merge_map(Map::new(), patch, node, path),
            Some("delete") => Ok(Map::new()),
            _ => Err(bad(path, format!("unknown $patch directive {directive}"))),
        };
    }
    apply_retain_keys(&mut original, &mut patch, path)?;
    apply_element_orders(&mut original, &mut patch, node, path)?;

    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Value::Array(doomed) = value else {
                return Err(bad(&join(path, &key), "must be a list"));
            };
            if let Some(Value::Array(items)) = original.get_mut(field) {
                items.retain(|v| !doomed.contains(v));
            }
            continue;
        }
        let at = join(path, &key);
        if value.is_null() {
            original.remove(&key);
            continue;
        }
        let field = node.field(&key);
        let merged = match (original.remove(&key), value) {
            (Some(Value::Object(o)), Value::Object(p)) => {
                if field.is_some_and(|f| f.patch_strategy == "replace") {
                    Value::Object(merge_map(Map::new(), p, node.child(&key), &at)?)
                } else {
                    Value::Object(merge_map(o, p, node.child(&key), &at)?)
                }
            }
            (Some(Value::Array(o)), Value::Array(p)) => {
                Value::Array(merge_list_field(o, p, field, node.element(&key), &at)?)
            }
            // Absent, or of another JSON type: the patch's value, cleaned.
            (_, value) => fresh(value, field, node, &key, &at)?,
        };
        original.insert(key, merged);
    }
    Ok(original)
}

/// A value taken from the patch where there is nothing to merge it into: directives
/// processed (by merging into an empty value) and nulls dropped.
fn fresh(
    value: Value,
    field: Option<&'static Field>,
    node: Node,
    key: &str,
    path: &str,
) -> Result<Value, PatchError> {
    Ok(match value {
        Value::Object(p) => Value::Object(merge_map(Map::new(), p, node.child(key), path)?),
        Value::Array(p) => Value::Array(merge_list_field(
            Vec::new(),
            p,
            field,
            node.element(key),
            path,
        )?),
        scalar => scalar,
    })
}

/// Removes nulls (and, in maps, directive keys) from a value replacing a list wholesale.
fn clean(value: Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE) {
                return None;
            }
            Some(Value::Object(
                map.into_iter()
                    .filter(|(k, _)| !k.starts_with('$'))
                    .filter_map(|(k, v)| clean(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(items) => Some(Value::Array(items.into_iter().filter_map(clean).collect())),
        scalar => Some(scalar),
    }
}

/// `$retainKeys`: keys of the original not listed are dropped; every key the patch sets
/// must be listed.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    path: &str,
) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    // As in Kubernetes, any list will do; elements that are not strings name no key.
    let Value::Array(retain) = retain else {
        return Err(bad(path, "$retainKeys must be a list"));
    };
    let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
    for (key, value) in patch.iter() {
        let directive = key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || key.starts_with(SET_ELEMENT_ORDER)
            || key == DIRECTIVE;
        if !value.is_null() && !directive && !keep.contains(&key.as_str()) {
            return Err(bad(path, format!("{key:?} is not in $retainKeys")));
        }
    }
    original.retain(|k, _| keep.contains(&k.as_str()));
    Ok(())
}

/// `$setElementOrder/<field>`: merges `<field>` now and orders the result.
fn apply_element_orders(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    node: Node,
    path: &str,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        let name = &key[SET_ELEMENT_ORDER.len()..];
        let at = join(path, name);
        let Value::Array(order) = order else {
            return Err(bad(&at, "$setElementOrder must be a list"));
        };
        let field = node.field(name);
        let merge_key = field.map_or("", |f| f.merge_key);
        if !merge_key.is_empty() && order.iter().any(|o| o.get(merge_key).is_none()) {
            return Err(bad(
                &at,
                format!("every $setElementOrder element needs the merge key {merge_key:?}"),
            ));
        }
        let live = match original.get(name) {
            Some(Value::Array(items)) => Some(items.clone()),
            Some(_) => return Err(bad(&at, "not a list")),
            None => None,
        };
        let patched = match patch.remove(name) {
            Some(Value::Array(items)) => Some(items),
            Some(Value::Null) => {
                original.remove(name);
                continue;
            }
            Some(_) => return Err(bad(&at, "not a list")),
            None => None,
        };
        if let Some(patched) = &patched {
            check_element_order(patched, &order, merge_key, &at)?;
        }
        let merged = match (live.clone(), patched) {
            (Some(live), None) => live,
            (live, Some(patched)) => merge_list_field(
                live.unwrap_or_default(),
                patched,
                field,
                node.element(name),
                &at,
            )?,
            (None, None) => continue,
        };
        let (in_order, server_only) = partition(merged, &order, merge_key);
        let live = live.unwrap_or_default();
        let sorted = sort_by(in_order, &order, merge_key);
        let server_only = sort_by(server_only, &live, merge_key);
        original.insert(
            name.to_owned(),
            Value::Array(merge_sorted(server_only, sorted, &live, merge_key)),
        );
    }
    Ok(())
}

/// Kubernetes' consistency check of a patch list with its `$setElementOrder` list: the
/// elements the patch sets (deletions and other directive elements aside) must all be
/// in the order list, in the same relative order. A patch that breaks this was not
/// computed from the object it claims to order, and is refused.
fn check_element_order(
    patched: &[Value],
    order: &[Value],
    merge_key: &str,
    path: &str,
) -> Result<(), PatchError> {
    if order.is_empty() {
        return Ok(());
    }
    let mut rest = order;
    for item in patched {
        // Directive elements order nothing; elements without a merge key are refused
        // when the list is merged.
        let keyless = !merge_key.is_empty() && item.get(merge_key).is_none();
        if keyless || item.get(DIRECTIVE).is_some() {
            continue;
        }
        match position(rest, item, merge_key) {
            Some(i) => rest = &rest[i + 1..],
            None => {
                return Err(bad(
                    path,
                    "the order in the patch list does not match its $setElementOrder list",
                ))
            }
        }
    }
    Ok(())
}

/// Merges a list according to its field's strategy: element by element, or replaced.
fn merge_list_field(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: Option<&'static Field>,
    element: Node,
    path: &str,
) -> Result<Vec<Value>, PatchError> {
    match field {
        Some(f) if f.merges() => merge_list(original, patch, f.merge_key, element, path),
        _ => Ok(patch.into_iter().filter_map(clean).collect()),
    }
}

fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    element: Node,
    path: &str,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let maps = original
        .iter()
        .chain(&patch)
        .filter(|v| v.is_object())
        .count();
    if original.iter().chain(&patch).any(Value::is_array) {
        return Err(bad(path, "lists of lists cannot be merged"));
    }
    if maps == 0 {
        // A set of scalars: the union, without duplicates.
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.iter().chain(&patch) {
            if !v.is_null() && !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        let (from_patch, server_only) = partition(merged, &patch, "");
        let from_patch = sort_by(from_patch, &patch, "");
        let server_only = sort_by(server_only, &original, "");
        return Ok(merge_sorted(server_only, from_patch, &original, ""));
    }
    if maps != original.len() + patch.len() {
        return Err(bad(path, "list elements are not all of the same type"));
    }
    if merge_key.is_empty() {
        return Err(bad(path, "cannot merge lists without a merge key"));
    }

    // Elements carrying `$patch` first: deletions by key, or a replacement of the list.
    let mut original = original;
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        match item.get(DIRECTIVE).map(|d| d.as_str()) {
            None => plain.push(item),
            Some(Some("delete")) => {
                let key = item
                    .get(merge_key)
                    .ok_or_else(|| bad(path, format!("$patch: delete needs {merge_key:?}")))?;
                original.retain(|v| v.get(merge_key) != Some(key));
            }
            Some(Some("replace")) => replace = true,
            Some(Some("merge")) => {
                return Err(bad(path, "merging lists cannot be specified in the patch"))
            }
            Some(other) => {
                return Err(bad(path, format!("unknown $patch directive {other:?}")));
            }
        }
    }
    let (mut original, patch) = if replace {
        (Vec::new(), plain)
    } else {
        (original, plain)
    };
    let order = original.clone();

    for item in &patch {
        let Value::Object(fields) = item else {
            continue;
        };
        let key = fields
            .get(merge_key)
            .ok_or_else(|| bad(path, format!("element without merge key {merge_key:?}")))?;
        let at = format!("{path}[{merge_key}={key}]");
        match original.iter().position(|v| v.get(merge_key) == Some(key)) {
            Some(i) => {
                let live = match std::mem::take(&mut original[i]) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                original[i] = Value::Object(merge_map(live, fields.clone(), element, &at)?);
            }
            None => {
                let new = merge_map(Map::new(), fields.clone(), element, &at)?;
                original.push(Value::Object(new));
            }
        }
    }
    let (from_patch, server_only) = partition(original, &patch, merge_key);
    let from_patch = sort_by(from_patch, &patch, merge_key);
    let server_only = sort_by(server_only, &order, merge_key);
    Ok(merge_sorted(server_only, from_patch, &order, merge_key))
}

/// Where `item` is in `list`: by merge key for objects, by value for scalars.
fn position(list: &[Value], item: &Value, merge_key: &str) -> Option<usize> {
    if merge_key.is_empty() {
        list.iter().position(|v| v == item)
    } else {
        let key = item.get(merge_key)?;
        list.iter().position(|v| v.get(merge_key) == Some(key))
    }
}

/// Splits `items` into those present in `by` and the rest, keeping their order.
fn partition(items: Vec<Value>, by: &[Value], merge_key: &str) -> (Vec<Value>, Vec<Value>) {
    items
        .into_iter()
        .partition(|v| position(by, v, merge_key).is_some())
}

/// Orders the items found in `order` by their position there; the others follow.
fn sort_by(items: Vec<Value>, order: &[Value], merge_key: &str) -> Vec<Value> {
    let (mut known, rest) = partition(items, order, merge_key);
    known.sort_by_key(|v| position(order, v, merge_key));
    known.extend(rest);
    known
}

/// Interleaves two ordered lists, keeping each one's order; where both items are in
/// `live`, the one earlier there goes first, otherwise `right` goes first.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    live: &[Value],
    merge_key: &str,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                match (position(live, l, merge_key), position(live, r, merge_key)) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386_appendix() {
        let table = [
            (
                "replace member",
                json!({"a":"b"}),
                json!({"a":"c"}),
                json!({"a":"c"}),
            ),
            (
                "add member",
                json!({"a":"b"}),
                json!({"b":"c"}),
                json!({"a":"b","b":"c"}),
            ),
            (
                "delete member",
                json!({"a":"b"}),
                json!({"a":null}),
                json!({}),
            ),
            (
                "delete one of two",
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (
                "array by string",
                json!({"a":["b"]}),
                json!({"a":"c"}),
                json!({"a":"c"}),
            ),
            (
                "string by array",
                json!({"a":"c"}),
                json!({"a":["b"]}),
                json!({"a":["b"]}),
            ),
            (
                "nested",
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (
                "array of objects replaced",
                json!({"a":[{"b":"c"}]}),
                json!({"a":[1]}),
                json!({"a":[1]}),
            ),
            (
                "array root",
                json!(["a", "b"]),
                json!(["c", "d"]),
                json!(["c", "d"]),
            ),
            (
                "object by array",
                json!({"a":"b"}),
                json!(["c"]),
                json!(["c"]),
            ),
            ("null patch", json!({"a":"foo"}), json!(null), json!(null)),
            (
                "string patch",
                json!({"a":"foo"}),
                json!("bar"),
                json!("bar"),
            ),
            (
                "null kept in target",
                json!({"e":null}),
                json!({"a":1}),
                json!({"e":null,"a":1}),
            ),
            (
                "array target becomes object",
                json!([1, 2]),
                json!({"a":"b","c":null}),
                json!({"a":"b"}),
            ),
            (
                "nulls in new subtree dropped",
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (name, mut target, patch, want) in table {
            json_merge_patch(&mut target, &patch);
            assert_eq!(target, want, "{name}");
        }
    }

    #[test]
    fn json_patch_rfc6902_appendix() {
        let table = [
            (
                "A.1 add object member",
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/baz","value":"qux"}]),
                json!({"baz":"qux","foo":"bar"}),
            ),
            (
                "A.2 add array element",
                json!({"foo":["bar","baz"]}),
                json!([{"op":"add","path":"/foo/1","value":"qux"}]),
                json!({"foo":["bar","qux","baz"]}),
            ),
            (
                "A.3 remove object member",
                json!({"baz":"qux","foo":"bar"}),
                json!([{"op":"remove","path":"/baz"}]),
                json!({"foo":"bar"}),
            ),
            (
                "A.4 remove array element",
                json!({"foo":["bar","qux","baz"]}),
                json!([{"op":"remove","path":"/foo/1"}]),
                json!({"foo":["bar","baz"]}),
            ),
            (
                "A.5 replace",
                json!({"baz":"qux","foo":"bar"}),
                json!([{"op":"replace","path":"/baz","value":"boo"}]),
                json!({"baz":"boo","foo":"bar"}),
            ),
            (
                "A.6 move value",
                json!({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}),
                json!([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]),
                json!({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}),
            ),
            (
                "A.7 move array element",
                json!({"foo":["all","grass","cows","eat"]}),
                json!([{"op":"move","from":"/foo/1","path":"/foo/3"}]),
                json!({"foo":["all","cows","eat","grass"]}),
            ),
            (
                "A.8 test success",
                json!({"baz":"qux","foo":["a",2,"c"]}),
                json!([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]),
                json!({"baz":"qux","foo":["a",2,"c"]}),
            ),
            (
                "A.10 add nested member",
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/child","value":{"grandchild":{}}}]),
                json!({"foo":"bar","child":{"grandchild":{}}}),
            ),
            (
                "A.11 unrecognized elements ignored",
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/baz","value":"qux","xyz":123}]),
                json!({"foo":"bar","baz":"qux"}),
            ),
            (
                "A.14 escape ordering",
                json!({"/":9,"~1":10}),
                json!([{"op":"test","path":"/~01","value":10}]),
                json!({"/":9,"~1":10}),
            ),
            (
                "A.16 add array value",
                json!({"foo":["bar"]}),
                json!([{"op":"add","path":"/foo/-","value":["abc","def"]}]),
                json!({"foo":["bar",["abc","def"]]}),
            ),
            (
                "copy",
                json!({"a":{"b":1}}),
                json!([{"op":"copy","from":"/a","path":"/c"}]),
                json!({"a":{"b":1},"c":{"b":1}}),
            ),
            (
                "replace root",
                json!({"a":1}),
                json!([{"op":"replace","path":"","value":[1]}]),
                json!([1]),
            ),
            (
                "numbers equal by value",
                json!({"n":1}),
                json!([{"op":"test","path":"/n","value":1.0}]),
                json!({"n":1}),
            ),
            (
                "escaped slash",
                json!({"metadata":{"labels":{"app.kubernetes.io/name":"x"}}}),
                json!([{"op":"replace","path":"/metadata/labels/app.kubernetes.io~1name","value":"y"}]),
                json!({"metadata":{"labels":{"app.kubernetes.io/name":"y"}}}),
            ),
        ];
        for (name, mut target, ops, want) in table {
            json_patch(&mut target, &ops).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(target, want, "{name}");
        }
    }

    #[test]
    fn json_patch_failures_leave_target_unchanged() {
        let doc = json!({"foo":"bar","list":[1,2]});
        let table = [
            (
                "A.9 test error",
                json!([{"op":"test","path":"/foo","value":"baz"}]),
                422,
            ),
            (
                "A.12 add to nonexistent target",
                json!([{"op":"add","path":"/baz/bat","value":"qux"}]),
                422,
            ),
            (
                "A.15 string is not number",
                json!([{"op":"test","path":"/list/0","value":"1"}]),
                422,
            ),
            (
                "remove missing",
                json!([{"op":"remove","path":"/nope"}]),
                422,
            ),
            (
                "replace missing",
                json!([{"op":"replace","path":"/nope","value":1}]),
                422,
            ),
            (
                "index past end",
                json!([{"op":"add","path":"/list/3","value":0}]),
                422,
            ),
            (
                "leading zero",
                json!([{"op":"remove","path":"/list/01"}]),
                422,
            ),
            (
                "dash outside add",
                json!([{"op":"remove","path":"/list/-"}]),
                422,
            ),
            (
                "no leading slash",
                json!([{"op":"remove","path":"foo"}]),
                400,
            ),
            ("bad escape", json!([{"op":"remove","path":"/~2"}]), 400),
            ("missing value", json!([{"op":"add","path":"/x"}]), 400),
            ("missing from", json!([{"op":"move","path":"/x"}]), 400),
            ("unknown op", json!([{"op":"frob","path":"/x"}]), 400),
            ("not an array", json!({"op":"add"}), 400),
            (
                "move into child",
                json!([{"op":"move","from":"/list","path":"/list/0"}]),
                400,
            ),
            (
                "atomic: second op fails",
                json!([{"op":"add","path":"/new","value":1},{"op":"remove","path":"/nope"}]),
                422,
            ),
        ];
        for (name, ops, status) in table {
            let mut target = doc.clone();
            let err = json_patch(&mut target, &ops).expect_err(name);
            assert_eq!(err.http_status(), status, "{name}: {err}");
            assert_eq!(target, doc, "{name}: target changed");
        }
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}, "finalizers": ["a", "b"]},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "web",
                                "image": "nginx:1.25",
                                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                                "ports": [{"containerPort": 80}, {"containerPort": 443}]
                            },
                            {"name": "sidecar", "image": "busybox"}
                        ],
                        "tolerations": [{"key": "x", "operator": "Exists"}],
                        "volumes": [{"name": "data", "emptyDir": {}}]
                    }
                }
            }
        })
    }

    fn containers(d: &Value) -> &Value {
        &d["spec"]["template"]["spec"]["containers"]
    }

    #[test]
    fn strategic_merge_patch_table() {
        type Check = fn(&Value) -> Value;
        let table: Vec<(&str, Value, Check, Value)> = vec![
            (
                "containers merge by name",
                json!({"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:2"}]}}}}),
                |d| json!([containers(d)[0]["image"], containers(d)[1]["image"]]),
                json!(["nginx:1.25", "busybox:2"]),
            ),
            (
                // Kubernetes' ordering: patch items that the live list does not have go
                // before the server-only items (kubectl apply sends $setElementOrder).
                "new container goes first without $setElementOrder",
                json!({"spec":{"template":{"spec":{"containers":[{"name":"log","image":"x"}]}}}}),
                |d| {
                    json!(containers(d)
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c["name"].clone())
                        .collect::<Vec<_>>())
                },
                json!(["log", "web", "sidecar"]),
            ),
            (
                "env value replaced by name",
                json!({"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"B","value":"3"}]}]}}}}),
                |d| containers(d)[0]["env"].clone(),
                json!([{"name":"A","value":"1"},{"name":"B","value":"3"}]),
            ),
            (
                "env entry deleted",
                json!({"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"A","$patch":"delete"}]}]}}}}),
                |d| containers(d)[0]["env"].clone(),
                json!([{"name":"B","value":"2"}]),
            ),
            (
                "container ports by containerPort",
                json!({"spec":{"template":{"spec":{"containers":[{"name":"web","ports":[{"containerPort":443,"name":"https"}]}]}}}}),
                |d| containers(d)[0]["ports"].clone(),
                json!([{"containerPort":80},{"containerPort":443,"name":"https"}]),
            ),
            (
                "$patch delete of a container",
                json!({"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}),
                |d| json!(containers(d).as_array().unwrap().len()),
                json!(1),
            ),
            (
                "$patch replace in a list",
                json!({"spec":{"template":{"spec":{"containers":[{"name":"only","image":"i"},{"$patch":"replace"}]}}}}),
                |d| containers(d).clone(),
                json!([{"name":"only","image":"i"}]),
            ),
            (
                "$patch replace of a map",
                json!({"spec":{"selector":{"$patch":"replace","matchLabels":{"run":"x"}}}}),
                |d| d["spec"]["selector"].clone(),
                json!({"matchLabels":{"run":"x"}}),
            ),
            (
                // What `kubectl rollout undo` sends for a DaemonSet or StatefulSet: a
                // ControllerRevision's data, replacing the template whole.
                "a revision's template patch replaces the template",
                json!({"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"old"}},
                    "spec":{"containers":[{"image":"nginx:1.0","name":"web"}]}}}}),
                |d| d["spec"]["template"].clone(),
                json!({"metadata":{"labels":{"app":"old"}},
                    "spec":{"containers":[{"image":"nginx:1.0","name":"web"}]}}),
            ),
            (
                "$patch delete of a map empties it",
                json!({"spec":{"template":{"metadata":{"$patch":"delete"}}}}),
                |d| d["spec"]["template"]["metadata"].clone(),
                json!({}),
            ),
            (
                "null deletes a label",
                json!({"metadata":{"labels":{"tier":null,"new":"yes"}}}),
                |d| d["metadata"]["labels"].clone(),
                json!({"app":"web","new":"yes"}),
            ),
            (
                "tolerations replaced",
                json!({"spec":{"template":{"spec":{"tolerations":[{"key":"y"}]}}}}),
                |d| d["spec"]["template"]["spec"]["tolerations"].clone(),
                json!([{"key":"y"}]),
            ),
            (
                "finalizers merged as a set",
                json!({"metadata":{"finalizers":["b","c"]}}),
                |d| d["metadata"]["finalizers"].clone(),
                json!(["a", "b", "c"]),
            ),
            (
                "$deleteFromPrimitiveList",
                json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}),
                |d| d["metadata"]["finalizers"].clone(),
                json!(["b"]),
            ),
            (
                "$setElementOrder reorders",
                json!({"spec":{"template":{"spec":{
                    "$setElementOrder/containers":[{"name":"sidecar"},{"name":"web"}],
                    "containers":[{"name":"web","image":"nginx:1.26"}]}}}}),
                |d| {
                    json!([
                        containers(d)[0]["name"],
                        containers(d)[1]["name"],
                        containers(d)[1]["image"]
                    ])
                },
                json!(["sidecar", "web", "nginx:1.26"]),
            ),
            (
                "$setElementOrder places a new container",
                json!({"spec":{"template":{"spec":{
                    "$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"},{"name":"log"}],
                    "containers":[{"name":"log","image":"x"}]}}}}),
                |d| {
                    json!(containers(d)
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c["name"].clone())
                        .collect::<Vec<_>>())
                },
                json!(["web", "sidecar", "log"]),
            ),
            (
                "$retainKeys drops the other strategy",
                json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}),
                |d| d["spec"]["strategy"].clone(),
                json!({"type":"Recreate"}),
            ),
            (
                "$retainKeys in a volume",
                json!({"spec":{"template":{"spec":{"volumes":[
                    {"$retainKeys":["hostPath","name"],"name":"data","hostPath":{"path":"/x"}}]}}}}),
                |d| d["spec"]["template"]["spec"]["volumes"].clone(),
                json!([{"name":"data","hostPath":{"path":"/x"}}]),
            ),
            (
                "kubectl apply patch",
                json!({
                    "metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"}},
                    "spec":{"replicas":3,"template":{"spec":{
                        "$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}],
                        "containers":[{"image":"nginx:1.27","name":"web",
                            "$setElementOrder/env":[{"name":"A"},{"name":"B"}]}]}}}
                }),
                |d| {
                    json!([
                        d["spec"]["replicas"],
                        containers(d)[0]["image"],
                        containers(d)[0]["env"][1]["name"],
                        d["metadata"]["annotations"].as_object().unwrap().len()
                    ])
                },
                json!([3, "nginx:1.27", "B", 1]),
            ),
            (
                "directives do not leak into new subtrees",
                json!({"spec":{"template":{"spec":{"initContainers":[
                    {"name":"init","image":"x","env":[{"name":"gone","$patch":"delete"},{"name":"K","value":null}]}]}}}}),
                |d| d["spec"]["template"]["spec"]["initContainers"].clone(),
                json!([{"name":"init","image":"x","env":[{"name":"K"}]}]),
            ),
        ];
        for (name, patch, check, want) in table {
            let mut target = deployment();
            strategic_merge_patch(&mut target, &patch, "Deployment")
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(check(&target), want, "{name}");
        }
    }

    #[test]
    fn strategic_merge_patch_service_ports_by_port() {
        let mut svc = json!({
            "kind": "Service",
            "spec": {"selector": {"app": "web"}, "ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443}
            ]}
        });
        let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 8443, "name": "alt"}]}});
        strategic_merge_patch(&mut svc, &patch, "Service").unwrap();
        assert_eq!(
            svc["spec"]["ports"],
            json!([
                {"name": "http", "port": 80, "targetPort": 9090},
                {"name": "alt", "port": 8443},
                {"name": "https", "port": 443}
            ])
        );
    }

    /// The patches kubectl 1.36/1.37 computes for `kubectl apply` after each edit of a
    /// manifest (three-way strategic merge patches: `$setElementOrder` for every merged
    /// list it sends, `$patch: delete` for removed elements, `null` for removed keys),
    /// applied in turn; after each the object is what kube-apiserver produces.
    #[test]
    fn kubectl_apply_steps() {
        fn names(d: &Value) -> Vec<Value> {
            containers(d)
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].clone())
                .collect()
        }
        type Check = fn(&Value) -> Value;
        let steps: Vec<(&str, Value, Check, Value)> = vec![
            (
                "changed env value",
                json!({"spec":{"template":{"spec":{
                    "$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}],
                    "containers":[{"$setElementOrder/env":[{"name":"A"},{"name":"B"}],
                        "env":[{"name":"B","value":"3"}],"name":"web"}]}}}}),
                |d| containers(d)[0]["env"].clone(),
                json!([{"name":"A","value":"1"},{"name":"B","value":"3"}]),
            ),
            (
                "added container",
                json!({"spec":{"template":{"spec":{
                    "$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"},{"name":"log"}],
                    "containers":[{"image":"busybox","name":"log"}]}}}}),
                |d| containers(d).clone(),
                json!([
                    {"name":"web","image":"nginx:1.25",
                     "env":[{"name":"A","value":"1"},{"name":"B","value":"3"}],
                     "ports":[{"containerPort":80},{"containerPort":443}]},
                    {"name":"sidecar","image":"busybox"},
                    {"name":"log","image":"busybox"}
                ]),
            ),
            (
                "removed container",
                json!({"spec":{"template":{"spec":{
                    "$setElementOrder/containers":[{"name":"web"},{"name":"log"}],
                    "containers":[{"$patch":"delete","name":"sidecar"}]}}}}),
                |d| json!(names(d)),
                json!(["web", "log"]),
            ),
            (
                "reordered ports",
                json!({"spec":{"template":{"spec":{
                    "$setElementOrder/containers":[{"name":"web"},{"name":"log"}],
                    "containers":[{"$setElementOrder/ports":[{"containerPort":443},{"containerPort":80}],
                        "name":"web"}]}}}}),
                |d| containers(d)[0]["ports"].clone(),
                json!([{"containerPort":443},{"containerPort":80}]),
            ),
            (
                "removed label",
                json!({"metadata":{"labels":{"tier":null}}}),
                |d| d["metadata"]["labels"].clone(),
                json!({"app":"web"}),
            ),
            (
                "changed annotation",
                json!({"metadata":{"annotations":{"team":"b"}}}),
                |d| d["metadata"]["annotations"].clone(),
                json!({"team":"b"}),
            ),
            (
                "removed the last env entry and added one",
                json!({"spec":{"template":{"spec":{
                    "$setElementOrder/containers":[{"name":"web"},{"name":"log"}],
                    "containers":[{"$setElementOrder/env":[{"name":"C"},{"name":"A"}],
                        "env":[{"name":"C","value":"c"},{"$patch":"delete","name":"B"}],
                        "name":"web"}]}}}}),
                |d| containers(d)[0]["env"].clone(),
                json!([{"name":"C","value":"c"},{"name":"A","value":"1"}]),
            ),
        ];
        let mut live = deployment();
        live["metadata"]["annotations"] = json!({"team": "a"});
        for (name, patch, check, want) in steps {
            strategic_merge_patch(&mut live, &patch, "Deployment")
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(check(&live), want, "{name}");
            assert!(
                !live.to_string().contains('$'),
                "{name}: a directive leaked: {live}"
            );
        }
    }

    #[test]
    fn retain_keys_ignores_elements_that_are_not_strings() {
        let mut d = deployment();
        let patch = json!({"spec":{"strategy":{"$retainKeys":[1,"type"],"type":"Recreate"}}});
        strategic_merge_patch(&mut d, &patch, "Deployment").unwrap();
        assert_eq!(d["spec"]["strategy"], json!({"type":"Recreate"}));
    }

    #[test]
    fn strategic_merge_patch_errors() {
        let table = [
            ("unknown kind", json!({}), "NoSuchKind", 415),
            ("not an object", json!([1]), "Pod", 400),
            (
                "bad directive",
                json!({"metadata":{"$patch":"frob"}}),
                "Pod",
                400,
            ),
            (
                "missing merge key",
                json!({"spec":{"containers":[{"image":"x"}]}}),
                "Pod",
                400,
            ),
            (
                "delete without merge key",
                json!({"spec":{"containers":[{"$patch":"delete"}]}}),
                "Pod",
                400,
            ),
            (
                "key outside $retainKeys",
                json!({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{}}}}),
                "Deployment",
                400,
            ),
            (
                "$retainKeys not a list",
                json!({"spec":{"strategy":{"$retainKeys":"type","type":"Recreate"}}}),
                "Deployment",
                400,
            ),
            (
                "patch list out of $setElementOrder's order",
                json!({"spec":{
                    "$setElementOrder/containers":[{"name":"a"},{"name":"b"}],
                    "containers":[{"name":"b","image":"x"},{"name":"a","image":"y"}]}}),
                "Pod",
                400,
            ),
            (
                "patch list element missing from $setElementOrder",
                json!({"spec":{
                    "$setElementOrder/containers":[{"name":"a"}],
                    "containers":[{"name":"c","image":"x"}]}}),
                "Pod",
                400,
            ),
            (
                "$setElementOrder element without the merge key",
                json!({"spec":{"$setElementOrder/containers":[{"image":"a"}]}}),
                "Pod",
                400,
            ),
        ];
        let pod = json!({"spec":{"containers":[{"name":"a"}]}});
        for (name, patch, kind, status) in table {
            let mut target = pod.clone();
            let err = strategic_merge_patch(&mut target, &patch, kind).expect_err(name);
            assert_eq!(err.http_status(), status, "{name}: {err}");
            assert_eq!(target, pod, "{name}: target changed");
        }
    }

    #[test]
    fn strategic_merge_patch_on_scale_and_status() {
        let mut scale = json!({"kind":"Scale","spec":{"replicas":1},"status":{"replicas":1}});
        strategic_merge_patch(&mut scale, &json!({"spec":{"replicas":5}}), "Scale").unwrap();
        assert_eq!(scale["spec"]["replicas"], 5);

        let mut pod = json!({"status":{"conditions":[
            {"type":"Ready","status":"False"},{"type":"PodScheduled","status":"True"}]}});
        let patch = json!({"status":{"conditions":[{"type":"Ready","status":"True"}]}});
        strategic_merge_patch(&mut pod, &patch, "Pod").unwrap();
        assert_eq!(
            pod["status"]["conditions"],
            json!([{"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}])
        );
    }
}
