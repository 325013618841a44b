//! RollingUpdate (Kubernetes' `rolling.go`): scale the new replica set up while the total
//! stays within `replicas + maxSurge`, and the old ones down while the available pods
//! stay at or above `replicas - maxUnavailable`.

use rudder_protocol::resources::{Deployment, IntOrString};

use super::{deployment_replicas, is_rolling, rs_replicas, status, Sync};

/// Kubernetes' `ResolveFenceposts`: `(maxSurge, maxUnavailable)` for `desired` replicas;
/// surge percentages round up, unavailable ones down; when both come to zero,
/// unavailable becomes 1 so that a rollout can progress. An unset value means `25%`; an
/// unreadable one (validation refuses them) counts as 0.
pub fn resolve_fenceposts(
    surge: Option<&IntOrString>,
    unavailable: Option<&IntOrString>,
    desired: i32,
) -> (i32, i32) {
    let quarter = IntOrString::String("25%".to_owned());
    let surge = surge
        .unwrap_or(&quarter)
        .scaled_value(desired, true)
        .unwrap_or(0)
        .max(0);
    let unavailable = unavailable
        .unwrap_or(&quarter)
        .scaled_value(desired, false)
        .unwrap_or(0)
        .max(0);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

fn fenceposts(d: &Deployment) -> (i32, i32) {
    let ru = d.spec.strategy.rolling_update.as_ref();
    resolve_fenceposts(
        ru.and_then(|r| r.max_surge.as_ref()),
        ru.and_then(|r| r.max_unavailable.as_ref()),
        deployment_replicas(d),
    )
}

/// How many pods above `replicas` may exist (0 for Recreate).
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    fenceposts(d).0
}

/// How many of `replicas` may be unavailable (0 for Recreate or zero replicas; never
/// more than `replicas`).
pub fn max_unavailable(d: &Deployment) -> i32 {
    let replicas = deployment_replicas(d);
    if !is_rolling(d) || replicas == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas)
}

/// One RollingUpdate sync (Kubernetes' `rolloutRolling`).
pub(super) fn rollout(s: &mut Sync<'_>) {
    s.sync_revision(true);
    if s.halted {
        return;
    }
    if reconcile_new(s) || reconcile_old(s) {
        status::sync_rollout_status(s);
        return;
    }
    if status::deployment_complete(s.d, &s.d.status) {
        s.cleanup();
    }
    status::sync_rollout_status(s);
}

/// Scales the new replica set towards `replicas` within the surge budget.
fn reconcile_new(s: &mut Sync<'_>) -> bool {
    let Some(new) = s.new else {
        return false;
    };
    let replicas = s.replicas();
    let current = rs_replicas(&s.rss[new]);
    if current == replicas {
        return false;
    }
    if current > replicas {
        return s.scale_and_record(new, replicas);
    }
    let target = s.new_rs_new_replicas(new);
    s.scale_and_record(new, target)
}

/// Scales old replica sets down as far as availability allows: first their unhealthy
/// pods, then healthy ones, oldest sets first.
fn reconcile_old(s: &mut Sync<'_>) -> bool {
    let Some(new) = s.new else {
        return false;
    };
    let old_active: Vec<usize> = s
        .old()
        .into_iter()
        .filter(|i| rs_replicas(&s.rss[*i]) > 0)
        .collect();
    if s.spec_sum(&old_active) == 0 {
        return false;
    }
    let all_pods = s.spec_sum(&s.all_indices());
    let min_available = s.replicas() - max_unavailable(s.d);
    let new_rs = &s.rss[new];
    let new_unavailable = (rs_replicas(new_rs) - new_rs.status.available_replicas).max(0);
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return false;
    }
    let cleaned = cleanup_unhealthy(s, &old_active, max_scaled_down);
    let scaled = scale_down_old(s, &old_active, new);
    cleaned + scaled > 0
}

/// Kubernetes' `cleanupUnhealthyReplicas`: removes up to `max` unavailable pods from old
/// sets (oldest first); they add nothing to availability.
fn cleanup_unhealthy(s: &mut Sync<'_>, old_active: &[usize], max: i32) -> i32 {
    let mut total = 0;
    for &i in old_active {
        if total >= max {
            break;
        }
        let rs = &s.rss[i];
        let spec = rs_replicas(rs);
        let available = rs.status.available_replicas;
        if spec == 0 || spec <= available {
            continue;
        }
        let down = (max - total).min(spec - available);
        s.scale_and_record(i, spec - down);
        total += down;
    }
    total
}

/// Kubernetes' `scaleDownOldReplicaSetsForRollingUpdate`: scales old sets down by as
/// many pods as are available beyond `replicas - maxUnavailable`, oldest sets first.
fn scale_down_old(s: &mut Sync<'_>, old_active: &[usize], new: usize) -> i32 {
    let min_available = s.replicas() - max_unavailable(s.d);
    let mut counted = old_active.to_vec();
    counted.push(new);
    let available = s.available_sum(&counted);
    if available <= min_available {
        return 0;
    }
    let budget = available - min_available;
    let mut total = 0;
    for &i in old_active {
        if total >= budget {
            break;
        }
        let spec = rs_replicas(&s.rss[i]);
        if spec == 0 {
            continue;
        }
        let down = spec.min(budget - total);
        s.scale_and_record(i, spec - down);
        total += down;
    }
    total
}

#[cfg(test)]
mod tests {
    // Case tables are tuples on purpose: one line per case.
    #![allow(clippy::type_complexity)]
    use std::sync::Arc;

    use super::super::testing::*;
    use super::super::{plan, Action};
    use super::*;
    use rudder_protocol::resources::{DeploymentStrategyType, ReplicaSet, Time};

    #[test]
    fn fencepost_table() {
        let i = |v: i32| IntOrString::Int(v);
        let s = |v: &str| IntOrString::String(v.into());
        // (name, surge, unavailable, desired, want)
        let table: Vec<(
            &str,
            Option<IntOrString>,
            Option<IntOrString>,
            i32,
            (i32, i32),
        )> = vec![
            ("defaults 25% of 10", None, None, 10, (3, 2)),
            ("numbers", Some(i(2)), Some(i(1)), 10, (2, 1)),
            (
                "percent rounding",
                Some(s("10%")),
                Some(s("10%")),
                15,
                (2, 1),
            ),
            ("both zero", Some(i(0)), Some(i(0)), 5, (0, 1)),
            (
                "unavailable rounds to zero",
                Some(s("0%")),
                Some(s("25%")),
                3,
                (0, 1),
            ),
            (
                "surge rounds up from tiny",
                Some(s("1%")),
                Some(i(0)),
                3,
                (1, 0),
            ),
            (
                "hundred percent",
                Some(s("100%")),
                Some(s("100%")),
                4,
                (4, 4),
            ),
            (
                "garbage counts as zero",
                Some(s("lots")),
                Some(i(0)),
                4,
                (0, 1),
            ),
        ];
        for (name, surge, unavail, desired, want) in table {
            assert_eq!(
                resolve_fenceposts(surge.as_ref(), unavail.as_ref(), desired),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn max_unavailable_is_capped_and_zero_for_recreate() {
        let d = deployment(2, "v1", 0.into(), 5.into());
        assert_eq!(max_unavailable(&d), 2);
        let mut r = d.clone();
        r.spec.strategy.type_ = Some(DeploymentStrategyType::Recreate);
        assert_eq!((max_unavailable(&r), max_surge(&r)), (0, 0));
        let zero = deployment(0, "v1", 1.into(), 1.into());
        assert_eq!(max_unavailable(&zero), 0);
    }

    fn sizes(actions: &[Action], sets: &[ReplicaSet]) -> Vec<i32> {
        sets.iter()
            .map(|set| {
                actions
                    .iter()
                    .find_map(|a| match a {
                        Action::UpdateReplicaSet { rs, .. }
                        | Action::CreateReplicaSet { rs, .. }
                            if rs.metadata.name == set.metadata.name =>
                        {
                            rs.spec.replicas
                        }
                        _ => None,
                    })
                    .unwrap_or(rs_replicas(set))
            })
            .collect()
    }

    #[test]
    fn rolling_step_table() {
        // Deployment of 10 moving from v1 to v2; (name, surge, unavailable, old (spec,
        // available), new (spec, available) or none, want sizes [old, new]).
        let table: Vec<(
            &str,
            IntOrString,
            IntOrString,
            (i32, i32),
            Option<(i32, i32)>,
            [i32; 2],
        )> = vec![
            (
                "start: surge and scale down",
                3.into(),
                2.into(),
                (10, 10),
                None,
                [8, 3],
            ),
            (
                "no surge: scale down first",
                0.into(),
                2.into(),
                (10, 10),
                Some((0, 0)),
                [8, 0],
            ),
            (
                "surge only: new grows",
                2.into(),
                0.into(),
                (10, 10),
                Some((0, 0)),
                [10, 2],
            ),
            (
                "waits for new pods to be available",
                2.into(),
                0.into(),
                (10, 10),
                Some((2, 0)),
                [10, 2],
            ),
            (
                "new available: old shrinks",
                2.into(),
                0.into(),
                (10, 10),
                Some((2, 2)),
                [8, 2],
            ),
            (
                "after shrink: new grows again",
                2.into(),
                0.into(),
                (8, 8),
                Some((2, 2)),
                [8, 4],
            ),
            (
                "unhealthy old pods go first, within the budget",
                0.into(),
                1.into(),
                (10, 6),
                Some((0, 0)),
                [9, 0],
            ),
            (
                "finish: old to zero",
                2.into(),
                0.into(),
                (2, 2),
                Some((10, 10)),
                [0, 10],
            ),
        ];
        for (name, surge, unavail, old, new, want) in table {
            let d = deployment(10, "v2", surge, unavail);
            let mut sets = vec![owned_rs(&d, "v1", old.0, old.1, 1, 1)];
            if let Some((spec, avail)) = new {
                sets.push(owned_rs(&d, "v2", spec, avail, 2, 2));
            }
            let p = plan(
                &d,
                &sets.iter().cloned().map(Arc::new).collect::<Vec<_>>(),
                &[],
                Time(100),
            );
            if new.is_none() {
                let created = p.actions.iter().find_map(|a| match a {
                    Action::CreateReplicaSet { rs, .. } => Some(rs.as_ref().clone()),
                    _ => None,
                });
                sets.push(created.expect("new set created"));
            }
            assert_eq!(sizes(&p.actions, &sets), want, "{name}: {:?}", p.actions);
        }
    }
}
