//! The ReplicationController controller: the ReplicaSet logic of [`super::replicaset`]
//! applied to `core/v1 ReplicationController`, through its [`ReplicaOwner`] impl.
//! Only what differs lives here: a map selector instead of a label selector, and a
//! template that may be absent (then nothing is created or deleted, as in Kubernetes),
//! and the component's names (`controller/replicationcontroller`, events from
//! `replication-controller`).

use std::collections::BTreeMap;

use rudder_protocol::resources::{PodTemplateSpec, ReplicaSetStatus, ReplicationController};

use super::replicaset::{ReplicaController, ReplicaOwner};
use crate::supervisor::ComponentSpec;

/// The ReplicationController controller's name on the bus.
pub const NAME: &str = "controller/replicationcontroller";

/// The ReplicationController controller: the replica loop of [`super::replicaset`] over
/// ReplicationControllers, leading the Lease
/// `kube-system/rudder-controller-replicationcontroller`.
pub struct ReplicationControllerController;

impl ReplicationControllerController {
    /// The component the node's supervisor runs.
    pub fn component() -> ComponentSpec {
        ReplicaController::<ReplicationController>::component(NAME)
    }
}

impl ReplicaOwner for ReplicationController {
    const COMPONENT: &'static str = "replication-controller";
    fn desired_replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec.min_ready_seconds
    }
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        let s = &self.spec.selector;
        !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
    fn pod_template(&self) -> Option<&PodTemplateSpec> {
        self.spec.template.as_ref()
    }
    fn replica_status(&self) -> &ReplicaSetStatus {
        &self.status
    }
    fn replica_status_mut(&mut self) -> &mut ReplicaSetStatus {
        &mut self.status
    }
}

#[cfg(test)]
mod tests {
    // Case tables are tuples on purpose: one line per case.
    #![allow(clippy::type_complexity)]
    use std::sync::Arc;

    use super::*;
    use crate::controllers::pods::testing::*;
    use crate::controllers::replicaset::{plan, Action, Expectations};
    use rudder_protocol::resources::{Pod, Time};

    fn rc(replicas: i32, template: bool) -> ReplicationController {
        let mut rc = ReplicationController::new("web");
        rc.metadata.uid = "rc-uid".into();
        rc.spec.replicas = Some(replicas);
        rc.spec.selector = [("app".to_owned(), "web".to_owned())].into();
        if template {
            let mut t = PodTemplateSpec::default();
            t.metadata.labels = rc.spec.selector.clone();
            rc.spec.template = Some(t);
        }
        rc
    }

    #[test]
    fn same_plan_through_the_adapter() {
        let mine = |n: &str, c| {
            Arc::new(owned(
                pod(n, c, &[("app", "web")]),
                "ReplicationController",
                "web",
                "rc-uid",
            ))
        };
        // (name, owner, pods, creates, deletes, adopts)
        let table: Vec<(
            &str,
            ReplicationController,
            Vec<Arc<Pod>>,
            usize,
            usize,
            usize,
        )> = vec![
            ("creates", rc(3, true), vec![mine("a", 1)], 2, 0, 0),
            (
                "deletes",
                rc(1, true),
                vec![mine("a", 1), mine("b", 2)],
                0,
                1,
                0,
            ),
            (
                "adopts by map selector",
                rc(1, true),
                vec![Arc::new(pod("o", 1, &[("app", "web"), ("x", "y")]))],
                0,
                0,
                1,
            ),
            ("no template: no pods made", rc(2, false), vec![], 0, 0, 0),
            (
                "empty selector adopts nothing",
                {
                    let mut r = rc(1, true);
                    r.spec.selector.clear();
                    r
                },
                vec![Arc::new(pod("o", 1, &[("app", "web")]))],
                1,
                0,
                0,
            ),
        ];
        for (name, owner, pods, creates, deletes, adopts) in table {
            let p = plan(&owner, &pods, &Expectations::default(), Time(100));
            let count = |f: fn(&Action) -> usize| p.actions.iter().map(f).sum::<usize>();
            assert_eq!(
                count(|a| match a {
                    Action::Create { count } => *count,
                    _ => 0,
                }),
                creates,
                "{name}: creates"
            );
            assert_eq!(
                count(|a| usize::from(matches!(a, Action::Delete { .. }))),
                deletes,
                "{name}: deletes"
            );
            assert_eq!(
                count(|a| usize::from(matches!(a, Action::Adopt { .. }))),
                adopts,
                "{name}: adopts"
            );
        }
    }

    #[test]
    fn adoption_names_a_replication_controller() {
        let pods = vec![Arc::new(pod("o", 1, &[("app", "web")]))];
        let p = plan(&rc(1, true), &pods, &Expectations::default(), Time(100));
        let Some(Action::Adopt {
            owner_references, ..
        }) = p.actions.first()
        else {
            panic!("{:?}", p.actions);
        };
        assert_eq!(owner_references[0].kind, "ReplicationController");
        assert_eq!(owner_references[0].api_version, "v1");
    }
}
