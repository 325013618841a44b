//! CustomResourceDefinitions (`apiextensions.k8s.io/v1`): the CRD kind itself and the
//! resources CRDs define.
//!
//! - This module: the CRD resource entry ([`CRD_INFO`], served next to the static
//!   table), its strategy ([`CrdKind`]: Kubernetes' validation of a CRD, defaults, and
//!   the status the server sets on every write: `acceptedNames`, the `NamesAccepted` and
//!   `Established` conditions, `storedVersions`), and [`run`], the loop each API server
//!   runs over its watch cache of CRDs: it keeps the served custom resources in step
//!   ([`registry::sync`]) and, for a CRD being deleted, deletes its objects and then
//!   removes the `customresourcecleanup.apiextensions.k8s.io` finalizer.
//! - [`registry`]: the resources CRDs define and the strategy of a custom resource.
//! - [`schema`]: structural schemas: pruning, defaulting, validation; [`cel`]: their CEL
//!   validation rules.
//!
//! Every API server of a cluster learns the CRDs from its own watch cache, so a CRD
//! written through one API server is served by all of them. Names are accepted on
//! write, as Kubernetes' naming controller accepts them: a plural, singular or short
//! name, kind or list kind another CRD of the group was accepted with is a conflict
//! (`NamesAccepted=False`, `PluralConflict`, `KindConflict`, ...), the CRD keeps the
//! name it had for that field, a CRD never accepted is not `Established`, and only
//! established CRDs are served, under their accepted names; [`run`] looks again at each
//! conflicting CRD, so one whose rival went away is accepted. Conversion is `None` only, as
//! Kubernetes does it: an object is stored as the storage version whichever version it
//! is written at, and answered as the version it is read at (the apiVersion is all that
//! changes: [`registry::stored_api_version`], [`crate::apiserver::versions::outcome_as`]).
//! The cleanup of a deleted CRD runs on every API server; its deletions are idempotent
//! and the finalizer's removal is a compare-and-swap, so the servers do not fight.

pub mod cel;
pub mod registry;
pub mod schema;

use std::collections::BTreeMap;
use std::time::Duration;

use rudder_protocol::registry::{ResourceInfo, Subresource, ALL_VERBS};
use rudder_protocol::resources::{ObjectMeta, Status, StatusCause, StatusDetails, Time};
use serde_json::{json, Value};

use super::core::{prefix, ApiCore, ApiResult, Check, ListOptions, WriteOptions};
use super::kinds::{Admission, Deletion, KindOps};
use super::table::{col, Column, Row, NAME};
use super::validation::{
    is_dns1035_label, is_dns1123_subdomain, validate_object_meta, validate_object_meta_update,
    BadValue, FieldCause, FieldPath, NameRule, IMMUTABLE,
};

/// The finalizer that holds a deleted CRD until its objects are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// The CRD resource.
pub static CRD_INFO: ResourceInfo = ResourceInfo {
    group: "apiextensions.k8s.io",
    version: "v1",
    kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions",
    singular: "customresourcedefinition",
    namespaced: false,
    verbs: ALL_VERBS,
    short_names: &["crd", "crds"],
    categories: &["api-extensions"],
    subresources: &[Subresource {
        name: "status",
        group: "apiextensions.k8s.io",
        version: "v1",
        kind: "CustomResourceDefinition",
        verbs: &["get", "patch", "update"],
    }],
    schema: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
};

const COLUMN_TYPES: &[&str] = &["integer", "number", "string", "boolean", "date"];

/// The strategy of CRD objects.
pub struct CrdKind;

/// The one [`CrdKind`].
pub static CRD_KIND: CrdKind = CrdKind;

static CRD_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Created At",
        "date",
        "CreationTimestamp is the time the server created the object, in RFC 3339 form and UTC.",
    ),
];

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn meta_of(obj: &Value) -> ObjectMeta {
    serde_json::from_value(obj.get("metadata").cloned().unwrap_or_default()).unwrap_or_default()
}

/// Fills in what Kubernetes defaults in a CRD's spec.
fn default_spec(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !kind.is_empty() {
            names
                .entry("singular")
                .or_insert_with(|| json!(kind.to_lowercase()));
            names
                .entry("listKind")
                .or_insert_with(|| json!(format!("{kind}List")));
        }
    }
    spec.entry("conversion")
        .or_insert_with(|| json!({"strategy": "None"}));
}

fn dns_causes(path: &FieldPath, value: &str, errs: Vec<String>, out: &mut Vec<FieldCause>) {
    for e in errs {
        out.push(FieldCause::invalid(path, value, &e));
    }
}

/// Kubernetes' validation of a (defaulted) CRD's spec and name.
fn validate_crd(obj: &Value) -> Vec<FieldCause> {
    let mut out = Vec::new();
    let spec = obj.get("spec").cloned().unwrap_or_default();
    let sp = FieldPath::new("spec");
    let group = str_at(&spec, "/group");
    if group.is_empty() {
        out.push(FieldCause::required(&sp.child("group"), ""));
    } else {
        dns_causes(
            &sp.child("group"),
            group,
            is_dns1123_subdomain(group),
            &mut out,
        );
        if !group.contains('.') {
            out.push(FieldCause::invalid(
                &sp.child("group"),
                group,
                "should be a domain with at least one dot",
            ));
        } else if registry::is_builtin_group(group) {
            out.push(FieldCause::forbidden(
                &sp.child("group"),
                &format!("group {group:?} is served by this server itself"),
            ));
        }
    }
    let np = sp.child("names");
    let plural = str_at(&spec, "/names/plural");
    for (field, value) in [
        ("plural", plural),
        ("singular", str_at(&spec, "/names/singular")),
    ] {
        if value.is_empty() {
            out.push(FieldCause::required(&np.child(field), ""));
        } else {
            dns_causes(&np.child(field), value, is_dns1035_label(value), &mut out);
        }
    }
    for (field, value) in [
        ("kind", str_at(&spec, "/names/kind")),
        ("listKind", str_at(&spec, "/names/listKind")),
    ] {
        if value.is_empty() {
            out.push(FieldCause::required(&np.child(field), ""));
        } else {
            let lower = value.to_lowercase();
            dns_causes(&np.child(field), value, is_dns1035_label(&lower), &mut out);
        }
    }
    for (i, s) in spec
        .pointer("/names/shortNames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let s = s.as_str().unwrap_or_default();
        dns_causes(
            &np.child("shortNames").index(i),
            s,
            is_dns1035_label(s),
            &mut out,
        );
    }
    let name = str_at(obj, "/metadata/name");
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        out.push(FieldCause::invalid(
            &FieldPath::new("metadata").child("name"),
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    match str_at(&spec, "/scope") {
        "Namespaced" | "Cluster" => {}
        "" => out.push(FieldCause::required(&sp.child("scope"), "")),
        other => out.push(FieldCause::not_supported(
            &sp.child("scope"),
            other,
            &["Cluster", "Namespaced"],
        )),
    }
    match str_at(&spec, "/conversion/strategy") {
        "None" => {}
        other => out.push(FieldCause::not_supported(
            &sp.child("conversion").child("strategy"),
            other,
            &["None"],
        )),
    }
    let vp = sp.child("versions");
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        out.push(FieldCause::required(
            &vp,
            "must have exactly one version marked as storage version",
        ));
    }
    let mut seen = Vec::new();
    let mut storage = 0;
    for (i, v) in versions.iter().enumerate() {
        let p = vp.index(i);
        let vname = str_at(v, "/name");
        if vname.is_empty() {
            out.push(FieldCause::required(&p.child("name"), ""));
        } else {
            dns_causes(&p.child("name"), vname, is_dns1035_label(vname), &mut out);
            if seen.contains(&vname) {
                out.push(FieldCause::duplicate(&p.child("name"), vname));
            }
            seen.push(vname);
        }
        if v["storage"].as_bool() == Some(true) {
            storage += 1;
        }
        match v.pointer("/schema/openAPIV3Schema") {
            None => out.push(FieldCause::required(
                &p.child("schema").child("openAPIV3Schema"),
                "schemas are required",
            )),
            Some(s) => out.extend(schema::check_structural(
                s,
                &p.child("schema").child("openAPIV3Schema"),
            )),
        }
        for (j, c) in v["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let cp = p.child("additionalPrinterColumns").index(j);
            if str_at(c, "/name").is_empty() {
                out.push(FieldCause::required(&cp.child("name"), ""));
            }
            let ty = str_at(c, "/type");
            if !COLUMN_TYPES.contains(&ty) {
                out.push(FieldCause::not_supported(
                    &cp.child("type"),
                    ty,
                    COLUMN_TYPES,
                ));
            }
            let path = str_at(c, "/jsonPath");
            if path.is_empty() {
                out.push(FieldCause::required(&cp.child("jsonPath"), ""));
            } else if registry::parse_json_path(path).is_none() {
                out.push(FieldCause::invalid(
                    &cp.child("jsonPath"),
                    path,
                    "must be a simple json path (fields and list indexes)",
                ));
            }
        }
        if let Some(scale) = v.pointer("/subresources/scale") {
            let sc = p.child("subresources").child("scale");
            // The scale subresource reads and writes these two paths only.
            for (f, supported) in [
                ("specReplicasPath", ".spec.replicas"),
                ("statusReplicasPath", ".status.replicas"),
            ] {
                let path = str_at(scale, &format!("/{f}"));
                if path.is_empty() {
                    out.push(FieldCause::required(&sc.child(f), ""));
                } else if path != supported {
                    out.push(FieldCause::not_supported(&sc.child(f), path, &[supported]));
                }
            }
        }
    }
    if !versions.is_empty() && storage != 1 {
        out.push(FieldCause::invalid(
            &vp,
            BadValue::Raw(spec["versions"].to_string()),
            "must have exactly one version marked as storage version",
        ));
    }
    out
}

/// The names `obj` may be served under, and the last conflict found, as Kubernetes'
/// naming controller decides them field by field: a requested plural, singular, short
/// name, kind or list kind is accepted when it is the one already accepted or no other
/// CRD of the group was accepted with it; otherwise the accepted one stays and the
/// conflict is the condition's reason (`PluralConflict`, `SingularConflict`,
/// `ShortNamesConflict`, `KindConflict`, `ListKindConflict`) and message.
fn accepted_names(obj: &Value, accepted: &Value) -> (Value, Option<(&'static str, String)>) {
    let me = str_at(obj, "/metadata/name");
    let group = str_at(obj, "/spec/group");
    let mut resources: Vec<String> = Vec::new();
    let mut kinds: Vec<String> = Vec::new();
    for k in registry::custom_kinds() {
        let info = k.info();
        if k.crd() == me || info.group != group {
            continue;
        }
        resources.extend([info.plural.to_owned(), info.singular.to_owned()]);
        resources.extend(info.short_names.iter().map(|n| (*n).to_owned()));
        kinds.extend([info.kind.to_owned(), format!("{}List", info.kind)]);
    }
    let requested = &obj["spec"]["names"];
    let mut out = match accepted {
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    let mut conflict = None;
    let one = |field: &str,
               reason: &'static str,
               taken: &[String],
               out: &mut serde_json::Map<String, Value>,
               conflict: &mut Option<(&'static str, String)>| {
        let want = requested[field].as_str().unwrap_or_default();
        let fresh = want.is_empty()
            || accepted[field].as_str() == Some(want)
            || !taken.iter().any(|t| t == want);
        if fresh {
            out.insert(field.to_owned(), requested[field].clone());
        } else {
            *conflict = Some((reason, format!("{want:?} is already in use")));
        }
    };
    one(
        "plural",
        "PluralConflict",
        &resources,
        &mut out,
        &mut conflict,
    );
    one(
        "singular",
        "SingularConflict",
        &resources,
        &mut out,
        &mut conflict,
    );
    let ours: Vec<&str> = accepted["shortNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let short_taken = requested["shortNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|n| !ours.contains(n) && resources.iter().any(|t| t == n));
    match short_taken {
        Some(n) => conflict = Some(("ShortNamesConflict", format!("{n:?} is already in use"))),
        None => match requested.get("shortNames") {
            Some(v) => {
                out.insert("shortNames".to_owned(), v.clone());
            }
            None => {
                out.remove("shortNames");
            }
        },
    }
    one("kind", "KindConflict", &kinds, &mut out, &mut conflict);
    one(
        "listKind",
        "ListKindConflict",
        &kinds,
        &mut out,
        &mut conflict,
    );
    match requested.get("categories") {
        Some(v) => {
            out.insert("categories".to_owned(), v.clone());
        }
        None => {
            out.remove("categories");
        }
    }
    (Value::Object(out), conflict)
}

/// Whether `crd`'s condition `ty` is true.
pub(super) fn condition_true(crd: &Value, ty: &str) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == ty && c["status"] == "True")
}

/// The status the server keeps: accepted names, conditions, stored versions.
fn set_status(obj: &mut Value, now: Time) {
    let storage: Vec<String> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect();
    let old = obj.get("status").cloned().unwrap_or_default();
    let (names, conflict) = accepted_names(obj, &old["acceptedNames"]);
    // Once established, a CRD stays so (its accepted names are still served).
    let established = conflict.is_none() || condition_true(obj, "Established");
    let mut stored: Vec<String> = old["storedVersions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    for s in storage {
        if !stored.contains(&s) {
            stored.push(s);
        }
    }
    let terminating = obj.pointer("/metadata/deletionTimestamp").is_some();
    let accepted = match &conflict {
        None => ("True", "NoConflicts", "no conflicts found".to_owned()),
        Some((reason, message)) => ("False", *reason, message.clone()),
    };
    let mut wanted = vec![
        ("NamesAccepted", accepted.0, accepted.1, accepted.2),
        if established {
            (
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted".to_owned(),
            )
        } else {
            (
                "Established",
                "False",
                "NotAccepted",
                "not all names are accepted".to_owned(),
            )
        },
    ];
    if terminating {
        wanted.push((
            "Terminating",
            "True",
            "InstanceDeletionInProgress",
            "CustomResource deletion is in progress".to_owned(),
        ));
    }
    let old_conditions = old["conditions"].as_array().cloned().unwrap_or_default();
    let conditions: Vec<Value> = wanted
        .into_iter()
        .map(|(ty, status, reason, message)| {
            let since = old_conditions
                .iter()
                .find(|c| c["type"] == ty && c["status"] == status)
                .and_then(|c| c.get("lastTransitionTime").cloned())
                .unwrap_or_else(|| json!(now));
            json!({"type": ty, "status": status, "lastTransitionTime": since,
                "reason": reason, "message": message})
        })
        .collect();
    obj["status"] = json!({
        "acceptedNames": names,
        "conditions": conditions,
        "storedVersions": stored,
    });
}

impl CrdKind {
    fn invalid(name: &str, causes: Vec<FieldCause>) -> Box<Status> {
        let causes: Vec<StatusCause> = causes.into_iter().map(StatusCause::from).collect();
        let describe = |c: &StatusCause| format!("{}: {}", c.field, c.message);
        let summary = crate::apiserver::validation::aggregate(
            &causes.iter().map(describe).collect::<Vec<_>>(),
        );
        let mut s = Status::failure(
            422,
            "Invalid",
            format!(
                "CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: {summary}"
            ),
        );
        s.details = Some(StatusDetails {
            name: name.to_owned(),
            group: CRD_INFO.group.to_owned(),
            kind: CRD_INFO.kind.to_owned(),
            causes,
            ..StatusDetails::default()
        });
        Box::new(s)
    }

    fn checked(&self, mut obj: Value, old: Option<&Value>) -> ApiResult<Value> {
        default_spec(&mut obj);
        let meta = meta_of(&obj);
        let mut causes = validate_object_meta(&meta, NameRule::Dns1123Subdomain);
        causes.extend(validate_crd(&obj));
        if let Some(old) = old {
            causes.extend(validate_object_meta_update(&meta, &meta_of(old)));
            let sp = FieldPath::new("spec");
            for f in ["group", "scope"] {
                let p = format!("/spec/{f}");
                if str_at(&obj, &p) != str_at(old, &p) {
                    causes.push(FieldCause::invalid(
                        &sp.child(f),
                        str_at(&obj, &p),
                        IMMUTABLE,
                    ));
                }
            }
        }
        if !causes.is_empty() {
            return Err(Self::invalid(&meta.name, causes));
        }
        // The status is the server's: it goes on from the stored one.
        match old.and_then(|o| o.get("status")) {
            Some(status) => obj["status"] = status.clone(),
            None => {
                if let Some(m) = obj.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        set_status(&mut obj, Time::now());
        Ok(obj)
    }
}

impl KindOps for CrdKind {
    fn info(&self) -> &'static ResourceInfo {
        &CRD_INFO
    }

    fn typed(&self, obj: Value, old: Option<&Value>) -> ApiResult<Value> {
        self.checked(obj, old)
    }

    fn admit(&self, mut obj: Value, _admission: &Admission) -> ApiResult<Value> {
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            let finalizers = m.entry("finalizers").or_insert_with(|| json!([]));
            if let Some(f) = finalizers.as_array_mut() {
                if !f.iter().any(|x| x == CLEANUP_FINALIZER) {
                    f.push(json!(CLEANUP_FINALIZER));
                }
            }
        }
        if let Some(m) = obj.as_object_mut() {
            m.remove("status");
        }
        self.checked(obj, None)
    }

    fn prepare_update(&self, _new: &mut Value, _old: &Value) {}

    fn deletion(&self, _old: &Value, _grace: i64) -> Deletion {
        Deletion::Immediate
    }

    fn mark_terminating(&self, obj: &mut Value) {
        set_status(obj, Time::now());
    }

    fn finalizers_pending(&self, _obj: &Value) -> bool {
        false
    }

    fn claims_addresses(&self) -> bool {
        false
    }

    fn admission_plugins(&self) -> &'static [super::admission::Plugin] {
        &[]
    }

    fn field_labels(&self) -> Vec<&'static str> {
        vec!["metadata.name"]
    }

    fn fields(&self, obj: &Value) -> BTreeMap<String, String> {
        BTreeMap::from([(
            "metadata.name".to_owned(),
            str_at(obj, "/metadata/name").to_owned(),
        )])
    }

    fn columns(&self) -> &'static [Column] {
        CRD_COLUMNS
    }

    fn row(&self, obj: &Value, _now: Time) -> Row {
        let created = str_at(obj, "/metadata/creationTimestamp");
        Row::new(vec![json!(str_at(obj, "/metadata/name")), json!(created)])
    }

    fn example(&self, name: &str, _namespace: &str) -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
        })
    }
}

/// The longest wait between two looks at the CRDs (a deletion whose objects are held by
/// their own finalizers is retried at this pace).
const RESYNC: Duration = Duration::from_secs(5);

/// Keeps this API server's custom resources in step with its watch cache of CRDs, and
/// cleans up after deleted CRDs. Runs for the life of the API server.
pub async fn run(core: ApiCore) {
    let cache = core.watch_cache().resource(&prefix(&CRD_INFO, None));
    let mut seen = 0;
    loop {
        let at = cache.revision();
        if cache.generation() != seen {
            if let Some(objects) = cache.objects() {
                seen = cache.generation();
                registry::sync(objects.iter().map(|(_, o)| o.as_ref()));
                for (_, crd) in &objects {
                    if crd.pointer("/metadata/deletionTimestamp").is_some() {
                        cleanup(&core, crd).await;
                    } else if !condition_true(crd, "NamesAccepted")
                        && accepted_names(crd, &crd["status"]["acceptedNames"])
                            .1
                            .is_none()
                    {
                        // Its rival went away: written again, it is accepted.
                        accept_names(&core, str_at(crd, "/metadata/name")).await;
                    }
                }
            }
        }
        cache.wait_after(at, RESYNC).await;
        if let Some(objects) = cache.objects() {
            // A terminating CRD is looked at again even without a change.
            if objects
                .iter()
                .any(|(_, o)| o.pointer("/metadata/deletionTimestamp").is_some())
            {
                seen = 0;
            }
        }
    }
}

/// Deletes every object of a terminating CRD, then removes its finalizer.
async fn cleanup(core: &ApiCore, crd: &Value) {
    let name = str_at(crd, "/metadata/name").to_owned();
    let holds = crd
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x == CLEANUP_FINALIZER));
    if !holds {
        return;
    }
    let Some(kind) = registry::custom_kinds()
        .into_iter()
        .find(|k| k.crd() == name)
    else {
        // No served version: nothing can be listed, and nothing could be created.
        return remove_finalizer(core, &name).await;
    };
    let info = kind.info();
    let every = ListOptions::default();
    if let Err(e) = core
        .delete_collection(info, None, &every, &json!({}), WriteOptions::default())
        .await
    {
        tracing::warn!(crd = %name, error = %e.message, "deleting custom resources failed");
        return;
    }
    match core.list(info, None, &every).await {
        Ok((items, _, _)) if items.is_empty() => remove_finalizer(core, &name).await,
        Ok(_) => tracing::debug!(crd = %name, "custom resources still terminating"),
        Err(e) => {
            tracing::warn!(crd = %name, error = %e.message, "listing custom resources failed")
        }
    }
}

/// Writes the CRD `name` again, so its status is computed afresh.
async fn accept_names(core: &ApiCore, name: &str) {
    rewrite(
        core,
        name,
        |_| {},
        "names accepted",
        "accepting names failed",
    )
    .await
}

async fn remove_finalizer(core: &ApiCore, name: &str) {
    let release = |crd: &mut Value| {
        if let Some(f) = crd
            .pointer_mut("/metadata/finalizers")
            .and_then(Value::as_array_mut)
        {
            f.retain(|x| x != CLEANUP_FINALIZER);
        }
    };
    let (done, failed) = (
        "custom resources deleted; CRD released",
        "releasing CRD failed",
    );
    rewrite(core, name, release, done, failed).await
}

/// Writes the CRD `name` as `change` makes it from the stored one (again after a lost
/// race); logs `done`, or `failed` with the error (a CRD gone meanwhile is neither).
async fn rewrite(
    core: &ApiCore,
    name: &str,
    change: impl Fn(&mut Value),
    done: &str,
    failed: &str,
) {
    let result = core
        .guaranteed_update(&CRD_INFO, None, name, false, |old| {
            let mut new = old.clone();
            change(&mut new);
            if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            Ok((new, Check::UpdateOnly))
        })
        .await;
    match result {
        Ok(_) => tracing::info!(crd = %name, "{done}"),
        Err(e) if e.code == 404 => {}
        Err(e) => tracing::warn!(crd = %name, error = %e.message, "{failed}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object"}}}],
            },
        })
    }

    #[test]
    fn a_valid_crd_gets_defaults_status_and_finalizer() {
        let out = CRD_KIND
            .admit(
                crd(),
                &Admission {
                    default_toleration_seconds: 300,
                },
            )
            .unwrap();
        assert_eq!(out["spec"]["names"]["singular"], "widget");
        assert_eq!(out["spec"]["names"]["listKind"], "WidgetList");
        assert_eq!(out["metadata"]["finalizers"], json!([CLEANUP_FINALIZER]));
        assert_eq!(out["status"]["acceptedNames"]["kind"], "Widget");
        assert_eq!(out["status"]["storedVersions"], json!(["v1"]));
        let types: Vec<&str> = out["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["NamesAccepted", "Established"]);
    }

    #[test]
    fn invalid_crds_name_their_fields() {
        type Edit = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Edit, &str)> = vec![
            (
                "two storage versions",
                Box::new(|c: &mut Value| {
                    let v = c["spec"]["versions"][0].clone();
                    let mut w = v.clone();
                    w["name"] = json!("v2");
                    c["spec"]["versions"] = json!([v, w]);
                }),
                "spec.versions",
            ),
            (
                "no schema",
                Box::new(|c: &mut Value| {
                    c["spec"]["versions"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("schema");
                }),
                "spec.versions[0].schema.openAPIV3Schema",
            ),
            (
                "wrong name",
                Box::new(|c: &mut Value| c["metadata"]["name"] = json!("w.example.com")),
                "metadata.name",
            ),
            (
                "bad scope",
                Box::new(|c: &mut Value| c["spec"]["scope"] = json!("Global")),
                "spec.scope",
            ),
            (
                "no dot",
                Box::new(|c: &mut Value| {
                    c["spec"]["group"] = json!("example");
                    c["metadata"]["name"] = json!("widgets.example");
                }),
                "spec.group",
            ),
            (
                "cel",
                Box::new(|c: &mut Value| {
                    c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
                        ["x-kubernetes-validations"] = json!([{"rule": "self.x.find('a') != ''"}]);
                }),
                "spec.versions[0].schema.openAPIV3Schema.x-kubernetes-validations[0].rule",
            ),
        ];
        for (name, edit, field) in cases {
            let mut c = crd();
            edit(&mut c);
            let err = CRD_KIND.typed(c, None).unwrap_err();
            assert_eq!(err.code, 422, "{name}");
            let fields: Vec<String> = err
                .details
                .unwrap()
                .causes
                .into_iter()
                .map(|c| c.field)
                .collect();
            assert_eq!(fields, [field], "{name}");
        }
    }
}
