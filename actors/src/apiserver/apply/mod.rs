//! Field ownership and server-side apply: `metadata.managedFields` on every write, and
//! `PATCH` with `application/apply-patch+yaml`.
//!
//! - [`fieldset`]: sets of field paths and their FieldsV1 form (pure).
//! - [`typed`]: objects through the schema model: the fields an object sets, what a
//!   write changed, the merge of an apply configuration, the removal of fields (pure).
//! - [`managed`]: the managedFields entries and the rules of an update and of an apply,
//!   conflicts included (pure).
//!
//! This module joins them to the request path of [`super::core`]: a create, update or
//! patch records an `Update` entry for its field manager ([`Manage`], handed to the
//! core's write), and [`ApiCore::apply`] serves an apply patch (which creates the object
//! when it does not exist). The field manager of a write is its `fieldManager`
//! parameter, else derived from the User-Agent as Kubernetes does; writes over the bus
//! (the cluster's own components) have no User-Agent and are recorded as `rudderd`.
//!
//! Cost: an update compares the old and new objects once along the schema (no copy of
//! either) and reads and writes the entries; nothing else is added to a write.

pub mod fieldset;
pub mod managed;
pub mod typed;

use rudder_protocol::resources::{Status, StatusCause, StatusDetails};
use serde_json::Value;

use self::managed::{ApplyError, Operation, Writer};
use self::typed::Shape;
use super::core::{fail, invalid_options, ApiCore, ApiResult, Check, Part, WriteOptions, Written};
use super::registry::ResourceInfo;

/// The media types of an apply patch (kubectl and kube-rs send YAML's; JSON is YAML).
pub const APPLY_MEDIA_TYPES: [&str; 2] = [
    "application/apply-patch+yaml",
    "application/apply-patch+json",
];

/// The field manager of the cluster's own components (bus writes carry no User-Agent).
pub const COMPONENT_MANAGER: &str = "rudderd";

/// Whether a `PATCH` content type is an apply patch.
pub fn is_apply(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    APPLY_MEDIA_TYPES.contains(&media.as_str())
}

/// How a write records field ownership.
#[derive(Debug, Clone)]
pub enum Manage {
    /// As an `Update` by this writer.
    Update(Writer),
    /// The object already carries the entries to store (an apply computed them).
    Keep,
}

impl Manage {
    /// An `Update` by the request's field manager, through `subresource` (empty: the
    /// resource itself).
    pub fn update(info: &ResourceInfo, opts: &WriteOptions, subresource: &str) -> Manage {
        Manage::Update(Writer {
            manager: manager_of(opts),
            operation: Operation::Update,
            api_version: info.api_version(),
            subresource: subresource.to_owned(),
        })
    }

    /// The subresource the write goes through (empty: the resource itself, or an apply,
    /// whose entries say).
    pub fn subresource(&self) -> &str {
        match self {
            Manage::Update(w) => &w.subresource,
            Manage::Keep => "",
        }
    }

    /// Sets `new`'s entries for a write over `old` (`None`: a create), after defaulting:
    /// `sent` is what the request carried in `metadata.managedFields` (taken off the
    /// object before it was typed).
    pub fn record(
        &self,
        info: &ResourceInfo,
        old: Option<&Value>,
        new: &mut Value,
        sent: Option<Value>,
    ) {
        match self {
            Manage::Keep => {
                if let (Some(sent), Some(meta)) =
                    (sent, new.get_mut("metadata").and_then(Value::as_object_mut))
                {
                    meta.insert("managedFields".into(), sent);
                }
            }
            Manage::Update(who) => {
                let Some(entries) = managed::starting_entries(old, sent.as_ref(), &who.subresource)
                else {
                    // `[{}]`: the client cleared them.
                    managed::set_entries(new, Vec::new());
                    return;
                };
                let entries = managed::update(
                    Shape::of_kind(info.kind),
                    info.subresource("status").is_some(),
                    entries,
                    old,
                    new,
                    who,
                );
                managed::set_entries(new, entries);
            }
        }
    }
}

/// The fields of `obj` the schema model of `kind` does not have
/// ([`super::registry::unknown_fields`]), less `metadata.managedFields`: the model's
/// ObjectMeta does not describe it (the API server keeps it in the JSON it stores), yet
/// clients may send it back as they read it.
pub fn model_unknown_fields(kind: &str, obj: &Value) -> Vec<String> {
    without_managed_fields(super::registry::unknown_fields(kind, obj))
}

/// [`model_unknown_fields`] of an object written at `info`'s version (see
/// [`super::registry::unknown_fields_in`]).
pub fn model_unknown_fields_in(info: &ResourceInfo, obj: &Value) -> Vec<String> {
    without_managed_fields(super::registry::unknown_fields_in(info, obj))
}

fn without_managed_fields(mut unknown: Vec<String>) -> Vec<String> {
    unknown.retain(|f| f != "metadata.managedFields");
    unknown
}

/// Takes `metadata.managedFields` off an object (to be recorded after it is typed).
pub fn take_entries(obj: &mut Value) -> Option<Value> {
    obj.get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("managedFields"))
}

/// The field manager of a write: `fieldManager`, else the User-Agent's product, else
/// (a bus write) [`COMPONENT_MANAGER`].
fn manager_of(opts: &WriteOptions) -> String {
    if let Some(m) = opts.field_manager.as_deref().filter(|m| !m.is_empty()) {
        return m.to_owned();
    }
    let ua = managed::manager_from_user_agent(&super::audit::current_source().user_agent);
    if ua.is_empty() {
        COMPONENT_MANAGER.to_owned()
    } else {
        ua
    }
}

impl WriteOptions {
    /// Adds `fieldManager` and `force` (query parameters of `PATCH`, `fieldManager` of
    /// every write), checked as Kubernetes' `ValidateFieldManager`: at most 128 bytes,
    /// printable characters only; `force` must be `true` or `false`.
    pub fn with_manager(
        mut self,
        options_kind: &str,
        field_manager: Option<&str>,
        force: Option<&str>,
    ) -> ApiResult<WriteOptions> {
        let mut causes = Vec::new();
        if let Some(m) = field_manager {
            if m.len() > managed::MAX_MANAGER_LEN {
                causes.push(StatusCause {
                    reason: "FieldValueTooLong".into(),
                    message: format!(
                        "Too long: may not be more than {} bytes",
                        managed::MAX_MANAGER_LEN
                    ),
                    field: "fieldManager".into(),
                });
            }
            if let Some((i, c)) = m.char_indices().find(|(_, c)| c.is_control()) {
                causes.push(StatusCause {
                    reason: "FieldValueInvalid".into(),
                    message: format!(
                        "Invalid value: {m:?}: invalid character U+{:04X} (at position {i})",
                        c as u32
                    ),
                    field: "fieldManager".into(),
                });
            }
            self.field_manager = Some(m.to_owned());
        }
        if !causes.is_empty() {
            return Err(invalid_options(options_kind, causes));
        }
        self.force = match force {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(fail(
                    400,
                    "BadRequest",
                    format!("invalid value for force: {other:?}, expected true or false"),
                ))
            }
        };
        Ok(self)
    }

    /// Kubernetes' `ValidatePatchOptions` for the patch's type: an apply needs a field
    /// manager; `force` is for applies only.
    pub fn check_patch(&self, apply: bool) -> ApiResult<()> {
        let cause = if apply && self.field_manager.as_deref().unwrap_or_default().is_empty() {
            Some(StatusCause {
                reason: "FieldValueRequired".into(),
                message: "Required value: is required for apply patch".into(),
                field: "fieldManager".into(),
            })
        } else if !apply && self.force.is_some() {
            Some(StatusCause {
                reason: "FieldValueForbidden".into(),
                message: "Forbidden: may not be specified for non-apply patch".into(),
                field: "force".into(),
            })
        } else {
            None
        };
        match cause {
            Some(c) => Err(invalid_options("PatchOptions", vec![c])),
            None => Ok(()),
        }
    }
}

fn apply_error(info: &ResourceInfo, name: &str, e: ApplyError) -> Box<Status> {
    match e {
        ApplyError::Conflicts(cs) => Box::new(managed::conflict_status(&cs)),
        ApplyError::Invalid(message) => {
            let mut s = Status::failure(
                422,
                "Invalid",
                format!("{} \"{name}\" is invalid: {message}", info.kind),
            );
            s.details = Some(StatusDetails {
                name: name.to_owned(),
                group: info.group.to_owned(),
                kind: info.kind.to_owned(),
                ..StatusDetails::default()
            });
            Box::new(s)
        }
    }
}

/// The configuration of an apply, checked: an object of the URL's kind and name. What
/// the write's part resets is dropped, as Kubernetes' reset fields are: the status of
/// an apply to the resource (when the kind has a status subresource), everything but
/// the status and the object's identity of an apply to `/status`.
fn configuration(info: &ResourceInfo, name: &str, patch: &Value, part: Part) -> ApiResult<Value> {
    let mut config = patch.clone();
    let Some(map) = config.as_object_mut() else {
        return Err(fail(
            400,
            "BadRequest",
            "the apply configuration must be an object",
        ));
    };
    match part {
        Part::Main if info.subresource("status").is_some() => {
            map.remove("status");
        }
        Part::Status => {
            map.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
            if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.retain(|k, _| matches!(k.as_str(), "name" | "namespace" | "resourceVersion"));
            }
        }
        _ => {}
    }
    for (field, want) in [
        ("kind", info.kind.to_owned()),
        ("apiVersion", info.api_version()),
    ] {
        match config.get(field).and_then(Value::as_str) {
            Some(v) if v == want => {}
            Some(v) => {
                return Err(fail(
                    400,
                    "BadRequest",
                    format!("the {field} of the apply configuration ({v}) does not match the request's ({want})"),
                ))
            }
            None => {
                return Err(fail(
                    400,
                    "BadRequest",
                    format!("{field} must be set in an apply configuration (want {want:?})"),
                ))
            }
        }
    }
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(fail(
            400,
            "BadRequest",
            "metadata.managedFields must be nil in an apply configuration",
        ));
    }
    take_entries(&mut config);
    match config.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) if n != name => Err(fail(
            400,
            "BadRequest",
            format!("the name of the object ({n}) does not match the name on the URL ({name})"),
        )),
        _ => Ok(config),
    }
}

impl ApiCore {
    /// Serves an apply patch of `name` (or of its `part`): merges the configuration
    /// into the live object as the field manager of `opts`, or creates the object from
    /// it when it does not exist (the resource itself only). A conflict with another
    /// manager's fields is a 409 unless `force` is set.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
        part: Part,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        opts.check_patch(true)?;
        let config = configuration(info, name, patch, part)?;
        let subresource = part.subresource();
        let who = Writer {
            manager: opts.field_manager.clone().unwrap_or_default(),
            operation: Operation::Apply,
            api_version: info.api_version(),
            subresource: subresource.to_owned(),
        };
        let force = opts.force.unwrap_or(false);
        let shape = Shape::of_kind(info.kind);
        let has_status = info.subresource("status").is_some();
        for _ in 0..2 {
            match self.get_kv(info, namespace, name).await {
                Err(e) if e.code == 404 && part == Part::Main => {
                    let mut fresh = config.clone();
                    if let Some(meta) = fresh.get_mut("metadata").and_then(Value::as_object_mut) {
                        meta.insert("name".into(), Value::String(name.to_owned()));
                    } else {
                        fresh["metadata"] = serde_json::json!({ "name": name });
                    }
                    let (mut obj, entries) =
                        managed::apply(shape, has_status, Vec::new(), None, &fresh, &who, force)
                            .map_err(|e| apply_error(info, name, e))?;
                    managed::set_entries(&mut obj, entries);
                    let warnings = self.patched_field_warnings(info, name, &obj, opts)?;
                    match self
                        .create_as(info, namespace, obj, opts.clone(), &Manage::Keep)
                        .await
                    {
                        // Created by someone else in between: apply to it.
                        Err(e) if e.code == 409 && e.reason == "AlreadyExists" => continue,
                        Err(e) => return Err(e),
                        Ok(object) => return Ok(Written { object, warnings }),
                    }
                }
                Err(e) => return Err(e),
                Ok(_) => {}
            }
            let mut warnings = Vec::new();
            let written = self
                .guaranteed_update_as(info, namespace, name, opts.dry_run, &Manage::Keep, |old| {
                    let mut live = old.clone();
                    if let Some(meta) = live.get_mut("metadata").and_then(Value::as_object_mut) {
                        meta.remove("resourceVersion");
                    }
                    let (merged, entries) = managed::apply(
                        shape,
                        has_status,
                        managed::entries_of(old),
                        Some(&live),
                        &config,
                        &who,
                        force,
                    )
                    .map_err(|e| apply_error(info, name, e))?;
                    warnings = self.patched_field_warnings(info, name, &merged, opts)?;
                    let mut new = super::core::replacement(info, old, merged, part);
                    managed::set_entries(&mut new, entries);
                    let check: Check = part.check();
                    Ok((new, check))
                })
                .await;
            match written {
                // Deleted in between: create it.
                Err(e) if e.code == 404 && part == Part::Main => continue,
                Err(e) => return Err(e),
                Ok(object) => return Ok(Written { object, warnings }),
            }
        }
        Err(fail(
            409,
            "Conflict",
            format!(
                "{} {name:?} kept being created and deleted while it was applied; please try again",
                info.kind
            ),
        ))
    }

    fn patched_field_warnings(
        &self,
        info: &ResourceInfo,
        name: &str,
        obj: &Value,
        opts: &WriteOptions,
    ) -> ApiResult<Vec<String>> {
        let mut plain = obj.clone();
        take_entries(&mut plain);
        super::core::check_patched_fields(info, info.kind, name, &plain, opts.field_validation)
    }
}
