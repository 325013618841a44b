//! The HorizontalPodAutoscaler controller (`controller/horizontalpodautoscaler`), as
//! Kubernetes' `podautoscaler` controller: every sync period (15 s by default,
//! `[controllers] hpa_sync_period_ms`) each autoscaler is reconciled:
//!
//! 1. its target (a Deployment, ReplicaSet or StatefulSet) is read: the current replica
//!    count is its `spec.replicas` and its pods those its selector picks in the pod
//!    informer's cache. The count is written back as a merge patch of `spec.replicas`,
//!    which is what those kinds' `scale` subresource reads and writes (the bus API has
//!    no `scale` request). Any other kind: `AbleToScale=False` (`FailedGetScale`);
//! 2. the pods' measured usage is scraped from the kubelets that run them, as the
//!    resource metrics API serves it ([`crate::metrics_server::scrape`]);
//! 3. each `Resource` / `ContainerResource` metric gives a replica count
//!    ([`calc::replicas_for`]); the largest wins. `Pods`, `Object` and `External`
//!    metrics are not measured: an autoscaler with none that works gets
//!    `ScalingActive=False` and keeps the count;
//! 4. a target at zero replicas is left alone (`ScalingDisabled`); a count outside
//!    `[minReplicas, maxReplicas]` is brought into it; otherwise the recommendation is
//!    stabilized ([`calc::stabilize`]) and rate-limited ([`calc::limit_rate`]) with the
//!    `behavior` rules, Kubernetes' defaults filling what is not given (also when
//!    `behavior` is absent, where Kubernetes' older built-in rules are close to them);
//! 5. the target is scaled when the count changed, and the status written:
//!    `currentReplicas`, `desiredReplicas`, `currentMetrics`, `lastScaleTime` and the
//!    `AbleToScale`, `ScalingActive` and `ScalingLimited` conditions.
//!
//! Events, as Kubernetes' `horizontal-pod-autoscaler` writes them (`kubectl describe
//! hpa` shows them): `SuccessfulRescale` (`New size: 3; reason: cpu resource
//! utilization (percentage of request) above target`), `FailedRescale`,
//! `FailedGetScale`, and `FailedGetResourceMetric` with `FailedComputeMetricsReplicas`
//! when no metric gives a count.
//!
//! Recommendations and scale events live in the controller's memory (as in
//! Kubernetes): a restarted controller starts its stabilization windows afresh.

pub mod calc;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::messages::api::PatchType;
use rudder_protocol::messages::kubelet::PodUsage;
use rudder_protocol::resources::{
    ConditionStatus, ContainerResourceMetricStatus, CrossVersionObjectReference, Deployment, Event,
    Format, HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition, LabelSelector, MetricStatus,
    MetricTarget, MetricValueStatus, Pod, PodPhase, Quantity, ReplicaSet, ResourceMetricStatus,
    StatefulSet, Time, HPA_ABLE_TO_SCALE, HPA_SCALING_ACTIVE, HPA_SCALING_LIMITED,
};
use serde_json::json;

use super::support::{Controller, Wiring};
use crate::events::EventRecorder;
use crate::informer::{ApiHandle, Cache, ObjectKey, Scope};
use crate::supervisor::ComponentSpec;
use calc::{PodSample, Recommendation, ScaleEvent, Target};

/// The controller's name on the bus.
pub const NAME: &str = "controller/horizontalpodautoscaler";
/// The source its events name, as Kubernetes'.
const COMPONENT: &str = "horizontal-pod-autoscaler";
/// Kubernetes' `--horizontal-pod-autoscaler-sync-period`.
pub const DEFAULT_SYNC_PERIOD: Duration = Duration::from_secs(15);

/// The component the node's supervisor runs, reconciling every `period`.
pub fn component(period: Duration) -> ComponentSpec {
    Controller::<HorizontalPodAutoscaler>::new(NAME).component(
        move |w: &mut Wiring<HorizontalPodAutoscaler>| wire(w, period),
        |ctx: Arc<Ctx>, key: ObjectKey| async move { reconcile(&ctx, &key).await },
    )
}

/// What the controller remembers of one autoscaler between syncs.
#[derive(Debug, Default)]
struct History {
    recommendations: Vec<Recommendation>,
    ups: Vec<ScaleEvent>,
    downs: Vec<ScaleEvent>,
}

struct Ctx {
    api: ApiHandle,
    events: EventRecorder,
    hpas: Cache<HorizontalPodAutoscaler>,
    pods: Cache<Pod>,
    period: Duration,
    history: Mutex<HashMap<ObjectKey, History>>,
}

fn wire(w: &mut Wiring<HorizontalPodAutoscaler>, period: Duration) -> Ctx {
    // Pods only feed the cache: every autoscaler looks again each period anyway.
    let pods = w.watches::<Pod>(Scope::all(), |_, _| {});
    Ctx {
        events: EventRecorder::new(w.api().clone(), COMPONENT),
        api: w.api().clone(),
        hpas: w.primary(),
        pods,
        period,
        history: Mutex::new(HashMap::new()),
    }
}

/// `type` set to `status` with this reason and message; the transition time moves only
/// when the status changes.
fn set_condition(
    conditions: &mut Vec<HorizontalPodAutoscalerCondition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
    now: Time,
) {
    let message = message.into();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = Some(now);
            }
            c.status = status;
            c.reason = reason.to_owned();
            c.message = message;
        }
        None => conditions.push(HorizontalPodAutoscalerCondition {
            type_: type_.to_owned(),
            status,
            last_transition_time: Some(now),
            reason: reason.to_owned(),
            message,
        }),
    }
}

/// Records an event about `hpa`.
fn event(ctx: &Ctx, hpa: &HorizontalPodAutoscaler, type_: &str, reason: &str, message: String) {
    ctx.events
        .record(super::support::reference(hpa), type_, reason, message);
}

/// The target's replica count and pod selector.
async fn read_target(
    api: &ApiHandle,
    ns: &str,
    r: &CrossVersionObjectReference,
) -> Result<(i32, LabelSelector), String> {
    let err = |e: ApiError| e.to_string();
    match r.kind.as_str() {
        "Deployment" => {
            let d = api
                .api::<Deployment>(Some(ns))
                .get(&r.name)
                .await
                .map_err(err)?;
            Ok((d.spec.replicas.unwrap_or(1), d.spec.selector))
        }
        "ReplicaSet" => {
            let s = api
                .api::<ReplicaSet>(Some(ns))
                .get(&r.name)
                .await
                .map_err(err)?;
            Ok((s.spec.replicas.unwrap_or(1), s.spec.selector))
        }
        "StatefulSet" => {
            let s = api
                .api::<StatefulSet>(Some(ns))
                .get(&r.name)
                .await
                .map_err(err)?;
            Ok((s.spec.replicas.unwrap_or(1), s.spec.selector))
        }
        other => Err(format!(
            "the HPA controller scales Deployments, ReplicaSets and StatefulSets, not {other:?}"
        )),
    }
}

/// Sets the target's replica count.
async fn write_replicas(
    api: &ApiHandle,
    ns: &str,
    r: &CrossVersionObjectReference,
    replicas: i32,
) -> Result<(), String> {
    let patch = json!({"spec": {"replicas": replicas}});
    let done = match r.kind.as_str() {
        "Deployment" => api
            .api::<Deployment>(Some(ns))
            .patch(&r.name, PatchType::Merge, &patch)
            .await
            .map(|_| ()),
        "ReplicaSet" => api
            .api::<ReplicaSet>(Some(ns))
            .patch(&r.name, PatchType::Merge, &patch)
            .await
            .map(|_| ()),
        "StatefulSet" => api
            .api::<StatefulSet>(Some(ns))
            .patch(&r.name, PatchType::Merge, &patch)
            .await
            .map(|_| ()),
        other => return Err(format!("cannot scale a {other}")),
    };
    done.map_err(|e| e.to_string())
}

/// The samples of one resource (milli-units) for the pods, their containers filtered
/// to `container` when given.
fn samples(
    pods: &[Arc<Pod>],
    usage: &BTreeMap<(String, String), PodUsage>,
    resource: &str,
    container: Option<&str>,
) -> Vec<PodSample> {
    let wanted = |name: &str| container.is_none_or(|c| c == name);
    pods.iter()
        .map(|p| {
            let phase = p.status.phase;
            let mut request = Some(0i64);
            for c in p.spec.containers.iter().filter(|c| wanted(&c.name)) {
                request = match (request, c.resources.requests.get(resource)) {
                    (Some(sum), Some(q)) => Some(sum + q.milli_value()),
                    _ => None,
                };
            }
            let key = (p.metadata.namespace.clone(), p.metadata.name.clone());
            let measured = usage.get(&key).and_then(|u| {
                let mut total = 0i64;
                let mut any = false;
                for c in u.containers.iter().filter(|c| wanted(&c.name)) {
                    any = true;
                    total += if resource == "cpu" {
                        i64::try_from(c.usage.cpu_nanocores / 1_000_000).unwrap_or(i64::MAX)
                    } else {
                        i64::try_from(c.usage.memory_bytes)
                            .unwrap_or(i64::MAX)
                            .saturating_mul(1000)
                    };
                }
                any.then_some(total)
            });
            PodSample {
                name: p.metadata.name.clone(),
                ignored: p.metadata.deletion_timestamp.is_some() || phase == Some(PodPhase::Failed),
                pending: phase == Some(PodPhase::Pending) || phase.is_none(),
                ready: p.is_ready(),
                request,
                usage: measured,
            }
        })
        .collect()
}

/// An average in milli-units as the API writes it: CPU in millicores, memory in bytes.
fn quantity(resource: &str, milli: i64) -> Quantity {
    if resource == "cpu" {
        Quantity::from_milli(milli, Format::DecimalSI)
    } else {
        Quantity::new(milli / 1000, Format::BinarySI)
    }
}

/// The target of a resource metric, in milli-units.
fn target_of(t: &MetricTarget) -> Option<Target> {
    match t.type_.as_str() {
        "Utilization" => t.average_utilization.map(Target::Utilization),
        "AverageValue" => t
            .average_value
            .as_ref()
            .map(|q| Target::AverageValue(q.milli_value())),
        _ => None,
    }
}

/// What the metrics ask for: the largest replica count, the statuses, and the reason
/// and message of the first metric that failed (when none worked, the error).
struct MetricsOutcome {
    replicas: Option<i32>,
    statuses: Vec<MetricStatus>,
    what: String,
    error: Option<String>,
    /// How many metrics gave no count.
    invalid: usize,
}

fn compute_metrics(
    hpa: &HorizontalPodAutoscaler,
    current: i32,
    pods: &[Arc<Pod>],
    usage: &BTreeMap<(String, String), PodUsage>,
) -> MetricsOutcome {
    let mut out = MetricsOutcome {
        replicas: None,
        statuses: Vec::new(),
        what: String::new(),
        error: None,
        invalid: 0,
    };
    for m in &hpa.spec.metrics {
        let (name, container, target) = match (&m.resource, &m.container_resource) {
            (Some(r), _) if m.type_ == "Resource" => (r.name.as_str(), None, &r.target),
            (_, Some(c)) if m.type_ == "ContainerResource" => {
                (c.name.as_str(), Some(c.container.as_str()), &c.target)
            }
            _ => {
                out.invalid += 1;
                out.error.get_or_insert(format!(
                    "the HPA was unable to compute the replica count: {} metrics are not measured by Rudder (only Resource and ContainerResource)",
                    m.type_
                ));
                continue;
            }
        };
        let Some(t) = target_of(target) else {
            out.invalid += 1;
            out.error
                .get_or_insert(format!("invalid target for the {name} metric"));
            continue;
        };
        let s = samples(pods, usage, name, container);
        match calc::replicas_for(current, &s, t, name == "cpu", name) {
            Ok(e) => {
                let value = MetricValueStatus {
                    average_utilization: e.utilization,
                    average_value: Some(quantity(name, e.average)),
                    value: None,
                };
                out.statuses.push(match container {
                    None => MetricStatus {
                        type_: "Resource".into(),
                        resource: Some(ResourceMetricStatus {
                            name: name.to_owned(),
                            current: value,
                        }),
                        ..Default::default()
                    },
                    Some(c) => MetricStatus {
                        type_: "ContainerResource".into(),
                        container_resource: Some(ContainerResourceMetricStatus {
                            name: name.to_owned(),
                            current: value,
                            container: c.to_owned(),
                        }),
                        ..Default::default()
                    },
                });
                if out.replicas.is_none_or(|r| e.replicas > r) {
                    out.replicas = Some(e.replicas);
                    out.what = match t {
                        Target::Utilization(_) => {
                            format!("{name} resource utilization (percentage of request)")
                        }
                        Target::AverageValue(_) => format!("{name} resource"),
                    };
                }
            }
            Err(e) => {
                out.invalid += 1;
                out.error.get_or_insert(format!(
                    "the HPA was unable to compute the replica count: failed to get {name} utilization: {e}"
                ));
            }
        }
    }
    out
}

async fn reconcile(ctx: &Ctx, key: &ObjectKey) -> Result<Option<Duration>, ApiError> {
    let Some(cached) = ctx.hpas.get(key) else {
        if let Ok(mut h) = ctx.history.lock() {
            h.remove(key);
        }
        return Ok(None);
    };
    let mut hpa = (*cached).clone();
    let ns = hpa.metadata.namespace.clone();
    let now = Time::now();
    let old_status = hpa.status.clone();
    let mut status = hpa.status.clone();
    let min = hpa.spec.min_replicas.unwrap_or(1);
    let max = hpa.spec.max_replicas;
    let target_ref = hpa.spec.scale_target_ref.clone();
    let (current, selector) = match read_target(&ctx.api, &ns, &target_ref).await {
        Ok(t) => t,
        Err(e) => {
            event(ctx, &hpa, Event::WARNING, "FailedGetScale", e.clone());
            set_condition(
                &mut status.conditions,
                HPA_ABLE_TO_SCALE,
                ConditionStatus::False,
                "FailedGetScale",
                format!("the HPA controller was unable to get the target's current scale: {e}"),
                now,
            );
            write_status(ctx, &mut hpa, old_status, status).await?;
            return Ok(Some(ctx.period));
        }
    };
    set_condition(
        &mut status.conditions,
        HPA_ABLE_TO_SCALE,
        ConditionStatus::True,
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale",
        now,
    );
    let mut desired = current;
    // Why the count changes, as the SuccessfulRescale event says.
    let mut rescale_reason = String::new();
    if current == 0 && min != 0 {
        set_condition(
            &mut status.conditions,
            HPA_SCALING_ACTIVE,
            ConditionStatus::False,
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero",
            now,
        );
    } else if current > max || current < min {
        let (bound, reason, message) = if current > max {
            (
                max,
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        } else {
            (
                min,
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        };
        desired = bound;
        rescale_reason = if current > max {
            "Current number of replicas above Spec.MaxReplicas".to_owned()
        } else {
            "Current number of replicas below Spec.MinReplicas".to_owned()
        };
        set_condition(
            &mut status.conditions,
            HPA_SCALING_LIMITED,
            ConditionStatus::True,
            reason,
            message,
            now,
        );
    } else {
        let pods: Vec<Arc<Pod>> = ctx
            .pods
            .list_namespace(&ns)
            .into_iter()
            .filter(|p| selector.matches(&p.metadata.labels))
            .collect();
        let nodes: BTreeSet<String> = pods
            .iter()
            .map(|p| p.spec.node_name.clone())
            .filter(|n| !n.is_empty())
            .collect();
        let scraped = crate::metrics_server::scrape(ctx.api.bus(), nodes).await;
        let usage: BTreeMap<(String, String), PodUsage> = scraped
            .into_values()
            .flat_map(|s| s.pods)
            .map(|u| ((u.namespace.clone(), u.name.clone()), u))
            .collect();
        let outcome = compute_metrics(&hpa, current, &pods, &usage);
        status.current_metrics = outcome.statuses;
        match outcome.replicas {
            None => {
                let error = outcome
                    .error
                    .clone()
                    .unwrap_or_else(|| "no metric to scale on".to_owned());
                event(
                    ctx,
                    &hpa,
                    Event::WARNING,
                    "FailedGetResourceMetric",
                    error.clone(),
                );
                event(
                    ctx,
                    &hpa,
                    Event::WARNING,
                    "FailedComputeMetricsReplicas",
                    format!(
                        "invalid metrics ({} invalid out of {}), first error is: {error}",
                        outcome.invalid,
                        hpa.spec.metrics.len()
                    ),
                );
                set_condition(
                    &mut status.conditions,
                    HPA_SCALING_ACTIVE,
                    ConditionStatus::False,
                    "FailedGetResourceMetric",
                    outcome
                        .error
                        .unwrap_or_else(|| "no metric to scale on".to_owned()),
                    now,
                );
            }
            Some(proposed) => {
                set_condition(
                    &mut status.conditions,
                    HPA_SCALING_ACTIVE,
                    ConditionStatus::True,
                    "ValidMetricFound",
                    format!(
                        "the HPA was able to successfully calculate a replica count from {}",
                        outcome.what
                    ),
                    now,
                );
                let (up, down) = hpa.rules();
                let mut all = ctx
                    .history
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let h = all.entry(key.clone()).or_default();
                let secs = now.unix();
                let (stabilized, reason, message) =
                    calc::stabilize(current, proposed, &up, &down, &mut h.recommendations, secs);
                if stabilized != proposed {
                    set_condition(
                        &mut status.conditions,
                        HPA_ABLE_TO_SCALE,
                        ConditionStatus::True,
                        reason,
                        message,
                        now,
                    );
                } else {
                    set_condition(
                        &mut status.conditions,
                        HPA_ABLE_TO_SCALE,
                        ConditionStatus::True,
                        "ReadyForNewScale",
                        "recommended size matches current size",
                        now,
                    );
                }
                let (limited, reason, message) = calc::limit_rate(
                    current, stabilized, min, max, &up, &down, &h.ups, &h.downs, secs,
                );
                let is_limited = if limited == stabilized {
                    ConditionStatus::False
                } else {
                    ConditionStatus::True
                };
                set_condition(
                    &mut status.conditions,
                    HPA_SCALING_LIMITED,
                    is_limited,
                    reason,
                    message,
                    now,
                );
                desired = limited;
                rescale_reason = if desired > current {
                    format!("{} above target", outcome.what)
                } else {
                    "All metrics below target".to_owned()
                };
            }
        }
    }
    if desired != current {
        match write_replicas(&ctx.api, &ns, &target_ref, desired).await {
            Ok(()) => {
                tracing::info!(hpa = %key, from = current, to = desired, "rescaled the target");
                event(
                    ctx,
                    &hpa,
                    Event::NORMAL,
                    "SuccessfulRescale",
                    format!("New size: {desired}; reason: {rescale_reason}"),
                );
                let secs = now.unix();
                if let Ok(mut all) = ctx.history.lock() {
                    let h = all.entry(key.clone()).or_default();
                    let event = ScaleEvent {
                        at: secs,
                        change: (desired - current).abs(),
                    };
                    if desired > current {
                        h.ups.push(event);
                    } else {
                        h.downs.push(event);
                    }
                    // No policy looks further back than 1800 s.
                    h.ups.retain(|e| e.at > secs - 1800);
                    h.downs.retain(|e| e.at > secs - 1800);
                }
                status.last_scale_time = Some(now);
                set_condition(
                    &mut status.conditions,
                    HPA_ABLE_TO_SCALE,
                    ConditionStatus::True,
                    "SucceededRescale",
                    format!("the HPA controller was able to update the target scale to {desired}"),
                    now,
                );
            }
            Err(e) => {
                event(
                    ctx,
                    &hpa,
                    Event::WARNING,
                    "FailedRescale",
                    format!("New size: {desired}; reason: {rescale_reason}; error: {e}"),
                );
                set_condition(
                    &mut status.conditions,
                    HPA_ABLE_TO_SCALE,
                    ConditionStatus::False,
                    "FailedUpdateScale",
                    format!("the HPA controller was unable to update the target scale: {e}"),
                    now,
                );
                desired = current;
            }
        }
    }
    status.current_replicas = current;
    status.desired_replicas = desired;
    status.observed_generation = Some(hpa.metadata.generation);
    write_status(ctx, &mut hpa, old_status, status).await?;
    Ok(Some(ctx.period))
}

/// Writes the status when it changed (a conflict is retried at the next sync).
async fn write_status(
    ctx: &Ctx,
    hpa: &mut HorizontalPodAutoscaler,
    old: rudder_protocol::resources::HorizontalPodAutoscalerStatus,
    new: rudder_protocol::resources::HorizontalPodAutoscalerStatus,
) -> Result<(), ApiError> {
    if old == new {
        return Ok(());
    }
    hpa.status = new;
    match ctx
        .api
        .api::<HorizontalPodAutoscaler>(Some(&hpa.metadata.namespace))
        .update_status(hpa)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() || e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}
