//! A whole rollout, step by step, through both pure plans: the deployment plan scales
//! replica sets, the ReplicaSet plan creates and deletes their pods, and between steps
//! some pending pods become ready. After every step the pod counts must stay within
//! the strategy's bounds, and the rollout must finish.

use std::sync::Arc;

use rudder_protocol::resources::{
    ConditionStatus, Deployment, DeploymentStrategyType, IntOrString, Pod, PodCondition, PodPhase,
    ReplicaSet, Resource, Time,
};

use super::testing::*;
use super::{max_surge, max_unavailable, plan, Action, REVISION_ANNOTATION};
use crate::controllers::pods::{self, pod_from_template};
use crate::controllers::replicaset::{self, Expectations, ReplicaOwner};

struct World {
    d: Deployment,
    sets: Vec<ReplicaSet>,
    pods: Vec<Pod>,
    now: i64,
    seed: u64,
    next_pod: u64,
}

impl World {
    fn new(d: Deployment, old_image: &str) -> Self {
        let mut old = owned_rs(&d, old_image, 0, 0, 0, 1);
        old.spec.replicas = d.spec.replicas;
        let mut w = World {
            d,
            sets: vec![old],
            pods: Vec::new(),
            now: 1000,
            seed: 42,
            next_pod: 0,
        };
        // Bring the old set up fully ready.
        w.sync_sets();
        for p in &mut w.pods {
            make_ready(p, 0);
        }
        w.sync_sets();
        w
    }

    fn random(&mut self) -> u64 {
        // A fixed LCG: the test is deterministic but pods become ready in a mixed order.
        self.seed = self
            .seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.seed >> 33
    }

    fn arc_pods(&self) -> Vec<Arc<Pod>> {
        self.pods.iter().cloned().map(Arc::new).collect()
    }

    /// Runs the ReplicaSet plan for every set until it has nothing left to do.
    fn sync_sets(&mut self) {
        for _ in 0..4 {
            let mut changed = false;
            for i in 0..self.sets.len() {
                let rs = self.sets[i].clone();
                let p = replicaset::plan(
                    &rs,
                    &self.arc_pods(),
                    &Expectations::default(),
                    Time(self.now),
                );
                for a in p.actions {
                    changed = true;
                    match a {
                        Action2::Create { count } => {
                            for _ in 0..count {
                                let mut pod = pod_from_template(
                                    &rs.spec.template,
                                    "default",
                                    "",
                                    rs.controller_ref(),
                                );
                                self.next_pod += 1;
                                pod.metadata.name =
                                    format!("{}-{}", rs.metadata.name, self.next_pod);
                                pod.metadata.uid = format!("pod-uid-{}", self.next_pod);
                                pod.metadata.creation_timestamp = Some(Time(self.now));
                                pod.status.phase = Some(PodPhase::Pending);
                                self.pods.push(pod);
                            }
                        }
                        Action2::Delete { pod, .. } => self.pods.retain(|p| p.metadata.name != pod),
                        Action2::UpdateStatus(s) => *self.sets[i].replica_status_mut() = s,
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
            if !changed {
                return;
            }
        }
    }

    fn sync_deployment(&mut self) {
        let sets: Vec<Arc<ReplicaSet>> = self.sets.iter().cloned().map(Arc::new).collect();
        let p = plan(&self.d, &sets, &self.arc_pods(), Time(self.now));
        for a in p.actions {
            match a {
                Action::CreateReplicaSet { rs, .. } => {
                    let mut rs = *rs;
                    rs.metadata.uid = format!("uid-{}", rs.metadata.name);
                    rs.metadata.creation_timestamp = Some(Time(self.now));
                    self.sets.push(rs);
                }
                Action::UpdateReplicaSet { rs, .. } => {
                    let Some(cur) = self
                        .sets
                        .iter_mut()
                        .find(|s| s.metadata.name == rs.metadata.name)
                    else {
                        panic!("update of unknown set {}", rs.metadata.name);
                    };
                    let status = cur.status.clone();
                    *cur = *rs;
                    cur.status = status;
                }
                Action::DeleteReplicaSet { name, .. } => {
                    self.sets.retain(|s| s.metadata.name != name)
                }
                Action::UpdateStatus(s) => self.d.status = *s,
                Action::SetRevision(r) => {
                    self.d
                        .metadata
                        .annotations
                        .insert(REVISION_ANNOTATION.into(), r);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Some pending pods become ready.
    fn progress_pods(&mut self) {
        let now = self.now;
        for i in 0..self.pods.len() {
            if !&self.pods[i].is_ready() && self.random() % 3 == 0 {
                make_ready(&mut self.pods[i], now);
            }
        }
    }

    fn new_set_of(&self, image: &str) -> Option<&ReplicaSet> {
        self.sets.iter().find(|s| {
            s.spec
                .template
                .spec
                .containers
                .first()
                .map(|c| c.image.as_str())
                == Some(image)
        })
    }

    fn done(&self, image: &str) -> bool {
        let replicas = self.d.spec.replicas.unwrap_or(1);
        let Some(new) = self.new_set_of(image) else {
            return false;
        };
        self.pods.len() == usize::try_from(replicas).unwrap_or(0)
            && self
                .pods
                .iter()
                .all(|p| pods::is_controlled_by(&p.metadata, &new.metadata.uid) && p.is_ready())
            && self.d.status.updated_replicas == replicas
            && self.d.status.available_replicas == replicas
    }
}

use crate::controllers::replicaset::Action as Action2;

fn make_ready(p: &mut Pod, now: i64) {
    p.spec.node_name = "node-1".into();
    p.status.phase = Some(PodPhase::Running);
    p.status.conditions = vec![PodCondition {
        type_: "Ready".into(),
        status: ConditionStatus::True,
        last_transition_time: Some(Time(now)),
        ..Default::default()
    }];
}

/// Rolls `d` (currently running `from`) to `to`, optionally switching to `then` after
/// `switch_after` steps; checks the bounds after every step.
fn roll(name: &str, d: Deployment, from: &str, to: &str, then: Option<(usize, &str)>) -> usize {
    let replicas = d.spec.replicas.unwrap_or(1);
    let min_available = replicas - max_unavailable(&d);
    let max_total = replicas + max_surge(&d);
    let mut w = World::new(d, from);
    w.d.spec.template = template(to);
    w.d.metadata.generation += 1;
    let mut target = to;
    for step in 0..1000 {
        if let Some((after, image)) = then {
            if step == after {
                w.d.spec.template = template(image);
                w.d.metadata.generation += 1;
                target = image;
            }
        }
        w.now += 1;
        w.progress_pods();
        w.sync_sets();
        w.sync_deployment();
        w.sync_sets();
        let total = i32::try_from(w.pods.len()).unwrap_or(i32::MAX);
        let available = i32::try_from(w.pods.iter().filter(|p| p.is_ready()).count()).unwrap_or(0);
        assert!(
            total <= max_total,
            "{name}: step {step}: {total} pods > {max_total}"
        );
        assert!(
            available >= min_available,
            "{name}: step {step}: {available} available < {min_available}"
        );
        if w.done(target) {
            // One more sync settles the conditions; the rollout is then complete.
            w.sync_deployment();
            let c =
                w.d.status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "Progressing");
            assert_eq!(
                c.map(|c| c.reason.as_str()),
                Some("NewReplicaSetAvailable"),
                "{name}"
            );
            let rev = w
                .new_set_of(target)
                .and_then(|s| s.metadata.annotations.get(REVISION_ANNOTATION).cloned());
            assert_eq!(
                w.d.metadata.annotations.get(REVISION_ANNOTATION),
                rev.as_ref(),
                "{name}: revision follows the new set"
            );
            return step;
        }
    }
    panic!("{name}: the rollout did not finish");
}

#[test]
fn rolling_updates_stay_within_bounds() {
    let i = |v: i32| IntOrString::Int(v);
    let s = |v: &str| IntOrString::String(v.into());
    // (name, replicas, maxSurge, maxUnavailable)
    let table: Vec<(&str, i32, IntOrString, IntOrString)> = vec![
        ("defaults of 10", 10, s("25%"), s("25%")),
        ("surge only", 10, i(3), i(0)),
        ("unavailable only", 10, i(0), i(2)),
        ("both zero means one unavailable", 5, i(0), i(0)),
        ("one replica", 1, s("25%"), s("25%")),
        ("all at once", 6, s("100%"), s("0%")),
        ("big with small budget", 40, i(1), i(1)),
        ("percent rounding", 7, s("10%"), s("10%")),
    ];
    for (name, replicas, surge, unavailable) in table {
        let d = deployment(replicas, "v1", surge, unavailable);
        roll(name, d, "v1", "v2", None);
    }
}

#[test]
fn rollover_mid_rollout_stays_within_bounds() {
    for switch in [1, 3, 6] {
        let d = deployment(10, "v1", IntOrString::Int(2), IntOrString::Int(2));
        roll(
            &format!("switch after {switch}"),
            d,
            "v1",
            "v2",
            Some((switch, "v3")),
        );
    }
}

#[test]
fn rollback_reuses_the_old_set() {
    let d = deployment(4, "v1", IntOrString::Int(1), IntOrString::Int(1));
    let mut w = World::new(d, "v1");
    let first = w.sets[0].metadata.name.clone();
    for (image, want_rev) in [("v2", "2"), ("v1", "3")] {
        w.d.spec.template = template(image);
        w.d.metadata.generation += 1;
        let mut finished = false;
        for _ in 0..200 {
            w.now += 1;
            w.progress_pods();
            w.sync_sets();
            w.sync_deployment();
            w.sync_sets();
            if w.done(image) {
                finished = true;
                break;
            }
        }
        assert!(finished, "rollout to {image} finished");
        let rs = w.new_set_of(image).expect("new set");
        assert_eq!(
            rs.metadata
                .annotations
                .get(REVISION_ANNOTATION)
                .map(String::as_str),
            Some(want_rev),
            "{image}"
        );
    }
    assert_eq!(w.sets.len(), 2, "the rollback made no third set");
    assert_eq!(
        w.new_set_of("v1").map(|s| s.metadata.name.clone()),
        Some(first)
    );
}

#[test]
fn recreate_never_mixes_old_and_new_pods() {
    let mut d = deployment(5, "v1", IntOrString::Int(1), IntOrString::Int(0));
    d.spec.strategy.type_ = Some(DeploymentStrategyType::Recreate);
    d.spec.strategy.rolling_update = None;
    let mut w = World::new(d, "v1");
    w.d.spec.template = template("v2");
    w.d.metadata.generation += 1;
    for step in 0..200 {
        w.now += 1;
        w.progress_pods();
        w.sync_sets();
        w.sync_deployment();
        w.sync_sets();
        let owners: std::collections::BTreeSet<String> = w
            .pods
            .iter()
            .filter_map(|p| p.metadata.controller_ref().map(|r| r.uid.clone()))
            .collect();
        assert!(owners.len() <= 1, "step {step}: pods of {owners:?} at once");
        if w.done("v2") {
            return;
        }
    }
    panic!("recreate did not finish");
}
