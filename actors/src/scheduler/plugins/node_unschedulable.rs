//! Filters nodes that must not get new pods: cordoned ones ([`NodeUnschedulable`], as
//! Kubernetes' plugin of that name) and ones whose `Ready` condition is not `True`
//! ([`NodeReady`], after Kubernetes' former CheckNodeCondition predicate).
//!
//! Kubernetes keeps pods off unready nodes through the `node.kubernetes.io/not-ready` and
//! `.../unreachable` taints; when a node carries one of them [`NodeReady`] leaves the
//! verdict to the taint filter, so the message names the taint as Kubernetes' does. A pod
//! that tolerates the corresponding taint (e.g. a DaemonSet's) passes either way.

use rudder_protocol::resources::{Taint, TaintEffect};

use super::taint_toleration::tolerated;
use crate::scheduler::framework::{FilterPlugin, PodInfo, Unfit};
use crate::scheduler::snapshot::NodeInfo;

/// The taint Kubernetes puts on cordoned nodes.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// The taint Kubernetes puts on nodes that are not Ready.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint Kubernetes puts on nodes whose kubelet stopped reporting.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// Kubernetes' reason for a cordoned node.
pub const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// Kubernetes' reason for a node that is not Ready.
pub const REASON_NOT_READY: &str = "node(s) were not ready";

fn tolerates_key(pod: &PodInfo<'_>, key: &str) -> bool {
    let taint = Taint {
        key: key.to_owned(),
        effect: TaintEffect::NoSchedule,
        ..Default::default()
    };
    tolerated(&pod.pod.spec.tolerations, &taint)
}

/// Rejects cordoned nodes (`spec.unschedulable`) unless the pod tolerates the
/// unschedulable taint.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeUnschedulable;

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> Result<(), Unfit> {
        if node.unschedulable() && !tolerates_key(pod, TAINT_UNSCHEDULABLE) {
            return Err(Unfit::unresolvable(REASON_UNSCHEDULABLE));
        }
        Ok(())
    }
}

/// Rejects nodes that are not Ready (see the module docs for the interplay with taints).
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeReady;

impl FilterPlugin for NodeReady {
    fn name(&self) -> &'static str {
        "NodeReady"
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> Result<(), Unfit> {
        if node.ready {
            return Ok(());
        }
        let tainted = node
            .taints()
            .iter()
            .any(|t| t.key == TAINT_NOT_READY || t.key == TAINT_UNREACHABLE);
        if tainted || tolerates_key(pod, TAINT_NOT_READY) || tolerates_key(pod, TAINT_UNREACHABLE) {
            return Ok(());
        }
        Err(Unfit::unresolvable(REASON_NOT_READY))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rudder_protocol::resources::{ConditionStatus, Toleration, TolerationOperator};

    use super::*;
    use crate::scheduler::snapshot::tests::{node, pod};

    #[test]
    fn cordon_and_readiness() {
        let tolerate = |key: &str| Toleration {
            key: key.into(),
            operator: Some(TolerationOperator::Exists),
            ..Default::default()
        };
        struct Case {
            name: &'static str,
            unschedulable: bool,
            ready: ConditionStatus,
            taint: Option<&'static str>,
            toleration: Option<&'static str>,
            want: Result<(), &'static str>,
        }
        let cases = [
            Case {
                name: "schedulable and ready",
                unschedulable: false,
                ready: ConditionStatus::True,
                taint: None,
                toleration: None,
                want: Ok(()),
            },
            Case {
                name: "cordoned",
                unschedulable: true,
                ready: ConditionStatus::True,
                taint: None,
                toleration: None,
                want: Err(REASON_UNSCHEDULABLE),
            },
            Case {
                name: "cordoned but tolerated",
                unschedulable: true,
                ready: ConditionStatus::True,
                taint: None,
                toleration: Some(TAINT_UNSCHEDULABLE),
                want: Ok(()),
            },
            Case {
                name: "cordon checked before readiness",
                unschedulable: true,
                ready: ConditionStatus::False,
                taint: None,
                toleration: None,
                want: Err(REASON_UNSCHEDULABLE),
            },
            Case {
                name: "not ready",
                unschedulable: false,
                ready: ConditionStatus::False,
                taint: None,
                toleration: None,
                want: Err(REASON_NOT_READY),
            },
            Case {
                name: "readiness unknown",
                unschedulable: false,
                ready: ConditionStatus::Unknown,
                taint: None,
                toleration: None,
                want: Err(REASON_NOT_READY),
            },
            Case {
                name: "not ready with its taint: left to the taint filter",
                unschedulable: false,
                ready: ConditionStatus::False,
                taint: Some(TAINT_NOT_READY),
                toleration: None,
                want: Ok(()),
            },
            Case {
                name: "not ready but tolerated",
                unschedulable: false,
                ready: ConditionStatus::False,
                taint: None,
                toleration: Some(TAINT_NOT_READY),
                want: Ok(()),
            },
            Case {
                name: "unreachable tolerated",
                unschedulable: false,
                ready: ConditionStatus::Unknown,
                taint: None,
                toleration: Some(TAINT_UNREACHABLE),
                want: Ok(()),
            },
        ];
        for c in cases {
            let mut n = node("n", "1", "1Gi", 10);
            n.spec.unschedulable = c.unschedulable;
            n.status.conditions[0].status = c.ready;
            if let Some(key) = c.taint {
                n.spec.taints.push(Taint {
                    key: key.into(),
                    ..Default::default()
                });
            }
            let info = NodeInfo::new(Arc::new(n));
            let mut p = pod("p", &[("", "")]);
            p.spec.tolerations.extend(c.toleration.map(tolerate));
            let pi = PodInfo::new(&p);
            let got = NodeUnschedulable
                .filter(&pi, &info)
                .and_then(|()| NodeReady.filter(&pi, &info));
            let got = got.map_err(|u| u.reasons().collect::<Vec<_>>().join(","));
            assert_eq!(got, c.want.map_err(str::to_owned), "{}", c.name);
        }
    }
}
