//! Scaling events and paused deployments (Kubernetes' `sync.go`): when only
//! `spec.replicas` changed, or the deployment is paused, the replica sets are resized
//! without rolling; with several active sets the change is spread over them in
//! proportion to their size (proportional scaling).

use std::collections::BTreeMap;

use super::revisions::{desired_replicas_annotation, max_replicas_annotation};
use super::{by_creation, is_rolling, max_surge, rs_replicas, status, Sync};

/// Kubernetes' `isScalingEvent`: an active set was last scaled for another
/// `spec.replicas` than the deployment has now.
pub(super) fn is_scaling_event(s: &mut Sync<'_>) -> bool {
    s.sync_revision(false);
    let replicas = s.replicas();
    s.rss.iter().any(|rs| {
        rs_replicas(rs) > 0 && desired_replicas_annotation(rs).is_some_and(|d| d != replicas)
    })
}

/// Kubernetes' `sync`: resize, clean up history when paused, and report the status.
pub(super) fn sync(s: &mut Sync<'_>) {
    s.sync_revision(false);
    scale(s);
    if s.d.spec.paused {
        s.cleanup();
    }
    status::sync_deployment_status(s);
}

/// The one active set, or the newest when none is active; `None` when several are active.
fn active_or_latest(s: &Sync<'_>) -> Option<usize> {
    if s.rss.is_empty() {
        return None;
    }
    let active: Vec<usize> = (0..s.rss.len())
        .filter(|i| rs_replicas(&s.rss[*i]) > 0)
        .collect();
    match active.as_slice() {
        [] => s.new.or_else(|| s.old().last().copied()),
        [one] => Some(*one),
        _ => None,
    }
}

fn is_saturated(s: &Sync<'_>, new: Option<usize>) -> bool {
    let replicas = s.replicas();
    new.is_some_and(|i| {
        let rs = &s.rss[i];
        desired_replicas_annotation(rs) == Some(replicas)
            && rs_replicas(rs) == replicas
            && rs.status.available_replicas == replicas
    })
}

/// How many replicas set `i` gains (or loses) when the deployment grows to its new size
/// (Kubernetes' `getReplicaSetFraction`).
fn fraction(s: &Sync<'_>, i: usize) -> i32 {
    let rs = &s.rss[i];
    let replicas = s.replicas();
    if replicas == 0 {
        return -rs_replicas(rs);
    }
    let deployment_replicas = replicas + max_surge(s.d);
    let annotated = max_replicas_annotation(rs).unwrap_or(s.d.status.replicas);
    if annotated == 0 {
        // Nothing to take a proportion of.
        return 0;
    }
    let size = f64::from(rs_replicas(rs)) * f64::from(deployment_replicas) / f64::from(annotated);
    // The value is bounded by i32 inputs times a ratio of i32s; saturate anyway.
    let rounded = size.round().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32;
    rounded - rs_replicas(rs)
}

fn proportion(s: &Sync<'_>, i: usize, to_add: i32, added: i32) -> i32 {
    if rs_replicas(&s.rss[i]) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let frac = fraction(s, i);
    let allowed = to_add - added;
    if to_add > 0 {
        frac.min(allowed)
    } else {
        frac.max(allowed)
    }
}

/// Kubernetes' `scale`.
fn scale(s: &mut Sync<'_>) {
    let replicas = s.replicas();
    if let Some(i) = active_or_latest(s) {
        if rs_replicas(&s.rss[i]) != replicas {
            s.scale_and_record(i, replicas);
        }
        return;
    }
    if is_saturated(s, s.new) {
        for i in s.old() {
            if rs_replicas(&s.rss[i]) > 0 {
                s.scale_and_record(i, 0);
            }
        }
        return;
    }
    if !is_rolling(s.d) {
        return;
    }
    let mut active: Vec<usize> = (0..s.rss.len())
        .filter(|i| rs_replicas(&s.rss[*i]) > 0)
        .collect();
    let current = s.spec_sum(&active);
    let allowed = if replicas > 0 {
        replicas + max_surge(s.d)
    } else {
        0
    };
    let to_add = allowed - current;
    let rss = &s.rss;
    if to_add != 0 {
        // Larger sets first; among equals the newer when growing, the older when shrinking.
        active.sort_by(|a, b| {
            let (ra, rb) = (&rss[*a], &rss[*b]);
            let ties = if to_add > 0 {
                by_creation(rb, ra)
            } else {
                by_creation(ra, rb)
            };
            rs_replicas(rb).cmp(&rs_replicas(ra)).then(ties)
        });
    }
    let mut added = 0;
    let mut sizes = BTreeMap::new();
    for &i in &active {
        let p = proportion(s, i, to_add, added);
        sizes.insert(i, rs_replicas(&s.rss[i]) + p);
        added += p;
    }
    for (k, &i) in active.iter().enumerate() {
        let mut size = sizes.get(&i).copied().unwrap_or(0);
        if k == 0 && to_add != 0 {
            // Leftovers of the rounding go to the largest set.
            size = (size + to_add - added).max(0);
        }
        s.scale(i, size);
    }
}

#[cfg(test)]
mod tests {
    // Case tables are tuples on purpose: one line per case.
    #![allow(clippy::type_complexity)]
    use std::sync::Arc;

    use super::super::testing::*;
    use super::super::{
        plan, rs_replicas, Action, DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION,
    };
    use rudder_protocol::resources::{ReplicaSet, Time};

    fn annotated(mut rs: ReplicaSet, desired: i32, max: i32) -> ReplicaSet {
        rs.metadata
            .annotations
            .insert(DESIRED_REPLICAS_ANNOTATION.into(), desired.to_string());
        rs.metadata
            .annotations
            .insert(MAX_REPLICAS_ANNOTATION.into(), max.to_string());
        rs
    }

    fn final_sizes(actions: &[Action], sets: &[ReplicaSet]) -> Vec<i32> {
        sets.iter()
            .map(|set| {
                actions
                    .iter()
                    .find_map(|a| match a {
                        Action::UpdateReplicaSet { rs, .. }
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
    fn scaling_table() {
        // (name, deployment replicas, paused, sets as (image, spec, available, desired ann, max ann), want sizes)
        type Set = (&'static str, i32, i32, i32, i32);
        let table: Vec<(&str, i32, bool, Vec<Set>, Vec<i32>)> = vec![
            (
                "single active set follows",
                5,
                false,
                vec![("v2", 3, 3, 3, 4)],
                vec![5],
            ),
            ("scale to zero", 0, false, vec![("v2", 3, 3, 3, 4)], vec![0]),
            (
                "proportional up mid-rollout",
                20,
                false,
                // 10 replicas, surge 3 (25% of 10 up): v1 8, v2 5 => 13 = 10 + 3.
                vec![("v1", 8, 8, 10, 13), ("v2", 5, 0, 10, 13)],
                // 20 + 5 (25% of 20) = 25: v1 8*25/13=15.4 -> 15, v2 5*25/13=9.6 -> 10.
                vec![15, 10],
            ),
            (
                "proportional down mid-rollout",
                5,
                false,
                vec![("v1", 8, 8, 10, 13), ("v2", 5, 0, 10, 13)],
                // 5 + 2 = 7: v1 8*7/13=4.3 -> 4, v2 5*7/13=2.7 -> 3.
                vec![4, 3],
            ),
            (
                "paused still scales",
                6,
                true,
                vec![("v2", 3, 3, 3, 4)],
                vec![6],
            ),
        ];
        for (name, replicas, paused, sets, want) in table {
            let mut d = deployment(replicas, "v2", "25%".into(), "25%".into());
            d.spec.paused = paused;
            let sets: Vec<ReplicaSet> = sets
                .into_iter()
                .enumerate()
                .map(|(i, (img, spec, avail, des, max))| {
                    let n = i64::try_from(i).unwrap_or(0) + 1;
                    annotated(owned_rs(&d, img, spec, avail, n, n), des, max)
                })
                .collect();
            let p = plan(
                &d,
                &sets.iter().cloned().map(Arc::new).collect::<Vec<_>>(),
                &[],
                Time(100),
            );
            assert_eq!(
                final_sizes(&p.actions, &sets),
                want,
                "{name}: {:?}",
                p.actions
            );
            assert!(
                !p.actions
                    .iter()
                    .any(|a| matches!(a, Action::CreateReplicaSet { .. })),
                "{name}: no rollout"
            );
        }
    }
}
