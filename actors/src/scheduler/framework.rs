//! The plugin interfaces of a scheduling cycle, after Kubernetes' scheduling framework:
//! a [`FilterPlugin`] says whether a pod may go to a node (and why not), a
//! [`ScorePlugin`] ranks the nodes that passed every filter.
//!
//! Plugins are pure: they read the [`PodInfo`] (the pod plus what the cycle computed from
//! it once) and one [`NodeInfo`] of the snapshot, and never do I/O. A plugin that needs
//! the whole cluster (counts of matching pods per topology domain, say) computes it once
//! per cycle in [`FilterPlugin::pre_filter`] or [`ScorePlugin::pre_score`] and keeps it
//! in the pod's [`CycleData`] (Kubernetes' `CycleState`), so that the per-node calls stay
//! lookups. [`FilterPlugin::add_pod`] and [`FilterPlugin::remove_pod`] (Kubernetes'
//! PreFilterExtensions) keep that data right when preemption evaluates a node without
//! some of its pods, or with pods nominated to it.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::BTreeMap;

use rudder_protocol::resources::{
    LabelSelector, LabelSelectorOperator, LabelSelectorRequirement, Pod, PodAffinityTerm,
};

use super::snapshot::{NodeInfo, PodRecord, PodUsage, Snapshot};

/// Data a plugin computed for one pod in one cycle.
pub trait StateData: Any + Send + Sync + std::fmt::Debug {
    /// A copy (preemption works on copies, one per candidate node).
    fn clone_box(&self) -> Box<dyn StateData>;
    /// For downcasting.
    fn as_any(&self) -> &dyn Any;
    /// For downcasting.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone + Send + Sync + std::fmt::Debug> StateData for T {
    fn clone_box(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// What the plugins computed for the pod in this cycle, one value per type (Kubernetes'
/// `CycleState`, keyed by type instead of by string). A handful of entries at most, so a
/// vector beats a map.
#[derive(Debug, Default)]
pub struct CycleData {
    entries: Vec<(TypeId, Box<dyn StateData>)>,
}

impl Clone for CycleData {
    fn clone(&self) -> Self {
        CycleData {
            entries: self
                .entries
                .iter()
                .map(|(t, v)| (*t, (**v).clone_box()))
                .collect(),
        }
    }
}

impl CycleData {
    /// Stores `value`, replacing an earlier value of the same type.
    pub fn write<T: StateData>(&mut self, value: T) {
        let id = TypeId::of::<T>();
        self.entries.retain(|(t, _)| *t != id);
        self.entries.push((id, Box::new(value)));
    }

    /// The value of type `T`, if a plugin wrote one.
    pub fn read<T: StateData>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.entries
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| (**v).as_any().downcast_ref())
    }

    /// The value of type `T`, to update it.
    pub fn read_mut<T: StateData>(&mut self) -> Option<&mut T> {
        let id = TypeId::of::<T>();
        self.entries
            .iter_mut()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| (**v).as_any_mut().downcast_mut())
    }
}

/// One pod affinity term, ready to match pods (Kubernetes' `framework.AffinityTerm`):
/// the namespaces it covers, its label selector with `matchLabelKeys` and
/// `mismatchLabelKeys` merged in from the owning pod's labels, and its topology key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AffinityTerm {
    /// Namespaces named by the term; the owning pod's own when neither names nor a
    /// namespace selector are given.
    pub namespaces: Vec<String>,
    /// Namespaces selected by label; `None` selects none, an empty selector all.
    pub namespace_selector: Option<LabelSelector>,
    /// The pods the term is about; `None` matches no pod.
    pub selector: Option<LabelSelector>,
    /// The node label that defines a topology domain.
    pub topology_key: String,
}

impl AffinityTerm {
    /// Compiles `term` of `owner`.
    pub fn new(owner: &Pod, term: &PodAffinityTerm) -> Self {
        let namespaces = if term.namespaces.is_empty() && term.namespace_selector.is_none() {
            vec![owner.metadata.namespace.clone()]
        } else {
            term.namespaces.clone()
        };
        let selector = with_label_keys(
            term.label_selector.clone(),
            &owner.metadata.labels,
            &term.match_label_keys,
            &term.mismatch_label_keys,
        );
        AffinityTerm {
            namespaces,
            namespace_selector: term.namespace_selector.clone(),
            selector,
            topology_key: term.topology_key.clone(),
        }
    }

    /// Whether `pod`, whose namespace carries `ns_labels`, is one of the pods the term is
    /// about.
    pub fn matches(&self, pod: &Pod, ns_labels: &BTreeMap<String, String>) -> bool {
        let in_namespace = self.namespaces.contains(&pod.metadata.namespace)
            || self
                .namespace_selector
                .as_ref()
                .is_some_and(|s| s.matches(ns_labels));
        in_namespace
            && self
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(&pod.metadata.labels))
    }

    /// The term with its namespace selector replaced by the namespaces it selects in
    /// `snapshot` (as Kubernetes' PreFilter does for the incoming pod's terms), so that it
    /// can match pods without their namespace's labels. The namespaces come sorted, so
    /// that equal terms resolve equal (the snapshot keeps counts per resolved term).
    pub fn resolved(&self, snapshot: &Snapshot) -> Self {
        let mut t = self.clone();
        if let Some(sel) = t.namespace_selector.take() {
            for (ns, labels) in snapshot.namespaces() {
                if sel.matches(labels) {
                    t.namespaces.push(ns.to_owned());
                }
            }
        }
        t.namespaces.sort_unstable();
        t.namespaces.dedup();
        t
    }
}

/// A preferred affinity term and its weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedAffinityTerm {
    /// 1-100.
    pub weight: i64,
    /// The term.
    pub term: AffinityTerm,
}

/// A pod's inter-pod affinity, compiled once per pod (Kubernetes keeps the same in its
/// `PodInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodAffinityInfo {
    /// Required affinity terms (all must hold).
    pub required_affinity: Vec<AffinityTerm>,
    /// Required anti-affinity terms.
    pub required_anti_affinity: Vec<AffinityTerm>,
    /// Preferred affinity terms.
    pub preferred_affinity: Vec<WeightedAffinityTerm>,
    /// Preferred anti-affinity terms.
    pub preferred_anti_affinity: Vec<WeightedAffinityTerm>,
}

impl PodAffinityInfo {
    /// The compiled terms of `pod`; `None` when it has no inter-pod affinity at all.
    pub fn of(pod: &Pod) -> Option<Self> {
        let a = pod.spec.affinity.as_ref()?;
        let compile =
            |ts: &[PodAffinityTerm]| ts.iter().map(|t| AffinityTerm::new(pod, t)).collect();
        let weighted = |ts: &[rudder_protocol::resources::WeightedPodAffinityTerm]| {
            ts.iter()
                .map(|w| WeightedAffinityTerm {
                    weight: i64::from(w.weight),
                    term: AffinityTerm::new(pod, &w.pod_affinity_term),
                })
                .collect()
        };
        let mut info = PodAffinityInfo::default();
        if let Some(pa) = &a.pod_affinity {
            info.required_affinity =
                compile(&pa.required_during_scheduling_ignored_during_execution);
            info.preferred_affinity =
                weighted(&pa.preferred_during_scheduling_ignored_during_execution);
        }
        if let Some(pa) = &a.pod_anti_affinity {
            info.required_anti_affinity =
                compile(&pa.required_during_scheduling_ignored_during_execution);
            info.preferred_anti_affinity =
                weighted(&pa.preferred_during_scheduling_ignored_during_execution);
        }
        let empty = info.required_affinity.is_empty()
            && info.required_anti_affinity.is_empty()
            && info.preferred_affinity.is_empty()
            && info.preferred_anti_affinity.is_empty();
        (!empty).then_some(info)
    }
}

/// A pod's priority (`spec.priority`, 0 when unset, as Kubernetes' `PodPriority`).
pub fn pod_priority(pod: &Pod) -> i32 {
    pod.spec.priority.unwrap_or(0)
}

/// The pod being scheduled, with what the cycle computed from it once.
#[derive(Debug, Clone)]
pub struct PodInfo<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// What it would reserve on its node.
    pub usage: PodUsage,
    /// Its inter-pod affinity, compiled.
    pub affinity: Option<PodAffinityInfo>,
    /// Its priority.
    pub priority: i32,
    /// What the plugins' PreFilter and PreScore steps computed for it.
    pub data: CycleData,
}

impl<'a> PodInfo<'a> {
    /// Computes the pod's reservation and compiles its affinity.
    pub fn new(pod: &'a Pod) -> Self {
        PodInfo {
            pod,
            usage: PodUsage::of(pod),
            affinity: PodAffinityInfo::of(pod),
            priority: pod_priority(pod),
            data: CycleData::default(),
        }
    }
}

/// Why a node was rejected: one or more of Kubernetes' reason strings (resource fit
/// reports every insufficient resource at once), and whether preempting pods there could
/// help (Kubernetes' `Unschedulable`) or not (`UnschedulableAndUnresolvable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfit {
    first: Cow<'static, str>,
    more: Vec<Cow<'static, str>>,
    unresolvable: bool,
}

impl Unfit {
    /// A rejection with one reason that removing pods from the node might resolve.
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        Unfit {
            first: reason.into(),
            more: Vec::new(),
            unresolvable: false,
        }
    }

    /// A rejection that no preemption on this node can resolve (taints, selectors, ...).
    pub fn unresolvable(reason: impl Into<Cow<'static, str>>) -> Self {
        Unfit {
            unresolvable: true,
            ..Unfit::new(reason)
        }
    }

    /// Adds a further reason.
    pub fn and(mut self, reason: impl Into<Cow<'static, str>>) -> Self {
        self.more.push(reason.into());
        self
    }

    /// Whether preemption cannot help on this node.
    pub fn is_unresolvable(&self) -> bool {
        self.unresolvable
    }

    /// Every reason, in the order the plugin found them.
    pub fn reasons(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.first.as_ref()).chain(self.more.iter().map(|r| r.as_ref()))
    }

    pub(crate) fn into_reasons(self) -> impl Iterator<Item = Cow<'static, str>> {
        std::iter::once(self.first).chain(self.more)
    }
}

/// Written into the pod's [`CycleData`] by a PreFilter step that rejects the pod outright
/// (Kubernetes' PreFilter returning `UnschedulableAndUnresolvable`): no node is tried,
/// and the message is the cycle's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreFilterRejection(pub String);

/// Decides whether a pod may run on a node.
pub trait FilterPlugin: Send + Sync {
    /// The plugin's name, as Kubernetes names it (e.g. `NodeResourcesFit`).
    fn name(&self) -> &'static str;
    /// Kubernetes' PreFilter: what [`FilterPlugin::filter`] needs from the whole cluster,
    /// computed once per cycle into `pod.data`. The default computes nothing.
    fn pre_filter(&self, _pod: &mut PodInfo<'_>, _snapshot: &Snapshot) {}
    /// `other` now counts on `node` (a pod nominated there): update `pod.data`.
    fn add_pod(&self, _pod: &mut PodInfo<'_>, _other: &PodRecord, _node: &NodeInfo) {}
    /// `other` no longer counts on `node` (a preemption victim): update `pod.data`.
    fn remove_pod(&self, _pod: &mut PodInfo<'_>, _other: &PodRecord, _node: &NodeInfo) {}
    /// `Ok` when the pod fits, else the reasons in Kubernetes' words.
    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> Result<(), Unfit>;
}

/// The highest score a plugin may give.
pub const MAX_NODE_SCORE: i64 = 100;

/// Ranks the nodes a pod may run on.
pub trait ScorePlugin: Send + Sync {
    /// The plugin's name, as Kubernetes names it (e.g. `NodeResourcesBalancedAllocation`).
    fn name(&self) -> &'static str;
    /// How much this plugin's score counts against the others'.
    fn weight(&self) -> i64;
    /// Kubernetes' PreScore: what [`ScorePlugin::score`] needs, computed once per cycle
    /// from the snapshot and the `feasible` nodes into `pod.data`. The default computes
    /// nothing.
    fn pre_score(&self, _pod: &mut PodInfo<'_>, _snapshot: &Snapshot, _feasible: &[&NodeInfo]) {}
    /// The node's raw score; in `0..=MAX_NODE_SCORE` unless [`ScorePlugin::normalize`]
    /// maps it there.
    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> i64;
    /// Maps the raw scores of the scored `nodes` into `0..=MAX_NODE_SCORE` (for scores
    /// that only mean something relative to each other). The default keeps them.
    fn normalize(&self, _pod: &PodInfo<'_>, _nodes: &[&NodeInfo], _scores: &mut [i64]) {}
}

/// The filter and score plugins a cycle runs, filters in order.
pub struct Plugins {
    /// Run in order; a node's first failing filter decides its reasons, as in Kubernetes.
    pub filters: Vec<Box<dyn FilterPlugin>>,
    /// Weighted and summed.
    pub scores: Vec<Box<dyn ScorePlugin>>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins")
            .field(
                "filters",
                &self.filters.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .field(
                "scores",
                &self.scores.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// `selector` with the owner's values of `match_keys` added as `In` and of
/// `mismatch_keys` as `NotIn` requirements (keys the owner lacks are skipped), as
/// Kubernetes merges `matchLabelKeys`/`mismatchLabelKeys` into affinity terms and
/// spread constraints.
pub fn with_label_keys(
    mut selector: Option<LabelSelector>,
    labels: &BTreeMap<String, String>,
    match_keys: &[String],
    mismatch_keys: &[String],
) -> Option<LabelSelector> {
    let requirement = |operator| {
        move |k: &String| {
            labels.get(k).map(|v| LabelSelectorRequirement {
                key: k.clone(),
                operator,
                values: vec![v.clone()],
            })
        }
    };
    let extra: Vec<LabelSelectorRequirement> = match_keys
        .iter()
        .filter_map(requirement(LabelSelectorOperator::In))
        .chain(
            mismatch_keys
                .iter()
                .filter_map(requirement(LabelSelectorOperator::NotIn)),
        )
        .collect();
    if !extra.is_empty() {
        selector
            .get_or_insert_with(LabelSelector::default)
            .match_expressions
            .extend(extra);
    }
    selector
}
