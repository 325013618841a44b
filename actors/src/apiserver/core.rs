//! The API server's operations, shared by every front: create, get, list, update,
//! patch, delete, watch, and the status, scale and binding subresources, on objects kept
//! as JSON in the store under `/registry/<plural>/<namespace>/<name>`.
//!
//! An object's `metadata.resourceVersion` is the store's mod revision of its key; it is
//! not stored, but set on every read. Every write runs Kubernetes' defaulting and
//! validation for its kind (its module in [`super::kinds`]).
//!
//! Writes to an existing object follow Kubernetes' GuaranteedUpdate: read, apply the
//! request to what was read (a PUT body, a patch, a scale, a binding), compare-and-swap
//! on the revision read, and on a lost race read and apply again, a bounded number of
//! times. A 409 reaches the client only for a resourceVersion it sent that is no longer
//! current, or when the object kept changing through every attempt (the message says
//! so). Within one API server, writers to one key take turns, so they rarely race.
//!
//! Every write takes [`WriteOptions`]: under dry run admission, defaulting, validation
//! and the Service address checks run and the answer is the object as it would be, but
//! nothing is written and nothing allocated (the store's revision does not move). Field
//! validation of a patch runs on the patched object, never on the patch's directives.
//!
//! Reads go to the local store replica, linearizable (the replica forwards to the leader
//! when it is not it); watches are long polls on the replica's history.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use rudder_protocol::messages::store::{
    CmpOp, Compare, CompareTarget, Consistency, EventKind, Expect, KeyValue, OpResult, StoreError,
    StoreReply, StoreRequest, Txn, TxnOp, TxnResponse, WatchBatch,
};
use rudder_protocol::resources::{Status, StatusCause, StatusDetails, Time};
use rudder_protocol::ActorRef;
use serde_json::{json, Value};

use super::alloc::{self, Ranges};
use super::apply::{is_apply, take_entries, Manage};
use super::cache::{AtRevision, ResourceCache, WatchCache, READY_WAIT};
use super::kinds::{self, Admission, Deletion};
use super::registry::{self, ResourceInfo};
use super::selectors::{parse_field_selector_for, parse_label_selector};
use super::watch::{ChangesFrom, ListRead};
use crate::bus::Bus;
use crate::store::STORE_ACTOR;

/// An API error: the Kubernetes `Status` to answer with.
pub type ApiError = Box<Status>;
/// Result of an API operation.
pub type ApiResult<T> = Result<T, ApiError>;

const STORE_TIMEOUT: Duration = Duration::from_secs(10);
/// Namespaces every cluster has.
/// `kube-node-lease` holds the kubelets' heartbeat Leases (read by the node lifecycle
/// controller).
pub const BOOTSTRAP_NAMESPACES: [&str; 4] = rudder_protocol::names::namespaces::SYSTEM;

pub(super) fn fail(code: i32, reason: &str, message: impl Into<String>) -> ApiError {
    Box::new(Status::failure(code, reason, message))
}

pub(super) fn unexpected_reply() -> ApiError {
    fail(500, "InternalError", "unexpected reply from the store")
}

pub(super) fn fail_for(
    code: i32,
    reason: &str,
    info: &ResourceInfo,
    name: &str,
    message: String,
) -> ApiError {
    let mut s = Status::failure(code, reason, message);
    s.details = Some(StatusDetails {
        name: name.to_owned(),
        group: info.group.to_owned(),
        kind: info.plural.to_owned(),
        ..StatusDetails::default()
    });
    Box::new(s)
}

/// `<plural>[.<group>]`, as Kubernetes names a resource in messages.
pub(super) fn qualified(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        info.plural.to_owned()
    } else {
        format!("{}.{}", info.plural, info.group)
    }
}

pub(super) fn not_found(info: &ResourceInfo, name: &str) -> ApiError {
    fail_for(
        404,
        "NotFound",
        info,
        name,
        format!("{} \"{name}\" not found", qualified(info)),
    )
}

pub(super) fn conflict(info: &ResourceInfo, name: &str) -> ApiError {
    fail_for(
        409,
        "Conflict",
        info,
        name,
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            qualified(info)
        ),
    )
}

/// A served resource the API server itself reads or writes (500 if it is not served:
/// a build without the kind).
pub(super) fn served(group: &str, plural: &str) -> ApiResult<&'static ResourceInfo> {
    registry::resource(group, "v1", plural)
        .ok_or_else(|| fail(500, "InternalError", format!("{plural} not registered")))
}

/// Where one object lives in the store.
pub fn key(info: &ResourceInfo, namespace: Option<&str>, name: &str) -> String {
    format!("{}{name}", prefix(info, namespace))
}

/// The store's name of a resource: its plural, or `<group>/<plural>` for resources of
/// groups the static table does not serve (CRDs and the resources they define, whose
/// plurals are unique only within their group), as Kubernetes keys them.
fn stored_as(info: &ResourceInfo) -> String {
    if registry::RESOURCES.iter().any(|r| r.group == info.group) {
        info.plural.to_owned()
    } else {
        format!("{}/{}", info.group, info.plural)
    }
}

/// The key prefix of a collection (all namespaces when `namespace` is `None`).
pub fn prefix(info: &ResourceInfo, namespace: Option<&str>) -> String {
    let resource = stored_as(info);
    match namespace {
        Some(ns) if info.namespaced => format!("/registry/{resource}/{ns}/"),
        _ => format!("/registry/{resource}/"),
    }
}

fn meta(obj: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(m) => m,
        None => unreachable!("metadata was just made an object"),
    }
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// A fresh audit ID (a random UUID, as Kubernetes' audit IDs are).
pub(super) fn new_audit_id() -> String {
    new_uid()
}

pub(super) fn new_uid() -> String {
    let b: [u8; 16] = rand::thread_rng().gen();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    // Version 4, RFC 4122 variant.
    let variant = ["8", "9", "a", "b"][usize::from(b[8] & 3)];
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

pub(super) fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::thread_rng();
    (0..5)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Kubernetes' `fieldValidation`: what a write does with fields the object model does
/// not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drops them silently.
    Ignore,
    /// Drops them and tells the client (`Warning: 299` headers); Kubernetes' default.
    #[default]
    Warn,
    /// Refuses the write.
    Strict,
}

impl FieldValidation {
    /// The mode a `fieldValidation` value names (empty: the default); `None` for a value
    /// Kubernetes refuses.
    pub fn parse(value: &str) -> Option<FieldValidation> {
        match value {
            "" | "Warn" => Some(FieldValidation::Warn),
            "Ignore" => Some(FieldValidation::Ignore),
            "Strict" => Some(FieldValidation::Strict),
            _ => None,
        }
    }
}

/// The options of a write, whichever front it came through: what Rudder honours of
/// Kubernetes' `CreateOptions`, `UpdateOptions`, `PatchOptions` and `DeleteOptions`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: admission, defaulting and validation run and the answer is the
    /// object as it would be, but nothing is written and nothing is allocated.
    pub dry_run: bool,
    /// `fieldValidation`, applied to the object a patch produces (the fronts check the
    /// bodies of creates and updates as they decode them).
    pub field_validation: FieldValidation,
    /// `fieldManager`: who the write's fields belong to (see [`super::apply`]).
    pub field_manager: Option<String>,
    /// `force` of an apply patch: take fields other managers own.
    pub force: Option<bool>,
}

impl WriteOptions {
    /// Checks a request's `dryRun` values and `fieldValidation` as Kubernetes'
    /// `Validate{Create,Update,Patch,Delete}Options` do: a dry-run value other than `All`,
    /// or an unknown validation mode, is a 422 about `options_kind` (`CreateOptions`, ...).
    pub fn parse(
        options_kind: &str,
        dry_run: &[&str],
        field_validation: Option<&str>,
    ) -> ApiResult<WriteOptions> {
        let mut causes = Vec::new();
        if dry_run.iter().any(|v| *v != DRY_RUN_ALL) {
            let values: Vec<String> = dry_run.iter().map(|v| format!("{v:?}")).collect();
            causes.push(StatusCause {
                reason: "FieldValueNotSupported".into(),
                message: format!(
                    "Unsupported value: []string{{{}}}: supported values: \"{DRY_RUN_ALL}\"",
                    values.join(", ")
                ),
                field: "dryRun".into(),
            });
        }
        let mode = field_validation.unwrap_or_default();
        let field_validation = FieldValidation::parse(mode).unwrap_or_else(|| {
            causes.push(StatusCause {
                reason: "FieldValueNotSupported".into(),
                message: format!(
                    "Unsupported value: {mode:?}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
                ),
                field: "fieldValidation".into(),
            });
            FieldValidation::default()
        });
        if !causes.is_empty() {
            return Err(invalid_options(options_kind, causes));
        }
        Ok(WriteOptions {
            dry_run: !dry_run.is_empty(),
            field_validation,
            field_manager: None,
            force: None,
        })
    }
}

/// The `dryRun` values of a DeleteOptions body (where kubectl puts them).
pub fn delete_dry_run(options: &Value) -> Vec<&str> {
    options
        .get("dryRun")
        .and_then(Value::as_array)
        .map(|values| values.iter().map(|v| v.as_str().unwrap_or("")).collect())
        .unwrap_or_default()
}

/// The only `dryRun` value Kubernetes defines.
pub const DRY_RUN_ALL: &str = "All";

/// 422 about the options of a request, as `errors.NewInvalid` words it for
/// `meta.k8s.io` kinds: `CreateOptions.meta.k8s.io "" is invalid: dryRun: ...`.
pub(super) fn invalid_options(options_kind: &str, causes: Vec<StatusCause>) -> ApiError {
    let summary = super::validation::aggregate(
        &causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect::<Vec<_>>(),
    );
    let mut s = Status::failure(
        422,
        "Invalid",
        format!("{options_kind}.meta.k8s.io \"\" is invalid: {summary}"),
    );
    s.details = Some(StatusDetails {
        group: "meta.k8s.io".into(),
        kind: options_kind.to_owned(),
        causes,
        ..StatusDetails::default()
    });
    Box::new(s)
}

/// The answer to a patch: the object as written (or as it would be, under dry run) and
/// the warnings for the client (`Warning: 299` headers over HTTP).
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The object.
    pub object: Value,
    /// Warnings, each a `Warning` header value (`299 - "unknown field \"x\""`).
    pub warnings: Vec<String>,
}

/// The `Warning` header values for unknown fields (`fieldValidation=Warn`).
pub fn unknown_field_warnings(unknown: &[String]) -> Vec<String> {
    unknown
        .iter()
        .map(|f| format!("299 - \"unknown field \\\"{f}\\\"\""))
        .collect()
}

/// Field validation of the object a patch produced (Kubernetes validates the result, so
/// the patch's directives never count): under `Strict` unknown fields are a 422 on
/// `patch`, under `Warn` they become warnings. `kind` is the patched object's kind
/// (`Scale` for the scale subresource).
pub(super) fn check_patched_fields(
    info: &ResourceInfo,
    kind: &str,
    name: &str,
    patched: &Value,
    mode: FieldValidation,
) -> ApiResult<Vec<String>> {
    if mode == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    let unknown = if kind == info.kind {
        super::apply::model_unknown_fields_in(info, patched)
    } else {
        super::apply::model_unknown_fields(kind, patched)
    };
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    if mode == FieldValidation::Warn {
        return Ok(unknown_field_warnings(&unknown));
    }
    let fields: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    let message = format!("strict decoding error: {}", fields.join(", "));
    let mut s = Status::failure(
        422,
        "Invalid",
        format!(
            "{} \"{name}\" is invalid: patch: {message}",
            qualified_kind(info)
        ),
    );
    s.details = Some(StatusDetails {
        name: name.to_owned(),
        group: info.group.to_owned(),
        kind: info.kind.to_owned(),
        causes: vec![StatusCause {
            reason: "FieldValueInvalid".into(),
            message,
            field: "patch".into(),
        }],
        ..StatusDetails::default()
    });
    Err(Box::new(s))
}

/// `Deployment.apps` or `Pod`, as Kubernetes names a kind in messages.
fn qualified_kind(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        info.kind.to_owned()
    } else {
        format!("{}.{}", info.kind, info.group)
    }
}

/// The three patch formats `PATCH` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatchFormat {
    Merge,
    Json,
    Strategic,
}

impl PatchFormat {
    /// The format a request's content type names; 415 for any other.
    fn from_content_type(content_type: &str) -> ApiResult<PatchFormat> {
        match content_type.split(';').next().unwrap_or_default().trim() {
            "application/merge-patch+json" => Ok(PatchFormat::Merge),
            "application/json-patch+json" => Ok(PatchFormat::Json),
            "application/strategic-merge-patch+json" => Ok(PatchFormat::Strategic),
            other => Err(fail(
                415,
                "UnsupportedMediaType",
                format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {other:?})"),
            )),
        }
    }

    /// Applies `patch` to `target`, an object of `kind`.
    fn apply(self, target: &mut Value, patch: &Value, kind: &str) -> ApiResult<()> {
        match self {
            PatchFormat::Merge => {
                super::patch::json_merge_patch(target, patch);
                Ok(())
            }
            PatchFormat::Json => super::patch::json_patch(target, patch).map_err(patch_error),
            PatchFormat::Strategic => {
                super::patch::strategic_merge_patch(target, patch, kind).map_err(patch_error)
            }
        }
    }
}

/// How many times a write reads, re-applies and compares-and-swaps before it gives up
/// on an object other writers keep changing (Kubernetes' GuaranteedUpdate retries
/// without bound; a bound keeps a hot object from holding a request forever).
const UPDATE_ATTEMPTS: u32 = 64;

/// A short random pause after a lost compare-and-swap, growing with the attempts, so
/// that writers racing on one object spread out instead of colliding again.
async fn after_lost_race(key: &str, attempt: u32) {
    if attempt == 0 {
        return;
    }
    tracing::debug!(key, attempt, "lost a write race; reading again");
    let cap_ms = 1u64 << attempt.min(6);
    let ms = rand::thread_rng().gen_range(0..=cap_ms);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// 409 for a write that lost the race for an object `UPDATE_ATTEMPTS` times in a row.
fn retries_exhausted(info: &ResourceInfo, name: &str) -> ApiError {
    fail_for(
        409,
        "Conflict",
        info,
        name,
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object kept changing while this request was applied ({UPDATE_ATTEMPTS} attempts); please try again",
            qualified(info)
        ),
    )
}

pub(super) fn already_exists(info: &ResourceInfo, name: &str) -> ApiError {
    fail_for(
        409,
        "AlreadyExists",
        info,
        name,
        format!("{} \"{name}\" already exists", qualified(info)),
    )
}

/// Options of a list or watch, from the query string.
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `limit` (0: none).
    pub limit: u32,
    /// `continue`.
    pub continue_token: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch` (`Exact` or `NotOlderThan`).
    pub resource_version_match: Option<String>,
    /// `sendInitialEvents` (watches only).
    pub send_initial_events: Option<bool>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout_seconds: Option<u64>,
}

/// A compiled filter of a list or watch.
pub struct Filter {
    labels: super::selectors::LabelSelectorExpr,
    fields: Option<super::selectors::FieldSelector>,
    /// The kind, resolved once: its fields are read for every object filtered.
    kind: &'static dyn kinds::KindOps,
}

impl Filter {
    /// Parses the selectors of `opts` for `info`'s kind (400 on bad syntax).
    pub fn new(info: &ResourceInfo, opts: &ListOptions) -> ApiResult<Filter> {
        let kind = kinds::for_resource(info)?;
        let labels = match opts.label_selector.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => parse_label_selector(s).map_err(|e| {
                fail(
                    400,
                    "BadRequest",
                    format!("unable to parse requirement: {e}"),
                )
            })?,
            None => super::selectors::LabelSelectorExpr::everything(),
        };
        let fields = match opts.field_selector.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(
                parse_field_selector_for(info.kind, s)
                    .map_err(|e| fail(400, "BadRequest", e.to_string()))?,
            ),
            None => None,
        };
        Ok(Filter {
            labels,
            fields,
            kind,
        })
    }

    /// True when the filter lets every object through.
    pub fn is_everything(&self) -> bool {
        self.labels.is_empty() && self.fields.is_none()
    }

    /// Whether `obj` passes.
    pub fn matches(&self, obj: &Value) -> bool {
        if self.labels.is_empty() && self.fields.is_none() {
            return true;
        }
        let labels: BTreeMap<String, String> = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default();
        if !self.labels.matches(&labels) {
            return false;
        }
        match &self.fields {
            Some(f) => f.matches_fields(&self.kind.fields(obj)),
            None => true,
        }
    }
}

/// The API server's operations over the store.
#[derive(Clone)]
pub struct ApiCore {
    bus: Bus,
    store: ActorRef,
    cache: std::sync::Arc<WatchCache>,
    /// Seals Secrets on their way to the store and opens them on the way back.
    encryption: std::sync::Arc<super::encryption::Encryption>,
    pub(super) ranges: Ranges,
    /// The `tolerationSeconds` new pods get for the not-ready and unreachable taints.
    admission: Admission,
    /// The watches being served (`/debug/watchers`).
    pub watchers: super::watchers::Watchers,
    /// Read-modify-write cycles in progress here, one at a time per key.
    writers: std::sync::Arc<KeyLocks>,
    /// The cluster's service-account signing key, once read ([`super::authn`]).
    pub(super) sa_key:
        std::sync::Arc<tokio::sync::OnceCell<std::sync::Arc<super::satoken::SigningKey>>>,
    /// The cluster's client CA, once read ([`super::certificates`]).
    pub(super) client_ca:
        std::sync::Arc<tokio::sync::OnceCell<std::sync::Arc<super::certificates::ClientCa>>>,
    /// This node's bus certificate from the client CA, once made
    /// ([`super::bus_clients`]).
    pub(super) bus_certificate: super::bus_clients::BusCertificateSlot,
    /// Who may do what ([`super::rbac`]).
    authz: std::sync::Arc<super::rbac::Authorizer>,
    /// The audit log, when a policy is configured ([`super::audit`]).
    audit: Option<std::sync::Arc<super::audit::AuditLog>>,
    /// PodSecurity's defaults and exemptions ([`super::podsecurity::config`]).
    pod_security: std::sync::Arc<super::podsecurity::config::Config>,
}

/// One async lock per object key with a write in progress in this API server.
///
/// Writers racing on one object through the same API server take turns instead of
/// failing each other's compare-and-swap (50 concurrent patches on one Deployment cost
/// hundreds of wasted Raft writes otherwise). It is only an optimisation: writers on
/// other control-plane nodes and the controllers' own writes still race, and the
/// compare-and-swap with its retries is what keeps every write correct.
#[derive(Default)]
struct KeyLocks {
    held: std::sync::Mutex<Turns>,
}

/// The lock of each key with writers.
type Turns = std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>;

/// A turn at writing one key; the entry goes away with its last holder.
struct KeyTurn<'a> {
    locks: &'a KeyLocks,
    key: String,
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyLocks {
    fn held(&self) -> std::sync::MutexGuard<'_, Turns> {
        // The map is consistent after any panic (single inserts and removes).
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for this API server's turn to write `key`.
    async fn turn(&self, key: &str) -> KeyTurn<'_> {
        let lock = self.held().entry(key.to_owned()).or_default().clone();
        let turn = lock.lock_owned().await;
        KeyTurn {
            locks: self,
            key: key.to_owned(),
            turn: Some(turn),
        }
    }
}

impl Drop for KeyTurn<'_> {
    fn drop(&mut self) {
        drop(self.turn.take());
        let mut held = self.locks.held();
        // Nobody holds or waits for the lock but the map itself: forget the key.
        if held
            .get(&self.key)
            .is_some_and(|l| std::sync::Arc::strong_count(l) == 1)
        {
            held.remove(&self.key);
        }
    }
}

/// One watch event as the API sends it.
#[derive(Debug, Clone)]
pub struct ApiEvent {
    /// ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.
    pub kind: &'static str,
    /// The object (or a Status for ERROR).
    pub object: Value,
}

impl ApiCore {
    /// Operations through this node's store replica.
    pub fn new(bus: Bus) -> Self {
        let store = ActorRef::new(bus.node().clone(), STORE_ACTOR);
        let cache = std::sync::Arc::new(WatchCache::new(
            bus.clone(),
            store.clone(),
            std::sync::Arc::default(),
        ));
        ApiCore {
            bus,
            store,
            cache,
            encryption: Default::default(),
            ranges: Ranges::default(),
            admission: Admission {
                default_toleration_seconds: super::defaults::DEFAULT_TOLERATION_SECONDS,
            },
            watchers: Default::default(),
            writers: std::sync::Arc::default(),
            sa_key: std::sync::Arc::default(),
            client_ca: std::sync::Arc::default(),
            bus_certificate: std::sync::Arc::default(),
            authz: std::sync::Arc::new(super::rbac::Authorizer::new(Default::default())),
            audit: None,
            pod_security: std::sync::Arc::default(),
        }
    }

    /// The same core, with PodSecurity's defaults and exemptions from `config`.
    pub fn with_pod_security(mut self, config: super::podsecurity::config::Config) -> Self {
        self.pod_security = std::sync::Arc::new(config);
        self
    }

    /// PodSecurity's defaults and exemptions.
    pub(super) fn pod_security(&self) -> &super::podsecurity::config::Config {
        &self.pod_security
    }

    /// The same core, auditing requests to `log`.
    pub fn with_audit(mut self, log: super::audit::AuditLog) -> Self {
        self.audit = Some(std::sync::Arc::new(log));
        self
    }

    /// The audit log, if any.
    pub fn audit_log(&self) -> Option<&super::audit::AuditLog> {
        self.audit.as_deref()
    }

    /// The same core, authorizing in `mode`.
    pub fn with_authorization(mut self, mode: super::rbac::AuthorizationMode) -> Self {
        self.authz = std::sync::Arc::new(super::rbac::Authorizer::new(mode));
        self
    }

    /// The watch cache of this API server.
    pub(super) fn watch_cache(&self) -> &WatchCache {
        &self.cache
    }

    /// The authorizer and the watch cache it reads its rules from.
    pub(super) fn authorizer(&self) -> (&super::rbac::Authorizer, &WatchCache) {
        (&self.authz, &self.cache)
    }

    /// The same core, allocating Service addresses and node ports from `ranges`.
    pub fn with_ranges(mut self, ranges: Ranges) -> Self {
        self.ranges = ranges;
        self
    }

    /// The same core, encrypting Secrets at rest with `encryption`'s keys (its watch cache
    /// opens them too).
    pub fn with_encryption(mut self, encryption: super::encryption::Encryption) -> Self {
        let encryption = std::sync::Arc::new(encryption);
        self.cache = std::sync::Arc::new(WatchCache::new(
            self.bus.clone(),
            self.store.clone(),
            encryption.clone(),
        ));
        self.encryption = encryption;
        self
    }

    pub(super) async fn txn(&self, txn: Txn) -> ApiResult<TxnResponse> {
        match self.store(StoreRequest::Txn(txn)).await? {
            StoreReply::Txn(r) => Ok(r),
            _ => Err(unexpected_reply()),
        }
    }

    /// Deletes the object at `k` if it is still at `rev`; a Service releases its cluster
    /// IP and node ports in the same transaction. 409 when it changed, 404 when gone.
    async fn remove(
        &self,
        info: &ResourceInfo,
        name: &str,
        k: String,
        old: &Value,
        rev: u64,
    ) -> ApiResult<u64> {
        if !kinds::for_resource(info)?.claims_addresses() {
            return match self
                .store(StoreRequest::Delete {
                    key: k,
                    expect: Expect::ModRevision(rev),
                })
                .await
            {
                Ok(StoreReply::Written { revision, .. }) => Ok(revision),
                Ok(_) => Err(unexpected_reply()),
                Err(e) => Err(e),
            };
        }
        let mut success = vec![TxnOp::Delete { key: k.clone() }];
        success.extend(
            alloc::held(old)
                .into_iter()
                .map(|key| TxnOp::Delete { key }),
        );
        let r = self
            .txn(Txn {
                compares: vec![Compare {
                    key: k.clone(),
                    op: CmpOp::Equal,
                    target: CompareTarget::ModRevision(rev),
                }],
                success,
                failure: vec![TxnOp::Get { key: k }],
            })
            .await?;
        if r.succeeded {
            return Ok(r.revision);
        }
        match r.results.first() {
            Some(OpResult::Get { kv: Some(_) }) => Err(conflict(info, name)),
            _ => Err(not_found(info, name)),
        }
    }

    /// Sets the `tolerationSeconds` that new pods get for the `not-ready` and
    /// `unreachable` taints when they name none (Kubernetes' DefaultTolerationSeconds).
    pub fn with_default_toleration_seconds(mut self, seconds: i64) -> Self {
        self.admission.default_toleration_seconds = seconds;
        self
    }

    /// The store's current revision, confirmed by its leader (a Raft read index; no
    /// data is read).
    async fn current_revision(&self) -> ApiResult<u64> {
        match self
            .store(StoreRequest::Get {
                key: "/registry/".to_owned(),
                consistency: Consistency::Linearizable,
            })
            .await?
        {
            StoreReply::Get { revision, .. } => Ok(revision),
            _ => Err(unexpected_reply()),
        }
    }

    /// Brings the watch cache of `info` to the state `read` asks for: the latest (one Raft
    /// read index, then the cache catches up), any, or at least a revision; `None` when
    /// the cache cannot serve in time and the store must.
    async fn cache_for(
        &self,
        info: &ResourceInfo,
        read: ListRead,
    ) -> ApiResult<Option<std::sync::Arc<ResourceCache>>> {
        let cache = self.cache.resource(&prefix(info, None));
        let ok = match read {
            ListRead::Any => cache.wait_for(0, READY_WAIT).await,
            ListRead::NotOlderThan(min) | ListRead::Exact(min) => {
                cache.wait_for(min, READY_WAIT).await
            }
            ListRead::Latest => {
                let target = self.current_revision().await?;
                cache.wait_for(0, READY_WAIT).await && self.cache.catch_up(&cache, target).await
            }
        };
        Ok(ok.then_some(cache))
    }

    /// The revision a watch's changes start after, for a watch that sends no initial
    /// events: exactly the one asked for, the latest (a Raft read index), or whatever the
    /// watch cache has reached.
    pub async fn watch_start_revision(
        &self,
        info: &ResourceInfo,
        from: ChangesFrom,
    ) -> ApiResult<u64> {
        match from {
            ChangesFrom::Exact(rv) => Ok(rv),
            ChangesFrom::Latest => self.current_revision().await,
            ChangesFrom::Any => match self.cache_for(info, ListRead::Any).await? {
                Some(cache) => Ok(cache.revision()),
                None => self.current_revision().await,
            },
        }
    }

    /// Whether the value stored at `k` should be written again though unchanged (see
    /// [`super::encryption::Encryption::is_stale`]). Reads the stored bytes only when
    /// `k` is encrypted at rest.
    async fn stored_stale(&self, k: &str) -> ApiResult<bool> {
        if !self.encryption.enabled() || !super::encryption::encrypted(k) {
            return Ok(false);
        }
        let req = StoreRequest::Get {
            key: k.to_owned(),
            consistency: Consistency::Linearizable,
        };
        match self.store_raw(req).await? {
            StoreReply::Get { kv: Some(kv), .. } => Ok(self.encryption.is_stale(k, &kv.value)),
            _ => Ok(false),
        }
    }

    /// A request to the store, values sealed on the way in and opened on the way out.
    pub(super) async fn store(&self, req: StoreRequest) -> ApiResult<StoreReply> {
        let req = self
            .encryption
            .seal_request(req)
            .map_err(|e| fail(500, "InternalError", e.to_string()))?;
        Ok(self.encryption.open_reply(self.store_raw(req).await?))
    }

    /// A request to the store as it is; the reply's values as stored.
    async fn store_raw(&self, req: StoreRequest) -> ApiResult<StoreReply> {
        let started = std::time::Instant::now();
        // The labels are read before the request moves; only when recording.
        let timed =
            crate::telemetry::enabled().then(|| crate::telemetry::api::StoreShape::of(&req));
        let reply = self.bus.call(self.store.clone(), req, STORE_TIMEOUT).await;
        if let Some(shape) = &timed {
            crate::telemetry::metrics()
                .api
                .store_request(shape, started);
        }
        match reply {
            Ok(StoreReply::Error(e)) => Err(store_error(e)),
            Ok(r) => Ok(r),
            Err(e) => Err(fail(
                503,
                "ServiceUnavailable",
                format!("store unreachable: {e}"),
            )),
        }
    }

    pub(super) async fn read(&self, key: &str) -> ApiResult<Option<KeyValue>> {
        match self
            .store(StoreRequest::Get {
                key: key.to_owned(),
                consistency: Consistency::Linearizable,
            })
            .await?
        {
            StoreReply::Get { kv, .. } => Ok(kv),
            _ => Err(unexpected_reply()),
        }
    }

    /// Creates the bootstrap namespaces if they are missing.
    pub async fn bootstrap(&self) -> ApiResult<()> {
        let Some(info) = registry::resource("", "v1", "namespaces") else {
            return Err(fail(500, "InternalError", "namespaces not registered"));
        };
        for ns in BOOTSTRAP_NAMESPACES {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            match self.create(info, None, obj, WriteOptions::default()).await {
                Ok(_) => tracing::info!(namespace = ns, "created bootstrap namespace"),
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        // The system priority classes (Kubernetes' scheduling post-start hook).
        let Some(classes) = registry::resource("scheduling.k8s.io", "v1", "priorityclasses") else {
            return Err(fail(500, "InternalError", "priorityclasses not registered"));
        };
        for (name, value, description) in rudder_protocol::resources::SYSTEM_PRIORITY_CLASSES {
            let obj = json!({
                "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": name}, "value": value, "description": description,
            });
            match self
                .create(classes, None, obj, WriteOptions::default())
                .await
            {
                Ok(_) => tracing::info!(priority_class = name, "created system priority class"),
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        self.bootstrap_storage_class().await?;
        self.bootstrap_ingress_class().await?;
        self.bootstrap_dns_service().await?;
        self.bootstrap_kubernetes_service().await?;
        // The signing key exists before the first pod asks for a token, the client CA
        // before the first certificate is signed.
        self.signing_key().await?;
        self.client_ca().await?;
        self.bootstrap_apiservices().await?;
        super::rbac::bootstrap::ensure(self).await
    }

    /// The default IngressClass `rudder`, served by the built-in ingress controller.
    async fn bootstrap_ingress_class(&self) -> ApiResult<()> {
        use rudder_protocol::resources::{
            IS_DEFAULT_INGRESS_CLASS, RUDDER_INGRESS_CLASS, RUDDER_INGRESS_CONTROLLER,
        };
        let Some(classes) = registry::resource("networking.k8s.io", "v1", "ingressclasses") else {
            return Err(fail(500, "InternalError", "ingressclasses not registered"));
        };
        let obj = json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {
                "name": RUDDER_INGRESS_CLASS,
                "annotations": {IS_DEFAULT_INGRESS_CLASS: "true"},
            },
            "spec": {"controller": RUDDER_INGRESS_CONTROLLER},
        });
        match self
            .create(classes, None, obj, WriteOptions::default())
            .await
        {
            Ok(_) => tracing::info!(
                ingress_class = RUDDER_INGRESS_CLASS,
                "created default ingress class"
            ),
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// The `kube-dns` Service at the tenth address of the service range: no selector and
    /// no endpoints, since every worker's proxy steers it to its own node's `dns` actor
    /// (`crate::dns`).
    async fn bootstrap_dns_service(&self) -> ApiResult<()> {
        let Some(services) = registry::resource("", "v1", "services") else {
            return Err(fail(500, "InternalError", "services not registered"));
        };
        let (ns, name) = crate::dns::SERVICE;
        let ip = crate::dns::service_ip(self.ranges.service_cidr).to_string();
        let obj = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": {
                "k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS",
                "kubernetes.io/cluster-service": "true"}},
            "spec": {"clusterIP": ip, "clusterIPs": [ip], "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            ]},
        });
        match self
            .create(services, Some(ns), obj, WriteOptions::default())
            .await
        {
            Ok(_) => {
                tracing::info!(service = name, address = %ip, "created the cluster DNS service")
            }
            Err(e) if e.code == 409 => {}
            // Another Service may hold the address (a range shared with an older cluster):
            // DNS by name still works through explicit nameservers; do not fail start-up.
            Err(e) => {
                tracing::warn!(service = name, error = %e.message, "cannot create the cluster DNS service")
            }
        }
        Ok(())
    }

    /// One Local, Available APIService per served group-version (the resource metrics
    /// API's `v1beta1.metrics.k8s.io` included), as kube-apiserver registers its own.
    async fn bootstrap_apiservices(&self) -> ApiResult<()> {
        use rudder_protocol::resources::APIService;
        let Some(info) = registry::resource("apiregistration.k8s.io", "v1", "apiservices") else {
            return Err(fail(500, "InternalError", "apiservices not registered"));
        };
        let computed = rudder_protocol::registry::COMPUTED_RESOURCES
            .iter()
            .map(|r| (r.group, r.version));
        let mut done = Vec::new();
        for (group, version) in registry::GROUP_VERSIONS.iter().copied().chain(computed) {
            if done.contains(&(group, version)) {
                continue;
            }
            done.push((group, version));
            let obj = serde_json::to_value(APIService::local(group, version, Time::now()))
                .map_err(|e| fail(500, "InternalError", e.to_string()))?;
            match self.create(info, None, obj, WriteOptions::default()).await {
                Ok(_) => tracing::debug!(group, version, "registered local APIService"),
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The default StorageClass `local-path` (k3s ships the same): volumes are
    /// directories on the node the first consumer is scheduled to, deleted with their
    /// claim.
    async fn bootstrap_storage_class(&self) -> ApiResult<()> {
        use rudder_protocol::resources::{
            IS_DEFAULT_CLASS_ANNOTATION, LOCAL_PATH_CLASS, LOCAL_PATH_PROVISIONER,
        };
        let Some(classes) = registry::resource("storage.k8s.io", "v1", "storageclasses") else {
            return Err(fail(500, "InternalError", "storageclasses not registered"));
        };
        let obj = json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {
                "name": LOCAL_PATH_CLASS,
                "annotations": {IS_DEFAULT_CLASS_ANNOTATION: "true"},
            },
            "provisioner": LOCAL_PATH_PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
        });
        match self
            .create(classes, None, obj, WriteOptions::default())
            .await
        {
            Ok(_) => tracing::info!(
                storage_class = LOCAL_PATH_CLASS,
                "created default storage class"
            ),
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Kubernetes' NamespaceLifecycle admission on create: a namespaced object needs its
    /// namespace to exist (404 naming the namespace) and not to be terminating (403
    /// with the `NamespaceTerminating` cause). `obj` is the object being created.
    async fn check_namespace(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        obj: &Value,
    ) -> ApiResult<()> {
        if !info.namespaced {
            return Ok(());
        }
        let Some(ns) = namespace else {
            return Err(fail(
                400,
                "BadRequest",
                "the namespace of the object is required",
            ));
        };
        let Some(ns_info) = registry::resource("", "v1", "namespaces") else {
            return Ok(());
        };
        // As Kubernetes' NamespaceLifecycle admission: trust the cache when it knows
        // the namespace, read the store when it does not (it may be brand new).
        let ns_key = key(ns_info, None, ns);
        let cached = self.cache.resource(&prefix(ns_info, None)).get(&ns_key);
        let found = match cached {
            Some(obj) => Some((*obj).clone()),
            None => match self.read(&ns_key).await? {
                Some(kv) => Some(decode(&kv)?),
                None => None,
            },
        };
        match found {
            None => Err(not_found(ns_info, ns)),
            Some(ns_obj) => {
                if ns_obj.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") {
                    let mut e = super::admission::forbidden(
                        info,
                        obj,
                        format_args!("unable to create new content in namespace {ns} because it is being terminated"),
                    );
                    if let Some(details) = e.details.as_mut() {
                        details.causes.push(StatusCause {
                            reason: "NamespaceTerminating".into(),
                            message: format!("namespace {ns} is being terminated"),
                            field: "metadata.namespace".into(),
                        });
                    }
                    return Err(e);
                }
                Ok(())
            }
        }
    }

    /// Creates an object. Under dry run everything but the write happens: the answer is
    /// the object as it would be stored (without a resourceVersion), an existing object
    /// is still a conflict, and a Service's addresses stay free.
    pub async fn create(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        obj: Value,
        opts: WriteOptions,
    ) -> ApiResult<Value> {
        let manage = Manage::update(info, &opts, "");
        self.create_as(info, namespace, obj, opts, &manage).await
    }

    /// [`ApiCore::create`], recording field ownership as `manage` says.
    pub(super) async fn create_as(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        mut obj: Value,
        opts: WriteOptions,
        manage: &Manage,
    ) -> ApiResult<Value> {
        let kind = kinds::for_resource(info)?;
        if !obj.is_object() {
            return Err(fail(400, "BadRequest", "the body must be a JSON object"));
        }
        if let Some(kind) = obj.get("kind").and_then(Value::as_str) {
            if kind != info.kind {
                return Err(fail(
                    400,
                    "BadRequest",
                    format!("the kind {kind:?} does not match the URL's {}", info.kind),
                ));
            }
        }
        obj["kind"] = json!(info.kind);
        obj["apiVersion"] = json!(super::crd::registry::stored_api_version(info));
        let body_ns = meta_str(&obj, "namespace").map(str::to_owned);
        let namespace = match (info.namespaced, namespace, body_ns.as_deref()) {
            (false, _, _) => None,
            (true, Some(p), Some(b)) if p != b => {
                return Err(fail(400, "BadRequest", format!("the namespace of the provided object ({b}) does not match the namespace sent on the request ({p})")))
            }
            (true, Some(p), _) => Some(p.to_owned()),
            (true, None, Some(b)) => Some(b.to_owned()),
            (true, None, None) => Some("default".to_owned()),
        };
        {
            let m = meta(&mut obj);
            let name = m
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if name.is_empty() {
                if let Some(gen) = m
                    .get("generateName")
                    .and_then(Value::as_str)
                    .filter(|g| !g.is_empty())
                {
                    m.insert("name".into(), json!(format!("{gen}{}", random_suffix())));
                }
            }
            match &namespace {
                Some(ns) => {
                    m.insert("namespace".into(), json!(ns));
                }
                None => {
                    m.remove("namespace");
                }
            }
            m.insert("uid".into(), json!(new_uid()));
            m.insert("creationTimestamp".into(), json!(Time::now()));
            m.insert("generation".into(), json!(1));
            for f in [
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "selfLink",
            ] {
                m.remove(f);
            }
        }
        let sent = take_entries(&mut obj);
        // Admission (on create only, as in Kubernetes): NamespaceLifecycle first, then
        // the kind's plugins, defaulting and validation, then ResourceQuota, which
        // charges the object's usage to its namespace's quotas just before the write.
        self.check_namespace(info, namespace.as_deref(), &obj)
            .await?;
        for plugin in kind.admission_plugins() {
            plugin(self, kind.info(), &mut obj).await?;
        }
        let mut obj = kind.admit(obj, &self.admission)?;
        for plugin in kind.validation_plugins() {
            let change = super::admission::Change {
                object: &obj,
                old: None,
                subresource: "",
            };
            plugin(self, kind.info(), change).await?;
        }
        manage.record(info, None, &mut obj, sent);
        let name = meta_str(&obj, "name").unwrap_or_default().to_owned();
        super::quota::admit(self, kind.info(), namespace.as_deref(), &obj, opts.dry_run).await?;
        let k = key(info, namespace.as_deref(), &name);
        if kind.claims_addresses() {
            return self
                .write_service(info, &name, &k, obj, None, opts.dry_run)
                .await?
                // A create has no earlier version to have raced with.
                .ok_or_else(unexpected_reply);
        }
        if opts.dry_run {
            // As Kubernetes' dry-run storage: an existing object is still a conflict.
            return match self.read(&k).await? {
                Some(_) => Err(already_exists(info, &name)),
                None => Ok(obj),
            };
        }
        let bytes =
            serde_json::to_vec(&obj).map_err(|e| fail(500, "InternalError", e.to_string()))?;
        match self
            .store(StoreRequest::Put {
                key: k,
                value: bytes,
                expect: Expect::Absent,
            })
            .await
        {
            Ok(StoreReply::Written { revision, .. }) => Ok(with_rv(obj, revision)),
            Ok(_) => Err(unexpected_reply()),
            Err(e) if e.code == 409 => Err(already_exists(info, &name)),
            Err(e) => Err(e),
        }
    }

    /// Reads one object with its key-value metadata.
    pub async fn get_kv(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<(Value, u64)> {
        match self.read(&key(info, namespace, name)).await? {
            Some(kv) => Ok((decode(&kv)?, kv.mod_revision)),
            None => Err(not_found(info, name)),
        }
    }

    /// One object as the watch cache holds it, without a store read (`None` when the
    /// cache does not hold it, including while it is starting).
    pub(super) fn cached(&self, info: &ResourceInfo, key: &str) -> Option<std::sync::Arc<Value>> {
        self.cache.resource(&prefix(info, None)).get(key)
    }

    /// The node's bus (the pods/log route asks the pod's kubelet through it).
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Reads one object.
    pub async fn get(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<Value> {
        Ok(self.get_kv(info, namespace, name).await?.0)
    }

    /// Lists objects; returns the items, the revision of the read and a continue token.
    /// Which state is read follows Kubernetes' `resourceVersion` and
    /// `resourceVersionMatch` rules ([`super::watch::list_read`]).
    pub async fn list(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<(Vec<Value>, u64, Option<String>)> {
        let read = super::watch::list_read(opts)?;
        let filter = Filter::new(info, opts)?;
        let pfx = prefix(info, namespace);
        if let ListRead::Exact(revision) = read {
            return self
                .list_exact(info, &pfx, revision, opts.limit, &filter)
                .await;
        }
        let mut items = Vec::new();
        let (mut after, at) = match &opts.continue_token {
            Some(t) if !t.is_empty() => {
                let c = decode_continue(t, &pfx)?;
                (Some(c.start), c.revision)
            }
            _ => (None, 0),
        };
        if at > 0 {
            // The next page of a paged list: the state of its first page.
            return self
                .list_page_at(
                    info,
                    &pfx,
                    &after.unwrap_or_default(),
                    at,
                    opts.limit,
                    &filter,
                )
                .await;
        }
        if let Some(cache) = self.cache_for(info, read).await? {
            let served = cache.list(&pfx, after.as_deref(), opts.limit as usize, |o| {
                filter.matches(o)
            });
            if let Some((items, revision, more)) = served {
                let token = more
                    .then(|| items.last().map(|(k, _)| encode_continue(k, revision)))
                    .flatten();
                let items = items.into_iter().map(|(_, o)| (*o).clone()).collect();
                return Ok((items, revision, token));
            }
        }
        let page = if opts.limit == 0 {
            500
        } else {
            opts.limit.clamp(1, 500)
        };
        loop {
            let req = StoreRequest::Range {
                prefix: pfx.clone(),
                start_after: after.clone(),
                limit: page,
                consistency: Consistency::Linearizable,
            };
            let StoreReply::Range {
                kvs,
                more,
                revision,
            } = self.store(req).await?
            else {
                return Err(unexpected_reply());
            };
            if let ListRead::NotOlderThan(min) = read {
                if revision < min {
                    return Err(too_large_resource_version(min, revision));
                }
            }
            after = kvs.last().map(|kv| kv.key.clone());
            for kv in &kvs {
                let obj = decode(kv)?;
                if filter.matches(&obj) {
                    items.push(obj);
                }
            }
            let full = opts.limit > 0 && items.len() >= opts.limit as usize;
            if !more || full {
                let token = if more || (full && items.len() > opts.limit as usize) {
                    after.map(|a| encode_continue(&a, revision))
                } else {
                    None
                };
                return Ok((items, revision, token));
            }
        }
    }

    /// A list at exactly `revision`, from the watch cache's window of changes: `410
    /// Expired` when the window no longer reaches back to it, `504` when the cache cannot
    /// reach it.
    async fn list_exact(
        &self,
        info: &ResourceInfo,
        pfx: &str,
        revision: u64,
        limit: u32,
        filter: &Filter,
    ) -> ApiResult<(Vec<Value>, u64, Option<String>)> {
        self.read_at(info, pfx, None, revision, limit, filter)
            .await
            .map_err(|e| match e {
                AtRevisionError::TooOld { oldest } => Box::new(Status::expired(format!(
                    "too old resource version: {revision} ({oldest})"
                ))),
                AtRevisionError::Other(e) => e,
            })
    }

    /// The page after `start` of a paged list whose first page was read at `revision`,
    /// from the watch cache's window, so every page shows the same state (Kubernetes
    /// carries the revision in the continue token too). `410 Expired` once the window
    /// has moved past it: the client starts the list again.
    async fn list_page_at(
        &self,
        info: &ResourceInfo,
        pfx: &str,
        start: &str,
        revision: u64,
        limit: u32,
        filter: &Filter,
    ) -> ApiResult<(Vec<Value>, u64, Option<String>)> {
        self.read_at(info, pfx, Some(start), revision, limit, filter)
            .await
            .map_err(|e| match e {
                AtRevisionError::TooOld { .. } => Box::new(Status::expired(
                    "The provided continue parameter is too old to display a consistent list result. \
                     You can start a new list without the continue parameter.",
                )),
                AtRevisionError::Other(e) => e,
            })
    }

    async fn read_at(
        &self,
        info: &ResourceInfo,
        pfx: &str,
        start: Option<&str>,
        revision: u64,
        limit: u32,
        filter: &Filter,
    ) -> Result<(Vec<Value>, u64, Option<String>), AtRevisionError> {
        let cache = self.cache.resource(&prefix(info, None));
        cache.wait_for(revision, READY_WAIT).await;
        match cache.list_at(pfx, start, revision, limit as usize, |o| filter.matches(o)) {
            Ok((items, more)) => {
                let token = more
                    .then(|| items.last().map(|(k, _)| encode_continue(k, revision)))
                    .flatten();
                Ok((
                    items.into_iter().map(|(_, o)| (*o).clone()).collect(),
                    revision,
                    token,
                ))
            }
            Err(AtRevision::TooOld { oldest }) => Err(AtRevisionError::TooOld { oldest }),
            Err(AtRevision::TooNew { current }) => Err(AtRevisionError::Other(
                too_large_resource_version(revision, current),
            )),
            Err(AtRevision::NotReady) => Err(AtRevisionError::Other(fail(
                503,
                "ServiceUnavailable",
                "the watch cache is not ready yet; try again",
            ))),
        }
    }

    /// Replaces an object (PUT), or the `part` of it a subresource writes. A body with a resourceVersion is a precondition: 409 when the
    /// object moved on. A body without one is applied to whatever version is current,
    /// re-read and re-applied when another writer gets there first.
    #[allow(clippy::too_many_arguments)]
    pub async fn update(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        obj: Value,
        part: Part,
        opts: WriteOptions,
    ) -> ApiResult<Value> {
        check_name(&obj, name)?;
        let manage = Manage::update(info, &opts, part.subresource());
        self.guaranteed_update_as(info, namespace, name, opts.dry_run, &manage, |old| {
            Ok((replacement(info, old, obj.clone(), part), part.check()))
        })
        .await
    }

    /// Kubernetes' GuaranteedUpdate: reads the object, lets `apply` compute the new one
    /// from it (and whether it is validated as an update or, for subresources that may
    /// set immutable fields, afresh), and writes it if the object is still the version
    /// read. When another writer got there first it reads and applies again, up to
    /// [`UPDATE_ATTEMPTS`] times.
    ///
    /// A resourceVersion that `apply` leaves on the new object is the client's
    /// precondition: when it is not the version read, the answer is 409 at once (a
    /// retry cannot help a client that sent a stale version). Under `dry_run` the first
    /// attempt's result is the answer and nothing is written.
    pub(super) async fn guaranteed_update<F>(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
        apply: F,
    ) -> ApiResult<Value>
    where
        F: FnMut(&Value) -> ApiResult<(Value, Check)>,
    {
        let manage = Manage::update(info, &WriteOptions::default(), "");
        self.guaranteed_update_as(info, namespace, name, dry_run, &manage, apply)
            .await
    }

    /// [`ApiCore::guaranteed_update`], recording field ownership as `manage` says.
    pub(super) async fn guaranteed_update_as<F>(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
        manage: &Manage,
        mut apply: F,
    ) -> ApiResult<Value>
    where
        F: FnMut(&Value) -> ApiResult<(Value, Check)>,
    {
        let k = key(info, namespace, name);
        let _turn = if dry_run {
            None
        } else {
            Some(self.writers.turn(&k).await)
        };
        for attempt in 0..UPDATE_ATTEMPTS {
            after_lost_race(&k, attempt).await;
            let (old, old_rev) = self.get_kv(info, namespace, name).await?;
            let (new, check) = apply(&old)?;
            if let Some(rv) = meta_str(&new, "resourceVersion").filter(|rv| !rv.is_empty()) {
                if rv != old_rev.to_string() {
                    return Err(conflict(info, name));
                }
            }
            let written = self
                .write(
                    info,
                    namespace,
                    name,
                    new,
                    (&old, old_rev),
                    check,
                    (dry_run, manage),
                )
                .await?;
            if let Some(v) = written {
                return Ok(v);
            }
        }
        Err(retries_exhausted(info, name))
    }

    /// Writes `new` over `old` (read at its revision), defaulted and validated. `None`
    /// when the object changed or went away since it was read (the caller reads again);
    /// under `dry_run` the object as it would be written, with `old`'s revision.
    #[allow(clippy::too_many_arguments)]
    async fn write(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        mut new: Value,
        (old, old_rev): (&Value, u64),
        check: Check,
        (dry_run, manage): (bool, &Manage),
    ) -> ApiResult<Option<Value>> {
        let kind = kinds::for_resource(info)?;
        meta(&mut new).remove("resourceVersion");
        let sent = take_entries(&mut new);
        let validate_update = check != Check::Afresh;
        if check == Check::Update {
            kind.prepare_update(&mut new, old);
        }
        let old_plain = strip_rv(old);
        let mut new = if validate_update {
            kind.typed(new, Some(&old_plain))?
        } else {
            kind.typed(new, None)?
        };
        for plugin in kind.validation_plugins() {
            let change = super::admission::Change {
                object: &new,
                old: Some(&old_plain),
                subresource: manage.subresource(),
            };
            plugin(self, kind.info(), change).await?;
        }
        manage.record(info, Some(&old_plain), &mut new, sent);
        if check != Check::Afresh && info.namespaced {
            // ResourceQuota admission of what the update adds, if anything.
            let growth = super::quota::growth(kind, &old_plain, &new);
            if !growth.is_empty() {
                // Boxed: the quota's own write comes back through here (as `Afresh`,
                // so never further).
                Box::pin(super::quota::admit_usage(
                    self,
                    kind.info(),
                    namespace,
                    &new,
                    growth,
                    dry_run,
                ))
                .await?;
            }
        }
        if new == old_plain && !self.stored_stale(&key(info, namespace, name)).await? {
            // Nothing changed: no write, no new resourceVersion (as Kubernetes does),
            // unless the stored value is sealed with an older key (then the write
            // re-encrypts it, which is how `kubectl replace` rotates Secrets).
            return Ok(Some(old.clone()));
        }
        if validate_update && new.get("spec") != old.get("spec") {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                + 1;
            meta(&mut new).insert("generation".into(), json!(g));
        }
        let k = key(info, namespace, name);
        // A terminating object whose last finalizer went away is deleted, once its grace
        // period is over (Kubernetes' `shouldDeleteDuringUpdate`): a pod its kubelet is
        // still stopping stays, whatever else updates it meanwhile (its status, a
        // label), until the kubelet deletes it with no grace.
        let finalizers_empty = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty());
        if new.pointer("/metadata/deletionTimestamp").is_some()
            && finalizers_empty
            && deletion_grace(old) == 0
            && !kind.finalizers_pending(&new)
        {
            if dry_run {
                return Ok(Some(with_rv(new, old_rev)));
            }
            return match self.remove(info, name, k, old, old_rev).await {
                Ok(revision) => Ok(Some(with_rv(new, revision))),
                Err(e) if e.code == 409 || e.code == 404 => Ok(None),
                Err(e) => Err(e),
            };
        }
        if kind.claims_addresses() && check == Check::Update {
            return self
                .write_service(info, name, &k, new, Some((old, old_rev)), dry_run)
                .await;
        }
        if dry_run {
            return Ok(Some(with_rv(new, old_rev)));
        }
        let bytes =
            serde_json::to_vec(&new).map_err(|e| fail(500, "InternalError", e.to_string()))?;
        match self
            .store(StoreRequest::Put {
                key: k,
                value: bytes,
                expect: Expect::ModRevision(old_rev),
            })
            .await
        {
            Ok(StoreReply::Written { revision, .. }) => Ok(Some(with_rv(new, revision))),
            Ok(_) => Err(unexpected_reply()),
            // Changed or gone since it was read: the next read tells which.
            Err(e) if e.code == 409 || e.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Applies `patch` (of `content_type`) to an object, as Kubernetes does: to the
    /// current version, again after a lost race (a patch never fails because a
    /// controller wrote the object in between), with a 409 only when the patch itself
    /// names a resourceVersion that is no longer current. Field validation runs on the
    /// patched object, so patch directives never count as unknown fields.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        content_type: &str,
        patch: &Value,
        part: Part,
        opts: WriteOptions,
    ) -> ApiResult<Written> {
        // A patch written at a second version of a built-in kind applies to the object
        // as that version shows it; the result is stored as the stored version.
        let served = info;
        let info = super::versions::storage(served);
        let converts = super::versions::is_other_version(served);
        if is_apply(content_type) {
            if converts {
                let mut patch = patch.clone();
                super::versions::apply_to_stored(served, &mut patch);
                return self.apply(info, namespace, name, &patch, part, &opts).await;
            }
            return self.apply(info, namespace, name, patch, part, &opts).await;
        }
        opts.check_patch(false)?;
        let format = PatchFormat::from_content_type(content_type)?;
        if format == PatchFormat::Strategic && super::crd::registry::custom_for(info).is_some() {
            // As Kubernetes: custom resources have no patch strategies to merge by.
            return Err(fail(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        let manage = Manage::update(info, &opts, part.subresource());
        let mut warnings = Vec::new();
        let object = self
            .guaranteed_update_as(info, namespace, name, opts.dry_run, &manage, |old| {
                let mut patched = old.clone();
                if converts {
                    super::versions::serve_as(served, &mut patched);
                }
                format.apply(&mut patched, patch, info.kind)?;
                check_name(&patched, name)?;
                warnings = check_patched_fields(
                    served,
                    served.kind,
                    name,
                    &patched,
                    opts.field_validation,
                )?;
                if converts {
                    super::versions::to_stored(served, &mut patched);
                }
                Ok((replacement(info, old, patched, part), part.check()))
            })
            .await?;
        Ok(Written { object, warnings })
    }

    /// Deletes an object: at once, or by marking it terminating while finalizers remain
    /// (or, for a bound pod with a grace period, until its kubelet has stopped it).
    /// `options` is the request's DeleteOptions (preconditions, grace period,
    /// propagation). Under dry run the answer is what the deletion would return (the
    /// object, marked terminating when the deletion would be graceful) and nothing
    /// changes.
    pub async fn delete(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        options: &Value,
        opts: WriteOptions,
    ) -> ApiResult<Value> {
        let kind = kinds::for_resource(info)?;
        if let Some(why) = kind.delete_refused(name) {
            return Err(super::admission::forbidden(
                info,
                &json!({"metadata": {"name": name}}),
                why,
            ));
        }
        let k = key(info, namespace, name);
        let _turn = if opts.dry_run {
            None
        } else {
            Some(self.writers.turn(&k).await)
        };
        for attempt in 0..UPDATE_ATTEMPTS {
            after_lost_race(&k, attempt).await;
            let (old, old_rev) = self.get_kv(info, namespace, name).await?;
            if let Some(rv) = options
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
            {
                if rv != old_rev.to_string() {
                    return Err(conflict(info, name));
                }
            }
            if let Some(uid) = options
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
            {
                if Some(uid) != meta_str(&old, "uid") {
                    return Err(conflict(info, name));
                }
            }
            let grace = options
                .get("gracePeriodSeconds")
                .and_then(Value::as_i64)
                .or_else(|| {
                    old.pointer("/spec/terminationGracePeriodSeconds")
                        .and_then(Value::as_i64)
                })
                .unwrap_or(0);
            let mut finalizers: Vec<Value> = old
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let policy = options.get("propagationPolicy").and_then(Value::as_str);
            if policy == Some("Foreground") && !finalizers.contains(&json!("foregroundDeletion")) {
                finalizers.push(json!("foregroundDeletion"));
            }
            if policy == Some("Orphan") && !finalizers.contains(&json!("orphan")) {
                finalizers.push(json!("orphan"));
            }
            let deletion = kind.deletion(&old, grace);
            if !finalizers.is_empty() || deletion != Deletion::Immediate {
                if deletion == Deletion::WhenEmpty
                    && finalizers.is_empty()
                    && self.namespace_is_empty(name).await?
                {
                    // Nothing inside: no controller needs to empty it first.
                } else {
                    // The grace period the object is given: none unless the kind
                    // stops gracefully; a second deletion may shorten it, never
                    // lengthen it (Kubernetes' `BeforeDelete`).
                    let grace = match deletion {
                        Deletion::Graceful => grace.max(0),
                        Deletion::Immediate | Deletion::WhenEmpty => 0,
                    };
                    // The deletion is due when the grace period is over, so the
                    // timestamp is that moment (Kubernetes' `BeforeDelete`: a pod's
                    // bound tokens stay valid, and it counts in quota, until then).
                    let since = old
                        .pointer("/metadata/deletionTimestamp")
                        .and_then(Value::as_str)
                        .and_then(|t| Time::parse(t).ok());
                    let mut new = old.clone();
                    let m = meta(&mut new);
                    match since {
                        None => {
                            let due = Time(Time::now().0.saturating_add(grace));
                            m.insert("deletionTimestamp".into(), json!(due));
                            m.insert("deletionGracePeriodSeconds".into(), json!(grace));
                        }
                        Some(due) if grace < deletion_grace(&old) => {
                            // Shortened: due that much sooner.
                            let sooner = deletion_grace(&old) - grace;
                            let due = Time(due.0.saturating_sub(sooner));
                            m.insert("deletionTimestamp".into(), json!(due));
                            m.insert("deletionGracePeriodSeconds".into(), json!(grace));
                        }
                        Some(_) => {}
                    }
                    m.insert("finalizers".into(), Value::Array(finalizers));
                    kind.mark_terminating(&mut new);
                    if opts.dry_run {
                        return Ok(new);
                    }
                    let bytes = serde_json::to_vec(&strip_rv(&new))
                        .map_err(|e| fail(500, "InternalError", e.to_string()))?;
                    match self
                        .store(StoreRequest::Put {
                            key: k.clone(),
                            value: bytes,
                            expect: Expect::ModRevision(old_rev),
                        })
                        .await
                    {
                        Ok(StoreReply::Written { revision, .. }) => {
                            return Ok(with_rv(new, revision))
                        }
                        Ok(_) => return Err(unexpected_reply()),
                        Err(e) if e.code == 409 => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
            if opts.dry_run {
                return Ok(old);
            }
            match self.remove(info, name, k.clone(), &old, old_rev).await {
                Ok(_) => return Ok(old),
                Err(e) if e.code == 409 => continue,
                Err(e) if e.code == 404 => return Err(not_found(info, name)),
                Err(e) => return Err(e),
            }
        }
        Err(retries_exhausted(info, name))
    }

    /// Deletes every object of a collection that `list` selects (deletecollection), one
    /// by one with the same `options`; objects that vanish meanwhile are skipped.
    /// Returns what each deletion returned.
    pub async fn delete_collection(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        list: &ListOptions,
        options: &Value,
        opts: WriteOptions,
    ) -> ApiResult<Vec<Value>> {
        let every = ListOptions {
            limit: 0,
            continue_token: None,
            ..list.clone()
        };
        let (items, _, _) = self.list(info, namespace, &every).await?;
        let mut deleted = Vec::with_capacity(items.len());
        for obj in items {
            let Some(n) = meta_str(&obj, "name") else {
                continue;
            };
            let obj_ns = meta_str(&obj, "namespace").or(namespace);
            match self.delete(info, obj_ns, n, options, opts.clone()).await {
                Ok(d) => deleted.push(d),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }

    async fn namespace_is_empty(&self, ns: &str) -> ApiResult<bool> {
        for info in registry::all_resources()
            .into_iter()
            .filter(|r| r.namespaced)
        {
            let req = StoreRequest::Range {
                prefix: prefix(info, Some(ns)),
                start_after: None,
                limit: 1,
                consistency: Consistency::Linearizable,
            };
            if let StoreReply::Range { kvs, .. } = self.store(req).await? {
                if !kvs.is_empty() {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// The scale subresource of a workload.
    pub async fn get_scale(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<Value> {
        let obj = self.get(info, namespace, name).await?;
        Ok(scale_of(&obj))
    }

    /// Sets `spec.replicas` through the scale subresource (body: a Scale). The Scale's
    /// resourceVersion, if it has one, is a precondition; without one the replicas are
    /// set on whatever version is current.
    pub async fn put_scale(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        scale: &Value,
        opts: WriteOptions,
    ) -> ApiResult<Value> {
        check_name(scale, name)?;
        let replicas = scale_replicas(scale)?;
        let rv = meta_str(scale, "resourceVersion");
        let manage = Manage::update(info, &opts, "scale");
        let obj = self
            .guaranteed_update_as(info, namespace, name, opts.dry_run, &manage, |old| {
                Ok((scaled(old, replicas, rv), Check::Update))
            })
            .await?;
        Ok(scale_of(&obj))
    }

    /// Patches the scale subresource: the patch applies to the current Scale (a
    /// `Scale`'s schema for strategic merge and field validation), and the replicas it
    /// ends with are written, again after a lost race.
    pub async fn patch_scale(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        content_type: &str,
        patch: &Value,
        opts: WriteOptions,
    ) -> ApiResult<Written> {
        opts.check_patch(false)?;
        let format = PatchFormat::from_content_type(content_type)?;
        let manage = Manage::update(info, &opts, "scale");
        let mut warnings = Vec::new();
        let obj = self
            .guaranteed_update_as(info, namespace, name, opts.dry_run, &manage, |old| {
                let mut scale = scale_of(old);
                format.apply(&mut scale, patch, "Scale")?;
                check_name(&scale, name)?;
                warnings =
                    check_patched_fields(info, "Scale", name, &scale, opts.field_validation)?;
                let replicas = scale_replicas(&scale)?;
                Ok((
                    scaled(old, replicas, meta_str(&scale, "resourceVersion")),
                    Check::Update,
                ))
            })
            .await?;
        Ok(Written {
            object: scale_of(&obj),
            warnings,
        })
    }

    /// Binds a pod to a node (the binding subresource). As Kubernetes' binding storage,
    /// a write racing the binding (a status update) is retried; only a pod that already
    /// has a node is a conflict.
    pub async fn bind(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        binding: &Value,
        opts: WriteOptions,
    ) -> ApiResult<Value> {
        let node = binding
            .pointer("/target/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| fail(400, "BadRequest", "target.name is required"))?;
        self.guaranteed_update(info, namespace, name, opts.dry_run, |old| {
            if let Some(assigned) = old
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                return Err(fail_for(
                    409,
                    "Conflict",
                    info,
                    name,
                    format!("pod {name} is already assigned to node \"{assigned}\""),
                ));
            }
            let mut new = old.clone();
            new["spec"]["nodeName"] = json!(node);
            // The binding also marks the pod scheduled (Kubernetes' assignPod).
            let scheduled = json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": Time::now()});
            match new
                .pointer_mut("/status/conditions")
                .and_then(Value::as_array_mut)
            {
                Some(conds) => {
                    conds.retain(|c| c["type"] != "PodScheduled");
                    conds.push(scheduled);
                }
                None => new["status"]["conditions"] = json!([scheduled]),
            }
            // Validated afresh: a binding sets `spec.nodeName`, which updates may not.
            Ok((new, Check::Afresh))
        })
        .await?;
        serde_json::to_value(Status::success())
            .map_err(|e| fail(500, "InternalError", e.to_string()))
    }

    /// One long poll of changes to a collection after `after`, as API events that pass
    /// `filter`.
    ///
    /// As in Kubernetes, an object that starts to match the selectors arrives as ADDED
    /// and one that stops matching as DELETED (with its new state), so a selective
    /// watcher's view stays exact.
    pub async fn watch_poll(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        after: u64,
        wait: Duration,
        filter: &Filter,
    ) -> ApiResult<(Vec<ApiEvent>, u64)> {
        let selective = !filter.is_everything();
        let _open = self.watchers.open(super::watchers::WatchKey {
            resource: [info.group, info.plural]
                .join("/")
                .trim_start_matches('/')
                .into(),
            namespace: namespace.unwrap_or_default().into(),
            selective,
        });
        let pfx = prefix(info, namespace);
        let cache = self.cache.resource(&prefix(info, None));
        let deadline = tokio::time::Instant::now() + wait;
        let mut from = after;
        while let Some((changes, revision)) = cache.changes(&pfx, from, 1000) {
            let mut out = Vec::new();
            for c in changes {
                let before = match (&c.prev, selective) {
                    (Some(p), true) => filter.matches(p),
                    (Some(_), false) => true,
                    (None, _) => false,
                };
                let now = !c.deleted && filter.matches(&c.object);
                let kind = match (c.deleted, before, now) {
                    (true, _, _) if filter.matches(&c.object) => "DELETED",
                    (true, _, _) => continue,
                    (false, false, true) => "ADDED",
                    (false, true, true) => "MODIFIED",
                    (false, true, false) => "DELETED",
                    (false, false, false) => continue,
                };
                out.push(ApiEvent {
                    kind,
                    object: (*c.object).clone(),
                });
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !out.is_empty() || left.is_zero() {
                return Ok((out, revision));
            }
            from = revision;
            cache.wait_after(from, left).await;
        }
        let req = StoreRequest::WatchPoll {
            prefix: pfx,
            after: from,
            max_events: 1000,
            wait_ms: wait.as_millis().min(u128::from(u32::MAX)) as u32,
        };
        let WatchBatch {
            events, revision, ..
        } = match self.store(req).await? {
            StoreReply::Watch(b) => b,
            _ => return Err(unexpected_reply()),
        };
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            match e.kind {
                EventKind::Put => {
                    let obj = decode(&e.kv)?;
                    let now = filter.matches(&obj);
                    let before = match (&e.prev, selective) {
                        (Some(prev), true) => filter.matches(&decode(prev)?),
                        (Some(_), false) => true,
                        (None, _) => false,
                    };
                    let kind = match (before, now) {
                        (false, true) => "ADDED",
                        (true, true) => "MODIFIED",
                        (true, false) => "DELETED",
                        (false, false) => continue,
                    };
                    out.push(ApiEvent { kind, object: obj });
                }
                EventKind::Delete => {
                    if let Some(prev) = &e.prev {
                        let obj = with_rv(decode(prev)?, e.kv.mod_revision);
                        if filter.matches(&obj) {
                            out.push(ApiEvent {
                                kind: "DELETED",
                                object: obj,
                            });
                        }
                    }
                }
            }
        }
        Ok((out, revision))
    }
}

/// The grace period a terminating object was given (0 when none was recorded).
fn deletion_grace(obj: &Value) -> i64 {
    obj.pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// 400 when the body names another object than the URL does.
fn check_name(obj: &Value, name: &str) -> ApiResult<()> {
    match meta_str(obj, "name") {
        Some(n) if n != name => Err(fail(
            400,
            "BadRequest",
            format!("the name of the object ({n}) does not match the name on the URL ({name})"),
        )),
        _ => Ok(()),
    }
}

/// Which part of an object a write changes: the object (PUT or PATCH of the resource)
/// or what one subresource owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Everything but the status and identity (the resource itself).
    Main,
    /// The status alone (`/status`).
    Status,
    /// A pod's `spec.ephemeralContainers` alone (`/ephemeralcontainers`).
    EphemeralContainers,
    /// A CertificateSigningRequest's `status.conditions` alone (`/approval`).
    Approval,
}

impl Part {
    /// The part a subresource of the request writes (`None`: the resource itself).
    pub fn of(subresource: Option<&str>) -> Option<Part> {
        match subresource {
            None => Some(Part::Main),
            Some("status") => Some(Part::Status),
            Some("ephemeralcontainers") => Some(Part::EphemeralContainers),
            Some("approval") => Some(Part::Approval),
            Some(_) => None,
        }
    }

    /// The subresource a write of this part goes through (empty: the resource).
    pub(super) fn subresource(self) -> &'static str {
        match self {
            Part::Main => "",
            Part::Status => "status",
            Part::EphemeralContainers => "ephemeralcontainers",
            Part::Approval => "approval",
        }
    }

    pub(super) fn check(self) -> Check {
        match self {
            Part::Main => Check::Update,
            // A status write is checked afresh, as before there were parts.
            Part::Status => Check::Afresh,
            Part::EphemeralContainers | Part::Approval => Check::UpdateOnly,
        }
    }
}

/// How a write is defaulted and validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// As an update of the object read: the kind's update preparation, then its update
    /// rules (immutable fields).
    Update,
    /// The update rules without the preparation (a subresource writing one field the
    /// preparation would reset).
    UpdateOnly,
    /// As a new object (a binding sets `spec.nodeName`, which updates may not).
    Afresh,
}

/// The object an update of `old` with `obj` writes. The server owns identity, creation
/// and deletion metadata, and the status unless the part is the status (then the
/// status is all that changes; for ephemeral containers, they are). The
/// resourceVersion of `obj`, if any, stays on the result: the client's precondition.
pub(super) fn replacement(info: &ResourceInfo, old: &Value, mut obj: Value, part: Part) -> Value {
    let precondition = meta_str(&obj, "resourceVersion")
        .filter(|rv| !rv.is_empty())
        .map(str::to_owned);
    let mut new = if part == Part::Status {
        let mut new = old.clone();
        set_or_remove(&mut new, "status", obj.get("status").cloned());
        new
    } else if part == Part::Approval {
        let mut new = old.clone();
        let conditions = obj.pointer("/status/conditions").cloned();
        match new.get_mut("status") {
            Some(status) if status.is_object() => set_or_remove(status, "conditions", conditions),
            _ => set_or_remove(
                &mut new,
                "status",
                Some(json!({ "conditions": conditions })),
            ),
        }
        new
    } else if part == Part::EphemeralContainers {
        let mut new = old.clone();
        let containers = obj.pointer("/spec/ephemeralContainers").cloned();
        if let Some(spec) = new.get_mut("spec") {
            set_or_remove(spec, "ephemeralContainers", containers);
        }
        new
    } else {
        obj["kind"] = json!(info.kind);
        obj["apiVersion"] = json!(super::crd::registry::stored_api_version(info));
        {
            let m = meta(&mut obj);
            let om = old.get("metadata").cloned().unwrap_or_default();
            for f in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                match om.get(f) {
                    Some(v) => m.insert(f.into(), v.clone()),
                    None => m.remove(f),
                };
            }
        }
        if info.subresource("status").is_some() {
            set_or_remove(&mut obj, "status", old.get("status").cloned());
        }
        obj
    };
    let m = meta(&mut new);
    match precondition {
        Some(rv) => m.insert("resourceVersion".into(), json!(rv)),
        None => m.remove("resourceVersion"),
    };
    new
}

/// `old` with `spec.replicas` set (the scale subresource), carrying the Scale's
/// resourceVersion as the precondition.
fn scaled(old: &Value, replicas: i64, resource_version: Option<&str>) -> Value {
    let mut new = old.clone();
    match new.get_mut("spec").and_then(Value::as_object_mut) {
        Some(spec) => {
            spec.insert("replicas".into(), json!(replicas));
        }
        None => set_or_remove(&mut new, "spec", Some(json!({ "replicas": replicas }))),
    }
    let m = meta(&mut new);
    match resource_version.filter(|rv| !rv.is_empty()) {
        Some(rv) => m.insert("resourceVersion".into(), json!(rv)),
        None => m.remove("resourceVersion"),
    };
    new
}

/// Sets `field` of the JSON object `obj` to `value`, or removes it for `None` or null.
pub(super) fn set_or_remove(obj: &mut Value, field: &str, value: Option<Value>) {
    if let Some(map) = obj.as_object_mut() {
        match value.filter(|v| !v.is_null()) {
            Some(v) => map.insert(field.to_owned(), v),
            None => map.remove(field),
        };
    }
}

fn patch_error(e: super::patch::PatchError) -> ApiError {
    let code = i32::from(e.http_status());
    let reason = match code {
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        _ => "BadRequest",
    };
    fail(code, reason, e.to_string())
}

/// The `spec.replicas` of a Scale: 400 when missing, 422 when negative.
fn scale_replicas(scale: &Value) -> ApiResult<i64> {
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| fail(400, "BadRequest", "spec.replicas is required"))?;
    if replicas < 0 {
        let name = meta_str(scale, "name").unwrap_or_default();
        let mut s = Status::failure(
            422,
            "Invalid",
            format!("Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"),
        );
        s.details = Some(StatusDetails {
            name: name.to_owned(),
            group: "autoscaling".into(),
            kind: "Scale".into(),
            causes: vec![StatusCause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                field: "spec.replicas".into(),
            }],
            ..StatusDetails::default()
        });
        return Err(Box::new(s));
    }
    Ok(replicas)
}

fn scale_of(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .or_else(|| obj.pointer("/spec/selector"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let m = obj.get("metadata").cloned().unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m.get("name"), "namespace": m.get("namespace"), "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion"), "creationTimestamp": m.get("creationTimestamp"),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

/// `504 Timeout`: a read asked for a revision newer than the server has reached
/// (Kubernetes' `NewTooLargeResourceVersionError`, which clients retry after a second).
fn too_large_resource_version(asked: u64, current: u64) -> ApiError {
    let mut s = Status::failure(
        504,
        "Timeout",
        format!("Timeout: Too large resource version: {asked}, current: {current}"),
    );
    s.details = Some(StatusDetails {
        retry_after_seconds: 1,
        causes: vec![rudder_protocol::resources::StatusCause {
            reason: "ResourceVersionTooLarge".into(),
            message: "Too large resource version".into(),
            field: String::new(),
        }],
        ..StatusDetails::default()
    });
    Box::new(s)
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict { .. } | StoreError::AlreadyExists { .. } => {
            fail(409, "Conflict", e.to_string())
        }
        StoreError::NotFound { .. } => fail(404, "NotFound", e.to_string()),
        StoreError::Compacted { requested, .. } => fail(
            410,
            "Expired",
            format!("too old resource version: {requested}"),
        ),
        StoreError::FutureRevision { .. } => {
            fail(504, "Timeout", format!("Too large resource version: {e}"))
        }
        StoreError::Invalid(m) => fail(400, "BadRequest", m),
        other => fail(503, "ServiceUnavailable", other.to_string()),
    }
}

fn decode(kv: &KeyValue) -> ApiResult<Value> {
    let obj: Value = serde_json::from_slice(&kv.value).map_err(|e| {
        let why = super::encryption::undecryptable(&kv.value).unwrap_or_else(|| e.to_string());
        fail(
            500,
            "InternalError",
            format!("stored object {} unreadable: {why}", kv.key),
        )
    })?;
    Ok(with_rv(obj, kv.mod_revision))
}

pub(super) fn with_rv(mut obj: Value, rev: u64) -> Value {
    meta(&mut obj).insert("resourceVersion".into(), json!(rev.to_string()));
    obj
}

fn strip_rv(obj: &Value) -> Value {
    let mut o = obj.clone();
    meta(&mut o).remove("resourceVersion");
    o
}

/// Why a read at a revision failed: the window has moved past it (the caller words the
/// `410`), or any other error.
enum AtRevisionError {
    TooOld { oldest: u64 },
    Other(ApiError),
}

/// Where a paged list goes on: after the key `start`, at the first page's `revision`.
#[derive(Debug, PartialEq, Eq)]
struct Continue {
    start: String,
    revision: u64,
}

/// A continue token as Kubernetes writes one: base64 of
/// `{"v":"meta.k8s.io/v1","rv":<revision>,"start":"<last key>"}`.
fn encode_continue(last_key: &str, revision: u64) -> String {
    use base64::Engine as _;
    let token = json!({"v": "meta.k8s.io/v1", "rv": revision, "start": last_key});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_continue(token: &str, prefix: &str) -> ApiResult<Continue> {
    use base64::Engine as _;
    let invalid = || fail(400, "BadRequest", "invalid continue token");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| invalid())?;
    let parsed: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if parsed.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(invalid());
    }
    let start = parsed
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?
        .to_owned();
    let revision = parsed
        .get("rv")
        .and_then(Value::as_u64)
        .ok_or_else(invalid)?;
    if !start.starts_with(prefix) {
        return Err(fail(
            400,
            "BadRequest",
            "continue token does not belong to this list",
        ));
    }
    Ok(Continue { start, revision })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_prefixes() {
        let pods = registry::resource("", "v1", "pods").expect("pods");
        let nodes = registry::resource("", "v1", "nodes").expect("nodes");
        let deploy = registry::resource("apps", "v1", "deployments").expect("deployments");
        assert_eq!(
            key(pods, Some("default"), "web"),
            "/registry/pods/default/web"
        );
        assert_eq!(key(nodes, Some("ignored"), "n1"), "/registry/nodes/n1");
        assert_eq!(prefix(deploy, Some("ns")), "/registry/deployments/ns/");
        assert_eq!(prefix(pods, None), "/registry/pods/");
    }

    #[test]
    fn typed_defaults_and_rejects() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                         "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        let out = kinds::for_kind("Pod")
            .expect("served")
            .typed(pod, None)
            .expect("valid");
        assert_eq!(out["spec"]["restartPolicy"], "Always");
        assert_eq!(out["spec"]["containers"][0]["imagePullPolicy"], "Always");
        let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"}, "spec": {"containers": []}});
        let err = kinds::for_kind("Pod")
            .expect("served")
            .typed(bad, None)
            .expect_err("invalid");
        assert_eq!(err.code, 422);
        assert!(err.details.as_ref().is_some_and(|d| !d.causes.is_empty()));
    }

    #[test]
    fn continue_tokens_round_trip_and_stay_in_their_list() {
        use base64::Engine as _;
        let t = encode_continue("/registry/pods/default/b", 42);
        assert_eq!(
            decode_continue(&t, "/registry/pods/").expect("ok"),
            Continue {
                start: "/registry/pods/default/b".into(),
                revision: 42
            }
        );
        // Kubernetes' own token shape (its encoder pads with '=').
        let theirs = base64::engine::general_purpose::URL_SAFE
            .encode(r#"{"v":"meta.k8s.io/v1","rv":7,"start":"/registry/pods/default/a"}"#);
        assert_eq!(
            decode_continue(&theirs, "/registry/pods/")
                .map(|c| c.revision)
                .ok(),
            Some(7)
        );
        assert!(decode_continue(&t, "/registry/services/").is_err());
        assert!(decode_continue("!!", "/registry/pods/").is_err());
        let key_only = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("/registry/pods/a");
        assert!(decode_continue(&key_only, "/registry/pods/").is_err());
    }

    #[test]
    fn write_options_as_kubernetes_validates_them() {
        type Want = Result<(bool, FieldValidation), &'static str>;
        let cases: Vec<(&str, Vec<&str>, Option<&str>, Want)> = vec![
            ("defaults", vec![], None, Ok((false, FieldValidation::Warn))),
            ("dry run", vec!["All"], None, Ok((true, FieldValidation::Warn))),
            (
                "repeated All",
                vec!["All", "All"],
                Some("Strict"),
                Ok((true, FieldValidation::Strict)),
            ),
            ("empty mode", vec![], Some(""), Ok((false, FieldValidation::Warn))),
            (
                "ignore",
                vec![],
                Some("Ignore"),
                Ok((false, FieldValidation::Ignore)),
            ),
            (
                "unknown dry run",
                vec!["true"],
                None,
                Err("CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"true\"}: supported values: \"All\""),
            ),
            (
                "one bad value among good",
                vec!["All", "Server"],
                None,
                Err("dryRun: Unsupported value: []string{\"All\", \"Server\"}"),
            ),
            (
                "unknown mode",
                vec![],
                Some("strict"),
                Err("fieldValidation: Unsupported value: \"strict\""),
            ),
        ];
        for (name, dry_run, mode, want) in cases {
            let got = WriteOptions::parse("CreateOptions", &dry_run, mode);
            match (got, want) {
                (Ok(o), Ok((dry, fv))) => {
                    assert_eq!((o.dry_run, o.field_validation), (dry, fv), "{name}")
                }
                (Err(e), Err(msg)) => {
                    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"), "{name}");
                    assert!(e.message.contains(msg), "{name}: {}", e.message);
                    let d = e.details.as_ref().expect("details");
                    assert_eq!(
                        (d.group.as_str(), d.kind.as_str()),
                        ("meta.k8s.io", "CreateOptions")
                    );
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
        assert_eq!(
            delete_dry_run(&json!({"dryRun": ["All"], "propagationPolicy": "Background"})),
            vec!["All"]
        );
        assert!(delete_dry_run(&json!({})).is_empty());
    }

    #[test]
    fn replacements_keep_what_the_server_owns() {
        let deploy = registry::resource("apps", "v1", "deployments").expect("deployments");
        let old = json!({
            "kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": "web", "namespace": "d", "uid": "u1", "generation": 4,
                         "creationTimestamp": "2024-01-01T00:00:00Z", "resourceVersion": "17"},
            "spec": {"replicas": 2},
            "status": {"replicas": 2},
        });
        type Check = fn(&Value) -> Value;
        let cases: Vec<(&str, Value, bool, Check, Value)> = vec![
            (
                "update without a version is unconditional",
                json!({"metadata": {"name": "web", "uid": "forged"}, "spec": {"replicas": 3}}),
                false,
                |v| {
                    json!([
                        v["metadata"].get("resourceVersion"),
                        v["metadata"]["uid"],
                        v["spec"]["replicas"],
                        v["status"]
                    ])
                },
                json!([null, "u1", 3, {"replicas": 2}]),
            ),
            (
                "update with a version keeps it as the precondition",
                json!({"metadata": {"name": "web", "resourceVersion": "12"}, "spec": {"replicas": 3}}),
                false,
                |v| v["metadata"]["resourceVersion"].clone(),
                json!("12"),
            ),
            (
                "status update changes the status only",
                json!({"metadata": {"name": "web"}, "spec": {"replicas": 9}, "status": {"replicas": 1}}),
                true,
                |v| {
                    json!([
                        v["spec"]["replicas"],
                        v["status"]["replicas"],
                        v["metadata"].get("resourceVersion")
                    ])
                },
                json!([2, 1, null]),
            ),
            (
                "status update with a version",
                json!({"metadata": {"name": "web", "resourceVersion": "16"}, "status": {}}),
                true,
                |v| v["metadata"]["resourceVersion"].clone(),
                json!("16"),
            ),
        ];
        for (name, body, status_only, check, want) in cases {
            let part = if status_only {
                Part::Status
            } else {
                Part::Main
            };
            assert_eq!(
                check(&replacement(deploy, &old, body, part)),
                want,
                "{name}"
            );
        }
        let s = scaled(&old, 5, None);
        assert_eq!(s["spec"]["replicas"], 5);
        assert!(s["metadata"].get("resourceVersion").is_none());
        assert_eq!(
            scaled(&old, 5, Some("17"))["metadata"]["resourceVersion"],
            "17"
        );
        assert_eq!(
            scaled(&json!({"metadata": {}}), 1, None)["spec"],
            json!({"replicas": 1})
        );
        assert!(check_name(&json!({"metadata": {"name": "other"}}), "web")
            .is_err_and(|e| e.code == 400));
        assert!(check_name(&json!({}), "web").is_ok());
    }

    #[test]
    fn scale_replicas_are_required_and_not_negative() {
        assert_eq!(
            scale_replicas(&json!({"spec": {"replicas": 3}})).ok(),
            Some(3)
        );
        let cases = [
            ("missing", json!({"spec": {}}), 400),
            (
                "negative",
                json!({"metadata": {"name": "w"}, "spec": {"replicas": -1}}),
                422,
            ),
        ];
        for (name, scale, code) in cases {
            let e = scale_replicas(&scale).expect_err(name);
            assert_eq!(e.code, code, "{name}: {}", e.message);
        }
    }

    #[test]
    fn patched_objects_are_checked_for_unknown_fields() {
        let deploy = registry::resource("apps", "v1", "deployments").expect("deployments");
        let clean = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1}});
        let unknown = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "replica": 2}});
        for mode in [
            FieldValidation::Ignore,
            FieldValidation::Warn,
            FieldValidation::Strict,
        ] {
            let got = check_patched_fields(deploy, "Deployment", "web", &clean, mode);
            assert_eq!(got.ok(), Some(vec![]), "{mode:?}: a clean object");
        }
        assert_eq!(
            check_patched_fields(
                deploy,
                "Deployment",
                "web",
                &unknown,
                FieldValidation::Ignore
            )
            .ok(),
            Some(vec![])
        );
        assert_eq!(
            check_patched_fields(deploy, "Deployment", "web", &unknown, FieldValidation::Warn).ok(),
            Some(vec![
                "299 - \"unknown field \\\"spec.replica\\\"\"".to_owned()
            ])
        );
        let e = check_patched_fields(
            deploy,
            "Deployment",
            "web",
            &unknown,
            FieldValidation::Strict,
        )
        .expect_err("strict");
        assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
        assert_eq!(
            e.message,
            "Deployment.apps \"web\" is invalid: patch: strict decoding error: unknown field \"spec.replica\""
        );
        // The scale subresource is checked against the Scale schema.
        let scale = json!({"kind": "Scale", "spec": {"replicas": 2, "paused": true}});
        let e = check_patched_fields(deploy, "Scale", "web", &scale, FieldValidation::Strict)
            .expect_err("unknown Scale field");
        assert!(
            e.message.contains("unknown field \"spec.paused\""),
            "{}",
            e.message
        );
    }

    #[test]
    fn patch_formats_by_content_type() {
        let cases = [
            ("application/merge-patch+json", Some(PatchFormat::Merge)),
            (
                "application/json-patch+json; charset=utf-8",
                Some(PatchFormat::Json),
            ),
            (
                "application/strategic-merge-patch+json",
                Some(PatchFormat::Strategic),
            ),
            ("application/apply-patch+yaml", None),
            ("application/json", None),
        ];
        for (ct, want) in cases {
            match (PatchFormat::from_content_type(ct), want) {
                (Ok(got), Some(want)) => assert_eq!(got, want, "{ct}"),
                (Err(e), None) => assert_eq!(e.code, 415, "{ct}"),
                (got, want) => panic!("{ct}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[tokio::test]
    async fn writers_to_one_key_take_turns_and_are_forgotten() {
        let locks = KeyLocks::default();
        let first = locks.turn("/registry/pods/d/a").await;
        // Another key is free; the same key waits for the first turn to end.
        drop(locks.turn("/registry/pods/d/b").await);
        let second = locks.turn("/registry/pods/d/a");
        tokio::pin!(second);
        let waited = tokio::time::timeout(Duration::from_millis(50), &mut second).await;
        assert!(
            waited.is_err(),
            "a second writer got the key while the first held it"
        );
        drop(first);
        drop(second.await);
        assert!(
            locks.held().is_empty(),
            "keys without writers are forgotten"
        );
    }

    #[test]
    fn uids_look_like_uuids() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        assert_ne!(u, new_uid());
    }
}
