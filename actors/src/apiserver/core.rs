//! The API server's operations, shared by every front: create, get, list, update,
//! patch, delete, watch, and the status, scale and binding subresources, on objects kept
//! as JSON in the store under `/registry/<plural>/<namespace>/<name>`.
//!
//! An object's `metadata.resourceVersion` is the store's mod revision of its key; it is
//! not stored, but set on every read. Updates are compare-and-swap on it (409 otherwise).
//! Every write runs Kubernetes' defaulting and validation for its kind ([`typed`]).
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
use rudder_protocol::resources::{
    Deployment, Endpoints, Event, Lease, Namespace, Node, Pod, ReplicaSet, ReplicationController,
    Resource, Service, ServiceAccount, Status, StatusDetails, Time,
};
use rudder_protocol::ActorRef;
use serde_json::{json, Value};

use super::alloc::{self, Ranges, Want, IP_PREFIX, PORT_PREFIX};
use super::cache::{AtRevision, ResourceCache, WatchCache, READY_WAIT};
use super::defaults::Defaults;
use super::registry::{self, ResourceInfo};
use super::selectors::{object_fields, parse_field_selector_for, parse_label_selector};
use super::validation::{invalid_status, Validate};
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
pub const BOOTSTRAP_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

fn fail(code: i32, reason: &str, message: impl Into<String>) -> ApiError {
    Box::new(Status::failure(code, reason, message))
}

fn unexpected_reply() -> ApiError {
    fail(500, "InternalError", "unexpected reply from the store")
}

fn fail_for(code: i32, reason: &str, info: &ResourceInfo, name: &str, message: String) -> ApiError {
    let mut s = Status::failure(code, reason, message);
    s.details = Some(StatusDetails {
        name: name.to_owned(),
        group: info.group.to_owned(),
        kind: info.plural.to_owned(),
        ..StatusDetails::default()
    });
    Box::new(s)
}

fn qualified(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        info.plural.to_owned()
    } else {
        format!("{}.{}", info.plural, info.group)
    }
}

fn not_found(info: &ResourceInfo, name: &str) -> ApiError {
    fail_for(
        404,
        "NotFound",
        info,
        name,
        format!("{} \"{name}\" not found", qualified(info)),
    )
}

fn conflict(info: &ResourceInfo, name: &str) -> ApiError {
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

/// Where one object lives in the store.
pub fn key(info: &ResourceInfo, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if info.namespaced => format!("/registry/{}/{ns}/{name}", info.plural),
        _ => format!("/registry/{}/{name}", info.plural),
    }
}

/// The key prefix of a collection (all namespaces when `namespace` is `None`).
pub fn prefix(info: &ResourceInfo, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if info.namespaced => format!("/registry/{}/{ns}/", info.plural),
        _ => format!("/registry/{}/", info.plural),
    }
}

/// Defaulting and validation through the typed model of `kind`. Returns the object as
/// the typed model writes it (unknown fields dropped, defaults filled).
pub fn typed(kind: &str, obj: Value, old: Option<&Value>) -> ApiResult<Value> {
    fn run<K>(obj: Value, old: Option<&Value>) -> ApiResult<Value>
    where
        K: Resource + Defaults + Validate + serde::Serialize + serde::de::DeserializeOwned,
    {
        let mut typed: K = serde_json::from_value(obj).map_err(|e| {
            fail(
                400,
                "BadRequest",
                format!("the object is not a valid {}: {e}", K::KIND),
            )
        })?;
        typed.apply_defaults();
        let causes = match old {
            None => typed.validate(),
            Some(old) => {
                let old: K = serde_json::from_value(old.clone()).map_err(|e| {
                    fail(
                        500,
                        "InternalError",
                        format!("stored object unreadable: {e}"),
                    )
                })?;
                typed.validate_update(&old)
            }
        };
        if !causes.is_empty() {
            let name = typed.metadata().name.clone();
            return Err(Box::new(invalid_status::<K>(&name, causes)));
        }
        serde_json::to_value(&typed).map_err(|e| fail(500, "InternalError", e.to_string()))
    }
    match kind {
        "Pod" => run::<Pod>(obj, old),
        "Node" => run::<Node>(obj, old),
        "Namespace" => run::<Namespace>(obj, old),
        "Service" => run::<Service>(obj, old),
        "Endpoints" => run::<Endpoints>(obj, old),
        "ServiceAccount" => run::<ServiceAccount>(obj, old),
        "ReplicationController" => run::<ReplicationController>(obj, old),
        "ReplicaSet" => run::<ReplicaSet>(obj, old),
        "Deployment" => run::<Deployment>(obj, old),
        "Lease" => run::<Lease>(obj, old),
        "Event" => run::<Event>(obj, old),
        other => Err(fail(404, "NotFound", format!("kind {other} is not served"))),
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

fn new_uid() -> String {
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

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::thread_rng();
    (0..5)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
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
    kind: &'static str,
}

impl Filter {
    /// Parses the selectors of `opts` for `info`'s kind (400 on bad syntax).
    pub fn new(info: &ResourceInfo, opts: &ListOptions) -> ApiResult<Filter> {
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
            kind: info.kind,
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
            Some(f) => f.matches_fields(&object_fields(self.kind, obj)),
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
    ranges: Ranges,
    /// The `tolerationSeconds` new pods get for the not-ready and unreachable taints.
    default_toleration_seconds: i64,
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
        let cache = std::sync::Arc::new(WatchCache::new(bus.clone(), store.clone()));
        ApiCore {
            bus,
            store,
            cache,
            ranges: Ranges::default(),
            default_toleration_seconds: super::defaults::DEFAULT_TOLERATION_SECONDS,
        }
    }

    /// The same core, allocating Service addresses and node ports from `ranges`.
    pub fn with_ranges(mut self, ranges: Ranges) -> Self {
        self.ranges = ranges;
        self
    }

    async fn txn(&self, txn: Txn) -> ApiResult<TxnResponse> {
        match self.store(StoreRequest::Txn(txn)).await? {
            StoreReply::Txn(r) => Ok(r),
            _ => Err(unexpected_reply()),
        }
    }

    /// Writes a Service (created when `old` is `None`) together with the cluster IP and
    /// node ports it needs and the release of those it gave up, in one transaction.
    /// Random picks that lose a race are picked again; a taken address or port the user
    /// asked for is a 422, as in Kubernetes.
    async fn write_service(
        &self,
        info: &ResourceInfo,
        name: &str,
        k: &str,
        mut obj: Value,
        old: Option<(&Value, u64)>,
    ) -> ApiResult<Value> {
        let invalid = |field: &str, value: &str, message: &str| -> ApiError {
            Box::new(Status::invalid::<Service>(
                name,
                vec![rudder_protocol::resources::StatusCause {
                    reason: "FieldValueInvalid".into(),
                    message: format!("Invalid value: \"{value}\": {message}"),
                    field: field.into(),
                }],
            ))
        };
        let needs = self
            .ranges
            .needs(&mut obj, old.map(|o| o.0))
            .map_err(|e| invalid(&e.field, &e.value, &e.message))?;
        let mut avoid_ips = std::collections::BTreeSet::new();
        let mut avoid_ports = std::collections::BTreeSet::new();
        for attempt in 0..12 {
            if attempt == 4 {
                // Unlucky picks: learn what is taken instead of guessing again.
                avoid_ips.extend(
                    self.allocated(IP_PREFIX)
                        .await?
                        .iter()
                        .filter_map(|s| s.parse::<std::net::Ipv4Addr>().ok()),
                );
                avoid_ports.extend(
                    self.allocated(PORT_PREFIX)
                        .await?
                        .iter()
                        .filter_map(|s| s.parse::<u16>().ok()),
                );
            }
            let mut candidate = obj.clone();
            // (key, field, value, asked by the user)
            let mut claims: Vec<(String, String, String, bool)> = Vec::new();
            {
                let mut rng = rand::thread_rng();
                if let Some(want) = needs.ip {
                    let (ip, asked) = match want {
                        Want::Specific(ip) => (ip, true),
                        Want::Any => match self.ranges.pick_ip(&mut rng, &avoid_ips) {
                            Some(ip) => (ip, false),
                            None => {
                                return Err(fail(
                                    500,
                                    "InternalError",
                                    "failed to allocate a serviceIP: range is full",
                                ))
                            }
                        },
                    };
                    candidate["spec"]["clusterIP"] = json!(ip.to_string());
                    candidate["spec"]["clusterIPs"] = json!([ip.to_string()]);
                    claims.push((
                        format!("{IP_PREFIX}{ip}"),
                        "spec.clusterIP".into(),
                        ip.to_string(),
                        asked,
                    ));
                }
                let mut chosen = avoid_ports.clone();
                for (i, want) in &needs.ports {
                    let (port, asked) = match *want {
                        Want::Specific(p) => (p, true),
                        Want::Any => match self.ranges.pick_port(&mut rng, &chosen) {
                            Some(p) => (p, false),
                            None => {
                                return Err(fail(
                                    500,
                                    "InternalError",
                                    "failed to allocate a nodePort: range is full",
                                ))
                            }
                        },
                    };
                    chosen.insert(port);
                    candidate["spec"]["ports"][*i]["nodePort"] = json!(port);
                    claims.push((
                        format!("{PORT_PREFIX}{port}"),
                        format!("spec.ports[{i}].nodePort"),
                        port.to_string(),
                        asked,
                    ));
                }
            }
            let keep: std::collections::BTreeSet<String> =
                alloc::held(&candidate).into_iter().collect();
            let released: Vec<String> = old
                .map(|(o, _)| {
                    alloc::held(o)
                        .into_iter()
                        .filter(|h| !keep.contains(h))
                        .collect()
                })
                .unwrap_or_default();
            let bytes = serde_json::to_vec(&candidate)
                .map_err(|e| fail(500, "InternalError", e.to_string()))?;
            let mut compares = vec![Compare {
                key: k.to_owned(),
                op: CmpOp::Equal,
                target: match old {
                    Some((_, rev)) => CompareTarget::ModRevision(rev),
                    None => CompareTarget::Version(0),
                },
            }];
            let mut success = vec![TxnOp::Put {
                key: k.to_owned(),
                value: bytes,
            }];
            let mut failure = vec![TxnOp::Get { key: k.to_owned() }];
            for (key, ..) in &claims {
                compares.push(Compare {
                    key: key.clone(),
                    op: CmpOp::Equal,
                    target: CompareTarget::Version(0),
                });
                success.push(TxnOp::Put {
                    key: key.clone(),
                    value: k.as_bytes().to_vec(),
                });
                failure.push(TxnOp::Get { key: key.clone() });
            }
            success.extend(released.into_iter().map(|key| TxnOp::Delete { key }));
            let r = self
                .txn(Txn {
                    compares,
                    success,
                    failure,
                })
                .await?;
            if r.succeeded {
                return Ok(with_rv(candidate, r.revision));
            }
            let present =
                |i: usize| matches!(r.results.get(i), Some(OpResult::Get { kv: Some(_) }));
            let current = match r.results.first() {
                Some(OpResult::Get { kv }) => kv.as_ref().map(|kv| kv.mod_revision),
                _ => None,
            };
            match (old, current) {
                (None, Some(_)) => {
                    return Err(fail_for(
                        409,
                        "AlreadyExists",
                        info,
                        name,
                        format!("{} \"{name}\" already exists", qualified(info)),
                    ))
                }
                (Some(_), None) => return Err(not_found(info, name)),
                (Some((_, rev)), Some(now)) if now != rev => return Err(conflict(info, name)),
                _ => {}
            }
            for (j, (_, field, value, asked)) in claims.iter().enumerate() {
                if !present(j + 1) {
                    continue;
                }
                if *asked {
                    let what = if field == "spec.clusterIP" {
                        "IP"
                    } else {
                        "port"
                    };
                    return Err(invalid(
                        field,
                        value,
                        &format!("provided {what} is already allocated"),
                    ));
                }
                if field == "spec.clusterIP" {
                    avoid_ips.extend(value.parse::<std::net::Ipv4Addr>().ok());
                } else {
                    avoid_ports.extend(value.parse::<u16>().ok());
                }
            }
        }
        Err(fail(
            503,
            "ServiceUnavailable",
            "could not allocate the service's addresses; try again",
        ))
    }

    /// The allocation keys under `prefix`, without the prefix.
    async fn allocated(&self, prefix: &str) -> ApiResult<Vec<String>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let req = StoreRequest::Range {
                prefix: prefix.to_owned(),
                start_after: after.clone(),
                limit: 10_000,
                consistency: Consistency::Linearizable,
            };
            let StoreReply::Range { kvs, more, .. } = self.store(req).await? else {
                return Err(unexpected_reply());
            };
            after = kvs.last().map(|kv| kv.key.clone());
            out.extend(
                kvs.into_iter()
                    .filter_map(|kv| kv.key.strip_prefix(prefix).map(str::to_owned)),
            );
            if !more {
                return Ok(out);
            }
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
        if info.kind != "Service" {
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
        self.default_toleration_seconds = seconds;
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

    async fn store(&self, req: StoreRequest) -> ApiResult<StoreReply> {
        match self.bus.call(self.store.clone(), req, STORE_TIMEOUT).await {
            Ok(StoreReply::Error(e)) => Err(store_error(e)),
            Ok(r) => Ok(r),
            Err(e) => Err(fail(
                503,
                "ServiceUnavailable",
                format!("store unreachable: {e}"),
            )),
        }
    }

    async fn read(&self, key: &str) -> ApiResult<Option<KeyValue>> {
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
            match self.create(info, None, obj).await {
                Ok(_) => tracing::info!(namespace = ns, "created bootstrap namespace"),
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn check_namespace(&self, info: &ResourceInfo, namespace: Option<&str>) -> ApiResult<()> {
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
            Some(obj) => {
                if obj.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") {
                    return Err(fail(
                        403,
                        "Forbidden",
                        format!("{} is forbidden: unable to create new content in namespace {ns} because it is being terminated", qualified(info)),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Creates an object.
    pub async fn create(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        mut obj: Value,
    ) -> ApiResult<Value> {
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
        obj["apiVersion"] = json!(info.api_version());
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
                "managedFields",
            ] {
                m.remove(f);
            }
        }
        if info.kind == "Pod" && obj.pointer("/status/phase").is_none() {
            obj["status"] = json!({"phase": "Pending"});
        }
        if info.kind == "Pod" {
            // Admission (DefaultTolerationSeconds): on create only, as in Kubernetes.
            obj = admit_pod(obj, self.default_toleration_seconds)?;
        }
        if info.kind == "Namespace"
            && obj
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_none_or(|f| f.is_empty())
        {
            // The namespace controller's finalizer, set on create only (Kubernetes'
            // namespace strategy), so that the controller can remove it later.
            obj["spec"]["finalizers"] = json!([super::defaults::NAMESPACE_FINALIZER]);
        }
        let obj = typed(info.kind, obj, None)?;
        let name = meta_str(&obj, "name").unwrap_or_default().to_owned();
        self.check_namespace(info, namespace.as_deref()).await?;
        let k = key(info, namespace.as_deref(), &name);
        if info.kind == "Service" {
            return self.write_service(info, &name, &k, obj, None).await;
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
            Err(e) if e.code == 409 => Err(fail_for(
                409,
                "AlreadyExists",
                info,
                &name,
                format!("{} \"{name}\" already exists", qualified(info)),
            )),
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

    /// Reads one object.
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
        let mut after = match &opts.continue_token {
            Some(t) if !t.is_empty() => Some(decode_continue(t, &pfx)?),
            _ => None,
        };
        if let Some(cache) = self.cache_for(info, read).await? {
            let served = cache.list(&pfx, after.as_deref(), opts.limit as usize, |o| {
                filter.matches(o)
            });
            if let Some((items, revision, more)) = served {
                let token = more
                    .then(|| items.last().map(|(k, _)| encode_continue(k)))
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
                    after.map(|a| encode_continue(&a))
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
        let cache = self.cache.resource(&prefix(info, None));
        cache.wait_for(revision, READY_WAIT).await;
        match cache.list_at(pfx, revision, limit as usize, |o| filter.matches(o)) {
            Ok((items, more)) => {
                let token = more
                    .then(|| {
                        items.last().and_then(|o| {
                            let ns = o.pointer("/metadata/namespace").and_then(Value::as_str);
                            let name = meta_str(o, "name")?;
                            Some(encode_continue(&key(info, ns, name)))
                        })
                    })
                    .flatten();
                Ok((
                    items.iter().map(|o| (**o).clone()).collect(),
                    revision,
                    token,
                ))
            }
            Err(AtRevision::TooOld { oldest }) => Err(Box::new(Status::expired(format!(
                "too old resource version: {revision} ({oldest})"
            )))),
            Err(AtRevision::TooNew { current }) => {
                Err(too_large_resource_version(revision, current))
            }
            Err(AtRevision::NotReady) => Err(fail(
                503,
                "ServiceUnavailable",
                "the watch cache is not ready yet; try again",
            )),
        }
    }

    /// Replaces an object (PUT). `status_only` keeps everything but the status.
    pub async fn update(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        mut obj: Value,
        status_only: bool,
    ) -> ApiResult<Value> {
        if meta_str(&obj, "name").is_some_and(|n| n != name) {
            return Err(fail(
                400,
                "BadRequest",
                "the name of the object does not match the name on the URL",
            ));
        }
        let (old, old_rev) = self.get_kv(info, namespace, name).await?;
        if let Some(rv) = meta_str(&obj, "resourceVersion").filter(|s| !s.is_empty()) {
            if rv != old_rev.to_string() {
                return Err(conflict(info, name));
            }
        }
        let has_status = info.subresource("status").is_some();
        let new = if status_only {
            let mut new = old.clone();
            set_or_remove(&mut new, "status", obj.get("status").cloned());
            new
        } else {
            obj["kind"] = json!(info.kind);
            obj["apiVersion"] = json!(info.api_version());
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
            if has_status {
                set_or_remove(&mut obj, "status", old.get("status").cloned());
            }
            obj
        };
        self.write(info, namespace, name, new, &old, old_rev, !status_only)
            .await
    }

    /// Writes `new` over `old` (at `old_rev`), defaulted and validated.
    #[allow(clippy::too_many_arguments)]
    async fn write(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        mut new: Value,
        old: &Value,
        old_rev: u64,
        validate_update: bool,
    ) -> ApiResult<Value> {
        meta(&mut new).remove("resourceVersion");
        if info.kind == "Service" && validate_update {
            alloc::drop_type_dependent_fields(&mut new, old);
        }
        let old_plain = strip_rv(old);
        let mut new = if validate_update {
            typed(info.kind, new, Some(&old_plain))?
        } else {
            typed(info.kind, new, None)?
        };
        if new == old_plain {
            // Nothing changed: no write, no new resourceVersion (as Kubernetes does).
            return Ok(old.clone());
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
        // A terminating object whose last finalizer went away is deleted.
        let finalizers_empty = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty());
        // A namespace also waits for its own `spec.finalizers` (the namespace controller).
        let spec_finalizers_empty = info.kind != "Namespace"
            || new
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_none_or(|f| f.is_empty());
        if new.pointer("/metadata/deletionTimestamp").is_some()
            && finalizers_empty
            && spec_finalizers_empty
        {
            return match self.remove(info, name, k, old, old_rev).await {
                Ok(revision) => Ok(with_rv(new, revision)),
                Err(e) if e.code == 409 || e.code == 404 => Err(conflict(info, name)),
                Err(e) => Err(e),
            };
        }
        if info.kind == "Service" && validate_update {
            return self
                .write_service(info, name, &k, new, Some((old, old_rev)))
                .await;
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
            Ok(StoreReply::Written { revision, .. }) => Ok(with_rv(new, revision)),
            Ok(_) => Err(unexpected_reply()),
            Err(e) if e.code == 409 => Err(conflict(info, name)),
            Err(e) if e.code == 404 => Err(not_found(info, name)),
            Err(e) => Err(e),
        }
    }

    /// Applies `patch` (of `content_type`) to an object, retrying on concurrent changes
    /// unless the patch itself names a resourceVersion.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        content_type: &str,
        patch: &Value,
        status_only: bool,
    ) -> ApiResult<Value> {
        let pinned = patch.pointer("/metadata/resourceVersion").is_some();
        for _ in 0..5 {
            let (old, old_rev) = self.get_kv(info, namespace, name).await?;
            let mut new = old.clone();
            let ct = content_type.split(';').next().unwrap_or_default().trim();
            match ct {
                "application/merge-patch+json" => super::patch::json_merge_patch(&mut new, patch),
                "application/json-patch+json" => super::patch::json_patch(&mut new, patch).map_err(patch_error)?,
                "application/strategic-merge-patch+json" => {
                    super::patch::strategic_merge_patch(&mut new, patch, info.kind).map_err(patch_error)?
                }
                other => {
                    return Err(fail(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {other:?})")))
                }
            }
            if let Some(rv) = meta_str(&new, "resourceVersion").filter(|_| pinned) {
                if rv != old_rev.to_string() {
                    return Err(conflict(info, name));
                }
            }
            meta(&mut new).insert("resourceVersion".into(), json!(old_rev.to_string()));
            match self.update(info, namespace, name, new, status_only).await {
                Err(e) if e.code == 409 && !pinned => continue,
                other => return other,
            }
        }
        Err(conflict(info, name))
    }

    /// Deletes an object: at once, or by marking it terminating while finalizers remain
    /// (or, for a bound pod with a grace period, until its kubelet has stopped it).
    pub async fn delete(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        options: &Value,
    ) -> ApiResult<Value> {
        for _ in 0..5 {
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
            let graceful_pod = info.kind == "Pod"
                && grace > 0
                && old
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty());
            let terminating_ns = info.kind == "Namespace";
            if !finalizers.is_empty() || graceful_pod || terminating_ns {
                if terminating_ns && finalizers.is_empty() && self.namespace_is_empty(name).await? {
                    // Nothing inside: no controller needs to empty it first.
                } else {
                    let mut new = old.clone();
                    let m = meta(&mut new);
                    if !m.contains_key("deletionTimestamp") {
                        m.insert("deletionTimestamp".into(), json!(Time::now()));
                        m.insert("deletionGracePeriodSeconds".into(), json!(grace.max(0)));
                    }
                    m.insert("finalizers".into(), Value::Array(finalizers));
                    if terminating_ns {
                        new["status"]["phase"] = json!("Terminating");
                    }
                    let bytes = serde_json::to_vec(&strip_rv(&new))
                        .map_err(|e| fail(500, "InternalError", e.to_string()))?;
                    match self
                        .store(StoreRequest::Put {
                            key: key(info, namespace, name),
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
            match self
                .remove(info, name, key(info, namespace, name), &old, old_rev)
                .await
            {
                Ok(_) => return Ok(old),
                Err(e) if e.code == 409 => continue,
                Err(e) if e.code == 404 => return Err(not_found(info, name)),
                Err(e) => return Err(e),
            }
        }
        Err(conflict(info, name))
    }

    async fn namespace_is_empty(&self, ns: &str) -> ApiResult<bool> {
        for info in registry::RESOURCES.iter().filter(|r| r.namespaced) {
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

    /// Sets `spec.replicas` through the scale subresource (body: a Scale).
    pub async fn put_scale(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        scale: &Value,
    ) -> ApiResult<Value> {
        let replicas = scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .ok_or_else(|| fail(400, "BadRequest", "spec.replicas is required"))?;
        let rv = meta_str(scale, "resourceVersion").map(str::to_owned);
        let patch = match rv {
            Some(rv) if !rv.is_empty() => {
                json!({"metadata": {"resourceVersion": rv}, "spec": {"replicas": replicas}})
            }
            _ => json!({"spec": {"replicas": replicas}}),
        };
        let obj = self
            .patch(
                info,
                namespace,
                name,
                "application/merge-patch+json",
                &patch,
                false,
            )
            .await?;
        Ok(scale_of(&obj))
    }

    /// Binds a pod to a node (the binding subresource).
    pub async fn bind(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        binding: &Value,
    ) -> ApiResult<Value> {
        let node = binding
            .pointer("/target/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| fail(400, "BadRequest", "target.name is required"))?;
        // As Kubernetes' binding storage (GuaranteedUpdate): a status write racing the
        // binding is retried, only an existing node assignment is a conflict.
        for _ in 0..5 {
            let (old, old_rev) = self.get_kv(info, namespace, name).await?;
            if old
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty())
            {
                return Err(fail_for(
                    409,
                    "Conflict",
                    info,
                    name,
                    format!(
                        "pod {name} is already assigned to node {}",
                        old["spec"]["nodeName"]
                    ),
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
            match self
                .write(info, namespace, name, new, &old, old_rev, false)
                .await
            {
                Ok(_) => return Ok(serde_json::to_value(Status::success()).unwrap_or_default()),
                Err(e) if e.code == 409 => continue,
                Err(e) => return Err(e),
            }
        }
        Err(conflict(info, name))
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

/// Pod admission at create: the default not-ready/unreachable tolerations.
fn admit_pod(obj: Value, toleration_seconds: i64) -> ApiResult<Value> {
    let mut pod: Pod = serde_json::from_value(obj).map_err(|e| {
        fail(
            400,
            "BadRequest",
            format!("the object is not a valid Pod: {e}"),
        )
    })?;
    super::defaults::add_default_tolerations(&mut pod, toleration_seconds);
    serde_json::to_value(&pod).map_err(|e| fail(500, "InternalError", e.to_string()))
}

fn set_or_remove(obj: &mut Value, field: &str, value: Option<Value>) {
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
        fail(
            500,
            "InternalError",
            format!("stored object {} unreadable: {e}", kv.key),
        )
    })?;
    Ok(with_rv(obj, kv.mod_revision))
}

fn with_rv(mut obj: Value, rev: u64) -> Value {
    meta(&mut obj).insert("resourceVersion".into(), json!(rev.to_string()));
    obj
}

fn strip_rv(obj: &Value) -> Value {
    let mut o = obj.clone();
    meta(&mut o).remove("resourceVersion");
    o
}

fn encode_continue(last_key: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last_key)
}

fn decode_continue(token: &str, prefix: &str) -> ApiResult<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| fail(400, "BadRequest", "invalid continue token"))?;
    let key =
        String::from_utf8(bytes).map_err(|_| fail(400, "BadRequest", "invalid continue token"))?;
    if !key.starts_with(prefix) {
        return Err(fail(
            400,
            "BadRequest",
            "continue token does not belong to this list",
        ));
    }
    Ok(key)
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
        let out = typed("Pod", pod, None).expect("valid");
        assert_eq!(out["spec"]["restartPolicy"], "Always");
        assert_eq!(out["spec"]["containers"][0]["imagePullPolicy"], "Always");
        let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"}, "spec": {"containers": []}});
        let err = typed("Pod", bad, None).expect_err("invalid");
        assert_eq!(err.code, 422);
        assert!(err.details.as_ref().is_some_and(|d| !d.causes.is_empty()));
    }

    #[test]
    fn continue_tokens_round_trip_and_stay_in_their_list() {
        let t = encode_continue("/registry/pods/default/b");
        assert_eq!(
            decode_continue(&t, "/registry/pods/").expect("ok"),
            "/registry/pods/default/b"
        );
        assert!(decode_continue(&t, "/registry/services/").is_err());
        assert!(decode_continue("!!", "/registry/pods/").is_err());
    }

    #[test]
    fn uids_look_like_uuids() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        assert_ne!(u, new_uid());
    }
}
