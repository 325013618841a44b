//! OpenAPI v3 as kube-apiserver serves it: the index at `/openapi/v3` ([`index`]) and one
//! document per group-version at `/openapi/v3/api/v1`, `/openapi/v3/apis/apps/v1`, ...
//! ([`document`]), rendered from the schema model in [`super::registry`].
//!
//! kubectl depends on three details, which the tests check the way kubectl reads them:
//!
//! - every top-level kind's schema carries `x-kubernetes-group-version-kind` (a list), and
//!   lists carry `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key` on the
//!   property itself; struct-typed properties are `{"allOf": [{"$ref": ...}]}` so that a
//!   description can sit beside the reference. `kubectl apply` computes its strategic
//!   merge patch from these.
//! - every `PATCH` operation carries `x-kubernetes-group-version-kind` (one object),
//!   accepts `application/strategic-merge-patch+json`, and lists the `fieldValidation`
//!   query parameter. Finding that parameter is how kubectl (`--validate=strict`, its
//!   default) decides the server validates fields itself; otherwise it falls back to
//!   client-side validation against `/openapi/v2`, which Rudder does not serve.
//! - the index names each document by a `serverRelativeURL` with a content hash; the HTTP
//!   layer may mark responses for a matching `?hash=` as immutable.
//!
//! Not described: watch paths under `/watch/` (deprecated; kubectl uses `?watch=true`),
//! server-side apply (`application/apply-patch+yaml` is not listed), protobuf.
//! Documents are built once and cached for the life of the process.

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use super::discovery::git_version;
use super::registry::{
    self, group_version, Field, ResourceInfo, Shape, Subresource, Ty, TypeDef, DELETE_OPTIONS,
    LIST_META, OBJECT_META, PATCH, STATUS,
};

const REF_PREFIX: &str = "#/components/schemas/";

/// The patch media types Rudder accepts, as listed in every `PATCH` operation.
pub const PATCH_CONTENT_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("{REF_PREFIX}{name}") })
}

/// `{"allOf": [{"$ref": ...}]}`: how Kubernetes refers to a schema beside other keys.
fn all_of(name: &str) -> Value {
    json!({ "allOf": [schema_ref(name)] })
}

/// The schema of a list element or map value.
fn element_schema(ty: &Ty) -> Value {
    match ty {
        Ty::Object(r) if matches!(r.get().shape, Shape::Struct(_)) => {
            let mut s = all_of(r.name());
            s["default"] = json!({});
            s
        }
        Ty::Object(r) => schema_ref(r.name()),
        other => value_schema(other),
    }
}

/// The schema of a value of this type, without description.
fn value_schema(ty: &Ty) -> Value {
    match ty {
        Ty::String => json!({"type": "string"}),
        Ty::Int32 => json!({"type": "integer", "format": "int32"}),
        Ty::Int64 => json!({"type": "integer", "format": "int64"}),
        Ty::Bool => json!({"type": "boolean"}),
        Ty::Bytes => json!({"type": "string", "format": "byte"}),
        Ty::Enum(values) => json!({"type": "string", "enum": values}),
        Ty::Object(r) => all_of(r.name()),
        Ty::Array(inner) => json!({"type": "array", "items": element_schema(inner)}),
        Ty::Map(inner) => json!({"type": "object", "additionalProperties": element_schema(inner)}),
    }
}

/// The property schema of a field, with its list and patch extensions.
fn property(f: &Field) -> Value {
    let mut p = value_schema(&f.ty);
    p["description"] = json!(f.description);
    if !f.list_type.is_empty() {
        p["x-kubernetes-list-type"] = json!(f.list_type);
    }
    if !f.list_map_keys.is_empty() {
        p["x-kubernetes-list-map-keys"] = json!(f.list_map_keys);
    }
    if !f.merge_key.is_empty() {
        p["x-kubernetes-patch-merge-key"] = json!(f.merge_key);
    }
    if !f.patch_strategy.is_empty() {
        p["x-kubernetes-patch-strategy"] = json!(f.patch_strategy);
    }
    p
}

fn gvk_value(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

/// The component schema of a named type.
fn component(def: &TypeDef) -> Value {
    let mut s = match def.shape {
        Shape::Struct(fields) => {
            let properties: Map<String, Value> = fields
                .iter()
                .map(|f| (f.name.to_owned(), property(f)))
                .collect();
            let mut s = json!({"type": "object", "properties": properties});
            let required: Vec<&str> = fields
                .iter()
                .filter(|f| f.required)
                .map(|f| f.name)
                .collect();
            if !required.is_empty() {
                s["required"] = json!(required);
            }
            s
        }
        Shape::FormattedString(format) => json!({"type": "string", "format": format}),
        Shape::Quantity => json!({"oneOf": [{"type": "string"}, {"type": "number"}]}),
        Shape::IntOrString => json!({
            "format": "int-or-string",
            "oneOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": true,
        }),
        Shape::AnyObject => json!({"type": "object"}),
    };
    s["description"] = json!(def.description);
    if let Some(gvk) = def.gvk {
        s["x-kubernetes-group-version-kind"] = json!([gvk_value(gvk.group, gvk.version, gvk.kind)]);
    }
    s
}

/// The component schema of `<Kind>List`.
fn list_component(r: &ResourceInfo) -> Value {
    json!({
        "description": format!("{} is a list of {}.", r.list_kind(), r.kind),
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "description": "The versioned schema of this representation of an object."},
            "kind": {"type": "string", "description": "The REST resource this object represents."},
            "items": {
                "type": "array",
                "items": {"allOf": [schema_ref(r.schema)], "default": {}},
                "description": format!("The {}.", r.plural),
            },
            "metadata": {"allOf": [schema_ref(LIST_META)], "default": {}, "description": "Standard list metadata."},
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": [gvk_value(r.group, r.version, &r.list_kind())],
    })
}

// ---- paths ----------------------------------------------------------------------------

fn param(name: &str, location: &str, ty: &str, description: &str) -> Value {
    let mut p = json!({
        "name": name,
        "in": location,
        "description": description,
        "schema": {"type": ty, "uniqueItems": true},
    });
    if location == "path" {
        p["required"] = json!(true);
    }
    p
}

fn pretty() -> Value {
    param(
        "pretty",
        "query",
        "string",
        "If 'true', then the output is pretty printed.",
    )
}

fn namespace_param() -> Value {
    param(
        "namespace",
        "path",
        "string",
        "object name and auth scope, such as for teams and projects",
    )
}

fn list_params() -> Vec<Value> {
    vec![
        param(
            "allowWatchBookmarks",
            "query",
            "boolean",
            "Ask for BOOKMARK events on a watch: the end of the initial events, then about once a minute.",
        ),
        param(
            "continue",
            "query",
            "string",
            "The continue token of the previous page.",
        ),
        param(
            "fieldSelector",
            "query",
            "string",
            "Restrict the list by fields, e.g. `metadata.name=web`.",
        ),
        param(
            "labelSelector",
            "query",
            "string",
            "Restrict the list by labels, e.g. `app=web`.",
        ),
        param(
            "limit",
            "query",
            "integer",
            "The most items to return; more can be fetched with continue.",
        ),
        param(
            "resourceVersion",
            "query",
            "string",
            "Which version of the state to serve, or to watch from.",
        ),
        param(
            "resourceVersionMatch",
            "query",
            "string",
            "How resourceVersion applies: Exact or NotOlderThan.",
        ),
        param(
            "sendInitialEvents",
            "query",
            "boolean",
            "Start a watch with the current state as ADDED events, ended by a BOOKMARK annotated `k8s.io/initial-events-end` when bookmarks are allowed; needs resourceVersionMatch=NotOlderThan.",
        ),
        param(
            "timeoutSeconds",
            "query",
            "integer",
            "Timeout of the list or watch call.",
        ),
        param(
            "watch",
            "query",
            "boolean",
            "Watch for changes instead of listing.",
        ),
    ]
}

fn write_params() -> Vec<Value> {
    vec![
        param("dryRun", "query", "string", "When present, modifications are not persisted. Valid value: All."),
        param("fieldManager", "query", "string", "The name of the actor making the change."),
        param(
            "fieldValidation",
            "query",
            "string",
            "How to treat unknown or duplicate fields: Ignore, Warn (default) or Strict (reject the request).",
        ),
    ]
}

fn delete_params() -> Vec<Value> {
    vec![
        param(
            "dryRun",
            "query",
            "string",
            "When present, modifications are not persisted. Valid value: All.",
        ),
        param(
            "gracePeriodSeconds",
            "query",
            "integer",
            "Seconds before the object is deleted; zero means immediately.",
        ),
        param(
            "propagationPolicy",
            "query",
            "string",
            "Orphan, Background or Foreground.",
        ),
    ]
}

fn content(schema: Value, types: &[&str]) -> Value {
    let map: Map<String, Value> = types
        .iter()
        .map(|t| ((*t).to_owned(), json!({"schema": schema.clone()})))
        .collect();
    Value::Object(map)
}

const JSON_TYPES: &[&str] = &["application/json", "application/yaml"];

fn responses(schema_name: &str, codes: &[(&str, &str)]) -> Value {
    let mut r = Map::new();
    for (code, description) in codes {
        r.insert(
            (*code).to_owned(),
            json!({"description": description, "content": content(schema_ref(schema_name), JSON_TYPES)}),
        );
    }
    r.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(r)
}

const OK: &[(&str, &str)] = &[("200", "OK")];
const OK_CREATED: &[(&str, &str)] = &[("200", "OK"), ("201", "Created")];
const OK_CREATED_ACCEPTED: &[(&str, &str)] =
    &[("200", "OK"), ("201", "Created"), ("202", "Accepted")];
const OK_ACCEPTED: &[(&str, &str)] = &[("200", "OK"), ("202", "Accepted")];

/// `CoreV1`, `AppsV1`, `CoordinationV1`: how operation ids name a group-version.
fn op_prefix(group: &str, version: &str) -> String {
    let group = match group.split('.').next() {
        Some("") | None => "core",
        Some(g) => g,
    };
    format!("{}{}", capitalize(group), capitalize(version))
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `core_v1`, `apps_v1`, `coordination_v1`.
fn tag(group: &str, version: &str) -> String {
    let group = match group.split('.').next() {
        Some("") | None => "core",
        Some(g) => g,
    };
    format!("{group}_{version}")
}

struct Op<'a> {
    action: &'a str,
    description: String,
    id: String,
    gvk: Value,
    parameters: Vec<Value>,
    body: Option<Value>,
    responses: Value,
}

impl Op<'_> {
    fn render(self, tag: &str) -> Value {
        let mut op = json!({
            "description": self.description,
            "operationId": self.id,
            "responses": self.responses,
            "tags": [tag],
            "x-kubernetes-action": self.action,
            "x-kubernetes-group-version-kind": self.gvk,
        });
        if !self.parameters.is_empty() {
            op["parameters"] = json!(self.parameters);
        }
        if let Some(body) = self.body {
            op["requestBody"] = body;
        }
        op
    }
}

fn body_of(schema_name: &str) -> Value {
    json!({"content": content(schema_ref(schema_name), &["*/*"]), "required": true})
}

fn patch_body() -> Value {
    json!({"content": content(schema_ref(PATCH), PATCH_CONTENT_TYPES), "required": true})
}

fn delete_body() -> Value {
    json!({"content": content(schema_ref(DELETE_OPTIONS), &["*/*"])})
}

/// Adds the paths of one resource and returns the schemas they refer to.
fn resource_paths(r: &ResourceInfo, paths: &mut Map<String, Value>) -> Vec<&'static str> {
    let base = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    let prefix = op_prefix(r.group, r.version);
    let tag = tag(r.group, r.version);
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let gvk = gvk_value(r.group, r.version, r.kind);
    let mut refs = vec![r.schema, STATUS, DELETE_OPTIONS, PATCH];
    let verbs = r.verbs;
    let has = |v: &str| verbs.contains(&v);
    let name_param = param("name", "path", "string", &format!("name of the {}", r.kind));
    let scope_params = || {
        let mut p = Vec::new();
        if r.namespaced {
            p.push(namespace_param());
        }
        p.push(pretty());
        p
    };

    let collection = if r.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{base}/{}", r.plural)
    };
    let mut item = Map::new();
    let mut coll = Map::new();
    if has("list") {
        coll.insert(
            "get".into(),
            Op {
                action: "list",
                description: format!("list or watch objects of kind {}", r.kind),
                id: format!("list{prefix}{scope}{}", r.kind),
                gvk: gvk.clone(),
                parameters: list_params(),
                body: None,
                responses: {
                    let mut types = JSON_TYPES.to_vec();
                    types.push("application/json;stream=watch");
                    json!({
                        "200": {"description": "OK", "content": content(schema_ref(&format!("{}List", r.schema)), &types)},
                        "401": {"description": "Unauthorized"},
                    })
                },
            }
            .render(&tag),
        );
        if r.namespaced {
            let mut all = Map::new();
            all.insert(
                "get".into(),
                Op {
                    action: "list",
                    description: format!("list or watch objects of kind {}", r.kind),
                    id: format!("list{prefix}{}ForAllNamespaces", r.kind),
                    gvk: gvk.clone(),
                    parameters: list_params(),
                    body: None,
                    responses: responses(&format!("{}List", r.schema), OK),
                }
                .render(&tag),
            );
            all.insert("parameters".into(), json!([pretty()]));
            paths.insert(format!("{base}/{}", r.plural), Value::Object(all));
        }
    }
    if has("create") {
        coll.insert(
            "post".into(),
            Op {
                action: "post",
                description: format!("create a {}", r.kind),
                id: format!("create{prefix}{scope}{}", r.kind),
                gvk: gvk.clone(),
                parameters: write_params(),
                body: Some(body_of(r.schema)),
                responses: responses(r.schema, OK_CREATED_ACCEPTED),
            }
            .render(&tag),
        );
    }
    if has("deletecollection") {
        let mut parameters = delete_params();
        parameters.extend(list_params());
        coll.insert(
            "delete".into(),
            Op {
                action: "deletecollection",
                description: format!("delete collection of {}", r.kind),
                id: format!("delete{prefix}Collection{scope}{}", r.kind),
                gvk: gvk.clone(),
                parameters,
                body: Some(delete_body()),
                responses: responses(STATUS, OK),
            }
            .render(&tag),
        );
    }
    if !coll.is_empty() {
        coll.insert("parameters".into(), json!(scope_params()));
        paths.insert(collection.clone(), Value::Object(coll));
    }

    let item_path = format!("{collection}/{{name}}");
    if has("get") {
        item.insert(
            "get".into(),
            Op {
                action: "get",
                description: format!("read the specified {}", r.kind),
                id: format!("read{prefix}{scope}{}", r.kind),
                gvk: gvk.clone(),
                parameters: vec![],
                body: None,
                responses: responses(r.schema, OK),
            }
            .render(&tag),
        );
    }
    if has("update") {
        item.insert(
            "put".into(),
            Op {
                action: "put",
                description: format!("replace the specified {}", r.kind),
                id: format!("replace{prefix}{scope}{}", r.kind),
                gvk: gvk.clone(),
                parameters: write_params(),
                body: Some(body_of(r.schema)),
                responses: responses(r.schema, OK_CREATED),
            }
            .render(&tag),
        );
    }
    if has("patch") {
        let mut parameters = write_params();
        parameters.push(param(
            "force",
            "query",
            "boolean",
            "Force an apply request; must be unset for other patches.",
        ));
        item.insert(
            "patch".into(),
            Op {
                action: "patch",
                description: format!("partially update the specified {}", r.kind),
                id: format!("patch{prefix}{scope}{}", r.kind),
                gvk: gvk.clone(),
                parameters,
                body: Some(patch_body()),
                responses: responses(r.schema, OK_CREATED),
            }
            .render(&tag),
        );
    }
    if has("delete") {
        item.insert(
            "delete".into(),
            Op {
                action: "delete",
                description: format!("delete a {}", r.kind),
                id: format!("delete{prefix}{scope}{}", r.kind),
                gvk: gvk.clone(),
                parameters: delete_params(),
                body: Some(delete_body()),
                responses: responses(STATUS, OK_ACCEPTED),
            }
            .render(&tag),
        );
    }
    if !item.is_empty() {
        let mut p = vec![name_param.clone()];
        p.extend(scope_params());
        item.insert("parameters".into(), json!(p));
        paths.insert(item_path.clone(), Value::Object(item));
    }

    for s in r.subresources {
        let sub = subresource_ops(r, s, &prefix, scope, &tag);
        if let Some((ops, schema)) = sub {
            let mut ops = ops;
            let mut p = vec![name_param.clone()];
            p.extend(scope_params());
            ops.insert("parameters".into(), json!(p));
            paths.insert(format!("{item_path}/{}", s.name), Value::Object(ops));
            refs.push(schema);
        }
    }
    refs
}

/// The schema name of a subresource's kind.
fn subresource_schema(s: &Subresource) -> Option<&'static str> {
    registry::types()
        .find(|t| {
            t.gvk
                .is_some_and(|g| g.group == s.group && g.version == s.version && g.kind == s.kind)
        })
        .map(|t| t.name)
}

fn subresource_ops(
    r: &ResourceInfo,
    s: &Subresource,
    prefix: &str,
    scope: &str,
    tag: &str,
) -> Option<(Map<String, Value>, &'static str)> {
    let schema = subresource_schema(s)?;
    let gvk = gvk_value(s.group, s.version, s.kind);
    let suffix = capitalize(s.name);
    let what = s.name;
    let mut ops = Map::new();
    for verb in s.verbs {
        let (method, op) = match *verb {
            "get" if s.name == "log" => (
                "get",
                Op {
                    action: "get",
                    description: format!("read log of the specified {}", r.kind),
                    id: format!("read{prefix}{scope}{}{suffix}", r.kind),
                    gvk: gvk.clone(),
                    parameters: vec![
                        param(
                            "container",
                            "query",
                            "string",
                            "The container to stream logs from.",
                        ),
                        param("follow", "query", "boolean", "Follow the log stream."),
                        param(
                            "previous",
                            "query",
                            "boolean",
                            "The logs of the previous, terminated container.",
                        ),
                        param(
                            "sinceSeconds",
                            "query",
                            "integer",
                            "Only logs newer than this many seconds.",
                        ),
                        param(
                            "tailLines",
                            "query",
                            "integer",
                            "Only this many lines from the end.",
                        ),
                        param(
                            "timestamps",
                            "query",
                            "boolean",
                            "Prefix every line with its timestamp.",
                        ),
                        param(
                            "limitBytes",
                            "query",
                            "integer",
                            "Stop after this many bytes.",
                        ),
                    ],
                    body: None,
                    responses: json!({
                        "200": {"description": "OK", "content": content(json!({"type": "string"}), &["text/plain", "application/json", "application/yaml"])},
                        "401": {"description": "Unauthorized"},
                    }),
                },
            ),
            "get" => (
                "get",
                Op {
                    action: "get",
                    description: format!("read {what} of the specified {}", r.kind),
                    id: format!("read{prefix}{scope}{}{suffix}", r.kind),
                    gvk: gvk.clone(),
                    parameters: vec![],
                    body: None,
                    responses: responses(schema, OK),
                },
            ),
            "update" => (
                "put",
                Op {
                    action: "put",
                    description: format!("replace {what} of the specified {}", r.kind),
                    id: format!("replace{prefix}{scope}{}{suffix}", r.kind),
                    gvk: gvk.clone(),
                    parameters: write_params(),
                    body: Some(body_of(schema)),
                    responses: responses(schema, OK_CREATED),
                },
            ),
            "patch" => {
                let mut parameters = write_params();
                parameters.push(param(
                    "force",
                    "query",
                    "boolean",
                    "Force an apply request.",
                ));
                (
                    "patch",
                    Op {
                        action: "patch",
                        description: format!("partially update {what} of the specified {}", r.kind),
                        id: format!("patch{prefix}{scope}{}{suffix}", r.kind),
                        gvk: gvk.clone(),
                        parameters,
                        body: Some(patch_body()),
                        responses: responses(schema, OK_CREATED),
                    },
                )
            }
            "create" => (
                "post",
                Op {
                    action: "post",
                    description: format!("create {what} of a {}", r.kind),
                    id: format!("create{prefix}{scope}{}{suffix}", r.kind),
                    gvk: gvk.clone(),
                    parameters: write_params(),
                    body: Some(body_of(schema)),
                    responses: responses(schema, OK_CREATED_ACCEPTED),
                },
            ),
            _ => continue,
        };
        ops.insert(method.into(), op.render(tag));
    }
    Some((ops, schema))
}

/// `api/v1` or `apis/<group>/<version>`: the key of a document in the index.
pub fn document_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Builds the OpenAPI v3 document of a group-version (uncached), or `None` if it is not
/// served.
pub fn build_document(group: &str, version: &str) -> Option<Value> {
    let resources: Vec<&'static ResourceInfo> = registry::resources_in(group, version).collect();
    if resources.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut roots = vec![LIST_META];
    for r in &resources {
        roots.extend(resource_paths(r, &mut paths));
    }
    let mut schemas = Map::new();
    for name in registry::closure(&roots) {
        if let Some(def) = registry::type_def(name) {
            schemas.insert(name.to_owned(), component(def));
        }
    }
    for r in &resources {
        schemas.insert(format!("{}List", r.schema), list_component(r));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": git_version()},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// A document, its index path and its hash.
struct Cached {
    group: &'static str,
    version: &'static str,
    document: Value,
    hash: String,
}

fn cache() -> &'static [Cached] {
    static DOCS: OnceLock<Vec<Cached>> = OnceLock::new();
    DOCS.get_or_init(|| {
        registry::GROUP_VERSIONS
            .iter()
            .filter_map(|(group, version)| {
                let document = build_document(group, version)?;
                let hash = content_hash(&document);
                Some(Cached {
                    group,
                    version,
                    document,
                    hash,
                })
            })
            .collect()
    })
}

/// The OpenAPI v3 document of a group-version, built once.
pub fn document(group: &str, version: &str) -> Option<&'static Value> {
    cache()
        .iter()
        .find(|c| c.group == group && c.version == version)
        .map(|c| &c.document)
}

/// The document at an index path such as `api/v1` or `apis/apps/v1`.
pub fn document_at(path: &str) -> Option<&'static Value> {
    let path = path.trim_matches('/');
    cache()
        .iter()
        .find(|c| document_path(c.group, c.version) == path)
        .map(|c| &c.document)
}

/// The content hash of a group-version's document, as used in `?hash=`.
pub fn document_hash(group: &str, version: &str) -> Option<&'static str> {
    cache()
        .iter()
        .find(|c| c.group == group && c.version == version)
        .map(|c| c.hash.as_str())
}

/// The `/openapi/v3` index: `{"paths": {"api/v1": {"serverRelativeURL": ...}, ...}}`,
/// the custom group-versions (built from the CRDs served now) included.
pub fn index() -> Value {
    let mut paths: Map<String, Value> = cache()
        .iter()
        .map(|c| {
            let path = document_path(c.group, c.version);
            let url = format!("/openapi/v3/{path}?hash={}", c.hash);
            (path, json!({"serverRelativeURL": url}))
        })
        .collect();
    for (group, version) in custom_group_versions() {
        if let Some(document) = custom_document(group, version) {
            let path = document_path(group, version);
            let url = format!("/openapi/v3/{path}?hash={}", content_hash(&document));
            paths.insert(path, json!({"serverRelativeURL": url}));
        }
    }
    json!({ "paths": paths })
}

/// The group-versions CRDs add (the CRD resource's own included).
fn custom_group_versions() -> Vec<(&'static str, &'static str)> {
    registry::group_versions()
        .into_iter()
        .filter(|gv| !registry::GROUP_VERSIONS.contains(gv))
        .collect()
}

/// The OpenAPI v3 document of a group-version CRDs define (or of the CRD resource's
/// own), built from what is served now: CRDs come and go, so it is never cached. A
/// custom kind's schema is its version's `openAPIV3Schema` with `apiVersion`, `kind`
/// and `metadata` added, as kube-apiserver publishes it.
pub fn custom_document(group: &str, version: &str) -> Option<Value> {
    if !custom_group_versions().contains(&(group, version)) {
        return None;
    }
    let resources = super::crd::registry::resources_in(group, version);
    let mut paths = Map::new();
    let mut roots = vec![LIST_META, OBJECT_META];
    for r in &resources {
        roots.extend(resource_paths(r, &mut paths));
    }
    let mut schemas = Map::new();
    for name in registry::closure(&roots) {
        if let Some(def) = registry::type_def(name) {
            schemas.insert(name.to_owned(), component(def));
        }
    }
    for r in &resources {
        let mut schema = super::crd::registry::custom(r.group, r.version, r.plural)
            .map(|k| k.schema().clone())
            .unwrap_or_else(
                || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            );
        if let Some(props) = schema
            .as_object_mut()
            .map(|m| m.entry("properties").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
        {
            props.insert("apiVersion".into(), json!({"type": "string"}));
            props.insert("kind".into(), json!({"type": "string"}));
            props.insert("metadata".into(), all_of(OBJECT_META));
        }
        schema["x-kubernetes-group-version-kind"] = json!([gvk_value(r.group, r.version, r.kind)]);
        schemas.insert(r.schema.to_owned(), schema);
        schemas.insert(format!("{}List", r.schema), list_component(r));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// [`custom_document`] at an index path such as `apis/example.com/v1`.
pub fn custom_document_at(path: &str) -> Option<Value> {
    let path = path.trim_matches('/');
    custom_group_versions()
        .into_iter()
        .find(|(g, v)| document_path(g, v) == path)
        .and_then(|(g, v)| custom_document(g, v))
}

/// 64-bit FNV-1a of the document's JSON, in upper-case hex: a cache key, not a checksum
/// anyone verifies.
fn content_hash(document: &Value) -> String {
    let text = document.to_string();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016X}")
}

/// The group-version (`v1`, `apps/v1`) of a served document path, for logging.
pub fn group_version_of(path: &str) -> Option<String> {
    let path = path.trim_matches('/');
    cache()
        .iter()
        .find(|c| document_path(c.group, c.version) == path)
        .map(|c| group_version(c.group, c.version))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use registry::RESOURCES;

    fn doc_of(r: &ResourceInfo) -> &'static Value {
        document(r.group, r.version).unwrap()
    }

    /// Follows a property path the way kubectl's `PatchMetaFromOpenAPIV3` does (through
    /// `allOf[0]`, `$ref` and array `items`) and returns the last property's
    /// `(patch strategy, merge key)`.
    fn patch_meta(doc: &Value, kind_schema: &str, path: &[&str]) -> (String, String) {
        let schemas = &doc["components"]["schemas"];
        let resolve = |mut s: &Value| -> Value {
            if let Some(first) = s.get("allOf").and_then(|a| a.get(0)) {
                s = first;
            }
            match s.get("$ref").and_then(Value::as_str) {
                Some(r) => schemas[r.trim_start_matches(REF_PREFIX)].clone(),
                None => s.clone(),
            }
        };
        let mut schema = schemas[kind_schema].clone();
        let mut meta = (String::new(), String::new());
        for key in path {
            let prop = schema["properties"][*key].clone();
            assert!(!prop.is_null(), "no {key} in {kind_schema} path {path:?}");
            meta = (
                prop["x-kubernetes-patch-strategy"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                prop["x-kubernetes-patch-merge-key"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            );
            schema = match prop.get("items") {
                Some(items) => resolve(items),
                None => resolve(&prop),
            };
        }
        meta
    }

    #[test]
    fn every_kind_has_its_schema_with_gvk() {
        for r in RESOURCES {
            let doc = doc_of(r);
            let schemas = &doc["components"]["schemas"];
            let table = [
                (r.schema.to_owned(), r.kind.to_owned()),
                (format!("{}List", r.schema), r.list_kind()),
            ];
            for (name, kind) in table {
                assert_eq!(
                    schemas[&name]["x-kubernetes-group-version-kind"],
                    json!([{"group": r.group, "kind": kind, "version": r.version}]),
                    "{name}"
                );
            }
        }
        let apps = document("apps", "v1").unwrap();
        assert_eq!(
            apps["components"]["schemas"]["io.k8s.api.autoscaling.v1.Scale"]
                ["x-kubernetes-group-version-kind"][0]["kind"],
            "Scale"
        );
        assert!(document("batch", "v1").is_some());
        assert!(document("policy", "v1").is_some());
        assert!(document("example.com", "v1").is_none());
    }

    #[test]
    fn merge_keys_where_kubernetes_has_them() {
        let core = document("", "v1").unwrap();
        let apps = document("apps", "v1").unwrap();
        let pod = "io.k8s.api.core.v1.Pod";
        let deploy = "io.k8s.api.apps.v1.Deployment";
        let merge = |key: &str| ("merge".to_owned(), key.to_owned());
        let none = (String::new(), String::new());
        let table = [
            (
                "containers",
                patch_meta(core, pod, &["spec", "containers"]),
                merge("name"),
            ),
            (
                "initContainers",
                patch_meta(core, pod, &["spec", "initContainers"]),
                merge("name"),
            ),
            (
                "env",
                patch_meta(core, pod, &["spec", "containers", "env"]),
                merge("name"),
            ),
            (
                "ports",
                patch_meta(core, pod, &["spec", "containers", "ports"]),
                merge("containerPort"),
            ),
            (
                "volumeMounts",
                patch_meta(core, pod, &["spec", "containers", "volumeMounts"]),
                merge("mountPath"),
            ),
            (
                "volumes",
                patch_meta(core, pod, &["spec", "volumes"]),
                ("merge,retainKeys".to_owned(), "name".to_owned()),
            ),
            (
                "tolerations",
                patch_meta(core, pod, &["spec", "tolerations"]),
                none.clone(),
            ),
            (
                "command",
                patch_meta(core, pod, &["spec", "containers", "command"]),
                none.clone(),
            ),
            (
                "finalizers",
                patch_meta(core, pod, &["metadata", "finalizers"]),
                ("merge".to_owned(), String::new()),
            ),
            (
                "ownerReferences",
                patch_meta(core, pod, &["metadata", "ownerReferences"]),
                merge("uid"),
            ),
            (
                "service ports",
                patch_meta(core, "io.k8s.api.core.v1.Service", &["spec", "ports"]),
                merge("port"),
            ),
            (
                "deployment containers",
                patch_meta(apps, deploy, &["spec", "template", "spec", "containers"]),
                merge("name"),
            ),
            (
                "deployment env",
                patch_meta(
                    apps,
                    deploy,
                    &["spec", "template", "spec", "containers", "env"],
                ),
                merge("name"),
            ),
            (
                "deployment strategy",
                patch_meta(apps, deploy, &["spec", "strategy"]),
                ("retainKeys".to_owned(), String::new()),
            ),
            (
                "deployment conditions",
                patch_meta(apps, deploy, &["status", "conditions"]),
                merge("type"),
            ),
        ];
        for (name, got, want) in table {
            assert_eq!(got, want, "{name}");
        }
        let ports =
            &core["components"]["schemas"]["io.k8s.api.core.v1.Container"]["properties"]["ports"];
        assert_eq!(ports["x-kubernetes-list-type"], "map");
        assert_eq!(
            ports["x-kubernetes-list-map-keys"],
            json!(["containerPort", "protocol"])
        );
    }

    /// What kubectl checks before it uses a document: a PATCH operation for the kind that
    /// accepts strategic merge patches and lists `fieldValidation`.
    #[test]
    fn patch_operations_as_kubectl_looks_for_them() {
        for r in RESOURCES {
            let doc = doc_of(r);
            let gvk = json!({"group": r.group, "kind": r.kind, "version": r.version});
            let patches: Vec<&Value> = doc["paths"]
                .as_object()
                .unwrap()
                .values()
                .filter_map(|p| p.get("patch"))
                .filter(|op| op["x-kubernetes-group-version-kind"] == gvk)
                .collect();
            assert!(!patches.is_empty(), "{}: no patch operation", r.kind);
            for op in patches {
                assert!(
                    op["requestBody"]["content"]
                        .get("application/strategic-merge-patch+json")
                        .is_some(),
                    "{}",
                    r.kind
                );
                assert!(
                    op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"),
                    "{}",
                    r.kind
                );
            }
        }
    }

    #[test]
    fn paths_of_pods_and_deployments() {
        let core = document("", "v1").unwrap();
        let apps = document("apps", "v1").unwrap();
        let table = [
            (core, "/api/v1/pods", "get", "listCoreV1PodForAllNamespaces"),
            (
                core,
                "/api/v1/namespaces/{namespace}/pods",
                "get",
                "listCoreV1NamespacedPod",
            ),
            (
                core,
                "/api/v1/namespaces/{namespace}/pods",
                "post",
                "createCoreV1NamespacedPod",
            ),
            (
                core,
                "/api/v1/namespaces/{namespace}/pods",
                "delete",
                "deleteCoreV1CollectionNamespacedPod",
            ),
            (
                core,
                "/api/v1/namespaces/{namespace}/pods/{name}",
                "patch",
                "patchCoreV1NamespacedPod",
            ),
            (
                core,
                "/api/v1/namespaces/{namespace}/pods/{name}/status",
                "put",
                "replaceCoreV1NamespacedPodStatus",
            ),
            (
                core,
                "/api/v1/namespaces/{namespace}/pods/{name}/log",
                "get",
                "readCoreV1NamespacedPodLog",
            ),
            (
                core,
                "/api/v1/namespaces/{namespace}/pods/{name}/binding",
                "post",
                "createCoreV1NamespacedPodBinding",
            ),
            (
                core,
                "/api/v1/namespaces/{name}",
                "get",
                "readCoreV1Namespace",
            ),
            (
                core,
                "/api/v1/namespaces/{name}/finalize",
                "put",
                "replaceCoreV1NamespaceFinalize",
            ),
            (
                core,
                "/api/v1/nodes",
                "delete",
                "deleteCoreV1CollectionNode",
            ),
            (
                apps,
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
                "patch",
                "patchAppsV1NamespacedDeploymentScale",
            ),
        ];
        for (doc, path, method, id) in table {
            assert_eq!(
                doc["paths"][path][method]["operationId"], id,
                "{path} {method}"
            );
        }
        // Namespaces cannot be deleted as a collection.
        assert!(core["paths"]["/api/v1/namespaces"].get("delete").is_none());
        let scale =
            &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["get"];
        assert_eq!(
            scale["x-kubernetes-group-version-kind"],
            json!({"group": "autoscaling", "kind": "Scale", "version": "v1"})
        );
    }

    #[test]
    fn every_reference_resolves() {
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, v) in m {
                        if k == "$ref" {
                            out.push(
                                v.as_str()
                                    .unwrap()
                                    .trim_start_matches(REF_PREFIX)
                                    .to_owned(),
                            );
                        } else {
                            refs(v, out);
                        }
                    }
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        for (group, version) in registry::GROUP_VERSIONS.iter() {
            let doc = document(group, version).unwrap();
            let mut out = Vec::new();
            refs(doc, &mut out);
            assert!(!out.is_empty());
            for name in out {
                assert!(
                    doc["components"]["schemas"].get(&name).is_some(),
                    "{group}/{version}: {name}"
                );
            }
        }
    }

    #[test]
    fn scalar_schemas() {
        let core = document("", "v1").unwrap();
        let schemas = &core["components"]["schemas"];
        let table = [
            (
                "quantity",
                schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]["oneOf"].clone(),
                json!([{"type": "string"}, {"type": "number"}]),
            ),
            (
                "int-or-string",
                schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
                    ["x-kubernetes-int-or-string"]
                    .clone(),
                json!(true),
            ),
            (
                "time",
                schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["format"].clone(),
                json!("date-time"),
            ),
            (
                "enum",
                schemas["io.k8s.api.core.v1.Container"]["properties"]["imagePullPolicy"]["enum"]
                    .clone(),
                json!(["Always", "Never", "IfNotPresent"]),
            ),
        ];
        for (name, got, want) in table {
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn index_names_every_document_with_its_hash() {
        let idx = index();
        let paths = idx["paths"].as_object().unwrap();
        // The built-in group-versions, and the CRD resource's own (served as custom).
        assert_eq!(paths.len(), registry::GROUP_VERSIONS.len() + 1);
        assert!(paths.contains_key("apis/apiextensions.k8s.io/v1"));
        for (group, version) in registry::GROUP_VERSIONS.iter() {
            let path = document_path(group, version);
            let url = paths[&path]["serverRelativeURL"].as_str().unwrap();
            let hash = document_hash(group, version).unwrap();
            assert_eq!(url, format!("/openapi/v3/{path}?hash={hash}"));
            assert_eq!(hash.len(), 16);
            assert!(document_at(&path).is_some());
        }
        assert_ne!(document_hash("", "v1"), document_hash("apps", "v1"));
        assert_eq!(group_version_of("apis/apps/v1").as_deref(), Some("apps/v1"));
        assert!(document_at("apis/batch/v1").is_some());
        assert!(document_at("apis/policy/v1").is_some());
        assert!(document_at("apis/example.com/v1").is_none());
    }
}
