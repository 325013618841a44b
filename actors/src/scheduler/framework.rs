//! The plugin interfaces of a scheduling cycle, after Kubernetes' scheduling framework:
//! a [`FilterPlugin`] says whether a pod may go to a node (and why not), a
//! [`ScorePlugin`] ranks the nodes that passed every filter.
//!
//! Plugins are pure: they read the [`PodInfo`] (the pod plus what the cycle computed from
//! it once) and one [`NodeInfo`] of the snapshot, and never do I/O.

use std::borrow::Cow;

use rudder_protocol::resources::Pod;

use super::snapshot::{NodeInfo, PodUsage};

/// The pod being scheduled, with its reservation computed once per cycle.
#[derive(Debug, Clone)]
pub struct PodInfo<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// What it would reserve on its node.
    pub usage: PodUsage,
}

impl<'a> PodInfo<'a> {
    /// Computes the pod's reservation.
    pub fn new(pod: &'a Pod) -> Self {
        PodInfo {
            pod,
            usage: PodUsage::of(pod),
        }
    }
}

/// Why a node was rejected: one or more of Kubernetes' reason strings (resource fit
/// reports every insufficient resource at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfit {
    first: Cow<'static, str>,
    more: Vec<Cow<'static, str>>,
}

impl Unfit {
    /// A rejection with one reason.
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        Unfit {
            first: reason.into(),
            more: Vec::new(),
        }
    }

    /// Adds a further reason.
    pub fn and(mut self, reason: impl Into<Cow<'static, str>>) -> Self {
        self.more.push(reason.into());
        self
    }

    /// Every reason, in the order the plugin found them.
    pub fn reasons(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.first.as_ref()).chain(self.more.iter().map(|r| r.as_ref()))
    }

    pub(crate) fn into_reasons(self) -> impl Iterator<Item = Cow<'static, str>> {
        std::iter::once(self.first).chain(self.more)
    }
}

/// Decides whether a pod may run on a node.
pub trait FilterPlugin: Send + Sync {
    /// The plugin's name, as Kubernetes names it (e.g. `NodeResourcesFit`).
    fn name(&self) -> &'static str;
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
    /// The node's raw score; in `0..=MAX_NODE_SCORE` unless [`ScorePlugin::normalize`]
    /// maps it there.
    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> i64;
    /// Maps the raw scores of all scored nodes into `0..=MAX_NODE_SCORE` (for scores
    /// that only mean something relative to each other). The default keeps them.
    fn normalize(&self, _pod: &PodInfo<'_>, _scores: &mut [i64]) {}
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
