//! Kubernetes' TaintToleration filter: a node with a `NoSchedule` or `NoExecute` taint
//! the pod does not tolerate is rejected, with the first such taint in the message
//! (`node(s) had untolerated taint {key: value}`). `PreferNoSchedule` taints only matter
//! for scoring, which Rudder does not do for taints.

use rudder_protocol::resources::{Taint, TaintEffect, Toleration};

use crate::scheduler::framework::{FilterPlugin, PodInfo, Unfit};
use crate::scheduler::snapshot::NodeInfo;

/// Whether any of `tolerations` tolerates `taint` ([`Toleration::tolerates`]).
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

/// Kubernetes' reason for a node with an untolerated taint.
pub fn untolerated_reason(taint: &Taint) -> String {
    format!(
        "node(s) had untolerated taint {{{}: {}}}",
        taint.key, taint.value
    )
}

/// Rejects nodes with an untolerated `NoSchedule` or `NoExecute` taint.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaintToleration;

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> Result<(), Unfit> {
        let tolerations = &pod.pod.spec.tolerations;
        match node
            .taints()
            .iter()
            .find(|t| t.effect != TaintEffect::PreferNoSchedule && !tolerated(tolerations, t))
        {
            Some(taint) => Err(Unfit::unresolvable(untolerated_reason(taint))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::scheduler::snapshot::tests::{node, pod};
    use rudder_protocol::resources::TolerationOperator;

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
            time_added: None,
        }
    }

    fn tol(
        key: &str,
        op: Option<TolerationOperator>,
        value: &str,
        effect: Option<TaintEffect>,
    ) -> Toleration {
        Toleration {
            key: key.into(),
            operator: op,
            value: value.into(),
            effect,
            toleration_seconds: None,
        }
    }

    // Case tables are tuples on purpose: one line per case.
    #[allow(clippy::type_complexity)]
    #[test]
    fn taints_and_tolerations() {
        use rudder_protocol::resources::TolerationOperator::*;
        use TaintEffect::*;
        let cases: Vec<(&str, Vec<Taint>, Vec<Toleration>, Result<(), &str>)> = vec![
            ("no taints", vec![], vec![], Ok(())),
            (
                "untolerated NoSchedule",
                vec![taint("dedicated", "gpu", NoSchedule)],
                vec![],
                Err("node(s) had untolerated taint {dedicated: gpu}"),
            ),
            (
                "untolerated NoExecute with empty value",
                vec![taint("node.kubernetes.io/not-ready", "", NoExecute)],
                vec![],
                Err("node(s) had untolerated taint {node.kubernetes.io/not-ready: }"),
            ),
            (
                "PreferNoSchedule is ignored by the filter",
                vec![taint("soft", "x", PreferNoSchedule)],
                vec![],
                Ok(()),
            ),
            (
                "Equal toleration with the same value",
                vec![taint("dedicated", "gpu", NoSchedule)],
                vec![tol("dedicated", Some(Equal), "gpu", Some(NoSchedule))],
                Ok(()),
            ),
            (
                "default operator is Equal",
                vec![taint("dedicated", "gpu", NoSchedule)],
                vec![tol("dedicated", None, "cpu", None)],
                Err("node(s) had untolerated taint {dedicated: gpu}"),
            ),
            (
                "Exists on the key",
                vec![taint("dedicated", "gpu", NoExecute)],
                vec![tol("dedicated", Some(Exists), "", None)],
                Ok(()),
            ),
            (
                "empty key with Exists tolerates everything",
                vec![taint("a", "1", NoSchedule), taint("b", "2", NoExecute)],
                vec![tol("", Some(Exists), "", None)],
                Ok(()),
            ),
            (
                "effect must match",
                vec![taint("dedicated", "gpu", NoExecute)],
                vec![tol("dedicated", Some(Exists), "", Some(NoSchedule))],
                Err("node(s) had untolerated taint {dedicated: gpu}"),
            ),
            (
                "first untolerated taint is reported",
                vec![taint("a", "1", NoSchedule), taint("b", "2", NoSchedule)],
                vec![tol("a", Some(Exists), "", None)],
                Err("node(s) had untolerated taint {b: 2}"),
            ),
        ];
        for (name, taints, tolerations, want) in cases {
            let mut n = node("n", "1", "1Gi", 10);
            n.spec.taints = taints;
            let info = NodeInfo::new(Arc::new(n));
            let mut p = pod("p", &[("", "")]);
            p.spec.tolerations = tolerations;
            let got = TaintToleration
                .filter(&PodInfo::new(&p), &info)
                .map_err(|u| u.reasons().collect::<Vec<_>>().join(","));
            assert_eq!(got, want.map_err(str::to_owned), "{name}");
        }
    }
}
