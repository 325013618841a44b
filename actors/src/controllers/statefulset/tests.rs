//! The StatefulSet plan, table-driven, and a simulation of whole rollouts through it.

use std::collections::BTreeMap;

use rudder_protocol::resources::{
    Container, IntOrString, PersistentVolumeClaim, PersistentVolumeClaimRetentionPolicyType, Pod,
    PodManagementPolicyType, PodPhase, PodTemplateSpec, RollingUpdateStatefulSetStrategy,
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetUpdateStrategyType,
    Time, CONTROLLER_REVISION_HASH_LABEL,
};

use super::plan::{plan, stateful_pod, Action, ClaimState, Inputs, Plan, Revision};
use crate::controllers::pods::testing::{ready, running};

const NOW: i64 = 10_000;

fn template(image: &str) -> PodTemplateSpec {
    let mut t = PodTemplateSpec::default();
    t.metadata.labels = [("app".to_owned(), "web".to_owned())].into();
    t.spec.containers.push(Container {
        name: "web".into(),
        image: image.into(),
        ..Container::default()
    });
    t
}

fn set(replicas: i32) -> StatefulSet {
    let mut s = StatefulSet::new("web");
    s.metadata.namespace = "default".into();
    s.metadata.uid = "set-uid".into();
    s.metadata.generation = 1;
    s.spec.replicas = Some(replicas);
    s.spec.service_name = "web".into();
    s.spec.selector.match_labels = [("app".to_owned(), "web".to_owned())].into();
    s.spec.template = template("v2");
    s.spec.pod_management_policy = Some(PodManagementPolicyType::OrderedReady);
    s.spec.update_strategy.type_ = Some(StatefulSetUpdateStrategyType::RollingUpdate);
    s.spec
        .volume_claim_templates
        .push(PersistentVolumeClaim::new("data"));
    s
}

/// A pod of ordinal `n` at revision `rev` ("old" or "new"), in the given state.
fn at(set: &StatefulSet, n: i32, rev: &str, state: State) -> Pod {
    let (name, t) = revision(rev);
    let mut p = stateful_pod(set, Revision { name, template: &t }, n);
    p.metadata.uid = format!("uid-{n}-{rev}");
    p.metadata.creation_timestamp = Some(Time(0));
    p.status.phase = Some(PodPhase::Pending);
    match state {
        State::Pending => p,
        State::Running => running(p),
        State::Ready => ready(p, 0),
        State::Terminating => {
            let mut p = ready(p, 0);
            p.metadata.deletion_timestamp = Some(Time(NOW));
            p
        }
        State::Failed => {
            p.status.phase = Some(PodPhase::Failed);
            p
        }
    }
}

#[derive(Clone, Copy)]
enum State {
    Pending,
    Running,
    Ready,
    Terminating,
    Failed,
}

fn revision(rev: &str) -> (&'static str, PodTemplateSpec) {
    match rev {
        "old" => ("web-old", template("v1")),
        _ => ("web-new", template("v2")),
    }
}

fn run(set: &StatefulSet, pods: &[Pod], claims: &BTreeMap<String, ClaimState>) -> Plan {
    let (cur_name, cur_t) = revision("old");
    let (upd_name, upd_t) = revision("new");
    let refs: Vec<&Pod> = pods.iter().collect();
    plan(Inputs {
        set,
        pods: &refs,
        claims,
        current: Revision {
            name: cur_name,
            template: &cur_t,
        },
        update: Revision {
            name: upd_name,
            template: &upd_t,
        },
        collision_count: None,
        expectations_met: true,
        now: Time(NOW),
    })
}

/// The plan's pod writes in a compact form: `+web-1@web-new`, `-web-2`, `claims:data-web-1`.
fn writes(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::CreatePod(pod) => Some(format!(
                "+{}@{}",
                pod.metadata.name, pod.metadata.labels[CONTROLLER_REVISION_HASH_LABEL]
            )),
            Action::DeletePod { name, .. } => Some(format!("-{name}")),
            Action::CreateClaims(c) => Some(format!(
                "claims:{}",
                c.iter()
                    .map(|c| c.metadata.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            Action::Adopt { pod, .. } => Some(format!("adopt:{pod}")),
            Action::Release { pod, .. } => Some(format!("release:{pod}")),
            _ => None,
        })
        .collect()
}

fn claims_of(names: &[&str]) -> BTreeMap<String, ClaimState> {
    names
        .iter()
        .map(|n| ((*n).to_owned(), ClaimState::default()))
        .collect()
}

#[test]
fn ordered_ready_plan_table() {
    use State::*;
    type Case = (
        &'static str,
        i32,
        Vec<(i32, &'static str, State)>,
        Vec<&'static str>,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "empty set creates ordinal 0 with its claim",
            3,
            vec![],
            vec![],
            vec!["claims:data-web-0", "+web-0@web-new"],
        ),
        (
            "claim already there is not created again",
            3,
            vec![],
            vec!["data-web-0"],
            vec!["+web-0@web-new"],
        ),
        (
            "waits for a pending pod",
            3,
            vec![(0, "new", Pending)],
            vec!["data-web-0"],
            vec![],
        ),
        (
            "waits for a running, not ready pod",
            3,
            vec![(0, "new", Running)],
            vec!["data-web-0"],
            vec![],
        ),
        (
            "next ordinal once the previous is ready",
            3,
            vec![(0, "new", Ready)],
            vec!["data-web-0"],
            vec!["claims:data-web-1", "+web-1@web-new"],
        ),
        (
            "fills a hole at the lowest ordinal first",
            3,
            vec![(0, "new", Ready), (2, "new", Ready)],
            vec!["data-web-0", "data-web-2"],
            vec!["claims:data-web-1", "+web-1@web-new"],
        ),
        (
            "a failed pod is deleted to be recreated",
            2,
            vec![(0, "new", Failed), (1, "new", Ready)],
            vec!["data-web-0", "data-web-1"],
            vec!["-web-0"],
        ),
        (
            "a terminating pod is waited for",
            2,
            vec![(0, "new", Terminating)],
            vec!["data-web-0"],
            vec![],
        ),
        (
            "scale down deletes the highest ordinal only",
            1,
            vec![(0, "new", Ready), (1, "new", Ready), (2, "new", Ready)],
            vec!["data-web-0", "data-web-1", "data-web-2"],
            vec!["-web-2"],
        ),
        (
            "scale down waits for the one going",
            1,
            vec![
                (0, "new", Ready),
                (1, "new", Ready),
                (2, "new", Terminating),
            ],
            vec!["data-web-0", "data-web-1", "data-web-2"],
            vec![],
        ),
        (
            "rolling update takes the highest outdated pod",
            3,
            vec![(0, "old", Ready), (1, "old", Ready), (2, "old", Ready)],
            vec!["data-web-0", "data-web-1", "data-web-2"],
            vec!["-web-2"],
        ),
        (
            "rolling update waits for the replaced pod",
            3,
            vec![(0, "old", Ready), (1, "old", Ready), (2, "new", Running)],
            vec!["data-web-0", "data-web-1", "data-web-2"],
            vec![],
        ),
        (
            "rolling update goes down once the replacement is ready",
            3,
            vec![(0, "old", Ready), (1, "old", Ready), (2, "new", Ready)],
            vec!["data-web-0", "data-web-1", "data-web-2"],
            vec!["-web-1"],
        ),
        (
            "recreated pod below nothing gets the update revision",
            3,
            vec![(0, "old", Ready), (2, "new", Ready)],
            vec!["data-web-0", "data-web-1", "data-web-2"],
            vec!["+web-1@web-new"],
        ),
        (
            "a claim recreated under a running pod",
            1,
            vec![(0, "new", Ready)],
            vec![],
            vec!["claims:data-web-0"],
        ),
    ];
    for (name, replicas, pods, claims, want) in cases {
        let s = set(replicas);
        let pods: Vec<Pod> = pods
            .into_iter()
            .map(|(n, r, st)| at(&s, n, r, st))
            .collect();
        let got = writes(&run(&s, &pods, &claims_of(&claims)));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn parallel_creates_and_deletes_at_once() {
    use State::*;
    let mut s = set(3);
    s.spec.pod_management_policy = Some(PodManagementPolicyType::Parallel);
    let got = writes(&run(
        &s,
        &[],
        &claims_of(&["data-web-0", "data-web-1", "data-web-2"]),
    ));
    assert_eq!(
        got,
        vec!["+web-0@web-new", "+web-1@web-new", "+web-2@web-new"]
    );

    s.spec.replicas = Some(1);
    let pods: Vec<Pod> = (0..4).map(|n| at(&s, n, "new", Pending)).collect();
    let got = writes(&run(&s, &pods, &claims_of(&[])));
    assert_eq!(got, vec!["claims:data-web-0", "-web-3", "-web-2", "-web-1"]);
}

#[test]
fn partition_keeps_low_ordinals_at_the_current_revision() {
    use State::*;
    let mut s = set(3);
    s.spec.update_strategy.rolling_update = Some(RollingUpdateStatefulSetStrategy {
        partition: Some(2),
        max_unavailable: None,
    });
    let claims = claims_of(&["data-web-0", "data-web-1", "data-web-2"]);
    // Only ordinal 2 is at or above the partition.
    let pods = vec![
        at(&s, 0, "old", Ready),
        at(&s, 1, "old", Ready),
        at(&s, 2, "old", Ready),
    ];
    assert_eq!(writes(&run(&s, &pods, &claims)), vec!["-web-2"]);
    let pods = vec![
        at(&s, 0, "old", Ready),
        at(&s, 1, "old", Ready),
        at(&s, 2, "new", Ready),
    ];
    assert_eq!(writes(&run(&s, &pods, &claims)), Vec::<String>::new());
    // A pod below the partition that is deleted comes back at the current revision.
    let pods = vec![at(&s, 0, "old", Ready), at(&s, 2, "new", Ready)];
    assert_eq!(writes(&run(&s, &pods, &claims)), vec!["+web-1@web-old"]);
}

#[test]
fn on_delete_never_deletes_for_an_update() {
    use State::*;
    let mut s = set(2);
    s.spec.update_strategy.type_ = Some(StatefulSetUpdateStrategyType::OnDelete);
    let claims = claims_of(&["data-web-0", "data-web-1"]);
    let pods = vec![at(&s, 0, "old", Ready), at(&s, 1, "old", Ready)];
    assert!(writes(&run(&s, &pods, &claims)).is_empty());
    // Deleted by hand, it comes back at the update revision.
    let pods = vec![at(&s, 0, "old", Ready)];
    assert_eq!(writes(&run(&s, &pods, &claims)), vec!["+web-1@web-new"]);
}

#[test]
fn max_unavailable_replaces_several_at_once() {
    use State::*;
    let mut s = set(4);
    s.spec.update_strategy.rolling_update = Some(RollingUpdateStatefulSetStrategy {
        partition: Some(0),
        max_unavailable: Some(IntOrString::Int(2)),
    });
    let claims = claims_of(&["data-web-0", "data-web-1", "data-web-2", "data-web-3"]);
    let pods: Vec<Pod> = (0..4).map(|n| at(&s, n, "old", Ready)).collect();
    assert_eq!(writes(&run(&s, &pods, &claims)), vec!["-web-3", "-web-2"]);
}

#[test]
fn a_claim_being_deleted_holds_its_pod_back() {
    let s = set(1);
    let mut claims = claims_of(&["data-web-0"]);
    claims.get_mut("data-web-0").expect("present").terminating = true;
    let p = run(&s, &[], &claims);
    assert!(writes(&p).is_empty());
    assert!(p.requeue_after.is_some());
}

#[test]
fn claims_and_pods_carry_the_identity() {
    let s = set(1);
    let (name, t) = revision("new");
    let pod = stateful_pod(&s, Revision { name, template: &t }, 4);
    assert_eq!(pod.metadata.name, "web-4");
    assert_eq!(pod.spec.hostname, "web-4");
    assert_eq!(pod.spec.subdomain, "web");
    assert_eq!(
        pod.metadata.labels["statefulset.kubernetes.io/pod-name"],
        "web-4"
    );
    assert_eq!(pod.metadata.labels["apps.kubernetes.io/pod-index"], "4");
    assert_eq!(
        pod.metadata.labels[CONTROLLER_REVISION_HASH_LABEL],
        "web-new"
    );
    let claim = pod.spec.volumes[0]
        .persistent_volume_claim
        .as_ref()
        .expect("claim volume");
    assert_eq!(claim.claim_name, "data-web-4");
    let owner = pod.metadata.controller_ref().expect("controller");
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("StatefulSet", "set-uid")
    );
    let claims = super::plan::stateful_claims(&s, 4);
    assert_eq!(claims[0].metadata.name, "data-web-4");
    assert_eq!(claims[0].metadata.labels["app"], "web");
}

#[test]
fn adoption_and_release() {
    use State::*;
    let s = set(2);
    let mut orphan = at(&s, 0, "new", Ready);
    orphan.metadata.owner_references.clear();
    let mut stray = at(&s, 1, "new", Ready);
    stray.metadata.labels.insert("app".into(), "other".into());
    // An orphan whose name is no ordinal of the set is left alone.
    let mut misnamed = at(&s, 0, "new", Ready);
    misnamed.metadata.name = "web-x".into();
    misnamed.metadata.owner_references.clear();
    let got = writes(&run(
        &s,
        &[orphan, stray, misnamed],
        &claims_of(&["data-web-0", "data-web-1"]),
    ));
    assert_eq!(got, vec!["adopt:web-0", "release:web-1", "+web-1@web-new"]);
}

#[test]
fn retention_policy_sets_claim_owners() {
    use State::*;
    let mut s = set(1);
    s.spec.persistent_volume_claim_retention_policy =
        Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
            when_deleted: Some(PersistentVolumeClaimRetentionPolicyType::Delete),
            when_scaled: Some(PersistentVolumeClaimRetentionPolicyType::Delete),
        });
    let pods = vec![at(&s, 0, "new", Ready), at(&s, 1, "new", Terminating)];
    let p = run(&s, &pods, &claims_of(&["data-web-0", "data-web-1"]));
    let owners: BTreeMap<String, Vec<String>> = p
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::SetClaimOwners {
                claim,
                owner_references,
                ..
            } => Some((
                claim.clone(),
                owner_references.iter().map(|r| r.kind.clone()).collect(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(owners["data-web-0"], vec!["StatefulSet"]);
    assert_eq!(owners["data-web-1"], vec!["StatefulSet", "Pod"]);
}

#[test]
fn status_counts_and_completes_the_update() {
    use State::*;
    let s = set(2);
    let claims = claims_of(&["data-web-0", "data-web-1"]);
    let status_of = |p: &Plan| {
        p.actions.iter().find_map(|a| match a {
            Action::UpdateStatus(s) => Some(s.clone()),
            _ => None,
        })
    };
    let mid = status_of(&run(
        &s,
        &[at(&s, 0, "old", Ready), at(&s, 1, "new", Running)],
        &claims,
    ))
    .expect("status written");
    assert_eq!(
        (
            mid.replicas,
            mid.ready_replicas,
            mid.current_replicas,
            mid.updated_replicas
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(mid.current_revision, "web-old");
    assert_eq!(mid.update_revision, "web-new");
    assert_eq!(mid.observed_generation, 1);
    let done = status_of(&run(
        &s,
        &[at(&s, 0, "new", Ready), at(&s, 1, "new", Ready)],
        &claims,
    ))
    .expect("status written");
    assert_eq!(done.current_revision, "web-new");
    assert_eq!(
        (
            done.current_replicas,
            done.updated_replicas,
            done.ready_replicas
        ),
        (2, 2, 2)
    );
}

/// Whole rollouts through the plan: each step applies the plan's writes to a model of
/// the cluster (a created pod becomes Ready on the next step, a deleted one terminates
/// and then goes), and no ordinal ever has two pods.
#[test]
fn simulated_rollouts_converge_in_order() {
    for policy in [
        PodManagementPolicyType::OrderedReady,
        PodManagementPolicyType::Parallel,
    ] {
        let mut s = set(3);
        s.spec.pod_management_policy = Some(policy);
        let mut pods: Vec<Pod> = Vec::new();
        let mut claims = BTreeMap::new();
        let mut started: Vec<String> = Vec::new();
        // Scale up from nothing, at the old revision (current == update == old).
        converge(&s, "old", &mut pods, &mut claims, &mut started);
        if policy == PodManagementPolicyType::OrderedReady {
            assert_eq!(started, vec!["web-0", "web-1", "web-2"]);
        }
        started.clear();
        converge(&s, "new", &mut pods, &mut claims, &mut started);
        // The rolling update goes from the highest ordinal down, one at a time.
        assert_eq!(started, vec!["web-2", "web-1", "web-0"], "{policy:?}");
        assert!(pods
            .iter()
            .all(|p| p.metadata.labels[CONTROLLER_REVISION_HASH_LABEL] == "web-new"));
        assert_eq!(claims.len(), 3);
    }
}

/// Applies plans to the model until one writes nothing (see
/// [`simulated_rollouts_converge_in_order`]); the pods it created go into `started`.
fn converge(
    s: &StatefulSet,
    rev: &str,
    pods: &mut Vec<Pod>,
    claims: &mut BTreeMap<String, ClaimState>,
    started: &mut Vec<String>,
) {
    for _ in 0..50 {
        // Terminating pods go; pending ones become ready.
        pods.retain(|p| p.metadata.deletion_timestamp.is_none());
        for p in pods.iter_mut() {
            if p.status.phase == Some(PodPhase::Pending) {
                *p = ready(p.clone(), 0);
            }
        }
        let (cur_name, cur_t) = revision("old");
        let (upd_name, upd_t) = revision(rev);
        let refs: Vec<&Pod> = pods.iter().collect();
        let p = plan(Inputs {
            set: s,
            pods: &refs,
            claims,
            current: Revision {
                name: cur_name,
                template: &cur_t,
            },
            update: Revision {
                name: upd_name,
                template: &upd_t,
            },
            collision_count: None,
            expectations_met: true,
            now: Time(NOW),
        });
        let mut wrote = false;
        for a in p.actions {
            match a {
                Action::CreatePod(pod) => {
                    assert!(
                        !pods.iter().any(|q| q.metadata.name == pod.metadata.name),
                        "{} created twice",
                        pod.metadata.name
                    );
                    started.push(pod.metadata.name.clone());
                    let mut pod = *pod;
                    pod.metadata.uid = format!("uid-{}-{}", pod.metadata.name, started.len());
                    pod.status.phase = Some(PodPhase::Pending);
                    pods.push(pod);
                    wrote = true;
                }
                Action::CreateClaims(c) => {
                    for c in c {
                        claims.insert(c.metadata.name.clone(), ClaimState::default());
                    }
                    wrote = true;
                }
                Action::DeletePod { name, .. } => {
                    let p = pods
                        .iter_mut()
                        .find(|p| p.metadata.name == name)
                        .expect("exists");
                    p.metadata.deletion_timestamp = Some(Time(NOW));
                    wrote = true;
                }
                _ => {}
            }
        }
        if !wrote {
            return;
        }
    }
    panic!("no convergence");
}
