//! Recreate (Kubernetes' `recreate.go`): scale every old replica set to zero, wait until
//! none of their pods is left running, then create or scale up the new one.

use std::sync::Arc;

use rudder_protocol::resources::{Pod, PodPhase};

use super::{rs_replicas, status, Sync};

/// One Recreate sync (Kubernetes' `rolloutRecreate`).
pub(super) fn rollout(s: &mut Sync<'_>, pods: &[Arc<Pod>]) {
    s.sync_revision(false);
    let old_active: Vec<usize> = s
        .old()
        .into_iter()
        .filter(|i| rs_replicas(&s.rss[*i]) > 0)
        .collect();
    let mut scaled = false;
    for i in old_active {
        scaled |= s.scale_and_record(i, 0);
    }
    if scaled || old_pods_running(s, pods) {
        status::sync_rollout_status(s);
        return;
    }
    if s.new.is_none() {
        s.sync_revision(true);
        if s.halted {
            return;
        }
    }
    if let Some(new) = s.new {
        let replicas = s.replicas();
        s.scale_and_record(new, replicas);
    }
    if status::deployment_complete(s.d, &s.d.status) {
        s.cleanup();
    }
    status::sync_rollout_status(s);
}

/// Whether an old replica set still reports pods, or any of their pods has not
/// finished (pods being deleted still run until they are gone).
fn old_pods_running(s: &Sync<'_>, pods: &[Arc<Pod>]) -> bool {
    let old = s.old();
    if old.iter().map(|i| s.rss[*i].status.replicas).sum::<i32>() > 0 {
        return true;
    }
    let old_uids: Vec<&str> = old
        .iter()
        .map(|i| s.rss[*i].metadata.uid.as_str())
        .collect();
    pods.iter().any(|p| {
        p.metadata
            .controller_ref()
            .is_some_and(|r| old_uids.contains(&r.uid.as_str()))
            && !matches!(
                p.status.phase,
                Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
            )
    })
}

#[cfg(test)]
mod tests {
    // Case tables are tuples on purpose: one line per case.
    #![allow(clippy::type_complexity)]
    use std::sync::Arc;

    use super::super::testing::*;
    use super::super::{plan, Action};
    use super::*;
    use crate::controllers::pods::testing::{owned, pod};
    use rudder_protocol::resources::{DeploymentStrategyType, ReplicaSet, Time};

    #[test]
    fn recreate_table() {
        let mut d = deployment(3, "v2", 1.into(), 0.into());
        d.spec.strategy.type_ = Some(DeploymentStrategyType::Recreate);
        d.spec.strategy.rolling_update = None;
        let old_running = owned_rs(&d, "v1", 3, 3, 1, 1);
        let mut old_stopping = owned_rs(&d, "v1", 0, 0, 1, 1);
        old_stopping.status.replicas = 2;
        let old_gone = owned_rs(&d, "v1", 0, 0, 1, 1);
        let lingering = Arc::new(owned(
            pod("old-pod", 1, &[("app", "web")]),
            "ReplicaSet",
            &old_gone.metadata.name,
            &old_gone.metadata.uid,
        ));
        // (name, sets, pods, old scaled to zero, new created with)
        let table: Vec<(&str, Vec<ReplicaSet>, Vec<Arc<Pod>>, bool, Option<i32>)> = vec![
            (
                "scales old down first",
                vec![old_running],
                vec![],
                true,
                None,
            ),
            (
                "waits for old replicas",
                vec![old_stopping],
                vec![],
                false,
                None,
            ),
            (
                "waits for old pods",
                vec![old_gone.clone()],
                vec![lingering],
                false,
                None,
            ),
            (
                "then creates the new set at full size",
                vec![old_gone],
                vec![],
                false,
                Some(3),
            ),
        ];
        for (name, sets, pods, scaled_down, created) in table {
            let p = plan(
                &d,
                &sets.into_iter().map(Arc::new).collect::<Vec<_>>(),
                &pods,
                Time(100),
            );
            let down = p.actions.iter().any(
                |a| matches!(a, Action::UpdateReplicaSet { rs, .. } if rs.spec.replicas == Some(0)),
            );
            let new = p.actions.iter().find_map(|a| match a {
                Action::CreateReplicaSet { rs, .. } => rs.spec.replicas,
                _ => None,
            });
            assert_eq!(
                (down, new),
                (scaled_down, created),
                "{name}: {:?}",
                p.actions
            );
        }
    }
}
