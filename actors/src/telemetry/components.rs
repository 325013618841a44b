//! The components' metrics under Kubernetes' names: the scheduler
//! (`scheduler_pending_pods`, `scheduler_schedule_attempts_total`,
//! `scheduler_scheduling_attempt_duration_seconds`,
//! `scheduler_pod_scheduling_sli_duration_seconds`), the controllers' work queues
//! (`workqueue_*`, label `name`), the kubelet (`kubelet_running_pods`,
//! `kubelet_pod_start_sli_duration_seconds`), the components' API client over the bus
//! (`rest_client_requests_total`, `rest_client_request_duration_seconds`), and the
//! store's Raft group (etcd's names where etcd has one: `etcd_server_has_leader`,
//! `etcd_server_is_leader`, `etcd_server_leader_changes_seen_total`,
//! `etcd_disk_wal_fsync_duration_seconds`; Rudder's for the rest: term, indexes,
//! snapshots).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use rudder_protocol::stats::LatencyCounts;

use super::api::intern;

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(super::latency_buckets())
}

fn fine_histogram() -> Histogram {
    Histogram::new(super::fine_buckets())
}

/// Label `name` (a work queue: its controller).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueName {
    name: &'static str,
}

/// Labels `queue` of `scheduler_pending_pods`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PendingQueue {
    queue: &'static str,
}

/// Labels of the scheduling attempt metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    result: &'static str,
    profile: &'static str,
}

/// Label `attempts` of the scheduling SLI.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptsLabel {
    attempts: u32,
}

/// Labels of `rest_client_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RestLabels {
    code: &'static str,
    method: &'static str,
    host: &'static str,
}

/// Labels of `rest_client_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RestDurationLabels {
    verb: &'static str,
    host: &'static str,
}

/// The profile every pod is scheduled with.
pub const PROFILE: &str = "default-scheduler";

/// Scheduler, work queue, kubelet, client and Raft metrics.
pub struct ComponentMetrics {
    queue_depth: Family<QueueName, Gauge>,
    queue_adds: Family<QueueName, Counter>,
    queue_retries: Family<QueueName, Counter>,
    queue_duration: HistogramFamily<QueueName>,
    work_duration: HistogramFamily<QueueName>,
    pending_pods: Family<PendingQueue, Gauge>,
    attempts: Family<AttemptLabels, Counter>,
    attempt_duration: HistogramFamily<AttemptLabels>,
    sli_duration: HistogramFamily<AttemptsLabel>,
    /// `kubelet_running_pods`.
    pub running_pods: Gauge,
    /// `kubelet_pod_start_sli_duration_seconds`.
    pub pod_start_sli: Histogram,
    rest_requests: Family<RestLabels, Counter>,
    rest_duration: HistogramFamily<RestDurationLabels>,
    raft: Arc<RaftShared>,
}

/// One work queue's handles (see [`ComponentMetrics::queue`]).
#[derive(Clone, Debug)]
pub struct QueueMetrics {
    /// `workqueue_depth`.
    pub depth: Gauge,
    /// `workqueue_adds_total`.
    pub adds: Counter,
    /// `workqueue_retries_total`.
    pub retries: Counter,
    /// `workqueue_queue_duration_seconds`.
    pub queue_duration: Histogram,
    /// `workqueue_work_duration_seconds`.
    pub work_duration: Histogram,
}

impl ComponentMetrics {
    pub(super) fn register(r: &mut Registry) -> Self {
        let queue_depth = Family::<QueueName, Gauge>::default();
        r.register(
            "workqueue_depth",
            "Current depth of workqueue",
            queue_depth.clone(),
        );
        let queue_adds = Family::<QueueName, Counter>::default();
        r.register(
            "workqueue_adds",
            "Total number of adds handled by workqueue",
            queue_adds.clone(),
        );
        let queue_retries = Family::<QueueName, Counter>::default();
        r.register(
            "workqueue_retries",
            "Total number of retries handled by workqueue",
            queue_retries.clone(),
        );
        let queue_duration: HistogramFamily<QueueName> =
            Family::new_with_constructor(fine_histogram);
        r.register(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested.",
            queue_duration.clone(),
        );
        let work_duration: HistogramFamily<QueueName> =
            Family::new_with_constructor(fine_histogram);
        r.register(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            work_duration.clone(),
        );
        let pending_pods = Family::<PendingQueue, Gauge>::default();
        r.register(
            "scheduler_pending_pods",
            "Number of pending pods, by the queue type. 'active' means number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in unschedulablePods.",
            pending_pods.clone(),
        );
        let attempts = Family::<AttemptLabels, Counter>::default();
        r.register(
            "scheduler_schedule_attempts",
            "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be scheduled, while 'error' means an internal scheduler problem.",
            attempts.clone(),
        );
        let attempt_duration: HistogramFamily<AttemptLabels> =
            Family::new_with_constructor(fine_histogram);
        r.register(
            "scheduler_scheduling_attempt_duration_seconds",
            "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
            attempt_duration.clone(),
        );
        let sli_duration: HistogramFamily<AttemptsLabel> =
            Family::new_with_constructor(latency_histogram);
        r.register(
            "scheduler_pod_scheduling_sli_duration_seconds",
            "E2e latency for a pod being scheduled, from the time the pod enters the scheduling queue and might involve multiple scheduling attempts.",
            sli_duration.clone(),
        );
        let running_pods = Gauge::default();
        r.register(
            "kubelet_running_pods",
            "Number of pods that have a running pod sandbox",
            running_pods.clone(),
        );
        let pod_start_sli = latency_histogram();
        r.register(
            "kubelet_pod_start_sli_duration_seconds",
            "Duration in seconds to start a pod, excluding time to pull images and run init containers, measured from pod creation timestamp to when all its containers are reported as started and observed via watch",
            pod_start_sli.clone(),
        );
        let rest_requests = Family::<RestLabels, Counter>::default();
        r.register(
            "rest_client_requests",
            "Number of HTTP requests, partitioned by status code, method, and host.",
            rest_requests.clone(),
        );
        let rest_duration: HistogramFamily<RestDurationLabels> =
            Family::new_with_constructor(fine_histogram);
        r.register(
            "rest_client_request_duration_seconds",
            "Request latency in seconds. Broken down by verb, and host.",
            rest_duration.clone(),
        );
        let raft = Arc::new(RaftShared::default());
        r.register_collector(Box::new(raft.clone()));
        ComponentMetrics {
            queue_depth,
            queue_adds,
            queue_retries,
            queue_duration,
            work_duration,
            pending_pods,
            attempts,
            attempt_duration,
            sli_duration,
            running_pods,
            pod_start_sli,
            rest_requests,
            rest_duration,
            raft,
        }
    }

    /// The handles of the work queue `name` (resolved once per queue); a controller's
    /// actor name `controller/<x>` reports as `<x>`, as Kubernetes names its queues.
    pub fn queue(&self, name: &str) -> QueueMetrics {
        let name = name.strip_prefix("controller/").unwrap_or(name);
        let l = QueueName { name: intern(name) };
        QueueMetrics {
            depth: self.queue_depth.get_or_create(&l).clone(),
            adds: self.queue_adds.get_or_create(&l).clone(),
            retries: self.queue_retries.get_or_create(&l).clone(),
            queue_duration: self.queue_duration.get_or_create(&l).clone(),
            work_duration: self.work_duration.get_or_create(&l).clone(),
        }
    }

    /// Sets `scheduler_pending_pods` from the queue's `(active, backoff,
    /// unschedulable)` lengths.
    pub fn set_pending_pods(&self, active: usize, backoff: usize, unschedulable: usize) {
        if !super::enabled() {
            return;
        }
        for (queue, n) in [
            ("active", active),
            ("backoff", backoff),
            ("unschedulable", unschedulable),
        ] {
            self.pending_pods
                .get_or_create(&PendingQueue { queue })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Records one scheduling attempt: `result` is `scheduled`, `unschedulable` or
    /// `error`; `took` runs from the start of the cycle to the end of the binding.
    pub fn scheduling_attempt(&self, result: &'static str, took: Duration) {
        if !super::enabled() {
            return;
        }
        let l = AttemptLabels {
            result,
            profile: PROFILE,
        };
        self.attempts.get_or_create(&l).inc();
        self.attempt_duration
            .get_or_create(&l)
            .observe(took.as_secs_f64());
    }

    /// Records a pod scheduled `took` after it entered the queue, in `attempts` attempts.
    pub fn pod_scheduled(&self, attempts: u32, took: Duration) {
        if !super::enabled() {
            return;
        }
        self.sli_duration
            .get_or_create(&AttemptsLabel {
                attempts: attempts.min(20),
            })
            .observe(took.as_secs_f64());
    }

    /// Records one API request of a component over the bus: `method` as HTTP names it
    /// (`GET`, `POST`, ...), `host` the API server's node, `code` the status (see
    /// [`super::code_label`]).
    pub fn rest_request(
        &self,
        method: &'static str,
        host: &str,
        code: &'static str,
        took: Duration,
    ) {
        if !super::enabled() {
            return;
        }
        let host = intern(host);
        self.rest_requests
            .get_or_create(&RestLabels { code, method, host })
            .inc();
        self.rest_duration
            .get_or_create(&RestDurationLabels { verb: method, host })
            .observe(took.as_secs_f64());
    }

    /// The store's Raft counters, for the store to update.
    pub fn raft(&self) -> &RaftCounters {
        &self.raft.counters
    }

    /// Reports `source`'s Raft state from now on, while it lives.
    pub fn add_raft_source(&self, source: Weak<dyn RaftSource>) {
        let mut s = self.raft.sources.lock().unwrap_or_else(|p| p.into_inner());
        s.retain(|w| w.strong_count() > 0);
        s.push(source);
    }
}

/// What a store replica reports when scraped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RaftSample {
    /// The current term.
    pub term: u64,
    /// Whether a leader is known.
    pub has_leader: bool,
    /// Whether this replica leads.
    pub is_leader: bool,
    /// The last log index.
    pub last_log_index: u64,
    /// The last applied index.
    pub applied_index: u64,
    /// The index the last snapshot covers.
    pub snapshot_index: u64,
}

/// A store replica (see [`ComponentMetrics::add_raft_source`]).
pub trait RaftSource: Send + Sync {
    /// Its state now.
    fn sample(&self) -> RaftSample;
}

/// Counters the store bumps as events happen.
#[derive(Debug, Default)]
pub struct RaftCounters {
    /// Leader changes seen.
    pub leader_changes: AtomicU64,
    /// Snapshots built.
    pub snapshots: AtomicU64,
    /// Synced write-ahead log writes.
    pub fsync: LatencyCounts,
}

#[derive(Default)]
struct RaftShared {
    counters: RaftCounters,
    sources: Mutex<Vec<Weak<dyn RaftSource>>>,
}

impl std::fmt::Debug for RaftShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftShared").finish_non_exhaustive()
    }
}

impl Collector for RaftShared {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let source = self
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find_map(Weak::upgrade);
        // A node without a store replica exports no Raft metrics.
        let Some(source) = source else {
            return Ok(());
        };
        let s = source.sample();
        let gauges = [
            (
                "etcd_server_has_leader",
                "Whether or not a leader exists. 1 is existence, 0 is not.",
                i64::from(s.has_leader),
            ),
            (
                "etcd_server_is_leader",
                "Whether or not this member is a leader. 1 if is, 0 otherwise.",
                i64::from(s.is_leader),
            ),
            (
                "rudder_raft_term",
                "The current Raft term of this store replica.",
                i64::try_from(s.term).unwrap_or(i64::MAX),
            ),
            (
                "rudder_raft_last_log_index",
                "The last index in this replica's Raft log.",
                i64::try_from(s.last_log_index).unwrap_or(i64::MAX),
            ),
            (
                "rudder_raft_applied_index",
                "The last Raft index applied to this replica's state machine (committed entries only are applied).",
                i64::try_from(s.applied_index).unwrap_or(i64::MAX),
            ),
            (
                "rudder_raft_snapshot_index",
                "The Raft index the replica's last snapshot covers.",
                i64::try_from(s.snapshot_index).unwrap_or(i64::MAX),
            ),
        ];
        for (name, help, v) in gauges {
            enc.encode_descriptor(name, help, None, MetricType::Gauge)?
                .encode_gauge(&v)?;
        }
        let c = &self.counters;
        let fsync_buckets = c.fsync.buckets();
        enc.encode_descriptor(
            "etcd_server_leader_changes_seen",
            "The number of leader changes seen.",
            None,
            MetricType::Counter,
        )?
        .encode_counter::<NoLabelSet, _, u64>(&c.leader_changes.load(Ordering::Relaxed), None)?;
        enc.encode_descriptor(
            "rudder_raft_snapshots",
            "Snapshots this replica built.",
            None,
            MetricType::Counter,
        )?
        .encode_counter::<NoLabelSet, _, u64>(&c.snapshots.load(Ordering::Relaxed), None)?;
        enc.encode_descriptor(
            "etcd_disk_wal_fsync_duration_seconds",
            "The latency distributions of fsync called by WAL.",
            None,
            MetricType::Histogram,
        )?
        .encode_histogram::<NoLabelSet>(
            c.fsync.sum_seconds(),
            fsync_buckets.iter().map(|b| b.1).sum(),
            &fsync_buckets,
            None,
        )?;
        Ok(())
    }
}
